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
