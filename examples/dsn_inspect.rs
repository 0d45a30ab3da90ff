//! Prints what the `dsn` crate finds in messages that arrived at a bounce
//! address.
//!
//! ```text
//! cargo run --example dsn_inspect -- FILE...
//! cargo run --example dsn_inspect -- --json FILE...
//! ```
//!
//! With `--json`, one JSON object per line and recipient (the stable format
//! documented in the `dsn` crate docs, "Output of dsn_inspect"):
//! `{"file","is_bounce","recipient","action","status","reply_code","reason","hard_bounce","diagnostic"}`.
//! A message that is not a bounce gives one line with `"is_bounce": false`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use dsn::{Analysis, MessageKind, analyze};
use serde_json::{Value, json};

fn json_lines(file: &str, a: &Analysis) -> Vec<Value> {
    let is_bounce = a.kind == MessageKind::Bounce;
    if !is_bounce || a.recipients.is_empty() {
        return vec![json!({
            "file": file,
            "is_bounce": is_bounce,
            "recipient": null,
            "action": null,
            "status": null,
            "reply_code": null,
            "reason": null,
            "hard_bounce": false,
            "diagnostic": null,
        })];
    }
    a.recipients
        .iter()
        .map(|r| {
            json!({
                "file": file,
                "is_bounce": true,
                "recipient": r.recipient,
                "action": r.action.map(|x| x.as_str()),
                "status": r.status.as_ref().map(|s| s.to_string()),
                "reply_code": r.reply_code,
                "reason": r.reason.as_str(),
                "hard_bounce": r.hard,
                "diagnostic": r.diagnostic,
            })
        })
        .collect()
}

fn print_human(file: &str, a: &Analysis) {
    println!("{file}: {} ({})", a.kind, a.family);
    if let Some(id) = &a.envelope_id {
        println!("  envelope id: {id}");
    }
    if let Some(id) = &a.original_message_id {
        println!("  original message-id: {id}");
    }
    if let Some(m) = &a.reporting_mta {
        println!("  reporting mta: {m}");
    }
    if let Some(c) = &a.complaint {
        println!(
            "  complaint: type {}, recipient {}",
            c.feedback_type.as_deref().unwrap_or("-"),
            c.recipient.as_deref().unwrap_or("-")
        );
    }
    for r in &a.recipients {
        println!(
            "  recipient {}",
            r.recipient.as_deref().unwrap_or("(unknown)")
        );
        if let Some(o) = &r.original_recipient {
            println!("    original recipient: {o}");
        }
        println!(
            "    action {}, status {}, reply code {}",
            r.action.map_or("-", |x| x.as_str()),
            r.status.as_ref().map_or("-".to_string(), |s| s.to_string()),
            r.reply_code.map_or("-".to_string(), |c| c.to_string())
        );
        println!(
            "    reason {} ({})",
            r.reason,
            if r.hard { "hard" } else { "soft" }
        );
        if let Some(m) = &r.remote_mta {
            println!("    remote mta: {m}");
        }
        if let Some(d) = &r.diagnostic {
            println!("    diagnostic: {d}");
        }
    }
}

fn main() -> ExitCode {
    let mut json_out = false;
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => json_out = true,
            "-h" | "--help" => {
                println!("usage: dsn_inspect [--json] FILE...");
                return ExitCode::SUCCESS;
            }
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        eprintln!("usage: dsn_inspect [--json] FILE...");
        return ExitCode::from(2);
    }
    let mut status = ExitCode::SUCCESS;
    for file in &files {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{file}: {e}");
                status = ExitCode::FAILURE;
                continue;
            }
        };
        let a = analyze(&bytes);
        if json_out {
            for line in json_lines(file, &a) {
                println!("{line}");
            }
        } else {
            print_human(file, &a);
        }
    }
    status
}
