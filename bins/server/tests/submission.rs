//! The submission handler end to end over TCP: AUTH, what lands in the
//! queue, the reference's §8 item 18 cases, limits and trusted networks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use common::Raw;
use mailbox::{MailboxStore, NewAccount};
use postel_server::config::values::Cidr;
use postel_server::policy::{AccountPolicy, Policy};
use postel_server::stores::Stores;
use postel_server::submission::Submitter;
use queue::{Filter, QueuedMessage, Sort, Store};
use smtp::{Notify, OriginalRecipient, Ret};
use smtpserver::{Mode, Server, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::{Notify as Kick, watch};

struct Env {
    _dir: tempfile::TempDir,
    stores: Stores,
    addr: SocketAddr,
    kick: Arc<Kick>,
    _stop: watch::Sender<bool>,
}

const PASSWORD: &str = "password1";

fn policy() -> Policy {
    let mut p = Policy::default();
    p.accounts.insert(
        "app".into(),
        AccountPolicy {
            separator: Some('+'),
            ..AccountPolicy::default()
        },
    );
    p.accounts.insert(
        "fid".into(),
        AccountPolicy {
            separator: Some('+'),
            fromid_logins: vec!["fid@example.org".into()],
            ..AccountPolicy::default()
        },
    );
    p
}

async fn start(policy: Policy) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::open(dir.path(), Some('+'), policy.retention()).unwrap();
    for (name, addr) in [("app", "app@example.org"), ("fid", "fid@example.org")] {
        stores
            .mailbox
            .create_account(&NewAccount {
                name: name.into(),
                addresses: vec![addr.into()],
                ..NewAccount::default()
            })
            .unwrap();
        stores.mailbox.set_password(name, PASSWORD).unwrap();
    }
    let kick = Arc::new(Kick::new());
    let submitter = Submitter::new(
        stores.queue.clone(),
        stores.mailbox.clone(),
        Arc::new(policy),
        kick.clone(),
    );
    let mut config = ServerConfig::new("mail.example.org".parse().unwrap(), Mode::Submission);
    config.sasl.plaintext_without_tls = true;
    let (stop, rx) = watch::channel(false);
    let server = Server::new(config, Arc::new(submitter)).with_shutdown(rx);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { server.run(listener, false).await });
    Env {
        _dir: dir,
        stores,
        addr,
        kick,
        _stop: stop,
    }
}

fn rows(env: &Env) -> Vec<QueuedMessage> {
    let sort = Sort {
        field: queue::SortField::Queued,
        ..Sort::default()
    };
    let mut rows = env.stores.queue.list(&Filter::default(), &sort).unwrap();
    rows.sort_by_key(|r| r.id);
    rows
}

const BODY: &str =
    "From: <app@example.org>\r\nSubject: hello\r\nMessage-ID: <m1@example.org>\r\n\r\nHi.\r\n";

#[tokio::test]
async fn smtpclient_submission_is_queued_with_envelope_and_dsn_parameters() {
    use smtpclient::{AuthConfig, Client, ClientConfig, Envelope, TlsMode};
    let env = start(policy()).await;
    let stream = tokio::net::TcpStream::connect(env.addr).await.unwrap();
    let config = ClientConfig {
        tls: TlsMode::Skip,
        auth: Some(AuthConfig::new("app@example.org", PASSWORD)),
        ..ClientConfig::default()
    };
    let mut client = Client::connect(Box::new(stream), config).await.unwrap();
    let mut envelope = Envelope::new(
        Some("app+news@example.org".parse().unwrap()),
        vec![
            "bob@example.com".parse().unwrap(),
            "carol@example.net".parse().unwrap(),
        ],
    );
    envelope.ret = Some(Ret::Hdrs);
    envelope.envid = Some("env-1".into());
    envelope.recipients[0].notify = Some(Notify::new(true, true, false));
    envelope.recipients[0].orcpt = Some(OriginalRecipient {
        addr_type: "rfc822".into(),
        address: "orig@example.com".into(),
    });
    let delivery = client.deliver(&envelope, BODY.as_bytes()).await.unwrap();
    assert!(delivery.recipients.iter().all(|r| r.is_delivered()));
    client.quit().await.unwrap();

    let rows = rows(&env);
    assert_eq!(rows.len(), 2);
    let (a, b) = (&rows[0], &rows[1]);
    assert_eq!(a.account, "app");
    assert_eq!(a.sender, "app+news@example.org");
    assert_eq!(a.recipient, "bob@example.com");
    assert_eq!(b.recipient, "carol@example.net");
    assert_eq!(a.from_id, "");
    assert_eq!(a.base_id, a.id, "rows of one submission share a base id");
    assert_eq!(b.base_id, a.id);
    assert_eq!(a.subject, "hello");
    assert_eq!(a.message_id, "<m1@example.org>");
    assert_eq!(a.require_tls, None);
    assert_eq!(a.dsn.notify, Notify::new(true, true, false));
    assert_eq!(a.dsn.ret, Some(Ret::Hdrs));
    assert_eq!(a.dsn.envid, "env-1");
    assert_eq!(a.dsn.orcpt.address, "orig@example.com");
    assert_eq!(
        b.dsn.notify,
        Notify::new(false, true, true),
        "absent NOTIFY is FAILURE,DELAY"
    );
    assert_eq!(b.dsn.orcpt.address, "carol@example.net");
    let body = env.stores.queue.body(a.body_id).unwrap();
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with("Received: from localhost ([127.0.0.1]) by mail.example.org"),
        "{text}"
    );
    assert!(text.ends_with(BODY), "{text}");
    // The engine was told about the new work.
    tokio::time::timeout(std::time::Duration::from_secs(5), env.kick.notified())
        .await
        .unwrap();
}

#[tokio::test]
async fn extra_headers_are_canonicalized_under_both_prefixes() {
    let env = start(policy()).await;
    let mut c = Raw::connect(env.addr).await;
    c.login("app@example.org", PASSWORD).await;
    assert_eq!(
        c.cmd("MAIL FROM:<app@example.org> SMTPUTF8 BODY=8BITMIME")
            .await,
        "250 2.1.0 sender ok"
    );
    assert_eq!(
        c.cmd("RCPT TO:<bob@example.com>").await,
        "250 2.1.5 recipient ok"
    );
    let msg = "X-Mox-Extra-Test: testvalue\r\nX-Mox-Extra-a: 123\r\nX-Mox-Extra-\u{263a}: \u{263a}\r\n\
               X-Mox-Extra-x-cANONICAL-z: ok\r\nX-Postel-Extra-order-ID: 42\r\nSubject: x\r\n\r\nbody\r\n";
    let r = c.data(msg).await;
    assert!(r.starts_with("250 2.0.0 message queued with id "), "{r}");
    let rows = rows(&env);
    let want: BTreeMap<String, String> = [
        ("Test", "testvalue"),
        ("A", "123"),
        ("\u{263a}", "\u{263a}"),
        ("X-Canonical-Z", "ok"),
        ("Order-Id", "42"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(rows[0].extra, want);
}

#[tokio::test]
async fn duplicate_extra_key_under_either_prefix_is_554_5_6_0() {
    let env = start(policy()).await;
    let mut c = Raw::connect(env.addr).await;
    c.login("app@example.org", PASSWORD).await;
    c.cmd("MAIL FROM:<app@example.org>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    let r = c
        .data("X-Postel-Extra-Test: a\r\nX-Mox-Extra-test: b\r\n\r\nbody\r\n")
        .await;
    assert_eq!(r, "554 5.6.0 duplicate extra metadata key \"Test\"");
    assert!(rows(&env).is_empty());
}

#[tokio::test]
async fn fromid_mode_generates_a_unique_mail_from_per_recipient() {
    let env = start(policy()).await;
    let mut c = Raw::connect(env.addr).await;
    c.login("fid@example.org", PASSWORD).await;
    c.cmd("MAIL FROM:<fid@example.org>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    c.cmd("RCPT TO:<carol@example.com>").await;
    let r = c.data("Subject: x\r\n\r\nbody\r\n").await;
    assert!(r.starts_with("250 "), "{r}");
    let rows = rows(&env);
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.from_id.len(), 22, "16 random bytes in base64url");
        assert!(
            row.from_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(row.sender, format!("fid+{}@example.org", row.from_id));
        assert_eq!(row.base_id, 0, "different MAIL FROMs are not batched");
    }
    assert_ne!(rows[0].from_id, rows[1].from_id);
}

#[tokio::test]
async fn user_chosen_fromid_is_used_once_and_only_with_one_recipient() {
    let env = start(policy()).await;
    let mut c = Raw::connect(env.addr).await;
    c.login("fid@example.org", PASSWORD).await;
    c.cmd("MAIL FROM:<fid+chosen1@example.org>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    let r = c.data("Subject: x\r\n\r\nbody\r\n").await;
    assert!(r.starts_with("250 "), "{r}");
    let rows1 = rows(&env);
    assert_eq!(rows1[0].from_id, "chosen1");
    assert_eq!(rows1[0].sender, "fid+chosen1@example.org");

    // The same fromid again.
    c.cmd("MAIL FROM:<fid+chosen1@example.org>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    let r = c.data("Subject: x\r\n\r\nbody\r\n").await;
    assert_eq!(r, "554 5.1.7 fromid not unique");

    // A chosen fromid with a second recipient.
    c.cmd("RSET").await;
    c.cmd("MAIL FROM:<fid+chosen2@example.org>").await;
    assert_eq!(
        c.cmd("RCPT TO:<bob@example.com>").await,
        "250 2.1.5 recipient ok"
    );
    assert_eq!(
        c.cmd("RCPT TO:<carol@example.com>").await,
        "554 5.5.3 cannot send to multiple recipients with chosen fromid"
    );
    assert_eq!(rows(&env).len(), 1);
}

#[tokio::test]
async fn sender_must_be_an_address_of_the_account() {
    let env = start(policy()).await;
    let mut c = Raw::connect(env.addr).await;
    c.login("app@example.org", PASSWORD).await;
    assert_eq!(
        c.cmd("MAIL FROM:<fid@example.org>").await,
        "550 5.7.1 not allowed to send as this address; use an address of the authenticated account"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<APP+x@Example.org>").await,
        "250 2.1.0 sender ok"
    );
}

#[tokio::test]
async fn mail_without_auth_is_530() {
    let env = start(policy()).await;
    let mut c = Raw::connect(env.addr).await;
    c.cmd("EHLO client.example").await;
    assert_eq!(
        c.cmd("MAIL FROM:<app@example.org>").await,
        "530 5.7.0 authentication required"
    );
}

#[tokio::test]
async fn tls_required_no_and_future_release_are_stored() {
    let env = start(policy()).await;
    let mut c = Raw::connect(env.addr).await;
    c.login("app@example.org", PASSWORD).await;
    c.cmd("MAIL FROM:<app@example.org> HOLDFOR=3600").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    let r = c
        .data("TLS-Required: No\r\nSubject: x\r\n\r\nbody\r\n")
        .await;
    assert!(r.starts_with("250 "), "{r}");
    let row = &rows(&env)[0];
    assert_eq!(row.require_tls, Some(false));
    assert_eq!(row.future_release, "for;3600");
    let ahead = row.next_attempt.duration_since(row.queued).unwrap();
    assert!((3590..=3600).contains(&ahead.as_secs()), "{ahead:?}");
}

#[tokio::test]
async fn daily_message_limit_gives_451_4_7_1() {
    let mut p = policy();
    p.accounts.get_mut("app").unwrap().messages_per_day = 2;
    let env = start(p).await;
    let mut c = Raw::connect(env.addr).await;
    c.login("app@example.org", PASSWORD).await;
    c.cmd("MAIL FROM:<app@example.org>").await;
    c.cmd("RCPT TO:<a@example.com>").await;
    c.cmd("RCPT TO:<b@example.com>").await;
    assert!(
        c.data("Subject: x\r\n\r\nbody\r\n")
            .await
            .starts_with("250 ")
    );
    c.cmd("MAIL FROM:<app@example.org>").await;
    c.cmd("RCPT TO:<a@example.com>").await;
    assert_eq!(
        c.data("Subject: x\r\n\r\nbody\r\n").await,
        "451 4.7.1 max number of messages (2) over past 24h reached, try increasing per-account setting max_outgoing_messages_per_day"
    );
}

#[tokio::test]
async fn first_time_recipient_limit_counts_only_new_recipients() {
    let mut p = policy();
    p.accounts.get_mut("app").unwrap().first_time_per_day = 1;
    let env = start(p).await;
    let mut c = Raw::connect(env.addr).await;
    c.login("app@example.org", PASSWORD).await;
    for (rcpt, want) in [
        ("a@example.com", "250"),
        (
            "b@example.com",
            "451 4.7.1 max number of new/first-time recipients (1) over past 24h reached, try increasing per-account setting max_first_time_recipients_per_day",
        ),
        ("a@example.com", "250"),
    ] {
        c.cmd("MAIL FROM:<app@example.org>").await;
        c.cmd(&format!("RCPT TO:<{rcpt}>")).await;
        let r = c.data("Subject: x\r\n\r\nbody\r\n").await;
        assert!(r.starts_with(want), "{rcpt}: {r}");
    }
}

#[tokio::test]
async fn trusted_network_submits_without_auth_for_its_account() {
    let mut p = policy();
    p.trusted = vec![(Cidr::parse("127.0.0.0/8").unwrap(), "app".into())];
    let env = start(p).await;
    let mut c = Raw::connect(env.addr).await;
    c.cmd("EHLO client.example").await;
    assert_eq!(
        c.cmd("MAIL FROM:<app@example.org>").await,
        "250 2.1.0 sender ok"
    );
    c.cmd("RCPT TO:<bob@example.com>").await;
    assert!(
        c.data("Subject: x\r\n\r\nbody\r\n")
            .await
            .starts_with("250 ")
    );
    assert_eq!(rows(&env)[0].account, "app");
}

#[tokio::test]
async fn wrong_password_is_refused() {
    let env = start(policy()).await;
    let mut c = Raw::connect(env.addr).await;
    c.cmd("EHLO client.example").await;
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode("\0app@example.org\0wrong");
    let r = c.cmd(&format!("AUTH PLAIN {token}")).await;
    assert!(r.starts_with("535 5.7.8"), "{r}");
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_ip() {
    let env = start(policy()).await;
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let mut c = Raw::connect(env.addr).await;
    c.cmd("EHLO client.example").await;
    use base64::Engine as _;
    let bad = base64::engine::general_purpose::STANDARD.encode("\0app@example.org\0wrong");
    assert!(
        c.cmd(&format!("AUTH PLAIN {bad}"))
            .await
            .starts_with("535 ")
    );
    assert_eq!(env.stores.mailbox.auth_limiter().failures(ip), 1);
    for _ in 0..9 {
        env.stores.mailbox.auth_limiter().record_failure(ip);
    }
    let good =
        base64::engine::general_purpose::STANDARD.encode(format!("\0app@example.org\0{PASSWORD}"));
    let r = c.cmd(&format!("AUTH PLAIN {good}")).await;
    assert!(
        r.starts_with("454 4.7.0 too many failed authentication attempts; try again in "),
        "{r}"
    );
}

#[tokio::test]
async fn null_reverse_path_is_refused_on_submission() {
    let env = start(policy()).await;
    let mut c = Raw::connect(env.addr).await;
    c.login("app@example.org", PASSWORD).await;
    assert_eq!(
        c.cmd("MAIL FROM:<>").await,
        "550 5.7.1 the null reverse path is not allowed for submission"
    );
}

#[tokio::test]
async fn mail_from_a_disabled_domain_is_451_4_3_0_and_queues_nothing() {
    let mut p = policy();
    p.disabled_domains.insert("example.org".into());
    let env = start(p).await;
    let mut c = Raw::connect(env.addr).await;
    c.login("app@example.org", PASSWORD).await;
    assert_eq!(
        c.cmd("MAIL FROM:<App@Example.ORG>").await,
        "451 4.3.0 sender domain temporarily disabled"
    );
    // Not an address of the account stays a 550, disabled or not.
    assert_eq!(
        c.cmd("MAIL FROM:<other@example.org>").await,
        "550 5.7.1 not allowed to send as this address; use an address of the authenticated account"
    );
    c.cmd("QUIT").await;
    assert!(rows(&env).is_empty());
}

#[tokio::test]
async fn message_from_header_in_a_disabled_domain_is_451_4_3_0_after_data() {
    let mut p = policy();
    p.disabled_domains.insert("paused.example".into());
    let env = start(p).await;
    let mut c = Raw::connect(env.addr).await;
    c.login("app@example.org", PASSWORD).await;
    assert_eq!(
        c.cmd("MAIL FROM:<app@example.org>").await,
        "250 2.1.0 sender ok"
    );
    c.cmd("RCPT TO:<bob@example.com>").await;
    assert_eq!(
        c.data("From: Boss <boss@Paused.Example>\r\nSubject: x\r\n\r\nbody\r\n")
            .await,
        "451 4.3.0 sender domain temporarily disabled"
    );
    assert!(rows(&env).is_empty());
    // Another domain in From is fine.
    c.cmd("MAIL FROM:<app@example.org>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    assert!(
        c.data("From: <app@example.org>\r\nSubject: x\r\n\r\nbody\r\n")
            .await
            .starts_with("250 ")
    );
    assert_eq!(rows(&env).len(), 1);
}
