//! Postel: outbound mail for applications.
//!
//! This umbrella package re-exports the workspace's protocol crates so that
//! the examples in `examples/` and the cross-crate tests in `tests/` can use
//! them through one dependency. Programs that embed Postel usually depend on
//! the individual crates instead:
//!
//! - [`smtp`]: addresses, paths, reply codes, EHLO extensions, xtext; no I/O.
//! - [`dns`]: the `Resolver` trait with DNSSEC-aware answers.
//! - [`sasl`]: SASL client and server mechanisms, SCRAM with channel binding.
//! - [`smtpclient`]: the async SMTP client.
//! - [`dsn`]: delivery status notifications and bounce classification.

pub use dns;
pub use dsn;
pub use sasl;
pub use smtp;
pub use smtpclient;
