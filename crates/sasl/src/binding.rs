//! Channel binding: what the TLS session offers, and the session facts
//! both sides need.
//!
//! This crate does not depend on a TLS library. The caller extracts the
//! binding data from its TLS session:
//! - `tls-exporter` (RFC 9266): `TLS_EXPORTER_LENGTH` bytes of keying material
//!   exported with label [`TLS_EXPORTER_LABEL`] and *no* context, e.g. with
//!   rustls `conn.export_keying_material([0u8; 32], TLS_EXPORTER_LABEL, None)`.
//!   Only fill it in on TLS 1.3: RFC 9266 defines it for TLS 1.3, and on TLS 1.2
//!   it is only safe with extended master secret, which rustls does not report.
//! - `tls-server-end-point` (RFC 5929 §4.1): [`crate::tls_server_end_point`] of the
//!   server's end-entity certificate (DER). Valid on every TLS version.

use std::fmt;
use std::str::FromStr;

use crate::SaslError;

/// The exporter label for `tls-exporter` channel binding (RFC 9266 §2).
pub const TLS_EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// How many bytes to export for `tls-exporter` (RFC 9266 §2).
pub const TLS_EXPORTER_LENGTH: usize = 32;

/// A channel binding type usable with the -PLUS mechanisms.
///
/// ```
/// use sasl::ChannelBindingType;
/// assert_eq!(ChannelBindingType::default(), ChannelBindingType::TlsExporter);
/// assert_eq!("tls-server-end-point".parse(), Ok(ChannelBindingType::TlsServerEndPoint));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ChannelBindingType {
    /// RFC 9266, TLS 1.3 only. The default: it binds to this very connection.
    #[default]
    TlsExporter,
    /// RFC 5929 §4.1: binds to the server's certificate, works on TLS 1.2.
    TlsServerEndPoint,
}

impl ChannelBindingType {
    /// The name used in the GS2 header (`p=<name>`).
    pub fn name(self) -> &'static str {
        match self {
            ChannelBindingType::TlsExporter => "tls-exporter",
            ChannelBindingType::TlsServerEndPoint => "tls-server-end-point",
        }
    }
}

impl fmt::Display for ChannelBindingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ChannelBindingType {
    type Err = SaslError;

    /// Parses the GS2 name exactly (channel binding names are case-sensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tls-exporter" => Ok(ChannelBindingType::TlsExporter),
            "tls-server-end-point" => Ok(ChannelBindingType::TlsServerEndPoint),
            other => Err(SaslError::UnsupportedChannelBinding(other.to_string())),
        }
    }
}

/// The channel binding data a TLS session can offer; `None` where the type
/// is not available (no TLS, TLS 1.2 for `tls-exporter`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelBindings {
    /// [`TLS_EXPORTER_LENGTH`] bytes exported with [`TLS_EXPORTER_LABEL`], TLS 1.3 only.
    pub tls_exporter: Option<Vec<u8>>,
    /// [`crate::tls_server_end_point`] of the server certificate.
    pub tls_server_end_point: Option<Vec<u8>>,
}

impl ChannelBindings {
    /// The data for one type, if available.
    pub fn get(&self, kind: ChannelBindingType) -> Option<&[u8]> {
        match kind {
            ChannelBindingType::TlsExporter => self.tls_exporter.as_deref(),
            ChannelBindingType::TlsServerEndPoint => self.tls_server_end_point.as_deref(),
        }
    }

    /// Builds the bindings of one TLS session, applying the rules above:
    /// `exporter` (the [`TLS_EXPORTER_LENGTH`]-byte export with
    /// [`TLS_EXPORTER_LABEL`] and no context) is kept only when `tls13` is true
    /// and it has the right length; `server_cert_der` (the server's end-entity
    /// certificate) gives `tls-server-end-point` unless its signature algorithm
    /// defines no hash (see [`crate::tls_server_end_point`]).
    ///
    /// ```
    /// use sasl::ChannelBindings;
    /// let b = ChannelBindings::from_tls(false, Some(vec![1; 32]), None);
    /// assert_eq!(b, ChannelBindings::default()); // no tls-exporter on TLS 1.2
    /// let b = ChannelBindings::from_tls(true, Some(vec![1; 32]), None);
    /// assert_eq!(b.tls_exporter, Some(vec![1; 32]));
    /// ```
    pub fn from_tls(
        tls13: bool,
        exporter: Option<Vec<u8>>,
        server_cert_der: Option<&[u8]>,
    ) -> ChannelBindings {
        ChannelBindings {
            tls_exporter: exporter.filter(|e| tls13 && e.len() == TLS_EXPORTER_LENGTH),
            tls_server_end_point: server_cert_der
                .and_then(|der| crate::tls_server_end_point(der).ok()),
        }
    }

    /// Whether any binding type is available.
    pub fn any(&self) -> bool {
        self.tls_exporter.is_some() || self.tls_server_end_point.is_some()
    }
}

/// Facts about the connection that decide which mechanisms and flags are
/// allowed. Used by both the client and the server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// Whether the connection is protected by TLS (implicit or STARTTLS).
    pub tls: bool,
    /// What channel binding data this TLS session provides.
    pub channel_bindings: ChannelBindings,
}

impl SessionInfo {
    /// A session without TLS.
    pub fn plaintext() -> Self {
        SessionInfo::default()
    }

    /// A TLS session with the given channel binding data.
    pub fn tls(channel_bindings: ChannelBindings) -> Self {
        SessionInfo {
            tls: true,
            channel_bindings,
        }
    }
}
