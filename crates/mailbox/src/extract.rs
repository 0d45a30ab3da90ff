//! Header fields pulled out of a message for listings.

use mail_parser::MessageParser;

/// Header fields shown in listings; empty strings when absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Extracted {
    pub(crate) message_id: String,
    pub(crate) subject: String,
    pub(crate) msg_from: String,
}

/// Only this much of a message is parsed for its header: enough for any
/// real header section, and it keeps delivery of a 100 MiB message from
/// parsing its body.
const MAX_HEADER_SCAN: usize = 256 * 1024;

/// Longest value kept per field, in characters.
const MAX_FIELD: usize = 998;

pub(crate) fn extract(raw: &[u8]) -> Extracted {
    let head = raw.get(..MAX_HEADER_SCAN).unwrap_or(raw);
    let Some(msg) = MessageParser::new().parse_headers(head) else {
        return Extracted::default();
    };
    let clip = |s: &str| s.chars().take(MAX_FIELD).collect::<String>();
    Extracted {
        message_id: msg.message_id().map(clip).unwrap_or_default(),
        subject: msg.subject().map(clip).unwrap_or_default(),
        msg_from: msg
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(clip)
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_subject_and_from_are_extracted_decoded() {
        let raw = b"From: \"Al\" <al@example.org>\r\nSubject: =?utf-8?q?h=C3=A9llo?=\r\nMessage-ID: <abc@example.org>\r\n\r\nbody\r\n";
        assert_eq!(
            extract(raw),
            Extracted {
                message_id: "abc@example.org".into(),
                subject: "héllo".into(),
                msg_from: "al@example.org".into(),
            }
        );
    }

    #[test]
    fn garbage_gives_empty_fields() {
        assert_eq!(extract(b"\x00\xff\xfe"), Extracted::default());
        assert_eq!(extract(b""), Extracted::default());
    }
}
