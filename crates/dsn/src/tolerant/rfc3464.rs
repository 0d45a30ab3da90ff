//! RFC 3464 status fields read leniently: blocks without a per-message part,
//! fields pasted into a text part with indentation, addresses without type,
//! status values with words around the code, unknown actions.

use super::{BounceRecipient, Ctx, Raw, Status, finish, scan, text};
use crate::fields::{Block, parse_address, parse_mta, split_blocks, split_typed, strip_comments};
use crate::model::Action;

/// Recipients and per-message values found in status fields.
pub(super) struct Found {
    pub envelope_id: Option<String>,
    pub reporting_mta: Option<String>,
    pub recipients: Vec<BounceRecipient>,
}

const FIELD_NAMES: &[&str] = &[
    "reporting-mta:",
    "original-envelope-id:",
    "arrival-date:",
    "received-from-mta:",
    "final-recipient:",
    "original-recipient:",
    "x-actual-recipient:",
    "action:",
    "status:",
    "remote-mta:",
    "diagnostic-code:",
    "last-attempt-date:",
    "will-retry-until:",
    "final-log-id:",
];

/// Removes indentation from lines that start a known field, so that status
/// fields quoted inside a text part are read as fields.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let t = line.trim_start();
        let lower = t.get(..t.len().min(24)).unwrap_or(t).to_ascii_lowercase();
        if FIELD_NAMES.iter().any(|f| lower.starts_with(f)) {
            out.push_str(t);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn lenient_action(v: &str) -> Option<Action> {
    let (clean, _) = strip_comments(v);
    let word = clean
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match word.as_str() {
        "failed" | "failure" | "fail" | "bounced" | "rejected" => Some(Action::Failed),
        "delayed" | "delay" | "deferred" => Some(Action::Delayed),
        "delivered" | "deliverable" => Some(Action::Delivered),
        "relayed" => Some(Action::Relayed),
        "expanded" => Some(Action::Expanded),
        _ => None,
    }
}

fn address_of(v: &str) -> Option<String> {
    let t = parse_address(v);
    let a = t.value.trim().trim_matches(['<', '>', '"', '\'']);
    // RFC 5321 source route "@relay:user@domain"
    let a = match a.strip_prefix('@') {
        Some(r) => r.split_once(':')?.1.to_string(),
        None => a.to_string(),
    };
    if a.contains('@') {
        Some(a)
    } else {
        scan::addresses(v).into_iter().next().map(|f| f.address)
    }
}

/// Splits a block where a field repeats: some MTAs (AOL) write several
/// recipients without the blank line between them.
fn regroup(block: &Block) -> Vec<Block> {
    let mut out = vec![Block::default()];
    for f in &block.fields {
        let repeat = out.last().is_some_and(|b| {
            b.fields
                .iter()
                .any(|g| g.name.eq_ignore_ascii_case(&f.name))
        });
        if repeat {
            out.push(Block::default());
        }
        if let Some(b) = out.last_mut() {
            b.fields.push(f.clone());
        }
    }
    out
}

pub(super) fn recipients(ctx: &Ctx<'_>, texts: &[String]) -> Found {
    let mut found = Found {
        envelope_id: None,
        reporting_mta: None,
        recipients: Vec::new(),
    };
    let mut text_names: Option<Vec<String>> = None;
    for t in texts {
        for block in split_blocks(&normalise(t)).iter().flat_map(regroup) {
            if found.envelope_id.is_none() {
                found.envelope_id = block.get("Original-Envelope-ID").map(str::to_string);
            }
            if found.reporting_mta.is_none() {
                found.reporting_mta = block.get("Reporting-MTA").map(|v| parse_mta(v).name);
            }
            let final_rcpt = block.get("Final-Recipient").and_then(address_of);
            let orig_rcpt = block.get("Original-Recipient").and_then(address_of);
            let actual = block.get("X-Actual-Recipient").and_then(address_of);
            let named = final_rcpt.clone().or(orig_rcpt.clone()).or(actual);
            let recipient = match named {
                Some(r) => r,
                // A broken Final-Recipient ("@host"): the text part names the address.
                None if block.get("Final-Recipient").is_some() => {
                    let from_text = text_names.get_or_insert_with(|| text::recipient_names(ctx));
                    match from_text.get(found.recipients.len()) {
                        Some(r) => r.clone(),
                        None => continue,
                    }
                }
                None => continue,
            };
            let action = block.get("Action").and_then(lenient_action);
            let status = block.get("Status").and_then(|v| {
                let (clean, _) = strip_comments(v);
                match scan::enhanced_code(&clean) {
                    Some(c) => Some(Status::Code(c)),
                    None if clean.trim().is_empty() => None,
                    None => Some(Status::Other(clean.trim().to_string())),
                }
            });
            let diagnostic = block
                .get("Diagnostic-Code")
                .map(|v| {
                    let t = split_typed(v);
                    if t.kind.contains(' ') || t.kind.is_empty() {
                        v.to_string()
                    } else {
                        t.value
                    }
                })
                .filter(|d| !d.trim().is_empty());
            let diagnostic = match diagnostic {
                Some(d) if d.chars().any(|c| c.is_alphabetic()) => Some(d),
                other => text::context_for(ctx, &recipient).or(other),
            };
            let remote = block
                .get("Remote-MTA")
                .map(|v| parse_mta(v).name)
                .filter(|n| !n.is_empty());
            let local_mailer = block
                .get("Diagnostic-Code")
                .is_some_and(|v| split_typed(v).kind == "x-unix");
            let raw = Raw {
                recipient: Some(recipient),
                action,
                status,
                diagnostic,
                remote_mta: remote,
                local_mailer,
            };
            let mut r = finish(raw, ctx);
            r.original_recipient = orig_rcpt;
            found.recipients.push(r);
            if found.recipients.len() >= 1000 {
                return found;
            }
        }
    }
    found
}
