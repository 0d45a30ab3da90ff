//! Session setup: greeting, EHLO/HELO, error cases, QUIT.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use smtp::Command;
use smtpclient::{CertCheck, Error, TlsMode};
use testkit::script::Script;

#[tokio::test]
async fn greeting_and_ehlo_give_extensions() {
    let script = hello(EHLO_ALL).expect("QUIT").send("221 bye");
    let (client, server) = connect(script, config()).await;
    let client = client.unwrap();
    assert_eq!(client.greeting(), "mx.example ESMTP");
    let ext = client.extensions();
    assert!(ext.pipelining && ext.eight_bit_mime && ext.smtputf8 && ext.chunking && ext.dsn);
    assert_eq!(ext.size, Some(100000));
    assert_eq!(client.cert_check(), CertCheck::None);
    assert!(client.tls().is_none());
    client.quit().await.unwrap();
    let t = server.finish().await;
    assert_eq!(t.client_text(), "EHLO client.example\r\nQUIT\r\n");
}

#[tokio::test]
async fn ehlo_rejected_with_502_falls_back_to_helo() {
    let script = Script::new()
        .send("220 old.example")
        .expect(EHLO_LINE)
        .send("502 command not implemented")
        .expect("HELO client.example")
        .send("250 old.example")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let client = client.unwrap();
    assert!(!client.extensions().pipelining);
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn ehlo_rejected_with_550_is_an_error_without_helo() {
    let script = Script::new()
        .send("220 mx.example")
        .expect(EHLO_LINE)
        .send("550 go away")
        .expect_closed();
    let (client, server) = connect(script, config()).await;
    let err = client.unwrap_err();
    assert_eq!(err.command(), Some(Command::Ehlo));
    assert_eq!(err.reply().unwrap().code, 550);
    assert!(err.is_permanent());
    server.finish().await;
}

#[tokio::test]
async fn greeting_554_then_close_is_permanent() {
    let script = Script::new().send("554 5.7.1 no service for you").close();
    let (client, server) = connect(script, config()).await;
    let err = client.unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert_eq!(err.command(), Some(Command::Greeting));
    assert_eq!(
        err.reply().unwrap().lines,
        vec!["5.7.1 no service for you".to_string()]
    );
    server.finish().await;
}

#[tokio::test]
async fn greeting_421_is_temporary() {
    let script = Script::new().send("421 busy, try later").close();
    let (client, server) = connect(script, config()).await;
    let err = client.unwrap_err();
    assert!(!err.is_permanent());
    assert_eq!(err.reply().unwrap().code, 421);
    server.finish().await;
}

#[tokio::test]
async fn greeting_with_other_2xx_code_is_a_protocol_error() {
    let script = Script::new().send("250 hello").expect_closed();
    let (client, server) = connect(script, config()).await;
    let err = client.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol {
                command: Command::Greeting,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_permanent());
    server.finish().await;
}

#[tokio::test]
async fn immediate_close_is_a_closed_error() {
    let script = Script::new().close();
    let (client, server) = connect(script, config()).await;
    let err = client.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Closed {
                command: Command::Greeting
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_permanent());
    server.finish().await;
}

#[tokio::test]
async fn non_smtp_server_is_a_protocol_error() {
    let script = Script::new()
        .send("SSH-2.0-OpenSSH_9.2p1 Debian-2")
        .expect_closed();
    let (client, server) = connect(script, config()).await;
    let err = client.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol {
                command: Command::Greeting,
                ..
            }
        ),
        "{err:?}"
    );
    server.finish().await;
}

#[tokio::test]
async fn bad_reply_code_is_a_protocol_error() {
    let script = Script::new().send("2200 mx.example").expect_closed();
    let (client, server) = connect(script, config()).await;
    let err = client.unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    server.finish().await;
}

#[tokio::test]
async fn multiline_reply_with_different_codes_is_a_protocol_error() {
    let script = Script::new()
        .send("220 mx.example")
        .expect(EHLO_LINE)
        .send("250-mx.example\n251 PIPELINING")
        .expect_closed();
    let (client, server) = connect(script, config()).await;
    let err = client.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol {
                command: Command::Ehlo,
                ..
            }
        ),
        "{err:?}"
    );
    server.finish().await;
}

#[tokio::test]
async fn multiline_greeting_is_accepted() {
    let script = Script::new()
        .send("220-mx.example ESMTP\n220 welcome")
        .expect(EHLO_LINE)
        .send(EHLO_PLAIN)
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let client = client.unwrap();
    assert_eq!(client.greeting_reply().lines.len(), 2);
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn skip_mode_does_not_use_announced_starttls() {
    let script = hello("250-mx.example\n250 STARTTLS")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let client = client.unwrap();
    assert!(client.extensions().starttls);
    assert!(client.tls().is_none());
    client.quit().await.unwrap();
    assert_eq!(
        server.finish().await.client_text(),
        "EHLO client.example\r\nQUIT\r\n"
    );
}

#[tokio::test]
async fn required_starttls_not_announced_is_sent_and_its_refusal_is_unsupported() {
    let script = hello(EHLO_PLAIN)
        .expect("STARTTLS")
        .send("502 5.5.1 not implemented")
        .expect_closed();
    let cfg = smtpclient::ClientConfig {
        tls: TlsMode::RequiredStartTls,
        ..config()
    };
    let (client, server) = connect(script, cfg).await;
    let err = client.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unsupported {
                requirement: smtpclient::Requirement::StartTls
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_permanent());
    server.finish().await;
}

#[tokio::test]
async fn opportunistic_without_starttls_continues_in_plaintext() {
    let script = hello(EHLO_PLAIN).expect("QUIT").send("221 bye");
    let cfg = smtpclient::ClientConfig {
        tls: TlsMode::Opportunistic {
            plaintext_fallback_allowed: false,
        },
        ..config()
    };
    let (client, server) = connect(script, cfg).await;
    let client = client.unwrap();
    assert!(client.tls().is_none());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn noop_checks_the_connection() {
    let script = hello(EHLO_PLAIN)
        .expect("NOOP")
        .send("250 2.0.0 ok")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    client.noop().await.unwrap();
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test(start_paused = true)]
async fn greeting_timeout_is_reported_with_the_command() {
    let script = Script::new().hang();
    let mut cfg = config();
    cfg.timeouts.greeting = std::time::Duration::from_secs(300);
    let (client, server) = connect(script, cfg).await;
    let err = client.unwrap_err();
    match err {
        Error::Timeout { command, timeout } => {
            assert_eq!(command, Command::Greeting);
            assert_eq!(timeout, std::time::Duration::from_secs(300));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    server.finish().await;
}

#[tokio::test(start_paused = true)]
async fn quit_waits_at_most_the_quit_timeout() {
    let script = hello(EHLO_PLAIN).expect("QUIT").hang();
    let (client, server) = connect(script, config()).await;
    let err = client.unwrap().quit().await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { command: Command::Quit, timeout } if timeout == std::time::Duration::from_secs(5)),
        "{err:?}"
    );
    server.finish().await;
}

#[test]
fn client_and_its_futures_can_move_between_threads() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_sync<T: Sync>() {}
    assert_sync::<smtpclient::ClientConfig>();
    let (stream, _server) = tokio::io::duplex(64);
    let connect = smtpclient::Client::connect(Box::new(stream), config());
    assert_send(&connect);
    async fn use_client(mut client: smtpclient::Client, env: smtpclient::Envelope) {
        let _ = client.deliver(&env, b"x").await;
        let _ = client.quit().await;
    }
    fn check<F: std::future::Future + Send>(_: fn(smtpclient::Client, smtpclient::Envelope) -> F) {}
    check(use_client);
}

#[tokio::test]
async fn endless_line_is_a_protocol_error_not_unbounded_buffering() {
    let script = Script::new().send_raw(&vec![b'2'; 10_000]).hang();
    let (client, server) = connect(script, config()).await;
    let err = client.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol {
                command: Command::Greeting,
                ..
            }
        ),
        "{err:?}"
    );
    server.finish().await;
}

#[tokio::test]
async fn plaintext_sent_after_starttls_reply_is_refused() {
    // Command injection (CVE-2011-0411 style): bytes after the 220 would be
    // read as if they came over TLS.
    let script = hello(STARTTLS_ANNOUNCED)
        .expect("STARTTLS")
        .send("220 ready\n250 injected")
        .expect_closed();
    let cfg = smtpclient::ClientConfig {
        tls: TlsMode::RequiredStartTls,
        ..config()
    };
    let (client, server) = connect(script, cfg).await;
    let err = client.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol {
                command: Command::StartTls,
                ..
            }
        ),
        "{err:?}"
    );
    server.finish().await;
}

const STARTTLS_ANNOUNCED: &str = "250-mx.example\n250 STARTTLS";
