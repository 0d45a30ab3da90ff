#![allow(clippy::unwrap_used, clippy::expect_used)]
//! compose → parse gives back every field, for ASCII and UTF-8 DSNs, one and
//! many recipients, header-only and full returns.

use std::time::Duration;

use dsn::{
    Action, DateTime, Dsn, Mta, Original, PerMessage, RecipientStatus, RetrySchedule, ReturnedKind,
    Typed, compose, parse,
};
use smtp::{Class, EnhancedCode};

const ORIGINAL_ASCII: &[u8] = b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: hello\r\nMessage-ID: <orig-1@example.org>\r\n\r\nHi Bob.\r\n";
const ORIGINAL_UTF8: &[u8] = "From: Jörg <jörg@bücher.example>\r\nTo: 小林@例え.jp\r\nSubject: grüße\r\nMessage-ID: <orig-2@bücher.example>\r\n\r\nHallo, schöne Grüße.\r\n".as_bytes();

fn code(c: Class, s: u16, d: u16) -> EnhancedCode {
    EnhancedCode::new(c, s, d)
}

fn recipient(addr: &str, action: Action, status: EnhancedCode) -> RecipientStatus {
    let mut r = RecipientStatus::new(addr, action, status);
    r.original_recipient = Some(Typed::address(addr));
    r.remote_mta = Some(Mta {
        kind: "dns".into(),
        name: "mx.example.net".into(),
        ip: Some("192.0.2.25".into()),
    });
    r.diagnostic_code = Some(Typed::new(
        "smtp",
        &format!(
            "{} {status} mailbox says no",
            if status.class == Class::Permanent {
                550
            } else {
                451
            }
        ),
    ));
    r.last_attempt_date = Some(DateTime::from_unix(1_700_000_000, 60));
    r.final_log_id = Some("q-123".into());
    r.status_comment = Some("mailbox says no".into());
    r
}

fn base(recipients: Vec<RecipientStatus>, utf8: bool, original: Option<Original>) -> Dsn {
    Dsn {
        from: "postmaster@mx.example.org".into(),
        to: if utf8 {
            "jörg@bücher.example".into()
        } else {
            "alice@example.org".into()
        },
        subject: if utf8 {
            "Zustellung fehlgeschlagen".into()
        } else {
            "mail delivery failed".into()
        },
        message_id: "dsn-1@mx.example.org".into(),
        references: Some("orig-1@example.org".into()),
        date: DateTime::from_unix(1_700_000_100, 0),
        text: String::new(),
        per_message: PerMessage {
            original_envelope_id: Some("env-42".into()),
            reporting_mta: Some(Mta::dns("mx.example.org")),
            dsn_gateway: None,
            received_from_mta: Some(Mta {
                kind: "dns".into(),
                name: "submit.example.org".into(),
                ip: Some("2001:db8::1".into()),
            }),
            arrival_date: Some(DateTime::from_unix(1_699_990_000, 0)),
            future_release_request: None,
            fields: Vec::new(),
        },
        recipients,
        original,
        smtputf8: utf8,
        retry: None,
    }
}

/// Compares the fields compose writes with what parse read back.
fn assert_same(sent: &Dsn, bytes: &[u8]) -> dsn::Report {
    let text = String::from_utf8_lossy(bytes);
    assert!(text.split("\r\n").all(|l| l.len() <= 998), "line over 998");
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "bare LF in output"
    );
    let report = parse(bytes).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(report.utf8, sent.smtputf8);
    assert_eq!(report.message_id.as_deref(), Some(sent.message_id.as_str()));
    assert_eq!(report.references, vec!["orig-1@example.org".to_string()]);
    assert_eq!(report.to.as_deref(), Some(sent.to.as_str()));
    assert_eq!(
        report.per_message.original_envelope_id,
        sent.per_message.original_envelope_id
    );
    assert_eq!(
        report.per_message.reporting_mta,
        sent.per_message.reporting_mta
    );
    assert_eq!(
        report.per_message.received_from_mta,
        sent.per_message.received_from_mta
    );
    assert_eq!(
        report.per_message.arrival_date.map(|d| d.unix()),
        sent.per_message.arrival_date.map(|d| d.unix())
    );
    assert_eq!(report.recipients.len(), sent.recipients.len());
    for (got, want) in report.recipients.iter().zip(&sent.recipients) {
        assert_eq!(got.final_recipient, want.final_recipient);
        assert_eq!(got.original_recipient, want.original_recipient);
        assert_eq!(got.action, want.action);
        assert_eq!(got.status, want.status);
        assert_eq!(got.status_comment, want.status_comment);
        assert_eq!(got.remote_mta, want.remote_mta);
        assert_eq!(got.diagnostic_code, want.diagnostic_code);
        assert_eq!(got.last_attempt_date, want.last_attempt_date);
        assert_eq!(got.final_log_id, want.final_log_id);
    }
    report
}

#[test]
fn ascii_single_recipient_headers_only_round_trips() {
    let d = base(
        vec![recipient(
            "bob@example.net",
            Action::Failed,
            code(Class::Permanent, 1, 1),
        )],
        false,
        Some(Original {
            message: ORIGINAL_ASCII.to_vec(),
            return_full: false,
        }),
    );
    let bytes = compose(&d).unwrap();
    let r = assert_same(&d, &bytes);
    let ret = r.returned.unwrap();
    assert_eq!(ret.kind, ReturnedKind::Headers);
    assert_eq!(ret.message_id().as_deref(), Some("orig-1@example.org"));
    assert!(!String::from_utf8_lossy(&ret.content).contains("Hi Bob"));
    assert!(
        r.text
            .contains("Delivery to bob@example.net failed permanently")
    );
}

#[test]
fn ascii_many_recipients_full_return_round_trips() {
    let d = base(
        vec![
            recipient(
                "bob@example.net",
                Action::Failed,
                code(Class::Permanent, 1, 1),
            ),
            recipient(
                "carol@example.net",
                Action::Failed,
                code(Class::Permanent, 2, 2),
            ),
            recipient(
                "dave@example.net",
                Action::Delivered,
                code(Class::Success, 0, 0),
            ),
        ],
        false,
        Some(Original {
            message: ORIGINAL_ASCII.to_vec(),
            return_full: true,
        }),
    );
    let bytes = compose(&d).unwrap();
    let r = assert_same(&d, &bytes);
    let ret = r.returned.unwrap();
    assert_eq!(ret.kind, ReturnedKind::Message);
    assert!(String::from_utf8_lossy(&ret.content).contains("Hi Bob."));
    assert!(
        !String::from_utf8_lossy(&bytes)
            .to_ascii_lowercase()
            .contains("base64")
    );
}

#[test]
fn utf8_single_recipient_headers_only_uses_global_types() {
    let d = base(
        vec![recipient(
            "小林@例え.jp",
            Action::Failed,
            code(Class::Permanent, 1, 1),
        )],
        true,
        Some(Original {
            message: ORIGINAL_UTF8.to_vec(),
            return_full: false,
        }),
    );
    let bytes = compose(&d).unwrap();
    let s = String::from_utf8(bytes.clone()).unwrap();
    assert!(s.contains("Content-Type: message/global-delivery-status\r\n"));
    assert!(s.contains("Final-Recipient: utf-8;小林@例え.jp\r\n"));
    assert!(s.contains("Content-Type: message/global-headers\r\n"));
    let r = assert_same(&d, &bytes);
    assert_eq!(r.returned.unwrap().kind, ReturnedKind::GlobalHeaders);
}

#[test]
fn utf8_many_recipients_full_return_uses_message_global() {
    let d = base(
        vec![
            recipient(
                "jörg@bücher.example",
                Action::Failed,
                code(Class::Permanent, 2, 2),
            ),
            recipient(
                "bob@example.net",
                Action::Delayed,
                code(Class::Transient, 4, 1),
            ),
        ],
        true,
        Some(Original {
            message: ORIGINAL_UTF8.to_vec(),
            return_full: true,
        }),
    );
    let bytes = compose(&d).unwrap();
    let r = assert_same(&d, &bytes);
    let ret = r.returned.unwrap();
    assert_eq!(ret.kind, ReturnedKind::GlobalMessage);
    assert!(String::from_utf8_lossy(&ret.content).contains("schöne Grüße"));
}

#[test]
fn utf8_address_in_ascii_dsn_is_xtext_encoded() {
    let d = base(
        vec![recipient(
            "jörg@bücher.example",
            Action::Failed,
            code(Class::Permanent, 1, 1),
        )],
        false,
        Some(Original {
            message: ORIGINAL_UTF8.to_vec(),
            return_full: false,
        }),
    );
    let bytes = compose(&d).unwrap();
    assert!(bytes.is_ascii());
    let s = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        s.contains("Final-Recipient: utf-8;j\\x{F6}rg@b\\x{FC}cher.example\r\n"),
        "{s}"
    );
    assert!(s.contains(
        "Content-Type: text/rfc822-headers; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
    ));
    let r = assert_same(&d, &bytes);
    assert_eq!(r.recipients[0].final_recipient.value, "jörg@bücher.example");
}

#[test]
fn full_return_is_headers_only_for_delayed_dsns() {
    let d = base(
        vec![recipient(
            "bob@example.net",
            Action::Delayed,
            code(Class::Transient, 4, 1),
        )],
        false,
        Some(Original {
            message: ORIGINAL_ASCII.to_vec(),
            return_full: true,
        }),
    );
    let r = parse(&compose(&d).unwrap()).unwrap();
    assert_eq!(r.returned.unwrap().kind, ReturnedKind::Headers);
}

#[test]
fn delayed_dsn_will_retry_until_and_text_follow_the_schedule() {
    let mut d = base(
        vec![recipient(
            "bob@example.net",
            Action::Delayed,
            code(Class::Transient, 4, 1),
        )],
        false,
        None,
    );
    d.retry = Some(RetrySchedule {
        remaining_waits: vec![
            Duration::from_secs(2 * 3600),
            Duration::from_secs(4 * 3600),
            Duration::from_secs(8 * 3600),
        ],
    });
    let bytes = compose(&d).unwrap();
    let r = parse(&bytes).unwrap();
    // last attempt 1_700_000_000 + 14 h
    assert_eq!(
        r.recipients[0].will_retry_until.unwrap().unix(),
        1_700_000_000 + 14 * 3600
    );
    assert!(
        r.text
            .replace("\r\n", " ")
            .contains("in 2 hours, 6 hours and 14 hours."),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("Delivery will be attempted until Wed, 15 Nov 2023 13:13:20 +0100.")
    );
    let s = String::from_utf8(bytes).unwrap();
    assert!(
        s.contains("Will-Retry-Until: Wed, 15 Nov 2023 13:13:20 +0100\r\n"),
        "{s}"
    );
}

#[test]
fn exact_status_part_for_one_recipient() {
    let mut d = base(
        vec![RecipientStatus::new(
            "bob@example.net",
            Action::Failed,
            code(Class::Permanent, 1, 1),
        )],
        false,
        None,
    );
    d.per_message.received_from_mta = None;
    d.per_message.arrival_date = None;
    let s = String::from_utf8(compose(&d).unwrap()).unwrap();
    assert!(
        s.contains(
            "Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\
Original-Envelope-ID: env-42\r\nReporting-MTA: dns;mx.example.org\r\n\r\n\
Final-Recipient: rfc822;bob@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--"
        ),
        "{s}"
    );
    assert!(s.starts_with("From: <postmaster@mx.example.org>\r\nTo: <alice@example.org>\r\nSubject: mail delivery failed\r\nMessage-Id: <dsn-1@mx.example.org>\r\nReferences: <orig-1@example.org>\r\n"));
}

#[test]
fn compose_refuses_missing_required_fields() {
    let mut d = base(vec![], false, None);
    assert_eq!(compose(&d), Err(dsn::ComposeError::NoRecipients));
    d.recipients = vec![RecipientStatus::new(
        "a@b",
        Action::Failed,
        code(Class::Permanent, 0, 0),
    )];
    d.message_id = "<x>".into();
    assert_eq!(
        compose(&d),
        Err(dsn::ComposeError::BadMessageId("<x>".into()))
    );
}
