#![allow(clippy::unwrap_used, clippy::expect_used)]
//! An independent reader checks composed DSNs: Python's `email` package must
//! see multipart/report with report-type=delivery-status, the expected part
//! types, no part defects, and (for ASCII DSNs) the status fields through its
//! delivery-status support. For UTF-8 DSNs the script reads the field blocks
//! of the global-delivery-status body itself (Python does not split that type).
//!
//! Run by `.ci/run`; locally: `cargo test -p dsn --test python_email -- --ignored`
//! (`POSTEL_PYTHON` selects the interpreter, default `python3`).

use std::process::Command;

use dsn::{Action, DateTime, Dsn, Mta, Original, PerMessage, RecipientStatus, Typed, compose};
use smtp::{Class, EnhancedCode};

const CHECK: &str = r#"
import sys, email
from email import policy

failures = []
for line in open(sys.argv[1], encoding="utf-8"):
    path, utf8, types, rcpts, statuses = line.rstrip("\n").split("\t")
    raw = open(path, "rb").read()
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    def fail(why):
        failures.append(f"{path}: {why}")
    if msg.get_content_type() != "multipart/report":
        fail(f"top type {msg.get_content_type()}")
    if msg.get_param("report-type") != "delivery-status":
        fail(f"report-type {msg.get_param('report-type')}")
    parts = msg.get_payload()
    got_types = ",".join(p.get_content_type() for p in parts)
    if got_types != types:
        fail(f"part types {got_types} != {types}")
    for p in msg.walk():
        if p.defects:
            fail(f"defects in {p.get_content_type()}: {p.defects}")
    want_rcpts = rcpts.split("|")
    want_status = statuses.split("|")
    if utf8 == "0":
        blocks = parts[1].get_payload()
        if not isinstance(blocks, list) or len(blocks) != 1 + len(want_rcpts):
            fail(f"delivery-status blocks {blocks!r}")
        else:
            if not blocks[0]["Reporting-MTA"]:
                fail("no Reporting-MTA")
            for b, r, s in zip(blocks[1:], want_rcpts, want_status):
                if b["Final-Recipient"] != r:
                    fail(f"Final-Recipient {b['Final-Recipient']!r} != {r!r}")
                if b["Status"].split(" ")[0] != s:
                    fail(f"Status {b['Status']!r} != {s!r}")
                if b["Action"] not in ("failed", "delayed", "delivered", "relayed", "expanded"):
                    fail(f"Action {b['Action']!r}")
    else:
        # Python parses message/global-delivery-status as a nested message, so
        # take the part's body from the raw bytes between the boundaries.
        chunk = raw.split(b"--" + msg.get_boundary().encode())[2]
        body = chunk.split(b"\r\n\r\n", 1)[1].decode("utf-8")
        blocks = [b for b in body.replace("\r\n", "\n").split("\n\n") if b.strip()]
        got = [dict(l.split(": ", 1) for l in b.split("\n") if ": " in l) for b in blocks]
        if len(got) != 1 + len(want_rcpts):
            fail(f"global blocks {got!r}")
        else:
            for b, r, s in zip(got[1:], want_rcpts, want_status):
                if b.get("Final-Recipient") != r:
                    fail(f"Final-Recipient {b.get('Final-Recipient')!r} != {r!r}")
                if b.get("Status", "").split(" ")[0] != s:
                    fail(f"Status {b.get('Status')!r} != {s!r}")
for f in failures:
    print(f)
print("checked")
sys.exit(1 if failures else 0)
"#;

const ORIGINAL_ASCII: &[u8] = b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: hello\r\nMessage-ID: <orig-1@example.org>\r\n\r\nHi Bob.\r\n";
const ORIGINAL_UTF8: &[u8] = "From: Jörg <jörg@bücher.example>\r\nTo: 小林@例え.jp\r\nSubject: grüße\r\nMessage-ID: <orig-2@example.org>\r\n\r\nHallo.\r\n".as_bytes();

fn dsn(rcpts: &[(&str, Action, EnhancedCode)], utf8: bool, original: &[u8], full: bool) -> Dsn {
    Dsn {
        from: "postmaster@mx.example.org".into(),
        to: "alice@example.org".into(),
        subject: "mail delivery failed".into(),
        message_id: "dsn-1@mx.example.org".into(),
        references: Some("orig-1@example.org".into()),
        date: DateTime::from_unix(1_700_000_000, 0),
        text: String::new(),
        per_message: PerMessage {
            original_envelope_id: Some("env-1".into()),
            reporting_mta: Some(Mta::dns("mx.example.org")),
            arrival_date: Some(DateTime::from_unix(1_699_990_000, 0)),
            ..PerMessage::default()
        },
        recipients: rcpts
            .iter()
            .map(|(a, act, st)| {
                let mut r = RecipientStatus::new(a, *act, *st);
                r.diagnostic_code = Some(Typed::new("smtp", "550 5.1.1 no such user"));
                r
            })
            .collect(),
        original: Some(Original {
            message: original.to_vec(),
            return_full: full,
        }),
        smtputf8: utf8,
        retry: None,
    }
}

#[test]
#[ignore = "needs python3; run by .ci/run"]
fn python_email_package_reads_composed_dsns() {
    let dir = tempfile::tempdir().unwrap();
    let fail = EnhancedCode::new(Class::Permanent, 1, 1);
    let full = EnhancedCode::new(Class::Permanent, 2, 2);
    let cases = [
        (
            "ascii-one-headers",
            dsn(
                &[("bob@example.net", Action::Failed, fail)],
                false,
                ORIGINAL_ASCII,
                false,
            ),
            "text/rfc822-headers",
        ),
        (
            "ascii-many-full",
            dsn(
                &[
                    ("bob@example.net", Action::Failed, fail),
                    ("carol@example.net", Action::Failed, full),
                ],
                false,
                ORIGINAL_ASCII,
                true,
            ),
            "message/rfc822",
        ),
        (
            "utf8-one-headers",
            dsn(
                &[("小林@例え.jp", Action::Failed, fail)],
                true,
                ORIGINAL_UTF8,
                false,
            ),
            "message/global-headers",
        ),
        (
            "utf8-many-full",
            dsn(
                &[
                    ("jörg@bücher.example", Action::Failed, fail),
                    ("bob@example.net", Action::Failed, full),
                ],
                true,
                ORIGINAL_UTF8,
                true,
            ),
            "message/global",
        ),
    ];
    let mut spec = String::new();
    for (name, d, third) in &cases {
        let path = dir.path().join(format!("{name}.eml"));
        std::fs::write(&path, compose(d).unwrap()).unwrap();
        let status_type = if d.smtputf8 {
            "message/global-delivery-status"
        } else {
            "message/delivery-status"
        };
        let rcpts: Vec<String> = d
            .recipients
            .iter()
            .map(|r| {
                let kind = if r.final_recipient.value.is_ascii() {
                    "rfc822"
                } else {
                    "utf-8"
                };
                format!("{kind};{}", r.final_recipient.value)
            })
            .collect();
        let statuses: Vec<String> = d.recipients.iter().map(|r| r.status.to_string()).collect();
        spec.push_str(&format!(
            "{}\t{}\ttext/plain,{status_type},{third}\t{}\t{}\n",
            path.display(),
            u8::from(d.smtputf8),
            rcpts.join("|"),
            statuses.join("|")
        ));
    }
    let spec_path = dir.path().join("spec.tsv");
    std::fs::write(&spec_path, spec).unwrap();
    let script = dir.path().join("check.py");
    std::fs::write(&script, CHECK).unwrap();
    let python = std::env::var("POSTEL_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(&script)
        .arg(&spec_path)
        .output()
        .expect("running python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "checked");
}
