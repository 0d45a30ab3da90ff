//! CRAM-MD5 (RFC 2195): HMAC-MD5 of the server's challenge.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use md5::block_api::{Md5Core, compress};
use md5::digest::Digest;
use md5::digest::array::Array;
use md5::digest::block_api::CoreProxy;
use md5::digest::common::hazmat::SerializableState;
use subtle::ConstantTimeEq;

use crate::SaslError;

const BLOCK: usize = 64;
const MD5_INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The client's response to a challenge: `username SP lowercase-hex(HMAC-MD5(password, challenge))`.
pub(crate) fn client_response(username: &str, password: &str, challenge: &[u8]) -> Vec<u8> {
    let digest = match <Hmac<Md5> as KeyInit>::new_from_slice(password.as_bytes()) {
        Ok(mut mac) => {
            mac.update(challenge);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC accepts every key length.
        Err(_) => Vec::new(),
    };
    format!("{username} {}", hex(&digest)).into_bytes()
}

/// What a server stores for CRAM-MD5 instead of the password: the MD5
/// states after absorbing the HMAC inner and outer key blocks, as Dovecot
/// does. Not a hash of the password in any strong sense (it is as good as
/// the password for CRAM-MD5), so only stored for accounts that enable it.
///
/// ```
/// use sasl::CramMd5Credentials;
/// let c = CramMd5Credentials::derive("tanstaaftanstaaf");
/// let response = c.digest(b"<1896.697170952@postoffice.reston.mci.net>");
/// assert_eq!(response.len(), 16);
/// let restored = CramMd5Credentials::from_bytes(c.to_bytes());
/// assert_eq!(restored, c);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CramMd5Credentials {
    /// MD5 chaining state (4 little-endian words) after the key XOR ipad block.
    pub inner: [u8; 16],
    /// MD5 chaining state (4 little-endian words) after the key XOR opad block.
    pub outer: [u8; 16],
}

impl fmt::Debug for CramMd5Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CramMd5Credentials { .. }")
    }
}

impl CramMd5Credentials {
    /// Precomputes the HMAC-MD5 pads for `password`.
    pub fn derive(password: &str) -> CramMd5Credentials {
        let mut key = [0u8; BLOCK];
        let pw = password.as_bytes();
        if pw.len() > BLOCK {
            let hashed = Md5::digest(pw);
            key.iter_mut().zip(hashed.iter()).for_each(|(k, h)| *k = *h);
        } else {
            key.iter_mut().zip(pw).for_each(|(k, p)| *k = *p);
        }
        let pad = |byte: u8| {
            let mut block = [0u8; BLOCK];
            block.iter_mut().zip(key).for_each(|(b, k)| *b = k ^ byte);
            let mut state = MD5_INIT;
            compress(&mut state, &[block]);
            words_to_bytes(state)
        };
        CramMd5Credentials {
            inner: pad(0x36),
            outer: pad(0x5c),
        }
    }

    /// 32 bytes: outer state then inner state (Dovecot's `{CRAM-MD5}` order).
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..16].copy_from_slice(&self.outer);
        out[16..].copy_from_slice(&self.inner);
        out
    }

    /// The inverse of [`CramMd5Credentials::to_bytes`].
    pub fn from_bytes(bytes: [u8; 32]) -> CramMd5Credentials {
        let mut outer = [0u8; 16];
        let mut inner = [0u8; 16];
        outer.copy_from_slice(&bytes[..16]);
        inner.copy_from_slice(&bytes[16..]);
        CramMd5Credentials { inner, outer }
    }

    /// HMAC-MD5(password, challenge), computed from the stored states.
    pub fn digest(&self, challenge: &[u8]) -> [u8; 16] {
        let mut inner = resume(self.inner);
        inner.update(challenge);
        let inner_digest = inner.finalize();
        let mut outer = resume(self.outer);
        outer.update(inner_digest);
        outer.finalize().into()
    }

    /// Checks a client's hex digest (either case) in constant time.
    pub(crate) fn verify(&self, challenge: &[u8], hex_digest: &str) -> bool {
        let want = hex(&self.digest(challenge));
        let got = hex_digest.to_ascii_lowercase();
        want.as_bytes().ct_eq(got.as_bytes()).into()
    }
}

/// An MD5 hasher positioned after one absorbed block with the given state.
fn resume(state: [u8; 16]) -> Md5 {
    let mut serialized = [0u8; 24];
    serialized[..16].copy_from_slice(&state);
    serialized[16..].copy_from_slice(&1u64.to_le_bytes());
    match Md5Core::deserialize(&Array::from(serialized)) {
        Ok(core) => Md5::compose(core, Default::default()),
        // Every 24-byte input is a valid MD5 state; a fresh hasher would
        // merely fail verification.
        Err(_) => Md5::new(),
    }
}

fn words_to_bytes(words: [u32; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a client response `username SP digest`; the username may contain
/// spaces, so split at the last one.
pub(crate) fn parse_response(response: &[u8]) -> Result<(String, String), SaslError> {
    const WHAT: &str = "CRAM-MD5 response";
    const LIMIT: usize = 1024;
    if response.len() > LIMIT {
        return Err(SaslError::TooLong {
            what: WHAT,
            len: response.len(),
            limit: LIMIT,
        });
    }
    let text =
        std::str::from_utf8(response).map_err(|_| SaslError::malformed(WHAT, "not UTF-8"))?;
    let (user, digest) = text
        .rsplit_once(' ')
        .ok_or_else(|| SaslError::malformed(WHAT, "no space between username and digest"))?;
    if user.is_empty() || digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SaslError::malformed(
            WHAT,
            "expected a username and 32 hex digits",
        ));
    }
    Ok((user.to_string(), digest.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &[u8] = b"<1896.697170952@postoffice.reston.mci.net>";

    #[test]
    fn rfc2195_example_client_response() {
        assert_eq!(
            client_response("tim", "tanstaaftanstaaf", CHALLENGE),
            b"tim b913a602c7eda7a495b4e6e7334d3890".to_vec()
        );
    }

    #[test]
    fn stored_state_gives_the_same_digest_as_hmac() {
        let c = CramMd5Credentials::derive("tanstaaftanstaaf");
        assert_eq!(
            hex(&c.digest(CHALLENGE)),
            "b913a602c7eda7a495b4e6e7334d3890"
        );
        assert!(c.verify(CHALLENGE, "B913A602C7EDA7A495B4E6E7334D3890"));
        assert!(!c.verify(CHALLENGE, "b913a602c7eda7a495b4e6e7334d3891"));
        // A password longer than the block is hashed first, as HMAC does.
        let long = "x".repeat(100);
        let want = client_response("u", &long, b"c");
        let c = CramMd5Credentials::derive(&long);
        assert_eq!(format!("u {}", hex(&c.digest(b"c"))).into_bytes(), want);
    }

    #[test]
    fn response_parsing_splits_at_last_space() {
        assert_eq!(
            parse_response(b"tim smith b913a602c7eda7a495b4e6e7334d3890").unwrap(),
            (
                "tim smith".to_string(),
                "b913a602c7eda7a495b4e6e7334d3890".to_string()
            )
        );
        assert!(parse_response(b"tim").is_err());
        assert!(parse_response(b"tim b913").is_err());
        assert!(parse_response(b" b913a602c7eda7a495b4e6e7334d3890").is_err());
    }
}
