//! Delivery status notifications (DSNs): compose them, parse them strictly,
//! and understand the bounces real mail systems send.
//!
//! - [`compose`] writes an RFC 3464 report (RFC 6533 global types for UTF-8).
//! - [`parse`] reads an RFC 3464/6533 report strictly, with typed errors.
//! - [`analyze`] reads anything that arrives at a bounce address: standard DSNs
//!   with quirks, the text formats of Postfix, Exim, qmail, Sendmail,
//!   Exchange, Gmail, Yahoo, Amazon SES and others, and tells bounces apart
//!   from complaints (ARF), auto-replies (RFC 3834) and other mail.
//! - [`classify`] turns an SMTP reply or diagnostic text into a [`Reason`] with
//!   a hard/soft flag; the queue uses the same function for its own failures.
//!
//! ```
//! let bounce = b"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\
//! Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n\
//! Content-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n\
//! Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; bob@example.net\r\nAction: failed\r\n\
//! Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown\r\n\r\n--b--\r\n";
//! let a = dsn::analyze(bounce);
//! assert_eq!(a.kind, dsn::MessageKind::Bounce);
//! let r = &a.recipients[0];
//! assert_eq!(r.recipient.as_deref(), Some("bob@example.net"));
//! assert_eq!(r.reply_code, Some(550));
//! assert_eq!(r.reason, dsn::Reason::UserUnknown);
//! assert!(r.hard);
//! ```

mod classify;
mod compose;
mod date;
mod fields;
mod model;
mod parse;
mod report;
mod tolerant;

pub use classify::{Classification, Reason, UnknownReason, classify, classify_reply};
pub use compose::{ComposeError, Dsn, Original, RetrySchedule, compose};
pub use date::DateTime;
pub use fields::{decode_utf8_addr, encode_utf8_addr};
pub use model::{Action, Mta, PerMessage, RecipientStatus, ReturnedKind, Typed, UnknownAction};
pub use parse::{MAX_MESSAGE_SIZE, ParseError, Report, Returned, parse, parse_status};
pub use report::Complaint;
pub use tolerant::{Analysis, BounceRecipient, MessageKind, Status, analyze};
