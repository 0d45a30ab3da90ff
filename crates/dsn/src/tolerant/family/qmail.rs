//! qmail and its descendants (netqmail, vpopmail): "Hi. This is the
//! qmail-send program", recipients as `<addr>:` lines followed by the
//! remote host's words.

use super::Format;

/// The qmail bounce format.
pub const FORMAT: Format = Format {
    name: "qmail",
    detect: &[
        "this is the qmail-send program",
        "qmail-send",
        "i'm afraid i wasn't able to deliver your message",
    ],
    start: &[
        "i'm afraid i wasn't able to deliver",
        "this is a permanent error; i've given up",
    ],
    end: &[
        "--- below this line is a copy of the message",
        "--- enclosed are the original headers",
    ],
};
