//! xtext (RFC 3461 §4) for ENVID, ORCPT and AUTH parameters, and the
//! utf-8-addr-xtext / utf-8-addr-unitext forms of RFC 6533 §3 for ORCPT
//! addresses of type `utf-8`.
//!
//! ```
//! use smtp::xtext;
//! assert_eq!(xtext::encode("a+b=c d"), "a+2Bb+3Dc+20d");
//! assert_eq!(xtext::decode("a+2Bb").unwrap(), "a+b");
//! assert_eq!(xtext::encode_utf8_addr("jörg+x@example.org"), "j\\x{F6}rg\\x{2B}x@example.org");
//! assert_eq!(xtext::decode_utf8_addr("j\\x{F6}rg@example.org").unwrap(), "jörg@example.org");
//! assert_eq!(xtext::decode_utf8_addr("jörg@example.org").unwrap(), "jörg@example.org");
//! ```

use std::fmt::Write as _;

/// Most hex digits in a `\x{...}` escape (code points go up to 10FFFF).
const MAX_HEXPOINT_DIGITS: usize = 6;

/// Why a string is not valid xtext or utf-8-addr-xtext/-unitext.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XtextError {
    /// A character that must be encoded appears literally.
    #[error("character {found:?} at offset {offset} of {input:?} must be encoded")]
    InvalidChar {
        /// The rejected input.
        input: String,
        /// Byte offset of the character.
        offset: usize,
        /// The character.
        found: char,
    },
    /// '+' not followed by two upper-case hex digits.
    #[error("'+' at offset {offset} of {input:?} is not followed by two upper-case hex digits")]
    BadHexchar {
        /// The rejected input.
        input: String,
        /// Byte offset of the '+'.
        offset: usize,
    },
    /// The decoded octets are not UTF-8.
    #[error("xtext {input:?} decodes to octets that are not utf-8")]
    NotUtf8 {
        /// The rejected input.
        input: String,
    },
    /// A `\x{...}` escape is malformed, names no valid code point, or is not in
    /// the one form RFC 6533 allows (no leading zeros beyond two digits).
    #[error("malformed \\x{{...}} escape at offset {offset} of {input:?}")]
    BadEscape {
        /// The rejected input.
        input: String,
        /// Byte offset of the backslash.
        offset: usize,
    },
    /// A `\x{...}` escape of a character that RFC 6533 requires to appear literally.
    #[error("escape at offset {offset} of {input:?} encodes {found:?}, which must not be escaped")]
    NeedlessEscape {
        /// The rejected input.
        input: String,
        /// Byte offset of the backslash.
        offset: usize,
        /// The escaped character.
        found: char,
    },
    /// A utf-8-addr-xtext/-unitext must not be empty.
    #[error("empty utf-8 address")]
    Empty,
}

/// xchar of RFC 3461: printable ASCII except '+' and '='.
fn is_xchar(b: u8) -> bool {
    (b'!'..=b'~').contains(&b) && b != b'+' && b != b'='
}

/// QCHAR of RFC 6533: printable ASCII except '+', '=' and '\'.
fn is_qchar(c: char) -> bool {
    matches!(c, '!'..='~') && !matches!(c, '+' | '=' | '\\')
}

/// Encodes octets as xtext: xchars as themselves, every other octet
/// (including each octet of non-ASCII UTF-8) as `+HH` with upper-case hex.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if is_xchar(b) {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "+{b:02X}");
        }
    }
    out
}

fn upper_hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes xtext. `+HH` needs two upper-case hex digits (RFC 3461 §4); any
/// octet may be encoded that way, even an xchar. Literal characters must be
/// xchars. The decoded octets must be UTF-8.
pub fn decode(s: &str) -> Result<String, XtextError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'+' {
            let hi = bytes.get(i + 1).copied().and_then(upper_hex_value);
            let lo = bytes.get(i + 2).copied().and_then(upper_hex_value);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(XtextError::BadHexchar {
                    input: s.into(),
                    offset: i,
                });
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else if is_xchar(b) {
            out.push(b);
            i += 1;
        } else {
            return Err(XtextError::InvalidChar {
                input: s.into(),
                offset: i,
                found: s
                    .get(i..)
                    .and_then(|r| r.chars().next())
                    .unwrap_or('\u{fffd}'),
            });
        }
    }
    String::from_utf8(out).map_err(|_| XtextError::NotUtf8 { input: s.into() })
}

/// Encodes an address as utf-8-addr-xtext (RFC 6533 §3): QCHARs as
/// themselves, everything else as `\x{HEX}` with upper-case hex — two digits
/// for ASCII, no leading zeros otherwise. The result is 7-bit.
///
/// NUL has no encoding in RFC 6533; it comes out as `\x{00}`, which
/// [`decode_utf8_addr`] rejects (addresses cannot hold NUL anyway).
pub fn encode_utf8_addr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_qchar(c) {
            out.push(c);
        } else if c.is_ascii() {
            let _ = write!(out, "\\x{{{:02X}}}", u32::from(c));
        } else {
            let _ = write!(out, "\\x{{{:X}}}", u32::from(c));
        }
    }
    out
}

/// Parses the `\x{HEX}` escape starting at `offset` (the backslash) and
/// returns the character and the escape's length.
fn decode_escape(s: &str, offset: usize) -> Result<(char, usize), XtextError> {
    let bad = || XtextError::BadEscape {
        input: s.into(),
        offset,
    };
    let rest = s.get(offset..).ok_or_else(bad)?;
    let body = rest.strip_prefix("\\x{").ok_or_else(bad)?;
    let end = body
        .bytes()
        .take(MAX_HEXPOINT_DIGITS + 1)
        .position(|b| b == b'}')
        .ok_or_else(bad)?;
    let digits = body.get(..end).ok_or_else(bad)?;
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let value = u32::from_str_radix(digits, 16).map_err(|_| bad())?;
    // RFC 6533 HEXPOINT allows exactly one spelling per code point: two
    // digits below 0x80, no leading zero above.
    let canonical = if value < 0x80 {
        digits.len() == 2
    } else {
        !digits.starts_with('0')
    };
    let c = char::from_u32(value)
        .filter(|&c| c != '\0' && canonical)
        .ok_or_else(bad)?;
    if is_qchar(c) {
        return Err(XtextError::NeedlessEscape {
            input: s.into(),
            offset,
            found: c,
        });
    }
    Ok((c, "\\x{".len() + end + 1))
}

/// Decodes a utf-8-addr-xtext or utf-8-addr-unitext (RFC 6533 §3): QCHARs
/// and (for unitext) non-ASCII characters literally, anything else as
/// `\x{HEX}`. Escapes of QCHARs, non-canonical escapes (`\x{0041}`,
/// `\x{00E9}`), surrogates, NUL and values above 10FFFF are rejected.
pub fn decode_utf8_addr(s: &str) -> Result<String, XtextError> {
    if s.is_empty() {
        return Err(XtextError::Empty);
    }
    let mut out = String::with_capacity(s.len());
    let mut offset = 0;
    while let Some(c) = s.get(offset..).and_then(|r| r.chars().next()) {
        if c == '\\' {
            let (decoded, len) = decode_escape(s, offset)?;
            out.push(decoded);
            offset += len;
        } else if is_qchar(c) || !c.is_ascii() {
            out.push(c);
            offset += c.len_utf8();
        } else {
            return Err(XtextError::InvalidChar {
                input: s.into(),
                offset,
                found: c,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encode_escapes_plus_equals_space_controls_and_non_ascii() {
        assert_eq!(encode("user@example.org"), "user@example.org");
        assert_eq!(encode("a+b=c"), "a+2Bb+3Dc");
        assert_eq!(encode(" \t\r\n\u{7f}"), "+20+09+0D+0A+7F");
        assert_eq!(encode("é"), "+C3+A9");
        assert_eq!(encode("!~"), "!~");
        assert_eq!(encode(""), "");
    }

    #[test]
    fn decode_accepts_hexchars_for_any_octet() {
        assert_eq!(decode("a+2Bb+3Dc").unwrap(), "a+b=c");
        assert_eq!(decode("+41").unwrap(), "A");
        assert_eq!(decode("+C3+A9").unwrap(), "é");
        assert_eq!(decode("").unwrap(), "");
    }

    #[test]
    fn decode_rejects_malformed_hexchars() {
        for (input, offset) in [
            ("+", 0),
            ("a+2", 1),
            ("+2b", 0),
            ("+G0", 0),
            ("ab+", 2),
            ("+ 1", 0),
        ] {
            assert_eq!(
                decode(input),
                Err(XtextError::BadHexchar {
                    input: input.into(),
                    offset
                }),
                "{input}"
            );
        }
    }

    #[test]
    fn decode_rejects_literal_chars_outside_xchar() {
        for (input, offset, found) in [
            ("a b", 1, ' '),
            ("a=b", 1, '='),
            ("é", 0, 'é'),
            ("a\tb", 1, '\t'),
        ] {
            assert_eq!(
                decode(input),
                Err(XtextError::InvalidChar {
                    input: input.into(),
                    offset,
                    found
                }),
                "{input}"
            );
        }
    }

    #[test]
    fn decode_rejects_non_utf8_octets() {
        assert_eq!(
            decode("+C3"),
            Err(XtextError::NotUtf8 {
                input: "+C3".into()
            })
        );
    }

    #[test]
    fn utf8_addr_encoding_uses_canonical_escapes() {
        assert_eq!(encode_utf8_addr("user@example.org"), "user@example.org");
        assert_eq!(
            encode_utf8_addr("a+b=c\\d e"),
            "a\\x{2B}b\\x{3D}c\\x{5C}d\\x{20}e"
        );
        assert_eq!(encode_utf8_addr("\t\u{7f}"), "\\x{09}\\x{7F}");
        assert_eq!(encode_utf8_addr("é"), "\\x{E9}");
        assert_eq!(encode_utf8_addr("ā"), "\\x{101}");
        assert_eq!(encode_utf8_addr("日"), "\\x{65E5}");
        assert_eq!(encode_utf8_addr("😀"), "\\x{1F600}");
        assert_eq!(encode_utf8_addr("\u{10FFFD}"), "\\x{10FFFD}");
    }

    #[test]
    fn utf8_addr_decodes_xtext_and_unitext() {
        assert_eq!(
            decode_utf8_addr("j\\x{F6}rg\\x{2B}x@example.org").unwrap(),
            "jörg+x@example.org"
        );
        assert_eq!(
            decode_utf8_addr("jörg@bücher.example").unwrap(),
            "jörg@bücher.example"
        );
        assert_eq!(decode_utf8_addr("\\x{e9}").unwrap(), "é");
        assert_eq!(decode_utf8_addr("\\x{09}\\x{20}").unwrap(), "\t ");
        assert_eq!(decode_utf8_addr("\\x{1F600}").unwrap(), "😀");
    }

    #[test]
    fn utf8_addr_rejects_escapes_of_qchars() {
        for (input, found) in [("\\x{41}", 'A'), ("a\\x{40}b", '@'), ("\\x{7E}", '~')] {
            let offset = input.find('\\').unwrap();
            assert_eq!(
                decode_utf8_addr(input),
                Err(XtextError::NeedlessEscape {
                    input: input.into(),
                    offset,
                    found
                }),
                "{input}"
            );
        }
    }

    #[test]
    fn utf8_addr_rejects_malformed_escapes() {
        for input in [
            "\\",
            "\\x",
            "\\x{",
            "\\x{}",
            "\\x{E}",
            "\\x{E9",
            "\\x{G9}",
            "\\y{E9}",
            "\\x{00E9}",
            "\\x{0E9}",
            "\\x{020}",
            "\\x{00}",
            "\\x{D800}",
            "\\x{110000}",
            "\\x{1000000}",
            "\\x{+E9}",
        ] {
            assert_eq!(
                decode_utf8_addr(input),
                Err(XtextError::BadEscape {
                    input: input.into(),
                    offset: 0
                }),
                "{input}"
            );
        }
    }

    #[test]
    fn utf8_addr_rejects_literal_specials_and_empty() {
        for (input, offset, found) in [
            ("a+b", 1, '+'),
            ("a=b", 1, '='),
            ("a b", 1, ' '),
            ("a\tb", 1, '\t'),
        ] {
            assert_eq!(
                decode_utf8_addr(input),
                Err(XtextError::InvalidChar {
                    input: input.into(),
                    offset,
                    found
                }),
                "{input}"
            );
        }
        assert_eq!(decode_utf8_addr(""), Err(XtextError::Empty));
    }

    #[test]
    fn error_messages_name_the_input() {
        assert_eq!(
            decode("a+2").unwrap_err().to_string(),
            "'+' at offset 1 of \"a+2\" is not followed by two upper-case hex digits"
        );
        assert_eq!(
            decode_utf8_addr("\\x{41}").unwrap_err().to_string(),
            "escape at offset 0 of \"\\\\x{41}\" encodes 'A', which must not be escaped"
        );
    }

    proptest! {
        #[test]
        fn xtext_round_trips(s in "\\PC*|[\\x00-\\x7f]*") {
            let encoded = encode(&s);
            prop_assert!(encoded.bytes().all(|b| (b'!'..=b'~').contains(&b) && b != b'='));
            prop_assert_eq!(decode(&encoded), Ok(s));
        }

        #[test]
        fn utf8_addr_round_trips(s in "[^\\x00]{1,40}") {
            let encoded = encode_utf8_addr(&s);
            prop_assert!(encoded.is_ascii());
            prop_assert_eq!(decode_utf8_addr(&encoded), Ok(s));
        }

        #[test]
        fn decoders_never_panic(s in "\\PC{0,60}|[\\\\x{}0-9A-Fa-f+=]{0,30}") {
            let _ = decode(&s);
            let _ = decode_utf8_addr(&s);
        }
    }
}
