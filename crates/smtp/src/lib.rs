//! SMTP types and parsers shared by the Postel crates: addresses and paths,
//! server replies, enhanced status codes, EHLO extensions, MAIL/RCPT
//! parameters and xtext. Pure data and parsing, no I/O.
//!
//! Parsers take untrusted input: they never panic and bound what they buffer.
//!
//! ```
//! use smtp::{Address, parse_reply};
//!
//! let (reply, used) = parse_reply(b"550 5.1.1 no such user\r\n").unwrap().unwrap();
//! assert_eq!(used, 24);
//! assert!(reply.is_permanent());
//! assert_eq!(reply.enhanced_code().map(|c| c.to_string()).as_deref(), Some("5.1.1"));
//!
//! let rcpt = Address::parse("user@Bücher.example").unwrap();
//! assert_eq!(rcpt.to_ascii_wire().as_deref(), Some("user@xn--bcher-kva.example"));
//! ```

mod address;
mod command;
mod reply;
mod status;

pub use address::{
    Address, AddressError, Domain, Host, Localpart, MAX_DOMAIN_LEN, MAX_LOCALPART_LEN,
    MAX_PATH_LEN, parse_path, parse_reverse_path,
};
pub use command::Command;
pub use reply::{MAX_LINE_LEN, MAX_LINES, Reply, ReplyError, parse_reply};
pub use status::{Class, EnhancedCode, EnhancedCodeError};
