//! The server side of SMTP AUTH (RFC 4954) for scripted servers, backed by
//! the `sasl` crate's server state machines.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sasl::{
    ChannelBindings, CramMd5Credentials, CredentialStore, Mechanism, ScramCredentials, ScramHash,
    Server, ServerOptions, ServerStep, SessionInfo,
};

use crate::script::ServerIo;

/// Accounts with passwords, as a [`CredentialStore`] for every mechanism.
/// SCRAM keys are derived once at construction (4096 iterations).
pub struct Accounts {
    scram: HashMap<(String, bool), ScramCredentials>,
    cram: HashMap<String, CramMd5Credentials>,
}

impl Accounts {
    /// Accounts from (username, password) pairs.
    pub fn new(users: &[(&str, &str)]) -> Accounts {
        let mut scram = HashMap::new();
        let mut cram = HashMap::new();
        for (user, password) in users {
            for (hash, sha256) in [(ScramHash::Sha1, false), (ScramHash::Sha256, true)] {
                let creds = ScramCredentials::derive(password, b"testkit-salt", 4096, hash)
                    .expect("derive SCRAM credentials");
                scram.insert((user.to_string(), sha256), creds);
            }
            cram.insert(user.to_string(), CramMd5Credentials::derive(password));
        }
        Accounts { scram, cram }
    }
}

impl CredentialStore for Accounts {
    fn scram(&self, username: &str, hash: ScramHash) -> Option<ScramCredentials> {
        let sha256 = matches!(hash, ScramHash::Sha256);
        self.scram.get(&(username.to_string(), sha256)).cloned()
    }

    fn cram_md5(&self, username: &str) -> Option<CramMd5Credentials> {
        self.cram.get(username).cloned()
    }
}

/// How the scripted server runs AUTH.
#[derive(Clone)]
pub struct AuthServer {
    /// The accounts.
    pub store: Arc<dyn CredentialStore + Send + Sync>,
    /// Enabled mechanisms and policy.
    pub options: ServerOptions,
    /// The server's certificate (DER) for tls-server-end-point binding.
    pub server_cert: Option<Vec<u8>>,
    /// Whether the server has channel binding data (it should then
    /// announce the -PLUS mechanisms; without them a binding-capable
    /// server would take the client's "y" flag for a downgrade).
    pub channel_binding: bool,
}

impl AuthServer {
    /// A server with these accounts, default options, channel binding on.
    pub fn new(users: &[(&str, &str)]) -> AuthServer {
        AuthServer {
            store: Arc::new(Accounts::new(users)),
            options: ServerOptions::default(),
            server_cert: None,
            channel_binding: true,
        }
    }
}

/// What an AUTH exchange ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRecord {
    /// The mechanism the client chose.
    pub mechanism: Mechanism,
    /// The authenticated user, `None` when authentication failed.
    pub authcid: Option<String>,
}

/// Reads "AUTH <mechanism> [initial-response]", runs the exchange with 334
/// challenges, and answers 235 or 535 (501 when the client sends "*").
pub async fn serve_auth(io: &mut ServerIo, server: &AuthServer) -> Result<AuthRecord, String> {
    let line = io.read_line().await?;
    let mut words = line.split(' ');
    if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("AUTH")) {
        return Err(format!("expected AUTH, got {line:?}"));
    }
    let mechanism: Mechanism = words
        .next()
        .unwrap_or("")
        .parse()
        .map_err(|err| format!("AUTH with {line:?}: {err}"))?;
    let initial = match words.next() {
        None => None,
        Some("=") => Some(Vec::new()),
        Some(b64) => Some(
            BASE64
                .decode(b64)
                .map_err(|err| format!("initial response: {err}"))?,
        ),
    };
    let tls = io.is_tls();
    let channel_bindings = if server.channel_binding && tls {
        ChannelBindings {
            tls_exporter: io.tls_exporter().map(<[u8]>::to_vec),
            tls_server_end_point: server
                .server_cert
                .as_deref()
                .and_then(|cert| sasl::tls_server_end_point(cert).ok()),
        }
    } else {
        ChannelBindings::default()
    };
    let session = SessionInfo {
        tls,
        channel_bindings,
    };
    let mut exchange = Server::new(mechanism, &server.options, &session)
        .map_err(|err| format!("server cannot run {mechanism}: {err}"))?;
    let store = server.store.as_ref();
    let mut step = exchange.start(initial.as_deref(), store);
    loop {
        match step {
            ServerStep::Challenge(challenge) => {
                io.reply(&format!("334 {}", BASE64.encode(challenge)))
                    .await?;
                let answer = io.read_line().await?;
                if answer == "*" {
                    io.reply("501 5.7.0 authentication aborted").await?;
                    return Ok(AuthRecord {
                        mechanism,
                        authcid: None,
                    });
                }
                let answer = BASE64
                    .decode(answer)
                    .map_err(|err| format!("response: {err}"))?;
                step = exchange.step(&answer, store);
            }
            ServerStep::Success { authcid, .. } => {
                io.reply("235 2.7.0 authentication successful").await?;
                return Ok(AuthRecord {
                    mechanism,
                    authcid: Some(authcid),
                });
            }
            ServerStep::Failure(_) => {
                io.reply("535 5.7.8 authentication credentials invalid")
                    .await?;
                return Ok(AuthRecord {
                    mechanism,
                    authcid: None,
                });
            }
        }
    }
}
