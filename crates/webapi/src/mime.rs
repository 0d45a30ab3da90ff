//! Reading stored messages: headers and bodies for MessageGet and the
//! incoming webhook, the MIME structure, and single decoded parts for
//! MessagePartGet.
//!
//! Parsing is done by `mail-parser`; transfer decoding of part bodies is done
//! here, so sizes and part bytes are the original octets (before any charset
//! conversion).
//!
//! ```
//! let raw = b"From: Ann <ann@example.org>\r\nTo: bob@example.net\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\
//! Message-ID: <m1@example.org>\r\nIn-Reply-To: <m0@example.org>\r\nMIME-Version: 1.0\r\n\
//! Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\nthere\r\n\
//! --b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=x.bin\r\n\
//! Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n";
//! let (msg, structure) = webapi::mime::parse(raw);
//! assert_eq!(msg.subject, "café");
//! assert_eq!(msg.from[0].name, "Ann");
//! assert_eq!(msg.references, vec!["<m0@example.org>".to_string()]);
//! assert_eq!(msg.text, "hi\nthere");
//! assert_eq!(structure.content_type, "multipart/mixed");
//! assert_eq!(structure.parts[1].filename, "x.bin");
//! assert_eq!(structure.parts[1].decoded_size, 3);
//! assert_eq!(webapi::mime::part(raw, &[1]).unwrap(), vec![0, 1, 2]);
//! assert_eq!(webapi::mime::part(raw, &[2]).unwrap_err().code, webapi::ErrorCode::PartNotFound);
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use mail_parser::{
    Address, Encoding, HeaderValue, MessageParser, MessagePart, MimeHeaders, PartType,
};

use crate::error::{ApiError, ErrorCode};
use crate::types::{Message, NameAddress};
use crate::webhook::Structure;

/// Longest Text or HTML body returned, in bytes (longer ones are cut).
pub const MAX_BODY_TEXT: usize = 1 << 20;

/// Deepest multipart nesting walked; deeper parts are left out of the
/// structure (mail-parser bounds its own recursion similarly).
const MAX_DEPTH: usize = 32;

/// Parses a raw message into its envelope headers and bodies
/// ([`Message`]) and its MIME [`Structure`]. `References` has the
/// In-Reply-To id prepended when it is not already listed, as MessageGet
/// answers.
///
/// Never fails: a message that does not parse gives empty fields and a
/// `text/plain` structure.
pub fn parse(raw: &[u8]) -> (Message, Structure) {
    let mut p = parse_parts(raw);
    if !p.in_reply_to.is_empty() && !p.message.references.contains(&p.in_reply_to) {
        p.message.references.insert(0, p.in_reply_to);
    }
    (p.message, p.structure)
}

/// What [`parse_parts`] finds: the message with References as written, the
/// structure and the first In-Reply-To id.
pub(crate) struct Parsed {
    pub(crate) message: Message,
    pub(crate) structure: Structure,
    pub(crate) in_reply_to: String,
}

pub(crate) fn parse_parts(raw: &[u8]) -> Parsed {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return Parsed {
            message: Message::default(),
            structure: Structure {
                content_type: "text/plain".into(),
                decoded_size: i64::try_from(raw.len()).unwrap_or(i64::MAX),
                ..Structure::default()
            },
            in_reply_to: String::new(),
        };
    };
    let (text, html) = readable_parts(&msg);
    let message = Message {
        from: addresses(msg.from()),
        to: addresses(msg.to()),
        cc: addresses(msg.cc()),
        bcc: addresses(msg.bcc()),
        reply_to: addresses(msg.reply_to()),
        message_id: msg.message_id().map(bracket).unwrap_or_default(),
        references: ids(msg.references()),
        date: msg
            .date()
            .filter(|d| d.is_valid())
            .and_then(|d| timestamp(d.to_timestamp())),
        subject: msg.subject().unwrap_or_default().to_string(),
        text,
        html,
    };
    let structure = msg
        .parts
        .first()
        .map(|p| structure(&msg, p, raw_of(&msg), 0))
        .unwrap_or_default();
    Parsed {
        message,
        structure,
        in_reply_to: ids(msg.in_reply_to())
            .into_iter()
            .next()
            .unwrap_or_default(),
    }
}

/// The transfer-decoded bytes of the part at `path`: indexes into
/// [`Structure::parts`], starting at the top-level body (an empty path is
/// the top-level body itself).
///
/// # Errors
/// [`ErrorCode::PartNotFound`] when an index is out of range or the message
/// does not parse.
pub fn part(raw: &[u8], path: &[u32]) -> Result<Vec<u8>, ApiError> {
    let not_found = || ApiError::new(ErrorCode::PartNotFound, format!("no part at path {path:?}"));
    let msg = MessageParser::default().parse(raw).ok_or_else(not_found)?;
    let mut cur = msg.parts.first().ok_or_else(not_found)?;
    for &i in path {
        let children = cur.sub_parts().ok_or_else(not_found)?;
        let id = children.get(i as usize).ok_or_else(not_found)?;
        cur = msg.parts.get(*id as usize).ok_or_else(not_found)?;
    }
    if cur.sub_parts().is_some() {
        // A multipart has no body of its own; its raw content is the closest answer.
        return Ok(raw_body(raw_of(&msg), cur).to_vec());
    }
    Ok(decoded(raw_of(&msg), cur))
}

fn raw_of<'a>(msg: &'a mail_parser::Message<'_>) -> &'a [u8] {
    msg.raw_message()
}

fn bracket(id: &str) -> String {
    format!("<{id}>")
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![bracket(t)],
        HeaderValue::TextList(l) => l.iter().map(|t| bracket(t)).collect(),
        _ => Vec::new(),
    }
}

fn addresses(a: Option<&Address<'_>>) -> Vec<NameAddress> {
    a.map(|a| {
        a.iter()
            .filter_map(|addr| {
                let address = addr.address.as_deref()?.to_string();
                Some(NameAddress {
                    name: addr.name.as_deref().unwrap_or_default().to_string(),
                    address,
                })
            })
            .collect()
    })
    .unwrap_or_default()
}

fn timestamp(secs: i64) -> Option<SystemTime> {
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

fn media_type(p: &MessagePart<'_>) -> String {
    match p.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => "text/plain".to_string(),
    }
}

fn disposition(p: &MessagePart<'_>) -> String {
    p.content_disposition()
        .map(|d| d.ctype().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The first text/plain and text/html parts that are not attachments.
fn readable_parts(msg: &mail_parser::Message<'_>) -> (String, String) {
    let (mut text, mut html) = (None, None);
    let mut stack: Vec<(u32, usize)> = vec![(0, 0)];
    while let Some((id, depth)) = stack.pop() {
        let Some(p) = msg.parts.get(id as usize) else {
            continue;
        };
        if let Some(children) = p.sub_parts() {
            if depth < MAX_DEPTH {
                stack.extend(children.iter().rev().map(|c| (*c, depth + 1)));
            }
            continue;
        }
        if disposition(p) == "attachment" {
            continue;
        }
        let body = match &p.body {
            PartType::Text(t) | PartType::Html(t) => t,
            _ => continue,
        };
        match media_type(p).as_str() {
            "text/plain" if text.is_none() => text = Some(readable(body)),
            "text/html" if html.is_none() => html = Some(readable(body)),
            _ => {}
        }
        if text.is_some() && html.is_some() {
            break;
        }
    }
    (text.unwrap_or_default(), html.unwrap_or_default())
}

fn readable(s: &str) -> String {
    let mut s = s.replace("\r\n", "\n");
    if s.len() > MAX_BODY_TEXT {
        let mut cut = MAX_BODY_TEXT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

fn structure(
    msg: &mail_parser::Message<'_>,
    p: &MessagePart<'_>,
    raw: &[u8],
    depth: usize,
) -> Structure {
    let mut params = BTreeMap::new();
    if let Some(attrs) = p.content_type().and_then(|ct| ct.attributes()) {
        for a in attrs {
            params.insert(a.name.to_ascii_lowercase(), a.value.to_string());
        }
    }
    let mut s = Structure {
        content_type: media_type(p),
        content_type_params: params,
        content_id: p.content_id().map(bracket).unwrap_or_default(),
        content_disposition: disposition(p),
        filename: p.attachment_name().unwrap_or_default().to_string(),
        decoded_size: 0,
        parts: Vec::new(),
    };
    match p.sub_parts() {
        Some(children) => {
            if depth < MAX_DEPTH {
                s.parts = children
                    .iter()
                    .filter_map(|id| msg.parts.get(*id as usize))
                    .map(|c| structure(msg, c, raw, depth + 1))
                    .collect();
            }
        }
        None => s.decoded_size = i64::try_from(decoded(raw, p).len()).unwrap_or(i64::MAX),
    }
    s
}

fn raw_body<'a>(raw: &'a [u8], p: &MessagePart<'_>) -> &'a [u8] {
    let (start, end) = (p.raw_body_offset() as usize, p.raw_end_offset() as usize);
    raw.get(start..end.max(start)).unwrap_or_default()
}

/// The part's body with its Content-Transfer-Encoding undone.
fn decoded(raw: &[u8], p: &MessagePart<'_>) -> Vec<u8> {
    let body = raw_body(raw, p);
    match p.encoding {
        Encoding::Base64 => decode_base64(body),
        Encoding::QuotedPrintable => decode_quoted_printable(body),
        Encoding::None => {
            // mail-parser marks 7bit/8bit/binary and unknown encodings as None.
            let cte = p
                .content_transfer_encoding()
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            match cte.as_str() {
                "base64" => decode_base64(body),
                "quoted-printable" => decode_quoted_printable(body),
                _ => body.to_vec(),
            }
        }
    }
}

fn decode_base64(body: &[u8]) -> Vec<u8> {
    let clean: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    // Drop a dangling single character that cannot decode instead of failing the part.
    let usable = clean.len() - usize::from(clean.len() % 4 == 1);
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(clean.get(..usable).unwrap_or_default())
        .unwrap_or_default()
}

pub(crate) fn decode_quoted_printable(body: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        if b != b'=' {
            out.push(b);
            i += 1;
            continue;
        }
        match (body.get(i + 1), body.get(i + 2)) {
            (Some(b'\r'), Some(b'\n')) => i += 3,
            (Some(b'\n'), _) => i += 2,
            (Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0));
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NESTED: &[u8] = b"From: \"Ann A.\" <ann@example.org>, bob@example.net\r\n\
To: undisclosed-recipients:;\r\nCc: Group: c1@example.org, C Two <c2@example.org>;\r\n\
Reply-To: r@example.org\r\nSubject: test\r\nDate: Fri, 01 Mar 2024 11:00:00 +0100\r\n\
Message-ID: <m2@example.org>\r\nReferences: <m0@example.org> <m1@example.org>\r\n\
In-Reply-To: <m1@example.org>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\npreamble\r\n--outer\r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
caf=E9 line one=\r\n continued\r\n--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<p>hi</p>\r\n--inner--\r\n--outer\r\nContent-Type: IMAGE/PNG; Name=\"pic.png\"\r\n\
Content-ID: <img1@example.org>\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\n\
iVBORw0K\r\nGgo=\r\n--outer--\r\n";

    #[test]
    fn parses_envelope_headers_and_first_readable_parts() {
        let (m, _) = parse(NESTED);
        assert_eq!(
            m.from,
            vec![
                NameAddress::new("Ann A.", "ann@example.org"),
                NameAddress::new("", "bob@example.net")
            ]
        );
        assert!(m.to.is_empty());
        assert_eq!(
            m.cc,
            vec![
                NameAddress::new("", "c1@example.org"),
                NameAddress::new("C Two", "c2@example.org")
            ]
        );
        assert_eq!(m.reply_to, vec![NameAddress::new("", "r@example.org")]);
        assert_eq!(m.message_id, "<m2@example.org>");
        assert_eq!(m.references, vec!["<m0@example.org>", "<m1@example.org>"]);
        assert_eq!(
            m.date,
            Some(UNIX_EPOCH + Duration::from_secs(1_709_287_200))
        );
        // The line end before a boundary belongs to the boundary (RFC 2046).
        assert_eq!(m.text, "café line one continued");
        assert_eq!(m.html, "<p>hi</p>");
    }

    #[test]
    fn structure_is_recursive_with_decoded_sizes() {
        let (_, s) = parse(NESTED);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"ContentType":"multipart/mixed","ContentTypeParams":{"boundary":"outer"},"ContentID":"","#,
                r#""ContentDisposition":"","Filename":"","DecodedSize":0,"Parts":["#,
                r#"{"ContentType":"multipart/alternative","ContentTypeParams":{"boundary":"inner"},"ContentID":"","#,
                r#""ContentDisposition":"","Filename":"","DecodedSize":0,"Parts":["#,
                r#"{"ContentType":"text/plain","ContentTypeParams":{"charset":"iso-8859-1"},"ContentID":"","#,
                r#""ContentDisposition":"","Filename":"","DecodedSize":23,"Parts":[]},"#,
                r#"{"ContentType":"text/html","ContentTypeParams":{"charset":"utf-8"},"ContentID":"","#,
                r#""ContentDisposition":"","Filename":"","DecodedSize":9,"Parts":[]}]},"#,
                r#"{"ContentType":"image/png","ContentTypeParams":{"name":"pic.png"},"ContentID":"<img1@example.org>","#,
                r#""ContentDisposition":"inline","Filename":"pic.png","DecodedSize":8,"Parts":[]}]}"#
            )
        );
    }

    #[test]
    fn part_path_gives_transfer_decoded_original_bytes() {
        assert_eq!(
            part(NESTED, &[0, 0]).unwrap(),
            b"caf\xe9 line one continued".to_vec()
        );
        assert_eq!(part(NESTED, &[1]).unwrap(), b"\x89PNG\r\n\x1a\n".to_vec());
        for bad in [&[2][..], &[0, 2], &[1, 0], &[0, 0, 0]] {
            let e = part(NESTED, bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::PartNotFound, "{bad:?}");
        }
    }

    #[test]
    fn in_reply_to_is_prepended_to_references_when_absent() {
        let raw = b"In-Reply-To: <a@x>\r\nReferences: <b@x>\r\n\r\nbody";
        assert_eq!(parse(raw).0.references, vec!["<a@x>", "<b@x>"]);
        assert_eq!(parse_parts(raw).in_reply_to, "<a@x>");
        assert_eq!(parse_parts(raw).message.references, vec!["<b@x>"]);
    }

    #[test]
    fn garbage_and_long_bodies_do_not_panic_and_are_bounded() {
        let (m, s) = parse(b"");
        assert_eq!(m, Message::default());
        assert_eq!(s.content_type, "text/plain");
        let mut big = b"Subject: x\r\n\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_BODY_TEXT + 10));
        assert_eq!(parse(&big).0.text.len(), MAX_BODY_TEXT);
        let _ = parse(b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!=\r\n");
    }

    #[test]
    fn quoted_printable_keeps_bad_escapes_literally() {
        assert_eq!(
            decode_quoted_printable(b"a=3Db=\r\nc=ZZ="),
            b"a=bc=ZZ=".to_vec()
        );
    }
}
