//! The client against a private Postfix smtpd with Dovecot SASL: STARTTLS with a
//! self-signed certificate (opportunistic), CHUNKING, SMTPUTF8, DSN, and AUTH with each
//! mechanism Dovecot offers. Postfix's own log is the witness of what it received.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sasl::Mechanism;
use smtp::{Address, Command, Notify, OriginalRecipient, Ret};
use smtpclient::dial::{Dialer, TcpDialer};
use smtpclient::{
    AuthConfig, CertCheck, Client, ClientConfig, Delivery, Envelope, Error, RecipientOutcome,
    TlsMode, Verification,
};
use support::Postfix;

const MESSAGE: &[u8] =
    b"From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: interop\r\n\r\nhello postfix\r\n";

fn addr(s: &str) -> Address {
    s.parse().unwrap()
}

fn opportunistic() -> ClientConfig {
    ClientConfig {
        ehlo_name: "client.postel.test".into(),
        tls: TlsMode::Opportunistic {
            plaintext_fallback_allowed: false,
        },
        verification: Verification::AnyCertificate,
        server_name: Some("mx.postel.test".into()),
        ..ClientConfig::default()
    }
}

async fn connect(to: std::net::SocketAddr, config: ClientConfig) -> Result<Client, Error> {
    let stream = TcpDialer::new().dial(to).await.unwrap();
    Client::connect(stream, config).await
}

/// The queue id from the final reply ("2.0.0 Ok: queued as 4XyZ...").
fn queue_id(d: &Delivery) -> String {
    let RecipientOutcome::Delivered(r) = &d.recipients[0] else {
        panic!("not delivered: {d:?}");
    };
    Postfix::queue_id(&r.lines.join(" "))
}

#[tokio::test]
#[ignore = "needs postfix and dovecot; run by .ci/run"]
async fn opportunistic_starttls_accepts_the_self_signed_certificate_and_delivers() {
    let pf = Postfix::start();
    let mut client = connect(pf.addr(), opportunistic()).await.unwrap();

    let tls = client.tls().expect("a TLS session");
    assert_eq!(tls.cert_check, CertCheck::Any);
    assert_eq!(client.cert_check(), CertCheck::Any);
    let cert = CertificateDer::from_pem_file(pf.cert_pem()).unwrap();
    assert_eq!(tls.peer_certificates.first(), Some(&cert));
    // The EHLO after STARTTLS is the one that counts: AUTH appears only there.
    let ext = client.extensions();
    assert_eq!(ext.hostname, "mx.postel.test");
    assert!(!ext.starttls);
    assert_eq!(
        ext.auth,
        ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]
    );

    let env = Envelope::new(
        Some(addr("a@example.org")),
        vec![addr("b@example.net"), addr("c@example.net")],
    );
    let d = client.deliver(&env, MESSAGE).await.unwrap();
    client.quit().await.unwrap();
    assert_eq!(d.delivered(), 2);

    let id = queue_id(&d);
    let log = pf.wait_log(&id, "to=<c@example.net>");
    assert!(
        log.iter().any(|l| l.contains("from=<a@example.org>")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("to=<b@example.net>") && l.contains("status=sent")),
        "{log:?}"
    );
    let all = pf.maillog();
    assert!(
        all.contains("ehlo=2 starttls=1 mail=1 rcpt=2 bdat=1 quit=1"),
        "{all}"
    );
}

#[tokio::test]
#[ignore = "needs postfix and dovecot; run by .ci/run"]
async fn chunking_sends_the_message_with_bdat() {
    let pf = Postfix::start();
    let mut client = connect(pf.addr(), opportunistic()).await.unwrap();
    assert!(client.extensions().chunking);
    let env = Envelope::new(Some(addr("a@example.org")), vec![addr("b@example.net")]);
    let d = client.deliver(&env, MESSAGE).await.unwrap();
    client.quit().await.unwrap();

    let RecipientOutcome::Delivered(r) = &d.recipients[0] else {
        panic!("not delivered: {d:?}");
    };
    assert_eq!((r.command, r.code), (Command::Bdat, 250));
    assert_eq!(r.enhanced, Some("2.0.0".parse().unwrap()));
    pf.wait_delivered(&queue_id(&d));
    // smtpd's per-session command counts show BDAT and no DATA.
    let log = pf.maillog();
    let disconnect = log
        .lines()
        .find(|l| l.contains("disconnect from localhost") && l.contains("mail=1"))
        .unwrap_or_else(|| panic!("no disconnect line: {log}"));
    assert!(disconnect.contains(" bdat=1 "), "{disconnect}");
    assert!(!disconnect.contains(" data="), "{disconnect}");
}

#[tokio::test]
#[ignore = "needs postfix and dovecot; run by .ci/run"]
async fn smtputf8_envelope_is_accepted_and_logged_in_utf8() {
    let pf = Postfix::start();
    let mut client = connect(pf.addr(), opportunistic()).await.unwrap();
    assert!(client.extensions().smtputf8);
    let mut env = Envelope::new(Some(addr("jörg@bücher.example")), vec![addr("ü@例え.jp")]);
    env.requires_smtputf8 = true;
    let message =
        "From: <jörg@bücher.example>\r\nTo: <ü@例え.jp>\r\nSubject: grüße\r\n\r\nschön\r\n";
    let d = client.deliver(&env, message.as_bytes()).await.unwrap();
    client.quit().await.unwrap();
    assert_eq!(d.delivered(), 1);

    let log = pf.wait_delivered(&queue_id(&d));
    assert!(
        log.iter().any(|l| l.contains("from=<jörg@bücher.example>")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("to=<ü@例え.jp>") && l.contains("status=sent")),
        "{log:?}"
    );
}

#[tokio::test]
#[ignore = "needs postfix and dovecot; run by .ci/run"]
async fn dsn_notify_success_makes_postfix_send_a_success_notification() {
    let pf = Postfix::start();
    let mut client = connect(pf.addr(), opportunistic()).await.unwrap();
    assert!(client.extensions().dsn);
    let mut env = Envelope::new(Some(addr("a@example.org")), vec![addr("b@example.net")]);
    env.ret = Some(Ret::Hdrs);
    env.envid = Some("envid+1".into());
    env.recipients[0].notify = Some(Notify::new(true, true, false));
    env.recipients[0].orcpt = Some(OriginalRecipient::for_address(&addr(
        "original@example.net",
    )));
    let d = client.deliver(&env, MESSAGE).await.unwrap();
    client.quit().await.unwrap();
    assert!(!d.dsn_params_dropped);

    let id = queue_id(&d);
    let log = pf.wait_log(&id, "sender delivery status notification");
    assert!(
        log.iter()
            .any(|l| l.contains("to=<b@example.net>") && l.contains("status=sent")),
        "{log:?}"
    );
}

#[tokio::test]
#[ignore = "needs postfix, dovecot and smtp-sink; run by .ci/run"]
async fn postfix_passes_our_dsn_parameters_on_to_the_next_hop() {
    let sink = support::SmtpSink::start(&[]);
    let pf = Postfix::start_relaying_to(sink.port);
    let mut client = connect(pf.addr(), opportunistic()).await.unwrap();
    let mut env = Envelope::new(
        Some(addr("a@example.org")),
        vec![addr("b@example.net"), addr("c@example.net")],
    );
    env.ret = Some(Ret::Hdrs);
    env.envid = Some("envid+1 x".into());
    env.recipients[0].notify = Some(Notify::new(true, true, false));
    env.recipients[0].orcpt = Some(OriginalRecipient::for_address(&addr(
        "original@example.net",
    )));
    env.recipients[1].notify = Some(Notify::NEVER);
    let d = client.deliver(&env, MESSAGE).await.unwrap();
    client.quit().await.unwrap();
    assert_eq!(d.delivered(), 2);

    // Postfix relays what it received from us (in its own parameter order): ENVID
    // and ORCPT were xtext-decoded by Postfix and encoded again on the way out.
    let dumps = sink.wait_dumps(1);
    assert_eq!(
        dumps[0].mail_args,
        "<a@example.org> BODY=7BIT ENVID=envid+2B1+20x RET=HDRS"
    );
    assert_eq!(
        dumps[0].rcpt_args,
        [
            "<b@example.net> ORCPT=rfc822;original@example.net NOTIFY=SUCCESS,FAILURE",
            "<c@example.net> ORCPT=rfc822;c@example.net NOTIFY=NEVER",
        ]
    );
    assert!(
        dumps[0].message.ends_with("\n\nhello postfix\n"),
        "{:?}",
        dumps[0].message
    );
}

/// Submission port: STARTTLS then AUTH with only `mechanism` allowed, then a relayed delivery.
async fn authenticate_and_relay(mechanism: Mechanism, name: &str) {
    let pf = Postfix::start();
    let mut auth = AuthConfig::new("alice", "secret");
    auth.options.allowed = vec![mechanism];
    let config = ClientConfig {
        tls: TlsMode::RequiredStartTls,
        auth: Some(auth),
        ..opportunistic()
    };
    let mut client = connect(pf.submission_addr(), config).await.unwrap();
    assert_eq!(client.authenticated(), Some(mechanism));
    let env = Envelope::new(Some(addr("alice@example.org")), vec![addr("x@example.com")]);
    let d = client.deliver(&env, MESSAGE).await.unwrap();
    client.quit().await.unwrap();
    assert_eq!(d.delivered(), 1);

    let log = pf.wait_delivered(&queue_id(&d));
    let needle = format!("sasl_method={name}, sasl_username=alice");
    assert!(log.iter().any(|l| l.contains(&needle)), "{log:?}");
}

#[tokio::test]
#[ignore = "needs postfix and dovecot; run by .ci/run"]
async fn auth_plain_after_starttls_succeeds() {
    authenticate_and_relay(Mechanism::Plain, "PLAIN").await;
}

#[tokio::test]
#[ignore = "needs postfix and dovecot; run by .ci/run"]
async fn auth_login_after_starttls_succeeds() {
    authenticate_and_relay(Mechanism::Login, "LOGIN").await;
}

#[tokio::test]
#[ignore = "needs postfix and dovecot; run by .ci/run"]
async fn auth_cram_md5_succeeds() {
    authenticate_and_relay(Mechanism::CramMd5, "CRAM-MD5").await;
}

#[tokio::test]
#[ignore = "needs postfix and dovecot; run by .ci/run"]
async fn auth_scram_sha_1_succeeds() {
    authenticate_and_relay(Mechanism::ScramSha1, "SCRAM-SHA-1").await;
}

#[tokio::test]
#[ignore = "needs postfix and dovecot; run by .ci/run"]
async fn auth_scram_sha_256_succeeds() {
    authenticate_and_relay(Mechanism::ScramSha256, "SCRAM-SHA-256").await;
}

#[tokio::test]
#[ignore = "needs postfix and dovecot; run by .ci/run"]
async fn default_mechanism_choice_is_scram_sha_256() {
    let pf = Postfix::start();
    let config = ClientConfig {
        tls: TlsMode::RequiredStartTls,
        auth: Some(AuthConfig::new("bob", "hunter2")),
        ..opportunistic()
    };
    let client = connect(pf.submission_addr(), config).await.unwrap();
    // Dovecot offers no -PLUS variant, so the best common one is SCRAM-SHA-256.
    assert_eq!(client.authenticated(), Some(Mechanism::ScramSha256));
    client.quit().await.unwrap();
}

#[tokio::test]
#[ignore = "needs postfix and dovecot; run by .ci/run"]
async fn wrong_password_is_a_permanent_535() {
    let pf = Postfix::start();
    let mut auth = AuthConfig::new("alice", "not-the-password");
    auth.options.allowed = vec![Mechanism::ScramSha256];
    let config = ClientConfig {
        tls: TlsMode::RequiredStartTls,
        auth: Some(auth),
        ..opportunistic()
    };
    let err = connect(pf.submission_addr(), config).await.unwrap_err();
    assert_eq!(err.command(), Some(Command::Auth), "{err:?}");
    let reply = err.reply().unwrap_or_else(|| panic!("no reply in {err:?}"));
    assert_eq!(reply.code, 535);
    assert_eq!(err.enhanced_code(), Some("5.7.8".parse().unwrap()));
    assert!(err.is_permanent());
}

#[tokio::test]
#[ignore = "needs postfix and dovecot; run by .ci/run"]
async fn implicit_tls_on_the_submissions_port_authenticates_and_delivers() {
    let pf = Postfix::start();
    let mut auth = AuthConfig::new("alice", "secret");
    auth.options.allowed = vec![Mechanism::Plain];
    let config = ClientConfig {
        tls: TlsMode::Immediate,
        auth: Some(auth),
        ..opportunistic()
    };
    let mut client = connect(pf.submissions_addr(), config).await.unwrap();
    assert!(client.tls().is_some());
    assert!(!client.extensions().starttls);
    assert_eq!(client.authenticated(), Some(Mechanism::Plain));
    let env = Envelope::new(Some(addr("alice@example.org")), vec![addr("x@example.com")]);
    let d = client.deliver(&env, MESSAGE).await.unwrap();
    client.quit().await.unwrap();

    let log = pf.wait_delivered(&queue_id(&d));
    assert!(
        log.iter()
            .any(|l| l.contains("sasl_method=PLAIN, sasl_username=alice")),
        "{log:?}"
    );
    // No STARTTLS command: the session was encrypted from the start.
    let all = pf.maillog();
    assert!(
        all.contains("ehlo=1 auth=1 mail=1 rcpt=1 bdat=1 quit=1"),
        "{all}"
    );
}
