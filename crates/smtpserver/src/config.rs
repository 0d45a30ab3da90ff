//! What the engine needs to know besides the handler: host name, mode,
//! extensions to announce, limits and timeouts. Plain values, built by the
//! caller (the binary reads its config file; this crate reads none).

use std::sync::Arc;
use std::time::Duration;

use smtp::Domain;

/// What kind of listener a session belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Message submission (ports 587/465): MAIL needs an identity, from AUTH
    /// or from [`Handler::connect`](crate::Handler::connect) (trusted networks).
    Submission,
    /// Inbound mail (port 25): no AUTH needed; the handler refuses relaying
    /// in [`Handler::rcpt_to`](crate::Handler::rcpt_to).
    Inbound,
}

/// TLS for STARTTLS and implicit TLS.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// The rustls configuration (built with the ring provider).
    pub config: Arc<rustls::ServerConfig>,
    /// The DER end-entity certificate the configuration presents, for the
    /// `tls-server-end-point` channel binding of SCRAM-*-PLUS (RFC 5929).
    /// Without it only `tls-exporter` (TLS 1.3) is available.
    pub end_entity_cert: Option<Vec<u8>>,
}

/// Which service extensions EHLO announces (and so which parameters are
/// accepted). STARTTLS is announced whenever [`ServerConfig::tls`] is set
/// and the session is not yet encrypted; AUTH whenever mechanisms are
/// available for the session (see [`ServerConfig::sasl`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// SIZE with [`ServerConfig::max_message_size`] (RFC 1870).
    pub size: bool,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034). Replies carry enhanced codes either way.
    pub enhanced_status_codes: bool,
    /// FUTURERELEASE (RFC 4865) with this longest hold interval; the
    /// reference allows 60 days.
    pub future_release: Option<Duration>,
    /// LIMITS (RFC 9422): RCPTMAX is [`ServerConfig::max_recipients`],
    /// MAILMAX is [`ServerConfig::max_transactions`] when set.
    pub limits: bool,
    /// DSN (RFC 3461): NOTIFY, ORCPT, RET and ENVID are accepted.
    pub dsn: bool,
    /// CHUNKING (RFC 3030): BDAT.
    pub chunking: bool,
    /// REQUIRETLS (RFC 8689), announced and accepted on TLS sessions only.
    pub requiretls: bool,
}

impl Default for Announce {
    /// Everything on; FUTURERELEASE with 60 days.
    fn default() -> Self {
        Announce {
            pipelining: true,
            size: true,
            eight_bit_mime: true,
            smtputf8: true,
            enhanced_status_codes: true,
            future_release: Some(Duration::from_secs(60 * 24 * 3600)),
            limits: true,
            dsn: true,
            chunking: true,
            requiretls: true,
        }
    }
}

/// Time limits; defaults follow RFC 5321 §4.5.3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Waiting for the next command (5 min).
    pub command: Duration,
    /// Waiting for each block of message data, DATA or BDAT (3 min).
    pub data_block: Duration,
    /// The TLS handshake (1 min).
    pub tls_handshake: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            command: Duration::from_secs(300),
            data_block: Duration::from_secs(180),
            tls_handshake: Duration::from_secs(60),
        }
    }
}

/// Everything a session needs besides the stream and the handler.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Our host name: in the greeting, EHLO reply and Received header.
    pub hostname: Domain,
    /// Submission or inbound.
    pub mode: Mode,
    /// TLS for STARTTLS and implicit TLS; `None` disables both.
    pub tls: Option<TlsSettings>,
    /// Extensions to announce.
    pub announce: Announce,
    /// SASL: enabled mechanisms (empty: no AUTH), whether PLAIN/LOGIN are
    /// allowed without TLS, and the CRAM-MD5 host name.
    pub sasl: sasl::ServerOptions,
    /// Largest message accepted, in octets (SIZE, DATA, BDAT).
    pub max_message_size: u64,
    /// Most recipients per transaction; more get 452 4.5.3.
    pub max_recipients: usize,
    /// Most transactions per connection (LIMITS MAILMAX); `None`: no limit.
    pub max_transactions: Option<u32>,
    /// Longest command line, CRLF included; longer ones get 500 5.5.2.
    pub max_line_len: usize,
    /// Errors (syntax, bad sequence, unknown commands) before 421 and disconnect.
    pub max_bad_commands: u32,
    /// Failed AUTH attempts before 421 and disconnect.
    pub max_auth_failures: u32,
    /// Time limits.
    pub timeouts: Timeouts,
}

impl ServerConfig {
    /// A configuration with defaults: all extensions, SASL mechanisms of
    /// `sasl::ServerOptions::default()` (PLAIN/LOGIN only under TLS) in
    /// submission mode and none (no AUTH) in inbound mode,
    /// 100 MiB messages, 1000 recipients, no MAILMAX, 4096-octet lines,
    /// 10 bad commands, 3 failed AUTHs, RFC 5321 timeouts, no TLS.
    ///
    /// ```
    /// use smtpserver::{Mode, ServerConfig};
    /// let config = ServerConfig::new("mail.example.org".parse().unwrap(), Mode::Submission);
    /// assert_eq!(config.max_recipients, 1000);
    /// ```
    pub fn new(hostname: Domain, mode: Mode) -> ServerConfig {
        let mut sasl = sasl::ServerOptions {
            hostname: hostname.ascii().to_string(),
            ..sasl::ServerOptions::default()
        };
        if mode == Mode::Inbound {
            sasl.mechanisms.clear();
        }
        ServerConfig {
            hostname,
            mode,
            tls: None,
            announce: Announce::default(),
            sasl,
            max_message_size: 100 * 1024 * 1024,
            max_recipients: 1000,
            max_transactions: None,
            max_line_len: 4096,
            max_bad_commands: 10,
            max_auth_failures: 3,
            timeouts: Timeouts::default(),
        }
    }
}
