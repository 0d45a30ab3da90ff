//! An async SMTP client: one session over any byte stream, delivering
//! messages to many recipients with a result per recipient.
//!
//! - [`Client::connect`] runs the greeting, EHLO (HELO fallback), STARTTLS
//!   ([`TlsMode`], [`Verification`]) and AUTH ([`AuthConfig`], SCRAM with
//!   channel binding through the `sasl` crate).
//! - [`Client::deliver`] sends one message ([`Envelope`]): pipelined when
//!   offered, split by LIMITS RCPTMAX, recipients deferred with 452/552
//!   retried, BDAT when CHUNKING is offered, DSN parameters when DSN is
//!   offered; returns a [`Delivery`] with a [`RecipientOutcome`] each.
//! - One [`Error`] type says what failed, for which command, and whether it
//!   is permanent.
//! - [`dial`] and [`gather`] find and connect to the servers; [`stream`]
//!   is the byte-stream abstraction in between.
//!
//! Protocol traces are logged at TRACE (target `smtpclient`) with "LC:" and
//! "RS:" prefixes, AUTH payloads as "***" and message data not at all;
//! each reply at DEBUG with command, code, enhanced code and duration.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), smtpclient::Error> {
//! use smtpclient::{Client, ClientConfig, Envelope, RecipientOutcome, TlsMode};
//! use testkit::script::Script;
//!
//! // A fake server; in real use the stream comes from a dialer.
//! let (stream, server) = Script::new()
//!     .send("220 mx.example ESMTP")
//!     .expect("EHLO localhost")
//!     .send("250-mx.example\n250-PIPELINING\n250 ENHANCEDSTATUSCODES")
//!     .expect_pipelined(&[
//!         "MAIL FROM:<sender@example.org>",
//!         "RCPT TO:<one@example.com>",
//!         "RCPT TO:<two@example.com>",
//!         "DATA",
//!     ])
//!     .send("250 2.1.0 ok\n550 5.1.1 no such user\n250 2.1.5 ok\n354 go ahead")
//!     .read_data(b"Subject: test\r\n\r\nHi.\r\n.\r\n")
//!     .send("250 2.0.0 queued")
//!     .expect("QUIT")
//!     .send("221 2.0.0 bye")
//!     .start();
//!
//! let config = ClientConfig { tls: TlsMode::Skip, ..ClientConfig::default() };
//! let mut client = Client::connect(Box::new(stream), config).await?;
//! let envelope = Envelope::new(
//!     Some("sender@example.org".parse().unwrap()),
//!     vec!["one@example.com".parse().unwrap(), "two@example.com".parse().unwrap()],
//! );
//! let delivery = client.deliver(&envelope, b"Subject: test\n\nHi.\n").await?;
//! assert!(delivery.recipients[0].is_permanent_failure());
//! assert!(delivery.recipients[1].is_delivered());
//! client.quit().await?;
//! server.finish().await;
//! # Ok(())
//! # }
//! ```

mod auth;
mod config;
mod data;
mod deliver;
pub mod dial;
mod envelope;
mod error;
pub mod gather;
mod io;
mod metrics;
mod session;
pub mod stream;
mod tls;

pub use config::{AuthConfig, ClientCert, ClientConfig, Timeouts, TlsMode, Verification};
pub use envelope::{Delivery, Envelope, NotAttempted, Recipient, RecipientOutcome, Response};
pub use error::{Error, Requirement};
pub use metrics::{Metrics, NoMetrics, TlsOutcome};
pub use session::Client;
pub use stream::{AsyncStream, BoxStream};
pub use tls::{CertCheck, TlsInfo};
