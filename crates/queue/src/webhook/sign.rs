//! Standard Webhooks signatures: HMAC-SHA256 over `id.timestamp.body`
//! keyed with the base64-decoded part of a `whsec_` secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The shortest secret key accepted in configuration, in bytes.
pub const MIN_SECRET_BYTES: usize = 24;

const PREFIX: &str = "whsec_";

/// A secret that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// Not `whsec_` followed by base64.
    #[error("webhook secret does not start with \"whsec_\"")]
    NoPrefix,
    /// The part after `whsec_` is not base64.
    #[error("webhook secret is not valid base64 after \"whsec_\": {0}")]
    Base64(String),
    /// The key is too short.
    #[error("webhook secret has {got} bytes of key, at least {MIN_SECRET_BYTES} are needed")]
    TooShort {
        /// Decoded length.
        got: usize,
    },
}

fn key(secret: &str) -> Result<Vec<u8>, SignError> {
    let encoded = secret.strip_prefix(PREFIX).ok_or(SignError::NoPrefix)?;
    STANDARD
        .decode(encoded)
        .map_err(|e| SignError::Base64(e.to_string()))
}

/// A new secret: `whsec_` and the base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut buf = [0u8; 32];
    if getrandom::fill(&mut buf).is_err() {
        // No randomness means no safe secret; a time-derived one would be
        // guessable, so hash what little entropy the clock gives with the
        // address of a local as a last resort.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let digest = <Sha256 as sha2::Digest>::digest(format!("{now}{:p}", &buf));
        buf.copy_from_slice(&digest);
    }
    format!("{PREFIX}{}", STANDARD.encode(buf))
}

/// Checks a configured secret: `whsec_`, base64, at least
/// [`MIN_SECRET_BYTES`] bytes.
///
/// ```
/// use queue::webhook::{validate_secret, SignError};
/// assert!(validate_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
/// assert_eq!(validate_secret("whsec_c2hvcnQ="), Err(SignError::TooShort { got: 5 }));
/// ```
pub fn validate_secret(secret: &str) -> Result<(), SignError> {
    let got = key(secret)?.len();
    if got < MIN_SECRET_BYTES {
        return Err(SignError::TooShort { got });
    }
    Ok(())
}

/// The `v1,<base64>` signature of one request.
///
/// ```
/// let sig = queue::webhook::sign(
///     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
///     "msg_p5jXN8AQM9LWM0D4loKWxJek",
///     1614265330,
///     br#"{"test": 2432232314}"#,
/// ).unwrap();
/// assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
/// ```
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignError> {
    let key = key(secret)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
        .map_err(|e| SignError::Base64(e.to_string()))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header value: one signature per usable secret,
/// space separated (two during a rotation). Secrets that do not decode are
/// skipped; "" when none is usable.
pub fn signature_header(secrets: &[String], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| sign(s, id, timestamp, body).ok())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_published_vector() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rotation_header_carries_both_signatures_current_first() {
        let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string();
        let new = generate_secret();
        let header = signature_header(&[new.clone(), old.clone()], "msg_1", 5, b"{}");
        let expected = format!(
            "{} {}",
            sign(&new, "msg_1", 5, b"{}").unwrap(),
            sign(&old, "msg_1", 5, b"{}").unwrap()
        );
        assert_eq!(header, expected);
    }

    #[test]
    fn generated_secrets_are_32_random_bytes_and_valid() {
        let a = generate_secret();
        assert_eq!(key(&a).unwrap().len(), 32);
        assert!(validate_secret(&a).is_ok());
        assert_ne!(a, generate_secret());
    }

    #[test]
    fn bad_secrets_are_refused_with_the_reason() {
        assert_eq!(validate_secret("abc"), Err(SignError::NoPrefix));
        assert!(matches!(
            validate_secret("whsec_!!!"),
            Err(SignError::Base64(_))
        ));
    }
}
