//! The admin commands against a temporary data directory, by running the
//! `postel` binary and comparing its output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use postel_server::stores::Stores;
use queue::{Store, Submission};
use smtp::Address;

fn postel(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_postel"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env("POSTEL_LOG", "off")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (success, stdout, stderr) = postel(dir, args);
    assert!(success, "{args:?}: {stderr}");
    stdout
}

fn enqueue(dir: &Path, account: &str, from: &str, to: &[&str]) -> Vec<i64> {
    let stores = Stores::open(dir, None, Default::default()).unwrap();
    let rcpts = to.iter().map(|a| Address::parse(a).unwrap()).collect();
    stores
        .queue
        .enqueue(Submission::new(
            account,
            Some(Address::parse(from).unwrap()),
            rcpts,
            b"Subject: t\r\n\r\nbody\r\n".to_vec(),
        ))
        .unwrap()
}

#[test]
fn account_add_password_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(
        ok(
            d,
            &[
                "account",
                "add",
                "app",
                "app@example.org",
                "info@example.org"
            ]
        ),
        "account app added with app@example.org, info@example.org; set its password with `postel account password app`\n"
    );
    assert_eq!(
        ok(d, &["account", "list"]),
        "app app@example.org info@example.org (no password)\n"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_postel"))
        .arg("--dir")
        .arg(d)
        .args(["account", "password", "app"])
        .env("POSTEL_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a good password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "password of account app set\n"
    );
    assert_eq!(
        ok(d, &["account", "list"]),
        "app app@example.org info@example.org\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(d, &["account", "list", "--json"])).unwrap();
    assert_eq!(json[0]["name"], "app");
    assert_eq!(json[0]["has_password"], true);
}

#[test]
fn queue_list_hold_release_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(ok(d, &["queue", "list"]), "queue is empty\n");
    let a = enqueue(
        d,
        "app",
        "app@example.org",
        &["bob@example.com", "carol@example.net"],
    );
    let b = enqueue(d, "other", "x@example.org", &["dave@example.com"]);

    let json: serde_json::Value =
        serde_json::from_str(&ok(d, &["queue", "list", "--json", "--account", "app"])).unwrap();
    let ids: Vec<i64> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, a);
    assert_eq!(json[0]["sender"], "app@example.org");
    assert_eq!(json[0]["recipient"], "bob@example.com");
    assert_eq!(json[0]["dsn"]["orcpt"], "rfc822;bob@example.com");

    let (success, _, stderr) = postel(d, &["queue", "hold"]);
    assert!(!success);
    assert!(stderr.contains("no messages selected: give --id, --account, --from, --to, --held, --transport, --submitted, --when, or --all"), "{stderr}");

    assert_eq!(
        ok(d, &["queue", "hold", "--to", "example.com"]),
        "2 messages held\n"
    );
    let held: serde_json::Value =
        serde_json::from_str(&ok(d, &["queue", "list", "--held", "--json"])).unwrap();
    let held: Vec<i64> = held
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(held, vec![a[0], b[0]]);
    assert_eq!(
        ok(d, &["queue", "release", "--id", &b[0].to_string()]),
        "1 message released\n"
    );
    assert_eq!(
        ok(d, &["queue", "transport", "relay", "--account", "other"]),
        "1 message changed\n"
    );
    assert_eq!(
        ok(d, &["queue", "requiretls", "no", "--account", "other"]),
        "1 message changed\n"
    );
    let line = ok(d, &["queue", "list", "--account", "other"]);
    assert!(
        line.starts_with(&format!(
            "{} other <x@example.org> -> <dave@example.com> attempts 0 next ",
            b[0]
        )),
        "{line}"
    );
    assert!(line.ends_with(" transport relay requiretls no\n"), "{line}");
    assert_eq!(
        ok(d, &["queue", "schedule", "--all", "--", "-1h"]),
        "3 messages rescheduled\n"
    );
    let due: serde_json::Value =
        serde_json::from_str(&ok(d, &["queue", "list", "--json", "--when", "<now"])).unwrap();
    assert_eq!(
        due.as_array().unwrap().len(),
        3,
        "all were moved an hour back"
    );
    let recent: serde_json::Value =
        serde_json::from_str(&ok(d, &["queue", "list", "--json", "--submitted", "<-1h"])).unwrap();
    assert_eq!(recent.as_array().unwrap().len(), 0);
    assert_eq!(
        ok(d, &["queue", "retry", "--all"]),
        "3 messages scheduled for delivery now\n"
    );

    // Paging: one page of one row, then the next.
    let page1: serde_json::Value = serde_json::from_str(&ok(
        d,
        &["queue", "list", "--json", "--max", "1", "--by-queued"],
    ))
    .unwrap();
    let first = page1[0]["id"].as_i64().unwrap();
    let page2: serde_json::Value = serde_json::from_str(&ok(
        d,
        &[
            "queue",
            "list",
            "--json",
            "--max",
            "1",
            "--by-queued",
            "--after-id",
            &first.to_string(),
        ],
    ))
    .unwrap();
    assert_ne!(page2[0]["id"].as_i64().unwrap(), first);

    assert_eq!(
        ok(d, &["queue", "drop", "--id", &a[1].to_string()]),
        "1 message dropped\n"
    );
    ok(d, &["account", "add", "other", "x@example.org"]);
    assert_eq!(
        ok(d, &["queue", "fail", "--account", "other"]),
        "1 message failed, 1 failure DSN written\n"
    );
    let stores = Stores::open(d, None, Default::default()).unwrap();
    let inbox =
        mailbox::MailboxStore::list(&*stores.mailbox, "other", mailbox::INBOX, None, 10).unwrap();
    assert_eq!(inbox.messages.len(), 1);
    assert!(inbox.messages[0].envelope.is_dsn);
    let history = ok(d, &["queue", "history", "--asc"]);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 2, "{history}");
    assert!(
        lines[0].starts_with(&format!(
            "{} app <app@example.org> -> <carol@example.net> canceled attempts 0 last activity ",
            a[1]
        )),
        "{history}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{} other <x@example.org> -> <dave@example.com> failed attempts 0 last activity ",
            b[0]
        )),
        "{history}"
    );
    let show = ok(d, &["queue", "show", &a[0].to_string()]);
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(v["recipient"], "bob@example.com");
}

#[test]
fn holdrule_add_list_remove() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(ok(d, &["holdrule", "list"]), "no hold rules\n");
    enqueue(d, "app", "app@example.org", &["bob@example.com"]);
    assert_eq!(
        ok(d, &["holdrule", "add", "--recipient-domain", "example.com"]),
        "hold rule 1 added\n"
    );
    assert_eq!(
        ok(d, &["holdrule", "list"]),
        "1 account * sender domain * recipient domain example.com\n"
    );
    let held: serde_json::Value =
        serde_json::from_str(&ok(d, &["queue", "list", "--held", "--json"])).unwrap();
    assert_eq!(held.as_array().unwrap().len(), 1);
    assert_eq!(
        ok(d, &["holdrule", "remove", "1"]),
        "hold rule 1 removed (messages it held stay held)\n"
    );
    assert_eq!(ok(d, &["holdrule", "list"]), "no hold rules\n");
}

#[test]
fn suppression_add_lookup_list_remove() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(ok(d, &["suppression", "list"]), "no suppressions\n");
    assert_eq!(
        ok(
            d,
            &[
                "suppression",
                "add",
                "app",
                "Mjl.Test+x@Example.com",
                "--reason",
                "asked"
            ]
        ),
        "suppressed mjltest@example.com for account app\n"
    );
    assert_eq!(
        ok(
            d,
            &["suppression", "lookup", "app", "mjltest+y@example.com"]
        ),
        "app mjltest@example.com Mjl.Test+x@Example.com (manual: asked)\n"
    );
    assert_eq!(
        ok(
            d,
            &["suppression", "lookup", "other", "mjltest@example.com"]
        ),
        "mjltest@example.com is not suppressed for account other\n"
    );
    assert_eq!(
        ok(d, &["suppression", "list", "--account", "app"]),
        "app mjltest@example.com Mjl.Test+x@Example.com (manual: asked)\n"
    );
    let (success, _, stderr) = postel(d, &["suppression", "add", "app", "mjltest@example.com"]);
    assert!(!success);
    assert!(stderr.contains("already suppressed"), "{stderr}");
    assert_eq!(
        ok(d, &["suppression", "remove", "app", "mjltest@example.com"]),
        "removed suppression of mjltest@example.com for account app\n"
    );
    assert_eq!(ok(d, &["suppression", "list"]), "no suppressions\n");
}

#[test]
fn serve_reports_config_errors_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("postel.toml");
    std::fs::write(
        &path,
        "hostname = \"mail.example.org\"\ndata_dir = \"x\"\n[queue]\nmax_attempts = \"many\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_postel"))
        .arg("-c")
        .arg(&path)
        .arg("serve")
        .env("POSTEL_LOG", "off")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "postel: postel.toml:4: queue.max_attempts: invalid type: string \"many\", expected u32\n"
    );
}
