//! The client side: choosing a mechanism and running it.

use std::fmt;

use crate::scram::client::{IterationLimits, ScramClient};
use crate::scram::{Gs2Flag, ScramHash};
use crate::{ChannelBindingType, Mechanism, SaslError, SessionInfo, cram_md5};

/// Default lowest SCRAM iteration count the client accepts (RFC 7677 §4
/// and RFC 5802 §5.1 both ask for at least 4096). A server that asks for
/// fewer makes the stored keys cheap to brute-force if stolen, or is a
/// man in the middle trying to make us do that work for it.
pub const MIN_ITERATIONS: u32 = 4096;

/// Default highest SCRAM iteration count the client accepts, so a hostile
/// server cannot make us spend minutes in PBKDF2.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// What the client authenticates with. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The authentication identity (username).
    pub username: String,
    /// The password (unused by EXTERNAL).
    pub password: String,
    /// An authorization identity to act as, if different from the username.
    pub authzid: Option<String>,
}

impl Credentials {
    /// Username and password, no authorization identity.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
            authzid: None,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("authzid", &self.authzid)
            .finish()
    }
}

/// The client's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// Mechanisms the client may use. Default: all but EXTERNAL.
    pub allowed: Vec<Mechanism>,
    /// Whether PLAIN and LOGIN may be used without TLS. Default: false.
    pub plaintext_without_tls: bool,
    /// The channel binding type for -PLUS mechanisms. SMTP cannot negotiate
    /// it, so it is configured. Default: `tls-exporter`.
    pub channel_binding: ChannelBindingType,
    /// Lowest SCRAM iteration count accepted from the server. Default [`MIN_ITERATIONS`].
    pub min_iterations: u32,
    /// Highest SCRAM iteration count accepted from the server. Default [`MAX_ITERATIONS`].
    pub max_iterations: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            allowed: Mechanism::ALL
                .into_iter()
                .filter(|m| *m != Mechanism::External)
                .collect(),
            plaintext_without_tls: false,
            channel_binding: ChannelBindingType::default(),
            min_iterations: MIN_ITERATIONS,
            max_iterations: MAX_ITERATIONS,
        }
    }
}

impl ClientOptions {
    /// Why `mechanism` may not be used on `session`, if it may not.
    fn refuse(&self, mechanism: Mechanism, session: &SessionInfo) -> Option<SaslError> {
        if !self.allowed.contains(&mechanism) {
            return Some(SaslError::MechanismNotAvailable(mechanism));
        }
        if mechanism.sends_plaintext_password() && !session.tls && !self.plaintext_without_tls {
            return Some(SaslError::PlaintextWithoutTls(mechanism));
        }
        if mechanism.is_plus() && session.channel_bindings.get(self.channel_binding).is_none() {
            return Some(SaslError::ChannelBindingUnavailable(self.channel_binding));
        }
        None
    }
}

/// Picks the best mechanism among those the server offered (names as in
/// its EHLO `AUTH` line; unknown names are ignored) that the options allow
/// on this session, by [`Mechanism::rank`]. -PLUS variants count only when
/// the configured channel binding is available on the session; PLAIN and
/// LOGIN only with TLS unless allowed without.
///
/// ```
/// use sasl::{ChannelBindings, ClientOptions, Mechanism, SessionInfo, choose};
/// let offered: Vec<String> = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"].map(String::from).to_vec();
/// let tls13 = SessionInfo::tls(ChannelBindings { tls_exporter: Some(vec![7; 32]), tls_server_end_point: None });
/// assert_eq!(choose(&offered, &ClientOptions::default(), &tls13), Some(Mechanism::ScramSha256Plus));
/// let tls12 = SessionInfo::tls(ChannelBindings::default());
/// assert_eq!(choose(&offered, &ClientOptions::default(), &tls12), Some(Mechanism::ScramSha256));
/// let plain_only: Vec<String> = vec!["PLAIN".into()];
/// assert_eq!(choose(&plain_only, &ClientOptions::default(), &SessionInfo::plaintext()), None);
/// ```
pub fn choose(
    offered: &[String],
    options: &ClientOptions,
    session: &SessionInfo,
) -> Option<Mechanism> {
    let chosen = offered
        .iter()
        .filter_map(|name| name.parse::<Mechanism>().ok())
        .filter(|m| options.refuse(*m, session).is_none())
        .max_by_key(|m| m.rank());
    tracing::debug!(target: "sasl", ?offered, chosen = chosen.map(Mechanism::name), "chose SASL mechanism");
    chosen
}

/// What to send after a challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientStep {
    /// Send this response; the mechanism expects more challenges.
    Continue(Vec<u8>),
    /// Send this response (often empty); it was the mechanism's last one,
    /// so the next reply must be success or failure. A further challenge is
    /// an error ([`SaslError::UnexpectedChallenge`]).
    Final(Vec<u8>),
}

impl ClientStep {
    /// The bytes to send (before base64 encoding for SMTP).
    pub fn response(&self) -> &[u8] {
        match self {
            ClientStep::Continue(r) | ClientStep::Final(r) => r,
        }
    }

    /// Whether this was the mechanism's last message.
    pub fn is_final(&self) -> bool {
        matches!(self, ClientStep::Final(_))
    }
}

enum Simple {
    /// Nothing sent yet.
    Start,
    /// LOGIN: username sent, password prompt expected.
    LoginUserSent,
    /// Last message sent.
    Sent,
}

enum Inner {
    /// PLAIN, LOGIN, CRAM-MD5 and EXTERNAL.
    Simple(Simple),
    Scram(Box<ScramClient>),
}

/// A client-side exchange of one mechanism.
///
/// The caller sends [`Client::initial_response`] with the `AUTH` command (as
/// `=` if empty; SMTP puts `None` as no argument), feeds each decoded 334
/// challenge to [`Client::step`], and on success (235) calls
/// [`Client::finish`], which fails if the mechanism had not completed, e.g.
/// SCRAM without a verified server signature.
///
/// ```
/// use sasl::{Client, ClientOptions, ClientStep, Credentials, Mechanism, SessionInfo};
/// let session = SessionInfo::tls(Default::default());
/// let offered = vec!["PLAIN".to_string()];
/// let mut client = Client::new(Mechanism::Plain, Credentials::new("tim", "tanstaaf"),
///     &ClientOptions::default(), &session, &offered).unwrap();
/// assert_eq!(client.initial_response().unwrap(), b"\0tim\0tanstaaf");
/// client.finish(None).unwrap();
/// ```
pub struct Client {
    mechanism: Mechanism,
    credentials: Credentials,
    inner: Inner,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("mechanism", &self.mechanism)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Chooses a mechanism with [`choose`] and starts it; `None` when no
    /// offered mechanism is acceptable.
    pub fn start(
        offered: &[String],
        credentials: Credentials,
        options: &ClientOptions,
        session: &SessionInfo,
    ) -> Result<Option<Client>, SaslError> {
        match choose(offered, options, session) {
            Some(m) => Client::new(m, credentials, options, session, offered).map(Some),
            None => Ok(None),
        }
    }

    /// Starts `mechanism`. `offered` is the server's mechanism list; it
    /// decides the SCRAM GS2 flag: `p=<type>` for a -PLUS mechanism, `y` for
    /// a plain SCRAM mechanism when the configured binding is available but
    /// the server offered no -PLUS mechanism, `n` otherwise (no binding on
    /// this session, or the server can bind but we chose not to).
    ///
    /// Fails if the options forbid the mechanism on this session (not
    /// allowed, PLAIN/LOGIN without TLS, -PLUS without the binding data) or
    /// if a SCRAM username/password fails SASLprep.
    pub fn new(
        mechanism: Mechanism,
        credentials: Credentials,
        options: &ClientOptions,
        session: &SessionInfo,
        offered: &[String],
    ) -> Result<Client, SaslError> {
        Client::with_nonce(mechanism, credentials, options, session, offered, None)
    }

    pub(crate) fn with_nonce(
        mechanism: Mechanism,
        credentials: Credentials,
        options: &ClientOptions,
        session: &SessionInfo,
        offered: &[String],
        nonce: Option<String>,
    ) -> Result<Client, SaslError> {
        if let Some(err) = options.refuse(mechanism, session) {
            return Err(err);
        }
        let inner = match mechanism.scram_hash() {
            Some(hash) => Inner::Scram(Box::new(scram_client(
                mechanism,
                hash,
                &credentials,
                options,
                session,
                offered,
                nonce,
            )?)),
            None => Inner::Simple(Simple::Start),
        };
        Ok(Client {
            mechanism,
            credentials,
            inner,
        })
    }

    /// The mechanism in use.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The SCRAM GS2 flag this exchange uses; `None` for other mechanisms.
    pub fn gs2_flag(&self) -> Option<Gs2Flag> {
        match &self.inner {
            Inner::Scram(s) => Some(s.flag()),
            Inner::Simple(_) => None,
        }
    }

    /// The message to send with the `AUTH` command, if the mechanism has
    /// one (PLAIN, EXTERNAL, SCRAM; not LOGIN, CRAM-MD5). Call it at most once
    /// and before [`Client::step`]; later calls return `None`.
    pub fn initial_response(&mut self) -> Option<Vec<u8>> {
        match &mut self.inner {
            Inner::Scram(s) => s.initial_response(),
            Inner::Simple(state @ Simple::Start) => match self.mechanism {
                Mechanism::Plain => {
                    *state = Simple::Sent;
                    Some(plain_message(&self.credentials))
                }
                Mechanism::External => {
                    *state = Simple::Sent;
                    Some(external_message(&self.credentials))
                }
                _ => None,
            },
            Inner::Simple(_) => None,
        }
    }

    /// Answers a server challenge (already base64-decoded).
    pub fn step(&mut self, challenge: &[u8]) -> Result<ClientStep, SaslError> {
        let mechanism = self.mechanism;
        let creds = &self.credentials;
        match &mut self.inner {
            Inner::Scram(s) => s.step(challenge),
            Inner::Simple(state) => match (mechanism, &*state) {
                // The server asked for the initial response with an empty challenge.
                (Mechanism::Plain, Simple::Start) => {
                    *state = Simple::Sent;
                    Ok(ClientStep::Final(plain_message(creds)))
                }
                (Mechanism::External, Simple::Start) => {
                    *state = Simple::Sent;
                    Ok(ClientStep::Final(external_message(creds)))
                }
                // LOGIN prompts differ between servers ("Username:", "User Name\0"),
                // so only their order counts.
                (Mechanism::Login, Simple::Start) => {
                    *state = Simple::LoginUserSent;
                    Ok(ClientStep::Continue(creds.username.clone().into_bytes()))
                }
                (Mechanism::Login, Simple::LoginUserSent) => {
                    *state = Simple::Sent;
                    Ok(ClientStep::Final(creds.password.clone().into_bytes()))
                }
                (Mechanism::CramMd5, Simple::Start) => {
                    *state = Simple::Sent;
                    Ok(ClientStep::Final(cram_md5::client_response(
                        &creds.username,
                        &creds.password,
                        challenge,
                    )))
                }
                _ => Err(SaslError::UnexpectedChallenge(mechanism)),
            },
        }
    }

    /// To call when the server reports success. `additional_data` is data
    /// sent with the success (protocols that allow it; never in SMTP). Fails
    /// with [`SaslError::PrematureSuccess`] if the mechanism had not sent its
    /// last message, or (SCRAM) the server signature was not verified.
    pub fn finish(&mut self, additional_data: Option<&[u8]>) -> Result<(), SaslError> {
        match &mut self.inner {
            Inner::Scram(s) => s.finish(additional_data),
            Inner::Simple(Simple::Sent) => Ok(()),
            Inner::Simple(_) => Err(SaslError::PrematureSuccess(self.mechanism)),
        }
    }
}

fn scram_client(
    mechanism: Mechanism,
    hash: ScramHash,
    credentials: &Credentials,
    options: &ClientOptions,
    session: &SessionInfo,
    offered: &[String],
    nonce: Option<String>,
) -> Result<ScramClient, SaslError> {
    let binding = session.channel_bindings.get(options.channel_binding);
    let server_offers_plus = offered
        .iter()
        .filter_map(|n| n.parse::<Mechanism>().ok())
        .any(Mechanism::is_plus);
    let (flag, cbind_data) = match binding {
        Some(data) if mechanism.is_plus() => {
            (Gs2Flag::Bound(options.channel_binding), data.to_vec())
        }
        Some(_) if !server_offers_plus => (Gs2Flag::BindingNotOffered, Vec::new()),
        _ => (Gs2Flag::NoBinding, Vec::new()),
    };
    let nonce = match nonce {
        Some(n) => n,
        None => crate::random::nonce()?,
    };
    ScramClient::new(
        mechanism,
        hash,
        &credentials.username,
        &credentials.password,
        credentials.authzid.as_deref(),
        flag,
        cbind_data,
        nonce,
        IterationLimits {
            min: options.min_iterations,
            max: options.max_iterations,
        },
    )
}

/// RFC 4616: `[authzid] NUL authcid NUL passwd`.
fn plain_message(c: &Credentials) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(c.authzid.as_deref().unwrap_or("").as_bytes());
    out.push(0);
    out.extend_from_slice(c.username.as_bytes());
    out.push(0);
    out.extend_from_slice(c.password.as_bytes());
    out
}

/// RFC 4422 appendix A: the authzid, empty to use the one from TLS.
fn external_message(c: &Credentials) -> Vec<u8> {
    c.authzid.as_deref().unwrap_or("").as_bytes().to_vec()
}
