//! Why a lookup gave no records.

/// A failed lookup. NXDOMAIN, "exists but has no records of this type" and
/// temporary failures are kept apart because mail treats them differently
/// (permanent bounce, implicit MX, retry later).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The name does not exist (NXDOMAIN).
    #[error("{name}: no such domain (nxdomain){}", authentic_note(*.authentic))]
    NxDomain {
        /// The name asked for, normalised.
        name: String,
        /// Whether the denial was DNSSEC-validated.
        authentic: bool,
    },
    /// The name exists but has no records of the type asked for (NODATA).
    #[error("{name}: no {rtype} records{}", authentic_note(*.authentic))]
    NoRecords {
        /// The name asked for, normalised.
        name: String,
        /// The record type, e.g. "MX".
        rtype: &'static str,
        /// Whether the denial was DNSSEC-validated.
        authentic: bool,
    },
    /// No usable answer now: SERVFAIL, REFUSED, timeout, network error,
    /// malformed response, CNAME loop. Retrying later may help.
    #[error("{name}: temporary dns failure: {reason}")]
    Temporary {
        /// The name asked for.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// The name cannot be looked up at all (bad syntax, too long).
    #[error("invalid dns name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn authentic_note(authentic: bool) -> &'static str {
    if authentic { " (dnssec authentic)" } else { "" }
}

impl LookupError {
    /// NXDOMAIN or no records of the type: the DNS gave a definite "nothing".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NxDomain { .. } | Self::NoRecords { .. })
    }

    /// True for NXDOMAIN only.
    pub fn is_nxdomain(&self) -> bool {
        matches!(self, Self::NxDomain { .. })
    }

    /// A failure that may go away when retried later.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::Temporary { .. })
    }

    /// For a not-found answer, whether the denial was DNSSEC-validated;
    /// `None` for other errors.
    pub fn authentic(&self) -> Option<bool> {
        match self {
            Self::NxDomain { authentic, .. } | Self::NoRecords { authentic, .. } => {
                Some(*authentic)
            }
            _ => None,
        }
    }

    pub(crate) fn temporary(name: &str, reason: impl Into<String>) -> Self {
        Self::Temporary {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}
