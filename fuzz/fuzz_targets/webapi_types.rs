//! Request JSON as the web API decodes it: every request type of
//! `webapi::types` from the same bytes, `webapi::time::parse` on the text,
//! and `webapi::compose` on whatever decodes as a Send request.
//!
//! Beyond "no panic": a decoded request encodes to JSON that decodes to the
//! same request (the idempotency fingerprint is taken over that encoding);
//! a parsed time formats to text that parses to the same time; a composed
//! message has CRLF line ends only and a header section of well-formed
//! fields (no header injection from request fields).
#![no_main]

use std::fmt::Debug;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use webapi::compose::{ComposeContext, compose};
use webapi::types::*;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(data: &[u8]) -> Option<T> {
    let v: T = serde_json::from_slice(data).ok()?;
    let json = serde_json::to_vec(&v).expect("decoded request encodes");
    let back: T = serde_json::from_slice(&json).unwrap_or_else(|e| {
        panic!(
            "re-encoded request does not decode ({e}): {}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(back, v);
    Some(v)
}

fn check_composed(data: &[u8]) {
    // Line ends: every LF follows a CR, every CR precedes an LF.
    for (i, &b) in data.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(data.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert_eq!(i.checked_sub(1).and_then(|p| data.get(p)), Some(&b'\r'), "bare LF at {i}"),
            0 => panic!("NUL at {i}"),
            _ => {}
        }
    }
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header section ends with an empty line");
    let header = &data[..end];
    for (n, line) in data.split(|&b| b == b'\n').enumerate() {
        assert!(line.len() <= 999, "line {n} has {} octets (RFC 5322: 998)", line.len() - 1);
    }
    for line in header.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b" ").or_else(|| line.strip_prefix(b"\t")) {
            assert!(
                rest.iter().any(|b| !b.is_ascii_whitespace()),
                "whitespace-only continuation line in {:?}",
                String::from_utf8_lossy(header)
            );
            continue;
        }
        let colon = line.iter().position(|&b| b == b':').unwrap_or_else(|| {
            panic!(
                "header line {:?} is neither a field nor a continuation",
                String::from_utf8_lossy(line)
            )
        });
        let name = &line[..colon];
        assert!(
            !name.is_empty() && name.iter().all(|b| b.is_ascii_graphic()),
            "bad field name in {:?}",
            String::from_utf8_lossy(line)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(req) = round_trip::<SendRequest>(data) {
        let ctx = ComposeContext {
            hostname: "mail.example.org".into(),
            now: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            default_from: NameAddress::new("Ann", "ann@example.org"),
            user_agent: "postel/fuzz".into(),
            random: [7; 16],
        };
        if let Ok(c) = compose(&req, &ctx) {
            check_composed(&c.data);
            assert_eq!(c.has_8bit, !c.data.is_ascii());
            let _ = webapi::mime::parse(&c.data);
        }
    }
    if let Some(batch) = round_trip::<SendBatchRequest>(data) {
        // The fingerprint is over the re-encoded request.
        let _ = webapi::server::fingerprint(Method::SendBatch, &batch);
    }
    round_trip::<File>(data);
    round_trip::<SuppressionListRequest>(data);
    round_trip::<SuppressionAddRequest>(data);
    round_trip::<SuppressionRemoveRequest>(data);
    round_trip::<SuppressionPresentRequest>(data);
    round_trip::<SuppressionCheckRequest>(data);
    round_trip::<MessageGetRequest>(data);
    round_trip::<MessagePartGetRequest>(data);
    round_trip::<MessageFlagsRequest>(data);
    round_trip::<MessageMoveRequest>(data);
    round_trip::<MessageListRequest>(data);
    round_trip::<MessageStatusRequest>(data);
    round_trip::<HookListRequest>(data);
    round_trip::<HookIdRequest>(data);
    round_trip::<WebhookTestRequest>(data);
    // Payloads a webhook receiver or our client decodes.
    round_trip::<webapi::webhook::Outgoing>(data);
    round_trip::<webapi::webhook::Incoming>(data);
    round_trip::<webapi::ApiError>(data);

    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(t) = webapi::time::parse(text) {
            let formatted = webapi::time::format(t);
            assert_eq!(
                webapi::time::parse(&formatted).ok(),
                Some(t),
                "{text:?} formats as {formatted:?}"
            );
        }
    }
});
