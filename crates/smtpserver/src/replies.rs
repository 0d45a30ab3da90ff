//! Building replies with enhanced status codes (RFC 2034, RFC 3463), and the
//! stock replies handlers commonly need.

use smtp::{Class, EnhancedCode, Reply};

/// An enhanced code from its three numbers; the class digit must be 2, 4 or 5
/// (anything else is taken as 5).
pub fn code(class: u8, subject: u16, detail: u16) -> EnhancedCode {
    let class = match class {
        2 => Class::Success,
        4 => Class::Transient,
        _ => Class::Permanent,
    };
    EnhancedCode::new(class, subject, detail)
}

/// A one-line reply `"<code> <x.y.z> <text>"`. The enhanced code's class is
/// made to agree with the reply code.
///
/// ```
/// use smtpserver::replies;
/// let r = replies::reply(550, replies::code(5, 7, 1), "relaying denied");
/// assert_eq!(r.to_wire(), "550 5.7.1 relaying denied\r\n");
/// ```
pub fn reply(code_value: u16, enhanced: EnhancedCode, text: &str) -> Reply {
    let class = u8::try_from(code_value / 100).unwrap_or(5);
    let enhanced = code(class, enhanced.subject, enhanced.detail);
    // Replies are single lines; strip anything a caller passed that would
    // break the framing.
    let text: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    Reply::new(code_value, &format!("{enhanced} {text}"))
}

/// `250 2.0.0 <text>`.
pub fn ok(text: &str) -> Reply {
    reply(250, code(2, 0, 0), text)
}

/// `530 5.7.0 authentication required`: submission without AUTH.
pub fn auth_required() -> Reply {
    reply(530, code(5, 7, 0), "authentication required")
}

/// `550 5.7.1 relaying denied`: inbound mail for a domain not handled here.
pub fn relay_denied() -> Reply {
    reply(550, code(5, 7, 1), "relaying denied")
}

/// `550 5.1.1 no such user`.
pub fn no_such_user() -> Reply {
    reply(550, code(5, 1, 1), "no such user")
}

/// `451 4.3.0 <text>`: a local error, try again later.
pub fn local_error(text: &str) -> Reply {
    reply(451, code(4, 3, 0), text)
}

/// `552 5.3.4 message too large`.
pub fn too_large() -> Reply {
    reply(552, code(5, 3, 4), "message too large")
}

/// `452 4.5.3 too many recipients`.
pub fn too_many_recipients() -> Reply {
    reply(452, code(4, 5, 3), "too many recipients")
}

/// `554 5.6.0 <text>`: the message content is unacceptable (e.g. duplicate
/// extra-metadata headers).
pub fn bad_content(text: &str) -> Reply {
    reply(554, code(5, 6, 0), text)
}

/// `554 5.5.3 cannot send to multiple recipients with chosen fromid`: a
/// submitter picked the fromid in MAIL FROM and gave several recipients.
pub fn fromid_multiple_recipients() -> Reply {
    reply(
        554,
        code(5, 5, 3),
        "cannot send to multiple recipients with chosen fromid",
    )
}

/// `554 5.1.7 fromid not unique`: a submitter's chosen fromid is in use.
pub fn fromid_not_unique() -> Reply {
    reply(554, code(5, 1, 7), "fromid not unique")
}

/// `451 4.7.1 <text>`: a per-account sending limit was reached; the client
/// may try later.
pub fn rate_limited(text: &str) -> Reply {
    reply(451, code(4, 7, 1), text)
}

pub(crate) fn bad_sequence(text: &str) -> Reply {
    reply(503, code(5, 5, 1), text)
}

pub(crate) fn unsupported_param(text: &str) -> Reply {
    reply(555, code(5, 5, 4), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_follows_reply_code_and_newlines_are_dropped() {
        assert_eq!(
            reply(451, code(5, 3, 0), "a\r\nb").to_wire(),
            "451 4.3.0 ab\r\n"
        );
        assert_eq!(ok("queued").to_wire(), "250 2.0.0 queued\r\n");
    }
}
