//! Incoming bounces: the strict RFC 3464/6533 parser and the tolerant
//! analyser that reads real-world bounce formats.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dsn::parse(data);
    let _ = dsn::analyze(data);
});
