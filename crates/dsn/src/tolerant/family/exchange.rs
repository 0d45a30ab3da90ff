//! Microsoft Exchange and Outlook.com: "Your message did not reach some or
//! all of the intended recipients" / "did not reach the following
//! recipient(s)", each recipient followed by the reason and `#5.1.1` codes.

use super::Format;

/// The Exchange / Outlook bounce format.
pub const FORMAT: Format = Format {
    name: "exchange",
    detect: &[
        "did not reach the following recipient",
        "did not reach some or all of the intended recipients",
        "delivery has failed to these recipients or groups",
        "msexch",
    ],
    start: &[
        "did not reach the following recipient",
        "did not reach some or all of the intended recipients",
        "delivery has failed to these recipients or groups",
    ],
    end: &[
        "original message headers:",
        "diagnostic information for administrators",
    ],
};
