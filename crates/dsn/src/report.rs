//! Messages that reach a bounce address but are not bounces: complaint
//! (feedback) reports in ARF (RFC 5965) or as Amazon SES notifications, and
//! automatic replies (RFC 3834: vacation, out-of-office). They must never be
//! taken for delivery failures.

use mail_parser::{Message, MimeHeaders, PartType};

use crate::fields::split_blocks;

/// A complaint about a message we sent.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Complaint {
    /// Feedback-Type, e.g. `abuse`.
    pub feedback_type: Option<String>,
    /// The complaining recipient, when the report names it (Original-Rcpt-To
    /// or SES `complainedRecipients`).
    pub recipient: Option<String>,
    /// The user agent that produced the report.
    pub user_agent: Option<String>,
}

/// Recognises an ARF report: `multipart/report; report-type=feedback-report`
/// or any `message/feedback-report` part.
pub(crate) fn arf(msg: &Message<'_>) -> Option<Complaint> {
    let is_feedback_root = msg
        .parts
        .first()
        .and_then(|p| p.content_type())
        .and_then(|ct| ct.attribute("report-type"))
        .is_some_and(|t| t.eq_ignore_ascii_case("feedback-report"));
    let part = msg.parts.iter().find(|p| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("feedback-report"))
        })
    });
    if !is_feedback_root && part.is_none() {
        return None;
    }
    let mut c = Complaint::default();
    if let Some(p) = part {
        let body = match &p.body {
            PartType::Text(t) => t.to_string(),
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                String::from_utf8_lossy(b).into_owned()
            }
            _ => String::new(),
        };
        for block in split_blocks(&body) {
            c.feedback_type = c
                .feedback_type
                .or(block.get("Feedback-Type").map(str::to_string));
            c.user_agent = c.user_agent.or(block.get("User-Agent").map(str::to_string));
            c.recipient = c.recipient.or(block
                .get("Original-Rcpt-To")
                .map(|r| r.trim_matches(['<', '>', ' ']).to_string()));
        }
    }
    Some(c)
}

/// Recognises an Amazon SES complaint notification (JSON in the body).
pub(crate) fn ses_complaint(body: &str) -> Option<Complaint> {
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.contains("\"notificationType\":\"Complaint\"") {
        return None;
    }
    let value = |key: &str| {
        let pat = format!("\"{key}\":\"");
        let start = compact.find(&pat)? + pat.len();
        let rest = compact.get(start..)?;
        Some(rest.get(..rest.find('"')?)?.to_string())
    };
    Some(Complaint {
        feedback_type: value("complaintFeedbackType").or(Some("abuse".into())),
        recipient: value("emailAddress"),
        user_agent: value("userAgent"),
    })
}

const AUTO_SUBJECTS: &[&str] = &[
    "auto:",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "automatic reply",
    "automatische antwort",
    "réponse automatique",
    "out of office",
    "out of the office",
    "away from",
    "away until",
    "on vacation",
    "vacation",
    "abwesenheit",
    "自動応答",
    "自動返信",
];

/// Recognises an automatic reply (RFC 3834 and the common non-standard
/// markers). Bounces also carry `Auto-Submitted: auto-replied`, so callers
/// rule bounces out first.
pub(crate) fn is_auto_reply(msg: &Message<'_>) -> bool {
    let header = |name: &str| msg.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if header("Auto-Submitted").is_some_and(|v| v.starts_with("auto-replied"))
        || header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
        || header("X-Auto-Reply").is_some()
        || header("X-Vacation").is_some()
        || header("Precedence").is_some_and(|v| v == "auto_reply")
        || header("X-Precedence").is_some_and(|v| v == "auto_reply")
    {
        return true;
    }
    let subject = msg.subject().unwrap_or("").to_lowercase();
    AUTO_SUBJECTS
        .iter()
        .any(|s| subject.starts_with(s) || subject.contains(s))
}
