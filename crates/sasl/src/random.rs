//! Randomness for nonces, salts and challenges.

use crate::SaslError;

/// Fills `buf` from the operating system's generator.
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), SaslError> {
    getrandom::fill(buf).map_err(|e| SaslError::Random(e.to_string()))
}

/// A fresh SCRAM nonce: 24 random bytes in base64, which is always
/// `printable` and never contains a comma.
pub(crate) fn nonce() -> Result<String, SaslError> {
    let mut raw = [0u8; 24];
    fill(&mut raw)?;
    Ok(crate::scram::message::encode_b64(&raw))
}

/// A random unsigned number for CRAM-MD5 challenges.
pub(crate) fn number() -> Result<u64, SaslError> {
    getrandom::u64().map_err(|e| SaslError::Random(e.to_string()))
}
