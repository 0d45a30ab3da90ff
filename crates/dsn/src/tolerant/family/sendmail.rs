//! Sendmail (V8 and V5) and look-alikes: "----- The following addresses had
//! permanent fatal errors -----", a session transcript with `>>> RCPT To:`
//! and `<<< 550 ...` lines, and "----- Unsent message follows -----".

use super::Format;

/// The Sendmail bounce format.
pub const FORMAT: Format = Format {
    name: "sendmail",
    detect: &[
        "----- the following addresses had",
        "----- transcript of session follows -----",
        "the original message was received at",
        "---the following addresses had delivery errors---",
    ],
    start: &[
        "----- the following addresses had",
        "---the following addresses had delivery errors---",
        "----- transcript of session follows -----",
    ],
    end: &[
        "----- unsent message follows -----",
        "----- original message follows -----",
        "------- returned mail follows",
    ],
};
