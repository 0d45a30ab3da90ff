//! The failure taxonomy on what the world sends: `dsn::classify` with a
//! fuzzed reply code, enhanced status and diagnostic text (as a bounce's
//! Diagnostic-Code reaches it), and `dsn::classify_reply` on every reply
//! `smtp::parse_reply` reads from the input (as the queue sees remote
//! replies). `dsn_parse` covers `analyze`, which calls the bounce variant.
//!
//! Layout: bytes 0-1 the reply code (big endian; 0 = none), byte 2 selects
//! the enhanced status (0 = none, else read from the text's start), the rest
//! the text.
//!
//! Beyond "no panic": `hard` only for userUnknown/hostUnknown and never for
//! a transient failure; reason names parse back to the same reason.
#![no_main]

use dsn::{Classification, Reason};
use libfuzzer_sys::fuzz_target;

fn check(c: Classification, transient: bool) {
    assert_eq!(c.reason.as_str().parse::<Reason>().ok(), Some(c.reason));
    if c.hard {
        assert!(matches!(c.reason, Reason::UserUnknown | Reason::HostUnknown), "{c:?}");
        assert!(!transient, "transient failure classified hard: {c:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let [hi, lo, sel, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let code = u16::from_be_bytes([*hi, *lo]);
    let reply_code = (code != 0).then_some(code);
    let status = if *sel == 0 {
        None
    } else {
        text.split_whitespace()
            .next()
            .and_then(|w| w.parse::<smtp::EnhancedCode>().ok())
    };
    let transient = match status {
        Some(s) if s.class != smtp::Class::Success => s.class == smtp::Class::Transient,
        _ => reply_code.is_some_and(|c| c < 500),
    };
    check(dsn::classify(reply_code, status, &text), transient);

    let mut input = rest;
    while let Ok(Some((reply, used))) = smtp::parse_reply(input) {
        let transient = match reply.enhanced_code() {
            Some(s) if s.class != smtp::Class::Success => s.class == smtp::Class::Transient,
            _ => reply.code < 500,
        };
        check(dsn::classify_reply(&reply), transient);
        input = input.get(used..).unwrap_or_default();
        if used == 0 {
            break;
        }
    }
});
