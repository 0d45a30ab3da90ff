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
//!
//! # Reasons and hard bounces
//!
//! [`Reason`] has eight values with fixed wire names: `userUnknown`,
//! `mailboxFull`, `policy`, `hostUnknown`, `expired`, `tooLarge`,
//! `security`, `other`. A recipient is a *hard* bounce when the failure is
//! permanent and the address itself is bad (`userUnknown`, `hostUnknown`);
//! everything else is soft. The reason does not decide suppression (see the
//! project's DESIGN.md); it is recorded with it.
//!
//! [`classify`] looks at the words first for unambiguous causes (mail loops,
//! message-format violations, spam/block-list/DMARC wording, full mailboxes,
//! size, expiry, unknown hosts and users, TLS), then at specific enhanced
//! codes (x.1.1 user, x.1.2 host, x.2.2 full, x.3.4 size, x.4.7 expired,
//! x.7.x policy), then at weaker policy words, then at the code's subject.
//! A transient failure is never `hostUnknown` (DNS time-outs), and a
//! user-unknown answer to DATA without an address code is `policy`.
//! [`analyze`] adds what only a bounce shows: a final failure that only saw
//! time-outs is `expired`; an error from a local delivery program
//! (`x-unix`) is `other`; a remote "unknown user" with neither an address
//! code nor any sign that it answered RCPT TO is `policy` (filtering gateways
//! answer whole messages that way).
//!
//! # Matching bounces to sent messages
//!
//! [`Analysis::envelope_id`] (Original-Envelope-ID, our ENVID),
//! [`BounceRecipient::original_recipient`] (our ORCPT) and
//! [`Analysis::original_message_id`] (the Message-ID of the returned
//! header) are the keys the queue matches with.
//!
//! # Output of `dsn_inspect`
//!
//! `cargo run --example dsn_inspect -- [--json] FILE...` prints what
//! [`analyze`] found. With `--json` the output is a stable interface: one
//! JSON object per line and recipient, with exactly these keys:
//!
//! | key | type | value |
//! |---|---|---|
//! | `file` | string | the path as given |
//! | `is_bounce` | bool | [`MessageKind::Bounce`] |
//! | `recipient` | string or null | [`BounceRecipient::recipient`] |
//! | `action` | string or null | `failed`, `delayed`, `delivered`, `relayed`, `expanded` |
//! | `status` | string or null | enhanced code such as `5.1.1`, or the odd value as written |
//! | `reply_code` | number or null | SMTP reply code such as `550` |
//! | `reason` | string or null | one of the eight reason names |
//! | `hard_bounce` | bool | [`BounceRecipient::hard`] |
//! | `diagnostic` | string or null | the diagnostic text, white space collapsed |
//!
//! A message that is not a bounce (complaint, auto-reply, anything else), or
//! a bounce in which no recipient could be found, gives one line with
//! `recipient`, `action`, `status`, `reply_code`, `reason` and `diagnostic`
//! null and `hard_bounce` false. For example:
//!
//! ```text
//! {"action":"failed","diagnostic":"550 5.1.1 <bob@example.net>... User Unknown","file":"b.eml","hard_bounce":true,"is_bounce":true,"reason":"userUnknown","recipient":"bob@example.net","reply_code":550,"status":"5.1.1"}
//! {"action":null,"diagnostic":null,"file":"ooo.eml","hard_bounce":false,"is_bounce":false,"reason":null,"recipient":null,"reply_code":null,"status":null}
//! ```
//!
//! # Robustness
//!
//! [`parse`], [`parse_status`] and [`analyze`] take untrusted bytes, never
//! panic, and bound their work (input size, fields per status part, lines of
//! text looked at, recipients per report).

mod classify;
mod compose;
mod date;
mod fields;
mod mime;
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
