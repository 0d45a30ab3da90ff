//! Server replies (RFC 5321 §4.2): parsing from bytes and writing back.

use std::fmt;

use crate::status::EnhancedCode;

/// Longest reply line accepted, in octets without the line ending.
pub const MAX_LINE_LEN: usize = 4096;
/// Most lines accepted in one reply.
pub const MAX_LINES: usize = 128;
/// Most octets one reply can take on the wire: [`MAX_LINES`] lines of
/// [`MAX_LINE_LEN`] octets plus CRLF. A buffer this long always gives
/// [`parse_reply`] either a reply or an error, never "need more bytes".
pub const MAX_REPLY_LEN: usize = MAX_LINES * (MAX_LINE_LEN + 2);
/// How much of an offending line an error keeps, in characters.
const ERROR_LINE_CHARS: usize = 100;

/// A server reply: a three-digit code and the text of each line (after `NNN-`/`NNN `).
///
/// `lines` has at least one element; a line's text may be empty.
///
/// ```
/// use smtp::{Class, EnhancedCode, Reply};
/// let reply = Reply { code: 550, lines: vec!["5.1.1 no such user".into(), "see docs".into()] };
/// assert!(reply.is_permanent());
/// assert_eq!(reply.enhanced_code(), Some(EnhancedCode::new(Class::Permanent, 1, 1)));
/// assert_eq!(reply.message(), "no such user");
/// assert_eq!(reply.to_wire(), "550-5.1.1 no such user\r\n550 see docs\r\n");
/// assert_eq!(reply.to_string(), "550 5.1.1 no such user / see docs");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reply {
    /// The three-digit reply code, 200..=559.
    pub code: u16,
    /// The text of each line, without code, separator and line ending.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, text: &str) -> Reply {
        Reply {
            code,
            lines: vec![text.to_owned()],
        }
    }

    /// Whether the code is 2xx.
    pub fn is_success(&self) -> bool {
        self.code / 100 == 2
    }

    /// Whether the code is 3xx (e.g. 354 after DATA, 334 during AUTH).
    pub fn is_intermediate(&self) -> bool {
        self.code / 100 == 3
    }

    /// Whether the code is 4xx.
    pub fn is_transient(&self) -> bool {
        self.code / 100 == 4
    }

    /// Whether the code is 5xx.
    pub fn is_permanent(&self) -> bool {
        self.code / 100 == 5
    }

    fn first_line(&self) -> &str {
        self.lines.first().map(String::as_str).unwrap_or("")
    }

    /// Splits the first line into the enhanced code and the rest, when it has one
    /// whose class agrees with the reply code.
    fn split_enhanced(&self) -> Option<(EnhancedCode, &str)> {
        let line = self.first_line();
        let (word, rest) = match line.split_once(' ') {
            Some((word, rest)) => (word, rest),
            None => (line, ""),
        };
        let code: EnhancedCode = word.parse().ok()?;
        if u16::from(code.class.digit()) != self.code / 100 {
            return None;
        }
        Some((code, rest))
    }

    /// The enhanced status code at the start of the first line, only when its
    /// class digit equals the reply code's first digit and it is followed by a
    /// space or the end of the line.
    pub fn enhanced_code(&self) -> Option<EnhancedCode> {
        self.split_enhanced().map(|(code, _)| code)
    }

    /// The first line's text without the enhanced code.
    pub fn message(&self) -> &str {
        match self.split_enhanced() {
            Some((_, rest)) => rest,
            None => self.first_line(),
        }
    }

    /// The reply as sent on the wire, e.g. `"250-a\r\n250 b\r\n"`.
    /// A last line without text is written as just the code (`"250\r\n"`).
    pub fn to_wire(&self) -> String {
        let mut out = String::new();
        let count = self.lines.len().max(1);
        for index in 0..count {
            let text = self.lines.get(index).map(String::as_str).unwrap_or("");
            let last = index + 1 == count;
            let sep = match (last, text.is_empty()) {
                (false, _) => "-",
                (true, true) => "",
                (true, false) => " ",
            };
            out.push_str(&format!("{:03}{sep}{text}\r\n", self.code));
        }
        out
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.lines.join(" / ");
        if text.is_empty() {
            write!(f, "{:03}", self.code)
        } else {
            write!(f, "{:03} {text}", self.code)
        }
    }
}

/// Why bytes from a server are not a valid reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The line does not start with a three-digit code (first digit 2-5, second 0-5).
    #[error("reply line {line:?} does not start with a valid three-digit code")]
    BadCode {
        /// The offending line (shortened).
        line: String,
    },
    /// Lines of one multiline reply carry different codes.
    #[error("multiline reply mixes codes {first} and {later}")]
    MismatchedCodes {
        /// The code of the first line.
        first: u16,
        /// The differing code of a later line.
        later: u16,
    },
    /// The code is followed by something other than '-', ' ' or the line end.
    #[error("reply line {line:?} has no '-' or ' ' after the code")]
    BadSeparator {
        /// The offending line (shortened).
        line: String,
    },
    /// A line is longer than [`MAX_LINE_LEN`] octets.
    #[error("reply line longer than 4096 octets")]
    LineTooLong,
    /// The reply has more than [`MAX_LINES`] lines.
    #[error("reply has more than 128 lines")]
    TooManyLines,
}

fn shorten(line: &[u8]) -> String {
    String::from_utf8_lossy(line)
        .chars()
        .take(ERROR_LINE_CHARS)
        .collect()
}

/// Finds the next line at `buf`; Ok(None) when it is not complete yet.
/// Returns the line without its ending and the length including the ending.
fn next_line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, ReplyError> {
    // A valid line has its '\n' within MAX_LINE_LEN + 2 octets (content, '\r', '\n').
    let window = &buf[..buf.len().min(MAX_LINE_LEN + 2)];
    match window.iter().position(|&b| b == b'\n') {
        Some(nl) => {
            let content = &window[..nl];
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            if content.len() > MAX_LINE_LEN {
                return Err(ReplyError::LineTooLong);
            }
            Ok(Some((content, nl + 1)))
        }
        None => {
            let too_long = window.len() > MAX_LINE_LEN + 1
                || (window.len() == MAX_LINE_LEN + 1 && window.last() != Some(&b'\r'));
            if too_long {
                Err(ReplyError::LineTooLong)
            } else {
                Ok(None)
            }
        }
    }
}

fn parse_code(line: &[u8]) -> Option<u16> {
    match line {
        [a @ b'2'..=b'5', b @ b'0'..=b'5', c @ b'0'..=b'9', ..] => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// Parses one complete reply from the start of `buf`.
///
/// Lines end in CRLF; a bare LF is tolerated. A line may be just the code
/// (`"250"`) or the code and a space (`"250 "`). Returns `Ok(None)` when more
/// bytes are needed, else the reply and the number of bytes it took. Lines over
/// 4096 octets and replies over 128 lines are errors, reported as soon as the
/// buffered bytes show them, so a caller never needs to buffer more than about
/// 4 KiB of an unfinished line. Non-UTF-8 text is replaced lossily.
///
/// ```
/// let (reply, used) = smtp::parse_reply(b"250-mx.example\r\n250 SIZE 1000\r\nrest").unwrap().unwrap();
/// assert_eq!((reply.code, used), (250, 31));
/// assert_eq!(reply.lines, ["mx.example", "SIZE 1000"]);
/// assert_eq!(smtp::parse_reply(b"250-mx.example\r\n250 SI").unwrap(), None);
/// ```
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    let mut pos = 0;
    let mut code = None;
    let mut lines = Vec::new();
    loop {
        let rest = buf.get(pos..).unwrap_or(&[]);
        let Some((line, used)) = next_line(rest)? else {
            // Check what is already buffered of an unfinished line, so a bad
            // start is reported early instead of waiting for its end.
            check_partial(rest, code)?;
            return Ok(None);
        };
        pos += used;
        let line_code = parse_code(line).ok_or_else(|| ReplyError::BadCode {
            line: shorten(line),
        })?;
        let first = *code.get_or_insert(line_code);
        if first != line_code {
            return Err(ReplyError::MismatchedCodes {
                first,
                later: line_code,
            });
        }
        let (last, text) = match line.get(3..) {
            None | Some([]) => (true, &[][..]),
            Some([b' ', text @ ..]) => (true, text),
            Some([b'-', text @ ..]) => (false, text),
            Some(_) => {
                return Err(ReplyError::BadSeparator {
                    line: shorten(line),
                });
            }
        };
        lines.push(String::from_utf8_lossy(text).into_owned());
        if last {
            return Ok(Some((Reply { code: first, lines }, pos)));
        }
        if lines.len() >= MAX_LINES {
            return Err(ReplyError::TooManyLines);
        }
    }
}

/// Validates the start of an unfinished line as far as it goes.
fn check_partial(rest: &[u8], code: Option<u16>) -> Result<(), ReplyError> {
    let digits = rest.len().min(3);
    let head = rest.get(..digits).unwrap_or(&[]);
    let plausible = head.iter().enumerate().all(|(i, &b)| match i {
        0 => (b'2'..=b'5').contains(&b),
        1 => (b'0'..=b'5').contains(&b),
        _ => b.is_ascii_digit(),
    });
    if !plausible {
        return Err(ReplyError::BadCode {
            line: shorten(rest),
        });
    }
    if let (Some(line_code), Some(first)) = (parse_code(rest), code)
        && line_code != first
    {
        return Err(ReplyError::MismatchedCodes {
            first,
            later: line_code,
        });
    }
    match rest.get(3) {
        None | Some(b' ' | b'-' | b'\r') => Ok(()),
        Some(_) => Err(ReplyError::BadSeparator {
            line: shorten(rest),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Class;
    use proptest::prelude::*;

    fn parse_all(input: &[u8]) -> (Reply, usize) {
        parse_reply(input).unwrap().unwrap()
    }

    #[test]
    fn single_line_reply_with_crlf() {
        assert_eq!(
            parse_all(b"220 mx.example ESMTP\r\n"),
            (Reply::new(220, "mx.example ESMTP"), 22)
        );
    }

    #[test]
    fn multiline_reply_consumes_only_its_lines() {
        let input = b"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 10\r\n220 next";
        let (reply, used) = parse_all(input);
        assert_eq!(reply.code, 250);
        assert_eq!(reply.lines, ["mx.example", "PIPELINING", "SIZE 10"]);
        assert_eq!(used, 45);
        assert_eq!(&input[used..], b"220 next");
    }

    #[test]
    fn bare_code_and_code_with_space_end_a_reply() {
        assert_eq!(parse_all(b"250\r\n"), (Reply::new(250, ""), 5));
        assert_eq!(parse_all(b"250 \r\n"), (Reply::new(250, ""), 6));
        // Postfix smtp-sink ends its EHLO reply with "250 ".
        let (reply, used) = parse_all(b"250-sink\r\n250-PIPELINING\r\n250 \r\n");
        assert_eq!(reply.lines, ["sink", "PIPELINING", ""]);
        assert_eq!(used, 32);
    }

    #[test]
    fn empty_continuation_line_is_kept() {
        let (reply, _) = parse_all(b"250-\r\n250 ok\r\n");
        assert_eq!(reply.lines, ["", "ok"]);
    }

    #[test]
    fn bare_lf_line_endings_are_tolerated() {
        assert_eq!(
            parse_all(b"250-a\n250 b\n"),
            (
                Reply {
                    code: 250,
                    lines: vec!["a".into(), "b".into()]
                },
                12
            )
        );
    }

    #[test]
    fn incomplete_input_needs_more_bytes() {
        for input in [
            &b""[..],
            b"2",
            b"25",
            b"250",
            b"250 ok",
            b"250 ok\r",
            b"250-a\r\n",
            b"250-a\r\n250",
            b"250-a\r\n250-b\r\n25",
        ] {
            assert_eq!(
                parse_reply(input),
                Ok(None),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn bad_codes_are_rejected() {
        for line in [
            "hello", "25", "600 x", "190 x", "260 x", "2x0 x", " 250 x", "",
        ] {
            let input = format!("{line}\r\n");
            assert_eq!(
                parse_reply(input.as_bytes()),
                Err(ReplyError::BadCode { line: line.into() }),
                "{line}"
            );
        }
    }

    #[test]
    fn bad_code_is_reported_before_the_line_ends() {
        assert_eq!(
            parse_reply(b"SSH-2.0"),
            Err(ReplyError::BadCode {
                line: "SSH-2.0".into()
            })
        );
        assert_eq!(
            parse_reply(b"250-a\r\n2x"),
            Err(ReplyError::BadCode { line: "2x".into() })
        );
    }

    #[test]
    fn different_codes_in_one_reply_are_an_error() {
        assert_eq!(
            parse_reply(b"250-a\r\n251 b\r\n"),
            Err(ReplyError::MismatchedCodes {
                first: 250,
                later: 251
            })
        );
        assert_eq!(
            parse_reply(b"250-a\r\n550"),
            Err(ReplyError::MismatchedCodes {
                first: 250,
                later: 550
            })
        );
    }

    #[test]
    fn bad_separator_is_rejected() {
        assert_eq!(
            parse_reply(b"250_ok\r\n"),
            Err(ReplyError::BadSeparator {
                line: "250_ok".into()
            })
        );
        assert_eq!(
            parse_reply(b"2500 ok"),
            Err(ReplyError::BadSeparator {
                line: "2500 ok".into()
            })
        );
    }

    #[test]
    fn line_of_exactly_the_limit_is_accepted() {
        let mut input = b"250 ".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE_LEN - 4));
        input.extend(b"\r\n");
        let (reply, used) = parse_all(&input);
        assert_eq!(reply.lines[0].len(), MAX_LINE_LEN - 4);
        assert_eq!(used, MAX_LINE_LEN + 2);
        // Without its "\n" yet, the same line is still only incomplete.
        assert_eq!(parse_reply(&input[..input.len() - 1]), Ok(None));
    }

    #[test]
    fn over_long_line_is_rejected_before_its_end_arrives() {
        let mut input = b"250 ".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE_LEN - 3));
        assert_eq!(input.len(), MAX_LINE_LEN + 1);
        assert_eq!(parse_reply(&input), Err(ReplyError::LineTooLong));
        input.extend(b"\r\n");
        assert_eq!(parse_reply(&input), Err(ReplyError::LineTooLong));
        // A huge buffer without any newline fails just the same.
        let flood = vec![b'5'; 1 << 20];
        assert!(parse_reply(&flood).is_err());
    }

    #[test]
    fn reply_of_128_lines_is_accepted_and_129_rejected() {
        let mut input = "250-x\r\n".repeat(MAX_LINES - 1);
        input.push_str("250 last\r\n");
        let (reply, used) = parse_all(input.as_bytes());
        assert_eq!(reply.lines.len(), MAX_LINES);
        assert_eq!(used, input.len());

        let too_many = "250-x\r\n".repeat(MAX_LINES);
        assert_eq!(
            parse_reply(too_many.as_bytes()),
            Err(ReplyError::TooManyLines)
        );
    }

    #[test]
    fn largest_reply_fits_max_reply_len_and_never_needs_more() {
        let line = format!("250-{}\r\n", "x".repeat(MAX_LINE_LEN - 4));
        let mut input = line.repeat(MAX_LINES - 1);
        input.push_str(&format!("250 {}\r\n", "y".repeat(MAX_LINE_LEN - 4)));
        assert_eq!(input.len(), MAX_REPLY_LEN);
        let (reply, used) = parse_all(input.as_bytes());
        assert_eq!((reply.lines.len(), used), (MAX_LINES, MAX_REPLY_LEN));
        // One octet short, it is still incomplete...
        assert_eq!(
            parse_reply(&input.as_bytes()[..MAX_REPLY_LEN - 1]),
            Ok(None)
        );
        // ...but with a continuation instead of the last line it fails.
        let too_many = line.repeat(MAX_LINES);
        assert_eq!(too_many.len(), MAX_REPLY_LEN);
        assert_eq!(
            parse_reply(too_many.as_bytes()),
            Err(ReplyError::TooManyLines)
        );
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let (reply, _) = parse_all(b"250 caf\xe9\r\n");
        assert_eq!(reply.lines, ["caf\u{fffd}"]);
    }

    #[test]
    fn enhanced_code_needs_matching_class_and_word_end() {
        let reply = Reply::new(550, "5.1.1 user unknown");
        assert_eq!(
            reply.enhanced_code(),
            Some(EnhancedCode::new(Class::Permanent, 1, 1))
        );
        assert_eq!(reply.message(), "user unknown");

        let only_code = Reply::new(250, "2.0.0");
        assert_eq!(
            only_code.enhanced_code(),
            Some(EnhancedCode::new(Class::Success, 0, 0))
        );
        assert_eq!(only_code.message(), "");

        let wrong_class = Reply::new(550, "4.1.1 user unknown");
        assert_eq!(wrong_class.enhanced_code(), None);
        assert_eq!(wrong_class.message(), "4.1.1 user unknown");

        let glued = Reply::new(550, "5.1.1user unknown");
        assert_eq!(glued.enhanced_code(), None);

        let none = Reply::new(250, "ok");
        assert_eq!(none.enhanced_code(), None);
        assert_eq!(none.message(), "ok");

        let empty = Reply {
            code: 250,
            lines: vec![],
        };
        assert_eq!(empty.enhanced_code(), None);
        assert_eq!(empty.message(), "");
    }

    #[test]
    fn code_classes() {
        assert!(Reply::new(250, "").is_success());
        assert!(Reply::new(354, "").is_intermediate());
        assert!(Reply::new(421, "").is_transient());
        assert!(Reply::new(554, "").is_permanent());
        assert!(!Reply::new(554, "").is_transient());
    }

    #[test]
    fn to_wire_and_display() {
        let reply = Reply {
            code: 250,
            lines: vec!["a".into(), "".into(), "b".into()],
        };
        assert_eq!(reply.to_wire(), "250-a\r\n250-\r\n250 b\r\n");
        assert_eq!(reply.to_string(), "250 a /  / b");
        assert_eq!(Reply::new(250, "").to_wire(), "250\r\n");
        assert_eq!(Reply::new(250, "").to_string(), "250");
        assert_eq!(
            Reply {
                code: 221,
                lines: vec![]
            }
            .to_wire(),
            "221\r\n"
        );
    }

    #[test]
    fn error_messages_name_the_input() {
        assert_eq!(
            ReplyError::BadCode { line: "hi".into() }.to_string(),
            "reply line \"hi\" does not start with a valid three-digit code"
        );
        assert_eq!(
            ReplyError::MismatchedCodes {
                first: 250,
                later: 251
            }
            .to_string(),
            "multiline reply mixes codes 250 and 251"
        );
    }

    fn arb_reply() -> impl Strategy<Value = Reply> {
        (200u16..560, prop::collection::vec("[ -~]{0,40}", 1..6))
            .prop_filter("second digit 0..=5", |(code, _)| code / 10 % 10 <= 5)
            .prop_map(|(code, lines)| Reply { code, lines })
    }

    proptest! {
        #[test]
        fn to_wire_then_parse_is_identity(reply in arb_reply()) {
            let wire = reply.to_wire();
            let parsed = parse_reply(wire.as_bytes()).unwrap();
            prop_assert_eq!(parsed, Some((reply, wire.len())));
        }

        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_reply(&bytes);
        }

        #[test]
        fn every_prefix_of_a_valid_reply_needs_more(reply in arb_reply(), cut in 0usize..1000) {
            let wire = reply.to_wire();
            let cut = cut % wire.len();
            prop_assert_eq!(parse_reply(&wire.as_bytes()[..cut]), Ok(None));
        }
    }
}
