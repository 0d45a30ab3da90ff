//! xtext (RFC 3461) and utf-8-addr-xtext (RFC 6533): decoding arbitrary
//! input, and encode/decode identity on everything that decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp::xtext;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(decoded) = xtext::decode(s) {
        assert_eq!(xtext::decode(&xtext::encode(&decoded)).as_deref(), Ok(decoded.as_str()));
    }
    if let Ok(decoded) = xtext::decode_utf8_addr(s) {
        let encoded = xtext::encode_utf8_addr(&decoded);
        assert!(encoded.is_ascii());
        assert_eq!(xtext::decode_utf8_addr(&encoded).as_deref(), Ok(decoded.as_str()));
    }
    assert_eq!(xtext::decode(&xtext::encode(s)).as_deref(), Ok(s));
    // utf-8-addr-xtext needs at least one character and has no form for
    // control characters (RFC 6533 §3), which addresses never contain.
    if !s.is_empty() && !s.chars().any(char::is_control) {
        assert_eq!(xtext::decode_utf8_addr(&xtext::encode_utf8_addr(s)).as_deref(), Ok(s));
    }
});
