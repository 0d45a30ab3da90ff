//! localserve: the special local parts on the local delivery listener,
//! delivery into the sender's mailbox, and the whole thing started on
//! free ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::Raw;
use mailbox::{INBOX, MailboxStore};
use postel_server::localserve::{self, LocalDelivery};
use postel_server::stores::Stores;
use queue::{Filter, Sort, Store};
use smtpserver::{Mode, Server, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;

async fn local_listener(stores: &Stores) -> (SocketAddr, watch::Sender<bool>) {
    localserve::ensure_account(&stores.mailbox, "postelpostel").unwrap();
    let handler = LocalDelivery::new(
        stores.mailbox.clone(),
        localserve::ACCOUNT,
        Duration::from_millis(20),
    );
    let config = ServerConfig::new("localhost".parse().unwrap(), Mode::Inbound);
    let (stop, rx) = watch::channel(false);
    let server = Server::new(config, Arc::new(handler)).with_shutdown(rx);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { server.run(listener, false).await });
    (addr, stop)
}

#[tokio::test]
async fn mailfrom_prefix_fails_the_mail_command() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::open(dir.path(), Some('+'), Default::default()).unwrap();
    let (addr, _stop) = local_listener(&stores).await;
    let mut c = Raw::connect(addr).await;
    c.cmd("EHLO localhost").await;
    assert_eq!(
        c.cmd("MAIL FROM:<mailfromtemperror@localhost>").await,
        "451 4.0.0 error simulated by localserve"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<mailfrom553@localhost>").await,
        "553 5.0.0 error simulated by localserve"
    );
}

#[tokio::test]
async fn rcptto_prefix_fails_the_rcpt_command() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::open(dir.path(), Some('+'), Default::default()).unwrap();
    let (addr, _stop) = local_listener(&stores).await;
    let mut c = Raw::connect(addr).await;
    c.cmd("EHLO localhost").await;
    c.cmd("MAIL FROM:<postel@localhost>").await;
    assert_eq!(
        c.cmd("RCPT TO:<rcpttopermerror@example.com>").await,
        "550 5.0.0 error simulated by localserve"
    );
    assert_eq!(
        c.cmd("RCPT TO:<rcpttotimeout@example.com>").await,
        "451 4.0.0 error simulated by localserve"
    );
}

#[tokio::test]
async fn other_special_recipients_fail_after_data() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::open(dir.path(), Some('+'), Default::default()).unwrap();
    let (addr, _stop) = local_listener(&stores).await;
    let mut c = Raw::connect(addr).await;
    c.cmd("EHLO localhost").await;
    for (rcpt, want) in [
        (
            "user552@example.com",
            "552 5.0.0 error simulated by localserve",
        ),
        (
            "usertemperror@example.com",
            "451 4.0.0 error simulated by localserve",
        ),
        (
            "userpermerror@example.com",
            "550 5.0.0 error simulated by localserve",
        ),
        (
            "usertimeout@example.com",
            "451 4.0.0 error simulated by localserve",
        ),
    ] {
        c.cmd("MAIL FROM:<postel@localhost>").await;
        assert_eq!(
            c.cmd(&format!("RCPT TO:<{rcpt}>")).await,
            "250 2.1.5 recipient ok"
        );
        assert_eq!(c.data("Subject: x\r\n\r\nbody\r\n").await, want, "{rcpt}");
    }
    let page = stores.mailbox.list("postel", INBOX, None, 50).unwrap();
    assert!(page.messages.is_empty());
}

#[tokio::test]
async fn ordinary_recipient_is_delivered_into_the_senders_inbox() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::open(dir.path(), Some('+'), Default::default()).unwrap();
    let (addr, _stop) = local_listener(&stores).await;
    let mut c = Raw::connect(addr).await;
    c.cmd("EHLO localhost").await;
    c.cmd("MAIL FROM:<postel+abc@localhost>").await;
    c.cmd("RCPT TO:<someone@example.com>").await;
    let r = c
        .data("Subject: hi\r\nMessage-ID: <x1@localhost>\r\n\r\nbody\r\n")
        .await;
    assert!(r.starts_with("250 2.0.0 delivered as message "), "{r}");
    let page = stores.mailbox.list("postel", INBOX, None, 50).unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].message_id, "x1@localhost");
    let raw = stores.mailbox.raw("postel", page.messages[0].id).unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("Received: from localhost"), "{text}");
    assert!(text.ends_with("Subject: hi\r\nMessage-ID: <x1@localhost>\r\n\r\nbody\r\n"));
}

#[test]
fn special_endings() {
    use localserve::{Special, special};
    assert_eq!(special("xtemperror"), Some(Special::Code(451)));
    assert_eq!(special("PermError"), Some(Special::Code(550)));
    assert_eq!(special("rcpttotimeout"), Some(Special::Timeout));
    assert_eq!(special("user421"), Some(Special::Code(421)));
    assert_eq!(special("user600"), None, "600 is not an SMTP code");
    assert_eq!(special("user399"), None);
    assert_eq!(special("bob"), None);
    assert_eq!(special("55"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localserve_accepts_submission_with_the_printed_account_and_stops_on_signal() {
    let dir = tempfile::tempdir().unwrap();
    let bind = || async { TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let listeners = localserve::Listeners {
        smtp: bind().await,
        submission: bind().await,
        submissions: bind().await,
    };
    let submission_addr = listeners.submission.local_addr().unwrap();
    let (stop, rx) = watch::channel(false);
    let opts = localserve::Options {
        dir: dir.path().to_path_buf(),
        password: "secret-pass".into(),
        hang: Duration::from_millis(10),
        webhook_url: None,
    };
    // Hold everything so the row stays in the queue for inspection.
    let stores = Stores::open(dir.path(), Some('+'), Default::default()).unwrap();
    stores
        .queue
        .hold_rule_add(queue::HoldRule::default())
        .unwrap();
    let task = tokio::spawn(localserve::run(opts, listeners, rx));

    let mut c = loop {
        if let Ok(s) = tokio::net::TcpStream::connect(submission_addr).await {
            drop(s);
            break Raw::connect(submission_addr).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    c.login("postel@localhost", "secret-pass").await;
    assert_eq!(
        c.cmd("MAIL FROM:<postel@localhost>").await,
        "250 2.1.0 sender ok"
    );
    c.cmd("RCPT TO:<bob@example.com>").await;
    assert!(
        c.data("Subject: x\r\n\r\nbody\r\n")
            .await
            .starts_with("250 ")
    );
    c.cmd("QUIT").await;

    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
    let rows = stores
        .queue
        .list(&Filter::default(), &Sort::default())
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].account, "postel");
    // fromid mode is on for the localserve login.
    assert_eq!(
        rows[0].sender,
        format!("postel+{}@localhost", rows[0].from_id)
    );
}

/// Polls until `f` returns Some, for at most about 20 seconds.
async fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..400 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localserve_round_trip_delivers_into_inbox_and_permerror_gives_a_failure_dsn() {
    let dir = tempfile::tempdir().unwrap();
    let bind = || async { TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let listeners = localserve::Listeners {
        smtp: bind().await,
        submission: bind().await,
        submissions: bind().await,
    };
    let submission_addr = listeners.submission.local_addr().unwrap();
    let (stop, rx) = watch::channel(false);
    let opts = localserve::Options {
        dir: dir.path().to_path_buf(),
        password: "postelpostel".into(),
        hang: Duration::from_millis(10),
        webhook_url: None,
    };
    // Opened first: two processes creating the schema at once would race.
    let stores = Stores::open(dir.path(), Some('+'), Default::default()).unwrap();
    let task = tokio::spawn(localserve::run(opts, listeners, rx));

    let mut c = Raw::connect(submission_addr).await;
    c.login("postel@localhost", "postelpostel").await;
    c.cmd("MAIL FROM:<postel@localhost>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    let r = c
        .data("Subject: round trip\r\nMessage-ID: <rt1@localhost>\r\n\r\nbody\r\n")
        .await;
    assert!(r.starts_with("250 "), "{r}");

    let delivered = eventually(|| {
        let page = stores.mailbox.list("postel", INBOX, None, 50).ok()?;
        page.messages
            .into_iter()
            .find(|m| m.message_id == "rt1@localhost")
    })
    .await;
    assert!(!delivered.envelope.is_dsn);
    let history = eventually(|| {
        let h = stores
            .queue
            .history(&Default::default(), &Default::default())
            .ok()?;
        (!h.is_empty()).then_some(h)
    })
    .await;
    assert_eq!(history[0].event, queue::Event::Delivered);
    assert_eq!(history[0].message.recipient, "bob@example.com");

    c.cmd("MAIL FROM:<postel@localhost>").await;
    c.cmd("RCPT TO:<userpermerror@example.com>").await;
    let r = c
        .data("Subject: will fail\r\nMessage-ID: <rt2@localhost>\r\n\r\nbody\r\n")
        .await;
    assert!(r.starts_with("250 "), "{r}");
    let dsn = eventually(|| {
        let page = stores.mailbox.list("postel", INBOX, None, 50).ok()?;
        page.messages.into_iter().find(|m| m.envelope.is_dsn)
    })
    .await;
    let raw = String::from_utf8(stores.mailbox.raw("postel", dsn.id).unwrap()).unwrap();
    assert!(raw.contains("userpermerror@example.com"), "{raw}");
    assert!(raw.contains("550"), "{raw}");
    let failed = stores
        .queue
        .history(
            &queue::HistoryFilter {
                to: "userpermerror".into(),
                ..Default::default()
            },
            &Default::default(),
        )
        .unwrap();
    assert_eq!(failed[0].event, queue::Event::Failed);
    c.cmd("QUIT").await;

    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `postel --dir DIR localserve ARGS`, read up to the end of its banner
/// (the web API line); the child and the banner. The callers kill and
/// wait for the child.
#[allow(clippy::zombie_processes)]
fn spawn_localserve(dir: &std::path::Path, args: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_postel"))
        .arg("--dir")
        .arg(dir)
        .arg("localserve")
        .args(args)
        .env("POSTEL_LOG", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            let status = child.wait().unwrap();
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!("localserve ended ({status}) after {banner:?}: {err}");
        }
        banner.push_str(&line);
        if line.starts_with("web API:") {
            return (child, banner);
        }
    }
}

/// One HTTP request taken on `listener` (answered 204): its request line
/// and headers. Panics when none comes within a minute.
async fn take_request(listener: &TcpListener) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let (stream, _) = tokio::time::timeout(Duration::from_secs(60), listener.accept())
        .await
        .expect("no webhook request within a minute")
        .unwrap();
    let mut reader = tokio::io::BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    reader
        .get_mut()
        .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localserve_toml_in_the_data_dir_gives_ports_password_and_webhook_url() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", receiver.local_addr().unwrap());
    let (smtp, sub, subs, http) = (free_port(), free_port(), free_port(), free_port());
    std::fs::write(
        dir.path().join("localserve.toml"),
        format!(
            "webhook_url = \"{hook_url}\"\npassword = \"file-pass-1\"\ntimeout_hang = \"1s\"\n\
             smtp_port = {smtp}\nsubmission_port = {sub}\nsubmissions_port = {subs}\nhttp_port = {http}\n"
        ),
    )
    .unwrap();
    let (mut child, banner) = spawn_localserve(dir.path(), &[]);
    let secret = std::fs::read_to_string(dir.path().join("webhook-secret")).unwrap();
    assert_eq!(
        banner,
        format!(
            "settings from {}\n\
             webhooks: every event of the account is posted to {hook_url}, signed (Standard Webhooks) with secret {}\n\
             postel localserve: data in {}\n  submission  127.0.0.1:{sub} (STARTTLS, AUTH PLAIN allowed in plaintext)\n  \
             submissions 127.0.0.1:{subs} (self-signed certificate)\n  smtp        127.0.0.1:{smtp} (local delivery)\n  \
             account postel@localhost password file-pass-1\n\
             recipient local parts ending in temperror, permerror, timeout or a code like 552 simulate failures (prefix mailfrom/rcptto: at that command)\n\
             web API: http://127.0.0.1:{http}/webapi/v0/ (HTTP Basic with the account above)\n",
            dir.path().join("localserve.toml").display(),
            secret.trim(),
            dir.path().display(),
        )
    );
    // The file's password and port take a submission; its delivery's
    // webhook goes to the file's URL.
    let addr: SocketAddr = format!("127.0.0.1:{sub}").parse().unwrap();
    let mut c = loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break Raw::connect(addr).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    c.login("postel@localhost", "file-pass-1").await;
    c.cmd("MAIL FROM:<postel@localhost>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    assert!(
        c.data("Subject: x\r\n\r\nbody\r\n")
            .await
            .starts_with("250 ")
    );
    c.cmd("QUIT").await;
    let head = take_request(&receiver).await;
    assert!(head.starts_with("POST /hook HTTP/1.1\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nwebhook-signature: v1,"),
        "{head}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn localserve_flags_win_over_the_config_file_given_with_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.toml");
    let (smtp, sub, subs, file_http, flag_http) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    std::fs::write(
        &file,
        format!(
            "webhook_url = \"http://127.0.0.1:9/from-file\"\npassword = \"file-pass-2\"\n\
             smtp_port = {smtp}\nsubmission_port = {sub}\nsubmissions_port = {subs}\nhttp_port = {file_http}\n"
        ),
    )
    .unwrap();
    let flag_http_s = flag_http.to_string();
    let (mut child, banner) = spawn_localserve(
        dir.path(),
        &[
            "--config",
            file.to_str().unwrap(),
            "--webhook-url",
            "http://127.0.0.1:9/from-flag",
            "--http-port",
            &flag_http_s,
        ],
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let lines: Vec<&str> = banner.lines().collect();
    assert_eq!(lines[0], format!("settings from {}", file.display()));
    assert!(
        lines[1].starts_with(
            "webhooks: every event of the account is posted to http://127.0.0.1:9/from-flag, "
        ),
        "{banner}"
    );
    assert!(banner.contains("\n  account postel@localhost password file-pass-2\n"));
    assert!(
        banner.ends_with(&format!(
            "web API: http://127.0.0.1:{flag_http}/webapi/v0/ (HTTP Basic with the account above)\n"
        )),
        "{banner}"
    );
}

#[test]
fn invalid_localserve_toml_stops_localserve_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("localserve.toml");
    std::fs::write(&file, "password = \"p\"\nwebhook_url = \"not a url\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_postel"))
        .arg("--dir")
        .arg(dir.path())
        .arg("localserve")
        .env("POSTEL_LOG", "off")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "postel: {}:2: webhook_url: \"not a url\" is not an http or https URL with a host\n",
            file.display()
        )
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "");
}
