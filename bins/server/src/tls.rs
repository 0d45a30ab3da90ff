//! TLS for the listeners: certificate and key from PEM files, or a
//! self-signed certificate made at start (localserve).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use smtpserver::TlsSettings;

fn settings(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> anyhow::Result<TlsSettings> {
    let end_entity = chain.first().map(|c| c.as_ref().to_vec());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .context("certificate and key do not form a usable pair")?;
    Ok(TlsSettings {
        config: Arc::new(config),
        end_entity_cert: end_entity,
    })
}

/// Loads a PEM certificate chain and private key.
pub fn load(cert: &Path, key: &Path) -> anyhow::Result<TlsSettings> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificate file {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificate file {}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("certificate file {} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading private key file {}", key.display()))?;
    settings(chain, key)
}

/// A fresh self-signed certificate for `names`.
pub fn self_signed(names: &[&str]) -> anyhow::Result<TlsSettings> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let certified =
        rcgen::generate_simple_self_signed(names).context("making a self-signed certificate")?;
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    settings(vec![cert], key)
}
