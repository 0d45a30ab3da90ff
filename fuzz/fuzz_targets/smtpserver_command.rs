//! Command lines as the SMTP server reads them from clients.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = smtpserver::parse_command(data) {
        // Every refusal must render as a well-formed reply.
        let reply = e.reply();
        assert!((500..600).contains(&reply.code), "{reply}");
    }
});
