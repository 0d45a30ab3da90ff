//! Webhook secrets as configuration and the admin CLI give them
//! (`queue::webhook::validate_secret`, `sign`, `signature_header`), with a
//! fuzzed message id, timestamp and body. Bytes 0-7 are the timestamp; the
//! rest is split at 0xFF into two secrets, the id and the body.
//!
//! Beyond "no panic": a secret that validates signs; a signature is `v1,`
//! and the base64 of 32 bytes; the header holds one signature per usable
//! secret, in order.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use queue::webhook::{sign, signature_header, validate_secret};

fuzz_target!(|data: &[u8]| {
    let Some((ts, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let timestamp = i64::from_be_bytes(*ts);
    let mut parts = rest.splitn(4, |&b| b == 0xFF);
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let secrets = [next(), next()];
    let id = next();
    let body = next();

    let mut expected = Vec::new();
    for s in &secrets {
        let signed = sign(s, &id, timestamp, body.as_bytes());
        if validate_secret(s).is_ok() {
            assert!(signed.is_ok(), "valid secret {s:?} does not sign");
        }
        if let Ok(sig) = signed {
            let b64 = sig.strip_prefix("v1,").expect("v1, prefix");
            let mac = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("signature is base64");
            assert_eq!(mac.len(), 32);
            expected.push(sig);
        }
    }
    assert_eq!(
        signature_header(&secrets, &id, timestamp, body.as_bytes()),
        expected.join(" ")
    );
});
