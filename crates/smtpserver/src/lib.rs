//! An async SMTP server engine for submission and inbound mail. It speaks
//! the protocol; every decision (who may connect, authenticate, send from
//! and to where, and what happens to a message) goes through a [`Handler`].
//!
//! Map:
//! - [`Server`]: [`Server::serve`] one connection over any byte stream
//!   (tests use `tokio::io::duplex`), [`Server::serve_implicit_tls`], or
//!   [`Server::run`] an accept loop; injectable [`Metrics`], [`Clock`],
//!   [`IdSource`].
//! - [`ServerConfig`]: host name, [`Mode`], [`TlsSettings`], extensions to
//!   [`Announce`], limits, [`Timeouts`].
//! - [`Handler`]: async hooks; [`Session`], [`Envelope`], [`Message`] are
//!   what they see; [`replies`] builds their answers.
//! - [`parse_command`]: one command line into a [`ClientCommand`], never
//!   panicking (the fuzz entry point).
//! - Pure helpers for the queue: [`extra_metadata`], [`tls_required_no`],
//!   [`received_header`].
//!
//! Behaviour: RFC 5321 sequencing (503 5.5.1), PIPELINING with replies
//! flushed only when input runs out, SIZE, 8BITMIME, SMTPUTF8,
//! ENHANCEDSTATUSCODES (every reply has an enhanced code), FUTURERELEASE,
//! LIMITS, DSN, CHUNKING, REQUIRETLS (only on TLS), STARTTLS discarding
//! plaintext pipelined after it, AUTH with every mechanism of the `sasl`
//! crate (SASL steps on blocking threads). The message reaches
//! [`Handler::data`] with the engine's Received header separate in
//! [`Message::received`].
//!
//! Logging: `tracing`, target `smtpserver`; the protocol trace ("C:"/"S:")
//! is at TRACE with AUTH data replaced by `***` and message data never logged.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use smtpserver::{Handler, Message, Mode, Peer, Server, ServerConfig, Session, replies};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! struct Inbox;
//! impl Handler for Inbox {
//!     async fn data(&self, _session: &Session, message: Message) -> smtp::Reply {
//!         assert_eq!(message.data, b"Subject: hi\r\n\r\nHello.\r\n");
//!         replies::ok("stored")
//!     }
//! }
//!
//! let config = ServerConfig::new("mx.example.org".parse().unwrap(), Mode::Inbound);
//! let server = Server::new(config, Arc::new(Inbox));
//! let (mut client, stream) = tokio::io::duplex(64 * 1024);
//! let peer = Peer { remote_ip: "192.0.2.1".parse().unwrap(), local_ip: None };
//! let task = tokio::spawn(async move { server.serve(stream, peer).await });
//! client.write_all(b"EHLO client.example\r\nMAIL FROM:<a@client.example>\r\n\
//!     RCPT TO:<b@example.org>\r\nDATA\r\n").await.unwrap();
//! client.write_all(b"Subject: hi\r\n\r\nHello.\r\n.\r\nQUIT\r\n").await.unwrap();
//! let mut transcript = String::new();
//! client.read_to_string(&mut transcript).await.unwrap();
//! assert!(transcript.ends_with("250 2.0.0 stored\r\n221 2.0.0 bye\r\n"));
//! task.await.unwrap().unwrap();
//! # }
//! ```

mod auth;
mod command;
mod config;
mod error;
mod handler;
mod headers;
mod io;
mod metrics;
mod received;
pub mod replies;
mod server;
mod session;
mod time;
mod tls;
mod types;

pub use command::{ClientCommand, CommandError, parse_command};
pub use config::{Announce, Mode, ServerConfig, Timeouts, TlsSettings};
pub use error::ServeError;
pub use handler::{Handler, SharedCredentials};
pub use headers::{
    EXTRA_PREFIXES, ExtraError, canonical_header_key, extra_metadata, header_fields,
    header_section, tls_required_no,
};
pub use metrics::{Metrics, NoMetrics};
pub use received::{ReceivedInfo, address_literal, received_header, with_protocol};
pub use server::Server;
pub use time::{
    Clock, FixedClock, IdSource, RandomIds, SequentialIds, SystemClock, format_rfc3339,
    format_rfc5322, parse_rfc3339,
};
pub use types::{
    Envelope, FutureRelease, Hello, Identity, Message, Peer, Recipient, Session, TlsInfo,
};
