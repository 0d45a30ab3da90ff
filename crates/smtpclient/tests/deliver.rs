//! Delivery: wire bytes, per-recipient results, pipelining, limits, errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use smtp::{Class, Command, EnhancedCode, Notify, OriginalRecipient, Ret};
use smtpclient::{Error, NotAttempted, RecipientOutcome, Requirement};

const MSG: &[u8] = b"Subject: test\r\n\r\nHello\r\n";
const MSG_DATA: &[u8] = b"Subject: test\r\n\r\nHello\r\n.\r\n";

fn code(outcome: &RecipientOutcome) -> u16 {
    outcome.response().map(|r| r.code).unwrap_or(0)
}

#[tokio::test]
async fn plain_delivery_without_pipelining() {
    let script = hello(EHLO_PLAIN)
        .expect("MAIL FROM:<sender@example.org>")
        .send("250 2.1.0 ok")
        .expect("RCPT TO:<rcpt@example.com>")
        .send("250 2.1.5 ok")
        .expect("DATA")
        .send("354 go ahead")
        .read_data(MSG_DATA)
        .send("250 2.0.0 queued as 1234")
        .expect("QUIT")
        .send("221 2.0.0 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let delivery = client
        .deliver(&envelope("sender@example.org", &["rcpt@example.com"]), MSG)
        .await
        .unwrap();
    assert_eq!(delivery.transactions, 1);
    assert!(!delivery.dsn_params_dropped);
    let RecipientOutcome::Delivered(response) = &delivery.recipients[0] else {
        panic!("not delivered: {:?}", delivery.recipients[0]);
    };
    assert_eq!(response.command, Command::Data);
    assert_eq!(response.code, 250);
    assert_eq!(
        response.enhanced,
        Some(EnhancedCode::new(Class::Success, 0, 0))
    );
    assert_eq!(response.lines, vec!["2.0.0 queued as 1234".to_string()]);
    assert!(client.can_reuse());
    client.quit().await.unwrap();
    let t = server.finish().await;
    assert_eq!(
        t.client_text(),
        "EHLO client.example\r\nMAIL FROM:<sender@example.org>\r\nRCPT TO:<rcpt@example.com>\r\nDATA\r\nSubject: test\r\n\r\nHello\r\n.\r\nQUIT\r\n"
    );
}

#[tokio::test]
async fn enhanced_codes_are_ignored_without_enhancedstatuscodes() {
    let script = hello("250 mx.example")
        .expect("MAIL FROM:<>")
        .send("250 2.1.0 ok")
        .expect("RCPT TO:<rcpt@example.com>")
        .send("550 5.1.1 unknown")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let env = smtpclient::Envelope::new(None, vec![addr("rcpt@example.com")]);
    let delivery = client.deliver(&env, MSG).await.unwrap();
    let response = delivery.recipients[0].response().unwrap();
    assert_eq!(response.enhanced, None);
    assert!(response.permanent);
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn delivery_with_all_extensions_uses_parameters_and_bdat_in_one_batch() {
    let mut env = envelope(
        "sender@example.org",
        &["rcpt@example.com", "ünï@example.com"],
    );
    env.requires_8bitmime = true;
    env.ret = Some(Ret::Hdrs);
    env.envid = Some("id+1 x".to_string());
    env.recipients[0].notify = Some(Notify::new(true, true, false));
    env.recipients[0].orcpt = Some(OriginalRecipient::for_address(&addr("orig@example.com")));
    let script = hello(EHLO_ALL)
        .expect_pipelined(&[
            "MAIL FROM:<sender@example.org> SIZE=24 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1+20x",
            "RCPT TO:<rcpt@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@example.com",
            "RCPT TO:<ünï@example.com>",
        ])
        .read_bdat("BDAT 24 LAST", MSG)
        .send("250 2.1.0 ok\n250 2.1.5 ok\n250 2.1.5 ok\n250 2.0.0 got it")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let delivery = client.deliver(&env, MSG).await.unwrap();
    assert_eq!(delivery.delivered(), 2);
    let response = delivery.recipients[1].response().unwrap();
    assert_eq!(response.command, Command::Bdat);
    assert_eq!(response.lines, vec!["2.0.0 got it".to_string()]);
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn eight_bit_mime_required_but_missing_is_permanent_and_sends_nothing() {
    let script = hello(EHLO_PIPELINING).expect("QUIT").send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let mut env = envelope("a@example.org", &["b@example.com"]);
    env.requires_8bitmime = true;
    let err = client.deliver(&env, MSG).await.unwrap_err();
    assert!(matches!(
        err,
        Error::Unsupported {
            requirement: Requirement::EightBitMime
        }
    ));
    assert!(err.is_permanent());
    assert!(client.can_reuse());
    client.quit().await.unwrap();
    assert_eq!(
        server.finish().await.client_text(),
        "EHLO client.example\r\nQUIT\r\n"
    );
}

#[tokio::test]
async fn smtputf8_required_but_missing_is_temporary() {
    let script = hello(EHLO_PIPELINING).expect("QUIT").send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let env = envelope("a@example.org", &["ünï@example.com"]);
    let err = client.deliver(&env, MSG).await.unwrap_err();
    assert!(matches!(
        err,
        Error::Unsupported {
            requirement: Requirement::SmtpUtf8
        }
    ));
    assert!(!err.is_permanent());
    assert_eq!(err.to_string(), "server does not support SMTPUTF8");
    client.quit().await.unwrap();
    assert_eq!(
        server.finish().await.client_text(),
        "EHLO client.example\r\nQUIT\r\n"
    );
}

#[tokio::test]
async fn size_exceeded_is_permanent_and_sends_nothing() {
    let script = hello("250-mx.example\n250 SIZE 10")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let err = client
        .deliver(&envelope("a@example.org", &["b@example.com"]), MSG)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unsupported {
                requirement: Requirement::Size {
                    size: 24,
                    limit: 10
                }
            }
        ),
        "{err:?}"
    );
    assert!(err.is_permanent());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn requiretls_not_supported_is_refused_temporarily() {
    let script = hello(EHLO_ALL).expect("QUIT").send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let mut env = envelope("a@example.org", &["b@example.com"]);
    env.require_tls = true;
    let err = client.deliver(&env, MSG).await.unwrap_err();
    assert!(matches!(
        err,
        Error::Unsupported {
            requirement: Requirement::RequireTls
        }
    ));
    assert!(!err.is_permanent());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn pipelined_recipients_with_550_and_452_retry_the_deferred_one() {
    let script = hello(EHLO_PIPELINING)
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<one@example.com>",
            "RCPT TO:<two@example.com>",
            "RCPT TO:<three@example.com>",
            "DATA",
        ])
        .send("250 2.1.0 ok\n250 2.1.5 ok\n550 5.1.1 no such user\n452 4.5.3 too many recipients\n354 go")
        .read_data(MSG_DATA)
        .send("250 2.0.0 first")
        .expect_pipelined(&["MAIL FROM:<a@example.org>", "RCPT TO:<three@example.com>", "DATA"])
        .send("250 2.1.0 ok\n250 2.1.5 ok\n354 go")
        .read_data(MSG_DATA)
        .send("250 2.0.0 second")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let env = envelope(
        "a@example.org",
        &["one@example.com", "two@example.com", "three@example.com"],
    );
    let delivery = client.deliver(&env, MSG).await.unwrap();
    assert_eq!(delivery.transactions, 2);
    assert_eq!(
        delivery.recipients[0].response().unwrap().lines[0],
        "2.0.0 first"
    );
    assert!(delivery.recipients[1].is_permanent_failure());
    assert_eq!(code(&delivery.recipients[1]), 550);
    assert_eq!(
        delivery.recipients[1].response().unwrap().command,
        Command::RcptTo
    );
    assert_eq!(
        delivery.recipients[2].response().unwrap().lines[0],
        "2.0.0 second"
    );
    assert!(delivery.recipients[2].is_delivered());
    assert_eq!(client.transactions(), 2);
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn second_recipient_552_is_retried_in_new_transaction_without_pipelining() {
    let script = hello(EHLO_PLAIN)
        .expect("MAIL FROM:<a@example.org>")
        .send("250 ok")
        .expect("RCPT TO:<one@example.com>")
        .send("250 ok")
        .expect("RCPT TO:<two@example.com>")
        .send("552 too many recipients")
        .expect("DATA")
        .send("354 go")
        .read_data(MSG_DATA)
        .send("250 first")
        .expect("MAIL FROM:<a@example.org>")
        .send("250 ok")
        .expect("RCPT TO:<two@example.com>")
        .send("250 ok")
        .expect("RCPT TO:<three@example.com>")
        .send("250 ok")
        .expect("DATA")
        .send("354 go")
        .read_data(MSG_DATA)
        .send("250 second")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let env = envelope(
        "a@example.org",
        &["one@example.com", "two@example.com", "three@example.com"],
    );
    let delivery = client.deliver(&env, MSG).await.unwrap();
    let lines: Vec<_> = delivery
        .recipients
        .iter()
        .map(|r| r.response().unwrap().lines[0].clone())
        .collect();
    assert_eq!(lines, ["first", "second", "second"]);
    assert_eq!(delivery.transactions, 2);
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn multiple_recipients_without_pipelining_with_errors() {
    let script = hello(EHLO_PLAIN)
        .expect("MAIL FROM:<a@example.org>")
        .send("250 ok")
        .expect("RCPT TO:<one@example.com>")
        .send("451 4.3.0 try later")
        .expect("RCPT TO:<two@example.com>")
        .send("550 5.1.1 unknown")
        .expect("RCPT TO:<three@example.com>")
        .send("250 ok")
        .expect("DATA")
        .send("354 go")
        .read_data(MSG_DATA)
        .send("250 done")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let env = envelope(
        "a@example.org",
        &["one@example.com", "two@example.com", "three@example.com"],
    );
    let delivery = client.deliver(&env, MSG).await.unwrap();
    assert!(
        matches!(&delivery.recipients[0], RecipientOutcome::Failed(r) if r.code == 451 && !r.permanent)
    );
    assert!(delivery.recipients[1].is_permanent_failure());
    assert!(delivery.recipients[2].is_delivered());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn single_recipient_failing_under_pipelining_and_rset_before_next_transaction() {
    let script = hello(EHLO_PIPELINING)
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("250 2.1.0 ok\n550 5.1.1 unknown user\n554 5.5.1 no valid recipients")
        .expect_pipelined(&[
            "RSET",
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<c@example.com>",
            "DATA",
        ])
        .send("250 2.0.0 reset\n250 2.1.0 ok\n250 2.1.5 ok\n354 go")
        .read_data(MSG_DATA)
        .send("250 2.0.0 ok")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let first = client
        .deliver(&envelope("a@example.org", &["b@example.com"]), MSG)
        .await
        .unwrap();
    let RecipientOutcome::Failed(response) = &first.recipients[0] else {
        panic!()
    };
    assert_eq!(response.code, 550);
    assert_eq!(
        response.enhanced,
        Some(EnhancedCode::new(Class::Permanent, 1, 1))
    );
    assert!(response.permanent);
    assert!(client.can_reuse());
    let second = client
        .deliver(&envelope("a@example.org", &["c@example.com"]), MSG)
        .await
        .unwrap();
    assert!(second.recipients[0].is_delivered());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn rset_before_next_transaction_without_pipelining() {
    let script = hello(EHLO_PLAIN)
        .expect("MAIL FROM:<a@example.org>")
        .send("250 ok")
        .expect("RCPT TO:<b@example.com>")
        .send("550 no")
        .expect("RSET")
        .send("250 ok")
        .expect("MAIL FROM:<a@example.org>")
        .send("250 ok")
        .expect("RCPT TO:<b@example.com>")
        .send("550 no")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let env = envelope("a@example.org", &["b@example.com"]);
    client.deliver(&env, MSG).await.unwrap();
    client.deliver(&env, MSG).await.unwrap();
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn connection_is_reused_for_a_second_message_without_rset() {
    let script = hello(EHLO_PIPELINING)
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("250 ok\n250 ok\n354 go")
        .read_data(MSG_DATA)
        .send("250 one")
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("250 ok\n250 ok\n354 go")
        .read_data(b"second\r\n.\r\n")
        .send("250 two")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let env = envelope("a@example.org", &["b@example.com"]);
    assert!(client.deliver(&env, MSG).await.unwrap().recipients[0].is_delivered());
    assert!(client.deliver(&env, b"second").await.unwrap().recipients[0].is_delivered());
    assert_eq!(client.transactions(), 2);
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn first_recipient_452_aborts_pipelined_data_with_a_lone_dot() {
    let script = hello(EHLO_PIPELINING)
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("250 ok\n452 4.5.3 too many recipients\n354 go ahead anyway")
        .expect(".")
        .send("554 5.5.1 no valid recipients")
        .expect_pipelined(&[
            "RSET",
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("250 ok\n250 ok\n250 ok\n354 go")
        .read_data(MSG_DATA)
        .send("250 ok")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let env = envelope("a@example.org", &["b@example.com"]);
    let delivery = client.deliver(&env, MSG).await.unwrap();
    let RecipientOutcome::Failed(response) = &delivery.recipients[0] else {
        panic!()
    };
    assert_eq!((response.code, response.permanent), (452, false));
    assert_eq!(delivery.transactions, 1);
    assert!(client.can_reuse());
    assert!(client.deliver(&env, MSG).await.unwrap().recipients[0].is_delivered());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn mail_from_550_then_close_is_a_permanent_error() {
    let script = hello(EHLO_PIPELINING)
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("550 5.7.1 sender rejected")
        .close();
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let err = client
        .deliver(&envelope("a@example.org", &["b@example.com"]), MSG)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.command(), Some(Command::MailFrom));
    assert_eq!(err.reply().unwrap().code, 550);
    assert_eq!(
        err.enhanced_code(),
        Some(EnhancedCode::new(Class::Permanent, 7, 1))
    );
    assert!(!client.can_reuse());
    server.finish().await;
}

#[tokio::test]
async fn rcpt_554_then_close_under_pipelining_is_a_permanent_failure() {
    let script = hello(EHLO_PIPELINING)
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("250 ok\n554 5.7.1 relay denied")
        .close();
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let delivery = client
        .deliver(&envelope("a@example.org", &["b@example.com"]), MSG)
        .await
        .unwrap();
    let RecipientOutcome::Failed(response) = &delivery.recipients[0] else {
        panic!()
    };
    assert_eq!(response.code, 554);
    assert!(response.permanent);
    assert!(delivery.error.is_none());
    assert!(!client.can_reuse());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn mail_from_451_is_a_temporary_error_and_connection_stays_usable() {
    let script = hello(EHLO_PLAIN)
        .expect("MAIL FROM:<a@example.org>")
        .send("451 4.3.0 later")
        .expect("RSET")
        .send("250 ok")
        .expect("MAIL FROM:<a@example.org>")
        .send("250 ok")
        .expect("RCPT TO:<b@example.com>")
        .send("250 ok")
        .expect("DATA")
        .send("354 go")
        .read_data(MSG_DATA)
        .send("250 ok")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let env = envelope("a@example.org", &["b@example.com"]);
    let err = client.deliver(&env, MSG).await.unwrap_err();
    assert!(!err.is_permanent());
    assert_eq!(err.reply().unwrap().code, 451);
    assert!(client.can_reuse());
    assert!(client.deliver(&env, MSG).await.unwrap().recipients[0].is_delivered());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn data_command_554_fails_accepted_recipients() {
    let script = hello(EHLO_PIPELINING)
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("250 ok\n250 ok\n554 5.3.0 no data today")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let delivery = client
        .deliver(&envelope("a@example.org", &["b@example.com"]), MSG)
        .await
        .unwrap();
    let RecipientOutcome::Failed(response) = &delivery.recipients[0] else {
        panic!()
    };
    assert_eq!(
        (response.command, response.code, response.permanent),
        (Command::Data, 554, true)
    );
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn final_dot_rejected_with_550_fails_the_recipients() {
    let script = hello(EHLO_PIPELINING)
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "RCPT TO:<c@example.com>",
            "DATA",
        ])
        .send("250 ok\n250 ok\n250 ok\n354 go")
        .read_data(MSG_DATA)
        .send("550 5.7.1 spam")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let env = envelope("a@example.org", &["b@example.com", "c@example.com"]);
    let delivery = client.deliver(&env, MSG).await.unwrap();
    for outcome in &delivery.recipients {
        assert!(outcome.is_permanent_failure());
        assert_eq!(outcome.response().unwrap().lines[0], "5.7.1 spam");
    }
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn rcptmax_splits_recipients_into_transactions() {
    let script = hello("250-mx.example\n250-PIPELINING\n250 LIMITS RCPTMAX=2")
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<r1@example.com>",
            "RCPT TO:<r2@example.com>",
            "DATA",
        ])
        .send("250 ok\n250 ok\n250 ok\n354 go")
        .read_data(MSG_DATA)
        .send("250 first")
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<r3@example.com>",
            "DATA",
        ])
        .send("250 ok\n250 ok\n354 go")
        .read_data(MSG_DATA)
        .send("250 second")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let env = envelope(
        "a@example.org",
        &["r1@example.com", "r2@example.com", "r3@example.com"],
    );
    let delivery = client.deliver(&env, MSG).await.unwrap();
    assert_eq!(delivery.transactions, 2);
    assert_eq!(delivery.delivered(), 3);
    assert_eq!(
        delivery.recipients[2].response().unwrap().lines[0],
        "second"
    );
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn mailmax_ends_the_connection_after_that_many_transactions() {
    let script = hello("250-mx.example\n250-PIPELINING\n250 LIMITS MAILMAX=1 RCPTMAX=1")
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<r1@example.com>",
            "DATA",
        ])
        .send("250 ok\n250 ok\n354 go")
        .read_data(MSG_DATA)
        .send("250 first")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let env = envelope("a@example.org", &["r1@example.com", "r2@example.com"]);
    let delivery = client.deliver(&env, MSG).await.unwrap();
    assert!(delivery.recipients[0].is_delivered());
    assert_eq!(
        delivery.recipients[1],
        RecipientOutcome::NotAttempted(NotAttempted::MailMaxReached)
    );
    assert!(!client.can_reuse());
    let err = client.deliver(&env, MSG).await.unwrap_err();
    assert!(matches!(err, Error::Unusable { .. }), "{err:?}");
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn dsn_params_are_dropped_when_dsn_is_not_offered() {
    let script = hello(EHLO_PIPELINING)
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("250 ok\n250 ok\n354 go")
        .read_data(MSG_DATA)
        .send("250 ok")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let mut env = envelope("a@example.org", &["b@example.com"]);
    env.ret = Some(Ret::Full);
    env.envid = Some("abc".into());
    env.recipients[0].notify = Some(Notify::new(true, false, false));
    let delivery = client.deliver(&env, MSG).await.unwrap();
    assert!(delivery.dsn_params_dropped);
    assert!(delivery.recipients[0].is_delivered());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn dsn_params_are_sent_xtext_encoded_when_dsn_is_offered() {
    let script = hello("250-mx.example\n250 DSN")
        .expect("MAIL FROM:<a@example.org> RET=FULL ENVID=q+3D1+2B")
        .send("250 ok")
        .expect("RCPT TO:<b@example.com> NOTIFY=NEVER ORCPT=rfc822;b+2Bx@example.com")
        .send("250 ok")
        .expect("DATA")
        .send("354 go")
        .read_data(MSG_DATA)
        .send("250 ok")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let mut env = envelope("a@example.org", &["b@example.com"]);
    env.ret = Some(Ret::Full);
    env.envid = Some("q=1+".into());
    env.recipients[0].notify = Some(Notify::NEVER);
    env.recipients[0].orcpt = Some(OriginalRecipient::for_address(&addr("b+x@example.com")));
    let delivery = client.deliver(&env, MSG).await.unwrap();
    assert!(!delivery.dsn_params_dropped);
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn bdat_without_pipelining_sends_crlf_normalised_chunk() {
    let script = hello("250-mx.example\n250-8BITMIME\n250 CHUNKING")
        .expect("MAIL FROM:<a@example.org> BODY=7BIT")
        .send("250 ok")
        .expect("RCPT TO:<b@example.com>")
        .send("250 ok")
        .read_bdat("BDAT 18 LAST", b"a\r\n.b\r\nc\r\n\r\nlast\r\n")
        .send("250 2.0.0 ok")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let delivery = client
        .deliver(
            &envelope("a@example.org", &["b@example.com"]),
            b"a\n.b\r\nc\n\nlast",
        )
        .await
        .unwrap();
    assert_eq!(
        delivery.recipients[0].response().unwrap().command,
        Command::Bdat
    );
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn data_is_dot_stuffed_with_crlf_line_endings() {
    let script = hello(EHLO_PLAIN)
        .expect("MAIL FROM:<a@example.org>")
        .send("250 ok")
        .expect("RCPT TO:<b@example.com>")
        .send("250 ok")
        .expect("DATA")
        .send("354 go")
        .read_data(b"..leading\r\nmid.dle\r\n..\r\n...\r\nend\r\n.\r\n")
        .send("250 ok")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    client
        .deliver(
            &envelope("a@example.org", &["b@example.com"]),
            b".leading\nmid.dle\r\n.\n..\nend",
        )
        .await
        .unwrap();
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn large_message_goes_out_in_blocks_with_the_same_bytes() {
    let line = b"0123456789012345678901234567890123456789012345678901234567890123456789\r\n";
    let mut message = Vec::new();
    while message.len() < 300 * 1024 {
        message.extend_from_slice(line);
    }
    let mut wire = message.clone();
    wire.extend_from_slice(b".\r\n");
    let script = hello(EHLO_PIPELINING)
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("250 ok\n250 ok\n354 go")
        .read_data(&wire)
        .send("250 ok")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let delivery = client
        .deliver(&envelope("a@example.org", &["b@example.com"]), &message)
        .await
        .unwrap();
    assert!(delivery.recipients[0].is_delivered());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn rcpt_421_ends_the_connection() {
    let script = hello(EHLO_PIPELINING)
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("250 ok\n421 4.3.2 shutting down")
        .close();
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let err = client
        .deliver(&envelope("a@example.org", &["b@example.com"]), MSG)
        .await
        .unwrap_err();
    assert_eq!(err.reply().unwrap().code, 421);
    assert!(!err.is_permanent());
    assert!(!client.can_reuse());
    client.quit().await.unwrap();
    let t = server.finish().await;
    assert!(!t.client_text().contains("QUIT"));
}

#[tokio::test]
async fn final_reply_421_fails_recipients_and_ends_reuse() {
    let script = hello(EHLO_PIPELINING)
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("250 ok\n250 ok\n354 go")
        .read_data(MSG_DATA)
        .send("421 4.3.2 bye now")
        .close();
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let delivery = client
        .deliver(&envelope("a@example.org", &["b@example.com"]), MSG)
        .await
        .unwrap();
    let RecipientOutcome::Failed(response) = &delivery.recipients[0] else {
        panic!()
    };
    assert_eq!((response.code, response.permanent), (421, false));
    assert!(!client.can_reuse());
    server.finish().await;
}

#[tokio::test(start_paused = true)]
async fn no_reply_to_the_final_dot_times_out_after_ten_minutes() {
    let script = hello(EHLO_PLAIN)
        .expect("MAIL FROM:<a@example.org>")
        .send("250 ok")
        .expect("RCPT TO:<b@example.com>")
        .send("250 ok")
        .expect("DATA")
        .send("354 go")
        .read_data(MSG_DATA)
        .hang();
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let err = client
        .deliver(&envelope("a@example.org", &["b@example.com"]), MSG)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Timeout { command: Command::Data, timeout } if timeout == Duration::from_secs(600)),
        "{err:?}"
    );
    assert!(!client.can_reuse());
    drop(client);
    server.finish().await;
}

#[tokio::test(start_paused = true)]
async fn no_reply_to_rcpt_times_out_with_the_rcpt_timeout() {
    let script = hello(EHLO_PLAIN)
        .expect("MAIL FROM:<a@example.org>")
        .send("250 ok")
        .expect("RCPT TO:<b@example.com>")
        .hang();
    let mut cfg = config();
    cfg.timeouts.rcpt = Duration::from_secs(42);
    let (client, server) = connect(script, cfg).await;
    let mut client = client.unwrap();
    let err = client
        .deliver(&envelope("a@example.org", &["b@example.com"]), MSG)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Timeout { command: Command::RcptTo, timeout } if timeout == Duration::from_secs(42)),
        "{err:?}"
    );
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn partial_delivery_then_connection_loss_reports_each_recipient() {
    let script = hello("250-mx.example\n250-PIPELINING\n250 LIMITS RCPTMAX=1")
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<r1@example.com>",
            "DATA",
        ])
        .send("250 ok\n250 ok\n354 go")
        .read_data(MSG_DATA)
        .send("250 first")
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<r2@example.com>",
            "DATA",
        ])
        .close();
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let env = envelope("a@example.org", &["r1@example.com", "r2@example.com"]);
    let delivery = client.deliver(&env, MSG).await.unwrap();
    assert!(delivery.recipients[0].is_delivered());
    assert!(matches!(
        &delivery.recipients[1],
        RecipientOutcome::NotAttempted(NotAttempted::SessionEnded { .. })
    ));
    assert!(matches!(
        delivery.error,
        Some(Error::Closed {
            command: Command::MailFrom
        })
    ));
    server.finish().await;
}

#[tokio::test]
async fn server_that_closes_after_5xx_gives_the_reply_not_an_io_error() {
    let script = hello(EHLO_PLAIN).send("554 5.3.2 shutting down").close();
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    server.finish().await;
    let err = client
        .deliver(&envelope("a@example.org", &["b@example.com"]), MSG)
        .await
        .unwrap_err();
    assert_eq!(err.command(), Some(Command::MailFrom));
    assert_eq!(err.reply().unwrap().code, 554);
    assert!(err.is_permanent());
    assert!(!client.can_reuse());
}

#[tokio::test]
async fn large_bdat_chunk_follows_the_pipelined_commands() {
    let mut message = Vec::new();
    while message.len() < 200 * 1024 {
        message.extend_from_slice(b"a fairly ordinary line of message text, repeated\r\n");
    }
    let script = hello("250-mx.example\n250-PIPELINING\n250 CHUNKING")
        .expect_pipelined(&["MAIL FROM:<a@example.org>", "RCPT TO:<b@example.com>"])
        .read_bdat(&format!("BDAT {} LAST", message.len()), &message)
        .send("250 ok\n250 ok\n250 2.0.0 stored")
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, config()).await;
    let mut client = client.unwrap();
    let delivery = client
        .deliver(&envelope("a@example.org", &["b@example.com"]), &message)
        .await
        .unwrap();
    assert!(delivery.recipients[0].is_delivered());
    client.quit().await.unwrap();
    server.finish().await;
}
