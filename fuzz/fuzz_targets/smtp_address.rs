//! Addresses and paths as they arrive in MAIL FROM / RCPT TO and in headers.
//! Whatever parses must print to a form that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(address) = smtp::Address::parse(s) {
        let wire = address.to_utf8_wire();
        let again = smtp::Address::parse(&wire).expect("utf-8 wire form parses");
        assert_eq!(again, address);
        if let Some(ascii) = address.to_ascii_wire() {
            let again = smtp::Address::parse(&ascii).expect("ascii wire form parses");
            assert_eq!(again, address);
        }
    }
    let _ = smtp::parse_path(s);
    let _ = smtp::parse_reverse_path(s);
    let _ = smtp::Localpart::parse(s);
    if let Ok(domain) = smtp::Domain::parse(s) {
        let again = smtp::Domain::parse(domain.ascii()).expect("a-label form parses");
        assert_eq!(again, domain);
    }
});
