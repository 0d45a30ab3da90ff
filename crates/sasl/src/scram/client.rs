//! The client side of SCRAM (RFC 5802 §5, §7).

use subtle::ConstantTimeEq;

use super::message::{
    Gs2Flag, Gs2Header, as_text, attributes, check_nonce, decode_b64, encode_b64, escape_saslname,
    truncate,
};
use super::stored::{derive_keys, saslprep};
use super::{ScramHash, hash::xor};
use crate::{ClientStep, Mechanism, SaslError};

const SERVER_FIRST: &str = "SCRAM server-first message";
const SERVER_FINAL: &str = "SCRAM server-final message";

/// Limits on the server's iteration count.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IterationLimits {
    pub(crate) min: u32,
    pub(crate) max: u32,
}

enum State {
    Initial,
    SentFirst { client_first_bare: String },
    SentFinal { server_signature: Vec<u8> },
    Done,
    Failed,
}

pub(crate) struct ScramClient {
    mechanism: Mechanism,
    hash: ScramHash,
    password: String,
    gs2: Gs2Header,
    cbind_data: Vec<u8>,
    client_first_bare: String,
    nonce: String,
    limits: IterationLimits,
    state: State,
}

impl ScramClient {
    /// `cbind_data` is the channel binding data when `flag` is
    /// [`Gs2Flag::Bound`], empty otherwise.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        mechanism: Mechanism,
        hash: ScramHash,
        username: &str,
        password: &str,
        authzid: Option<&str>,
        flag: Gs2Flag,
        cbind_data: Vec<u8>,
        nonce: String,
        limits: IterationLimits,
    ) -> Result<ScramClient, SaslError> {
        let username = saslprep(username, "username")?;
        let authzid = authzid
            .map(|a| saslprep(a, "authorization identity"))
            .transpose()?;
        // Fail early (at construction, not mid-exchange) on an unusable password.
        saslprep(password, "password")?;
        let client_first_bare = format!("n={},r={}", escape_saslname(&username), nonce);
        Ok(ScramClient {
            mechanism,
            hash,
            password: password.to_string(),
            gs2: Gs2Header { flag, authzid },
            cbind_data,
            client_first_bare,
            nonce,
            limits,
            state: State::Initial,
        })
    }

    pub(crate) fn flag(&self) -> Gs2Flag {
        self.gs2.flag
    }

    /// The client-first message, if not sent yet.
    pub(crate) fn initial_response(&mut self) -> Option<Vec<u8>> {
        match self.state {
            State::Initial => Some(self.first_message()),
            _ => None,
        }
    }

    /// The client-first message; moves to waiting for the server-first.
    fn first_message(&mut self) -> Vec<u8> {
        let bare = self.client_first_bare.clone();
        let message = format!("{}{}", self.gs2.encode(), bare);
        self.state = State::SentFirst {
            client_first_bare: bare,
        };
        message.into_bytes()
    }

    pub(crate) fn step(&mut self, challenge: &[u8]) -> Result<ClientStep, SaslError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let result = match state {
            // The server asked for the initial response with an empty challenge.
            State::Initial if challenge.is_empty() => {
                Ok(ClientStep::Continue(self.first_message()))
            }
            State::Initial => Err(SaslError::malformed(
                SERVER_FIRST,
                "challenge before the client-first message",
            )),
            State::SentFirst { client_first_bare } => {
                self.client_final(&client_first_bare, challenge)
            }
            State::SentFinal { server_signature } => self
                .verify_server_final(&server_signature, challenge)
                .map(|()| {
                    self.state = State::Done;
                    ClientStep::Final(Vec::new())
                }),
            State::Done | State::Failed => Err(SaslError::UnexpectedChallenge(self.mechanism)),
        };
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    pub(crate) fn finish(&mut self, data: Option<&[u8]>) -> Result<(), SaslError> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Done => {
                self.state = State::Done;
                Ok(())
            }
            State::SentFinal { server_signature } => match data {
                Some(data) => {
                    self.verify_server_final(&server_signature, data)?;
                    self.state = State::Done;
                    Ok(())
                }
                None => Err(SaslError::PrematureSuccess(self.mechanism)),
            },
            _ => Err(SaslError::PrematureSuccess(self.mechanism)),
        }
    }

    fn client_final(
        &mut self,
        client_first_bare: &str,
        challenge: &[u8],
    ) -> Result<ClientStep, SaslError> {
        let server_first = as_text(challenge, SERVER_FIRST)?;
        let attrs = attributes(server_first, SERVER_FIRST)?;
        let mut iter = attrs.iter();
        let nonce = match iter.next() {
            Some((b'r', v)) => *v,
            Some((b'm', v)) => return Err(SaslError::MandatoryExtension(truncate(v))),
            Some((b'e', v)) => return Err(SaslError::ServerError(truncate(v))),
            _ => return Err(SaslError::malformed(SERVER_FIRST, "does not start with r=")),
        };
        let salt = match iter.next() {
            Some((b's', v)) => decode_b64(v, SERVER_FIRST)?,
            _ => return Err(SaslError::malformed(SERVER_FIRST, "no s= after r=")),
        };
        let iterations = match iter.next() {
            Some((b'i', v)) => parse_iterations(v)?,
            _ => return Err(SaslError::malformed(SERVER_FIRST, "no i= after s=")),
        };
        check_nonce(nonce, SERVER_FIRST)?;
        if nonce.len() <= self.nonce.len() || !nonce.starts_with(&self.nonce) {
            return Err(SaslError::NonceMismatch);
        }
        if salt.is_empty() {
            return Err(SaslError::malformed(SERVER_FIRST, "empty salt"));
        }
        if iterations < self.limits.min {
            return Err(SaslError::IterationsTooLow {
                iterations,
                minimum: self.limits.min,
            });
        }
        if iterations > self.limits.max {
            return Err(SaslError::IterationsTooHigh {
                iterations,
                maximum: self.limits.max,
            });
        }

        let mut cbind_input = self.gs2.encode().into_bytes();
        cbind_input.extend_from_slice(&self.cbind_data);
        let without_proof = format!("c={},r={}", encode_b64(&cbind_input), nonce);
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");

        let keys = derive_keys(&self.password, &salt, iterations, self.hash)?;
        let client_signature = self.hash.hmac(&keys.stored_key, auth_message.as_bytes());
        let proof = xor(&keys.client_key, &client_signature);
        let server_signature = self.hash.hmac(&keys.server_key, auth_message.as_bytes());
        self.state = State::SentFinal { server_signature };
        let message = format!("{without_proof},p={}", encode_b64(&proof));
        Ok(ClientStep::Continue(message.into_bytes()))
    }

    fn verify_server_final(&self, expected: &[u8], data: &[u8]) -> Result<(), SaslError> {
        let text = as_text(data, SERVER_FINAL)?;
        let attrs = attributes(text, SERVER_FINAL)?;
        match attrs.first() {
            Some((b'e', v)) => Err(SaslError::ServerError(truncate(v))),
            Some((b'v', v)) => {
                let got = decode_b64(v, SERVER_FINAL)?;
                if bool::from(got.ct_eq(expected)) {
                    Ok(())
                } else {
                    Err(SaslError::ServerSignatureMismatch)
                }
            }
            _ => Err(SaslError::malformed(
                SERVER_FINAL,
                "does not start with v= or e=",
            )),
        }
    }
}

fn parse_iterations(value: &str) -> Result<u32, SaslError> {
    // Only digits: u32::from_str would also take a leading '+'.
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SaslError::malformed(
            SERVER_FIRST,
            format!("bad iteration count {:?}", truncate(value)),
        ));
    }
    value.parse().map_err(|_| {
        SaslError::malformed(
            SERVER_FIRST,
            format!("iteration count {:?} out of range", truncate(value)),
        )
    })
}
