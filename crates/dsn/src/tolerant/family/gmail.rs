//! Gmail and Google Groups: "Delivery to the following recipient failed
//! permanently", "Technical details of permanent failure", "----- Original
//! message -----".

use super::Format;

/// The Gmail bounce format.
pub const FORMAT: Format = Format {
    name: "gmail",
    detect: &[
        "delivery to the following recipient",
        "technical details of permanent failure",
        "technical details of temporary failure",
        "google groups",
        "googlegroups",
    ],
    start: &["delivery to the following recipient"],
    end: &["----- original message -----"],
};
