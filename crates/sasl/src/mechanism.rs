//! Mechanism names and their ranking.

use std::fmt;
use std::str::FromStr;

use crate::SaslError;
use crate::scram::ScramHash;

/// A SASL mechanism this crate implements.
///
/// ```
/// use sasl::Mechanism;
/// let m: Mechanism = "scram-sha-256-plus".parse().unwrap();
/// assert_eq!(m, Mechanism::ScramSha256Plus);
/// assert_eq!(m.name(), "SCRAM-SHA-256-PLUS");
/// assert!(m.is_plus());
/// assert!(Mechanism::ScramSha256Plus.rank() > Mechanism::Plain.rank());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    /// RFC 4616: authzid, username and password in one message.
    Plain,
    /// The de-facto LOGIN mechanism: username and password in answer to two prompts.
    Login,
    /// RFC 2195: HMAC-MD5 of a server challenge keyed with the password.
    CramMd5,
    /// RFC 5802 with SHA-1.
    ScramSha1,
    /// RFC 5802 with SHA-1 and channel binding.
    ScramSha1Plus,
    /// RFC 7677: SCRAM with SHA-256.
    ScramSha256,
    /// RFC 7677 with channel binding.
    ScramSha256Plus,
    /// RFC 4422 appendix A: identity established outside SASL (TLS client certificate).
    External,
}

impl Mechanism {
    /// Every mechanism, in no particular order.
    pub const ALL: [Mechanism; 8] = [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::ScramSha1,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha256Plus,
        Mechanism::External,
    ];

    /// The registered name, as it appears in `AUTH` and EHLO.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mechanism::External => "EXTERNAL",
        }
    }

    /// Whether this is a channel-binding (-PLUS) variant.
    pub fn is_plus(self) -> bool {
        matches!(self, Mechanism::ScramSha1Plus | Mechanism::ScramSha256Plus)
    }

    /// Whether the password travels in the clear (base64 is not encryption).
    pub fn sends_plaintext_password(self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::Login)
    }

    /// The SCRAM hash, if this is a SCRAM mechanism.
    pub fn scram_hash(self) -> Option<ScramHash> {
        match self {
            Mechanism::ScramSha1 | Mechanism::ScramSha1Plus => Some(ScramHash::Sha1),
            Mechanism::ScramSha256 | Mechanism::ScramSha256Plus => Some(ScramHash::Sha256),
            _ => None,
        }
    }

    /// The -PLUS variant of a SCRAM mechanism and the plain variant of a
    /// -PLUS one; `None` for the others.
    pub fn plus_counterpart(self) -> Option<Mechanism> {
        match self {
            Mechanism::ScramSha1 => Some(Mechanism::ScramSha1Plus),
            Mechanism::ScramSha1Plus => Some(Mechanism::ScramSha1),
            Mechanism::ScramSha256 => Some(Mechanism::ScramSha256Plus),
            Mechanism::ScramSha256Plus => Some(Mechanism::ScramSha256),
            _ => None,
        }
    }

    /// Preference used by [`crate::choose`]; higher is better:
    /// EXTERNAL (only when explicitly allowed) > SCRAM-SHA-256-PLUS >
    /// SCRAM-SHA-256 > SCRAM-SHA-1-PLUS > SCRAM-SHA-1 > CRAM-MD5 > PLAIN > LOGIN.
    pub fn rank(self) -> u8 {
        match self {
            Mechanism::Login => 1,
            Mechanism::Plain => 2,
            Mechanism::CramMd5 => 3,
            Mechanism::ScramSha1 => 4,
            Mechanism::ScramSha1Plus => 5,
            Mechanism::ScramSha256 => 6,
            Mechanism::ScramSha256Plus => 7,
            // A client certificate was configured on purpose: prefer it.
            Mechanism::External => 8,
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mechanism {
    type Err = SaslError;

    /// Parses a mechanism name case-insensitively (RFC 4422 names are
    /// upper case, but servers are not always careful).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mechanism::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| SaslError::UnknownMechanism(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str() {
        for m in Mechanism::ALL {
            assert_eq!(m.name().parse::<Mechanism>(), Ok(m));
            assert_eq!(m.name().to_ascii_lowercase().parse::<Mechanism>(), Ok(m));
        }
        assert_eq!(
            "GSSAPI".parse::<Mechanism>(),
            Err(SaslError::UnknownMechanism("GSSAPI".into()))
        );
    }

    #[test]
    fn ranking_follows_documented_order() {
        let mut all = Mechanism::ALL.to_vec();
        all.sort_by_key(|m| std::cmp::Reverse(m.rank()));
        let names: Vec<_> = all.iter().map(|m| m.name()).collect();
        assert_eq!(
            names,
            [
                "EXTERNAL",
                "SCRAM-SHA-256-PLUS",
                "SCRAM-SHA-256",
                "SCRAM-SHA-1-PLUS",
                "SCRAM-SHA-1",
                "CRAM-MD5",
                "PLAIN",
                "LOGIN"
            ]
        );
    }
}
