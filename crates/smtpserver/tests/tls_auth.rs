//! STARTTLS, implicit TLS, REQUIRETLS and AUTH, on the wire.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use sasl::{
    ChannelBindingType, ChannelBindings, Client, ClientOptions, Credentials, Mechanism,
    SessionInfo, tls_server_end_point,
};
use smtpserver::{Mode, ServeError, Server, ServerConfig};
use testkit::tls::TestCa;

fn tls_config(ca: &TestCa) -> ServerConfig {
    let mut config = config(Mode::Submission);
    config.tls = Some(tls_settings(ca));
    config
}

fn auth_handler() -> Arc<TestHandler> {
    Arc::new(TestHandler {
        credentials: Some(Arc::new(Accounts::new())),
        ..TestHandler::default()
    })
}

const EHLO_TLS: &str = "250-mail.example.org\r\n\
250-PIPELINING\r\n\
250-SIZE 104857600\r\n\
250-8BITMIME\r\n\
250-SMTPUTF8\r\n\
250-ENHANCEDSTATUSCODES\r\n\
250-REQUIRETLS\r\n\
250-AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN\r\n\
250-FUTURERELEASE 5184000 2027-01-24T11:56:40Z\r\n\
250-LIMITS RCPTMAX=1000\r\n\
250-DSN\r\n\
250 CHUNKING\r\n";

/// Connects, runs STARTTLS and a second EHLO; returns the TLS wire.
async fn starttls_session(
    server: Server<TestHandler>,
    ca: &TestCa,
) -> (TlsWire, tokio::task::JoinHandle<Result<(), ServeError>>) {
    let (mut wire, task) = start(server);
    wire.expect(GREETING).await;
    wire.send("EHLO client.example\r\n").await;
    let ehlo = wire.reply().await;
    assert!(ehlo.contains("250-STARTTLS\r\n"), "{ehlo}");
    wire.send("STARTTLS\r\n").await;
    wire.expect("220 2.0.0 ready to start TLS\r\n").await;
    let tls = wire.starttls(&client_tls(ca)).await;
    (tls, task)
}

#[tokio::test]
async fn starttls_changes_ehlo_to_requiretls_and_plaintext_auth_mechanisms() {
    let ca = TestCa::new();
    let (mut wire, _task) = start(server(tls_config(&ca), auth_handler()));
    wire.expect(GREETING).await;
    wire.send("EHLO client.example\r\n").await;
    wire.expect(&EHLO_PLAIN_SUBMISSION.replace(
        "250-ENHANCEDSTATUSCODES\r\n",
        "250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n",
    ))
    .await;
    wire.send("STARTTLS\r\n").await;
    wire.expect("220 2.0.0 ready to start TLS\r\n").await;
    let mut wire = wire.starttls(&client_tls(&ca)).await.into_wire();
    // RFC 3207: the client must EHLO again; state from before TLS is gone.
    wire.send("MAIL FROM:<a@example.org>\r\nEHLO client.example\r\nSTARTTLS\r\n")
        .await;
    wire.expect("503 5.5.1 send EHLO or HELO first\r\n").await;
    wire.expect(EHLO_TLS).await;
    wire.expect("503 5.5.1 already using TLS\r\n").await;
}

#[tokio::test]
async fn plaintext_pipelined_after_starttls_is_discarded() {
    let ca = TestCa::new();
    let handler = Arc::new(TestHandler {
        trusted: trusted(),
        ..TestHandler::default()
    });
    let (mut wire, _task) = start(server(tls_config(&ca), handler.clone()));
    wire.expect(GREETING).await;
    wire.send("EHLO client.example\r\n").await;
    wire.reply().await;
    // An attacker appends commands to the plaintext STARTTLS (CVE-2011-0411).
    wire.send("STARTTLS\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.com>\r\n")
        .await;
    wire.expect("220 2.0.0 ready to start TLS\r\n").await;
    let mut wire = wire.starttls(&client_tls(&ca)).await.into_wire();
    wire.send("EHLO client.example\r\nRCPT TO:<b@example.com>\r\n")
        .await;
    wire.expect(EHLO_TLS).await;
    // No transaction exists: the injected MAIL was never executed.
    wire.expect("503 5.5.1 send MAIL first\r\n").await;
}

#[tokio::test]
async fn requiretls_on_tls_gets_the_received_comment() {
    let ca = TestCa::new();
    let handler = Arc::new(TestHandler {
        trusted: trusted(),
        ..TestHandler::default()
    });
    let (tls, _task) = starttls_session(server(tls_config(&ca), handler.clone()), &ca).await;
    let mut wire = tls.into_wire();
    wire.send("EHLO client.example\r\n").await;
    wire.expect(EHLO_TLS).await;
    wire.send(
        "MAIL FROM:<a@example.org> REQUIRETLS\r\nRCPT TO:<b@example.com>\r\nBDAT 3 LAST\r\nx\r\n",
    )
    .await;
    wire.expect("250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n250 2.0.0 queued as 1\r\n")
        .await;
    let (session, message) = handler.messages().remove(0);
    let tls = session.tls.unwrap();
    assert_eq!(tls.version, "TLS1.3");
    assert!(!tls.implicit);
    assert_eq!(tls.server_name.as_deref(), Some("mail.example.org"));
    assert!(message.envelope.params.requiretls);
    assert_eq!(tls.cipher, "TLS_AES_256_GCM_SHA384");
    assert_eq!(
        message.received,
        "Received: from client.example ([192.0.2.10]) by mail.example.org ([192.0.2.1])\r\n\
         \tvia tcp with ESMTPS (requiretls) id id2 (TLS1.3 TLS_AES_256_GCM_SHA384) for\r\n\
         \t<b@example.com>; Wed, 25 Nov 2026 11:56:40 +0000\r\n"
    );
}

#[tokio::test]
async fn implicit_tls_greets_after_handshake() {
    let ca = TestCa::new();
    let handler = Arc::new(TestHandler {
        trusted: trusted(),
        ..TestHandler::default()
    });
    let server = server(tls_config(&ca), handler.clone());
    let (client, stream) = tokio::io::duplex(1 << 20);
    let _task = tokio::spawn(async move { server.serve_implicit_tls(stream, peer()).await });
    let wire = Wire {
        stream: Box::new(client),
    };
    let mut wire = wire.starttls(&client_tls(&ca)).await.into_wire();
    wire.expect(GREETING).await;
    wire.send("EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nBDAT 1 LAST\r\nx")
        .await;
    wire.expect(EHLO_TLS).await;
    wire.expect("250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n250 2.0.0 queued as 1\r\n")
        .await;
    let (session, _) = handler.messages().remove(0);
    assert!(session.tls.unwrap().implicit);
}

/// Runs AUTH with the sasl client for `mechanism` over a fresh STARTTLS
/// session and submits one message.
async fn authenticate_with(mechanism: Mechanism, binding: ChannelBindingType) {
    let ca = TestCa::new();
    let mut config = tls_config(&ca);
    let settings = config.tls.clone().unwrap();
    config.tls = Some(settings.clone());
    let handler = auth_handler();
    let (tls, _task) = starttls_session(server(config, handler.clone()), &ca).await;
    let exporter = tls.exporter();
    let end_point = tls_server_end_point(settings.end_entity_cert.as_deref().unwrap()).unwrap();
    let mut wire = tls.into_wire();
    wire.send("EHLO client.example\r\n").await;
    wire.expect(EHLO_TLS).await;
    let offered: Vec<String> = [
        "SCRAM-SHA-256-PLUS",
        "SCRAM-SHA-256",
        "SCRAM-SHA-1-PLUS",
        "SCRAM-SHA-1",
        "CRAM-MD5",
        "PLAIN",
        "LOGIN",
    ]
    .map(String::from)
    .to_vec();
    let session = SessionInfo::tls(ChannelBindings {
        tls_exporter: Some(exporter),
        tls_server_end_point: Some(end_point),
    });
    let options = ClientOptions {
        channel_binding: binding,
        ..ClientOptions::default()
    };
    let mut client = Client::new(
        mechanism,
        Credentials::new("alice", PASSWORD),
        &options,
        &session,
        &offered,
    )
    .unwrap();
    let mut command = format!("AUTH {}", mechanism.name());
    if let Some(ir) = client.initial_response() {
        command.push(' ');
        command.push_str(&if ir.is_empty() {
            "=".to_string()
        } else {
            BASE64.encode(ir)
        });
    }
    command.push_str("\r\n");
    wire.send(&command).await;
    loop {
        let line = wire.line().await;
        if let Some(challenge) = line.strip_prefix("334 ") {
            let challenge = BASE64.decode(challenge.trim_end()).unwrap();
            let step = client.step(&challenge).unwrap();
            wire.send(&format!("{}\r\n", BASE64.encode(step.response())))
                .await;
            continue;
        }
        assert_eq!(
            line, "235 2.7.0 authentication successful\r\n",
            "{mechanism:?}"
        );
        break;
    }
    wire.send("MAIL FROM:<alice@example.org>\r\nRCPT TO:<b@example.com>\r\nBDAT 1 LAST\r\nx")
        .await;
    wire.expect("250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n250 2.0.0 queued as 1\r\n")
        .await;
    let (session, message) = handler.messages().remove(0);
    let identity = session.identity.unwrap();
    assert_eq!(identity.account, "alice");
    assert_eq!(identity.login.as_deref(), Some("alice"));
    assert!(
        message.received.contains(" with ESMTPSA id id2 "),
        "{}",
        message.received
    );
}

#[tokio::test]
async fn auth_plain_succeeds() {
    authenticate_with(Mechanism::Plain, ChannelBindingType::TlsExporter).await;
}

#[tokio::test]
async fn auth_login_succeeds() {
    authenticate_with(Mechanism::Login, ChannelBindingType::TlsExporter).await;
}

#[tokio::test]
async fn auth_cram_md5_succeeds() {
    authenticate_with(Mechanism::CramMd5, ChannelBindingType::TlsExporter).await;
}

#[tokio::test]
async fn auth_scram_sha1_succeeds() {
    authenticate_with(Mechanism::ScramSha1, ChannelBindingType::TlsExporter).await;
}

#[tokio::test]
async fn auth_scram_sha256_succeeds() {
    authenticate_with(Mechanism::ScramSha256, ChannelBindingType::TlsExporter).await;
}

#[tokio::test]
async fn auth_scram_sha1_plus_tls_exporter_succeeds() {
    authenticate_with(Mechanism::ScramSha1Plus, ChannelBindingType::TlsExporter).await;
}

#[tokio::test]
async fn auth_scram_sha256_plus_tls_exporter_succeeds() {
    authenticate_with(Mechanism::ScramSha256Plus, ChannelBindingType::TlsExporter).await;
}

#[tokio::test]
async fn auth_scram_sha256_plus_tls_server_end_point_succeeds() {
    authenticate_with(
        Mechanism::ScramSha256Plus,
        ChannelBindingType::TlsServerEndPoint,
    )
    .await;
}

fn plain(user: &str, password: &str) -> String {
    BASE64.encode(format!("\0{user}\0{password}"))
}

#[tokio::test]
async fn auth_errors_on_the_wire() {
    let ca = TestCa::new();
    let mut config = tls_config(&ca);
    config.max_auth_failures = 2;
    let handler = auth_handler();
    let (mut wire, task) = start(server(config, handler.clone()));
    wire.expect(GREETING).await;
    wire.send("AUTH PLAIN =\r\nEHLO client.example\r\n").await;
    wire.expect("503 5.5.1 send EHLO first\r\n").await;
    wire.reply().await;
    // PLAIN without TLS.
    wire.send(&format!("AUTH PLAIN {}\r\n", plain("alice", PASSWORD)))
        .await;
    wire.expect("538 5.7.11 encryption required for requested authentication mechanism\r\n")
        .await;
    wire.send("STARTTLS\r\n").await;
    wire.expect("220 2.0.0 ready to start TLS\r\n").await;
    let mut wire = wire.starttls(&client_tls(&ca)).await.into_wire();
    wire.send("EHLO client.example\r\n").await;
    wire.reply().await;
    wire.send("AUTH FOO\r\nAUTH PLAIN =\r\nAUTH PLAIN !!!\r\nAUTH LOGIN\r\n")
        .await;
    wire.expect(
        "504 5.5.4 unrecognized authentication mechanism\r\n\
         501 5.5.2 malformed authentication exchange\r\n\
         501 5.5.2 initial response is not base64\r\n\
         334 VXNlcm5hbWU6\r\n",
    )
    .await;
    wire.send("*\r\n").await;
    wire.expect("501 5.0.0 authentication aborted\r\n").await;
    wire.send(&format!("AUTH PLAIN {}\r\n", plain("alice", "wrong")))
        .await;
    wire.expect("535 5.7.8 authentication credentials invalid\r\n")
        .await;
    wire.send("AUTH LOGIN\r\n").await;
    wire.expect("334 VXNlcm5hbWU6\r\n").await;
    wire.send(&format!("{}\r\n", BASE64.encode("mallory")))
        .await;
    wire.expect("334 UGFzc3dvcmQ6\r\n").await;
    wire.send(&format!("{}\r\n", BASE64.encode("guess"))).await;
    wire.expect(
        "535 5.7.8 authentication credentials invalid\r\n\
         421 4.7.0 too many authentication failures\r\n",
    )
    .await;
    wire.expect_closed().await;
    assert!(matches!(
        task.await.unwrap(),
        Err(ServeError::Dropped { .. })
    ));
    assert_eq!(
        handler.auth_failures(),
        [
            ("PLAIN".to_string(), Some("alice".to_string())),
            ("LOGIN".to_string(), Some("mallory".to_string()))
        ]
    );
}

#[tokio::test]
async fn second_auth_and_auth_in_transaction_are_503() {
    let ca = TestCa::new();
    let handler = auth_handler();
    let (tls, _task) = starttls_session(server(tls_config(&ca), handler), &ca).await;
    let mut wire = tls.into_wire();
    wire.send("EHLO client.example\r\n").await;
    wire.reply().await;
    wire.send(&format!("AUTH PLAIN {}\r\n", plain("alice", PASSWORD)))
        .await;
    wire.expect("235 2.7.0 authentication successful\r\n").await;
    wire.send("EHLO client.example\r\n").await;
    let ehlo = wire.reply().await;
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    wire.send(&format!(
        "AUTH PLAIN {}\r\nMAIL FROM:<alice@example.org>\r\n",
        plain("alice", PASSWORD)
    ))
    .await;
    wire.expect("503 5.5.1 already authenticated\r\n250 2.1.0 sender ok\r\n")
        .await;
}

#[tokio::test]
async fn auth_without_credentials_from_handler_is_454() {
    let ca = TestCa::new();
    let handler = Arc::new(TestHandler::default());
    let (tls, _task) = starttls_session(server(tls_config(&ca), handler), &ca).await;
    let mut wire = tls.into_wire();
    wire.send("EHLO client.example\r\n").await;
    wire.reply().await;
    wire.send(&format!("AUTH PLAIN {}\r\n", plain("alice", PASSWORD)))
        .await;
    wire.expect("454 4.7.0 no credentials\r\n").await;
}

#[tokio::test]
async fn failed_tls_handshake_ends_the_session_with_an_error() {
    let ca = TestCa::new();
    let (mut wire, task) = start(server(tls_config(&ca), auth_handler()));
    wire.expect(GREETING).await;
    wire.send("EHLO client.example\r\n").await;
    wire.reply().await;
    wire.send("STARTTLS\r\n").await;
    wire.expect("220 2.0.0 ready to start TLS\r\n").await;
    wire.send("this is not a TLS client hello\r\n").await;
    let result = task.await.unwrap();
    assert!(matches!(result, Err(ServeError::Tls(_))), "{result:?}");
}
