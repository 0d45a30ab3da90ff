//! The Postel web API: what applications use to send mail over HTTP and to
//! hear back what happened.
//!
//! - [`types`]: the request and response of every method, with the JSON
//!   names of the reference implementation so existing clients keep working.
//! - [`webhook`]: the payloads posted to webhook endpoints ([`webhook::Outgoing`]
//!   for delivery events, [`webhook::Incoming`] for received mail).
//! - [`error`]: the error codes ([`ErrorCode`]) and the error body ([`ApiError`]).
//! - [`time`]: timestamps on the wire, RFC 3339 with nanoseconds as Go writes them.
//! - [`mime`]: stored message → parsed headers, bodies, structure and parts.
//! - [`compose`]: a Send request → the RFC 5322 message to queue.
//! - [`server`]: the [`server::Backend`] trait and [`server::router`], the
//!   axum router that speaks the HTTP protocol over it.
//! - [`client`]: an async HTTP client with one function per method.
//! - [`openapi`]: the OpenAPI 3.1 document served at `<base>v0/openapi.json`.
//!
//! ```
//! use webapi::webhook::OutgoingEvent;
//! use webapi::{ApiError, ErrorCode};
//!
//! assert_eq!(OutgoingEvent::parse("delivered"), Some(OutgoingEvent::Delivered));
//! let err = ApiError::new(ErrorCode::BadAddress, "parsing address \"x\": no @");
//! assert_eq!(err.code.http_status(), 400);
//! assert_eq!(
//!     serde_json::to_string(&err).unwrap(),
//!     r#"{"Code":"badAddress","Message":"parsing address \"x\": no @"}"#
//! );
//! ```

pub mod client;
pub mod compose;
pub mod error;
mod examples;
mod headers;
pub mod mime;
pub mod openapi;
pub mod server;
#[cfg(test)]
mod testfake;
pub mod time;
pub mod types;
pub mod webhook;

pub use error::{ApiError, ErrorCode};
