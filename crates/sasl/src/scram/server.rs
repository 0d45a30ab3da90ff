//! The server side of SCRAM (RFC 5802 §5, §6, §7).

use subtle::ConstantTimeEq;

use super::message::{
    Gs2Flag, Gs2Header, as_text, attributes, check_nonce, decode_b64, encode_b64, truncate,
    unescape_saslname,
};
use super::stored::DEFAULT_ITERATIONS;
use super::{ScramCredentials, ScramHash, hash::xor};
use crate::{ChannelBindings, CredentialStore, Mechanism, SaslError, ServerStep};

const CLIENT_FIRST: &str = "SCRAM client-first message";
const CLIENT_FINAL: &str = "SCRAM client-final message";

struct Pending {
    username: String,
    authzid: Option<String>,
    /// gs2-header followed by the channel binding data: what `c=` must hold.
    expected_cbind: Vec<u8>,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    credentials: ScramCredentials,
    /// False when the user does not exist and `credentials` are made up.
    known_user: bool,
}

enum State {
    Initial,
    SentFirst(Box<Pending>),
    /// Server-final sent as a challenge; waiting for the client's empty reply.
    SentFinal {
        username: String,
        authzid: Option<String>,
    },
    Done,
}

pub(crate) struct ScramServer {
    mechanism: Mechanism,
    hash: ScramHash,
    /// Whether this session advertised any -PLUS mechanism (for `y` downgrade detection).
    plus_offered: bool,
    bindings: ChannelBindings,
    success_data: bool,
    server_nonce: Option<String>,
    state: State,
}

impl ScramServer {
    pub(crate) fn new(
        mechanism: Mechanism,
        hash: ScramHash,
        plus_offered: bool,
        bindings: ChannelBindings,
        success_data: bool,
    ) -> ScramServer {
        ScramServer {
            mechanism,
            hash,
            plus_offered,
            bindings,
            success_data,
            server_nonce: None,
            state: State::Initial,
        }
    }

    #[cfg(test)]
    pub(crate) fn set_server_nonce(&mut self, nonce: &str) {
        self.server_nonce = Some(nonce.to_string());
    }

    pub(crate) fn step(
        &mut self,
        response: &[u8],
        store: &dyn CredentialStore,
    ) -> Result<ServerStep, SaslError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Initial if response.is_empty() => {
                // No initial response: ask for it with an empty challenge.
                self.state = State::Initial;
                Ok(ServerStep::Challenge(Vec::new()))
            }
            State::Initial => self.server_first(response, store),
            State::SentFirst(pending) => self.server_final(*pending, response),
            State::SentFinal { username, authzid } => {
                if response.is_empty() {
                    Ok(ServerStep::Success {
                        authcid: username,
                        authzid,
                        final_data: None,
                    })
                } else {
                    Err(SaslError::malformed(
                        CLIENT_FINAL,
                        "expected an empty response after the server-final message",
                    ))
                }
            }
            State::Done => Err(SaslError::UnexpectedResponse(self.mechanism)),
        }
    }

    fn server_first(
        &mut self,
        response: &[u8],
        store: &dyn CredentialStore,
    ) -> Result<ServerStep, SaslError> {
        let text = as_text(response, CLIENT_FIRST)?;
        let (gs2, bare) = Gs2Header::parse(text)?;
        let cbind_data = self.check_flag(gs2.flag)?;

        let attrs = attributes(bare, CLIENT_FIRST)?;
        let mut iter = attrs.iter();
        let username = match iter.next() {
            Some((b'n', v)) => unescape_saslname(v, CLIENT_FIRST)?,
            Some((b'm', v)) => return Err(SaslError::MandatoryExtension(truncate(v))),
            _ => return Err(SaslError::malformed(CLIENT_FIRST, "no n= attribute")),
        };
        let client_nonce = match iter.next() {
            Some((b'r', v)) => *v,
            _ => return Err(SaslError::malformed(CLIENT_FIRST, "no r= after n=")),
        };
        check_nonce(client_nonce, CLIENT_FIRST)?;

        let (credentials, known_user) = match store.scram(&username, self.hash) {
            Some(c) => (c, true),
            None => (self.made_up_credentials()?, false),
        };
        let server_nonce = match self.server_nonce.take() {
            Some(n) => n,
            None => crate::random::nonce()?,
        };
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            encode_b64(&credentials.salt),
            credentials.iterations
        );
        let mut expected_cbind = gs2.encode().into_bytes();
        expected_cbind.extend_from_slice(&cbind_data);
        let challenge = server_first.clone().into_bytes();
        self.state = State::SentFirst(Box::new(Pending {
            username,
            authzid: gs2.authzid,
            expected_cbind,
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
            credentials,
            known_user,
        }));
        Ok(ServerStep::Challenge(challenge))
    }

    /// Checks the GS2 flag against the mechanism and session; returns the
    /// channel binding data the client must have used.
    fn check_flag(&self, flag: Gs2Flag) -> Result<Vec<u8>, SaslError> {
        let mismatch = || SaslError::Gs2FlagMismatch {
            mechanism: self.mechanism,
            flag: flag.to_string(),
        };
        match (self.mechanism.is_plus(), flag) {
            (true, Gs2Flag::Bound(kind)) => self
                .bindings
                .get(kind)
                .map(<[u8]>::to_vec)
                .ok_or(SaslError::ChannelBindingUnavailable(kind)),
            (true, _) | (false, Gs2Flag::Bound(_)) => Err(mismatch()),
            (false, Gs2Flag::BindingNotOffered) if self.plus_offered => {
                tracing::debug!(target: "sasl", mechanism = %self.mechanism, "client sent gs2 flag y although -PLUS was offered");
                Err(SaslError::Downgrade)
            }
            (false, _) => Ok(Vec::new()),
        }
    }

    /// Credentials for an unknown user, so the exchange runs its course and
    /// fails at the proof like a wrong password.
    fn made_up_credentials(&self) -> Result<ScramCredentials, SaslError> {
        let mut salt = [0u8; 16];
        crate::random::fill(&mut salt)?;
        let mut key = vec![0u8; self.hash.output_len()];
        crate::random::fill(&mut key)?;
        Ok(ScramCredentials {
            salt: salt.to_vec(),
            iterations: DEFAULT_ITERATIONS,
            stored_key: key.clone(),
            server_key: key,
        })
    }

    fn server_final(&mut self, pending: Pending, response: &[u8]) -> Result<ServerStep, SaslError> {
        let text = as_text(response, CLIENT_FINAL)?;
        let (without_proof, proof_b64) = text
            .rsplit_once(",p=")
            .ok_or_else(|| SaslError::malformed(CLIENT_FINAL, "no p= attribute at the end"))?;
        let attrs = attributes(without_proof, CLIENT_FINAL)?;
        let mut iter = attrs.iter();
        let cbind = match iter.next() {
            Some((b'c', v)) => decode_b64(v, CLIENT_FINAL)?,
            _ => return Err(SaslError::malformed(CLIENT_FINAL, "does not start with c=")),
        };
        let nonce = match iter.next() {
            Some((b'r', v)) => *v,
            _ => return Err(SaslError::malformed(CLIENT_FINAL, "no r= after c=")),
        };
        let proof = decode_b64(proof_b64, CLIENT_FINAL)?;

        if cbind != pending.expected_cbind {
            tracing::debug!(target: "sasl", mechanism = %self.mechanism, "channel binding data mismatch");
            return Err(SaslError::ChannelBindingMismatch);
        }
        if nonce != pending.nonce {
            return Err(SaslError::NonceMismatch);
        }

        let auth_message = format!(
            "{},{},{}",
            pending.client_first_bare, pending.server_first, without_proof
        );
        let creds = &pending.credentials;
        let client_signature = self.hash.hmac(&creds.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(SaslError::AuthenticationFailed(pending.username));
        }
        let client_key = xor(&proof, &client_signature);
        let matches: bool = self.hash.hash(&client_key).ct_eq(&creds.stored_key).into();
        if !(matches && pending.known_user) {
            return Err(SaslError::AuthenticationFailed(pending.username));
        }

        let server_signature = self.hash.hmac(&creds.server_key, auth_message.as_bytes());
        let server_final = format!("v={}", encode_b64(&server_signature)).into_bytes();
        if self.success_data {
            Ok(ServerStep::Success {
                authcid: pending.username,
                authzid: pending.authzid,
                final_data: Some(server_final),
            })
        } else {
            self.state = State::SentFinal {
                username: pending.username,
                authzid: pending.authzid,
            };
            Ok(ServerStep::Challenge(server_final))
        }
    }
}
