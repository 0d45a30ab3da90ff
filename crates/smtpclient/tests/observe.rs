//! Metrics and the protocol trace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use smtp::{Command, EnhancedCode};
use smtpclient::{ClientConfig, Metrics, TlsOutcome};

#[derive(Default)]
struct Recorder {
    commands: Mutex<Vec<(Command, u16, Option<String>)>>,
    tls: Mutex<Vec<TlsOutcome>>,
}

impl Metrics for Recorder {
    fn command(
        &self,
        command: Command,
        code: u16,
        enhanced: Option<EnhancedCode>,
        _took: Duration,
    ) {
        self.commands
            .lock()
            .unwrap()
            .push((command, code, enhanced.map(|e| e.to_string())));
    }

    fn tls(&self, outcome: TlsOutcome) {
        self.tls.lock().unwrap().push(outcome);
    }
}

#[tokio::test]
async fn metrics_get_every_command_with_code_and_enhanced_code() {
    let recorder = Arc::new(Recorder::default());
    let script = hello("250-mx.example\n250-PIPELINING\n250-STARTTLS\n250 ENHANCEDSTATUSCODES")
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("250 2.1.0 ok\n250 2.1.5 ok\n354 go")
        .read_data(b"x\r\n.\r\n")
        .send("250 2.0.0 ok")
        .expect("QUIT")
        .send("221 2.0.0 bye");
    let cfg = ClientConfig {
        metrics: recorder.clone(),
        tls: smtpclient::TlsMode::Skip,
        ..config()
    };
    let (client, server) = connect(script, cfg).await;
    let mut client = client.unwrap();
    client
        .deliver(&envelope("a@example.org", &["b@example.com"]), b"x")
        .await
        .unwrap();
    client.quit().await.unwrap();
    server.finish().await;
    let got = recorder.commands.lock().unwrap().clone();
    let s = |e: &str| Some(e.to_string());
    assert_eq!(
        got,
        vec![
            (Command::Greeting, 220, None),
            (Command::Ehlo, 250, None),
            (Command::MailFrom, 250, s("2.1.0")),
            (Command::RcptTo, 250, s("2.1.5")),
            (Command::Data, 354, None),
            (Command::Data, 250, s("2.0.0")),
            (Command::Quit, 221, s("2.0.0")),
        ]
    );
    assert!(recorder.tls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn tls_not_offered_is_reported_to_metrics() {
    let recorder = Arc::new(Recorder::default());
    let script = hello(EHLO_PLAIN).expect("QUIT").send("221 bye");
    let cfg = ClientConfig {
        metrics: recorder.clone(),
        tls: smtpclient::TlsMode::Opportunistic {
            plaintext_fallback_allowed: false,
        },
        ..config()
    };
    let (client, server) = connect(script, cfg).await;
    client.unwrap().quit().await.unwrap();
    server.finish().await;
    assert_eq!(*recorder.tls.lock().unwrap(), vec![TlsOutcome::NotOffered]);
}
