//! Amazon SES bounce notifications delivered by e-mail (SNS): a JSON object
//! with `"notificationType":"Bounce"` and `bouncedRecipients`. Read with a
//! small key scanner; the crate does not need a JSON parser for four keys.

use super::{BounceRecipient, Status};
use crate::classify::classify_bounce as classify;
use crate::model::Action;

/// Whether the body is an SES bounce notification.
pub(super) fn is_bounce(body: &str) -> bool {
    let compact: String = body
        .chars()
        .take(64 * 1024)
        .filter(|c| !c.is_whitespace())
        .collect();
    compact.contains("\"notificationType\":\"Bounce\"")
}

fn string_value(obj: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\":\"");
    let start = obj.find(&pat)? + pat.len();
    let rest = obj.get(start..)?;
    let mut out = String::new();
    let mut escaped = false;
    for c in rest.chars() {
        match (escaped, c) {
            (true, c) => {
                out.push(c);
                escaped = false;
            }
            (false, '\\') => escaped = true,
            (false, '"') => return Some(out),
            (false, c) => out.push(c),
        }
    }
    None
}

/// The recipients of an SES bounce notification.
pub(super) fn recipients(body: &str) -> Vec<BounceRecipient> {
    let permanent = body.contains("\"Permanent\"");
    let Some(list_start) = body.find("\"bouncedRecipients\"") else {
        return Vec::new();
    };
    let list = body.get(list_start..).unwrap_or("");
    let list = list
        .get(..list.find(']').unwrap_or(list.len()))
        .unwrap_or("");
    list.split('{')
        .skip(1)
        .take(1000)
        .filter_map(|obj| {
            let addr = string_value(obj, "emailAddress")?;
            let diagnostic = string_value(obj, "diagnosticCode");
            let diag_text = diagnostic
                .as_deref()
                .map(|d| d.split_once(';').map_or(d, |(_, v)| v).trim().to_string());
            let status = string_value(obj, "status").map(|s| match s.parse() {
                Ok(c) => Status::Code(c),
                Err(_) => Status::Other(s),
            });
            let code = status.as_ref().and_then(Status::code);
            let reply_code = diag_text.as_deref().and_then(super::scan::reply_code);
            let c = classify(reply_code, code, diag_text.as_deref().unwrap_or(""));
            Some(BounceRecipient {
                recipient: Some(addr),
                original_recipient: None,
                action: Some(if permanent {
                    Action::Failed
                } else {
                    Action::Delayed
                }),
                status,
                reply_code,
                diagnostic: diag_text,
                remote_mta: string_value(obj, "remoteMtaIp"),
                reason: c.reason,
                hard: c.hard,
            })
        })
        .collect()
}
