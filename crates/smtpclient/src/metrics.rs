//! What the client reports about its work, for an embedder's metrics.

use std::time::Duration;

use smtp::{Command, EnhancedCode};

/// The result of a TLS attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsOutcome {
    /// The handshake succeeded (and the certificate passed the configured check).
    Success,
    /// The handshake or the certificate check failed.
    Failure,
    /// The server did not offer STARTTLS (opportunistic mode continued in plaintext).
    NotOffered,
    /// The server refused the STARTTLS command.
    Refused,
}

/// Receives facts about commands and TLS. Every method has an empty default
/// body, so an embedder implements only what it wants. Called on the task
/// running the session: keep it quick.
pub trait Metrics: Send + Sync {
    /// A command got its reply after `took` (for pipelined commands: since
    /// the batch was written).
    fn command(
        &self,
        _command: Command,
        _code: u16,
        _enhanced: Option<EnhancedCode>,
        _took: Duration,
    ) {
    }

    /// A TLS attempt ended.
    fn tls(&self, _outcome: TlsOutcome) {}
}

/// Metrics that go nowhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMetrics;

impl Metrics for NoMetrics {}
