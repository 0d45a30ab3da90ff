//! Both DSN parsers on arbitrary bytes: the strict RFC 3464 parser and the
//! tolerant bounce reader. Beyond "no panic": a non-bounce never reports a
//! failure, and a strictly valid DSN has recipients.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let strict = dsn::parse(data);
    let a = dsn::analyze(data);
    if a.kind != dsn::MessageKind::Bounce {
        assert_eq!(a.failures().count(), 0);
    }
    if let Ok(r) = &strict {
        assert!(!r.recipients.is_empty());
    }
    let text = String::from_utf8_lossy(data);
    let _ = dsn::parse_status(&text, false);
});
