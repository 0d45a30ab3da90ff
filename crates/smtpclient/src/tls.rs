//! TLS for the session: rustls configuration from [`ClientConfig`], the
//! handshake, and what the session learns from it.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CipherSuite, DigitallySignedStruct, ProtocolVersion, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sasl::ChannelBindings;

use crate::config::{ClientConfig, TlsMode, Verification};
use crate::error::Error;
use crate::stream::BoxStream;

/// How the server's certificate was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertCheck {
    /// Not at all: the session has no TLS.
    None,
    /// Any certificate was accepted (opportunistic TLS).
    Any,
    /// PKIX (WebPKI) validation against the configured roots and server name.
    Pkix,
    /// A caller-supplied verifier (DANE, MTA-STS, ...).
    Custom,
}

/// Facts about the TLS session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// The negotiated protocol version (TLS 1.2 or 1.3).
    pub version: ProtocolVersion,
    /// The negotiated cipher suite.
    pub cipher_suite: CipherSuite,
    /// How the certificate was checked.
    pub cert_check: CertCheck,
    /// The server's certificate chain, end-entity first.
    pub peer_certificates: Vec<CertificateDer<'static>>,
}

/// The crypto provider: ring, always passed explicitly.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any certificate but still checks the handshake signatures, so
/// the peer at least holds the key of the certificate it shows.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The name to present and check, and a label for errors.
fn server_name(config: &ClientConfig) -> Result<(ServerName<'static>, String), Error> {
    match &config.server_name {
        Some(name) => {
            let parsed = ServerName::try_from(name.clone()).map_err(|err| Error::Config {
                reason: format!("server name {name:?} is not usable for TLS: {err}"),
            })?;
            Ok((parsed, name.clone()))
        }
        None => {
            if matches!(config.verification, Verification::WebPki { .. }) {
                return Err(Error::Config {
                    reason: "PKIX verification needs ClientConfig::server_name".to_string(),
                });
            }
            // An IP address name makes rustls send no SNI; the verifier
            // decides whether that is acceptable.
            let unspecified = std::net::IpAddr::from([0u8, 0, 0, 0]);
            Ok((
                ServerName::IpAddress(unspecified.into()),
                "(no server name)".to_string(),
            ))
        }
    }
}

fn rustls_config(config: &ClientConfig) -> Result<(Arc<rustls::ClientConfig>, CertCheck), Error> {
    let provider = provider();
    let config_error = |err: rustls::Error| Error::Config {
        reason: format!("TLS setup: {err}"),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(config_error)?;
    let (builder, check) = match &config.verification {
        Verification::AnyCertificate => (
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider))),
            CertCheck::Any,
        ),
        Verification::WebPki { roots } => {
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                roots.clone(),
                provider,
            )
            .build()
            .map_err(|err| Error::Config {
                reason: format!("PKIX verifier: {err}"),
            })?;
            (builder.with_webpki_verifier(verifier), CertCheck::Pkix)
        }
        Verification::Custom(verifier) => (
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier.clone()),
            CertCheck::Custom,
        ),
    };
    let tls = match &config.client_cert {
        Some(cert) => builder
            .with_client_auth_cert(cert.chain.clone(), cert.key.clone_key())
            .map_err(config_error)?,
        None => builder.with_no_client_auth(),
    };
    Ok((Arc::new(tls), check))
}

/// A completed handshake.
pub(crate) struct Established {
    pub(crate) stream: BoxStream,
    pub(crate) info: TlsInfo,
    pub(crate) bindings: ChannelBindings,
}

/// Runs the client side of a TLS handshake over `stream`.
pub(crate) async fn handshake(
    stream: BoxStream,
    config: &ClientConfig,
    timeout: Duration,
) -> Result<Established, Error> {
    let (name, label) = server_name(config)?;
    let (tls_config, cert_check) = rustls_config(config)?;
    let fallback = matches!(
        config.tls,
        TlsMode::Opportunistic {
            plaintext_fallback_allowed: true
        }
    );
    let connector = tokio_rustls::TlsConnector::from(tls_config);
    let tls = match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
        Err(_) => {
            return Err(Error::Tls {
                server: label,
                reason: format!("handshake did not finish within {timeout:?}"),
                plaintext_fallback_allowed: fallback,
            });
        }
        Ok(Err(err)) => {
            return Err(Error::Tls {
                server: label,
                reason: err.to_string(),
                plaintext_fallback_allowed: fallback,
            });
        }
        Ok(Ok(tls)) => tls,
    };
    let (_, conn) = tls.get_ref();
    let version = conn
        .protocol_version()
        .unwrap_or(ProtocolVersion::Unknown(0));
    let cipher_suite = conn
        .negotiated_cipher_suite()
        .map(|suite| suite.suite())
        .unwrap_or(CipherSuite::Unknown(0));
    let peer_certificates: Vec<CertificateDer<'static>> = conn
        .peer_certificates()
        .map(<[_]>::to_vec)
        .unwrap_or_default();
    let tls_exporter = if version == ProtocolVersion::TLSv1_3 {
        conn.export_keying_material(
            [0u8; sasl::TLS_EXPORTER_LENGTH],
            sasl::TLS_EXPORTER_LABEL,
            None,
        )
        .ok()
        .map(|data| data.to_vec())
    } else {
        None
    };
    let tls_server_end_point = peer_certificates
        .first()
        .and_then(|cert| sasl::tls_server_end_point(cert.as_ref()).ok());
    tracing::debug!(
        target: "smtpclient",
        server = %label,
        version = ?version,
        cipher_suite = ?cipher_suite,
        cert_check = ?cert_check,
        "TLS established"
    );
    Ok(Established {
        stream: Box::new(tls),
        info: TlsInfo {
            version,
            cipher_suite,
            cert_check,
            peer_certificates,
        },
        bindings: ChannelBindings {
            tls_exporter,
            tls_server_end_point,
        },
    })
}
