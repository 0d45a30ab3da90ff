//! `tls-server-end-point` channel binding data (RFC 5929 §4.1).

use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::signature_algorithm::SignatureAlgorithm;
use x509_parser::x509::AlgorithmIdentifier;

use crate::SaslError;

/// The hash RFC 5929 picks for a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EndPointHash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// Computes `tls-server-end-point` channel binding data: the hash of the
/// server's DER certificate, with the hash function of the certificate's
/// signature algorithm, or SHA-256 when that is MD5 or SHA-1 (RFC 5929 §4.1).
///
/// Handles RSA PKCS#1 v1.5, RSASSA-PSS (hash from its parameters), ECDSA and
/// DSA signatures with SHA-1/224/256/384/512 and MD5. Certificates signed with
/// algorithms that have no single hash (Ed25519, Ed448) are rejected, as RFC
/// 5929 does not define a binding for them.
///
/// ```
/// let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
/// let params = rcgen::CertificateParams::new(vec!["mx.example".to_string()]).unwrap();
/// let cert = params.self_signed(&key).unwrap();
/// let data = sasl::tls_server_end_point(cert.der()).unwrap();
/// assert_eq!(data.len(), 48); // SHA-384
/// ```
pub fn tls_server_end_point(cert_der: &[u8]) -> Result<Vec<u8>, SaslError> {
    let (rest, cert) = X509Certificate::from_der(cert_der)
        .map_err(|e| SaslError::Certificate(format!("not a DER X.509 certificate: {e}")))?;
    if !rest.is_empty() {
        return Err(SaslError::Certificate(format!(
            "{} bytes of trailing data after the certificate",
            rest.len()
        )));
    }
    let hash = end_point_hash(&cert.signature_algorithm)?;
    Ok(match hash {
        EndPointHash::Sha224 => Sha224::digest(cert_der).to_vec(),
        EndPointHash::Sha256 => Sha256::digest(cert_der).to_vec(),
        EndPointHash::Sha384 => Sha384::digest(cert_der).to_vec(),
        EndPointHash::Sha512 => Sha512::digest(cert_der).to_vec(),
    })
}

fn end_point_hash(alg: &AlgorithmIdentifier<'_>) -> Result<EndPointHash, SaslError> {
    let oid = alg.algorithm.to_id_string();
    let by_name = match oid.as_str() {
        // RSA PKCS#1 v1.5: md5, sha1, sha256, sha384, sha512, sha224
        "1.2.840.113549.1.1.4" | "1.2.840.113549.1.1.5" => Some(EndPointHash::Sha256),
        "1.2.840.113549.1.1.11" => Some(EndPointHash::Sha256),
        "1.2.840.113549.1.1.12" => Some(EndPointHash::Sha384),
        "1.2.840.113549.1.1.13" => Some(EndPointHash::Sha512),
        "1.2.840.113549.1.1.14" => Some(EndPointHash::Sha224),
        // the old OIW sha1WithRSASignature
        "1.3.14.3.2.29" => Some(EndPointHash::Sha256),
        // ECDSA with sha1, sha224, sha256, sha384, sha512
        "1.2.840.10045.4.1" => Some(EndPointHash::Sha256),
        "1.2.840.10045.4.3.1" => Some(EndPointHash::Sha224),
        "1.2.840.10045.4.3.2" => Some(EndPointHash::Sha256),
        "1.2.840.10045.4.3.3" => Some(EndPointHash::Sha384),
        "1.2.840.10045.4.3.4" => Some(EndPointHash::Sha512),
        // DSA with sha1, sha224, sha256
        "1.2.840.10040.4.3" => Some(EndPointHash::Sha256),
        "2.16.840.1.101.3.4.3.1" => Some(EndPointHash::Sha224),
        "2.16.840.1.101.3.4.3.2" => Some(EndPointHash::Sha256),
        _ => None,
    };
    if let Some(hash) = by_name {
        return Ok(hash);
    }
    if oid == "1.2.840.113549.1.1.10" {
        let parsed = SignatureAlgorithm::try_from(alg)
            .map_err(|e| SaslError::Certificate(format!("bad RSASSA-PSS parameters: {e}")))?;
        if let SignatureAlgorithm::RSASSA_PSS(params) = parsed {
            // Absent hashAlgorithm means SHA-1, which maps to SHA-256 as well.
            return hash_by_digest_oid(&params.hash_algorithm_oid().to_id_string());
        }
    }
    Err(SaslError::Certificate(format!(
        "signature algorithm {oid} has no hash defined for tls-server-end-point"
    )))
}

fn hash_by_digest_oid(oid: &str) -> Result<EndPointHash, SaslError> {
    match oid {
        // md5, sha1
        "1.2.840.113549.2.5" | "1.3.14.3.2.26" => Ok(EndPointHash::Sha256),
        "2.16.840.1.101.3.4.2.1" => Ok(EndPointHash::Sha256),
        "2.16.840.1.101.3.4.2.2" => Ok(EndPointHash::Sha384),
        "2.16.840.1.101.3.4.2.3" => Ok(EndPointHash::Sha512),
        "2.16.840.1.101.3.4.2.4" => Ok(EndPointHash::Sha224),
        other => Err(SaslError::Certificate(format!(
            "RSASSA-PSS hash {other} is not supported for tls-server-end-point"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let params = rcgen::CertificateParams::new(vec!["mx.postel.test".to_string()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn ecdsa_sha256_certificate_hashes_with_sha256() {
        let der = cert(&rcgen::PKCS_ECDSA_P256_SHA256);
        let got = tls_server_end_point(&der).unwrap();
        assert_eq!(got, Sha256::digest(&der).to_vec());
        assert_eq!(got.len(), 32);
    }

    #[test]
    fn ecdsa_sha384_certificate_hashes_with_sha384() {
        let der = cert(&rcgen::PKCS_ECDSA_P384_SHA384);
        let got = tls_server_end_point(&der).unwrap();
        assert_eq!(got, Sha384::digest(&der).to_vec());
        assert_eq!(got.len(), 48);
    }

    #[test]
    fn ed25519_certificate_is_rejected() {
        let der = cert(&rcgen::PKCS_ED25519);
        let err = tls_server_end_point(&der).unwrap_err();
        assert_eq!(
            err,
            SaslError::Certificate(
                "signature algorithm 1.3.101.112 has no hash defined for tls-server-end-point"
                    .into()
            )
        );
    }

    #[test]
    fn garbage_and_trailing_bytes_are_rejected() {
        assert!(matches!(
            tls_server_end_point(b"not a certificate"),
            Err(SaslError::Certificate(_))
        ));
        let mut der = cert(&rcgen::PKCS_ECDSA_P256_SHA256);
        der.push(0);
        assert_eq!(
            tls_server_end_point(&der),
            Err(SaslError::Certificate(
                "1 bytes of trailing data after the certificate".into()
            ))
        );
    }

    /// DER of an AlgorithmIdentifier for RSASSA-PSS with the given hash OID
    /// body (the bytes after the OID tag and length).
    fn pss_alg_id(hash_oid: &[u8]) -> Vec<u8> {
        // hashAlgorithm [0] EXPLICIT AlgorithmIdentifier { oid, NULL }
        let mut hash_alg = vec![0x06, hash_oid.len() as u8];
        hash_alg.extend_from_slice(hash_oid);
        hash_alg.extend_from_slice(&[0x05, 0x00]);
        let mut hash_seq = vec![0x30, hash_alg.len() as u8];
        hash_seq.extend(hash_alg);
        let mut tagged = vec![0xa0, hash_seq.len() as u8];
        tagged.extend(hash_seq);
        let mut params = vec![0x30, tagged.len() as u8];
        params.extend(tagged);
        let pss_oid = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
        ];
        let mut body = pss_oid.to_vec();
        body.extend(params);
        let mut out = vec![0x30, body.len() as u8];
        out.extend(body);
        out
    }

    #[test]
    fn rsa_pss_uses_the_hash_from_its_parameters() {
        // 2.16.840.1.101.3.4.2.2 = SHA-384, .3 = SHA-512, 1.3.14.3.2.26 = SHA-1
        let sha384 = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
        let sha512 = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
        let sha1 = [0x2b, 0x0e, 0x03, 0x02, 0x1a];
        for (oid, want) in [
            (&sha384[..], EndPointHash::Sha384),
            (&sha512[..], EndPointHash::Sha512),
            (&sha1[..], EndPointHash::Sha256),
        ] {
            let der = pss_alg_id(oid);
            let (rest, alg) = AlgorithmIdentifier::from_der(&der).unwrap();
            assert!(rest.is_empty());
            assert_eq!(end_point_hash(&alg).unwrap(), want);
        }
    }
}
