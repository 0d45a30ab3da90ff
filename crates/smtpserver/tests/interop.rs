//! Other clients against the engine: our smtpclient crate, and swaks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use sasl::Mechanism;
use smtpclient::{AuthConfig, Client, ClientConfig, Envelope, TlsMode, Verification};
use smtpserver::{Metrics, Mode};
use testkit::tls::TestCa;

/// Records commands, TLS handshakes and AUTH results.
#[derive(Default)]
struct Recorder {
    commands: Mutex<Vec<(String, u16)>>,
    tls: Mutex<Vec<bool>>,
    auth: Mutex<Vec<(String, bool)>>,
    messages: Mutex<Vec<u16>>,
}

impl Metrics for Recorder {
    fn command(&self, verb: &str, code: u16) {
        self.commands.lock().unwrap().push((verb.to_string(), code));
    }
    fn tls_handshake(&self, ok: bool) {
        self.tls.lock().unwrap().push(ok);
    }
    fn auth(&self, mechanism: &str, ok: bool) {
        self.auth.lock().unwrap().push((mechanism.to_string(), ok));
    }
    fn message(&self, code: u16, _size: u64) {
        self.messages.lock().unwrap().push(code);
    }
}

#[tokio::test]
async fn smtpclient_delivers_with_pipelining_chunking_starttls_and_scram_plus() {
    let ca = TestCa::new();
    let mut config = config(Mode::Submission);
    config.tls = Some(tls_settings(&ca));
    let handler = Arc::new(TestHandler {
        credentials: Some(Arc::new(Accounts::new())),
        ..TestHandler::default()
    });
    let recorder = Arc::new(Recorder::default());
    let server = server(config, handler.clone()).with_metrics(recorder.clone());
    let (client_end, server_end) = tokio::io::duplex(1 << 20);
    let task = tokio::spawn(async move { server.serve(server_end, peer()).await });

    let client_config = ClientConfig {
        ehlo_name: "client.example".into(),
        tls: TlsMode::RequiredStartTls,
        verification: Verification::WebPki {
            roots: Arc::new(ca.root_store()),
        },
        server_name: Some("mail.example.org".into()),
        auth: Some(AuthConfig::new("alice", PASSWORD)),
        ..ClientConfig::default()
    };
    let mut client = Client::connect(Box::new(client_end), client_config)
        .await
        .unwrap();
    assert_eq!(client.authenticated(), Some(Mechanism::ScramSha256Plus));
    assert!(client.extensions().pipelining);
    assert!(client.extensions().chunking);
    assert!(client.extensions().requiretls);
    let mut envelope = Envelope::new(
        Some("alice@example.org".parse().unwrap()),
        vec![
            "one@example.com".parse().unwrap(),
            "two@example.com".parse().unwrap(),
        ],
    );
    envelope.require_tls = true;
    envelope.envid = Some("env-1".into());
    let delivery = client
        .deliver(&envelope, b"Subject: interop\n\n.leading dot\n")
        .await
        .unwrap();
    assert_eq!(delivery.delivered(), 2);
    client.quit().await.unwrap();
    task.await.unwrap().unwrap();

    let (session, message) = handler.messages().remove(0);
    assert_eq!(session.identity.unwrap().account, "alice");
    assert_eq!(message.data, b"Subject: interop\r\n\r\n.leading dot\r\n");
    assert!(message.envelope.params.requiretls);
    assert_eq!(message.envelope.params.envid.as_deref(), Some("env-1"));
    assert!(message.received.contains("with ESMTPSA (requiretls) id"));

    let verbs: Vec<String> = recorder
        .commands
        .lock()
        .unwrap()
        .iter()
        .map(|(verb, code)| format!("{verb} {code}"))
        .collect();
    assert_eq!(
        verbs,
        [
            " 220",
            "EHLO 250",
            "STARTTLS 220",
            "EHLO 250",
            "AUTH 235",
            "MAIL 250",
            "RCPT 250",
            "RCPT 250",
            "BDAT 250",
            "QUIT 221"
        ]
    );
    assert_eq!(*recorder.tls.lock().unwrap(), [true]);
    assert_eq!(
        *recorder.auth.lock().unwrap(),
        [("SCRAM-SHA-256-PLUS".to_string(), true)]
    );
    assert_eq!(*recorder.messages.lock().unwrap(), [250]);
}

#[tokio::test]
#[ignore = "needs swaks; run by .ci/run"]
async fn swaks_submits_over_starttls_with_auth_plain() {
    let ca = TestCa::new();
    let mut config = config(Mode::Submission);
    config.tls = Some(tls_settings(&ca));
    let handler = Arc::new(TestHandler {
        credentials: Some(Arc::new(Accounts::new())),
        ..TestHandler::default()
    });
    let server = Arc::new(server(config, handler.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept = {
        let server = server.clone();
        tokio::spawn(async move { server.run(listener, false).await })
    };
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("swaks")
            .args([
                "--server",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--ehlo",
                "client.example",
                "--tls",
                "--auth",
                "PLAIN",
                "--auth-user",
                "alice",
                "--auth-password",
                PASSWORD,
                "--from",
                "alice@example.org",
                "--to",
                "rcpt@example.com",
                "--header",
                "Subject: via swaks",
                "--body",
                "Hello from swaks.",
            ])
            .output()
            .expect("run swaks")
    })
    .await
    .unwrap();
    accept.abort();
    let transcript = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{transcript}");
    assert!(
        transcript.contains("<~  235 2.7.0 authentication successful"),
        "{transcript}"
    );
    assert!(
        transcript.contains("<~  250 2.0.0 queued as 1"),
        "{transcript}"
    );
    let (session, message) = handler.messages().remove(0);
    assert_eq!(session.identity.unwrap().account, "alice");
    assert_eq!(session.tls.unwrap().version, "TLS1.3");
    let data = String::from_utf8(message.data).unwrap();
    assert!(data.contains("Subject: via swaks\r\n"), "{data}");
    assert!(data.contains("\r\n\r\nHello from swaks.\r\n"), "{data}");
    assert!(
        message
            .received
            .starts_with("Received: from client.example ([127.0.0.1])")
    );
    assert!(
        message.received.contains(" with ESMTPSA id "),
        "{}",
        message.received
    );
    assert!(
        message.received.contains("<rcpt@example.com>;"),
        "{}",
        message.received
    );
}
