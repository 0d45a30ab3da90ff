//! The client against Postfix's `smtp-sink`: plain and pipelined delivery, many
//! recipients, DSN parameters as the sink records them, and the sink's fault injection
//! (4xx/5xx on each command, disconnects, 421, a refused greeting).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use smtp::{Address, Command, EnhancedCode, Notify, OriginalRecipient, Ret};
use smtpclient::dial::{Dialer, TcpDialer};
use smtpclient::{Client, ClientConfig, Delivery, Envelope, Error, RecipientOutcome, TlsMode};
use support::SmtpSink;

const MESSAGE: &[u8] = b"From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: interop\r\n\r\nhello\r\n.leading dot\r\n";
/// What the sink stores for [`MESSAGE`]: dot-unstuffed, LF line ends.
const STORED: &str =
    "From: <a@example.org>\nTo: <b@example.net>\nSubject: interop\n\nhello\n.leading dot\n";

fn addr(s: &str) -> Address {
    s.parse().unwrap()
}

fn code(s: &str) -> EnhancedCode {
    s.parse().unwrap()
}

fn config() -> ClientConfig {
    ClientConfig {
        ehlo_name: "client.postel.test".into(),
        tls: TlsMode::Skip,
        ..ClientConfig::default()
    }
}

async fn connect(sink: &SmtpSink) -> Result<Client, Error> {
    let stream = TcpDialer::new().dial(sink.addr()).await.unwrap();
    Client::connect(stream, config()).await
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope::new(
        Some(addr("a@example.org")),
        rcpts.iter().map(|r| addr(r)).collect(),
    )
}

/// Connects, delivers `MESSAGE` to `rcpts`, and quits when the session is still usable.
async fn deliver(sink: &SmtpSink, rcpts: &[&str]) -> Result<Delivery, Error> {
    let mut client = connect(sink).await.unwrap();
    let result = client.deliver(&envelope(rcpts), MESSAGE).await;
    if client.can_reuse() {
        client.quit().await.unwrap();
    }
    result
}

fn failed(outcome: &RecipientOutcome) -> &smtpclient::Response {
    match outcome {
        RecipientOutcome::Failed(r) => r,
        other => panic!("expected a failed recipient, got {other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn lock_step_delivery_without_pipelining_is_stored_with_exact_envelope() {
    let sink = SmtpSink::start(&["-p"]);
    let mut client = connect(&sink).await.unwrap();
    assert!(!client.extensions().pipelining);
    let d = client
        .deliver(&envelope(&["b@example.net"]), MESSAGE)
        .await
        .unwrap();
    client.quit().await.unwrap();

    assert_eq!(d.transactions, 1);
    assert!(!d.dsn_params_dropped);
    let RecipientOutcome::Delivered(r) = &d.recipients[0] else {
        panic!("not delivered: {d:?}");
    };
    assert_eq!((r.command, r.code), (Command::Data, 250));
    assert_eq!(r.enhanced, Some(code("2.0.0")));
    assert!(!r.permanent);

    let dumps = sink.wait_dumps(1);
    assert_eq!(dumps.len(), 1);
    assert_eq!(dumps[0].helo, "client.postel.test");
    // The client announces a 7-bit body to a server with 8BITMIME.
    assert_eq!(dumps[0].mail_args, "<a@example.org> BODY=7BIT");
    assert_eq!(dumps[0].rcpt_args, ["<b@example.net>"]);
    assert_eq!(dumps[0].message, STORED);
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn pipelined_delivery_gives_every_recipient_its_own_result() {
    let sink = SmtpSink::start(&[]);
    let rcpts = ["b@example.net", "c@example.net", "d@example.com"];
    let mut client = connect(&sink).await.unwrap();
    assert!(client.extensions().pipelining);
    let d = client.deliver(&envelope(&rcpts), MESSAGE).await.unwrap();
    client.quit().await.unwrap();

    assert_eq!(d.delivered(), 3);
    assert!(d.error.is_none());
    let dumps = sink.wait_dumps(1);
    assert_eq!(
        dumps[0].rcpt_args,
        ["<b@example.net>", "<c@example.net>", "<d@example.com>"]
    );
    assert_eq!(dumps[0].message, STORED);
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn five_hundred_recipients_go_in_one_pipelined_transaction_in_order() {
    let sink = SmtpSink::start(&[]);
    let rcpts: Vec<String> = (0..500).map(|i| format!("r{i}@example.net")).collect();
    let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let d = deliver(&sink, &refs).await.unwrap();

    assert_eq!(d.transactions, 1);
    assert_eq!(d.delivered(), 500);
    let dumps = sink.wait_dumps(1);
    let expected: Vec<String> = rcpts.iter().map(|r| format!("<{r}>")).collect();
    assert_eq!(dumps[0].rcpt_args, expected);
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn one_connection_delivers_three_messages_in_a_row() {
    let sink = SmtpSink::start(&[]);
    let mut client = connect(&sink).await.unwrap();
    for rcpt in ["x1@example.net", "x2@example.net", "x3@example.net"] {
        let d = client.deliver(&envelope(&[rcpt]), MESSAGE).await.unwrap();
        assert_eq!(d.delivered(), 1);
        assert!(client.can_reuse());
    }
    assert_eq!(client.transactions(), 3);
    client.quit().await.unwrap();

    let dumps = sink.wait_dumps(3);
    let rcpts: Vec<&str> = dumps.iter().map(|d| d.rcpt_args[0].as_str()).collect();
    assert_eq!(
        rcpts,
        ["<x1@example.net>", "<x2@example.net>", "<x3@example.net>"]
    );
    let counters = wait_counters(&sink, "mesg=3");
    assert!(counters.ends_with(" mesg=3"), "{counters}");
}

fn wait_counters(sink: &SmtpSink, needle: &str) -> String {
    support::wait_for("sink counters", || {
        let c = sink.counters();
        c.contains(needle).then_some(c)
    })
}

fn dsn_envelope() -> Envelope {
    let mut env = envelope(&["b@example.net", "c@example.net"]);
    env.ret = Some(Ret::Hdrs);
    env.envid = Some("id+1=x".to_string());
    env.recipients[0].notify = Some(Notify::new(true, true, false));
    env.recipients[0].orcpt = Some(OriginalRecipient::for_address(&addr("b@example.net")));
    env.recipients[1].notify = Some(Notify::NEVER);
    env
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn dsn_parameters_are_sent_xtext_encoded_when_dsn_is_offered() {
    let sink = SmtpSink::start(&[]);
    let mut client = connect(&sink).await.unwrap();
    assert!(client.extensions().dsn);
    let d = client.deliver(&dsn_envelope(), MESSAGE).await.unwrap();
    client.quit().await.unwrap();

    assert_eq!(d.delivered(), 2);
    assert!(!d.dsn_params_dropped);
    let dumps = sink.wait_dumps(1);
    assert_eq!(
        dumps[0].mail_args,
        "<a@example.org> BODY=7BIT RET=HDRS ENVID=id+2B1+3Dx"
    );
    assert_eq!(
        dumps[0].rcpt_args,
        [
            "<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.net",
            "<c@example.net> NOTIFY=NEVER",
        ]
    );
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn dsn_parameters_are_dropped_and_reported_when_dsn_is_not_offered() {
    let sink = SmtpSink::start(&["-N"]);
    let mut client = connect(&sink).await.unwrap();
    assert!(!client.extensions().dsn);
    let d = client.deliver(&dsn_envelope(), MESSAGE).await.unwrap();
    client.quit().await.unwrap();

    assert_eq!(d.delivered(), 2);
    assert!(d.dsn_params_dropped);
    let dumps = sink.wait_dumps(1);
    assert_eq!(dumps[0].mail_args, "<a@example.org> BODY=7BIT");
    assert_eq!(dumps[0].rcpt_args, ["<b@example.net>", "<c@example.net>"]);
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn mail_from_550_is_a_permanent_error_for_the_whole_delivery() {
    let sink = SmtpSink::start(&["-f", "MAIL", "-B", "550 5.7.1 Go away"]);
    let err = deliver(&sink, &["b@example.net"]).await.unwrap_err();
    let Error::Rejected {
        command,
        reply,
        enhanced,
    } = &err
    else {
        panic!("expected a rejected MAIL, got {err:?}");
    };
    assert_eq!((*command, reply.code), (Command::MailFrom, 550));
    assert_eq!(reply.lines, ["5.7.1 Go away"]);
    assert_eq!(*enhanced, Some(code("5.7.1")));
    assert!(err.is_permanent());
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn mail_from_451_is_a_temporary_error() {
    let sink = SmtpSink::start(&["-r", "MAIL", "-b", "451 4.3.0 Try later"]);
    let err = deliver(&sink, &["b@example.net"]).await.unwrap_err();
    assert_eq!(err.command(), Some(Command::MailFrom));
    assert_eq!(err.reply().map(|r| r.code), Some(451));
    assert_eq!(err.enhanced_code(), Some(code("4.3.0")));
    assert!(!err.is_permanent());
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn rcpt_450_fails_each_recipient_temporarily_and_sends_no_data() {
    let sink = SmtpSink::start(&["-r", "RCPT"]);
    let d = deliver(&sink, &["b@example.net", "c@example.net"])
        .await
        .unwrap();
    assert_eq!(d.recipients.len(), 2);
    for outcome in &d.recipients {
        let r = failed(outcome);
        assert_eq!((r.command, r.code), (Command::RcptTo, 450));
        assert_eq!(r.enhanced, Some(code("4.3.0")));
        assert_eq!(r.lines, ["4.3.0 Error: command failed"]);
        assert!(!r.permanent);
    }
    // The sink counts completed DATA commands; it prints the counters when our
    // session ends with QUIT.
    let counters = wait_counters(&sink, "quit=1");
    assert!(counters.ends_with(" mesg=0"), "{counters}");
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn rcpt_550_fails_each_recipient_permanently() {
    let sink = SmtpSink::start(&["-f", "RCPT", "-B", "550 5.1.1 No such user"]);
    let d = deliver(&sink, &["b@example.net", "c@example.net"])
        .await
        .unwrap();
    for outcome in &d.recipients {
        let r = failed(outcome);
        assert_eq!((r.command, r.code), (Command::RcptTo, 550));
        assert_eq!(r.enhanced, Some(code("5.1.1")));
        assert!(r.permanent);
        assert!(outcome.is_permanent_failure());
    }
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn data_command_451_fails_all_accepted_recipients_temporarily() {
    let sink = SmtpSink::start(&["-r", "DATA", "-b", "451 4.3.0 Not now"]);
    let d = deliver(&sink, &["b@example.net", "c@example.net"])
        .await
        .unwrap();
    for outcome in &d.recipients {
        let r = failed(outcome);
        assert_eq!((r.command, r.code), (Command::Data, 451));
        assert_eq!(r.lines, ["4.3.0 Not now"]);
        assert!(!r.permanent);
    }
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn data_command_554_fails_all_accepted_recipients_permanently() {
    let sink = SmtpSink::start(&["-f", "DATA", "-B", "554 5.6.0 No data"]);
    let d = deliver(&sink, &["b@example.net"]).await.unwrap();
    let r = failed(&d.recipients[0]);
    assert_eq!((r.command, r.code), (Command::Data, 554));
    assert_eq!(r.enhanced, Some(code("5.6.0")));
    assert!(r.permanent);
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn end_of_data_451_fails_the_message_temporarily() {
    let sink = SmtpSink::start(&["-r", ".", "-b", "451 4.3.0 Try later"]);
    let d = deliver(&sink, &["b@example.net", "c@example.net"])
        .await
        .unwrap();
    for outcome in &d.recipients {
        let r = failed(outcome);
        assert_eq!((r.command, r.code), (Command::Data, 451));
        assert_eq!(r.lines, ["4.3.0 Try later"]);
        assert!(!r.permanent);
    }
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn end_of_data_500_fails_the_message_permanently() {
    let sink = SmtpSink::start(&["-f", "."]);
    let d = deliver(&sink, &["b@example.net"]).await.unwrap();
    let r = failed(&d.recipients[0]);
    assert_eq!((r.command, r.code), (Command::Data, 500));
    assert_eq!(r.enhanced, Some(code("5.3.0")));
    assert!(r.permanent);
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn disconnect_without_reply_to_data_is_a_temporary_closed_error() {
    let sink = SmtpSink::start(&["-q", "DATA"]);
    let mut client = connect(&sink).await.unwrap();
    let err = client
        .deliver(&envelope(&["b@example.net", "c@example.net"]), MESSAGE)
        .await
        .unwrap_err();
    // No recipient got a final answer, so the whole delivery is the error.
    assert!(
        matches!(
            err,
            Error::Closed {
                command: Command::Data
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_permanent());
    assert!(err.ends_connection());
    assert!(!client.can_reuse());
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn reply_421_to_rcpt_ends_the_session_with_a_temporary_error() {
    let sink = SmtpSink::start(&["-Q", "RCPT"]);
    let mut client = connect(&sink).await.unwrap();
    let err = client
        .deliver(&envelope(&["b@example.net"]), MESSAGE)
        .await
        .unwrap_err();
    assert_eq!(err.command(), Some(Command::RcptTo));
    let reply = err.reply().expect("the 421 reply");
    assert_eq!(reply.code, 421);
    assert_eq!(reply.lines, ["4.0.0 Server closing connection"]);
    assert!(!err.is_permanent());
    assert!(err.ends_connection());
    assert!(!client.can_reuse());
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn greeting_500_is_a_permanent_connect_error() {
    let sink = SmtpSink::start(&["-f", "CONNECT"]);
    let err = connect(&sink).await.unwrap_err();
    assert_eq!(err.command(), Some(Command::Greeting));
    assert_eq!(err.reply().map(|r| r.code), Some(500));
    assert!(err.is_permanent());
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn server_without_esmtp_gets_helo_and_a_plain_mail_from() {
    let sink = SmtpSink::start(&["-e"]);
    let mut client = connect(&sink).await.unwrap();
    assert!(!client.extensions().pipelining);
    let d = client
        .deliver(&envelope(&["b@example.net"]), MESSAGE)
        .await
        .unwrap();
    client.quit().await.unwrap();
    assert_eq!(d.delivered(), 1);

    let dumps = sink.wait_dumps(1);
    assert_eq!(dumps[0].proto, "SMTP");
    assert_eq!(dumps[0].helo, "client.postel.test");
    assert_eq!(dumps[0].mail_args, "<a@example.org>");
    assert_eq!(dumps[0].message, STORED);
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn ehlo_450_is_a_temporary_connect_error() {
    let sink = SmtpSink::start(&["-r", "EHLO,HELO"]);
    let err = connect(&sink).await.unwrap_err();
    assert_eq!(err.command(), Some(Command::Ehlo), "{err:?}");
    assert_eq!(err.reply().map(|r| r.code), Some(450));
    assert!(!err.is_permanent());
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn reply_550_in_the_middle_of_message_data_is_a_permanent_failure() {
    // -A 0: the sink answers 354, then 550 while the body is still coming, and resets
    // the connection. The client must report the 550, not the broken pipe.
    let sink = SmtpSink::start(&["-A", "0"]);
    let mut client = connect(&sink).await.unwrap();
    let big: Vec<u8> = b"Subject: big\r\n\r\n"
        .iter()
        .copied()
        .chain(
            std::iter::repeat_n(
                b"0123456789abcdef0123456789abcdef\r\n".iter().copied(),
                60_000,
            )
            .flatten(),
        )
        .collect();
    let err = client
        .deliver(&envelope(&["b@example.net"]), &big)
        .await
        .unwrap_err();
    let Error::Rejected { command, reply, .. } = &err else {
        panic!("expected the sink's 550, got {err:?}");
    };
    assert_eq!((*command, reply.code), (Command::Data, 550));
    assert_eq!(reply.lines, ["This violates SMTP"]);
    assert!(err.is_permanent());
    assert!(!client.can_reuse());
}

#[tokio::test]
#[ignore = "needs smtp-sink; run by .ci/run"]
async fn delivery_over_ipv6_loopback() {
    let sink = SmtpSink::start_on("::1".parse().unwrap(), &[]);
    let d = deliver(&sink, &["b@example.net"]).await.unwrap();
    assert_eq!(d.delivered(), 1);
    let dumps = sink.wait_dumps(1);
    assert_eq!(dumps[0].rcpt_args, ["<b@example.net>"]);
    assert_eq!(dumps[0].message, STORED);
}
