//! The protocol trace: commands and replies at TRACE, credentials and
//! message data never.
//!
//! This test has a binary of its own and installs a global subscriber:
//! tracing caches per-callsite interest and the maximum level process-wide,
//! so a thread-scoped subscriber beside other tests running in parallel
//! threads can miss events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use smtpclient::{AuthConfig, ClientConfig};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn trace_shows_commands_and_replies_but_not_credentials_or_data() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let script = hello("250-mx.example\n250 AUTH PLAIN")
        .expect("AUTH PLAIN AGFsaWNlAHNlY3JldA==")
        .send("235 ok")
        .expect("MAIL FROM:<a@example.org>")
        .send("250 ok")
        .expect("RCPT TO:<b@example.com>")
        .send("250 ok")
        .expect("DATA")
        .send("354 go")
        .read_data(b"top-secret-body\r\n.\r\n")
        .send("250 ok")
        .expect("QUIT")
        .send("221 bye");
    let mut auth = AuthConfig::new("alice", "secret");
    auth.options.plaintext_without_tls = true;
    let cfg = ClientConfig {
        auth: Some(auth),
        ..config()
    };
    let (client, server) = connect(script, cfg).await;
    let mut client = client.unwrap();
    client
        .deliver(
            &envelope("a@example.org", &["b@example.com"]),
            b"top-secret-body",
        )
        .await
        .unwrap();
    client.quit().await.unwrap();
    server.finish().await;

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("LC: AUTH PLAIN ***"), "{log}");
    assert!(log.contains("LC: MAIL FROM:<a@example.org>"), "{log}");
    assert!(log.contains("RS: 250 ok"), "{log}");
    assert!(log.contains("command=mailfrom code=250"), "{log}");
    assert!(!log.contains("AGFsaWNlAHNlY3JldA"), "{log}");
    assert!(!log.contains("top-secret-body"), "{log}");
}
