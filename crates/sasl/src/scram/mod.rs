//! SCRAM (RFC 5802, RFC 7677): primitives, message syntax, stored
//! credentials, and the two state machines.

pub(crate) mod client;
mod hash;
pub(crate) mod message;
pub(crate) mod server;
mod stored;

pub use hash::ScramHash;
pub use message::Gs2Flag;
pub use stored::{DEFAULT_ITERATIONS, DEFAULT_SALT_LEN, ScramCredentials};
