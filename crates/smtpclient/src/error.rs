//! The one error type of the client.

use std::time::Duration;

use smtp::{Command, EnhancedCode, Reply};

/// A requirement of the message or the configuration that the server does
/// not meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Requirement {
    /// The message has 8-bit content and the server lacks 8BITMIME.
    EightBitMime,
    /// The message or an address needs SMTPUTF8 and the server lacks it.
    SmtpUtf8,
    /// The message must travel under REQUIRETLS (RFC 8689), and the server
    /// does not announce it (or the session is not TLS-protected).
    RequireTls,
    /// TLS is required and the server does not offer STARTTLS.
    StartTls,
    /// The message is larger than the server's SIZE limit.
    Size {
        /// The message size in octets.
        size: u64,
        /// The server's announced limit.
        limit: u64,
    },
}

impl std::fmt::Display for Requirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Requirement::EightBitMime => f.write_str("8BITMIME"),
            Requirement::SmtpUtf8 => f.write_str("SMTPUTF8"),
            Requirement::RequireTls => f.write_str("REQUIRETLS"),
            Requirement::StartTls => f.write_str("STARTTLS"),
            Requirement::Size { size, limit } => {
                write!(f, "SIZE (message is {size} octets, limit {limit})")
            }
        }
    }
}

/// What went wrong in an SMTP session.
///
/// ```
/// use smtp::{Command, Reply};
/// use smtpclient::Error;
///
/// let err = Error::Rejected {
///     command: Command::MailFrom,
///     reply: Reply::new(550, "5.7.1 sender rejected"),
///     enhanced: None,
/// };
/// assert!(err.is_permanent());
/// assert_eq!(err.command(), Some(Command::MailFrom));
/// assert_eq!(err.to_string(), "mailfrom rejected: 550 5.7.1 sender rejected");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Finding the destination (MX, IPs, TLSA) failed.
    #[error(transparent)]
    Gather(#[from] crate::gather::GatherError),
    /// Connecting failed.
    #[error(transparent)]
    Dial(#[from] crate::dial::DialError),
    /// The server answered a command with a failure (or an unexpected) reply.
    #[error("{command} rejected: {reply}")]
    Rejected {
        /// The command the reply belongs to.
        command: Command,
        /// The full reply.
        reply: Reply,
        /// The enhanced status code, when ENHANCEDSTATUSCODES was announced
        /// and the code's class matches the reply.
        enhanced: Option<EnhancedCode>,
    },
    /// The TLS handshake or the certificate check failed. The connection is
    /// unusable afterwards; when `plaintext_fallback_allowed` is set (the
    /// caller chose opportunistic TLS with plaintext fallback), the caller
    /// may connect again with [`TlsMode::Skip`](crate::TlsMode::Skip).
    #[error("TLS with {server}: {reason}")]
    Tls {
        /// The server name used for SNI and verification (or the address when none).
        server: String,
        /// What failed, e.g. the certificate verification error.
        reason: String,
        /// Whether the configuration allows delivering without TLS instead.
        plaintext_fallback_allowed: bool,
    },
    /// The server broke the protocol: a malformed reply, lines with
    /// different codes, or a code that makes no sense at that point.
    #[error("protocol error in reply to {command}: {reason}")]
    Protocol {
        /// The command whose reply was bad.
        command: Command,
        /// What was wrong.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("i/o error during {command}: {source}")]
    Io {
        /// The command being written or answered.
        command: Command,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The server closed the connection while a reply was awaited.
    #[error("connection closed by the server while waiting for the reply to {command}")]
    Closed {
        /// The command that got no reply.
        command: Command,
    },
    /// No reply (or no progress writing) within the configured time.
    #[error("timeout after {timeout:?} during {command}")]
    Timeout {
        /// The command being written or answered.
        command: Command,
        /// The limit that passed.
        timeout: Duration,
    },
    /// The message or configuration needs something the server lacks;
    /// checked before sending anything.
    #[error("server does not support {requirement}")]
    Unsupported {
        /// What is missing.
        requirement: Requirement,
    },
    /// Authentication could not be done (no common mechanism, plaintext
    /// password refused without TLS, a malformed challenge, or the server
    /// failed to prove it knows the password). A server rejection of the
    /// credentials is [`Error::Rejected`] with command `auth`.
    #[error("authentication with {mechanism}: {reason}")]
    Auth {
        /// The mechanism (or "none" when none could be chosen).
        mechanism: String,
        /// What went wrong.
        reason: String,
    },
    /// The envelope cannot be sent as given (e.g. no recipients).
    #[error("invalid envelope: {reason}")]
    Envelope {
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration is unusable (e.g. PKIX verification without a server name).
    #[error("invalid client configuration: {reason}")]
    Config {
        /// What is wrong with it.
        reason: String,
    },
    /// The session cannot be used any more: an earlier error broke it, the
    /// server said 421, or it reached its transaction limit (MAILMAX).
    #[error("connection is not usable any more: {reason}")]
    Unusable {
        /// Why.
        reason: String,
    },
}

impl Error {
    /// Whether retrying later cannot help: a 5xx reply, a message larger
    /// than the server accepts, 8BITMIME content for a server without it,
    /// an invalid envelope or configuration, a permanent lookup failure (null
    /// MX, no such domain). Everything else is temporary,
    /// like in the reference (SMTPUTF8 and REQUIRETLS missing are temporary:
    /// another MX or a later configuration may offer them).
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Rejected { reply, .. } => reply.is_permanent(),
            Error::Unsupported { requirement } => {
                matches!(
                    requirement,
                    Requirement::EightBitMime | Requirement::Size { .. }
                )
            }
            Error::Envelope { .. } | Error::Config { .. } => true,
            Error::Gather(err) => err.is_permanent(),
            Error::Dial(_) => false,
            Error::Tls { .. }
            | Error::Protocol { .. }
            | Error::Io { .. }
            | Error::Closed { .. }
            | Error::Timeout { .. }
            | Error::Auth { .. }
            | Error::Unusable { .. } => false,
        }
    }

    /// The command this error belongs to, when one was involved.
    pub fn command(&self) -> Option<Command> {
        match self {
            Error::Rejected { command, .. }
            | Error::Protocol { command, .. }
            | Error::Io { command, .. }
            | Error::Closed { command }
            | Error::Timeout { command, .. } => Some(*command),
            Error::Tls { .. } => Some(Command::StartTls),
            Error::Auth { .. } => Some(Command::Auth),
            _ => None,
        }
    }

    /// The server's reply, for [`Error::Rejected`].
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Error::Rejected { reply, .. } => Some(reply),
            _ => None,
        }
    }

    /// The enhanced status code of the server's reply, when known.
    pub fn enhanced_code(&self) -> Option<EnhancedCode> {
        match self {
            Error::Rejected { enhanced, .. } => *enhanced,
            _ => None,
        }
    }

    /// For [`Error::Tls`]: whether the caller allows falling back to a new
    /// plaintext connection ([`TlsMode::Skip`](crate::TlsMode::Skip)).
    pub fn plaintext_fallback_allowed(&self) -> bool {
        matches!(
            self,
            Error::Tls {
                plaintext_fallback_allowed: true,
                ..
            }
        )
    }

    /// Whether the connection is finished after this error (everything but
    /// a rejected command other than 421, or a local precondition).
    pub fn ends_connection(&self) -> bool {
        match self {
            Error::Rejected { reply, .. } => reply.code == 421,
            Error::Unsupported { .. } | Error::Envelope { .. } => false,
            _ => true,
        }
    }
}
