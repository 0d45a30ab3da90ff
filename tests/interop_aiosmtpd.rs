//! The client against aiosmtpd with the independent `scramp` SCRAM server: the -PLUS
//! mechanisms with channel binding `tls-server-end-point`, per-recipient results in one
//! transaction, SMTPUTF8, and DSN parameters held back from a server without DSN.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sasl::{ChannelBindingType, Mechanism};
use smtp::{Address, Command, Notify, OriginalRecipient, Ret};
use smtpclient::dial::{Dialer, TcpDialer};
use smtpclient::{AuthConfig, Client, ClientConfig, Envelope, Error, RecipientOutcome, TlsMode};
use support::Aiosmtpd;

const MESSAGE: &[u8] = b"From: <alice@example.org>\r\nTo: <b@example.net>\r\nSubject: scram\r\n\r\nhello aiosmtpd\r\n..dot\r\n";

fn addr(s: &str) -> Address {
    s.parse().unwrap()
}

fn config(auth: Option<AuthConfig>) -> ClientConfig {
    ClientConfig {
        ehlo_name: "client.postel.test".into(),
        tls: TlsMode::RequiredStartTls,
        auth,
        ..ClientConfig::default()
    }
}

async fn connect(server: &Aiosmtpd, config: ClientConfig) -> Result<Client, Error> {
    let stream = TcpDialer::new().dial(server.addr()).await.unwrap();
    Client::connect(stream, config).await
}

/// AUTH with only `mechanism` allowed and tls-server-end-point binding, then a delivery
/// that aiosmtpd records with the authenticated user.
async fn plus_with_server_end_point(mechanism: Mechanism) {
    let server = Aiosmtpd::start(&[]);
    let mut auth = AuthConfig::new("alice", "secret");
    auth.options.allowed = vec![mechanism];
    auth.options.channel_binding = ChannelBindingType::TlsServerEndPoint;
    let mut client = connect(&server, config(Some(auth))).await.unwrap();
    assert_eq!(client.authenticated(), Some(mechanism));
    assert!(
        client
            .extensions()
            .auth
            .iter()
            .any(|m| m == "SCRAM-SHA-256-PLUS")
    );

    let env = Envelope::new(Some(addr("alice@example.org")), vec![addr("b@example.net")]);
    let d = client.deliver(&env, MESSAGE).await.unwrap();
    client.quit().await.unwrap();
    assert_eq!(d.delivered(), 1);

    let event = server.next_event();
    assert_eq!(event["auth"], "alice");
    assert_eq!(event["tls"], true);
    assert_eq!(event["mail_from"], "alice@example.org");
    assert_eq!(event["rcpt_tos"], serde_json::json!(["b@example.net"]));
    // The "..dot" line went out stuffed as "...dot" and was stored unstuffed.
    assert_eq!(server.message(1), MESSAGE);
}

#[tokio::test]
#[ignore = "needs the python venv with aiosmtpd and scramp; run by .ci/run"]
async fn scram_sha_256_plus_with_tls_server_end_point_authenticates() {
    plus_with_server_end_point(Mechanism::ScramSha256Plus).await;
}

#[tokio::test]
#[ignore = "needs the python venv with aiosmtpd and scramp; run by .ci/run"]
async fn scram_sha_1_plus_with_tls_server_end_point_authenticates() {
    plus_with_server_end_point(Mechanism::ScramSha1Plus).await;
}

#[tokio::test]
#[ignore = "needs the python venv with aiosmtpd and scramp; run by .ci/run"]
async fn scram_plus_with_a_wrong_password_is_a_permanent_535() {
    let server = Aiosmtpd::start(&[]);
    let mut auth = AuthConfig::new("alice", "wrong");
    auth.options.allowed = vec![Mechanism::ScramSha256Plus];
    auth.options.channel_binding = ChannelBindingType::TlsServerEndPoint;
    let err = connect(&server, config(Some(auth))).await.unwrap_err();
    assert_eq!(err.command(), Some(Command::Auth), "{err:?}");
    assert_eq!(err.reply().map(|r| r.code), Some(535), "{err:?}");
    assert!(err.is_permanent());
}

#[tokio::test]
#[ignore = "needs the python venv with aiosmtpd and scramp; run by .ci/run"]
async fn dsn_parameters_are_not_sent_to_a_server_without_dsn() {
    let server = Aiosmtpd::start(&[]);
    let mut client = connect(&server, config(None)).await.unwrap();
    assert!(!client.extensions().dsn);
    let mut env = Envelope::new(Some(addr("a@example.org")), vec![addr("b@example.net")]);
    env.ret = Some(Ret::Full);
    env.envid = Some("e1".into());
    env.recipients[0].notify = Some(Notify::new(true, false, false));
    env.recipients[0].orcpt = Some(OriginalRecipient::for_address(&addr("b@example.net")));
    // aiosmtpd answers 555 to RET/ENVID/NOTIFY/ORCPT: delivery proves none was sent.
    let d = client.deliver(&env, MESSAGE).await.unwrap();
    client.quit().await.unwrap();
    assert_eq!(d.delivered(), 1, "{d:?}");
    assert!(d.dsn_params_dropped);

    let event = server.next_event();
    let size = format!("SIZE={}", MESSAGE.len());
    assert_eq!(
        event["mail_options"],
        serde_json::json!([size, "BODY=7BIT"])
    );
}

#[tokio::test]
#[ignore = "needs the python venv with aiosmtpd and scramp; run by .ci/run"]
async fn mixed_recipient_replies_give_exact_per_recipient_results() {
    let server = Aiosmtpd::start(&["--magic-rcpt"]);
    let mut client = connect(&server, config(None)).await.unwrap();
    let env = Envelope::new(
        Some(addr("a@example.org")),
        vec![
            addr("ok1@example.net"),
            addr("reject@example.net"),
            addr("defer@example.net"),
            addr("ok2@example.net"),
        ],
    );
    let d = client.deliver(&env, MESSAGE).await.unwrap();
    client.quit().await.unwrap();

    let summary: Vec<(Command, u16, bool, bool)> = d
        .recipients
        .iter()
        .map(|o| {
            let r = o.response().expect("a reply");
            (r.command, r.code, o.is_delivered(), r.permanent)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Command::Data, 250, true, false),
            (Command::RcptTo, 550, false, true),
            (Command::RcptTo, 451, false, false),
            (Command::Data, 250, true, false),
        ]
    );
    let RecipientOutcome::Failed(rejected) = &d.recipients[1] else {
        unreachable!()
    };
    assert_eq!(rejected.lines, ["5.1.1 Mailbox unavailable"]);
    let event = server.next_event();
    assert_eq!(
        event["rcpt_tos"],
        serde_json::json!(["ok1@example.net", "ok2@example.net"])
    );
}

#[tokio::test]
#[ignore = "needs the python venv with aiosmtpd and scramp; run by .ci/run"]
async fn smtputf8_envelope_is_delivered_with_the_smtputf8_parameter() {
    let server = Aiosmtpd::start(&[]);
    let mut client = connect(&server, config(None)).await.unwrap();
    assert!(client.extensions().smtputf8);
    let env = Envelope::new(Some(addr("jörg@bücher.example")), vec![addr("ü@例え.jp")]);
    let d = client.deliver(&env, MESSAGE).await.unwrap();
    client.quit().await.unwrap();
    assert_eq!(d.delivered(), 1);

    let event = server.next_event();
    assert_eq!(event["smtputf8"], true);
    assert_eq!(event["mail_from"], "jörg@bücher.example");
    assert_eq!(event["rcpt_tos"], serde_json::json!(["ü@例え.jp"]));
}

#[tokio::test]
#[ignore = "needs the python venv with aiosmtpd and scramp; run by .ci/run"]
async fn without_plus_offered_the_client_falls_back_to_scram_sha_256() {
    // --no-plus: the server offers no -PLUS mechanism; the client, able to bind,
    // says so with the "y" GS2 flag, which scramp accepts when it offered no PLUS.
    let server = Aiosmtpd::start(&["--no-plus"]);
    let mut auth = AuthConfig::new("alice", "secret");
    auth.options.channel_binding = ChannelBindingType::TlsServerEndPoint;
    let client = connect(&server, config(Some(auth))).await.unwrap();
    assert!(
        !client
            .extensions()
            .auth
            .iter()
            .any(|m| m.ends_with("-PLUS"))
    );
    assert_eq!(client.authenticated(), Some(Mechanism::ScramSha256));
    client.quit().await.unwrap();
}
