//! Amazon WorkMail and SES text bounces ("An error occurred while trying to
//! deliver the mail to the following recipients"). SES JSON notifications
//! are handled in [`crate::tolerant::ses`].

use super::Format;

/// The Amazon text bounce format.
pub const FORMAT: Format = Format {
    name: "amazon",
    detect: &[
        "an error occurred while trying to deliver the mail to the following recipients",
        "amazonses.com",
    ],
    start: &["an error occurred while trying to deliver the mail to the following recipients"],
    end: &["technical report:"],
};
