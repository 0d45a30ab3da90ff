//! Stored and received messages as the web API reads them: `mime::parse`
//! (MessageGet), `mime::part` (MessagePartGet), `incoming_from_message` and
//! `is_automated` (the incoming webhook). The first byte is the MAIL FROM
//! flag of `is_automated`; the rest is the message.
//!
//! Beyond "no panic": when the message parses, every leaf of the structure
//! is found by `part` with exactly `DecodedSize` bytes (but for a
//! multipart without parts); an empty MAIL FROM
//! is always automated; the incoming payload and MessageGet's answer
//! serialise to JSON that decodes back to the same values (webhook receivers
//! and our own client read them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use webapi::webhook::{Incoming, IncomingMeta, Structure, incoming_from_message, is_automated};

/// Checks every leaf under `s` (at `path`) against `mime::part`.
fn check_parts(raw: &[u8], s: &Structure, path: &mut Vec<u32>) {
    if s.parts.is_empty() {
        let bytes = webapi::mime::part(raw, path)
            .unwrap_or_else(|e| panic!("leaf {path:?} of the structure not found: {e}"));
        // A multipart without parts has no size of its own (0); `part`
        // answers with its raw content.
        if !s.content_type.starts_with("multipart/") {
            assert_eq!(
                i64::try_from(bytes.len()).unwrap(),
                s.decoded_size,
                "DecodedSize of {path:?}"
            );
        }
        return;
    }
    for (i, child) in s.parts.iter().enumerate() {
        path.push(u32::try_from(i).unwrap());
        check_parts(raw, child, path);
        path.pop();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, raw)) = data.split_first() else {
        return;
    };
    let (msg, structure) = webapi::mime::parse(raw);
    if webapi::mime::part(raw, &[]).is_ok() {
        check_parts(raw, &structure, &mut Vec::new());
    }
    let json = serde_json::to_string(&msg).expect("Message serialises");
    let back: webapi::types::Message = serde_json::from_str(&json).expect("Message decodes");
    assert_eq!(back, msg);

    let mail_from_empty = flags & 1 == 1;
    let automated = is_automated(raw, mail_from_empty);
    if mail_from_empty {
        assert!(automated);
    }
    let meta = IncomingMeta {
        msg_id: 1,
        automated,
        ..IncomingMeta::default()
    };
    let incoming = incoming_from_message(raw, meta);
    assert_eq!(incoming.structure, structure);
    let json = serde_json::to_string(&incoming).expect("Incoming serialises");
    let back: Incoming = serde_json::from_str(&json).expect("Incoming decodes");
    assert_eq!(back, incoming);
});
