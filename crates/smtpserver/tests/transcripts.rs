//! Exact wire transcripts of the engine without TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use smtp::{Body, Notify, OriginalRecipient, Ret};
use smtpserver::{Mode, ServeError};

fn submission_with_trusted() -> Arc<TestHandler> {
    Arc::new(TestHandler {
        trusted: trusted(),
        ..TestHandler::default()
    })
}

#[tokio::test]
async fn greeting_ehlo_lists_extensions_and_quit_closes() {
    let handler = Arc::new(TestHandler::default());
    let (mut wire, task) = start(server(config(Mode::Submission), handler));
    wire.expect(GREETING).await;
    wire.send("EHLO client.example\r\n").await;
    wire.expect(EHLO_PLAIN_SUBMISSION).await;
    wire.send("HELO client.example\r\n").await;
    wire.expect("250 mail.example.org\r\n").await;
    wire.send("QUIT\r\n").await;
    wire.expect("221 2.0.0 bye\r\n").await;
    wire.expect_closed().await;
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn inbound_ehlo_has_no_auth_and_limits_show_mailmax() {
    let mut config = config(Mode::Inbound);
    config.max_transactions = Some(2);
    config.announce.future_release = None;
    config.announce.chunking = false;
    let (mut wire, _task) = start(server(config, Arc::new(TestHandler::default())));
    wire.expect(GREETING).await;
    wire.send("EHLO client.example\r\n").await;
    wire.expect(
        "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250-8BITMIME\r\n\
         250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-LIMITS RCPTMAX=1000 MAILMAX=2\r\n250 DSN\r\n",
    )
    .await;
}

#[tokio::test]
async fn pipelined_batch_gets_its_replies_in_one_write() {
    let handler = submission_with_trusted();
    let (mut wire, task, writes) =
        start_recorded(server(config(Mode::Submission), handler.clone()));
    wire.expect(GREETING).await;
    wire.send("EHLO client.example\r\n").await;
    wire.expect(EHLO_PLAIN_SUBMISSION).await;
    let before = writes.lock().unwrap().len();
    wire.send(
        "MAIL FROM:<app@example.org>\r\nRCPT TO:<one@example.com>\r\nRCPT TO:<two@example.com>\r\nDATA\r\n",
    )
    .await;
    let batch = "250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n250 2.1.5 recipient ok\r\n354 go ahead, end with <CRLF>.<CRLF>\r\n";
    wire.expect(batch).await;
    {
        let writes = writes.lock().unwrap();
        assert_eq!(writes.len(), before + 1);
        assert_eq!(String::from_utf8_lossy(&writes[before]), batch);
    }
    wire.send("Subject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n").await;
    wire.expect("250 2.0.0 queued as 1\r\n221 2.0.0 bye\r\n")
        .await;
    task.await.unwrap().unwrap();
    let messages = handler.messages();
    let (_, message) = &messages[0];
    assert_eq!(message.data, b"Subject: x\r\n\r\n.dot\r\n");
    // Two recipients: no "for" clause, so every recipient's copy is identical.
    assert_eq!(
        message.received,
        "Received: from client.example ([192.0.2.10]) by mail.example.org ([192.0.2.1])\r\n\
         \tvia tcp with ESMTP id id2; Wed, 25 Nov 2026 11:56:40 +0000\r\n"
    );
    let recipients: Vec<String> = message
        .envelope
        .recipients
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    assert_eq!(recipients, ["one@example.com", "two@example.com"]);
}

#[tokio::test]
async fn single_recipient_received_header_has_for_clause() {
    let handler = submission_with_trusted();
    let (mut wire, _task) = start(server(config(Mode::Submission), handler.clone()));
    wire.expect(GREETING).await;
    wire.send("HELO client.example\r\nMAIL FROM:<>\r\nRCPT TO:<one@example.com>\r\nDATA\r\n")
        .await;
    wire.expect("250 mail.example.org\r\n250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n354 go ahead, end with <CRLF>.<CRLF>\r\n").await;
    wire.send("x\r\n.\r\n").await;
    wire.expect("250 2.0.0 queued as 1\r\n").await;
    let (session, message) = handler.messages().remove(0);
    assert_eq!(
        message.received,
        "Received: from client.example ([192.0.2.10]) by mail.example.org ([192.0.2.1])\r\n\
         \tvia tcp with SMTP id id2 for <one@example.com>;\r\n\
         \tWed, 25 Nov 2026 11:56:40 +0000\r\n"
    );
    assert_eq!(message.envelope.mail_from, None);
    assert_eq!(session.identity.unwrap().account, "app");
    assert_eq!(
        message.with_received(),
        [message.received.as_bytes(), b"x\r\n"].concat()
    );
}

#[tokio::test]
async fn submission_without_identity_is_refused_530() {
    let handler = Arc::new(TestHandler::default());
    let (mut wire, _task) = start(server(config(Mode::Submission), handler));
    wire.expect(GREETING).await;
    wire.send("HELO c.example\r\nMAIL FROM:<a@example.org>\r\n")
        .await;
    wire.expect("250 mail.example.org\r\n530 5.7.0 authentication required\r\n")
        .await;
}

#[tokio::test]
async fn inbound_relay_attempt_is_refused_by_policy() {
    let handler = Arc::new(TestHandler {
        local_domain: Some("example.org".into()),
        ..TestHandler::default()
    });
    let (mut wire, _task) = start(server(config(Mode::Inbound), handler));
    wire.expect(GREETING).await;
    wire.send("EHLO c.example\r\n").await;
    wire.reply().await;
    wire.send(
        "MAIL FROM:<a@c.example>\r\nRCPT TO:<x@elsewhere.example>\r\nRCPT TO:<me@example.org>\r\n",
    )
    .await;
    wire.expect("250 2.1.0 sender ok\r\n550 5.7.1 relaying denied\r\n250 2.1.5 recipient ok\r\n")
        .await;
}

#[tokio::test]
async fn commands_out_of_sequence_get_503() {
    let handler = submission_with_trusted();
    let (mut wire, _task) = start(server(config(Mode::Submission), handler));
    wire.expect(GREETING).await;
    wire.send("MAIL FROM:<a@example.org>\r\n").await;
    wire.expect("503 5.5.1 send EHLO or HELO first\r\n").await;
    wire.send("EHLO c.example\r\n").await;
    wire.reply().await;
    wire.send("RCPT TO:<b@example.com>\r\nDATA\r\nMAIL FROM:<a@example.org>\r\nMAIL FROM:<a@example.org>\r\nDATA\r\n")
        .await;
    wire.expect(
        "503 5.5.1 send MAIL first\r\n503 5.5.1 send MAIL first\r\n250 2.1.0 sender ok\r\n\
         503 5.5.1 nested MAIL command\r\n554 5.5.1 no valid recipients\r\n",
    )
    .await;
    wire.send("RSET\r\nRCPT TO:<b@example.com>\r\n").await;
    wire.expect("250 2.0.0 reset\r\n503 5.5.1 send MAIL first\r\n")
        .await;
}

#[tokio::test]
async fn syntax_errors_and_polite_refusals() {
    let handler = submission_with_trusted();
    let (mut wire, _task) = start(server(config(Mode::Submission), handler));
    wire.expect(GREETING).await;
    wire.send("EHLO\r\nFOO bar\r\nEHLO c.example\r\n").await;
    wire.expect(
        "501 5.5.4 domain or address literal required\r\n500 5.5.1 unrecognized command\r\n",
    )
    .await;
    wire.reply().await;
    wire.send("VRFY alice\r\nEXPN list\r\nHELP\r\nNOOP\r\n")
        .await;
    wire.expect(
        "252 2.5.0 cannot verify, but will try to deliver\r\n502 5.5.1 EXPN not available\r\n\
         214 2.0.0 commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT\r\n\
         250 2.0.0 ok\r\n",
    )
    .await;
    wire.send("MAIL FROM:<no-at>\r\nMAIL FROM:<a@example.org> FOO=BAR\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<@bad>\r\n")
        .await;
    wire.expect(
        "501 5.1.7 bad sender address: address \"no-at\" has no '@'\r\n\
         555 5.5.4 unsupported parameter FOO\r\n250 2.1.0 sender ok\r\n",
    )
    .await;
    let line = wire.line().await;
    assert!(
        line.starts_with("501 5.1.3 bad recipient address: "),
        "{line}"
    );
}

#[tokio::test]
async fn too_long_line_is_500_and_session_continues() {
    let handler = submission_with_trusted();
    let (mut wire, _task) = start(server(config(Mode::Submission), handler));
    wire.expect(GREETING).await;
    wire.send(&format!("NOOP {}\r\nNOOP\r\n", "x".repeat(5000)))
        .await;
    wire.expect("500 5.5.2 line too long\r\n250 2.0.0 ok\r\n")
        .await;
}

#[tokio::test]
async fn too_many_bad_commands_disconnect_with_421() {
    let mut config = config(Mode::Submission);
    config.max_bad_commands = 3;
    let (mut wire, task) = start(server(config, Arc::new(TestHandler::default())));
    wire.expect(GREETING).await;
    wire.send("A\r\nB\r\nC\r\nNOOP\r\n").await;
    wire.expect(
        "500 5.5.1 unrecognized command\r\n500 5.5.1 unrecognized command\r\n\
         500 5.5.1 unrecognized command\r\n421 4.7.0 too many errors, closing connection\r\n",
    )
    .await;
    wire.expect_closed().await;
    assert!(matches!(
        task.await.unwrap(),
        Err(ServeError::Dropped {
            reason: "too many errors"
        })
    ));
}

#[tokio::test]
async fn size_is_checked_on_mail_data_and_bdat() {
    let mut config = config(Mode::Submission);
    config.max_message_size = 20;
    let handler = submission_with_trusted();
    let (mut wire, _task) = start(server(config, handler.clone()));
    wire.expect(GREETING).await;
    wire.send("EHLO c.example\r\n").await;
    assert!(wire.reply().await.contains("250-SIZE 20\r\n"));
    wire.send("MAIL FROM:<a@example.org> SIZE=21\r\n").await;
    wire.expect("552 5.3.4 message too large\r\n").await;
    wire.send("MAIL FROM:<a@example.org> SIZE=20\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        .await;
    wire.expect(
        "250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n354 go ahead, end with <CRLF>.<CRLF>\r\n",
    )
    .await;
    wire.send("0123456789\r\n0123456789\r\n.\r\n").await;
    wire.expect("552 5.3.4 message too large\r\n").await;
    wire.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nBDAT 15\r\n0123456789abcdeBDAT 6 LAST\r\n123456")
        .await;
    wire.expect(
        "250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n250 2.0.0 15 octets received\r\n\
         552 5.3.4 message too large\r\n",
    )
    .await;
    // The transaction is gone; the session is still in sync.
    wire.send("BDAT 3 LAST\r\nabcNOOP\r\n").await;
    wire.expect("503 5.5.1 send MAIL first\r\n250 2.0.0 ok\r\n")
        .await;
    assert!(handler.messages().is_empty());
}

#[tokio::test]
async fn too_many_recipients_get_452() {
    let mut config = config(Mode::Submission);
    config.max_recipients = 2;
    let (mut wire, _task) = start(server(config, submission_with_trusted()));
    wire.expect(GREETING).await;
    wire.send("EHLO c.example\r\n").await;
    assert!(wire.reply().await.contains("250-LIMITS RCPTMAX=2\r\n"));
    wire.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<1@example.com>\r\nRCPT TO:<2@example.com>\r\nRCPT TO:<3@example.com>\r\n")
        .await;
    wire.expect("250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n250 2.1.5 recipient ok\r\n452 4.5.3 too many recipients\r\n").await;
}

#[tokio::test]
async fn mailmax_limits_transactions_per_connection() {
    let mut config = config(Mode::Submission);
    config.max_transactions = Some(1);
    let (mut wire, _task) = start(server(config, submission_with_trusted()));
    wire.expect(GREETING).await;
    wire.send(
        "HELO c.example\r\nMAIL FROM:<a@example.org>\r\nRSET\r\nMAIL FROM:<a@example.org>\r\n",
    )
    .await;
    wire.expect("250 mail.example.org\r\n250 2.1.0 sender ok\r\n250 2.0.0 reset\r\n451 4.5.3 too many transactions on this connection\r\n").await;
}

#[tokio::test]
async fn smtputf8_addresses_need_the_parameter() {
    let handler = submission_with_trusted();
    let (mut wire, _task) = start(server(config(Mode::Submission), handler.clone()));
    wire.expect(GREETING).await;
    wire.send("EHLO c.example\r\n").await;
    wire.reply().await;
    wire.send("MAIL FROM:<jörg@example.org>\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<δοκιμή@παράδειγμα.example>\r\nRSET\r\n")
        .await;
    wire.expect(
        "553 5.6.7 non-ASCII address needs the SMTPUTF8 parameter\r\n250 2.1.0 sender ok\r\n\
         553 5.6.7 non-ASCII address needs the SMTPUTF8 parameter\r\n250 2.0.0 reset\r\n",
    )
    .await;
    wire.send("MAIL FROM:<jörg@example.org> SMTPUTF8 BODY=8BITMIME\r\nRCPT TO:<δοκιμή@παράδειγμα.example>\r\nBDAT 12 LAST\r\nSubject: ü\r\n")
        .await;
    wire.expect("250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n250 2.0.0 queued as 1\r\n")
        .await;
    let (_, message) = handler.messages().remove(0);
    assert!(message.has_8bit);
    assert!(message.envelope.params.smtputf8);
    assert_eq!(message.envelope.params.body, Some(Body::EightBitMime));
    assert_eq!(
        message.received,
        "Received: from c.example ([192.0.2.10]) by mail.example.org ([192.0.2.1]) via\r\n\
         \ttcp with UTF8SMTP id id2 for <δοκιμή@παράδειγμα.example>;\r\n\
         \tWed, 25 Nov 2026 11:56:40 +0000\r\n"
    );
}

#[tokio::test]
async fn smtputf8_disabled_refuses_parameter_and_addresses() {
    let mut config = config(Mode::Submission);
    config.announce.smtputf8 = false;
    let (mut wire, _task) = start(server(config, submission_with_trusted()));
    wire.expect(GREETING).await;
    wire.send(
        "HELO c.example\r\nMAIL FROM:<a@example.org> SMTPUTF8\r\nMAIL FROM:<jörg@example.org>\r\n",
    )
    .await;
    wire.expect("250 mail.example.org\r\n555 5.5.4 SMTPUTF8 not supported\r\n553 5.6.7 non-ASCII addresses not supported\r\n").await;
}

#[tokio::test]
async fn dsn_parameters_reach_the_handler() {
    let handler = submission_with_trusted();
    let (mut wire, _task) = start(server(config(Mode::Submission), handler.clone()));
    wire.expect(GREETING).await;
    wire.send("EHLO c.example\r\n").await;
    wire.reply().await;
    wire.send("MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ314159\r\nRCPT TO:<b@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+2Bx@example.com\r\nRCPT TO:<c@example.com> NOTIFY=NEVER\r\nRCPT TO:<d@example.com> NOTIFY=NEVER,SUCCESS\r\nDATA\r\n")
        .await;
    let replies = [
        wire.line().await,
        wire.line().await,
        wire.line().await,
        wire.line().await,
        wire.line().await,
    ];
    assert_eq!(replies[0], "250 2.1.0 sender ok\r\n");
    assert_eq!(replies[1], "250 2.1.5 recipient ok\r\n");
    assert_eq!(replies[2], "250 2.1.5 recipient ok\r\n");
    assert!(
        replies[3].starts_with("501 5.5.4 bad parameters: "),
        "{}",
        replies[3]
    );
    assert_eq!(replies[4], "354 go ahead, end with <CRLF>.<CRLF>\r\n");
    wire.send("x\r\n.\r\n").await;
    wire.expect("250 2.0.0 queued as 1\r\n").await;
    let (_, message) = handler.messages().remove(0);
    let envelope = &message.envelope;
    assert_eq!(envelope.params.ret, Some(Ret::Hdrs));
    assert_eq!(envelope.params.envid.as_deref(), Some("QQ314159"));
    assert_eq!(
        envelope.recipients[0].params.notify,
        Some(Notify::new(true, false, true))
    );
    assert_eq!(
        envelope.recipients[0].params.orcpt,
        Some(OriginalRecipient {
            addr_type: "rfc822".into(),
            address: "b+x@example.com".into()
        })
    );
    assert_eq!(envelope.recipients[1].params.notify, Some(Notify::NEVER));
}

#[tokio::test]
async fn dsn_parameters_refused_when_dsn_is_off() {
    let mut config = config(Mode::Submission);
    config.announce.dsn = false;
    let (mut wire, _task) = start(server(config, submission_with_trusted()));
    wire.expect(GREETING).await;
    wire.send("HELO c.example\r\nMAIL FROM:<a@example.org> RET=FULL\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com> NOTIFY=FAILURE\r\n")
        .await;
    wire.expect("250 mail.example.org\r\n555 5.5.4 DSN not supported\r\n250 2.1.0 sender ok\r\n555 5.5.4 DSN not supported\r\n").await;
}

#[tokio::test]
async fn bdat_chunks_bdat_zero_last_and_data_after_bdat() {
    let handler = submission_with_trusted();
    let (mut wire, _task) = start(server(config(Mode::Submission), handler.clone()));
    wire.expect(GREETING).await;
    wire.send("EHLO c.example\r\n").await;
    wire.reply().await;
    wire.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nBDAT 5\r\nA\r\n.\rBDAT 3\r\n.\r\nDATA\r\nRCPT TO:<c@example.com>\r\nBDAT 0 LAST\r\n")
        .await;
    wire.expect(
        "250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n250 2.0.0 5 octets received\r\n\
         250 2.0.0 3 octets received\r\n503 5.5.1 DATA after BDAT\r\n503 5.5.1 RCPT after BDAT\r\n\
         250 2.0.0 queued as 1\r\n",
    )
    .await;
    let (_, message) = handler.messages().remove(0);
    // BDAT data is taken as is: no dot-unstuffing.
    assert_eq!(message.data, b"A\r\n.\r.\r\n");
    wire.send("BDAT 4 LAST\r\nQUITNOOP\r\n").await;
    wire.expect("503 5.5.1 send MAIL first\r\n250 2.0.0 ok\r\n")
        .await;
}

#[tokio::test]
async fn bdat_refused_when_chunking_is_off_but_chunk_is_skipped() {
    let mut config = config(Mode::Submission);
    config.announce.chunking = false;
    let (mut wire, _task) = start(server(config, submission_with_trusted()));
    wire.expect(GREETING).await;
    wire.send("HELO c.example\r\nBDAT 6 LAST\r\nQUIT\r\nNOOP\r\n")
        .await;
    wire.expect("250 mail.example.org\r\n502 5.5.1 CHUNKING not available\r\n250 2.0.0 ok\r\n")
        .await;
}

#[tokio::test]
async fn data_with_bare_lf_is_normalized_and_not_ended_by_lf_dot_lf() {
    let handler = submission_with_trusted();
    let (mut wire, _task) = start(server(config(Mode::Submission), handler.clone()));
    wire.expect(GREETING).await;
    wire.send("HELO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        .await;
    wire.expect("250 mail.example.org\r\n250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n354 go ahead, end with <CRLF>.<CRLF>\r\n").await;
    wire.send("a\n.\nMAIL FROM:<evil@example.net>\r\n.\r\n")
        .await;
    wire.expect("250 2.0.0 queued as 1\r\n").await;
    let (_, message) = handler.messages().remove(0);
    assert_eq!(message.data, b"a\r\n\r\nMAIL FROM:<evil@example.net>\r\n");
}

#[tokio::test]
async fn future_release_holdfor_and_holduntil() {
    let handler = submission_with_trusted();
    let (mut wire, _task) = start(server(config(Mode::Submission), handler.clone()));
    wire.expect(GREETING).await;
    wire.send("EHLO c.example\r\n").await;
    wire.reply().await;
    wire.send("MAIL FROM:<a@example.org> HOLDFOR=5184001\r\nMAIL FROM:<a@example.org> HOLDUNTIL=2027-01-24T11:56:41Z\r\nMAIL FROM:<a@example.org> HOLDUNTIL=tomorrow\r\nMAIL FROM:<a@example.org> HOLDFOR=3600\r\nRCPT TO:<b@example.com>\r\nBDAT 1 LAST\r\nx")
        .await;
    wire.expect(
        "501 5.5.4 HOLDFOR exceeds the maximum of 5184000 seconds\r\n\
         501 5.5.4 HOLDUNTIL is more than 5184000 seconds ahead\r\n\
         501 5.5.4 HOLDUNTIL is not an RFC 3339 date-time\r\n\
         250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n250 2.0.0 queued as 1\r\n",
    )
    .await;
    wire.send("MAIL FROM:<a@example.org> HOLDUNTIL=2026-12-01T00:00:00+01:00\r\nRCPT TO:<b@example.com>\r\nBDAT 1 LAST\r\nx")
        .await;
    wire.expect("250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n250 2.0.0 queued as 2\r\n")
        .await;
    let messages = handler.messages();
    let first = messages[0].1.envelope.future_release.clone().unwrap();
    assert_eq!(first.at, fixed_time() + Duration::from_secs(3600));
    assert_eq!(first.request, "for;3600");
    let second = messages[1].1.envelope.future_release.clone().unwrap();
    assert_eq!(second.request, "until;2026-11-30T23:00:00Z");
}

#[tokio::test]
async fn requiretls_is_refused_without_tls() {
    let (mut wire, _task) = start(server(config(Mode::Submission), submission_with_trusted()));
    wire.expect(GREETING).await;
    wire.send("EHLO c.example\r\n").await;
    let ehlo = wire.reply().await;
    assert!(!ehlo.contains("REQUIRETLS"));
    assert!(!ehlo.contains("STARTTLS"));
    wire.send("MAIL FROM:<a@example.org> REQUIRETLS\r\n").await;
    wire.expect("530 5.7.10 REQUIRETLS only allowed on TLS connections\r\n")
        .await;
}

#[tokio::test]
async fn binarymime_is_refused() {
    let (mut wire, _task) = start(server(config(Mode::Submission), submission_with_trusted()));
    wire.expect(GREETING).await;
    wire.send("HELO c.example\r\nMAIL FROM:<a@example.org> BODY=BINARYMIME\r\n")
        .await;
    wire.expect("250 mail.example.org\r\n555 5.5.4 BODY=BINARYMIME not supported\r\n")
        .await;
}

#[tokio::test]
async fn duplicate_extra_headers_are_refused_554_and_good_ones_pass() {
    let handler = Arc::new(TestHandler {
        trusted: trusted(),
        check_extra: true,
        ..TestHandler::default()
    });
    let (mut wire, _task) = start(server(config(Mode::Submission), handler.clone()));
    wire.expect(GREETING).await;
    wire.send("HELO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        .await;
    wire.reply().await;
    wire.reply().await;
    wire.reply().await;
    wire.reply().await;
    wire.send("X-Postel-Extra-Order: 1\r\nX-Mox-Extra-order: 2\r\n\r\nx\r\n.\r\n")
        .await;
    wire.expect("554 5.6.0 duplicate extra metadata key \"Order\"\r\n")
        .await;
    wire.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        .await;
    wire.reply().await;
    wire.reply().await;
    wire.reply().await;
    wire.send("X-Mox-Extra-Test: testvalue\r\nX-Mox-Extra-a: 123\r\nX-Mox-Extra-☺: ☹\r\nX-Mox-Extra-x-cANONICAL-z: ok\r\nX-Postel-Extra-b: 4\r\n\r\nx\r\n.\r\n")
        .await;
    wire.expect("250 2.0.0 queued as 1\r\n").await;
    let (_, message) = handler.messages().remove(0);
    let extra = smtpserver::extra_metadata(&message.data).unwrap();
    let pairs: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("A", "123"),
            ("B", "4"),
            ("Test", "testvalue"),
            ("X-Canonical-Z", "ok"),
            ("☺", "☹")
        ]
    );
}

#[tokio::test]
async fn client_closing_mid_session_is_reported() {
    let (mut wire, task) = start(server(config(Mode::Submission), submission_with_trusted()));
    wire.expect(GREETING).await;
    drop(wire);
    assert!(matches!(
        task.await.unwrap(),
        Err(ServeError::Closed { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn idle_client_gets_421_timeout() {
    let (mut wire, task) = start(server(config(Mode::Submission), submission_with_trusted()));
    use tokio::io::AsyncReadExt;
    // No client-side timeout here: with paused time it would fire first.
    let expected = format!("{GREETING}421 4.4.2 timeout, closing connection\r\n");
    let mut buf = vec![0u8; expected.len()];
    wire.stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(String::from_utf8(buf).unwrap(), expected);
    assert!(matches!(
        task.await.unwrap(),
        Err(ServeError::Timeout { .. })
    ));
}

#[tokio::test]
async fn shutdown_closes_idle_sessions_with_421_and_stops_run() {
    let (stop, rx) = tokio::sync::watch::channel(false);
    let server = server(config(Mode::Submission), submission_with_trusted()).with_shutdown(rx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let run = {
        let server = server.clone();
        tokio::spawn(async move { server.run(listener, false).await })
    };
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut wire = Wire {
        stream: Box::new(stream),
    };
    wire.expect(GREETING).await;
    wire.send("NOOP\r\n").await;
    wire.expect("250 2.0.0 ok\r\n").await;
    stop.send(true).unwrap();
    wire.expect("421 4.3.2 server shutting down\r\n").await;
    wire.expect_closed().await;
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn requiretls_disabled_is_an_unsupported_parameter() {
    let mut config = config(Mode::Submission);
    config.announce.requiretls = false;
    let (mut wire, _task) = start(server(config, submission_with_trusted()));
    wire.expect(GREETING).await;
    wire.send("HELO c.example\r\nMAIL FROM:<a@example.org> REQUIRETLS\r\n")
        .await;
    wire.expect("250 mail.example.org\r\n555 5.5.4 REQUIRETLS not supported\r\n")
        .await;
}

#[tokio::test]
async fn connect_refusal_is_sent_and_session_ends() {
    struct Refuse;
    impl smtpserver::Handler for Refuse {
        async fn connect(
            &self,
            _session: &smtpserver::Session,
        ) -> Result<Option<smtpserver::Identity>, smtp::Reply> {
            Err(smtpserver::replies::reply(
                554,
                smtpserver::replies::code(5, 7, 1),
                "your IP is blocked",
            ))
        }
        async fn data(&self, _s: &smtpserver::Session, _m: smtpserver::Message) -> smtp::Reply {
            unreachable!()
        }
    }
    let server = smtpserver::Server::new(config(Mode::Inbound), Arc::new(Refuse));
    let (client, stream) = tokio::io::duplex(4096);
    let task = tokio::spawn(async move { server.serve(stream, peer()).await });
    let mut wire = Wire {
        stream: Box::new(client),
    };
    wire.expect("554 5.7.1 your IP is blocked\r\n").await;
    wire.expect_closed().await;
    assert!(matches!(
        task.await.unwrap(),
        Err(ServeError::Dropped { .. })
    ));
}
