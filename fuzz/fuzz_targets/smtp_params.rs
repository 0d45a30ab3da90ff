//! MAIL FROM and RCPT TO parameters (SIZE, BODY, RET, ENVID, NOTIFY, ORCPT,
//! ...). Parameters that parse must format and parse back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(params) = smtp::MailParams::parse(s) {
        let wire = params.to_wire();
        let again = smtp::MailParams::parse(wire.trim_start()).expect("mail params round trip");
        assert_eq!(again, params);
    }
    if let Ok(params) = smtp::RcptParams::parse(s) {
        let wire = params.to_wire();
        let again = smtp::RcptParams::parse(wire.trim_start()).expect("rcpt params round trip");
        assert_eq!(again, params);
    }
    let _ = smtp::OriginalRecipient::parse_param(s);
});
