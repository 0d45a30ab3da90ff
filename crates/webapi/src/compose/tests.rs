use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::types::File;

fn ctx() -> ComposeContext {
    ComposeContext {
        hostname: "mail.example.org".into(),
        now: UNIX_EPOCH + Duration::from_secs(1_709_287_200),
        default_from: NameAddress::new("Ann Sender", "ann@example.org"),
        user_agent: "postel/0.1.0".into(),
        random: [1; 16],
    }
}

fn to(addr: &str) -> Vec<NameAddress> {
    vec![NameAddress::new("", addr)]
}

fn simple() -> SendRequest {
    SendRequest {
        to: to("bob@example.net"),
        subject: "hello".into(),
        text: "Hi Bob,\n\nsee you.\n".into(),
        ..SendRequest::default()
    }
}

fn err(req: &SendRequest) -> ApiError {
    compose(req, &ctx()).unwrap_err()
}

#[test]
fn text_only_message_has_reference_header_order_and_exact_bytes() {
    let c = compose(&simple(), &ctx()).unwrap();
    assert_eq!(
        String::from_utf8(c.data.clone()).unwrap(),
        "From: Ann Sender <ann@example.org>\r\n\
         To: bob@example.net\r\n\
         Subject: hello\r\n\
         Date: Fri, 01 Mar 2024 10:00:00 +0000\r\n\
         Message-Id: <AQEBAQEBAQEBAQEBAQEBAQ@mail.example.org>\r\n\
         MIME-Version: 1.0\r\n\
         User-Agent: postel/0.1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 7bit\r\n\
         \r\n\
         Hi Bob,\r\n\
         \r\n\
         see you.\r\n"
    );
    assert_eq!(c.message_id, "<AQEBAQEBAQEBAQEBAQEBAQ@mail.example.org>");
    assert_eq!(c.from.to_string(), "ann@example.org");
    assert!(!c.smtputf8 && !c.has_8bit);
    assert_eq!(c.subject, "hello");
}

fn full() -> SendRequest {
    SendRequest {
        to: vec![
            NameAddress::new("Bøb", "bob@example.net"),
            NameAddress::new("Carl \"C\" Smith", "carl@example.net"),
        ],
        cc: to("cc@example.net"),
        bcc: to("hidden@example.net"),
        reply_to: to("replies@example.org"),
        subject: "Grüße aus Köln, a fairly long subject line that needs folding somewhere".into(),
        text: "héllo\nsecond line\n".into(),
        html: "<p>hi</p>".into(),
        references: vec!["<a@x>".into(), "<b@x>".into()],
        headers: vec![["X-Campaign".into(), "spring".into()]],
        inline_files: vec![File {
            name: "logo.png".into(),
            content_type: String::new(),
            content_id: "<logo@x>".into(),
            data: "iVBORw0KGgo=".into(),
        }],
        attached_files: vec![File {
            name: "résumé.txt".into(),
            content_type: "text/plain".into(),
            content_id: String::new(),
            data: "aGVsbG8K".into(),
        }],
        ..SendRequest::default()
    }
}

#[test]
fn mixed_related_alternative_message_has_exact_bytes() {
    let c = compose(&full(), &ctx()).unwrap();
    let (b1, b2, b3) = (
        "=_ihSwl_vXKp_KO9UqnlcA_3w9",
        "=_9y-XbMvD51qNiFCLq00wOf5O",
        "=_d83umBDtiMwk21zc2tdKMETY",
    );
    let want = format!(
        "From: Ann Sender <ann@example.org>\r\n\
         Reply-To: replies@example.org\r\n\
         To: =?utf-8?q?B=C3=B8b?= <bob@example.net>, \"Carl \\\"C\\\" Smith\"\r\n \
         <carl@example.net>\r\n\
         Cc: cc@example.net\r\n\
         Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln=2C_a_fairly_long_subject_line_tha?=\r\n \
         =?utf-8?q?t_needs_folding_somewhere?=\r\n\
         Date: Fri, 01 Mar 2024 10:00:00 +0000\r\n\
         Message-Id: <AQEBAQEBAQEBAQEBAQEBAQ@mail.example.org>\r\n\
         References: <a@x> <b@x>\r\n\
         In-Reply-To: <b@x>\r\n\
         MIME-Version: 1.0\r\n\
         X-Campaign: spring\r\n\
         User-Agent: postel/0.1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{b1}\"\r\n\r\n\
         --{b1}\r\n\
         Content-Type: multipart/related; boundary=\"{b2}\"\r\n\r\n\
         --{b2}\r\n\
         Content-Type: multipart/alternative; boundary=\"{b3}\"\r\n\r\n\
         --{b3}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n\
         h=C3=A9llo\r\nsecond line\r\n\r\n\
         --{b3}\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         Content-Transfer-Encoding: 7bit\r\n\r\n\
         <p>hi</p>\r\n\r\n\
         --{b3}--\r\n\
         --{b2}\r\n\
         Content-Type: image/png\r\n\
         Content-Disposition: inline; filename=\"logo.png\"\r\n\
         Content-ID: <logo@x>\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         iVBORw0KGgo=\r\n\
         --{b2}--\r\n\
         --{b1}\r\n\
         Content-Type: text/plain\r\n\
         Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.txt\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         aGVsbG8K\r\n\
         --{b1}--\r\n"
    );
    assert_eq!(String::from_utf8(c.data.clone()).unwrap(), want);
    let kinds: Vec<_> = c
        .recipients
        .iter()
        .map(|(k, a)| (*k, a.to_string()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (RecipientKind::To, "bob@example.net".to_string()),
            (RecipientKind::To, "carl@example.net".to_string()),
            (RecipientKind::Cc, "cc@example.net".to_string()),
            (RecipientKind::Bcc, "hidden@example.net".to_string()),
        ]
    );
    assert!(!c.data.windows(6).any(|w| w == b"hidden"));
}

#[test]
fn composed_message_parses_back_to_the_request() {
    let c = compose(&full(), &ctx()).unwrap();
    let (m, s) = crate::mime::parse(&c.data);
    assert_eq!(
        m.subject,
        "Grüße aus Köln, a fairly long subject line that needs folding somewhere"
    );
    assert_eq!(
        m.to,
        vec![
            NameAddress::new("Bøb", "bob@example.net"),
            NameAddress::new("Carl \"C\" Smith", "carl@example.net")
        ]
    );
    assert_eq!(
        m.from,
        vec![NameAddress::new("Ann Sender", "ann@example.org")]
    );
    assert!(m.bcc.is_empty());
    assert_eq!(m.references, vec!["<a@x>", "<b@x>"]);
    assert_eq!(m.date, Some(ctx().now));
    assert_eq!(m.text, "héllo\nsecond line\n");
    assert_eq!(m.html, "<p>hi</p>\n");
    assert_eq!(s.content_type, "multipart/mixed");
    assert_eq!(s.parts[0].content_type, "multipart/related");
    assert_eq!(s.parts[0].parts[0].content_type, "multipart/alternative");
    assert_eq!(s.parts[0].parts[1].content_id, "<logo@x>");
    assert_eq!(s.parts[1].filename, "résumé.txt");
    assert_eq!(
        crate::mime::part(&c.data, &[1]).unwrap(),
        b"hello\n".to_vec()
    );
    assert_eq!(
        crate::mime::part(&c.data, &[0, 1]).unwrap(),
        b"\x89PNG\r\n\x1a\n".to_vec()
    );
}

#[test]
fn non_ascii_localpart_needs_smtputf8_and_is_written_in_utf8() {
    let req = SendRequest {
        to: to("jøran@example.net"),
        ..simple()
    };
    let c = compose(&req, &ctx()).unwrap();
    assert!(c.smtputf8 && c.has_8bit);
    assert!(
        String::from_utf8(c.data)
            .unwrap()
            .contains("\r\nTo: jøran@example.net\r\n")
    );
}

#[test]
fn idn_domain_alone_is_written_as_a_labels_without_smtputf8() {
    let req = SendRequest {
        to: to("bob@bücher.example"),
        ..simple()
    };
    let c = compose(&req, &ctx()).unwrap();
    assert!(!c.smtputf8 && !c.has_8bit);
    assert!(
        String::from_utf8(c.data)
            .unwrap()
            .contains("\r\nTo: bob@xn--bcher-kva.example\r\n")
    );
}

#[test]
fn given_x_mailer_suppresses_user_agent_and_date_and_message_id_are_kept() {
    let req = SendRequest {
        headers: vec![["X-Mailer".into(), "app 1.0".into()]],
        message_id: "<given@example.org>".into(),
        date: Some(UNIX_EPOCH + Duration::from_secs(86_400 * 3)),
        ..simple()
    };
    let c = compose(&req, &ctx()).unwrap();
    let s = String::from_utf8(c.data).unwrap();
    assert!(
        s.contains("\r\nX-Mailer: app 1.0\r\nContent-Type: text/plain"),
        "{s}"
    );
    assert!(!s.contains("User-Agent"));
    assert!(s.contains("\r\nDate: Sun, 04 Jan 1970 00:00:00 +0000\r\n"));
    assert_eq!(c.message_id, "<given@example.org>");
}

#[test]
fn long_lines_are_quoted_printable_with_soft_breaks() {
    let line = format!("{}é {}", "a".repeat(80), "b".repeat(10));
    let req = SendRequest {
        text: format!("{line}\n"),
        ..simple()
    };
    let c = compose(&req, &ctx()).unwrap();
    let s = String::from_utf8(c.data.clone()).unwrap();
    let body = s.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(
        body,
        format!(
            "{}=\r\n{}=C3=A9 {}\r\n",
            "a".repeat(75),
            "a".repeat(5),
            "b".repeat(10)
        )
    );
    assert_eq!(crate::mime::parse(&c.data).0.text, format!("{line}\n"));
}

#[test]
fn ascii_subjects_fold_at_spaces_and_keep_runs_of_spaces() {
    let long = "word ".repeat(20).trim_end().to_string();
    let c = compose(
        &SendRequest {
            subject: long.clone(),
            ..simple()
        },
        &ctx(),
    )
    .unwrap();
    let s = String::from_utf8(c.data.clone()).unwrap();
    assert!(
        s.contains(&format!(
            "\r\nSubject: {}\r\n {}\r\nDate: ",
            "word ".repeat(14).trim_end(),
            "word ".repeat(6).trim_end()
        )),
        "{s}"
    );
    assert_eq!(crate::mime::parse(&c.data).0.subject, long);

    let spaced = "a  b ";
    let c = compose(
        &SendRequest {
            subject: spaced.into(),
            ..simple()
        },
        &ctx(),
    )
    .unwrap();
    assert!(
        String::from_utf8(c.data)
            .unwrap()
            .contains("\r\nSubject: a  b \r\n")
    );
}

#[test]
fn trailing_space_before_line_end_is_encoded() {
    assert_eq!(
        quoted_printable(&["a ", "b\t", "=x"]),
        b"a=20\r\nb=09\r\n=3Dx\r\n".to_vec()
    );
}

#[test]
fn validation_errors_carry_the_reference_codes() {
    let cases: Vec<(SendRequest, ErrorCode, &str)> = vec![
        (
            SendRequest {
                from: vec![
                    NameAddress::new("", "a@x.org"),
                    NameAddress::new("", "b@x.org"),
                ],
                ..simple()
            },
            ErrorCode::MultipleFrom,
            "2 From addresses given, at most one allowed",
        ),
        (
            SendRequest {
                to: vec![],
                ..simple()
            },
            ErrorCode::NoRecipients,
            "no recipients in To, CC or BCC",
        ),
        (
            SendRequest {
                text: String::new(),
                ..simple()
            },
            ErrorCode::MissingBody,
            "message needs Text or HTML",
        ),
        (
            SendRequest {
                cc: to("not-an-address"),
                ..simple()
            },
            ErrorCode::BadAddress,
            "",
        ),
        (
            SendRequest {
                message_id: "abc@x".into(),
                ..simple()
            },
            ErrorCode::MalformedMessageID,
            "MessageID \"abc@x\" is not a message id like <id@host>",
        ),
        (
            SendRequest {
                references: vec!["<a b>".into()],
                ..simple()
            },
            ErrorCode::MalformedMessageID,
            "References \"<a b>\" is not a message id",
        ),
        (
            SendRequest {
                subject: "a\r\nBcc: x@y".into(),
                ..simple()
            },
            ErrorCode::User,
            "Subject contains control character '\\r'",
        ),
        (
            SendRequest {
                headers: vec![["X-A".into(), "v\n".into()]],
                ..simple()
            },
            ErrorCode::User,
            "header X-A contains control character '\\n'",
        ),
        (
            SendRequest {
                headers: vec![["Bad Name".into(), "v".into()]],
                ..simple()
            },
            ErrorCode::User,
            "invalid header name \"Bad Name\"",
        ),
        (
            SendRequest {
                headers: vec![["content-type".into(), "text/html".into()]],
                ..simple()
            },
            ErrorCode::User,
            "header content-type is set by the composer and cannot be given",
        ),
        (
            SendRequest {
                headers: vec![["FROM".into(), "x@y.org".into()]],
                ..simple()
            },
            ErrorCode::User,
            "header FROM is set by the composer and cannot be given",
        ),
        (
            SendRequest {
                attached_files: vec![File {
                    name: "f".into(),
                    data: "!!".into(),
                    ..File::default()
                }],
                ..simple()
            },
            ErrorCode::User,
            "",
        ),
        (
            SendRequest {
                future_release: Some(ctx().now + MAX_FUTURE_RELEASE + Duration::from_secs(1)),
                ..simple()
            },
            ErrorCode::User,
            "FutureRelease 2024-04-30T10:00:01Z is more than 60 days ahead",
        ),
    ];
    for (req, code, msg) in cases {
        let e = err(&req);
        assert_eq!(e.code, code, "{e}");
        if !msg.is_empty() {
            assert_eq!(e.message, msg);
        }
    }
    assert!(
        err(&SendRequest {
            cc: to("not-an-address"),
            ..simple()
        })
        .message
        .starts_with("parsing CC address \"not-an-address\": ")
    );
}

#[test]
fn sniffs_common_types() {
    assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), "image/png");
    assert_eq!(sniff(b"%PDF-1.7"), "application/pdf");
    assert_eq!(sniff(b"  <!DOCTYPE html><p>"), "text/html; charset=utf-8");
    assert_eq!(
        sniff("plain text ✓\n".as_bytes()),
        "text/plain; charset=utf-8"
    );
    assert_eq!(sniff(b"\x00\x01\x02"), "application/octet-stream");
    assert_eq!(sniff(b""), "application/octet-stream");
}

#[test]
fn encoded_words_stay_within_75_characters_and_split_between_characters() {
    let words = encoded_words(&"ö".repeat(40), false);
    assert!(words.iter().all(|w| w.len() <= 75), "{words:?}");
    assert_eq!(words.len(), 4);
    assert_eq!(words[0], format!("=?utf-8?q?{}?=", "=C3=B6".repeat(10)));
}

#[test]
fn checks_run_in_the_reference_order_and_references_need_no_brackets() {
    let req = SendRequest {
        from: vec![
            NameAddress::new("", "a@x.org"),
            NameAddress::new("", "b@x.org"),
        ],
        to: vec![],
        text: String::new(),
        ..simple()
    };
    assert_eq!(err(&req).code, ErrorCode::MissingBody);
    let req = SendRequest {
        to: to("bad"),
        cc: vec![],
        ..simple()
    };
    assert_eq!(err(&req).code, ErrorCode::BadAddress);
    let req = SendRequest {
        references: vec!["abc@x".into()],
        ..simple()
    };
    let c = compose(&req, &ctx()).unwrap();
    let s = String::from_utf8(c.data).unwrap();
    assert!(
        s.contains("\r\nReferences: abc@x\r\nIn-Reply-To: abc@x\r\n"),
        "{s}"
    );
}

#[test]
fn text_with_nul_is_quoted_printable_not_written_raw() {
    let mut req = simple();
    req.text = "a\u{0}b\tc\n".into();
    req.html = "<p>\u{7f}</p>".into();
    let c = compose(&req, &ctx()).unwrap();
    assert!(!c.data.contains(&0));
    let s = String::from_utf8(c.data.clone()).unwrap();
    assert!(
        s.contains(
            "Content-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\r\na=00b\tc\r\n"
        ),
        "{s}"
    );
    assert!(
        s.contains(
            "Content-Type: text/html; charset=utf-8\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>=7F</p>\r\n"
        ),
        "{s}"
    );
    let (m, _) = crate::mime::parse(&c.data);
    assert_eq!(m.text, "a\u{0}b\tc\n");
}

#[test]
fn message_ids_and_references_too_long_for_a_line_are_refused() {
    let long = |c: &str, n: usize| format!("<{}@x>", c.repeat(n));
    // 985 octets is the longest that still fits "In-Reply-To: " + id.
    let at_limit = long("a", MAX_MESSAGE_ID_LEN - 4);
    assert_eq!(at_limit.len(), MAX_MESSAGE_ID_LEN);
    for req in [
        SendRequest {
            message_id: long("a", 1200),
            ..simple()
        },
        SendRequest {
            message_id: long("a", MAX_MESSAGE_ID_LEN - 3),
            ..simple()
        },
        SendRequest {
            references: vec!["<a@x>".into(), long("r", 1200)],
            ..simple()
        },
    ] {
        let e = err(&req);
        assert_eq!(e.code, ErrorCode::MalformedMessageID, "{}", e.message);
    }
    let req = SendRequest {
        message_id: at_limit.clone(),
        references: vec![at_limit.clone()],
        ..simple()
    };
    let c = compose(&req, &ctx()).unwrap();
    assert_eq!(c.message_id, at_limit);
    let s = String::from_utf8(c.data).unwrap();
    assert!(s.contains(&format!("\r\nIn-Reply-To: {at_limit}\r\n")));
    assert_eq!(s.split("\r\n").map(str::len).max(), Some(998));
}

#[test]
fn long_display_names_are_split_into_encoded_words_that_decode_back() {
    for name in [
        "n".repeat(1200),
        format!("Ann {} Smith", "x".repeat(200)),
        format!("\"quoted\" {}", "q ".repeat(100)),
    ] {
        let req = SendRequest {
            to: vec![NameAddress::new(name.clone(), "bob@example.net")],
            ..simple()
        };
        let c = compose(&req, &ctx()).unwrap();
        for line in c.data.split(|&b| b == b'\n') {
            // "To: " and one 75-character encoded word, then CR.
            assert!(line.len() <= 80, "{} octets", line.len());
        }
        let msg = mail_parser::MessageParser::default()
            .parse(&c.data)
            .unwrap();
        let to = msg.to().unwrap().first().unwrap();
        assert_eq!(to.name(), Some(name.as_str()));
        assert_eq!(to.address(), Some("bob@example.net"));
    }
}
