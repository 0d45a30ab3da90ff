//! The TLS handshake on an accepted connection, and what it tells us.

use std::time::Duration;

use rustls::ProtocolVersion;
use sasl::{ChannelBindings, TLS_EXPORTER_LABEL, TLS_EXPORTER_LENGTH};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::TlsSettings;
use crate::error::ServeError;
use crate::io::{Conn, Io};
use crate::types::TlsInfo;

/// The IANA name of a cipher suite (`TLS_AES_128_GCM_SHA256`); rustls
/// spells TLS 1.3 suites with a `TLS13_` prefix.
pub(crate) fn cipher_name(suite: rustls::CipherSuite) -> String {
    match suite.as_str() {
        Some(name) => match name.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => name.to_string(),
        },
        None => format!("{suite:?}"),
    }
}

fn version_name(version: Option<ProtocolVersion>) -> String {
    match version {
        Some(ProtocolVersion::TLSv1_3) => "TLS1.3".into(),
        Some(ProtocolVersion::TLSv1_2) => "TLS1.2".into(),
        Some(other) => format!("{other:?}"),
        None => "unknown".into(),
    }
}

/// Runs the server side of the handshake on the plaintext connection in `io`.
pub(crate) async fn handshake<S>(
    io: &mut Io<S>,
    settings: &TlsSettings,
    timeout: Duration,
    implicit: bool,
) -> Result<(TlsInfo, ChannelBindings), ServeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Conn::Plain(stream) = std::mem::replace(&mut io.conn, Conn::Gone) else {
        return Err(ServeError::Tls("connection is not plaintext".into()));
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(settings.config.clone());
    let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(ServeError::Tls(e.to_string())),
        Err(_) => {
            return Err(ServeError::Timeout {
                what: "the TLS handshake",
            });
        }
    };
    let (_, conn) = stream.get_ref();
    let version = conn.protocol_version();
    let tls13 = version == Some(ProtocolVersion::TLSv1_3);
    let info = TlsInfo {
        version: version_name(version),
        cipher: conn
            .negotiated_cipher_suite()
            .map(|s| cipher_name(s.suite()))
            .unwrap_or_else(|| "unknown".into()),
        server_name: conn.server_name().map(str::to_string),
        implicit,
    };
    let exporter = conn
        .export_keying_material(vec![0u8; TLS_EXPORTER_LENGTH], TLS_EXPORTER_LABEL, None)
        .ok();
    let bindings = ChannelBindings::from_tls(tls13, exporter, settings.end_entity_cert.as_deref());
    io.conn = Conn::Tls(Box::new(stream));
    Ok((info, bindings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_names_are_iana() {
        assert_eq!(
            cipher_name(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256),
            "TLS_AES_128_GCM_SHA256"
        );
        assert_eq!(
            cipher_name(rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
    }
}
