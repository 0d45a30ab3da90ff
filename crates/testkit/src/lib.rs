//! Shared test fixtures: certificates, scripted SMTP servers, an SMTP sink.
//!
//! - [`tls`]: a test CA issuing leaf certificates (valid, expired, self-signed)
//!   and ready rustls configurations built with the ring provider.
//! - [`script`]: a scripted fake SMTP server over an in-memory pipe that
//!   records the transcript and fails with the step that did not match.
//! - [`auth`]: the server side of SMTP AUTH with the `sasl` crate, for scripts.
//! - [`sink`]: an in-process SMTP sink.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod auth;
pub mod script;
pub mod sink;
pub mod tls;
