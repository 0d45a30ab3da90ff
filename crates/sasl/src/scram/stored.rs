//! What a server stores instead of a password, and SASLprep.

use std::fmt;

use subtle::ConstantTimeEq;

use super::ScramHash;
use crate::SaslError;

/// Salt length used by [`ScramCredentials::generate`].
pub const DEFAULT_SALT_LEN: usize = 16;

/// Iteration count used by [`ScramCredentials::generate`] when the caller has
/// no opinion: the RFC 7677 minimum, which is also what Dovecot uses.
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// A password in SCRAM's stored form (RFC 5802 §3): enough to verify a
/// client, not enough to impersonate one to another server.
///
/// ```
/// use sasl::{ScramCredentials, ScramHash};
/// let c = ScramCredentials::derive("pencil", b"salt", 4096, ScramHash::Sha256).unwrap();
/// assert!(c.verify_password("pencil", ScramHash::Sha256));
/// assert!(!c.verify_password("pencil2", ScramHash::Sha256));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    /// The salt given to PBKDF2.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
    /// H(HMAC(SaltedPassword, "Client Key")).
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
}

impl fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredentials")
            .field("salt_len", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// The keys derived from a password for one exchange.
pub(crate) struct DerivedKeys {
    pub(crate) client_key: Vec<u8>,
    pub(crate) stored_key: Vec<u8>,
    pub(crate) server_key: Vec<u8>,
}

pub(crate) fn derive_keys(
    password: &str,
    salt: &[u8],
    iterations: u32,
    hash: ScramHash,
) -> Result<DerivedKeys, SaslError> {
    let password = saslprep(password, "password")?;
    let salted = hash.salted_password(password.as_bytes(), salt, iterations);
    let client_key = hash.hmac(&salted, b"Client Key");
    let stored_key = hash.hash(&client_key);
    let server_key = hash.hmac(&salted, b"Server Key");
    Ok(DerivedKeys {
        client_key,
        stored_key,
        server_key,
    })
}

impl ScramCredentials {
    /// Derives the stored form of `password` (SASLprep'd first) with the given
    /// salt and iteration count. Costs `iterations` HMAC computations: run it
    /// off the async runtime's worker threads.
    pub fn derive(
        password: &str,
        salt: &[u8],
        iterations: u32,
        hash: ScramHash,
    ) -> Result<ScramCredentials, SaslError> {
        let keys = derive_keys(password, salt, iterations, hash)?;
        Ok(ScramCredentials {
            salt: salt.to_vec(),
            iterations,
            stored_key: keys.stored_key,
            server_key: keys.server_key,
        })
    }

    /// [`ScramCredentials::derive`] with a fresh random salt of
    /// [`DEFAULT_SALT_LEN`] bytes: what to call when an account's password is set.
    pub fn generate(
        password: &str,
        iterations: u32,
        hash: ScramHash,
    ) -> Result<ScramCredentials, SaslError> {
        let mut salt = [0u8; DEFAULT_SALT_LEN];
        crate::random::fill(&mut salt)?;
        Self::derive(password, &salt, iterations, hash)
    }

    /// Whether `password` is the one these credentials were derived from
    /// (constant-time comparison). Used for PLAIN and LOGIN on the server.
    pub fn verify_password(&self, password: &str, hash: ScramHash) -> bool {
        match derive_keys(password, &self.salt, self.iterations, hash) {
            Ok(keys) => bool::from(keys.stored_key.ct_eq(&self.stored_key)),
            Err(_) => false,
        }
    }
}

/// SASLprep (RFC 4013) as a stored string, naming the field in the error.
pub(crate) fn saslprep(s: &str, what: &'static str) -> Result<String, SaslError> {
    stringprep::saslprep(s)
        .map(|c| c.into_owned())
        .map_err(|_| SaslError::SaslPrep { what })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saslprep_maps_and_rejects() {
        // U+00AD (soft hyphen) is mapped to nothing, U+2168 NFKC-normalizes to "IX".
        assert_eq!(saslprep("I\u{AD}X", "t").unwrap(), "IX");
        assert_eq!(saslprep("\u{2168}", "t").unwrap(), "IX");
        assert_eq!(
            saslprep("a\u{7}b", "password"),
            Err(SaslError::SaslPrep { what: "password" })
        );
    }

    #[test]
    fn rfc7677_stored_keys() {
        // Salt and count from RFC 7677 §3; keys computed independently with
        // Python's hashlib.pbkdf2_hmac/hmac for "pencil".
        let salt = crate::scram::message::decode_b64("W22ZaJ0SNY7soEsUEjb6gQ==", "t").unwrap();
        let c = ScramCredentials::derive("pencil", &salt, 4096, ScramHash::Sha256).unwrap();
        assert_eq!(
            crate::scram::message::encode_b64(&c.stored_key),
            "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
        );
        assert_eq!(
            crate::scram::message::encode_b64(&c.server_key),
            "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
        assert!(c.verify_password("pencil", ScramHash::Sha256));
        assert!(!c.verify_password("Pencil", ScramHash::Sha256));
        assert_eq!(
            format!("{c:?}"),
            "ScramCredentials { salt_len: 16, iterations: 4096, .. }"
        );
    }
}
