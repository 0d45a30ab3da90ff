//! The one error type of the crate.

use crate::{ChannelBindingType, Mechanism};

/// Why a SASL exchange (client or server side) or a helper failed.
///
/// Messages name the mechanism step or the field that was wrong, never a
/// password or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// A mechanism name that this crate does not implement.
    #[error("unknown SASL mechanism {0:?}")]
    UnknownMechanism(String),
    /// The mechanism is known but not usable here (e.g. EXTERNAL on the server
    /// side, or not among the enabled/advertised mechanisms).
    #[error("SASL mechanism {0} is not available here")]
    MechanismNotAvailable(Mechanism),
    /// PLAIN or LOGIN would send the password in the clear.
    #[error("{0} would send the password without TLS, which is not allowed")]
    PlaintextWithoutTls(Mechanism),
    /// The peer's message could not be parsed.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which message or field, e.g. "SCRAM server-first message".
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// A message was too long to be a sane SASL message.
    #[error("{what} is {len} bytes, more than the limit of {limit}")]
    TooLong {
        /// Which message.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A string was rejected by SASLprep (RFC 4013).
    #[error("{what} is not a valid SASLprep string (prohibited or bidirectional characters)")]
    SaslPrep {
        /// "username", "password" or "authorization identity".
        what: &'static str,
    },
    /// The server sent a challenge after the client's last message.
    #[error("unexpected challenge after the last {0} step")]
    UnexpectedChallenge(Mechanism),
    /// The client sent a response after the server finished.
    #[error("unexpected response after the {0} exchange finished")]
    UnexpectedResponse(Mechanism),
    /// The server reported success before the mechanism finished.
    #[error("server reported success before the {0} exchange was complete")]
    PrematureSuccess(Mechanism),
    /// The server's SCRAM message carried `e=`.
    #[error("server reported SCRAM error {0:?}")]
    ServerError(String),
    /// A mandatory SCRAM extension (`m=`) that we do not support.
    #[error("unsupported mandatory SCRAM extension {0:?}")]
    MandatoryExtension(String),
    /// The server nonce does not extend the client nonce, or the final nonce differs.
    #[error("SCRAM nonce mismatch")]
    NonceMismatch,
    /// The server's iteration count is below the client's minimum.
    #[error("server asked for {iterations} PBKDF2 iterations, fewer than the minimum {minimum}")]
    IterationsTooLow {
        /// What the server sent.
        iterations: u32,
        /// The configured minimum.
        minimum: u32,
    },
    /// The server's iteration count is above the client's maximum (CPU exhaustion guard).
    #[error("server asked for {iterations} PBKDF2 iterations, more than the maximum {maximum}")]
    IterationsTooHigh {
        /// What the server sent.
        iterations: u32,
        /// The configured maximum.
        maximum: u32,
    },
    /// The SCRAM server signature (`v=`) did not match: the server does not
    /// know the password, or the exchange was tampered with.
    #[error(
        "SCRAM server signature does not match; the server could not prove it knows the password"
    )]
    ServerSignatureMismatch,
    /// The configured channel binding is not available on this session.
    #[error("channel binding {0} is not available on this session")]
    ChannelBindingUnavailable(ChannelBindingType),
    /// The client named a channel binding type this crate does not know.
    #[error("unsupported channel binding type {0:?}")]
    UnsupportedChannelBinding(String),
    /// The channel binding data (`c=`) did not match the session's.
    #[error("channel binding data does not match this session")]
    ChannelBindingMismatch,
    /// The GS2 flag does not fit the mechanism (e.g. `p=` with a non-PLUS
    /// mechanism, `n`/`y` with a -PLUS mechanism).
    #[error("GS2 channel binding flag {flag:?} is not valid with {mechanism}")]
    Gs2FlagMismatch {
        /// The mechanism in use.
        mechanism: Mechanism,
        /// The flag the client sent.
        flag: String,
    },
    /// The client sent `y` although the server advertised -PLUS mechanisms:
    /// someone removed them from the list on the way (RFC 5802 §6).
    #[error(
        "client claims the server does not support channel binding, but -PLUS was offered (downgrade)"
    )]
    Downgrade,
    /// Wrong password, unknown user or invalid proof; deliberately not more specific.
    #[error("authentication failed for user {0:?}")]
    AuthenticationFailed(String),
    /// The certificate given to [`crate::tls_server_end_point`] could not be used.
    #[error("certificate for tls-server-end-point: {0}")]
    Certificate(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
}

impl SaslError {
    /// Whether the exchange was well-formed but the identity or the channel
    /// was not accepted (SMTP `535 5.7.8`), as opposed to a protocol error
    /// (SMTP `501`). Channel binding failures count as the former: they mean
    /// a man in the middle or a misconfiguration, not a broken client.
    pub fn is_authentication_failure(&self) -> bool {
        matches!(
            self,
            SaslError::AuthenticationFailed(_)
                | SaslError::ChannelBindingMismatch
                | SaslError::ChannelBindingUnavailable(_)
                | SaslError::UnsupportedChannelBinding(_)
                | SaslError::Gs2FlagMismatch { .. }
                | SaslError::Downgrade
                | SaslError::ServerSignatureMismatch
        )
    }

    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        SaslError::Malformed {
            what,
            detail: detail.into(),
        }
    }
}
