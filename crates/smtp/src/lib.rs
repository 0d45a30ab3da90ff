//! SMTP types and parsers shared by the Postel crates: addresses and paths,
//! server replies, enhanced status codes, EHLO extensions, MAIL/RCPT
//! parameters and xtext. Pure data and parsing, no I/O.
//!
//! Parsers take untrusted input: they never panic and bound what they buffer.
//!
//! ```
//! use smtp::{Address, Extensions, MailParams, Body, parse_reply};
//!
//! let (ehlo, _) = parse_reply(b"250-mx.example\r\n250-8BITMIME\r\n250 SIZE 1000000\r\n")
//!     .unwrap()
//!     .unwrap();
//! let ext = Extensions::parse(&ehlo.lines);
//! assert!(ext.eight_bit_mime);
//!
//! let from = Address::parse("user@Bücher.example").unwrap();
//! let params = MailParams { size: Some(1200), body: Some(Body::EightBitMime), ..Default::default() };
//! let command = format!("MAIL FROM:<{}>{}", from.to_ascii_wire().unwrap(), params.to_wire());
//! assert_eq!(command, "MAIL FROM:<user@xn--bcher-kva.example> SIZE=1200 BODY=8BITMIME");
//!
//! let (reply, used) = parse_reply(b"550 5.1.1 no such user\r\n").unwrap().unwrap();
//! assert_eq!(used, 24);
//! assert!(reply.is_permanent());
//! assert_eq!(reply.enhanced_code().map(|c| c.to_string()).as_deref(), Some("5.1.1"));
//! ```

mod address;
mod command;
mod ehlo;
mod params;
mod reply;
mod status;
pub mod xtext;

pub use address::{
    Address, AddressError, Domain, Host, Localpart, MAX_DOMAIN_LEN, MAX_LOCALPART_LEN,
    MAX_PATH_LEN, parse_path, parse_reverse_path,
};
pub use command::Command;
pub use ehlo::{Extensions, Limits};
pub use params::{
    Body, MAX_ENVID_LEN, MAX_ORCPT_LEN, MailParams, Notify, OriginalRecipient, ParamError,
    RcptParams, Ret,
};
pub use reply::{MAX_LINE_LEN, MAX_LINES, MAX_REPLY_LEN, Reply, ReplyError, parse_reply};
pub use status::{Class, EnhancedCode, EnhancedCodeError};
