//! The server side: what to advertise, credential lookup, and running a mechanism.

use std::fmt;

use crate::scram::server::ScramServer;
use crate::scram::{ScramCredentials, ScramHash};
use crate::{CramMd5Credentials, Mechanism, SaslError, SessionInfo, cram_md5};

/// Where the server finds account credentials.
///
/// Lookups are synchronous and [`CredentialStore::check_password`] runs
/// PBKDF2: call [`Server::step`] from a blocking-capable thread (e.g.
/// `tokio::task::spawn_blocking`) if that matters.
pub trait CredentialStore {
    /// The SCRAM stored keys of `username` for `hash`, `None` if unknown.
    fn scram(&self, username: &str, hash: ScramHash) -> Option<ScramCredentials>;

    /// The CRAM-MD5 state of `username`, `None` if unknown or CRAM-MD5 is not
    /// enabled for the account. Default: always `None`.
    fn cram_md5(&self, _username: &str) -> Option<CramMd5Credentials> {
        None
    }

    /// Whether `password` is `username`'s, for PLAIN and LOGIN. The default
    /// checks it against the SCRAM-SHA-256 stored keys (so it answers an
    /// unknown user faster than a wrong password); override to add a cache of
    /// recent successful checks or to equalize that timing.
    fn check_password(&self, username: &str, password: &str) -> bool {
        self.scram(username, ScramHash::Sha256)
            .is_some_and(|c| c.verify_password(password, ScramHash::Sha256))
    }
}

/// The server's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// Mechanisms enabled. Default: all but EXTERNAL (which the server side
    /// does not implement). -PLUS variants are only advertised on sessions
    /// with channel binding data.
    pub mechanisms: Vec<Mechanism>,
    /// Whether PLAIN and LOGIN are offered without TLS. Default: false.
    pub plaintext_without_tls: bool,
    /// Host name in CRAM-MD5 challenges. Default: "localhost".
    pub hostname: String,
    /// Whether the protocol can carry data with the success reply (RFC 4422
    /// "additional data with success"). SMTP (RFC 4954) cannot, so the default
    /// is false: the SCRAM server-final message is then sent as one more
    /// challenge, and the client must answer it with an empty response.
    pub success_data: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            mechanisms: Mechanism::ALL
                .into_iter()
                .filter(|m| *m != Mechanism::External)
                .collect(),
            plaintext_without_tls: false,
            hostname: "localhost".to_string(),
            success_data: false,
        }
    }
}

impl ServerOptions {
    /// The mechanisms to announce on this session, best first: enabled ones,
    /// minus -PLUS without channel binding data, minus PLAIN/LOGIN without
    /// TLS (unless allowed).
    ///
    /// ```
    /// use sasl::{ChannelBindings, Mechanism, ServerOptions, SessionInfo};
    /// let session = SessionInfo::tls(ChannelBindings { tls_exporter: Some(vec![1; 32]), tls_server_end_point: None });
    /// let names: Vec<_> = ServerOptions::default().advertised(&session).iter().map(|m| m.name()).collect();
    /// assert_eq!(names, ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]);
    /// ```
    pub fn advertised(&self, session: &SessionInfo) -> Vec<Mechanism> {
        let mut list: Vec<Mechanism> = self
            .mechanisms
            .iter()
            .copied()
            .filter(|m| *m != Mechanism::External)
            .filter(|m| !m.is_plus() || session.channel_bindings.any())
            .filter(|m| !m.sends_plaintext_password() || session.tls || self.plaintext_without_tls)
            .collect();
        list.sort_by_key(|m| std::cmp::Reverse(m.rank()));
        list.dedup();
        list
    }
}

/// What the server does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerStep {
    /// Send this challenge (SMTP: `334` + base64) and wait for a response.
    Challenge(Vec<u8>),
    /// Authenticated. `final_data` is only set with
    /// [`ServerOptions::success_data`] (SCRAM server-final).
    Success {
        /// The authentication identity (username) that was verified.
        authcid: String,
        /// The authorization identity the client asked to act as, if any;
        /// the caller decides whether `authcid` may act as it.
        authzid: Option<String>,
        /// Data to send with the success reply.
        final_data: Option<Vec<u8>>,
    },
    /// Authentication failed; see [`SaslError::is_authentication_failure`]
    /// to tell wrong credentials from protocol errors.
    Failure(SaslError),
}

enum Inner {
    Plain,
    LoginUser,
    LoginPassword { username: String },
    CramMd5 { challenge: Vec<u8> },
    Scram(Box<ScramServer>),
    Done,
}

/// A server-side exchange of one mechanism.
///
/// ```
/// use sasl::{CredentialStore, Mechanism, ScramCredentials, ScramHash, Server, ServerOptions, ServerStep, SessionInfo};
/// struct One(ScramCredentials);
/// impl CredentialStore for One {
///     fn scram(&self, user: &str, _: ScramHash) -> Option<ScramCredentials> {
///         (user == "tim").then(|| self.0.clone())
///     }
/// }
/// let store = One(ScramCredentials::derive("tanstaaf", b"salt", 4096, ScramHash::Sha256).unwrap());
/// let session = SessionInfo::tls(Default::default());
/// let mut server = Server::new(Mechanism::Plain, &ServerOptions::default(), &session).unwrap();
/// let step = server.start(Some(b"\0tim\0tanstaaf"), &store);
/// assert_eq!(step, ServerStep::Success { authcid: "tim".into(), authzid: None, final_data: None });
/// ```
pub struct Server {
    mechanism: Mechanism,
    hostname: String,
    inner: Inner,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("mechanism", &self.mechanism)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts `mechanism`, which must be among
    /// [`ServerOptions::advertised`] for this session.
    pub fn new(
        mechanism: Mechanism,
        options: &ServerOptions,
        session: &SessionInfo,
    ) -> Result<Server, SaslError> {
        let advertised = options.advertised(session);
        if !advertised.contains(&mechanism) {
            return Err(if mechanism.sends_plaintext_password() && !session.tls {
                SaslError::PlaintextWithoutTls(mechanism)
            } else {
                SaslError::MechanismNotAvailable(mechanism)
            });
        }
        let inner = match mechanism {
            Mechanism::Plain => Inner::Plain,
            Mechanism::Login => Inner::LoginUser,
            Mechanism::CramMd5 => Inner::CramMd5 {
                challenge: Vec::new(),
            },
            Mechanism::External => return Err(SaslError::MechanismNotAvailable(mechanism)),
            scram => {
                let hash = scram
                    .scram_hash()
                    .ok_or(SaslError::MechanismNotAvailable(scram))?;
                Inner::Scram(Box::new(ScramServer::new(
                    scram,
                    hash,
                    advertised.iter().any(|m| m.is_plus()),
                    session.channel_bindings.clone(),
                    options.success_data,
                )))
            }
        };
        Ok(Server {
            mechanism,
            hostname: options.hostname.clone(),
            inner,
        })
    }

    /// The mechanism in use.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Fixes the SCRAM server nonce part, for test vectors.
    #[cfg(test)]
    pub(crate) fn set_scram_nonce(&mut self, nonce: &str) {
        if let Inner::Scram(s) = &mut self.inner {
            s.set_server_nonce(nonce);
        }
    }

    /// Begins the exchange with the client's initial response from the
    /// `AUTH` line (`Some(b"")` for `=`), or `None` if it sent none.
    pub fn start(
        &mut self,
        initial_response: Option<&[u8]>,
        store: &dyn CredentialStore,
    ) -> ServerStep {
        match (initial_response, &self.inner) {
            (Some(ir), _) if !matches!(self.inner, Inner::CramMd5 { .. }) => self.step(ir, store),
            (Some(_), _) => self.fail(SaslError::malformed(
                "CRAM-MD5 exchange",
                "CRAM-MD5 takes no initial response",
            )),
            (None, Inner::Plain) | (None, Inner::Scram(_)) => ServerStep::Challenge(Vec::new()),
            (None, Inner::LoginUser) => ServerStep::Challenge(b"Username:".to_vec()),
            (None, Inner::CramMd5 { .. }) => match self.cram_challenge() {
                Ok(challenge) => {
                    self.inner = Inner::CramMd5 {
                        challenge: challenge.clone(),
                    };
                    ServerStep::Challenge(challenge)
                }
                Err(e) => self.fail(e),
            },
            (None, _) => self.fail(SaslError::UnexpectedResponse(self.mechanism)),
        }
    }

    /// Handles the client's (base64-decoded) response to the last challenge.
    pub fn step(&mut self, response: &[u8], store: &dyn CredentialStore) -> ServerStep {
        let inner = std::mem::replace(&mut self.inner, Inner::Done);
        let result = match inner {
            Inner::Plain => self.plain(response, store),
            Inner::LoginUser => match text(response, "LOGIN username") {
                Ok(username) => {
                    self.inner = Inner::LoginPassword { username };
                    Ok(ServerStep::Challenge(b"Password:".to_vec()))
                }
                Err(e) => Err(e),
            },
            Inner::LoginPassword { username } => text(response, "LOGIN password")
                .and_then(|password| check(store, username, &password)),
            Inner::CramMd5 { challenge } if !challenge.is_empty() => {
                cram_md5::parse_response(response).and_then(|(username, digest)| {
                    match store.cram_md5(&username) {
                        Some(c) if c.verify(&challenge, &digest) => Ok(success(username)),
                        _ => Err(SaslError::AuthenticationFailed(username)),
                    }
                })
            }
            Inner::Scram(mut scram) => {
                let result = scram.step(response, store);
                if matches!(result, Ok(ServerStep::Challenge(_))) {
                    self.inner = Inner::Scram(scram);
                }
                result
            }
            Inner::CramMd5 { .. } | Inner::Done => {
                Err(SaslError::UnexpectedResponse(self.mechanism))
            }
        };
        match result {
            Ok(step) => step,
            Err(e) => self.fail(e),
        }
    }

    fn plain(&self, response: &[u8], store: &dyn CredentialStore) -> Result<ServerStep, SaslError> {
        const WHAT: &str = "PLAIN message";
        if response.len() > 3 * 256 {
            return Err(SaslError::TooLong {
                what: WHAT,
                len: response.len(),
                limit: 3 * 256,
            });
        }
        let text =
            std::str::from_utf8(response).map_err(|_| SaslError::malformed(WHAT, "not UTF-8"))?;
        let mut parts = text.split('\0');
        let (Some(authzid), Some(authcid), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SaslError::malformed(
                WHAT,
                "expected authzid NUL authcid NUL password",
            ));
        };
        if authcid.is_empty() {
            return Err(SaslError::malformed(WHAT, "empty username"));
        }
        match check(store, authcid.to_string(), password)? {
            ServerStep::Success {
                authcid,
                final_data,
                ..
            } => Ok(ServerStep::Success {
                authcid,
                authzid: (!authzid.is_empty()).then(|| authzid.to_string()),
                final_data,
            }),
            other => Ok(other),
        }
    }

    /// `<random.random@hostname>`, RFC 2195's msg-id shaped challenge.
    fn cram_challenge(&self) -> Result<Vec<u8>, SaslError> {
        let a = crate::random::number()?;
        let b = crate::random::number()?;
        Ok(format!("<{a}.{b}@{}>", self.hostname).into_bytes())
    }

    fn fail(&mut self, error: SaslError) -> ServerStep {
        tracing::debug!(target: "sasl", mechanism = %self.mechanism, error = %error, "SASL authentication failed");
        self.inner = Inner::Done;
        ServerStep::Failure(error)
    }
}

fn text(data: &[u8], what: &'static str) -> Result<String, SaslError> {
    if data.len() > 256 {
        return Err(SaslError::TooLong {
            what,
            len: data.len(),
            limit: 256,
        });
    }
    String::from_utf8(data.to_vec()).map_err(|_| SaslError::malformed(what, "not UTF-8"))
}

fn check(
    store: &dyn CredentialStore,
    username: String,
    password: &str,
) -> Result<ServerStep, SaslError> {
    if store.check_password(&username, password) {
        Ok(success(username))
    } else {
        Err(SaslError::AuthenticationFailed(username))
    }
}

fn success(authcid: String) -> ServerStep {
    ServerStep::Success {
        authcid,
        authzid: None,
        final_data: None,
    }
}
