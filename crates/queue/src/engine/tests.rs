//! Engine tests on the real SQLite store, a test clock, in-memory DNS and
//! scripted servers behind a fake dialer.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use dns::{BoxFuture, MemoryResolver};
use mailbox::{MailboxStore, NewAccount, SqliteMailboxStore, StoreOptions};
use smtp::{Address, Notify, Ret};
use smtpclient::BoxStream;
use smtpclient::dial::Dialer;
use testkit::script::{Script, ScriptHandle};

use super::*;
use crate::{
    HistoryFilter, HistorySort, NewRecipient, Options, SqliteStore, Store, Submission, TestClock,
};

enum Conn {
    Script(Script),
    Refuse,
    Hang,
}

#[derive(Default)]
struct FakeDialer {
    plans: Mutex<VecDeque<Conn>>,
    dialed: Mutex<Vec<String>>,
    handles: Mutex<Vec<ScriptHandle>>,
}

impl FakeDialer {
    fn push(&self, conn: Conn) {
        self.plans.lock().unwrap().push_back(conn);
    }
    fn dialed(&self) -> Vec<String> {
        self.dialed.lock().unwrap().clone()
    }
    fn next(&self, what: String) -> BoxFuture<'_, io::Result<BoxStream>> {
        self.dialed.lock().unwrap().push(what);
        let plan = self.plans.lock().unwrap().pop_front();
        Box::pin(async move {
            match plan {
                Some(Conn::Script(script)) => {
                    let (client, handle) = script.start();
                    self.handles.lock().unwrap().push(handle);
                    Ok(Box::new(client) as BoxStream)
                }
                Some(Conn::Hang) => std::future::pending().await,
                Some(Conn::Refuse) | None => Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "connection refused",
                )),
            }
        })
    }
    async fn finish_scripts(&self) {
        let handles: Vec<ScriptHandle> = self.handles.lock().unwrap().drain(..).collect();
        for h in handles {
            h.finish().await;
        }
    }
}

impl Dialer for FakeDialer {
    fn dial(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxStream>> {
        self.next(addr.to_string())
    }
    fn dial_name<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<BoxStream>> {
        self.next(format!("{host}:{port}"))
    }
}

const T0: u64 = 1_700_000_000;
const BODY: &[u8] = b"Subject: hi\r\nMessage-ID: <m1@example.org>\r\n\r\nhello\r\n";
const BODY_WIRE: &[u8] = b"Subject: hi\r\nMessage-ID: <m1@example.org>\r\n\r\nhello\r\n.\r\n";
const EHLO: &str = "EHLO mail.example.org";
const EXT: &str = "250-mx.example.com\n250 ENHANCEDSTATUSCODES";

struct Fx {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    clock: Arc<TestClock>,
    store: Arc<SqliteStore>,
    mailbox: Arc<SqliteMailboxStore>,
    dialer: Arc<FakeDialer>,
    engine: Engine,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), EngineError>>>,
}

fn resolver() -> MemoryResolver {
    MemoryResolver::new()
        .mx("example.com", 10, "mx.example.com")
        .a("mx.example.com", "192.0.2.10".parse().unwrap())
        .mx("example.net", 10, "mx.example.net")
        .a("mx.example.net", "192.0.2.20".parse().unwrap())
        .a("smtp.relay.example", "192.0.2.30".parse().unwrap())
}

fn fixture(configure: impl FnOnce(&mut EngineConfig)) -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TestClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0),
    ));
    let options = Options {
        clock: clock.clone(),
        jitter: Arc::new(|| 0),
        ..Options::default()
    };
    let path = dir.path().join("queue.db");
    let store = Arc::new(SqliteStore::open(&path, options).unwrap());
    let mailbox = Arc::new(
        SqliteMailboxStore::open(dir.path().join("mail.db"), StoreOptions::default()).unwrap(),
    );
    for (name, addr) in [
        ("alice", "alice@example.org"),
        ("postmaster", "postmaster@example.org"),
    ] {
        mailbox
            .create_account(&NewAccount {
                name: name.into(),
                addresses: vec![addr.into()],
                ..Default::default()
            })
            .unwrap();
    }
    let dialer = Arc::new(FakeDialer::default());
    let mut config = EngineConfig {
        hostname: "mail.example.org".into(),
        idle_timeout: Duration::ZERO,
        poll_interval: Duration::from_millis(50),
        ..EngineConfig::default()
    };
    configure(&mut config);
    let socks_dialer = dialer.clone();
    let deps = EngineDeps {
        store: store.clone(),
        mailbox: mailbox.clone(),
        resolver: Arc::new(resolver()),
        dialer: dialer.clone(),
        socks: Arc::new(move |_s: &SocksTransport| socks_dialer.clone() as Arc<dyn Dialer>),
        clock: clock.clone(),
    };
    let engine = Engine::new(config, deps);
    Fx {
        _dir: dir,
        path,
        clock,
        store,
        mailbox,
        dialer,
        engine,
        stop: None,
        task: None,
    }
}

impl Fx {
    fn start(&mut self) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let engine = self.engine.clone();
        self.task = Some(tokio::spawn(async move {
            engine
                .run(async move {
                    let _ = rx.await;
                })
                .await
        }));
        self.stop = Some(tx);
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    fn enqueue(&self, sub: Submission) -> Vec<i64> {
        let ids = self.store.enqueue(sub).unwrap();
        self.engine.kick();
        ids
    }

    async fn wait(&self, what: &str, mut cond: impl FnMut(&Fx) -> bool) {
        for _ in 0..1000 {
            if cond(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    fn retired(&self, id: i64) -> Option<crate::RetiredMessage> {
        self.store
            .history(
                &HistoryFilter {
                    ids: vec![id],
                    ..Default::default()
                },
                &HistorySort::default(),
            )
            .unwrap()
            .into_iter()
            .next()
    }

    /// Waits until the row's running attempt has an outcome (retired or rescheduled).
    async fn wait_attempt(&self, id: i64, attempts: u32) {
        self.wait(&format!("attempt {attempts} of row {id}"), |fx| {
            match fx.store.get(id).unwrap() {
                None => fx.retired(id).is_some(),
                Some(m) => {
                    m.attempts == attempts
                        && m.lease_owner.is_empty()
                        && m.results
                            .last()
                            .is_some_and(|r| r.error != crate::RESULT_DELIVERING)
                }
            }
        })
        .await;
    }

    fn dsns(&self, account: &str) -> Vec<String> {
        let page = self
            .mailbox
            .list(account, mailbox::INBOX, None, 50)
            .unwrap();
        let mut metas = page.messages;
        metas.sort_by_key(|m| m.id.0);
        metas
            .iter()
            .map(|m| String::from_utf8(self.mailbox.raw(account, m.id).unwrap()).unwrap())
            .collect()
    }

    async fn wait_dsns(&self, account: &str, n: usize) -> Vec<String> {
        self.wait(&format!("{n} dsns"), |fx| fx.dsns(account).len() >= n)
            .await;
        self.dsns(account)
    }
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn submission(rcpts: &[&str]) -> Submission {
    let mut s = Submission::new(
        "alice",
        Some(addr("alice@example.org")),
        rcpts.iter().map(|r| addr(r)).collect(),
        BODY.to_vec(),
    );
    s.message_id = "<m1@example.org>".into();
    s.envid = Some("env1".into());
    s
}

/// Greeting and EHLO of a server without extensions beyond enhanced codes.
fn greet() -> Script {
    Script::new()
        .send("220 mx.example.com ESMTP")
        .expect(EHLO)
        .send(EXT)
}

/// One plain transaction for one recipient, answered `reply` at the end.
fn transaction(script: Script, rcpt: &str, rcpt_reply: &str, end: &str) -> Script {
    let s = script
        .expect("MAIL FROM:<alice@example.org>")
        .send("250 2.1.0 ok")
        .expect(&format!("RCPT TO:<{rcpt}>"))
        .send(rcpt_reply);
    if !rcpt_reply.starts_with('2') {
        return s;
    }
    s.expect("DATA")
        .send("354 go")
        .read_data(BODY_WIRE)
        .send(end)
}

fn quit(script: Script) -> Script {
    script.expect("QUIT").send("221 2.0.0 bye")
}

#[tokio::test]
async fn delivered_row_retires_with_success_and_full_result() {
    let mut fx = fixture(|_| {});
    fx.dialer.push(Conn::Script(quit(transaction(
        greet(),
        "bob@example.com",
        "250 2.1.5 ok",
        "250 2.0.0 queued as 1",
    ))));
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait_attempt(ids[0], 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    let retired = fx.retired(ids[0]).unwrap();
    assert_eq!(retired.event, crate::Event::Delivered);
    assert!(retired.success);
    let r = &retired.message.results[0];
    assert!(r.success);
    assert_eq!(r.mx_host, "mx.example.com");
    assert_eq!(r.ip, "192.0.2.10");
    assert_eq!(r.code, 250);
    assert_eq!(r.enhanced_code, "2.0.0");
    assert_eq!(r.reply_lines, vec!["2.0.0 queued as 1".to_string()]);
    assert_eq!(r.tls_version, "");
    assert_eq!(fx.dialer.dialed(), vec!["192.0.2.10:25".to_string()]);
    // No STARTTLS offered: recorded for the domain.
    let tls = fx.store.domain_tls("example.com").unwrap().unwrap();
    assert_eq!((tls.starttls, tls.requiretls), (false, false));
    // Default NOTIFY has no SUCCESS: no DSN.
    assert!(fx.dsns("alice").is_empty());
}

#[tokio::test]
async fn failed_dial_registers_attempt_and_retries_after_backoff() {
    let mut fx = fixture(|_| {});
    fx.dialer.push(Conn::Refuse);
    fx.dialer.push(Conn::Script(quit(transaction(
        greet(),
        "bob@example.com",
        "250 2.1.5 ok",
        "250 2.0.0 ok",
    ))));
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait_attempt(ids[0], 1).await;
    let row = fx.store.get(ids[0]).unwrap().unwrap();
    assert_eq!(row.attempts, 1);
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(T0);
    assert_eq!(row.next_attempt, t0 + Duration::from_secs(450));
    assert_eq!(row.results[0].code, 0);
    assert!(
        row.results[0].error.contains("connection refused"),
        "{}",
        row.results[0].error
    );
    // Not due before the backoff.
    fx.clock.advance(Duration::from_secs(449));
    fx.engine.kick();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(fx.dialer.dialed().len(), 1);
    fx.clock.advance(Duration::from_secs(1));
    fx.engine.kick();
    fx.wait_attempt(ids[0], 2).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    let retired = fx.retired(ids[0]).unwrap();
    assert_eq!(retired.event, crate::Event::Delivered);
    assert_eq!(retired.message.attempts, 2);
    assert_eq!(fx.dialer.dialed().len(), 2);
}

#[tokio::test]
async fn two_recipients_same_domain_share_one_transaction() {
    let mut fx = fixture(|_| {});
    let script = greet()
        .expect("MAIL FROM:<alice@example.org>")
        .send("250 2.1.0 ok")
        .expect("RCPT TO:<bob@example.com>")
        .send("250 2.1.5 ok")
        .expect("RCPT TO:<carol@example.com>")
        .send("250 2.1.5 ok")
        .expect("DATA")
        .send("354 go")
        .read_data(BODY_WIRE)
        .send("250 2.0.0 ok");
    fx.dialer.push(Conn::Script(quit(script)));
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com", "carol@example.com"]));
    fx.wait_attempt(ids[0], 1).await;
    fx.wait_attempt(ids[1], 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    assert_eq!(fx.dialer.dialed().len(), 1);
    for id in ids {
        assert_eq!(fx.retired(id).unwrap().event, crate::Event::Delivered);
    }
}

#[tokio::test]
async fn two_domains_get_two_connections() {
    let mut fx = fixture(|c| c.max_per_domain = 1);
    let ok = |rcpt: &str| {
        Conn::Script(quit(transaction(
            greet(),
            rcpt,
            "250 2.1.5 ok",
            "250 2.0.0 ok",
        )))
    };
    // Domains are claimed in the store's due order; both scripts accept any of the two.
    fx.dialer.push(ok("bob@example.com"));
    fx.start();
    let first = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait_attempt(first[0], 1).await;
    fx.dialer.push(ok("dave@example.net"));
    let second = fx.enqueue(submission(&["dave@example.net"]));
    fx.wait_attempt(second[0], 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    assert_eq!(
        fx.dialer.dialed(),
        vec!["192.0.2.10:25".to_string(), "192.0.2.20:25".to_string()]
    );
}

#[tokio::test]
async fn rcptmax_one_gives_two_transactions_on_one_connection() {
    let mut fx = fixture(|_| {});
    let script = Script::new()
        .send("220 mx.example.com ESMTP")
        .expect(EHLO)
        .send("250-mx.example.com\n250-LIMITS RCPTMAX=1\n250 ENHANCEDSTATUSCODES");
    let script = transaction(script, "bob@example.com", "250 2.1.5 ok", "250 2.0.0 ok");
    let script = transaction(script, "carol@example.com", "250 2.1.5 ok", "250 2.0.0 ok");
    fx.dialer.push(Conn::Script(quit(script)));
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com", "carol@example.com"]));
    fx.wait_attempt(ids[1], 1).await;
    fx.wait_attempt(ids[0], 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    assert_eq!(fx.dialer.dialed().len(), 1);
    for id in ids {
        assert_eq!(fx.retired(id).unwrap().event, crate::Event::Delivered);
    }
}

#[tokio::test]
async fn second_recipient_552_is_retried_in_a_second_transaction_on_the_same_connection() {
    let mut fx = fixture(|_| {});
    let script = greet()
        .expect("MAIL FROM:<alice@example.org>")
        .send("250 2.1.0 ok")
        .expect("RCPT TO:<bob@example.com>")
        .send("250 2.1.5 ok")
        .expect("RCPT TO:<carol@example.com>")
        .send("552 4.5.3 too many recipients")
        .expect("DATA")
        .send("354 go")
        .read_data(BODY_WIRE)
        .send("250 2.0.0 ok");
    let script = transaction(script, "carol@example.com", "250 2.1.5 ok", "250 2.0.0 ok");
    fx.dialer.push(Conn::Script(quit(script)));
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com", "carol@example.com"]));
    fx.wait_attempt(ids[0], 1).await;
    fx.wait_attempt(ids[1], 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    assert_eq!(fx.dialer.dialed().len(), 1);
    for id in ids {
        assert_eq!(fx.retired(id).unwrap().event, crate::Event::Delivered);
    }
}

#[tokio::test]
async fn permanent_554_fails_without_suppression_and_writes_failure_dsn() {
    let mut fx = fixture(|_| {});
    fx.dialer.push(Conn::Script(quit(transaction(
        greet(),
        "bob@example.com",
        "554 5.0.0 no thanks",
        "",
    ))));
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait_attempt(ids[0], 1).await;
    let dsns = fx.wait_dsns("alice", 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    let retired = fx.retired(ids[0]).unwrap();
    assert_eq!(retired.event, crate::Event::Failed);
    let r = &retired.message.results[0];
    assert_eq!((r.code, r.enhanced_code.as_str()), (554, "5.0.0"));
    assert_eq!(r.reply_lines, vec!["5.0.0 no thanks".to_string()]);
    assert!(
        fx.store
            .suppression_lookup("alice", "bob@example.com")
            .unwrap()
            .is_none()
    );
    let dsn = &dsns[0];
    assert!(dsn.starts_with(
        "Return-Path: <postmaster@mail.example.org>\r\nDelivered-To: <alice@example.org>\r\n"
    ));
    assert!(dsn.contains("Subject: mail delivery failed\r\n"));
    assert!(dsn.contains("References: <m1@example.org>\r\n"));
    assert!(
        dsn.contains("Reporting-MTA: dns;mail.example.org\r\n"),
        "{dsn}"
    );
    assert!(dsn.contains("Original-Envelope-ID: env1\r\n"));
    assert!(dsn.contains("Action: failed\r\n"));
    assert!(dsn.contains("Diagnostic-Code: smtp; 554 5.0.0 no thanks\r\n"));
    assert!(
        dsn.contains("Remote-MTA: dns;mx.example.com (192.0.2.10)\r\n"),
        "{dsn}"
    );
    // RET not FULL: headers only.
    assert!(dsn.contains("Content-Type: text/rfc822-headers"));
    assert!(!dsn.contains("\r\nhello\r\n"));
}

#[tokio::test]
async fn permanent_550_suppresses_and_next_message_is_suppressed_without_dialing() {
    let mut fx = fixture(|_| {});
    fx.dialer.push(Conn::Script(quit(transaction(
        greet(),
        "bob@example.com",
        "550 5.1.1 no such user",
        "",
    ))));
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait_attempt(ids[0], 1).await;
    fx.wait_dsns("alice", 1).await;
    let sup = fx
        .store
        .suppression_lookup("alice", "bob@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(sup.base_address, "bob@example.com");
    assert_eq!(
        fx.retired(ids[0]).unwrap().message.results[0].failure_class,
        "userUnknown"
    );

    let second = fx.enqueue(submission(&["Bob+x@example.com"]));
    fx.wait_attempt(second[0], 1).await;
    let dsns = fx.wait_dsns("alice", 2).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    assert_eq!(fx.dialer.dialed().len(), 1);
    let retired = fx.retired(second[0]).unwrap();
    assert_eq!(retired.event, crate::Event::Suppressed);
    assert_eq!(retired.message.results[0].error, SUPPRESSED_ERROR);
    assert_eq!(retired.message.results[0].code, 0);
    assert!(dsns[1].contains("Action: failed\r\n"));
    assert!(dsns[1].contains("address is on suppression list"));
    assert_eq!(fx.store.suppressions("alice").unwrap().len(), 1);
}

#[tokio::test]
async fn notify_never_and_null_sender_get_no_failure_dsn() {
    let mut fx = fixture(|_| {});
    let refuse =
        |rcpt: &str| Conn::Script(quit(transaction(greet(), rcpt, "554 5.0.0 no thanks", "")));
    fx.dialer.push(refuse("bob@example.com"));
    fx.start();
    let mut sub = submission(&["bob@example.com"]);
    sub.recipients[0].notify = Some(Notify::NEVER);
    let never = fx.enqueue(sub);
    fx.wait_attempt(never[0], 1).await;
    let mut bounce = submission(&["carol@example.com"]);
    bounce.sender = None;
    bounce.recipients[0].mail_from = None;
    let script = greet()
        .expect("MAIL FROM:<>")
        .send("250 2.1.0 ok")
        .expect("RCPT TO:<carol@example.com>")
        .send("554 5.0.0 no thanks");
    fx.dialer.push(Conn::Script(quit(script)));
    let null = fx.enqueue(bounce);
    fx.wait_attempt(null[0], 1).await;
    // A third failure with default NOTIFY marks when DSN writing has happened.
    fx.dialer.push(refuse("dave@example.com"));
    let marker = fx.enqueue(submission(&["dave@example.com"]));
    fx.wait_attempt(marker[0], 1).await;
    let dsns = fx.wait_dsns("alice", 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    assert_eq!(fx.retired(never[0]).unwrap().event, crate::Event::Failed);
    assert_eq!(fx.retired(null[0]).unwrap().event, crate::Event::Failed);
    assert_eq!(dsns.len(), 1);
    assert!(dsns[0].contains("Final-Recipient: rfc822;dave@example.com\r\n"));
}

#[tokio::test]
async fn notify_success_goes_to_a_dsn_capable_hop_and_gives_relayed_without_dsn_extension() {
    let mut fx = fixture(|_| {});
    // Next hop with DSN: NOTIFY and ORCPT go along and that hop reports
    // success; no DSN of ours (RFC 3461 §5.2.2).
    let with_dsn = Script::new()
        .send("220 mx.example.com ESMTP")
        .expect(EHLO)
        .send("250-mx.example.com\n250-DSN\n250 ENHANCEDSTATUSCODES")
        .expect("MAIL FROM:<alice@example.org> ENVID=env1")
        .send("250 2.1.0 ok")
        .expect("RCPT TO:<bob@example.com> NOTIFY=SUCCESS ORCPT=rfc822;bob@example.com")
        .send("250 2.1.5 ok")
        .expect("DATA")
        .send("354 go")
        .read_data(BODY_WIRE)
        .send("250 2.0.0 ok");
    fx.dialer.push(Conn::Script(quit(with_dsn)));
    fx.start();
    let mut sub = submission(&["bob@example.com"]);
    sub.recipients[0].notify = Some(Notify::new(true, false, false));
    let ids = fx.enqueue(sub);
    fx.wait_attempt(ids[0], 1).await;

    // Next hop without DSN: relayed.
    fx.dialer.push(Conn::Script(quit(transaction(
        greet(),
        "carol@example.com",
        "250 2.1.5 ok",
        "250 2.0.0 ok",
    ))));
    let mut sub = submission(&["carol@example.com"]);
    sub.recipients[0].notify = Some(Notify::new(true, true, false));
    let ids = fx.enqueue(sub);
    fx.wait_attempt(ids[0], 1).await;
    fx.wait_dsns("alice", 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    let dsns = fx.dsns("alice");
    assert_eq!(dsns.len(), 1, "only the relayed DSN: {dsns:?}");
    assert!(dsns[0].contains("Action: relayed\r\n"), "{}", dsns[0]);
    assert!(dsns[0].contains("Subject: mail relayed\r\n"));
}

#[tokio::test]
async fn ret_full_returns_the_whole_message_in_failure_dsn() {
    let mut fx = fixture(|_| {});
    fx.dialer.push(Conn::Script(quit(transaction(
        greet(),
        "bob@example.com",
        "554 5.7.1 rejected",
        "",
    ))));
    fx.start();
    let mut sub = submission(&["bob@example.com"]);
    sub.ret = Some(Ret::Full);
    let ids = fx.enqueue(sub);
    fx.wait_attempt(ids[0], 1).await;
    let dsns = fx.wait_dsns("alice", 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    let dsn = &dsns[0];
    assert!(dsn.contains("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\nSubject: hi\r\nMessage-ID: <m1@example.org>\r\n\r\nhello\r\n"), "{dsn}");
    assert!(!dsn.contains("base64"));
}

#[tokio::test]
async fn requiretls_message_fails_permanently_for_direct_delivery_without_dialing() {
    let mut fx = fixture(|_| {});
    fx.start();
    let mut sub = submission(&["bob@example.com"]);
    sub.require_tls = Some(true);
    let ids = fx.enqueue(sub);
    fx.wait_attempt(ids[0], 1).await;
    let dsns = fx.wait_dsns("alice", 1).await;
    fx.stop().await;
    assert!(fx.dialer.dialed().is_empty());
    let retired = fx.retired(ids[0]).unwrap();
    assert_eq!(retired.event, crate::Event::Failed);
    let r = &retired.message.results[0];
    assert_eq!((r.code, r.enhanced_code.as_str()), (554, "5.7.30"));
    assert!(dsns[0].contains("Status: 5.7.30"), "{}", dsns[0]);
}

#[tokio::test]
async fn submission_route_with_plain_auth_delivers_all_recipients_in_one_session() {
    let mut fx = fixture(|c| {
        c.transports.insert(
            "submit".into(),
            Transport::Submission(SmtpTransport {
                host: "smtp.relay.example".into(),
                no_starttls: true,
                auth: Some(TransportAuth {
                    username: "user".into(),
                    password: "secret".into(),
                    mechanisms: vec!["PLAIN".into()],
                }),
                ..SmtpTransport::default()
            }),
        );
        c.routes.global.push(Route {
            to_domains: vec!["example.com".into()],
            ..Route::to("submit")
        });
    });
    let script = Script::new()
        .send("220 relay ESMTP")
        .expect(EHLO)
        .send("250-relay\n250-AUTH PLAIN\n250 ENHANCEDSTATUSCODES")
        // "\0user\0secret"
        .expect("AUTH PLAIN AHVzZXIAc2VjcmV0")
        .send("235 2.7.0 ok")
        .expect("MAIL FROM:<alice@example.org>")
        .send("250 ok")
        .expect("RCPT TO:<bob@example.com>")
        .send("250 ok")
        .expect("RCPT TO:<carol@example.com>")
        .send("250 ok")
        .expect("DATA")
        .send("354 go")
        .read_data(BODY_WIRE)
        .send("250 2.0.0 ok");
    fx.dialer.push(Conn::Script(quit(script)));
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com", "carol@example.com"]));
    fx.wait_attempt(ids[0], 1).await;
    fx.wait_attempt(ids[1], 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    assert_eq!(fx.dialer.dialed(), vec!["192.0.2.30:587".to_string()]);
    for id in ids {
        let retired = fx.retired(id).unwrap();
        assert_eq!(retired.event, crate::Event::Delivered);
        assert_eq!(retired.message.results[0].mx_host, "smtp.relay.example");
    }
}

#[tokio::test]
async fn explicit_fail_transport_and_socks_transport() {
    let mut fx = fixture(|c| {
        c.transports
            .insert("fail".into(), Transport::fail_default());
        c.transports.insert(
            "socks".into(),
            Transport::Socks(SocksTransport {
                address: "127.0.0.1:1080".parse().unwrap(),
                remote_hostname: "proxy-side.example.org".into(),
            }),
        );
    });
    fx.start();
    let mut sub = submission(&["bob@example.com"]);
    sub.transport = "fail".into();
    let ids = fx.enqueue(sub);
    fx.wait_attempt(ids[0], 1).await;
    let r = fx.retired(ids[0]).unwrap();
    assert_eq!(r.event, crate::Event::Failed);
    assert_eq!(
        (
            r.message.results[0].code,
            r.message.results[0].enhanced_code.as_str()
        ),
        (554, "5.7.0")
    );

    let script = Script::new()
        .send("220 mx.example.com ESMTP")
        .expect("EHLO proxy-side.example.org")
        .send(EXT);
    let script = quit(transaction(
        script,
        "carol@example.com",
        "250 ok",
        "250 2.0.0 ok",
    ));
    fx.dialer.push(Conn::Script(script));
    let mut sub = submission(&["carol@example.com"]);
    sub.transport = "socks".into();
    let ids = fx.enqueue(sub);
    fx.wait_attempt(ids[0], 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    assert_eq!(fx.dialer.dialed(), vec!["mx.example.com:25".to_string()]);
    assert_eq!(fx.retired(ids[0]).unwrap().event, crate::Event::Delivered);
}

#[tokio::test]
async fn unknown_transport_and_submit_auth_failure_are_temporary() {
    let mut fx = fixture(|c| {
        c.transports.insert(
            "submit".into(),
            Transport::Submission(SmtpTransport {
                host: "smtp.relay.example".into(),
                no_starttls: true,
                auth: Some(TransportAuth {
                    username: "user".into(),
                    password: "wrong".into(),
                    mechanisms: vec!["PLAIN".into()],
                }),
                ..SmtpTransport::default()
            }),
        );
    });
    let script = Script::new()
        .send("220 relay ESMTP")
        .expect(EHLO)
        .send("250-relay\n250-AUTH PLAIN\n250 ENHANCEDSTATUSCODES")
        .expect("AUTH PLAIN AHVzZXIAd3Jvbmc=")
        .send("535 5.7.8 bad credentials");
    fx.dialer.push(Conn::Script(script));
    fx.start();
    let mut sub = submission(&["bob@example.com"]);
    sub.transport = "nosuch".into();
    let ids = fx.enqueue(sub);
    fx.wait_attempt(ids[0], 1).await;
    let row = fx.store.get(ids[0]).unwrap().unwrap();
    assert_eq!(row.results[0].error, "cannot find transport \"nosuch\"");

    let mut sub = submission(&["carol@example.com"]);
    sub.transport = "submit".into();
    let ids = fx.enqueue(sub);
    fx.wait_attempt(ids[0], 1).await;
    fx.stop().await;
    // 535 is a 5xx reply to AUTH: permanent.
    let r = fx.retired(ids[0]).unwrap();
    assert_eq!(r.event, crate::Event::Failed);
    assert_eq!(r.message.results[0].code, 535);
}

#[tokio::test]
async fn full_retry_loop_writes_delayed_dsn_at_five_and_failure_dsn_after_eight() {
    let mut fx = fixture(|_| {});
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com"]));
    for attempt in 1..=8u32 {
        fx.wait_attempt(ids[0], attempt).await;
        let dsns = fx.dsns("alice");
        if attempt < 5 {
            assert!(dsns.is_empty(), "attempt {attempt}");
        }
        if attempt == 5 {
            let dsns = fx.wait_dsns("alice", 1).await;
            let d = &dsns[0];
            assert!(d.contains("Subject: mail delivery delayed\r\n"));
            assert!(d.contains("Action: delayed\r\n"));
            assert!(d.contains("in 2 hours, 6 hours\r\nand 14 hours."), "{d}");
            // Last attempt (5th) started at T0 + 7.5m+15m+30m+1h = 1h52m30s; plus 14h.
            let until = dsn::DateTime::from_system_time(
                SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + 6750 + 14 * 3600),
            );
            assert!(d.contains(&format!("Will-Retry-Until: {until}\r\n")), "{d}");
        }
        if attempt < 8 {
            let next = fx.store.get(ids[0]).unwrap().unwrap().next_attempt;
            fx.clock.set(next);
            fx.engine.kick();
        }
    }
    let dsns = fx.wait_dsns("alice", 2).await;
    fx.stop().await;
    assert_eq!(fx.dialer.dialed().len(), 8);
    let r = fx.retired(ids[0]).unwrap();
    assert_eq!(r.event, crate::Event::Failed);
    assert_eq!(r.message.attempts, 8);
    assert!(dsns[1].contains("Action: failed\r\n"));
    assert!(
        fx.store
            .suppression_lookup("alice", "bob@example.com")
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn idle_connection_is_reused_only_when_it_satisfies_the_next_message() {
    let mut fx = fixture(|c| c.idle_timeout = Duration::from_secs(60));
    let script = greet();
    let script = transaction(script, "bob@example.com", "250 ok", "250 2.0.0 ok");
    let script = transaction(script, "carol@example.com", "250 ok", "250 2.0.0 ok");
    fx.dialer.push(Conn::Script(quit(script)));
    fx.start();
    let first = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait_attempt(first[0], 1).await;
    let second = fx.enqueue(submission(&["carol@example.com"]));
    fx.wait_attempt(second[0], 1).await;
    assert_eq!(fx.dialer.dialed().len(), 1);
    assert_eq!(fx.engine.ctx.pool.len(), 1);

    // A message needing SMTPUTF8 cannot use the idle session (no SMTPUTF8).
    let utf8 = Script::new()
        .send("220 mx.example.com ESMTP")
        .expect(EHLO)
        .send("250-mx.example.com\n250-SMTPUTF8\n250-8BITMIME\n250 ENHANCEDSTATUSCODES")
        .expect_prefix("MAIL FROM:<alice@example.org>")
        .send("250 ok")
        .expect("RCPT TO:<dave@example.com>")
        .send("250 ok")
        .expect("DATA")
        .send("354 go")
        .read_data(BODY_WIRE)
        .send("250 2.0.0 ok");
    fx.dialer.push(Conn::Script(quit(utf8)));
    let mut sub = submission(&["dave@example.com"]);
    sub.smtputf8 = true;
    let third = fx.enqueue(sub);
    fx.wait_attempt(third[0], 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    assert_eq!(fx.dialer.dialed().len(), 2);
    for id in [first[0], second[0], third[0]] {
        assert_eq!(fx.retired(id).unwrap().event, crate::Event::Delivered);
    }
}

#[tokio::test]
async fn attempt_is_registered_before_a_dial_that_never_returns() {
    let mut fx = fixture(|_| {});
    fx.dialer.push(Conn::Hang);
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait("the dial", |fx| fx.dialer.dialed().len() == 1)
        .await;
    // Simulate a crash: the engine task is dropped mid-delivery.
    if let Some(task) = fx.task.take() {
        task.abort();
        let _ = task.await;
    }
    let Fx {
        _dir: _keep_dir,
        path,
        clock,
        ..
    } = fx;
    let reopened = SqliteStore::open(
        &path,
        Options {
            clock: clock.clone(),
            jitter: Arc::new(|| 0),
            ..Options::default()
        },
    )
    .unwrap();
    let row = reopened.get(ids[0]).unwrap().unwrap();
    assert_eq!(row.attempts, 1);
    assert_eq!(row.results[0].error, crate::RESULT_DELIVERING);
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(T0);
    assert_eq!(row.next_attempt, t0 + Duration::from_secs(450));
    reopened.release_all("node1").unwrap();
    assert!(reopened.next_due().unwrap() > Some(t0));
    assert!(
        reopened
            .claim(crate::ClaimRequest {
                node: "node1".into(),
                lease: Duration::from_secs(60),
                max_batches: 10,
                domain: None,
                skip_domains: vec![],
            })
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn graceful_shutdown_gives_back_leases_of_unfinished_deliveries() {
    let mut fx = fixture(|c| c.shutdown_grace = Duration::from_millis(50));
    fx.dialer.push(Conn::Hang);
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait("the dial", |fx| fx.dialer.dialed().len() == 1)
        .await;
    fx.stop().await;
    let row = fx.store.get(ids[0]).unwrap().unwrap();
    assert_eq!(row.lease_owner, "");
    assert_eq!(row.attempts, 1);
}

#[test]
fn new_recipient_defaults_are_used() {
    let r = NewRecipient::new(addr("x@example.com"));
    assert!(r.notify.is_none());
}

#[tokio::test]
async fn admin_failed_rows_get_failure_dsns_unless_notify_excludes_failure() {
    let fx = fixture(|_| {});
    let ids = fx.store.enqueue(submission(&["bob@example.com"])).unwrap();
    let mut never = submission(&["carol@example.com"]);
    never.recipients[0].notify = Some(Notify::NEVER);
    let never_ids = fx.store.enqueue(never).unwrap();
    let failed = fx
        .store
        .fail(&crate::Filter {
            ids: vec![ids[0], never_ids[0]],
            ..Default::default()
        })
        .unwrap();
    let config = EngineConfig {
        hostname: "mail.example.org".into(),
        ..EngineConfig::default()
    };
    let written = write_admin_failure_dsns(&config, fx.mailbox.as_ref(), fx.clock.now(), &failed);
    assert_eq!(written, 1);
    let dsns = fx.dsns("alice");
    assert_eq!(dsns.len(), 1);
    assert!(dsns[0].contains("Final-Recipient: rfc822;bob@example.com\r\n"));
    assert!(dsns[0].contains("delivery canceled by admin"));
}

#[tokio::test]
async fn a_421_ends_the_idle_connection_and_the_next_message_dials_again() {
    let mut fx = fixture(|c| c.idle_timeout = Duration::from_secs(60));
    let script = transaction(greet(), "bob@example.com", "250 ok", "250 2.0.0 ok")
        .expect("MAIL FROM:<alice@example.org>")
        .send("421 4.3.2 shutting down")
        .close();
    fx.dialer.push(Conn::Script(script));
    fx.dialer.push(Conn::Script(quit(transaction(
        greet(),
        "carol@example.com",
        "250 ok",
        "250 2.0.0 ok",
    ))));
    fx.start();
    let first = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait_attempt(first[0], 1).await;
    let second = fx.enqueue(submission(&["carol@example.com"]));
    fx.wait_attempt(second[0], 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    assert_eq!(fx.dialer.dialed().len(), 2);
    assert_eq!(
        fx.retired(second[0]).unwrap().event,
        crate::Event::Delivered
    );
    assert_eq!(fx.retired(second[0]).unwrap().message.attempts, 1);
}

fn tls_fixture(ca: &testkit::tls::TestCa) -> Fx {
    let roots = Arc::new(ca.root_store());
    fixture(move |c| {
        c.pkix = smtpclient::Verification::WebPki { roots };
        c.transports.insert(
            "secure".into(),
            Transport::Submissions(SmtpTransport {
                host: "smtp.relay.example".into(),
                ..SmtpTransport::default()
            }),
        );
        c.routes.global.push(Route::to("secure"));
    })
}

#[tokio::test]
async fn requiretls_goes_through_a_pkix_transport_whose_next_hop_announces_it() {
    let ca = testkit::tls::TestCa::new();
    let leaf = ca.leaf(&["smtp.relay.example"]);
    let mut fx = tls_fixture(&ca);
    let script = Script::new()
        .starttls(leaf.server_config())
        .send("220 relay ESMTP")
        .expect(EHLO)
        .send("250-relay\n250-REQUIRETLS\n250 ENHANCEDSTATUSCODES")
        .expect("MAIL FROM:<alice@example.org> REQUIRETLS")
        .send("250 ok")
        .expect("RCPT TO:<bob@example.com>")
        .send("250 ok")
        .expect("DATA")
        .send("354 go")
        .read_data(BODY_WIRE)
        .send("250 2.0.0 ok");
    fx.dialer.push(Conn::Script(quit(script)));
    // Not announced: refused before MAIL FROM, permanent 5.7.30 for the only host.
    let refusing = Script::new()
        .starttls(leaf.server_config())
        .send("220 relay ESMTP")
        .expect(EHLO)
        .send("250-relay\n250 ENHANCEDSTATUSCODES");
    fx.dialer.push(Conn::Script(quit(refusing)));
    fx.start();
    let mut sub = submission(&["bob@example.com"]);
    sub.require_tls = Some(true);
    let ok = fx.enqueue(sub);
    fx.wait_attempt(ok[0], 1).await;
    let mut sub = submission(&["carol@example.com"]);
    sub.require_tls = Some(true);
    let refused = fx.enqueue(sub);
    fx.wait_attempt(refused[0], 1).await;
    let dsns = fx.wait_dsns("alice", 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    let delivered = fx.retired(ok[0]).unwrap();
    assert_eq!(delivered.event, crate::Event::Delivered);
    let r = &delivered.message.results[0];
    assert_eq!(r.tls_verification, "pkix");
    assert_eq!(r.tls_version, "TLS1.3");
    assert!(r.tls_cipher.starts_with("TLS13_"), "{}", r.tls_cipher);
    let failed = fx.retired(refused[0]).unwrap();
    assert_eq!(failed.event, crate::Event::Failed);
    let r = &failed.message.results[0];
    assert_eq!((r.code, r.enhanced_code.as_str()), (554, "5.7.30"));
    assert_eq!(r.error, "destination servers do not support requiretls");
    assert!(dsns[0].contains("Status: 5.7.30"));
}

#[tokio::test]
async fn first_attempt_5_7_rejection_from_dual_stack_host_is_retried() {
    let mut fx = fixture(|_| {});
    // mx.example.com gets an IPv6 address too.
    let resolver = resolver().aaaa("mx.example.com", "2001:db8::10".parse().unwrap());
    let engine = {
        let deps = EngineDeps {
            store: fx.store.clone(),
            mailbox: fx.mailbox.clone(),
            resolver: Arc::new(resolver),
            dialer: fx.dialer.clone(),
            socks: Arc::new(|s: &SocksTransport| {
                Arc::new(smtpclient::dial::Socks5Dialer::new(s.address)) as Arc<dyn Dialer>
            }),
            clock: fx.clock.clone(),
        };
        Engine::new(fx.engine.ctx.config.clone(), deps)
    };
    fx.engine = engine;
    fx.dialer.push(Conn::Script(quit(transaction(
        greet(),
        "bob@example.com",
        "550 5.7.1 your ip is listed",
        "",
    ))));
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait_attempt(ids[0], 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    let row = fx.store.get(ids[0]).unwrap().unwrap();
    assert_eq!(row.results[0].code, 550);
    assert_eq!(row.results[0].enhanced_code, "5.7.1");
    assert_eq!(
        row.dialed_ips.get("mx.example.com"),
        Some(&vec!["192.0.2.10".to_string()])
    );
    assert!(
        fx.store
            .suppression_lookup("alice", "bob@example.com")
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn leases_of_a_long_delivery_are_renewed() {
    let mut fx = fixture(|c| {
        c.lease = Duration::from_millis(300);
        c.shutdown_grace = Duration::ZERO;
    });
    fx.dialer.push(Conn::Hang);
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait("the dial", |fx| fx.dialer.dialed().len() == 1)
        .await;
    fx.clock.advance(Duration::from_secs(10));
    let renewed = fx.clock.now() + Duration::from_millis(300);
    fx.wait("a renewed lease", |fx| {
        fx.store.get(ids[0]).unwrap().unwrap().lease_until == Some(renewed)
    })
    .await;
    fx.stop().await;
    assert_eq!(fx.store.get(ids[0]).unwrap().unwrap().lease_owner, "");
}

#[tokio::test]
async fn failed_tls_handshake_falls_back_to_plaintext_and_records_no_starttls() {
    let mut fx = fixture(|_| {});
    let broken = Script::new()
        .send("220 mx.example.com ESMTP")
        .expect(EHLO)
        .send("250-mx.example.com\n250-STARTTLS\n250 ENHANCEDSTATUSCODES")
        .expect("STARTTLS")
        .send("220 go ahead")
        .close();
    fx.dialer.push(Conn::Script(broken));
    let plain = Script::new()
        .send("220 mx.example.com ESMTP")
        .expect(EHLO)
        .send("250-mx.example.com\n250-STARTTLS\n250 ENHANCEDSTATUSCODES");
    let plain = quit(transaction(
        plain,
        "bob@example.com",
        "250 ok",
        "250 2.0.0 ok",
    ));
    fx.dialer.push(Conn::Script(plain));
    fx.start();
    let mut sub = submission(&["bob@example.com"]);
    sub.require_tls = Some(false);
    let ids = fx.enqueue(sub);
    fx.wait_attempt(ids[0], 1).await;
    fx.stop().await;
    let handles: Vec<ScriptHandle> = fx.dialer.handles.lock().unwrap().drain(..).collect();
    let mut handles = handles.into_iter();
    let _ = handles.next().unwrap().result().await;
    handles.next().unwrap().finish().await;
    assert_eq!(
        fx.dialer.dialed(),
        vec!["192.0.2.10:25".to_string(), "192.0.2.10:25".to_string()]
    );
    let r = fx.retired(ids[0]).unwrap();
    assert_eq!(r.event, crate::Event::Delivered);
    assert_eq!(r.message.results[0].tls_version, "");
    let tls = fx.store.domain_tls("example.com").unwrap().unwrap();
    assert_eq!((tls.starttls, tls.requiretls), (false, false));
}

#[tokio::test]
async fn opportunistic_starttls_is_recorded_per_domain() {
    let leaf = testkit::tls::self_signed(&["mx.example.com"]);
    let mut fx = fixture(|_| {});
    let script = Script::new()
        .send("220 mx.example.com ESMTP")
        .expect(EHLO)
        .send("250-mx.example.com\n250-STARTTLS\n250 ENHANCEDSTATUSCODES")
        .expect("STARTTLS")
        .send("220 go ahead")
        .starttls(leaf.server_config())
        .expect(EHLO)
        .send("250-mx.example.com\n250-REQUIRETLS\n250 ENHANCEDSTATUSCODES");
    fx.dialer.push(Conn::Script(quit(transaction(
        script,
        "bob@example.com",
        "250 ok",
        "250 2.0.0 ok",
    ))));
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait_attempt(ids[0], 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    let r = fx.retired(ids[0]).unwrap();
    assert_eq!(r.message.results[0].tls_verification, "none");
    let tls = fx.store.domain_tls("example.com").unwrap().unwrap();
    assert_eq!((tls.starttls, tls.requiretls), (true, true));
}

#[tokio::test]
async fn rows_added_by_another_process_are_noticed_without_a_kick() {
    let mut fx = fixture(|_| {});
    fx.dialer.push(Conn::Script(quit(transaction(
        greet(),
        "bob@example.com",
        "250 ok",
        "250 2.0.0 ok",
    ))));
    fx.start();
    // Straight into the store, as the admin CLI or another node would.
    let ids = fx.store.enqueue(submission(&["bob@example.com"])).unwrap();
    fx.wait_attempt(ids[0], 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    assert_eq!(fx.retired(ids[0]).unwrap().event, crate::Event::Delivered);
}

#[tokio::test]
async fn mailmax_sends_the_rest_over_a_new_connection() {
    let mut fx = fixture(|_| {});
    let limits = || {
        Script::new()
            .send("220 mx.example.com ESMTP")
            .expect(EHLO)
            .send("250-mx.example.com\n250-LIMITS MAILMAX=1 RCPTMAX=1\n250 ENHANCEDSTATUSCODES")
    };
    fx.dialer.push(Conn::Script(quit(transaction(
        limits(),
        "bob@example.com",
        "250 ok",
        "250 2.0.0 ok",
    ))));
    fx.dialer.push(Conn::Script(quit(transaction(
        limits(),
        "carol@example.com",
        "250 ok",
        "250 2.0.0 ok",
    ))));
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com", "carol@example.com"]));
    fx.wait_attempt(ids[0], 1).await;
    fx.wait_attempt(ids[1], 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    assert_eq!(fx.dialer.dialed().len(), 2);
    for id in ids {
        assert_eq!(fx.retired(id).unwrap().event, crate::Event::Delivered);
    }
}

#[tokio::test]
async fn concurrency_limit_holds_back_other_domains() {
    let mut fx = fixture(|c| {
        c.max_concurrent = 1;
        c.shutdown_grace = Duration::ZERO;
    });
    fx.dialer.push(Conn::Hang);
    fx.start();
    let first = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait("the first dial", |fx| fx.dialer.dialed().len() == 1)
        .await;
    let second = fx.enqueue(submission(&["dave@example.net"]));
    // Let the scheduler run a few rounds; the second row must stay unclaimed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let row = fx.store.get(second[0]).unwrap().unwrap();
    assert_eq!((row.attempts, row.lease_owner.as_str()), (0, ""));
    fx.stop().await;
    assert_eq!(fx.dialer.dialed().len(), 1);
    assert_eq!(fx.store.get(first[0]).unwrap().unwrap().attempts, 1);
}

#[tokio::test]
async fn idle_connection_is_closed_after_the_idle_timeout() {
    let mut fx = fixture(|c| {
        c.idle_timeout = Duration::from_millis(100);
        c.poll_interval = Duration::from_millis(20);
    });
    fx.dialer.push(Conn::Script(quit(transaction(
        greet(),
        "bob@example.com",
        "250 ok",
        "250 2.0.0 ok",
    ))));
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait_attempt(ids[0], 1).await;
    // The script ends only when the engine QUITs the idle connection, while
    // the engine keeps running.
    fx.dialer.finish_scripts().await;
    assert_eq!(fx.engine.ctx.pool.len(), 0);
    fx.stop().await;
}

#[tokio::test]
async fn dsn_for_an_account_without_mailbox_goes_to_the_postmaster() {
    let mut fx = fixture(|c| c.postmaster_account = "postmaster".into());
    fx.dialer.push(Conn::Script(quit(transaction(
        greet(),
        "bob@example.com",
        "554 5.0.0 no thanks",
        "",
    ))));
    fx.start();
    let mut sub = submission(&["bob@example.com"]);
    sub.account = "ghost".into();
    let ids = fx.enqueue(sub);
    fx.wait_attempt(ids[0], 1).await;
    let dsns = fx.wait_dsns("postmaster", 1).await;
    fx.stop().await;
    fx.dialer.finish_scripts().await;
    assert!(dsns[0].contains("Final-Recipient: rfc822;bob@example.com\r\n"));
    assert!(fx.dsns("alice").is_empty());
}

#[tokio::test]
async fn a_session_over_its_time_limit_is_a_temporary_failure() {
    let mut fx = fixture(|c| c.session_timeout = Duration::from_millis(200));
    fx.dialer.push(Conn::Script(greet().hang()));
    fx.start();
    let ids = fx.enqueue(submission(&["bob@example.com"]));
    fx.wait_attempt(ids[0], 1).await;
    fx.stop().await;
    let row = fx.store.get(ids[0]).unwrap().unwrap();
    assert_eq!(
        row.results[0].error,
        "session with mx.example.com took longer than 200ms"
    );
    assert_eq!(row.results[0].mx_host, "mx.example.com");
}

#[tokio::test]
async fn direct_delivery_over_tcp_to_a_sink_on_the_test_port() {
    let sink = testkit::sink::Sink::start().await.unwrap();
    let mut fx = fixture(|c| {
        c.direct_port = sink.addr().port();
        c.idle_timeout = Duration::from_secs(5);
    });
    let deps = EngineDeps {
        store: fx.store.clone(),
        mailbox: fx.mailbox.clone(),
        resolver: Arc::new(
            MemoryResolver::new()
                .mx("example.com", 10, "mx.example.com")
                .a("mx.example.com", "127.0.0.1".parse().unwrap()),
        ),
        dialer: Arc::new(smtpclient::dial::TcpDialer::new()),
        socks: Arc::new(|s: &SocksTransport| {
            Arc::new(smtpclient::dial::Socks5Dialer::new(s.address)) as Arc<dyn Dialer>
        }),
        clock: fx.clock.clone(),
    };
    fx.engine = Engine::new(fx.engine.ctx.config.clone(), deps);
    fx.start();
    let mut ids = Vec::new();
    for rcpt in ["bob@example.com", "carol@example.com", "dave@example.com"] {
        ids.extend(fx.enqueue(submission(&[rcpt])));
    }
    assert_eq!(sink.wait_for(3, Duration::from_secs(10)).await, 3);
    for id in &ids {
        fx.wait_attempt(*id, 1).await;
    }
    fx.stop().await;
    let messages = sink.messages();
    assert_eq!(messages[0].helo, "mail.example.org");
    assert_eq!(
        messages[0].mail_from,
        "<alice@example.org> SIZE=52 BODY=7BIT ENVID=env1"
    );
    assert_eq!(
        messages[0].rcpt_to,
        vec!["<bob@example.com> NOTIFY=FAILURE,DELAY ORCPT=rfc822;bob@example.com".to_string()]
    );
    assert_eq!(messages[0].data, BODY);
    for id in ids {
        assert_eq!(fx.retired(id).unwrap().event, crate::Event::Delivered);
    }
}
