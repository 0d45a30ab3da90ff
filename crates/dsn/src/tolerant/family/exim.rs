//! Exim (and Exim-based providers such as GMX, 1&1, Mail.ru, Zoho, MXLogic):
//! "This message was created automatically by mail delivery software",
//! recipients indented by two spaces, the reason by four.

use super::Format;

/// The Exim bounce format.
pub const FORMAT: Format = Format {
    name: "exim",
    detect: &[
        "this message was created automatically by mail delivery software",
        "a message that you sent could not be delivered",
        "a message that you have sent could not be delivered",
        "recipient addresses that were\nincorrectly constructed",
        "incorrectly constructed",
    ],
    start: &[
        "the following address(es) failed",
        "the following address failed",
        "following address failed",
        "address failed:",
        "could not be delivered to one or more",
        "incorrectly constructed",
        "failed:",
    ],
    end: &[
        "------ this is a copy of the message",
        "------ this is a copy of your message",
        "--- the header of the original message is following",
        "included is a copy of the message header",
    ],
};
