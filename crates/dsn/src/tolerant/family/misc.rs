//! Smaller systems whose bounces share a shape: a phrase announcing the
//! failed recipients, the addresses one per line, the reason after them
//! (Biglobe, EZweb, KDDI, m-FILTER, MailMarshal, InterScan, IMail,
//! MessagingServer, Verizon, X1-X6 style appliances, mailing list managers).

use super::Format;

/// Catch-all phrases of the smaller systems.
pub const FORMAT: Format = Format {
    name: "generic",
    detect: &[],
    start: &[
        "the following addresses had delivery problems",
        "the following recipients were affected",
        "following recipients was rejected",
        "unable to deliver message to the following address",
        "delivery to the following recipients failed",
        "failed to deliver to the following",
        "could not be delivered to the following",
        "the following recipient(s) could not be reached",
        "your message could not be delivered to",
        "was not delivered to",
        "could not deliver",
    ],
    end: &[
        "original message follows",
        "--- original message",
        "the original message headers",
    ],
};
