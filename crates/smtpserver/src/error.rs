//! How a session ends when it does not end with QUIT.

/// Why serving a connection stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Reading or writing the connection failed.
    #[error("connection i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The client was silent for too long.
    #[error("timeout waiting for {what}")]
    Timeout {
        /// What the server was waiting for.
        what: &'static str,
    },
    /// The TLS handshake failed.
    #[error("tls handshake failed: {0}")]
    Tls(String),
    /// The client closed the connection without QUIT.
    #[error("client closed the connection while {state}")]
    Closed {
        /// What the server was doing.
        state: &'static str,
    },
    /// The server closed the connection: too many errors or failed AUTHs,
    /// or the handler refused the connection.
    #[error("connection dropped: {reason}")]
    Dropped {
        /// Why.
        reason: &'static str,
    },
}
