//! Untrusted input never panics, and what compose writes parses back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use webapi::compose::{ComposeContext, compose};
use webapi::types::{NameAddress, SendRequest};
use webapi::webhook::{IncomingMeta, incoming_from_message, is_automated};

fn ctx() -> ComposeContext {
    ComposeContext {
        hostname: "mail.example.org".into(),
        now: UNIX_EPOCH + Duration::from_secs(1_709_287_200),
        default_from: NameAddress::new("Ann", "ann@example.org"),
        user_agent: "postel/test".into(),
        random: [9; 16],
    }
}

/// Message-like bytes: header lines, MIME boundaries and encodings mixed with noise.
fn messageish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"Content-Type: multipart/mixed; boundary=b\r\n".to_vec()),
        Just(b"Content-Type: message/rfc822\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: quoted-printable\r\n".to_vec()),
        Just(b"Subject: =?utf-8?q?=C3=A9?=\r\n".to_vec()),
        Just(b"From: \"a\" <b@c>, ;:@\r\n".to_vec()),
        Just(b"Date: Fri, 31 Feb 99999 99:99:99 +9999\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"--b\r\n".to_vec()),
        Just(b"--b--\r\n".to_vec()),
        Just(b"=\r\n=ZZ=4".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(piece, 0..30).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn parsing_any_bytes_does_not_panic(raw in messageish(), path in proptest::collection::vec(0u32..4, 0..4)) {
        let (_, structure) = webapi::mime::parse(&raw);
        let _ = webapi::mime::part(&raw, &path);
        let _ = is_automated(&raw, false);
        let inc = incoming_from_message(&raw, IncomingMeta::default());
        prop_assert_eq!(inc.structure, structure);
    }

    #[test]
    fn composed_messages_parse_back(
        subject in "[\\PC\\t\\x00-\\x1f]{0,120}",
        name in "[\\PC\\t\\x01]{0,40}",
        text in "[\\PC\n]{1,300}",
    ) {
        let req = SendRequest {
            to: vec![NameAddress::new(name.clone(), "bob@example.net")],
            subject: subject.clone(),
            text: text.clone(),
            ..SendRequest::default()
        };
        match compose(&req, &ctx()) {
            Ok(c) => {
                // Every line within the SMTP limit.
                for line in c.data.split(|&b| b == b'\n') {
                    prop_assert!(line.len() <= 999);
                }
                let (m, _) = webapi::mime::parse(&c.data);
                prop_assert_eq!(m.subject.trim(), subject.trim());
                prop_assert_eq!(m.to[0].name.trim(), name.trim());
                let mut want = text.replace("\r\n", "\n");
                if !want.ends_with('\n') {
                    want.push('\n');
                }
                prop_assert_eq!(m.text, want);
            }
            Err(e) => prop_assert_eq!(e.code, webapi::ErrorCode::User),
        }
    }
}
