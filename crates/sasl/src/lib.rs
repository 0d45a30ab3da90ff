//! SASL for SMTP, client and server side, without I/O.
//!
//! Mechanisms: PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195), SCRAM-SHA-1 and
//! SCRAM-SHA-256 (RFC 5802, RFC 7677) with their channel-binding -PLUS
//! variants, and EXTERNAL (client side). Channel binding types are
//! `tls-exporter` (RFC 9266) and `tls-server-end-point` (RFC 5929); this crate
//! does not link a TLS library, the caller passes the binding data of its
//! session in [`ChannelBindings`].
//!
//! Map:
//! - [`Mechanism`]: names, ranking; [`choose`] picks one for a client.
//! - [`Client`]: the client state machine; [`ClientOptions`], [`Credentials`].
//! - [`Server`]: the server state machine over a [`CredentialStore`];
//!   [`ServerOptions::advertised`] says what to announce.
//! - [`ScramCredentials`], [`CramMd5Credentials`]: what a server stores
//!   instead of passwords.
//! - [`SessionInfo`], [`ChannelBindings`], [`tls_server_end_point`],
//!   [`TLS_EXPORTER_LABEL`]: what the TLS session contributes.
//!
//! A full SCRAM-SHA-256-PLUS exchange, both sides in one process:
//!
//! ```
//! use sasl::*;
//!
//! struct Accounts(ScramCredentials);
//! impl CredentialStore for Accounts {
//!     fn scram(&self, user: &str, _hash: ScramHash) -> Option<ScramCredentials> {
//!         (user == "alice").then(|| self.0.clone())
//!     }
//! }
//! let store = Accounts(ScramCredentials::generate("secret", 4096, ScramHash::Sha256).unwrap());
//!
//! // Both ends of one TLS 1.3 connection export the same keying material.
//! let session = SessionInfo::tls(ChannelBindings { tls_exporter: Some(vec![42; 32]), tls_server_end_point: None });
//! let offered: Vec<String> = ServerOptions::default().advertised(&session)
//!     .iter().map(|m| m.name().to_string()).collect();
//!
//! let mut client = Client::start(&offered, Credentials::new("alice", "secret"),
//!     &ClientOptions::default(), &session).unwrap().unwrap();
//! assert_eq!(client.mechanism(), Mechanism::ScramSha256Plus);
//! let mut server = Server::new(client.mechanism(), &ServerOptions::default(), &session).unwrap();
//!
//! let mut step = server.start(client.initial_response().as_deref(), &store);
//! loop {
//!     match step {
//!         ServerStep::Challenge(c) => {
//!             let answer = client.step(&c).unwrap();
//!             step = server.step(answer.response(), &store);
//!         }
//!         ServerStep::Success { authcid, .. } => {
//!             client.finish(None).unwrap();
//!             assert_eq!(authcid, "alice");
//!             break;
//!         }
//!         ServerStep::Failure(e) => panic!("{e}"),
//!     }
//! }
//! ```

mod binding;
mod client;
mod cram_md5;
mod end_point;
mod error;
mod mechanism;
mod random;
mod scram;
mod server;

pub use binding::{
    ChannelBindingType, ChannelBindings, SessionInfo, TLS_EXPORTER_LABEL, TLS_EXPORTER_LENGTH,
};
pub use client::{
    Client, ClientOptions, ClientStep, Credentials, MAX_ITERATIONS, MIN_ITERATIONS, choose,
};
pub use cram_md5::CramMd5Credentials;
pub use end_point::tls_server_end_point;
pub use error::SaslError;
pub use mechanism::Mechanism;
pub use scram::{DEFAULT_ITERATIONS, DEFAULT_SALT_LEN, Gs2Flag, ScramCredentials, ScramHash};
pub use server::{CredentialStore, Server, ServerOptions, ServerStep};

#[cfg(test)]
mod tests;
