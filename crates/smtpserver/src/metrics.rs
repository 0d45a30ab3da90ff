//! Counters the binary can export; this crate never names Prometheus.

/// Events of SMTP sessions. Every method has an empty default body.
pub trait Metrics: Send + Sync {
    /// A connection started.
    fn connection(&self) {}
    /// A reply was sent: `verb` is the command's upper-case verb (`MAIL`,
    /// `BDAT`, ...), empty for the greeting and for lines that did not parse.
    fn command(&self, _verb: &str, _code: u16) {}
    /// A TLS handshake finished (or failed).
    fn tls_handshake(&self, _ok: bool) {}
    /// An AUTH exchange ended.
    fn auth(&self, _mechanism: &str, _ok: bool) {}
    /// A message transaction ended with this reply code and size in octets.
    fn message(&self, _code: u16, _size: u64) {}
}

/// Metrics that go nowhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMetrics;

impl Metrics for NoMetrics {}
