//! Incoming mail: hosted recipients only, bounces matched to the messages
//! they are about (RFC 3464 and the non-standard formats of the dsn
//! corpus), suppression from bounces, and the whole loop in localserve.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::Raw;
use mailbox::{INBOX, MailboxStore, NewAccount};
use postel_server::inbound::Inbound;
use postel_server::localserve;
use postel_server::policy::{AccountPolicy, Policy};
use postel_server::stores::Stores;
use queue::{
    Event, Filter, HistoryFilter, HistorySort, NewRecipient, RetiredMessage, Store, Submission,
};
use smtp::Address;
use smtpserver::{Mode, Server, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;

const ACCOUNT: &str = "app";

fn policy() -> Policy {
    let mut p = Policy::default();
    p.accounts.insert(
        ACCOUNT.into(),
        AccountPolicy {
            separator: Some('+'),
            fromid_logins: vec!["app@example.org".into()],
            ..AccountPolicy::default()
        },
    );
    p
}

struct Env {
    _dir: tempfile::TempDir,
    stores: Stores,
    addr: SocketAddr,
    _stop: watch::Sender<bool>,
}

async fn start() -> Env {
    start_with(policy()).await
}

async fn start_with(policy: Policy) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::open(dir.path(), Some('+'), Default::default()).unwrap();
    for (name, address) in [(ACCOUNT, "app@example.org"), ("other", "other@example.org")] {
        stores
            .mailbox
            .create_account(&NewAccount {
                name: name.into(),
                addresses: vec![address.into()],
                ..NewAccount::default()
            })
            .unwrap();
    }
    let mut hooks = queue::webhook::WebhookSettings::default();
    for name in [ACCOUNT, "other"] {
        hooks.accounts.insert(
            name.into(),
            vec![queue::webhook::Endpoint::new(
                "ep",
                "http://127.0.0.1:9/hook",
            )],
        );
    }
    stores.queue.set_webhooks(hooks);
    let inbound = Inbound::new(
        stores.queue.clone(),
        stores.mailbox.clone(),
        Arc::new(policy),
        ["example.org".to_string()],
        None,
    );
    let config = ServerConfig::new("mx.example.org".parse().unwrap(), Mode::Inbound);
    let (stop, rx) = watch::channel(false);
    let server = Server::new(config, Arc::new(inbound)).with_shutdown(rx);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { server.run(listener, false).await });
    Env {
        _dir: dir,
        stores,
        addr,
        _stop: stop,
    }
}

/// Queues a message of `account` to `to` and fails it, so it retires
/// into the history; returns the row.
fn sent(
    stores: &Stores,
    account: &str,
    to: &str,
    from_id: Option<&str>,
    message_id: &str,
) -> RetiredMessage {
    let from = Address::parse(&format!("{account}@example.org")).unwrap();
    let mut sub = Submission::new(
        account,
        Some(from),
        vec![Address::parse(to).unwrap()],
        format!("Message-ID: {message_id}\r\nSubject: hello\r\n\r\nhi\r\n").into_bytes(),
    );
    sub.message_id = message_id.into();
    sub.subject = "hello".into();
    if let Some(f) = from_id {
        let mut r = NewRecipient::new(Address::parse(to).unwrap());
        r.from_id = Some(f.into());
        r.mail_from = Some(Address::parse(&format!("{account}+{f}@example.org")).unwrap());
        sub.recipients = vec![r];
    }
    let id = stores.queue.enqueue(sub).unwrap()[0];
    // An admin fail retires it at once (the localserve tests below go
    // through a real delivery).
    let failed = stores
        .queue
        .fail(&Filter {
            ids: vec![id],
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(failed.len(), 1);
    history(stores, id)
}

fn history(stores: &Stores, id: i64) -> RetiredMessage {
    stores
        .queue
        .history(
            &HistoryFilter {
                ids: vec![id],
                ..HistoryFilter::default()
            },
            &HistorySort::default(),
        )
        .unwrap()
        .remove(0)
}

fn corpus(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/dsn/tests/data/eml")
        .join(name);
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    crlf(&text)
}

/// CRLF line ends and dot-stuffing, as a client sends DATA.
fn crlf(text: &str) -> String {
    let mut out = String::new();
    for line in text.replace("\r\n", "\n").split_inclusive('\n') {
        let line = line.trim_end_matches('\n');
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

async fn send(addr: SocketAddr, from: &str, to: &str, message: &str) -> String {
    let mut c = Raw::connect(addr).await;
    assert!(c.cmd("EHLO mx.remote.example").await.starts_with("250"));
    assert_eq!(
        c.cmd(&format!("MAIL FROM:<{from}>")).await,
        "250 2.1.0 sender ok"
    );
    let r = c.cmd(&format!("RCPT TO:<{to}>")).await;
    assert_eq!(r, "250 2.1.5 recipient ok", "RCPT TO:<{to}>");
    let reply = c.data(message).await;
    c.cmd("QUIT").await;
    reply
}

fn rfc3464(envid: &str, recipient: &str, message_id: &str) -> String {
    crlf(&format!(
        "From: MAILER-DAEMON@mx.remote.example\n\
Subject: Undelivered Mail Returned to Sender\n\
MIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n\
\n\
--b1\n\
Content-Type: text/plain\n\
\n\
Your message could not be delivered.\n\
--b1\n\
Content-Type: message/delivery-status\n\
\n\
Reporting-MTA: dns; mx.remote.example\n\
Original-Envelope-ID: {envid}\n\
\n\
Original-Recipient: rfc822;{recipient}\n\
Final-Recipient: rfc822; {recipient}\n\
Action: failed\n\
Status: 5.1.1\n\
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown\n\
\n\
--b1\n\
Content-Type: text/rfc822-headers\n\
\n\
Message-ID: {message_id}\n\
Subject: hello\n\
\n\
--b1--\n"
    ))
}

/// The payloads of the webhooks queued for a queue message (0: incoming
/// mail), oldest first.
fn hooks(stores: &Stores, account: &str, queue_msg_id: i64) -> Vec<serde_json::Value> {
    let mut all = stores.queue.hooks_list(account, false, 0, 100).unwrap();
    all.extend(stores.queue.hooks_list(account, true, 0, 100).unwrap());
    all.sort_by_key(|h| h.id);
    all.into_iter()
        .filter(|h| h.queue_msg_id == queue_msg_id)
        .map(|h| serde_json::from_str(&h.payload).unwrap())
        .collect()
}

fn inbox(stores: &Stores, account: &str) -> Vec<mailbox::MessageMeta> {
    stores
        .mailbox
        .list(account, INBOX, None, 50)
        .unwrap()
        .messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc3464_bounce_at_the_plain_address_fails_the_message_by_envid_and_suppresses() {
    let env = start().await;
    let row = sent(
        &env.stores,
        ACCOUNT,
        "bob@example.com",
        None,
        "<m1@example.org>",
    );
    let reply = send(
        env.addr,
        "",
        "app@example.org",
        &rfc3464(
            &row.message.dsn.envid,
            "bob@example.com",
            "<m1@example.org>",
        ),
    )
    .await;
    let stored = inbox(&env.stores, ACCOUNT);
    assert_eq!(stored.len(), 1);
    assert_eq!(
        reply,
        format!("250 2.0.0 delivered as message {}", stored[0].id.0)
    );
    assert!(stored[0].envelope.is_dsn);
    assert_eq!(
        stored[0].envelope.rcpt_to,
        Some(Address::parse("app@example.org").unwrap())
    );
    let h = history(&env.stores, row.message.id);
    assert_eq!((h.event, h.success), (Event::Failed, false));
    let last = h.message.results.last().unwrap();
    assert_eq!(
        (
            last.code,
            last.enhanced_code.as_str(),
            last.error.as_str(),
            last.failure_class.as_str(),
            last.success
        ),
        (550, "5.1.1", "incoming message", "userUnknown", false)
    );
    assert_eq!(
        last.reply_lines,
        vec!["550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown"]
    );
    let s = env
        .stores
        .queue
        .suppression_lookup(ACCOUNT, "bob@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(
        s.reason,
        "delivery failure from DSN with smtp code 550, enhanced code \"5.1.1\""
    );
    let events = hooks(&env.stores, ACCOUNT, row.message.id);
    let p = events.last().unwrap();
    assert_eq!(p["Event"], "failed");
    assert_eq!(p["DSN"], true);
    assert_eq!(p["Suppressing"], true);
    assert_eq!(p["QueueMsgID"], row.message.id);
    assert_eq!(p["MessageID"], "<m1@example.org>");
    assert_eq!(p["SMTPCode"], 550);
    assert_eq!(p["SMTPEnhancedCode"], "5.1.1");
    assert_eq!(p["Error"], "");
    assert_eq!(p["BounceReason"], "userUnknown");
    assert_eq!(p["HardBounce"], true);
    assert_eq!(p["DSNMsgID"], stored[0].id.0);
    // A matched bounce gives no incoming webhook.
    assert!(hooks(&env.stores, ACCOUNT, 0).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qmail_bounce_at_a_fromid_address_fails_only_that_message() {
    let env = start().await;
    let one = sent(
        &env.stores,
        ACCOUNT,
        "kijitora@example.ne.jp",
        Some("fid-one"),
        "<a@example.org>",
    );
    let two = sent(
        &env.stores,
        ACCOUNT,
        "kijitora@example.ne.jp",
        Some("fid-two"),
        "<b@example.org>",
    );
    let reply = send(
        env.addr,
        "",
        "app+fid-two@example.org",
        &corpus("lhost-qmail-01.eml"),
    )
    .await;
    assert!(
        reply.starts_with("250 2.0.0 delivered as message "),
        "{reply}"
    );
    assert_eq!(history(&env.stores, one.message.id), one);
    let h = history(&env.stores, two.message.id);
    assert_eq!(h.event, Event::Failed);
    let last = h.message.results.last().unwrap();
    assert_eq!(
        (last.code, last.enhanced_code.as_str(), last.error.as_str()),
        (550, "5.5.0", "incoming message")
    );
    assert!(
        env.stores
            .queue
            .suppression_lookup(ACCOUNT, "kijitora@example.ne.jp")
            .unwrap()
            .is_some()
    );
    let stored = inbox(&env.stores, ACCOUNT);
    assert_eq!(stored.len(), 1);
    assert!(stored[0].envelope.is_dsn);
    let p = hooks(&env.stores, ACCOUNT, two.message.id).pop().unwrap();
    assert_eq!(
        (&p["Event"], &p["DSN"], &p["FromID"], &p["SMTPCode"]),
        (
            &serde_json::json!("failed"),
            &serde_json::json!(true),
            &serde_json::json!("fid-two"),
            &serde_json::json!(550)
        )
    );
    assert_eq!(p["DSNMsgID"], stored[0].id.0);
    let first = hooks(&env.stores, ACCOUNT, one.message.id);
    assert!(first.iter().all(|p| p["DSN"] == false), "{first:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounce_naming_another_accounts_message_changes_nothing_there() {
    let env = start().await;
    let victim = sent(
        &env.stores,
        "other",
        "bob@example.com",
        None,
        "<v1@example.org>",
    );
    let victim_hooks = hooks(&env.stores, "other", victim.message.id);
    let reply = send(
        env.addr,
        "",
        "app@example.org",
        &rfc3464(
            &victim.message.dsn.envid,
            "bob@example.com",
            "<v1@example.org>",
        ),
    )
    .await;
    assert!(reply.starts_with("250 "), "{reply}");
    assert_eq!(history(&env.stores, victim.message.id), victim);
    assert_eq!(
        env.stores
            .queue
            .suppression_lookup("other", "bob@example.com")
            .unwrap(),
        None
    );
    assert_eq!(hooks(&env.stores, "other", victim.message.id), victim_hooks);
    // It is still mail for app: the incoming webhook.
    assert_eq!(inbox(&env.stores, ACCOUNT).len(), 1);
    let incoming = hooks(&env.stores, ACCOUNT, 0);
    assert_eq!(incoming.len(), 1);
    assert_eq!(incoming[0]["Meta"]["Automated"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_mail_at_a_fromid_address_leaves_the_history_alone() {
    let env = start().await;
    let row = sent(
        &env.stores,
        ACCOUNT,
        "carol@example.com",
        Some("fid-three"),
        "<c@example.org>",
    );
    let reply = send(
        env.addr,
        "carol@example.com",
        "app+fid-three@example.org",
        &crlf("From: carol@example.com\nSubject: thanks\n\nThanks!\n"),
    )
    .await;
    assert!(reply.starts_with("250 "), "{reply}");
    assert_eq!(history(&env.stores, row.message.id), row);
    let stored = inbox(&env.stores, ACCOUNT);
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].envelope.is_dsn);
    let p = hooks(&env.stores, ACCOUNT, row.message.id).pop().unwrap();
    assert_eq!(p["Event"], "unrecognized");
    assert_eq!(p["DSN"], false);
    assert_eq!(p["FromID"], "fid-three");
    assert_eq!(p["DSNMsgID"], stored[0].id.0);
    assert!(hooks(&env.stores, ACCOUNT, 0).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_mail_lands_in_the_inbox_of_the_catchall_owner() {
    let env = start().await;
    let reply = send(
        env.addr,
        "dave@example.net",
        "App+News@example.org",
        &crlf("From: dave@example.net\nSubject: hi\nMessage-ID: <d1@example.net>\n\nhello\n"),
    )
    .await;
    let stored = inbox(&env.stores, ACCOUNT);
    assert_eq!(stored.len(), 1);
    assert_eq!(
        reply,
        format!("250 2.0.0 delivered as message {}", stored[0].id.0)
    );
    assert_eq!(stored[0].message_id, "d1@example.net");
    let raw = env.stores.mailbox.raw(ACCOUNT, stored[0].id).unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(
        text.starts_with("Received: from mx.remote.example"),
        "{text}"
    );
    assert!(text.ends_with("Message-ID: <d1@example.net>\r\n\r\nhello\r\n"));
    assert_eq!(
        stored[0].envelope.mail_from,
        Some(Address::parse("dave@example.net").unwrap())
    );
    assert_eq!(
        stored[0].envelope.remote_ip,
        Some("127.0.0.1".parse().unwrap())
    );
    assert!(inbox(&env.stores, "other").is_empty());
    let incoming = hooks(&env.stores, ACCOUNT, 0);
    assert_eq!(incoming.len(), 1);
    let p = &incoming[0];
    assert_eq!(p["Version"], 0);
    assert_eq!(p["Subject"], "hi");
    assert_eq!(p["MessageID"], "<d1@example.net>");
    assert_eq!(
        p["From"],
        serde_json::json!([{"Name": "", "Address": "dave@example.net"}])
    );
    assert_eq!(p["Text"], "hello\n");
    let meta = &p["Meta"];
    assert_eq!(meta["MsgID"], stored[0].id.0);
    assert_eq!(meta["MailFrom"], "dave@example.net");
    assert_eq!(meta["MailFromValidated"], false);
    assert_eq!(meta["MsgFromValidated"], false);
    assert_eq!(meta["RcptTo"], "App+News@example.org");
    assert_eq!(meta["DKIMVerifiedDomains"], serde_json::json!([]));
    assert_eq!(meta["RemoteIP"], "127.0.0.1");
    assert_eq!(meta["MailboxName"], "Inbox");
    assert_eq!(meta["Automated"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attempt_and_unknown_user_are_refused() {
    let env = start().await;
    let mut c = Raw::connect(env.addr).await;
    c.cmd("EHLO mx.remote.example").await;
    c.cmd("MAIL FROM:<spammer@example.net>").await;
    assert_eq!(
        c.cmd("RCPT TO:<victim@elsewhere.example>").await,
        "550 5.7.1 relaying denied: this server accepts mail only for its own domains"
    );
    assert_eq!(
        c.cmd("RCPT TO:<victim@[192.0.2.7]>").await,
        "550 5.7.1 relaying denied: this server accepts mail only for its own domains"
    );
    assert_eq!(
        c.cmd("RCPT TO:<nobody@example.org>").await,
        "550 5.1.1 no such user"
    );
    assert_eq!(
        c.cmd("RCPT TO:<postmaster@example.org>").await,
        "250 2.1.5 recipient ok"
    );
}

#[tokio::test]
async fn mail_for_a_disabled_domain_is_450_4_2_1_and_stores_nothing() {
    let mut p = policy();
    p.disabled_domains.insert("example.org".into());
    let env = start_with(p).await;
    let mut c = Raw::connect(env.addr).await;
    c.cmd("EHLO mx.remote.example").await;
    c.cmd("MAIL FROM:<someone@example.net>").await;
    assert_eq!(
        c.cmd("RCPT TO:<App@EXAMPLE.org>").await,
        "450 4.2.1 recipient domain temporarily disabled"
    );
    assert_eq!(
        c.cmd("RCPT TO:<postmaster@example.org>").await,
        "450 4.2.1 recipient domain temporarily disabled"
    );
    // Other domains keep their answers.
    assert_eq!(
        c.cmd("RCPT TO:<victim@elsewhere.example>").await,
        "550 5.7.1 relaying denied: this server accepts mail only for its own domains"
    );
    c.cmd("QUIT").await;
    assert!(inbox(&env.stores, ACCOUNT).is_empty());
}

/// localserve started on free ports with its own data directory.
struct Local {
    dir: tempfile::TempDir,
    stores: Stores,
    smtp: SocketAddr,
    submission: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A minimal HTTP/1.1 webhook receiver on 127.0.0.1: answers 204 to each
/// request (keep-alive, Content-Length bodies) and passes the JSON bodies on.
async fn webhook_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = conn.into_split();
                let mut read = BufReader::new(read);
                'requests: loop {
                    let mut body_len = 0usize;
                    let mut seen_request_line = false;
                    loop {
                        let mut line = String::new();
                        match read.read_line(&mut line).await {
                            Ok(0) | Err(_) => break 'requests,
                            Ok(_) => {}
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            if seen_request_line {
                                break;
                            }
                            continue;
                        }
                        seen_request_line = true;
                        if let Some((name, value)) = line.split_once(':')
                            && name.trim().eq_ignore_ascii_case("content-length")
                        {
                            body_len = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; body_len];
                    if read.read_exact(&mut body).await.is_err() {
                        break;
                    }
                    if let Ok(v) = serde_json::from_slice(&body) {
                        let _ = tx.send(v);
                    }
                    let answer = b"HTTP/1.1 204 No Content\r\n\r\n";
                    if write.write_all(answer).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, rx)
}

/// The next posted outgoing event for `queue_msg_id` named `event`.
async fn posted(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
    queue_msg_id: i64,
    event: &str,
) -> serde_json::Value {
    loop {
        let v = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {event} webhook for {queue_msg_id} within 60 s"))
            .unwrap();
        if v["Event"] == event && v["QueueMsgID"] == queue_msg_id {
            return v;
        }
    }
}

/// Starts localserve, posting webhooks to `webhook_url` when given.
async fn localserve_start(webhook_url: Option<String>) -> Local {
    let dir = tempfile::tempdir().unwrap();
    let bind = || async { TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let listeners = localserve::Listeners {
        smtp: bind().await,
        submission: bind().await,
        submissions: bind().await,
    };
    let smtp = listeners.smtp.local_addr().unwrap();
    let submission = listeners.submission.local_addr().unwrap();
    let (stop, rx) = watch::channel(false);
    let opts = localserve::Options {
        dir: dir.path().to_path_buf(),
        password: "postelpostel".into(),
        hang: Duration::from_millis(10),
        webhook_url,
    };
    // Opened first: two processes creating the schema at once would race.
    let stores = Stores::open(dir.path(), Some('+'), Default::default()).unwrap();
    let task = tokio::spawn(localserve::run(opts, listeners, rx));
    Local {
        dir,
        stores,
        smtp,
        submission,
        stop,
        task,
    }
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

/// Submits to `to` as postel@localhost (fromid mode) and waits until the
/// message is delivered and retired.
async fn localserve_sent(l: &Local, to: &str, subject: &str) -> RetiredMessage {
    let mut c = Raw::connect(l.submission).await;
    c.login("postel@localhost", "postelpostel").await;
    c.cmd("MAIL FROM:<postel@localhost>").await;
    c.cmd(&format!("RCPT TO:<{to}>")).await;
    let r = c
        .data(&format!(
            "Subject: {subject}\r\nMessage-ID: <{subject}@localhost>\r\n\r\nbody\r\n"
        ))
        .await;
    assert!(r.starts_with("250 "), "{r}");
    c.cmd("QUIT").await;
    let message_id = format!("<{subject}@localhost>");
    eventually(|| {
        l.stores
            .queue
            .history(&HistoryFilter::default(), &HistorySort::default())
            .ok()?
            .into_iter()
            .find(|h| h.message.message_id == message_id)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localserve_takes_a_bounce_at_the_fromid_address_on_its_smtp_port() {
    let (url, mut events) = webhook_receiver().await;
    let l = localserve_start(Some(url)).await;
    let row = localserve_sent(&l, "kijitora@example.ne.jp", "ls1").await;
    assert_eq!(row.event, Event::Delivered);
    assert_eq!(row.message.from_id.len(), 22);
    let to = format!("postel+{}@localhost", row.message.from_id);
    let reply = send(l.smtp, "", &to, &corpus("lhost-qmail-01.eml")).await;
    assert!(
        reply.starts_with("250 2.0.0 delivered as message "),
        "{reply}"
    );
    let h = history(&l.stores, row.message.id);
    assert_eq!(h.event, Event::Failed);
    assert_eq!(h.message.results.last().unwrap().code, 550);
    assert!(
        l.stores
            .queue
            .suppression_lookup("postel", "kijitora@example.ne.jp")
            .unwrap()
            .is_some()
    );
    // The bounce is in the Inbox beside the delivered copy of the message.
    let stored = inbox(&l.stores, "postel");
    let bounce: Vec<_> = stored.iter().filter(|m| m.envelope.is_dsn).collect();
    assert_eq!(bounce.len(), 1);
    let p = posted(&mut events, row.message.id, "failed").await;
    assert_eq!(p["DSN"], true);
    assert_eq!(p["Suppressing"], true);
    assert_eq!(p["FromID"], row.message.from_id.as_str());
    assert_eq!(p["MessageID"], "<ls1@localhost>");
    assert_eq!(p["SMTPCode"], 550);
    assert_eq!(p["SMTPEnhancedCode"], "5.5.0");
    assert_eq!(p["DSNMsgID"], bounce[0].id.0);
    l.stop.send(true).unwrap();
    l.task.await.unwrap().unwrap();
    drop(l.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs swaks; run by .ci/run"]
async fn swaks_sends_a_non_rfc3464_bounce_to_the_fromid_address() {
    let (url, mut events) = webhook_receiver().await;
    let l = localserve_start(Some(url)).await;
    let first = localserve_sent(&l, "kijitora@example.ne.jp", "sw1").await;
    let second = localserve_sent(&l, "kijitora@example.ne.jp", "sw2").await;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/dsn/tests/data/eml/lhost-qmail-01.eml");
    let to = format!("postel+{}@localhost", second.message.from_id);
    let port = l.smtp.port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("/usr/bin/swaks")
            .args([
                "-s",
                "127.0.0.1",
                "-p",
                &port,
                "--ehlo",
                "mx.remote.example",
            ])
            .args(["--from", "<>", "--to", &to])
            .arg("--data")
            .arg(format!("@{}", path.display()))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run swaks (install it with .ci/peers/install.sh)")
    })
    .await
    .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "swaks failed:\n{transcript}");
    assert!(
        transcript.contains("<-  250 2.0.0 delivered as message "),
        "{transcript}"
    );
    let h = history(&l.stores, second.message.id);
    assert_eq!(h.event, Event::Failed);
    let last = h.message.results.last().unwrap();
    assert_eq!(
        (last.code, last.enhanced_code.as_str(), last.error.as_str()),
        (550, "5.5.0", "incoming message")
    );
    assert_eq!(history(&l.stores, first.message.id).event, Event::Delivered);
    let p = posted(&mut events, second.message.id, "failed").await;
    assert_eq!(p["DSN"], true);
    assert_eq!(p["FromID"], second.message.from_id.as_str());
    assert_eq!(p["MessageID"], "<sw2@localhost>");
    assert_eq!(
        (&p["SMTPCode"], &p["SMTPEnhancedCode"]),
        (&serde_json::json!(550), &serde_json::json!("5.5.0"))
    );
    assert_eq!(p["BounceReason"], "userUnknown");
    l.stop.send(true).unwrap();
    l.task.await.unwrap().unwrap();
}

/// A DSN as the reference's fromid test sends it: one recipient, the given
/// action, diagnostic "554 5.0.0".
fn reference_dsn(action: &str, status: &str) -> String {
    crlf(&format!(
        "From: MAILER-DAEMON@mx.remote.example\n\
Subject: Delivery Status Notification\n\
MIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b2\"\n\
\n\
--b2\n\
Content-Type: text/plain\n\
\n\
Report.\n\
--b2\n\
Content-Type: message/delivery-status\n\
\n\
Reporting-MTA: dns; mx.remote.example\n\
\n\
Final-Recipient: rfc822; rcpt@example.com\n\
Action: {action}\n\
Status: {status}\n\
Diagnostic-Code: smtp; 554 5.0.0 error\n\
\n\
--b2--\n"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fromid_dsns_give_events_named_after_their_action_with_the_diagnostic_code() {
    let env = start().await;
    for (n, (action, status)) in [
        ("delayed", "4.0.0"),
        ("relayed", "2.0.0"),
        ("delivered", "2.0.0"),
        ("expanded", "2.0.0"),
        ("failed", "5.0.0"),
    ]
    .into_iter()
    .enumerate()
    {
        let fid = format!("fid-ref{n}");
        let row = sent(
            &env.stores,
            ACCOUNT,
            "rcpt@example.com",
            Some(&fid),
            &format!("<ref{n}@example.org>"),
        );
        let reply = send(
            env.addr,
            "",
            &format!("app+{fid}@example.org"),
            &reference_dsn(action, status),
        )
        .await;
        assert!(reply.starts_with("250 "), "{reply}");
        let p = hooks(&env.stores, ACCOUNT, row.message.id).pop().unwrap();
        assert_eq!(p["Event"], action);
        assert_eq!(p["DSN"], true);
        assert_eq!(p["SMTPCode"], 554, "{action}");
        assert_eq!(p["SMTPEnhancedCode"], "5.0.0", "{action}");
        assert_eq!(p["Error"], "");
        let last = history(&env.stores, row.message.id)
            .message
            .results
            .pop()
            .unwrap();
        assert_eq!(
            (last.success, last.error.as_str()),
            (
                matches!(action, "relayed" | "delivered" | "expanded"),
                "incoming message"
            ),
            "{action}"
        );
    }
    assert!(hooks(&env.stores, ACCOUNT, 0).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_at_an_unknown_fromid_is_ordinary_incoming_mail() {
    let env = start().await;
    let reply = send(
        env.addr,
        "",
        "app+nosuchfromid@example.org",
        &reference_dsn("failed", "5.0.0"),
    )
    .await;
    assert!(reply.starts_with("250 "), "{reply}");
    let incoming = hooks(&env.stores, ACCOUNT, 0);
    assert_eq!(incoming.len(), 1);
    assert_eq!(
        incoming[0]["Meta"]["RcptTo"],
        "app+nosuchfromid@example.org"
    );
    assert_eq!(incoming[0]["Meta"]["MailFrom"], "");
    assert_eq!(incoming[0]["Meta"]["Automated"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dsn_with_two_recipients_gives_each_its_own_event() {
    let env = start().await;
    let mut sub = Submission::new(
        ACCOUNT,
        Some(Address::parse("app@example.org").unwrap()),
        vec![
            Address::parse("a@example.com").unwrap(),
            Address::parse("b@example.com").unwrap(),
        ],
        b"Message-ID: <two@example.org>\r\nSubject: two\r\n\r\nhi\r\n".to_vec(),
    );
    sub.message_id = "<two@example.org>".into();
    sub.envid = Some("envid-two".into());
    let ids = env.stores.queue.enqueue(sub).unwrap();
    env.stores
        .queue
        .fail(&Filter {
            ids: ids.clone(),
            ..Filter::default()
        })
        .unwrap();
    let report = crlf(
        "From: MAILER-DAEMON@mx.remote.example\n\
Subject: Delivery Status Notification\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b3\"\n\
\n\
--b3\n\
Content-Type: text/plain\n\
\n\
Report.\n\
--b3\n\
Content-Type: message/delivery-status\n\
\n\
Reporting-MTA: dns; mx.remote.example\n\
Original-Envelope-ID: envid-two\n\
\n\
Final-Recipient: rfc822; b@example.com\n\
Action: delayed\n\
Status: 4.2.2\n\
Diagnostic-Code: smtp; 452 4.2.2 mailbox full\n\
\n\
Final-Recipient: rfc822; a@example.com\n\
Action: failed\n\
Status: 5.1.1\n\
Diagnostic-Code: smtp; 550 5.1.1 no such user\n\
\n\
--b3--\n",
    );
    let reply = send(env.addr, "", "app@example.org", &report).await;
    assert!(reply.starts_with("250 "), "{reply}");
    let a = hooks(&env.stores, ACCOUNT, ids[0]).pop().unwrap();
    assert_eq!(
        (&a["Event"], &a["SMTPCode"], &a["BounceReason"]),
        (
            &serde_json::json!("failed"),
            &serde_json::json!(550),
            &serde_json::json!("userUnknown")
        )
    );
    let b = hooks(&env.stores, ACCOUNT, ids[1]).pop().unwrap();
    assert_eq!(
        (&b["Event"], &b["SMTPCode"], &b["BounceReason"]),
        (
            &serde_json::json!("delayed"),
            &serde_json::json!(452),
            &serde_json::json!("mailboxFull")
        )
    );
    assert!(
        env.stores
            .queue
            .suppression_lookup(ACCOUNT, "a@example.com")
            .unwrap()
            .is_some()
    );
    assert_eq!(
        env.stores
            .queue
            .suppression_lookup(ACCOUNT, "b@example.com")
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_an_smtp_listener_takes_mail_for_its_accounts_and_refuses_relaying() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = format!(
        r#"hostname = "mail.example.org"
data_dir = "{data}"
[listeners]
smtp = {{ address = "127.0.0.1", port = {port} }}
[domains."example.org"]
[accounts.app]
addresses = ["app@example.org"]
catchall_separator = "+"
"#,
        data = d.join("data").display(),
    );
    let path = d.join("postel.toml");
    std::fs::write(&path, config).unwrap();
    // Opened first: two processes creating the schema at once would race.
    let stores = Stores::open(&d.join("data"), Some('+'), Default::default()).unwrap();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(async move { postel_server::serve::run(&path, rx).await });
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut c = loop {
        if let Ok(s) = tokio::net::TcpStream::connect(addr).await {
            drop(s);
            break Raw::connect(addr).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    c.cmd("EHLO mx.remote.example").await;
    c.cmd("MAIL FROM:<someone@example.net>").await;
    assert_eq!(
        c.cmd("RCPT TO:<victim@elsewhere.example>").await,
        "550 5.7.1 relaying denied: this server accepts mail only for its own domains"
    );
    assert_eq!(
        c.cmd("RCPT TO:<nobody@example.org>").await,
        "550 5.1.1 no such user"
    );
    assert_eq!(
        c.cmd("RCPT TO:<app+tag@example.org>").await,
        "250 2.1.5 recipient ok"
    );
    let reply = c
        .data("From: someone@example.net\r\nSubject: via serve\r\n\r\nhello\r\n")
        .await;
    assert!(
        reply.starts_with("250 2.0.0 delivered as message "),
        "{reply}"
    );
    c.cmd("QUIT").await;
    let stored = inbox(&stores, "app");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].subject, "via serve");
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dsn_with_an_unknown_action_at_a_fromid_address_is_unrecognized() {
    let env = start().await;
    let row = sent(
        &env.stores,
        ACCOUNT,
        "rcpt@example.com",
        Some("fid-odd"),
        "<odd@example.org>",
    );
    let before = history(&env.stores, row.message.id);
    let reply = send(
        env.addr,
        "",
        "app+fid-odd@example.org",
        &reference_dsn("bogus", "5.0.0"),
    )
    .await;
    assert!(reply.starts_with("250 "), "{reply}");
    let p = hooks(&env.stores, ACCOUNT, row.message.id).pop().unwrap();
    assert_eq!(p["Event"], "unrecognized");
    assert_eq!(p["DSN"], true);
    assert_eq!(history(&env.stores, row.message.id), before);
}
