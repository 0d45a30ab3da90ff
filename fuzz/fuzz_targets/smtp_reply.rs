//! Server replies as the SMTP client reads them: parse_reply on arbitrary
//! bytes, then EHLO extension parsing on whatever reply came out. A parsed
//! reply must survive a round trip through its wire form.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((reply, used))) = smtp::parse_reply(rest) {
        assert!(used > 0 && used <= rest.len(), "consumed {used} of {}", rest.len());
        assert!(!reply.lines.is_empty());
        let _ = reply.enhanced_code();
        let _ = reply.message();
        let _ = smtp::Extensions::parse(&reply.lines);

        // Invalid UTF-8 is replaced by U+FFFD (three octets), so a line of
        // such bytes may grow past the line limit; that is documented lossy
        // behaviour, not a round-trip defect.
        if reply.lines.iter().any(|l| l.contains('\u{FFFD}')) {
            rest = &rest[used..];
            continue;
        }
        let wire = reply.to_wire();
        let (again, again_used) = smtp::parse_reply(wire.as_bytes())
            .expect("our own wire form parses")
            .expect("our own wire form is complete");
        assert_eq!(again_used, wire.len());
        assert_eq!(again, reply);
        rest = &rest[used..];
    }
});
