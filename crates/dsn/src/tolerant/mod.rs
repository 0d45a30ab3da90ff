//! Tolerant reading of whatever arrives at a bounce address.
//!
//! Standard DSNs are read through their status fields, forgiving the usual
//! quirks (missing per-message block, odd types, comments, status codes with
//! text, status fields pasted into a text part). Everything else is read as
//! text in the formats of [`family`]. ARF complaints, SES complaint
//! notifications and automatic replies are recognised and reported as such,
//! never as failures.

mod family;
mod rfc3464;
mod scan;
mod ses;
mod text;

use std::fmt;

use mail_parser::{Message, MimeHeaders, PartType};
use smtp::{Class, EnhancedCode};

use crate::classify::{Reason, classify_bounce as classify};
use crate::model::Action;
use crate::parse::MAX_MESSAGE_SIZE;
use crate::report::{Complaint, arf, is_auto_reply, ses_complaint};

/// How much of the text classifies a recipient that has no words of its own.
const FALLBACK_TEXT: usize = 4096;

/// Text of the human-readable part beyond this is not looked at.
const MAX_TEXT: usize = 256 * 1024;

/// What kind of message was analysed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A delivery status notification or non-standard bounce.
    Bounce,
    /// A complaint (ARF feedback report, SES complaint notification).
    Complaint,
    /// An automatic reply (RFC 3834, vacation, out-of-office).
    AutoReply,
    /// Anything else: a personal reply, a newsletter, spam.
    NotBounce,
}

impl MessageKind {
    /// `bounce`, `complaint`, `autoReply` or `notBounce`.
    pub fn as_str(&self) -> &'static str {
        match self {
            MessageKind::Bounce => "bounce",
            MessageKind::Complaint => "complaint",
            MessageKind::AutoReply => "autoReply",
            MessageKind::NotBounce => "notBounce",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status as found: an RFC 3463 code, or the text when it is not one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// A well-formed enhanced status code.
    Code(EnhancedCode),
    /// A value that is not a code (some MTAs write `5.0.910`-style or free text).
    Other(String),
}

impl Status {
    /// The code, when it is one.
    pub fn code(&self) -> Option<EnhancedCode> {
        match self {
            Status::Code(c) => Some(*c),
            Status::Other(_) => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Code(c) => write!(f, "{c}"),
            Status::Other(s) => f.write_str(s),
        }
    }
}

/// What a bounce says about one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BounceRecipient {
    /// The recipient address (Final-Recipient, or the address the text names).
    pub recipient: Option<String>,
    /// Original-Recipient (our ORCPT), when present.
    pub original_recipient: Option<String>,
    /// The action; None when a text bounce does not say.
    pub action: Option<Action>,
    /// The enhanced status code. When the bounce gives none, the class is
    /// inferred from the reply code or the wording and the code is `X.0.0`.
    pub status: Option<Status>,
    /// The SMTP reply code the remote server gave, when known.
    pub reply_code: Option<u16>,
    /// The diagnostic text (the remote server's reply, or the bounce's words).
    pub diagnostic: Option<String>,
    /// The remote MTA, when known.
    pub remote_mta: Option<String>,
    /// Why it failed.
    pub reason: Reason,
    /// Whether the address itself is bad; see [`crate::Classification::hard`].
    pub hard: bool,
}

impl BounceRecipient {
    /// Whether this entry reports a failure (action failed, or no action and a
    /// permanent status). Delays, deliveries and relays are not failures.
    pub fn is_failure(&self) -> bool {
        match self.action {
            Some(a) => a == Action::Failed,
            None => self
                .status
                .as_ref()
                .and_then(Status::code)
                .is_none_or(|c| c.class == Class::Permanent),
        }
    }
}

/// The result of [`analyze`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysis {
    /// What the message is.
    pub kind: MessageKind,
    /// The format that was recognised: `rfc3464`, `qmail`, `exim`, `arf`, ...
    pub family: &'static str,
    /// Original-Envelope-ID (our ENVID), for matching.
    pub envelope_id: Option<String>,
    /// Message-ID of the returned original, for matching.
    pub original_message_id: Option<String>,
    /// Reporting-MTA.
    pub reporting_mta: Option<String>,
    /// One entry per recipient; empty for non-bounces.
    pub recipients: Vec<BounceRecipient>,
    /// For complaints: what the report says.
    pub complaint: Option<Complaint>,
}

impl Analysis {
    fn other(kind: MessageKind, family: &'static str) -> Analysis {
        Analysis {
            kind,
            family,
            envelope_id: None,
            original_message_id: None,
            reporting_mta: None,
            recipients: Vec::new(),
            complaint: None,
        }
    }

    /// The recipients whose delivery failed. Empty for anything that is not a bounce.
    pub fn failures(&self) -> impl Iterator<Item = &BounceRecipient> {
        self.recipients
            .iter()
            .filter(move |r| self.kind == MessageKind::Bounce && r.is_failure())
    }
}

/// A classification of the message text and the codes it was made for.
type CachedFallback = (
    Option<u16>,
    Option<EnhancedCode>,
    crate::classify::Classification,
);

/// What the extractors work from.
pub(crate) struct Ctx<'a> {
    pub msg: &'a Message<'a>,
    /// Text of the first human-readable part (lossless when the charset was known).
    pub human: String,
    /// The human text with ASCII letters lowered (same byte offsets as `human`).
    pub human_lower: String,
    /// Beginnings of the replies a Sendmail transcript shows after `>>> DATA`.
    pub data_replies: Vec<String>,
    /// The text mentions RCPT somewhere (the refusal may have answered it).
    pub rcpt_in_text: bool,
    /// The last classification of the message text for recipients without
    /// words of their own, with the codes it was made for.
    pub fallback: std::cell::RefCell<Option<CachedFallback>>,
    /// Lower-case subject.
    pub subject: String,
    /// Addresses that belong to the sender side and are never recipients.
    pub exclude: Vec<String>,
    /// The returned original, when there is one.
    pub original: Option<Message<'a>>,
}

fn ctype(p: &mail_parser::MessagePart<'_>) -> String {
    match p.content_type() {
        Some(ct) => match ct.subtype() {
            Some(s) => format!("{}/{}", ct.ctype(), s).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => "text/plain".into(),
    }
}

fn part_text(p: &mail_parser::MessagePart<'_>) -> Option<String> {
    match &p.body {
        PartType::Text(t) => Some(t.to_string()),
        PartType::Html(h) => Some(strip_html(h)),
        PartType::Binary(b) | PartType::InlineBinary(b) => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        _ => None,
    }
}

fn strip_html(h: &str) -> String {
    let mut out = String::with_capacity(h.len());
    let mut in_tag = false;
    for c in h.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn first_address(a: Option<&mail_parser::Address<'_>>) -> Option<String> {
    a.and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(|s| s.to_ascii_lowercase())
}

const BOUNCE_SENDERS: &[&str] = &[
    "mailer-daemon",
    "postmaster",
    "mail delivery",
    "mmsc",
    "sysadmin",
    "bounce",
    "mail.delivery",
];
const BOUNCE_SUBJECTS: &[&str] = &[
    "undeliver",
    "undelivered",
    "returned mail",
    "returned to sender",
    "delivery status notification",
    "delivery notification",
    "delivery failure",
    "delivery failed",
    "delivery has failed",
    "failure notice",
    "failed delivery",
    "mail delivery",
    "non-delivery",
    "nondeliverable",
    "could not be delivered",
    "mail system error",
    "delivery problem",
    "not delivered",
    "error sending",
    "rejected",
    "are not member",
    "warning: could not send",
    "delayed mail",
    "delivery delayed",
    "エラー",
    "配信",
    "返送",
    "不達",
];

const BOUNCE_PHRASES: &[&str] = &[
    "could not be delivered to",
    "was not delivered to",
    "could not deliver",
    "unable to deliver",
    "delivery to the following recipient",
    "delivery has failed",
    "undeliverable",
    "permanent error",
    "permanent fatal error",
    "error message below:",
    "did not reach the following recipient",
    "returned to sender",
];

/// Analyses any message that arrived at a bounce address.
///
/// Never panics; input over [`MAX_MESSAGE_SIZE`] or without a header is
/// reported as [`MessageKind::NotBounce`].
///
/// ```
/// let reply = b"From: bob@example.net\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nBack Monday.\r\n";
/// let a = dsn::analyze(reply);
/// assert_eq!(a.kind, dsn::MessageKind::AutoReply);
/// assert_eq!(a.failures().count(), 0);
/// ```
pub fn analyze(message: &[u8]) -> Analysis {
    if message.len() > MAX_MESSAGE_SIZE {
        return Analysis::other(MessageKind::NotBounce, "none");
    }
    let Some(msg) = crate::mime::parse(message) else {
        return Analysis::other(MessageKind::NotBounce, "none");
    };
    let analysis = analyze_message(&msg, 0);
    tracing::debug!(target: "dsn", kind = %analysis.kind, family = analysis.family, recipients = analysis.recipients.len(), "analysed message");
    analysis
}

fn analyze_message<'a>(msg: &'a Message<'a>, depth: u8) -> Analysis {
    if let Some(c) = arf(msg) {
        let mut a = Analysis::other(MessageKind::Complaint, "arf");
        a.complaint = Some(c);
        return a;
    }

    // Human text: the first text part of the outer message.
    let mut human = String::new();
    let mut status_texts: Vec<String> = Vec::new();
    let mut original: Option<Message<'a>> = None;
    for (i, p) in msg.parts.iter().enumerate() {
        let t = ctype(p);
        if let PartType::Message(m) = &p.body {
            if original.is_none() {
                original = Some(m.clone());
            }
            continue;
        }
        if matches!(p.body, PartType::Multipart(_)) {
            continue;
        }
        match t.as_str() {
            "message/delivery-status" | "message/global-delivery-status" => {
                if let Some(s) = part_text(p) {
                    status_texts.push(s);
                }
            }
            "text/rfc822-headers" | "message/global-headers" | "message/rfc822-headers" => {
                if original.is_none()
                    && let Some(s) = part_text(p)
                    && let Some(m) =
                        crate::mime::parse_headers(s.as_bytes()).map(|m| m.into_owned())
                {
                    original = Some(m);
                }
            }
            _ if t.starts_with("text/") || (i == 0 && msg.parts.len() == 1) => {
                if let Some(s) = part_text(p) {
                    if human.is_empty() && (t == "text/plain" || t == "text/html" || i == 0) {
                        human = s;
                    } else if s.to_ascii_lowercase().contains("final-recipient:") {
                        status_texts.push(s);
                    }
                }
            }
            _ => {}
        }
    }
    if human.trim().is_empty() {
        // Broken MIME (a boundary parameter on an unfolded line) leaves no
        // readable part; the raw body still holds the words.
        let raw = msg.raw_message();
        let body_start = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| p + 4)
            .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
            .unwrap_or(raw.len());
        let body = raw.get(body_start..).unwrap_or(&[]);
        human = String::from_utf8_lossy(body.get(..body.len().min(MAX_TEXT)).unwrap_or(&[]))
            .into_owned();
    }
    if human.len() > MAX_TEXT {
        let cut = (0..=MAX_TEXT)
            .rev()
            .find(|i| human.is_char_boundary(*i))
            .unwrap_or(0);
        human.truncate(cut);
    }

    if original.is_none()
        && let Some(text) = text::inline_original(&human)
    {
        original = crate::mime::parse_headers(text.as_bytes()).map(|m| m.into_owned());
    }

    if let Some(c) = ses_complaint(&human) {
        let mut a = Analysis::other(MessageKind::Complaint, "amazonses");
        a.complaint = Some(c);
        return a;
    }

    let subject = msg.subject().unwrap_or("").to_lowercase();
    let from_full = msg.header_raw("From").unwrap_or("").to_ascii_lowercase();
    let from = first_address(msg.from()).unwrap_or_default();
    let mut exclude: Vec<String> = Vec::new();
    exclude.extend(first_address(msg.to()));
    if !from.is_empty() {
        exclude.push(from.clone());
    }
    if let Some(o) = &original {
        exclude.extend(first_address(o.from()));
        if let Some(rp) = o.return_address() {
            exclude.push(rp.to_ascii_lowercase());
        }
    }

    let has_status_part = !status_texts.is_empty()
        || human.to_ascii_lowercase().contains("\nfinal-recipient:")
        || human.to_ascii_lowercase().contains("\noriginal-recipient:");
    let from_daemon = BOUNCE_SENDERS.iter().any(|s| from_full.contains(s));
    let bounce_subject = BOUNCE_SUBJECTS.iter().any(|s| subject.contains(s));
    let lower_human = human.to_ascii_lowercase();
    let format = family::FORMATS
        .iter()
        .find(|f| f.detect.iter().any(|d| lower_human.contains(d)));
    let ses_bounce = ses::is_bounce(&human);

    let bounce_words = BOUNCE_PHRASES.iter().any(|p| lower_human.contains(p));
    let looks_bounce =
        has_status_part || from_daemon || bounce_subject || ses_bounce || bounce_words;
    if !looks_bounce && is_auto_reply(msg) {
        return Analysis::other(MessageKind::AutoReply, "rfc3834");
    }
    if !looks_bounce && format.is_none() {
        return Analysis::other(MessageKind::NotBounce, "none");
    }

    let human = human.replace('\r', "");
    let human_lower = human.to_ascii_lowercase();
    let data_replies = human_lower
        .match_indices(">>> data\n<<< ")
        .take(100)
        .filter_map(|(i, m)| {
            let reply = human_lower.get(i + m.len()..)?;
            let line = reply.lines().next()?.trim();
            let probe = line.get(..line.len().min(24)).unwrap_or(line);
            (!probe.is_empty()).then(|| probe.to_string())
        })
        .collect();
    let rcpt_in_text = ["rcpt", "recipient address rejected"]
        .iter()
        .any(|w| human_lower.contains(w));
    let ctx = Ctx {
        msg,
        data_replies,
        rcpt_in_text,
        fallback: std::cell::RefCell::new(None),
        human_lower,
        human,
        subject,
        exclude,
        original,
    };

    let mut analysis = Analysis::other(MessageKind::Bounce, "rfc3464");
    analysis.original_message_id = ctx
        .original
        .as_ref()
        .and_then(|o| o.message_id())
        .map(str::to_string);

    if ses_bounce {
        analysis.family = "amazonses";
        analysis.recipients = ses::recipients(&ctx.human);
    }
    if analysis.recipients.is_empty() && has_status_part {
        let mut texts = status_texts;
        if texts.is_empty() {
            texts.push(ctx.human.clone());
        }
        let found = rfc3464::recipients(&ctx, &texts);
        analysis.envelope_id = found.envelope_id;
        analysis.reporting_mta = found.reporting_mta;
        analysis.recipients = found.recipients;
    }
    if analysis.recipients.is_empty()
        && depth == 0
        && let Some(inner) = &ctx.original
    {
        // A bounce forwarded inside another message (fetchmail, a helpdesk).
        let nested = analyze_message(inner, depth + 1);
        if nested.kind == MessageKind::Bounce
            && nested.family == "rfc3464"
            && !nested.recipients.is_empty()
        {
            return nested;
        }
    }
    if analysis.recipients.is_empty() {
        analysis.family = format.map_or("generic", |f| f.name);
        analysis.recipients = text::recipients(&ctx, format.copied());
    }
    if analysis.recipients.is_empty() {
        // A bounce we cannot read still names someone: the original's recipient.
        let fallback = ctx
            .msg
            .header_raw("X-Failed-Recipients")
            .map(|v| v.trim().trim_matches(['<', '>']).to_string())
            .or_else(|| ctx.original.as_ref().and_then(|o| first_address(o.to())));
        if let Some(addr) = fallback {
            analysis.recipients.push(finish(
                Raw {
                    recipient: Some(addr),
                    diagnostic: Some(ctx.human.clone()),
                    ..Raw::default()
                },
                &ctx,
            ));
        }
    }
    analysis
}

/// Joins a multi-line SMTP reply quoted in one string: "550-5.7.1 a 550-5.7.1
/// b 550 5.7.1 c" becomes "550-5.7.1 a b c", so phrases split over lines match.
fn join_continuations(d: &str) -> String {
    let words: Vec<&str> = d.split(' ').collect();
    let is_code = |w: &str| {
        let b = w.as_bytes();
        b.len() >= 3
            && b.iter().take(3).all(u8::is_ascii_digit)
            && matches!(b.get(3), None | Some(b'-'))
    };
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    let mut first_code: Option<&str> = None;
    let mut first_enh: Option<&str> = None;
    let mut i = 0usize;
    while let Some(w) = words.get(i) {
        let head = w.get(..3).unwrap_or("");
        let rest = w.get(4..).unwrap_or("");
        let next = words.get(i + 1).copied().unwrap_or("");
        if is_code(w) {
            let enh = if rest.is_empty() { next } else { rest };
            match (first_code, first_enh) {
                // a repeated "550-5.7.1" or "550 5.7.1": drop both parts
                (Some(c), Some(e)) if c == head && e == enh => {
                    i += if rest.is_empty() { 2 } else { 1 };
                    continue;
                }
                (Some(c), None)
                    if c == head && rest.is_empty() && scan::enhanced_code(next).is_none() =>
                {
                    i += 1;
                    continue;
                }
                (None, _) => {
                    first_code = Some(head);
                    first_enh =
                        Some(enh).filter(|e| scan::enhanced_code(e).is_some() && e.len() <= 9);
                }
                _ => {}
            }
        }
        out.push(w);
        i += 1;
    }
    out.join(" ")
}

/// What an extractor found for one recipient, before completion.
#[derive(Default)]
pub(crate) struct Raw {
    pub recipient: Option<String>,
    pub action: Option<Action>,
    pub status: Option<Status>,
    pub diagnostic: Option<String>,
    pub remote_mta: Option<String>,
    /// The diagnostic came from a local delivery program (`x-unix`), not SMTP.
    pub local_mailer: bool,
}

/// Completes one recipient: codes from the diagnostic, class inferred when
/// missing, reason from the classifier.
pub(crate) fn finish(raw: Raw, ctx: &Ctx<'_>) -> BounceRecipient {
    let Raw {
        recipient,
        action,
        status,
        diagnostic,
        remote_mta,
        local_mailer,
    } = raw;
    let reply_code: Option<u16> = None;
    let diag = diagnostic
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|d| !d.is_empty());
    let diag = diag.map(|d| {
        if d.len() > 2000 {
            let cut = (0..=2000)
                .rev()
                .find(|i| d.is_char_boundary(*i))
                .unwrap_or(0);
            d.get(..cut).unwrap_or("").to_string()
        } else {
            d
        }
    });
    let diag = diag.map(|d| join_continuations(&d));
    let text = diag.as_deref().unwrap_or("");
    let remote_mta = remote_mta.or_else(|| scan::remote_host(text));
    let reply_code = reply_code.or_else(|| scan::reply_code(text));
    let anchored = scan::reply_enhanced_code(text);
    let found_code = anchored.or_else(|| scan::enhanced_code(text));
    // The remote server's own code is more precise than the reporting MTA's
    // summary (SES writes 5.1.0 for everything, Sendmail 4.4.7 on expiry).
    let status = match status {
        Some(Status::Code(c)) if c.subject == 0 && c.detail == 0 => Some(Status::Code(
            found_code.filter(|f| f.class == c.class).unwrap_or(c),
        )),
        Some(Status::Code(c)) => Some(Status::Code(
            anchored.filter(|f| f.class == c.class).unwrap_or(c),
        )),
        Some(s) => Some(s),
        None => found_code.map(Status::Code),
    };
    let lower = format!("{} {}", text, ctx.subject).to_ascii_lowercase();
    let temporary_words = [
        "delayed",
        "will be retried",
        "warning message only",
        "will retry",
        "temporary failure",
        "still trying",
        "deferred",
    ];
    let status = status.or_else(|| {
        let class = match reply_code {
            Some(c) if (400..500).contains(&c) => Class::Transient,
            Some(_) => Class::Permanent,
            None if action == Some(Action::Delayed)
                || temporary_words.iter().any(|w| lower.contains(w)) =>
            {
                Class::Transient
            }
            None => Class::Permanent,
        };
        Some(Status::Code(EnhancedCode::new(class, 0, 0)))
    });
    let code = status.as_ref().and_then(Status::code);
    // Where the refusal came: Postfix says "(in reply to end of DATA command)"
    // in the text part, Sendmail shows ">>> DATA" then "<<< 550 ..." in its transcript.
    let context = recipient
        .as_deref()
        .and_then(|r| text::context_for(ctx, r))
        .unwrap_or_default();
    let text_lower = text.to_ascii_lowercase();
    let data_reply = ctx
        .data_replies
        .iter()
        .any(|probe| text_lower.contains(probe.as_str()));
    let context_lower = context.to_ascii_lowercase();
    let after_data = data_reply
        || crate::classify::AFTER_DATA
            .iter()
            .any(|p| context_lower.contains(p));
    let classified = if after_data {
        format!("{text} (in reply to data)")
    } else {
        text.to_string()
    };
    let mut c = classify(reply_code, code, &classified);
    if local_mailer
        && matches!(
            c.reason,
            Reason::UserUnknown | Reason::Policy | Reason::Other
        )
    {
        // A local delivery program (procmail, a filter) failed: a mailer error.
        c.reason = Reason::Other;
        c.hard = false;
    }
    // "550 unknown user" from a remote server, without an address-status code
    // and without anything tying it to RCPT TO, is what filtering gateways
    // answer to whole messages; it does not prove the mailbox is missing.
    let address_code = code.is_some_and(|c| c.subject == 1 || (c.subject == 2 && c.detail == 1));
    let rcpt_evidence = ["rcpt", "recipient address rejected"]
        .iter()
        .any(|w| text_lower.contains(w) || context_lower.contains(w))
        || ctx.rcpt_in_text;
    if c.reason == Reason::UserUnknown
        && reply_code.is_some()
        && !address_code
        && !rcpt_evidence
        && !local_mailer
    {
        c.reason = Reason::Policy;
        c.hard = false;
    }
    if c.reason == Reason::Other && text.is_empty() {
        // No words for this recipient: the top of the bounce's text explains it.
        let mut cache = ctx.fallback.borrow_mut();
        c = match *cache {
            Some((r, s, cached)) if r == reply_code && s == code => cached,
            _ => {
                let end = (0..=FALLBACK_TEXT.min(ctx.human.len()))
                    .rev()
                    .find(|i| ctx.human.is_char_boundary(*i))
                    .unwrap_or(0);
                let fresh = classify(reply_code, code, ctx.human.get(..end).unwrap_or(""));
                *cache = Some((reply_code, code, fresh));
                fresh
            }
        };
    }
    // A final failure that only ever saw time-outs or refused connections
    // means the queue gave up: the message expired.
    let unreachable = [
        "timed out",
        "timeout",
        "connection refused",
        "no route to host",
    ]
    .iter()
    .any(|w| lower.contains(w));
    if c.reason == Reason::Other && action != Some(Action::Delayed) && unreachable {
        c.reason = Reason::Expired;
    }
    let action = action.or_else(|| {
        let transient = code.is_some_and(|c| c.class == Class::Transient);
        if transient
            && temporary_words
                .iter()
                .any(|w| lower.contains(w) || ctx.subject.contains(w))
        {
            Some(Action::Delayed)
        } else {
            None
        }
    });
    BounceRecipient {
        recipient,
        original_recipient: None,
        action: action.or(Some(Action::Failed)),
        status,
        reply_code,
        diagnostic: diag,
        remote_mta,
        reason: c.reason,
        hard: c.hard,
    }
}
