//! Shared test fixtures: certificates, scripted SMTP servers, an SMTP sink.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod sink;
