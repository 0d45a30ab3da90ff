//! The grammar of a delivery-status body: groups of header-style fields
//! separated by blank lines (RFC 3464 §2.1), typed values `type; value`,
//! comments, and the RFC 6533 utf-8-addr-xtext encoding of addresses.
//!
//! The functions here never fail: they report what they saw and leave the
//! judgement to the strict parser or the tolerant reader.

use crate::model::{Mta, Typed};

/// Upper bound on fields in one status body; a body beyond it is cut off, so
/// hostile input cannot make the parser allocate without limit.
pub const MAX_FIELDS: usize = 4096;

/// One field of a block, unfolded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The name as written.
    pub name: String,
    /// The value with folding removed and surrounding whitespace trimmed.
    pub value: String,
}

/// A block of fields and the lines in it that were not fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Block {
    /// Fields in order.
    pub fields: Vec<Field>,
    /// Lines that had no `name:` form (kept for error messages).
    pub stray: Vec<String>,
}

impl Block {
    /// The value of the first field with this name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value.as_str())
    }
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

/// Splits a status body into blocks. Lines may end in CRLF or LF; a line
/// starting with white space continues the previous field.
pub fn split_blocks(body: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current = Block::default();
    let mut total = 0usize;
    for raw in body.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            if !current.fields.is_empty() || !current.stray.is_empty() {
                blocks.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = current.fields.last_mut() {
                if !last.value.is_empty() {
                    last.value.push(' ');
                }
                last.value.push_str(line.trim());
            } else {
                current.stray.push(line.trim().to_string());
            }
            continue;
        }
        total += 1;
        if total > MAX_FIELDS {
            break;
        }
        match line.split_once(':') {
            Some((name, value)) if is_field_name(name.trim_end()) => current.fields.push(Field {
                name: name.trim_end().to_string(),
                value: value.trim().to_string(),
            }),
            _ => current.stray.push(line.to_string()),
        }
    }
    if !current.fields.is_empty() || !current.stray.is_empty() {
        blocks.push(current);
    }
    blocks
}

/// Removes RFC 5322 comments `( ... )` (nested, with `\` quoting) from a value
/// and returns the rest trimmed, plus the text of the last top-level comment.
pub fn strip_comments(value: &str) -> (String, Option<String>) {
    let mut out = String::with_capacity(value.len());
    let mut comment = String::new();
    let mut last = None;
    let mut depth = 0usize;
    let mut escaped = false;
    let mut in_quote = false;
    for c in value.chars() {
        if escaped {
            if depth > 0 {
                comment.push(c);
            } else {
                out.push(c);
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                in_quote = !in_quote;
                out.push(c);
            }
            '(' if !in_quote => {
                if depth > 0 {
                    comment.push(c);
                }
                depth += 1;
            }
            ')' if depth > 0 && !in_quote => {
                depth -= 1;
                if depth == 0 {
                    last = Some(comment.trim().to_string());
                    comment.clear();
                } else {
                    comment.push(c);
                }
            }
            _ if depth > 0 => comment.push(c),
            _ => out.push(c),
        }
    }
    (out.trim().to_string(), last)
}

/// Splits `type; value`. Without a semicolon the whole value is returned with
/// an empty type.
pub fn split_typed(value: &str) -> Typed {
    match value.split_once(';') {
        Some((kind, rest)) => Typed {
            kind: kind.trim().to_ascii_lowercase(),
            value: rest.trim().to_string(),
        },
        None => Typed {
            kind: String::new(),
            value: value.trim().to_string(),
        },
    }
}

/// Reads an address field (`rfc822; a@b`, `utf-8; ...`): comments removed,
/// angle brackets dropped, RFC 6533 encoding undone for `utf-8` values.
pub fn parse_address(value: &str) -> Typed {
    let (clean, _) = strip_comments(value);
    let mut t = split_typed(&clean);
    let v = t.value.trim();
    let v = v
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .unwrap_or(v);
    t.value = if t.kind == "utf-8" {
        decode_utf8_addr(v)
    } else {
        v.to_string()
    };
    t
}

/// Reads an MTA field: `dns; name (ip)`.
pub fn parse_mta(value: &str) -> Mta {
    let (clean, comment) = strip_comments(value);
    let t = split_typed(&clean);
    let ip = comment.and_then(|c| {
        let c = c.trim().trim_start_matches('[').trim_end_matches(']');
        let c = c.strip_prefix("IPv6:").unwrap_or(c);
        c.parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string())
    });
    Mta {
        kind: t.kind,
        name: t.value,
        ip,
    }
}

/// Encodes an address as RFC 6533 utf-8-addr-xtext (7-bit, `\x{HEX}`
/// escapes); the same encoding the SMTP layer uses for ORCPT.
pub fn encode_utf8_addr(s: &str) -> String {
    smtp::xtext::encode_utf8_addr(s)
}

/// Undoes `\x{HEX}` escapes; anything malformed is kept as written.
pub fn decode_utf8_addr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("\\x{") {
        out.push_str(rest.get(..pos).unwrap_or(""));
        let after = rest.get(pos + 3..).unwrap_or("");
        let decoded = after.find('}').and_then(|end| {
            let hex = after.get(..end)?;
            let c = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)?;
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = after.get(end + 1..).unwrap_or("");
            }
            None => {
                out.push_str("\\x{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_split_on_blank_lines_and_unfolded() {
        let b = split_blocks(
            "Reporting-MTA: dns; a\r\n\r\nFinal-Recipient: rfc822; x@y\r\nDiagnostic-Code: smtp; 550\r\n  no such\r\n\tuser\r\n\r\n\r\n",
        );
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].get("reporting-mta"), Some("dns; a"));
        assert_eq!(b[1].get("Diagnostic-Code"), Some("smtp; 550 no such user"));
    }

    #[test]
    fn comments_are_removed_and_last_one_kept() {
        assert_eq!(
            strip_comments("5.1.1 (user (really) unknown)"),
            (
                "5.1.1".to_string(),
                Some("user (really) unknown".to_string())
            )
        );
        assert_eq!(
            parse_address("RFC822; <bob@example.org> (the one)"),
            Typed::new("rfc822", "bob@example.org")
        );
    }

    #[test]
    fn mta_ip_comes_from_comment() {
        let m = parse_mta("dns; mx.example.org ([192.0.2.7])");
        assert_eq!(
            (m.kind.as_str(), m.name.as_str(), m.ip.as_deref()),
            ("dns", "mx.example.org", Some("192.0.2.7"))
        );
    }

    #[test]
    fn utf8_addr_xtext_round_trips() {
        let enc = encode_utf8_addr("jösé+x@bücher.example");
        assert_eq!(enc, "j\\x{F6}s\\x{E9}\\x{2B}x@b\\x{FC}cher.example");
        assert_eq!(decode_utf8_addr(&enc), "jösé+x@bücher.example");
        assert_eq!(decode_utf8_addr("a\\x{zz}b"), "a\\x{zz}b");
    }
}
