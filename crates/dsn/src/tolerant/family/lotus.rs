//! Lotus Notes / Domino: "------- Failure Reasons --------" with the reason
//! before the address, or "was not delivered to: addr because: reason".

use super::Format;

/// The Notes / Domino bounce format.
pub const FORMAT: Format = Format {
    name: "lotus",
    detect: &[
        "------- failure reasons",
        "was not delivered to:",
        "domino directory",
        "lotus",
    ],
    start: &["------- failure reasons", "was not delivered to:"],
    end: &["------- returned message --------"],
};
