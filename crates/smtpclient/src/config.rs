//! How a session is set up: names, TLS, authentication, timeouts, metrics.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sasl::{ClientOptions, Credentials};

use crate::metrics::{Metrics, NoMetrics};

/// When and how TLS is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// Never use TLS, even when STARTTLS is announced.
    Skip,
    /// STARTTLS when the server announces it, plaintext otherwise.
    ///
    /// When the server refuses STARTTLS or the handshake fails, the
    /// session fails with an error; with `plaintext_fallback_allowed` the
    /// error says so ([`Error::plaintext_fallback_allowed`](crate::Error::plaintext_fallback_allowed)),
    /// and the caller may deliver over a new connection with
    /// [`ClientConfig::without_tls`] (a failed handshake leaves the stream
    /// unusable, so the session cannot continue by itself). A refused
    /// STARTTLS command leaves the stream intact: with the fallback allowed,
    /// the session continues in plaintext.
    Opportunistic {
        /// Whether delivering without TLS is acceptable when TLS fails.
        plaintext_fallback_allowed: bool,
    },
    /// Always send STARTTLS, even when it is not announced (like the
    /// reference's "requiredstarttls"); any failure ends the session.
    RequiredStartTls,
    /// TLS from the first byte (submissions on port 465).
    Immediate,
}

impl Default for TlsMode {
    fn default() -> Self {
        TlsMode::Opportunistic {
            plaintext_fallback_allowed: false,
        }
    }
}

/// How the server's certificate is checked.
#[derive(Clone)]
pub enum Verification {
    /// Any certificate is accepted (opportunistic TLS between MTAs, RFC 7435);
    /// handshake signatures are still verified.
    AnyCertificate,
    /// PKIX (WebPKI) validation against these roots, for
    /// [`ClientConfig::server_name`].
    WebPki {
        /// The trusted roots.
        roots: Arc<RootCertStore>,
    },
    /// A caller-supplied verifier: DANE and MTA-STS plug in here.
    Custom(Arc<dyn ServerCertVerifier>),
}

impl Verification {
    /// PKIX validation against the Mozilla roots compiled into `webpki-roots`.
    pub fn webpki_roots() -> Verification {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Verification::WebPki {
            roots: Arc::new(roots),
        }
    }
}

impl fmt::Debug for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verification::AnyCertificate => f.write_str("AnyCertificate"),
            Verification::WebPki { roots } => write!(f, "WebPki({} roots)", roots.len()),
            Verification::Custom(v) => write!(f, "Custom({v:?})"),
        }
    }
}

/// A client certificate chain and its key.
#[derive(Debug)]
pub struct ClientCert {
    /// End-entity certificate first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ClientCert {
    fn clone(&self) -> Self {
        ClientCert {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// Credentials and rules for SMTP AUTH.
///
/// The mechanism is chosen by [`sasl::choose`]: the most secure one that
/// both sides offer and `options` allow on the session (SCRAM-SHA-256-PLUS >
/// SCRAM-SHA-256 > SCRAM-SHA-1-PLUS > SCRAM-SHA-1 > CRAM-MD5 > PLAIN > LOGIN;
/// PLAIN and LOGIN only with TLS unless `options.plaintext_without_tls`;
/// -PLUS only when the session provides `options.channel_binding`, default
/// tls-exporter, which needs TLS 1.3).
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Username, password and optional authorization identity.
    pub credentials: Credentials,
    /// Allowed mechanisms, plaintext policy, channel binding type, SCRAM limits.
    pub options: ClientOptions,
}

impl AuthConfig {
    /// Credentials with the default rules.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> AuthConfig {
        AuthConfig {
            credentials: Credentials::new(username, password),
            options: ClientOptions::default(),
        }
    }
}

/// Time limits. Defaults follow RFC 5321 §4.5.3.2 where it gives one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Waiting for the greeting (5 min).
    pub greeting: Duration,
    /// Reply to MAIL FROM, also the limit for writing a pipelined batch (5 min).
    pub mail: Duration,
    /// Reply to each RCPT TO (5 min).
    pub rcpt: Duration,
    /// Reply to the DATA command (2 min).
    pub data_command: Duration,
    /// Writing each block of message data (3 min).
    pub data_block: Duration,
    /// Reply to the final "." or the last BDAT chunk (10 min).
    pub data_end: Duration,
    /// The TLS handshake (1 min).
    pub tls_handshake: Duration,
    /// Reply to QUIT (5 s).
    pub quit: Duration,
    /// Any other command: EHLO, HELO, STARTTLS, AUTH, RSET, NOOP (5 min).
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        const MINUTE: Duration = Duration::from_secs(60);
        Timeouts {
            greeting: 5 * MINUTE,
            mail: 5 * MINUTE,
            rcpt: 5 * MINUTE,
            data_command: 2 * MINUTE,
            data_block: 3 * MINUTE,
            data_end: 10 * MINUTE,
            tls_handshake: MINUTE,
            quit: Duration::from_secs(5),
            command: 5 * MINUTE,
        }
    }
}

/// Everything a session needs besides the stream.
///
/// ```
/// use smtpclient::{AuthConfig, ClientConfig, TlsMode, Verification};
///
/// // Submission to a smarthost: STARTTLS required, PKIX-verified, AUTH.
/// let config = ClientConfig {
///     ehlo_name: "mail.example.org".into(),
///     tls: TlsMode::RequiredStartTls,
///     verification: Verification::webpki_roots(),
///     server_name: Some("smtp.example.com".into()),
///     auth: Some(AuthConfig::new("user", "password")),
///     ..ClientConfig::default()
/// };
/// assert_eq!(config.timeouts.data_end, std::time::Duration::from_secs(600));
/// ```
#[derive(Clone)]
pub struct ClientConfig {
    /// The name sent in EHLO/HELO: a domain, or an address literal like "[192.0.2.1]".
    pub ehlo_name: String,
    /// When TLS is used.
    pub tls: TlsMode,
    /// How the certificate is checked when TLS is used.
    pub verification: Verification,
    /// The server's host name, for SNI and certificate verification
    /// (the MX target). Without it no SNI is sent, and WebPki
    /// verification is refused.
    pub server_name: Option<String>,
    /// A client certificate to present when the server asks for one.
    pub client_cert: Option<ClientCert>,
    /// AUTH after EHLO (and STARTTLS), when set.
    pub auth: Option<AuthConfig>,
    /// Time limits.
    pub timeouts: Timeouts,
    /// Where command and TLS facts are reported.
    pub metrics: Arc<dyn Metrics>,
}

impl Default for ClientConfig {
    /// EHLO "localhost", opportunistic TLS accepting any certificate,
    /// no AUTH, RFC 5321 timeouts, no metrics.
    fn default() -> Self {
        ClientConfig {
            ehlo_name: "localhost".to_string(),
            tls: TlsMode::default(),
            verification: Verification::AnyCertificate,
            server_name: None,
            client_cert: None,
            auth: None,
            timeouts: Timeouts::default(),
            metrics: Arc::new(NoMetrics),
        }
    }
}

impl ClientConfig {
    /// The same configuration with TLS skipped: for a new connection after
    /// a TLS failure whose error allows plaintext fallback.
    pub fn without_tls(&self) -> ClientConfig {
        ClientConfig {
            tls: TlsMode::Skip,
            ..self.clone()
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("ehlo_name", &self.ehlo_name)
            .field("tls", &self.tls)
            .field("verification", &self.verification)
            .field("server_name", &self.server_name)
            .field(
                "client_cert",
                &self.client_cert.as_ref().map(|c| c.chain.len()),
            )
            .field("auth", &self.auth)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}
