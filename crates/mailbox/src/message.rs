//! Messages: what is delivered, what a listing shows, and paging.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::SystemTime;

use smtp::Address;

use crate::Flags;

/// A message's id: unique in the store, never reused (also after deletion),
/// kept when the message moves. The web API's `MsgID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub i64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The SMTP envelope a message arrived with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// MAIL FROM; `None` for the null reverse path `<>` (as DSNs have).
    pub mail_from: Option<Address>,
    /// The RCPT TO that put the message in this account.
    pub rcpt_to: Option<Address>,
    /// The client's IP address, `None` for messages generated locally (our DSNs).
    pub remote_ip: Option<IpAddr>,
    /// Whether the message is a delivery status notification.
    pub is_dsn: bool,
}

/// A message to deliver into a mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    /// The account name.
    pub account: String,
    /// The mailbox name (e.g. [`crate::INBOX`]).
    pub mailbox: String,
    /// When it was received; the caller's clock, so tests can use a virtual one.
    pub received: SystemTime,
    /// Initial flags and keywords.
    pub flags: Flags,
    /// Envelope data.
    pub envelope: Envelope,
    /// The whole message as received (header and body, CRLF line ends).
    pub raw: Vec<u8>,
}

/// What a listing or `message` returns about a message (everything but the bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageMeta {
    /// Its id.
    pub id: MessageId,
    /// The account it belongs to.
    pub account: String,
    /// Its mailbox's name.
    pub mailbox: String,
    /// When it was received, at millisecond precision.
    pub received: SystemTime,
    /// Flags and keywords.
    pub flags: Flags,
    /// Envelope data.
    pub envelope: Envelope,
    /// Size of the raw message in bytes.
    pub size: u64,
    /// The Message-ID header without angle brackets, "" if absent.
    pub message_id: String,
    /// The Subject header, decoded, "" if absent.
    pub subject: String,
    /// The first From address, "" if absent or unparsable.
    pub msg_from: String,
}

/// Where a listing continues: after the message with this received time
/// (Unix milliseconds) and id. Its text form `"<millis>.<id>"` is what an
/// API hands to clients.
///
/// ```
/// use mailbox::Cursor;
/// let c: Cursor = "1700000000000.42".parse().unwrap();
/// assert_eq!(c, Cursor { received_ms: 1_700_000_000_000, id: 42 });
/// assert_eq!(c.to_string(), "1700000000000.42");
/// assert!("x.1".parse::<Cursor>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Received time of the last message seen, Unix milliseconds.
    pub received_ms: i64,
    /// Id of the last message seen.
    pub id: i64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.received_ms, self.id)
    }
}

impl FromStr for Cursor {
    type Err = crate::MailboxError;

    fn from_str(s: &str) -> Result<Cursor, crate::MailboxError> {
        let invalid = || crate::MailboxError::Invalid {
            what: "cursor",
            value: s.chars().take(64).collect(),
            reason: "expected <millis>.<id>",
        };
        let (ms, id) = s.split_once('.').ok_or_else(invalid)?;
        Ok(Cursor {
            received_ms: ms.parse().map_err(|_| invalid())?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

/// Most messages one page holds, whatever the caller asks for.
pub const MAX_PAGE: usize = 1000;

/// One page of a listing, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// The messages.
    pub messages: Vec<MessageMeta>,
    /// Where the next page starts; `None` when this was the last one.
    pub next: Option<Cursor>,
}

/// What changed in the store; sent to subscribers after the commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A message was delivered.
    Delivered {
        /// The account.
        account: String,
        /// The mailbox.
        mailbox: String,
        /// The new message.
        id: MessageId,
        /// Whether it is a DSN.
        is_dsn: bool,
    },
    /// A message was deleted.
    Deleted {
        /// The account.
        account: String,
        /// The message.
        id: MessageId,
    },
    /// A message's flags or keywords changed.
    FlagsChanged {
        /// The account.
        account: String,
        /// The message.
        id: MessageId,
    },
    /// A message moved to another mailbox.
    Moved {
        /// The account.
        account: String,
        /// The message.
        id: MessageId,
        /// The destination mailbox.
        mailbox: String,
    },
}
