//! One client command line parsed into a typed value, without I/O.
//!
//! [`parse_command`] is the fuzzing entry point: it takes any bytes (one line
//! without its CRLF) and never panics.

use smtp::{
    Address, AddressError, EnhancedCode, MailParams, ParamError, RcptParams, Reply, parse_path,
    parse_reverse_path,
};

use crate::replies;

/// A command from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCommand {
    /// `EHLO name`.
    Ehlo(String),
    /// `HELO name`.
    Helo(String),
    /// `MAIL FROM:<path> params`; `from` is `None` for the null path `<>`.
    Mail {
        /// The reverse path.
        from: Option<Address>,
        /// Parsed parameters.
        params: MailParams,
        /// Whether the path as written contains non-ASCII characters.
        utf8_path: bool,
    },
    /// `RCPT TO:<path> params`.
    Rcpt {
        /// The forward path.
        to: Address,
        /// Parsed parameters.
        params: RcptParams,
        /// Whether the path as written contains non-ASCII characters.
        utf8_path: bool,
    },
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]` (RFC 3030).
    Bdat {
        /// Octets in the chunk that follows the line.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP [text]`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY text`.
    Vrfy,
    /// `EXPN text`.
    Expn,
    /// `HELP [topic]`.
    Help,
    /// `STARTTLS`.
    StartTls,
    /// `AUTH mechanism [initial-response]`.
    Auth {
        /// The mechanism name, upper-case.
        mechanism: String,
        /// The initial response as sent (base64, or `=` for empty).
        initial_response: Option<String>,
    },
}

impl ClientCommand {
    /// The command's verb, upper-case, for logs and metrics.
    pub fn verb(&self) -> &'static str {
        match self {
            ClientCommand::Ehlo(_) => "EHLO",
            ClientCommand::Helo(_) => "HELO",
            ClientCommand::Mail { .. } => "MAIL",
            ClientCommand::Rcpt { .. } => "RCPT",
            ClientCommand::Data => "DATA",
            ClientCommand::Bdat { .. } => "BDAT",
            ClientCommand::Rset => "RSET",
            ClientCommand::Noop => "NOOP",
            ClientCommand::Quit => "QUIT",
            ClientCommand::Vrfy => "VRFY",
            ClientCommand::Expn => "EXPN",
            ClientCommand::Help => "HELP",
            ClientCommand::StartTls => "STARTTLS",
            ClientCommand::Auth { .. } => "AUTH",
        }
    }
}

/// Why a command line was not understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The line is empty.
    #[error("empty command line")]
    Empty,
    /// The line is not UTF-8.
    #[error("command line is not valid UTF-8")]
    NotUtf8,
    /// The verb is not a command this server knows.
    #[error("unknown command {verb:?}")]
    Unknown {
        /// The verb as sent (at most 16 characters kept).
        verb: String,
    },
    /// The arguments do not fit the command's grammar.
    #[error("{verb}: {reason}")]
    Syntax {
        /// The command verb.
        verb: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// MAIL FROM: the reverse path is invalid.
    #[error("invalid reverse path: {0}")]
    BadSender(#[source] AddressError),
    /// RCPT TO: the forward path is invalid.
    #[error("invalid recipient path: {0}")]
    BadRecipient(#[source] AddressError),
    /// MAIL or RCPT parameters are invalid.
    #[error("{verb} parameters: {source}")]
    Param {
        /// The command verb.
        verb: &'static str,
        /// The parameter error.
        #[source]
        source: ParamError,
    },
}

impl CommandError {
    /// The reply this error gets on the wire.
    pub fn reply(&self) -> Reply {
        match self {
            CommandError::Empty | CommandError::Unknown { .. } => {
                replies::reply(500, replies::code(5, 5, 1), "unrecognized command")
            }
            CommandError::NotUtf8 => {
                replies::reply(500, replies::code(5, 5, 2), "command is not valid UTF-8")
            }
            CommandError::Syntax { reason, .. } => {
                replies::reply(501, replies::code(5, 5, 4), reason)
            }
            CommandError::BadSender(e) => replies::reply(
                501,
                replies::code(5, 1, 7),
                &format!("bad sender address: {e}"),
            ),
            CommandError::BadRecipient(e) => replies::reply(
                501,
                replies::code(5, 1, 3),
                &format!("bad recipient address: {e}"),
            ),
            CommandError::Param { source, .. } => replies::reply(
                501,
                replies::code(5, 5, 4),
                &format!("bad parameters: {source}"),
            ),
        }
    }

    /// The enhanced status code of [`CommandError::reply`].
    pub fn enhanced_code(&self) -> Option<EnhancedCode> {
        self.reply().enhanced_code()
    }
}

/// Parses one command line (without CRLF). Verbs are case-insensitive.
///
/// ```
/// use smtpserver::{ClientCommand, parse_command};
/// let cmd = parse_command(b"MAIL FROM:<a@example.org> SIZE=100").unwrap();
/// let ClientCommand::Mail { from, params, .. } = cmd else { panic!() };
/// assert_eq!(from.unwrap().to_string(), "a@example.org");
/// assert_eq!(params.size, Some(100));
/// assert_eq!(parse_command(b"BDAT 0 LAST").unwrap(), ClientCommand::Bdat { size: 0, last: true });
/// assert!(parse_command(b"\xff").is_err());
/// ```
pub fn parse_command(line: &[u8]) -> Result<ClientCommand, CommandError> {
    let line = std::str::from_utf8(line).map_err(|_| CommandError::NotUtf8)?;
    if line.is_empty() {
        return Err(CommandError::Empty);
    }
    let (verb, rest) = match line.split_once(' ') {
        Some((verb, rest)) => (verb, rest),
        None => (line, ""),
    };
    let upper = verb.to_ascii_uppercase();
    match upper.as_str() {
        "EHLO" => hello("EHLO", rest).map(ClientCommand::Ehlo),
        "HELO" => hello("HELO", rest).map(ClientCommand::Helo),
        "MAIL" => mail(rest),
        "RCPT" => rcpt(rest),
        "DATA" => no_args("DATA", rest, ClientCommand::Data),
        "BDAT" => bdat(rest),
        "RSET" => no_args("RSET", rest, ClientCommand::Rset),
        "NOOP" => Ok(ClientCommand::Noop),
        "QUIT" => no_args("QUIT", rest, ClientCommand::Quit),
        "VRFY" => Ok(ClientCommand::Vrfy),
        "EXPN" => Ok(ClientCommand::Expn),
        "HELP" => Ok(ClientCommand::Help),
        "STARTTLS" => no_args("STARTTLS", rest, ClientCommand::StartTls),
        "AUTH" => auth(rest),
        _ => Err(CommandError::Unknown {
            verb: verb.chars().take(16).collect(),
        }),
    }
}

fn no_args(
    verb: &'static str,
    rest: &str,
    command: ClientCommand,
) -> Result<ClientCommand, CommandError> {
    if rest.trim().is_empty() {
        Ok(command)
    } else {
        Err(CommandError::Syntax {
            verb,
            reason: "no parameters allowed",
        })
    }
}

fn hello(verb: &'static str, rest: &str) -> Result<String, CommandError> {
    // Only the first word counts; some clients append junk after the name.
    let name = rest.split_whitespace().next().unwrap_or("");
    if name.is_empty() {
        return Err(CommandError::Syntax {
            verb,
            reason: "domain or address literal required",
        });
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(CommandError::Syntax {
            verb,
            reason: "invalid domain",
        });
    }
    Ok(name.to_string())
}

/// Splits `FROM:<path> params` after the keyword, allowing one space after
/// the colon as many clients send it. Returns (path, params).
fn path_and_params<'a>(
    verb: &'static str,
    keyword: &str,
    rest: &'a str,
) -> Result<(&'a str, &'a str), CommandError> {
    let syntax = |reason| CommandError::Syntax { verb, reason };
    let head = rest.get(..keyword.len()).ok_or(syntax("missing path"))?;
    if !head.eq_ignore_ascii_case(keyword) {
        return Err(syntax(if verb == "MAIL" {
            "expected FROM:<path>"
        } else {
            "expected TO:<path>"
        }));
    }
    let after = rest.get(keyword.len()..).unwrap_or("");
    let after = after.strip_prefix(' ').unwrap_or(after);
    if !after.starts_with('<') {
        return Err(syntax("path must be in angle brackets"));
    }
    let end = path_end(after).ok_or(syntax("unterminated path"))?;
    let path = after.get(..=end).ok_or(syntax("unterminated path"))?;
    let params = after.get(end + 1..).unwrap_or("");
    if !params.is_empty() && !params.starts_with(' ') {
        return Err(syntax("space required between path and parameters"));
    }
    Ok((path, params))
}

/// Index of the '>' closing a path that starts with '<', skipping quoted strings.
fn path_end(s: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (index, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '>' if !in_quotes => return Some(index),
            _ => {}
        }
    }
    None
}

fn mail(rest: &str) -> Result<ClientCommand, CommandError> {
    let (path, params) = path_and_params("MAIL", "FROM:", rest)?;
    let from = parse_reverse_path(path).map_err(CommandError::BadSender)?;
    let params = MailParams::parse(params).map_err(|source| CommandError::Param {
        verb: "MAIL",
        source,
    })?;
    Ok(ClientCommand::Mail {
        from,
        params,
        utf8_path: !path.is_ascii(),
    })
}

fn rcpt(rest: &str) -> Result<ClientCommand, CommandError> {
    let (path, params) = path_and_params("RCPT", "TO:", rest)?;
    let to = parse_path(path).map_err(CommandError::BadRecipient)?;
    let params = RcptParams::parse(params).map_err(|source| CommandError::Param {
        verb: "RCPT",
        source,
    })?;
    Ok(ClientCommand::Rcpt {
        to,
        params,
        utf8_path: !path.is_ascii(),
    })
}

fn bdat(rest: &str) -> Result<ClientCommand, CommandError> {
    let syntax = |reason| CommandError::Syntax {
        verb: "BDAT",
        reason,
    };
    let mut words = rest.split(' ');
    let size = words.next().unwrap_or("");
    if size.is_empty() || size.len() > 19 || !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax("chunk size must be a number"));
    }
    let size: u64 = size
        .parse()
        .map_err(|_| syntax("chunk size must be a number"))?;
    let last = match words.next() {
        None => false,
        Some(word) if word.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(syntax("expected LAST after the chunk size")),
    };
    if words.next().is_some() {
        return Err(syntax("too many arguments"));
    }
    Ok(ClientCommand::Bdat { size, last })
}

fn auth(rest: &str) -> Result<ClientCommand, CommandError> {
    let mut words = rest.split(' ');
    let mechanism = words.next().unwrap_or("");
    if mechanism.is_empty() {
        return Err(CommandError::Syntax {
            verb: "AUTH",
            reason: "mechanism required",
        });
    }
    let initial_response = words.next().map(str::to_string);
    if words.next().is_some() {
        return Err(CommandError::Syntax {
            verb: "AUTH",
            reason: "too many arguments",
        });
    }
    Ok(ClientCommand::Auth {
        mechanism: mechanism.to_ascii_uppercase(),
        initial_response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_accepts_space_after_colon_and_null_path() {
        assert_eq!(
            parse_command(b"mail from: <>").unwrap(),
            ClientCommand::Mail {
                from: None,
                params: MailParams::default(),
                utf8_path: false
            }
        );
    }

    #[test]
    fn rcpt_with_quoted_gt_in_localpart() {
        let ClientCommand::Rcpt { to, .. } =
            parse_command(b"RCPT TO:<\"a>b\"@example.org> NOTIFY=NEVER").unwrap()
        else {
            panic!("not rcpt")
        };
        assert_eq!(to.localpart().as_str(), "a>b");
    }

    #[test]
    fn utf8_path_is_flagged() {
        let ClientCommand::Rcpt { utf8_path, .. } =
            parse_command("RCPT TO:<jörg@example.org>".as_bytes()).unwrap()
        else {
            panic!("not rcpt")
        };
        assert!(utf8_path);
    }

    #[test]
    fn errors_map_to_replies() {
        let cases: [(&[u8], &str); 8] = [
            (b"", "500 5.5.1 unrecognized command\r\n"),
            (b"XYZZY", "500 5.5.1 unrecognized command\r\n"),
            (b"DATA x", "501 5.5.4 no parameters allowed\r\n"),
            (
                b"MAIL TO:<a@b.example>",
                "501 5.5.4 expected FROM:<path>\r\n",
            ),
            (
                b"RCPT TO:a@b.example",
                "501 5.5.4 path must be in angle brackets\r\n",
            ),
            (b"BDAT x", "501 5.5.4 chunk size must be a number\r\n"),
            (
                b"BDAT 1 FIRST",
                "501 5.5.4 expected LAST after the chunk size\r\n",
            ),
            (b"EHLO", "501 5.5.4 domain or address literal required\r\n"),
        ];
        for (line, wire) in cases {
            assert_eq!(
                parse_command(line).unwrap_err().reply().to_wire(),
                wire,
                "{line:?}"
            );
        }
    }

    #[test]
    fn bad_addresses_have_specific_codes() {
        let e = parse_command(b"MAIL FROM:<no-at-sign>").unwrap_err();
        assert_eq!(e.enhanced_code().unwrap().to_string(), "5.1.7");
        let e = parse_command(b"RCPT TO:<a@-bad-.example>").unwrap_err();
        assert_eq!(e.enhanced_code().unwrap().to_string(), "5.1.3");
        let e = parse_command(b"MAIL FROM:<a@b.example> SIZE=x").unwrap_err();
        assert_eq!(e.reply().code, 501);
    }

    #[test]
    fn auth_keeps_initial_response() {
        assert_eq!(
            parse_command(b"auth plain =").unwrap(),
            ClientCommand::Auth {
                mechanism: "PLAIN".into(),
                initial_response: Some("=".into())
            }
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_command_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse_command(&bytes);
        }

        #[test]
        fn mail_and_rcpt_lines_never_panic(tail in "[ -~\\u{80}-\\u{10ffff}]{0,120}") {
            for verb in ["MAIL FROM:<", "RCPT TO:<", "MAIL FROM:", "AUTH ", "BDAT ", "EHLO "] {
                let _ = parse_command(format!("{verb}{tail}").as_bytes());
            }
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let samples: [&[u8]; 10] = [
            b"MAIL FROM:",
            b"MAIL FROM:<",
            b"MAIL FROM:<\"",
            b"RCPT TO:<\\",
            b"MAIL FROM:<a@b>x",
            b"BDAT 99999999999999999999",
            b"AUTH",
            "MAIL FROM:<é".as_bytes(),
            b"RCPT",
            b" ",
        ];
        for s in samples {
            let _ = parse_command(s);
        }
        for len in 0..12 {
            for seed in 0u8..=255 {
                let bytes: Vec<u8> = (0..len)
                    .map(|i| seed.wrapping_mul(31).wrapping_add(i))
                    .collect();
                let _ = parse_command(&bytes);
            }
        }
    }
}
