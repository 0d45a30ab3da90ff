//! Small scanners over free text: e-mail addresses, enhanced status codes and
//! SMTP reply codes. Hand-written so that they are bounded, allocation-light
//! and cannot panic on any input.

use smtp::{Class, EnhancedCode};

fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+/=?^_`{|}~.-".contains(c)
        || !c.is_ascii() && c.is_alphanumeric()
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-' || !c.is_ascii() && c.is_alphanumeric()
}

/// An address found in text and where it starts (byte offset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Byte offset of the first character of the local part.
    pub start: usize,
    /// The address as written.
    pub address: String,
}

/// Every plausible `local@domain` in a line, in order.
pub fn addresses(line: &str) -> Vec<Found> {
    let mut out = Vec::new();
    for (at, _) in line.match_indices('@') {
        let before = line.get(..at).unwrap_or("");
        let after = line.get(at + 1..).unwrap_or("");
        let local_len: usize = before
            .chars()
            .rev()
            .take_while(|c| is_local_char(*c))
            .map(char::len_utf8)
            .sum();
        let domain_len: usize = after
            .chars()
            .take_while(|c| is_domain_char(*c))
            .map(char::len_utf8)
            .sum();
        let local = before.get(before.len() - local_len..).unwrap_or("");
        let local = local.trim_start_matches(['.', '\'', '=', '/', '|', '{', '}']);
        let domain = after
            .get(..domain_len)
            .unwrap_or("")
            .trim_end_matches(['.', '-']);
        if local.is_empty()
            || domain.is_empty()
            || !domain.contains('.')
            || domain.starts_with(['.', '-'])
        {
            continue;
        }
        let start = at - local.len();
        // "foo@bar" inside a longer token such as a URL query is not an address.
        if before
            .get(..start)
            .is_some_and(|p| p.ends_with('=') && p.contains("http"))
        {
            continue;
        }
        out.push(Found {
            start,
            address: format!("{local}@{domain}"),
        });
    }
    out
}

/// The first RFC 3463 code in the text, e.g. `5.1.1` in `550 5.1.1 <a@b>...` or
/// `(#5.1.1)`. The class must be 2, 4 or 5 and the code must stand alone (not
/// part of an IP address or version number).
pub fn enhanced_code(text: &str) -> Option<EnhancedCode> {
    let b = text.as_bytes();
    let mut i = 0usize;
    while i < b.len() {
        let c = *b.get(i)?;
        if matches!(c, b'2' | b'4' | b'5')
            && b.get(i + 1) == Some(&b'.')
            && (i == 0
                || b.get(i - 1)
                    .is_some_and(|p| !p.is_ascii_digit() && *p != b'.'))
        {
            let (subject, j) = number(b, i + 2);
            if let Some(subject) = subject
                && b.get(j) == Some(&b'.')
            {
                let (detail, k) = number(b, j + 1);
                if let Some(detail) = detail
                    && !b.get(k).is_some_and(|n| {
                        n.is_ascii_digit()
                            || *n == b'.' && b.get(k + 1).is_some_and(u8::is_ascii_digit)
                    })
                    && let Some(class) = Class::from_digit(c - b'0')
                {
                    return Some(EnhancedCode::new(class, subject, detail));
                }
            }
        }
        i += 1;
    }
    None
}

fn number(b: &[u8], start: usize) -> (Option<u16>, usize) {
    let mut v: u16 = 0;
    let mut n = 0usize;
    let mut i = start;
    while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
        if n == 3 {
            return (None, i);
        }
        v = v * 10 + u16::from(d - b'0');
        n += 1;
        i += 1;
    }
    (if n == 0 { None } else { Some(v) }, i)
}

/// The remote host a text bounce names: `host mx.example.net [192.0.2.1]:`
/// (Exim), `host mx.example.net[192.0.2.1] said:` (Postfix), `remote host
/// mx.example.net said` and similar.
pub fn remote_host(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    for (i, m) in lower.match_indices("host ") {
        if i > 0
            && lower
                .as_bytes()
                .get(i - 1)
                .is_some_and(u8::is_ascii_alphanumeric)
        {
            continue;
        }
        let rest = text.get(i + m.len()..)?;
        let token: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
            .collect();
        let token = token.trim_end_matches(['.', '-']);
        if token.contains('.')
            && token.chars().any(|c| c.is_ascii_alphabetic())
            && token.len() <= 253
        {
            return Some(token.to_string());
        }
    }
    None
}

/// The enhanced code that directly follows an SMTP reply code, as in
/// `550 5.7.1 ...` or `550-'5.7.1 ...`: the remote server's own words, which
/// are more precise than a reporting MTA's summary.
pub fn reply_enhanced_code(text: &str) -> Option<EnhancedCode> {
    let b = text.as_bytes();
    let mut i = 0usize;
    while i + 4 < b.len() {
        let three = b.get(i..i + 3)?;
        let before_ok = i == 0
            || b.get(i - 1)
                .is_some_and(|p| !p.is_ascii_digit() && *p != b'.');
        if before_ok
            && three.iter().all(u8::is_ascii_digit)
            && matches!(three.first(), Some(b'2' | b'4' | b'5'))
            && matches!(b.get(i + 3), Some(b' ' | b'-'))
        {
            let rest = text.get(i + 4..)?;
            let trimmed = rest.trim_start_matches([' ', '\'', '"']);
            if trimmed.len() + 3 >= rest.len()
                && let Some(code) = enhanced_code(trimmed.get(..trimmed.len().min(12))?)
                && trimmed.starts_with(char::from(b'0' + code.class.digit()))
                && code.class.digit() == three.first()? - b'0'
            {
                return Some(code);
            }
        }
        i += 1;
    }
    None
}

/// The first SMTP reply code (2xx, 4xx, 5xx) standing as a word: at the start
/// of the text or after white space, `:`, `(`, `<` or `'`, and followed by
/// white space, `-`, or the end.
pub fn reply_code(text: &str) -> Option<u16> {
    let b = text.as_bytes();
    let mut i = 0usize;
    while i + 3 <= b.len() {
        let d = b.get(i..i + 3)?;
        let ok_before = i == 0
            || b.get(i - 1).is_some_and(|p| {
                matches!(
                    p,
                    b' ' | b'\t' | b':' | b'(' | b'<' | b'\'' | b'"' | b'[' | b'='
                )
            });
        let ok_after = match b.get(i + 3) {
            None => true,
            Some(n) => matches!(n, b' ' | b'\t' | b'-' | b'\r' | b'\n' | b',' | b']' | b')'),
        };
        if ok_before
            && ok_after
            && matches!(d.first(), Some(b'2' | b'4' | b'5'))
            && d.get(1).is_some_and(|x| (b'0'..=b'5').contains(x))
            && d.get(2).is_some_and(u8::is_ascii_digit)
        {
            let code = u16::from(d.first()? - b'0') * 100
                + u16::from(d.get(1)? - b'0') * 10
                + u16::from(d.get(2)? - b'0');
            return Some(code);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_addresses_in_brackets_and_quotes() {
        let f = addresses("<<< 550 <bob@example.net>... User unknown; \"carol@x.example\":");
        let a: Vec<&str> = f.iter().map(|f| f.address.as_str()).collect();
        assert_eq!(a, vec!["bob@example.net", "carol@x.example"]);
        assert!(addresses("no address @ here, nor user@localhost").is_empty());
    }

    #[test]
    fn enhanced_codes_stand_alone() {
        assert_eq!(
            enhanced_code("host 192.0.2.5 said: 550 5.1.1 no")
                .map(|c| c.to_string())
                .as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            enhanced_code("(#5.5.0)").map(|c| c.to_string()).as_deref(),
            Some("5.5.0")
        );
        assert_eq!(enhanced_code("version 5.1.1.2 and 4.0"), None);
    }

    #[test]
    fn remote_host_is_taken_from_exim_and_postfix_wording() {
        assert_eq!(
            remote_host("host mx.example.jp [192.0.2.20]: 550 x").as_deref(),
            Some("mx.example.jp")
        );
        assert_eq!(
            remote_host("host r2.example.org[198.51.100.24] said: 550").as_deref(),
            Some("r2.example.org")
        );
        assert_eq!(
            remote_host("localhost said no; host 192.0.2.1 said 550"),
            None
        );
    }

    #[test]
    fn enhanced_code_after_reply_code_is_found() {
        let c =
            reply_enhanced_code("5.1.0 - Unknown address error 550-'5.7.1 <a@b>... Access denied'");
        assert_eq!(c.map(|c| c.to_string()).as_deref(), Some("5.7.1"));
        assert_eq!(reply_enhanced_code("550 user unknown 5.1.1"), None);
    }

    #[test]
    fn reply_codes_stand_alone() {
        assert_eq!(reply_code("host mx [192.0.2.1]: 550-5.7.26 x"), Some(550));
        assert_eq!(reply_code("SIZE=1543: ok"), None);
        assert_eq!(reply_code("<<< 452 full"), Some(452));
        assert_eq!(reply_code("id 5501 and 192.0.2.250"), None);
    }
}
