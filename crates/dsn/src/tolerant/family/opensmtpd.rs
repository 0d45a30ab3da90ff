//! OpenSMTPD and the DragonFly Mail Agent: "This is the MAILER-DAEMON",
//! `addr: reason` lines, "Below is a copy of the original message".

use super::Format;

/// The OpenSMTPD / DMA bounce format.
pub const FORMAT: Format = Format {
    name: "opensmtpd",
    detect: &[
        "this is the mailer-daemon, please do not reply",
        "dragonfly mail agent",
        "there was an error delivering your mail to",
    ],
    start: &[
        "the following list of recipients",
        "there was an error delivering your mail to",
    ],
    end: &[
        "below is a copy of the original message",
        "message headers follow",
    ],
};
