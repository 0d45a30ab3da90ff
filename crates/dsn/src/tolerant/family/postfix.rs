//! Postfix: "This is the mail system at host ...", recipients as
//! `<addr>: host mx[ip] said: 550 ...` or `<addr> (expanded from <x>): ...`.
//! Usually accompanied by a message/delivery-status part, which wins.

use super::Format;

/// The Postfix bounce format.
pub const FORMAT: Format = Format {
    name: "postfix",
    detect: &[
        "this is the mail system at host",
        "the mail system",
        "postfix",
    ],
    start: &[
        "the mail system",
        "could not be delivered to one or more recipients",
    ],
    end: &["--- delivery report unavailable ---", "undelivered message"],
};
