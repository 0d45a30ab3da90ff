//! Yahoo and AOL: "Sorry, we were unable to deliver your message to the
//! following address", `<addr>:` and "Remote host said: ...".

use super::Format;

/// The Yahoo bounce format.
pub const FORMAT: Format = Format {
    name: "yahoo",
    detect: &["sorry, we were unable to deliver your message to the following address"],
    start: &["unable to deliver your message to the following address"],
    end: &["--- below this line is a copy of the message"],
};
