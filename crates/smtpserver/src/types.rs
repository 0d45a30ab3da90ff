//! What hooks see: the session, the envelope and the message.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use smtp::{Address, MailParams, RcptParams};

use crate::config::Mode;
use crate::headers::{ExtraError, extra_metadata, tls_required_no};

/// The two ends of the connection, supplied by whoever accepted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The client's IP address.
    pub remote_ip: IpAddr,
    /// Our IP address on this connection, when known (shown in Received).
    pub local_ip: Option<IpAddr>,
}

/// The client's EHLO or HELO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The name as sent.
    pub name: String,
    /// True for EHLO, false for HELO.
    pub extended: bool,
}

/// Facts about the session's TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLS1.2` or `TLS1.3`.
    pub version: String,
    /// The cipher suite's IANA name, e.g. `TLS_AES_128_GCM_SHA256`.
    pub cipher: String,
    /// The SNI name the client asked for.
    pub server_name: Option<String>,
    /// Whether TLS started with the connection (port 465) instead of STARTTLS.
    pub implicit: bool,
}

/// Who the client is acting as: an account, from AUTH or from the handler
/// mapping the connection (trusted networks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The account messages are submitted for.
    pub account: String,
    /// The SASL authentication identity; `None` when the handler mapped the
    /// connection without AUTH.
    pub login: Option<String>,
}

/// The session as hooks see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// An id for logs, from the server's id source.
    pub id: String,
    /// Addresses of the connection.
    pub peer: Peer,
    /// Submission or inbound.
    pub mode: Mode,
    /// EHLO/HELO, once given (cleared by STARTTLS).
    pub hello: Option<Hello>,
    /// TLS, once established.
    pub tls: Option<TlsInfo>,
    /// The identity, once authenticated or mapped.
    pub identity: Option<Identity>,
    /// Failed AUTH attempts so far on this connection.
    pub auth_failures: u32,
}

/// One accepted recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// The address.
    pub address: Address,
    /// Its RCPT parameters (NOTIFY, ORCPT).
    pub params: RcptParams,
}

/// FUTURERELEASE (RFC 4865) as requested on MAIL FROM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FutureRelease {
    /// When the message may be delivered.
    pub at: SystemTime,
    /// The request as it goes into a DSN's per-message field: `for;<seconds>`
    /// or `until;<RFC 3339 UTC>`.
    pub request: String,
}

/// The envelope of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path; `None` for `<>`.
    pub mail_from: Option<Address>,
    /// MAIL parameters (SIZE, BODY, SMTPUTF8, REQUIRETLS, RET, ENVID, ...).
    pub params: MailParams,
    /// Accepted recipients, in order.
    pub recipients: Vec<Recipient>,
    /// The checked FUTURERELEASE request, if any.
    pub future_release: Option<FutureRelease>,
}

/// A received message.
///
/// `data` is the message exactly as the client sent it (dot-unstuffed for
/// DATA, CRLF line endings); the engine's trace header is in `received`,
/// separate, so a queue can store it as a prefix (the reference's MsgPrefix).
/// [`Message::with_received`] joins them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The envelope.
    pub envelope: Envelope,
    /// `Received: ...\r\n`, folded, ending in CRLF.
    pub received: String,
    /// The message.
    pub data: Vec<u8>,
    /// Whether `data` has bytes above 127.
    pub has_8bit: bool,
}

impl Message {
    /// The Received header followed by the message.
    pub fn with_received(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.received.len() + self.data.len());
        out.extend_from_slice(self.received.as_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    /// Size of [`Message::with_received`] in octets.
    pub fn size(&self) -> u64 {
        (self.received.len() + self.data.len()) as u64
    }

    /// The extra metadata headers, see [`crate::extra_metadata`].
    pub fn extra(&self) -> Result<BTreeMap<String, String>, ExtraError> {
        extra_metadata(&self.data)
    }

    /// The reference's RequireTLS tri-state (its §1.16): `Some(true)` with
    /// the REQUIRETLS parameter; otherwise `Some(false)` when the message says
    /// `TLS-Required: No`; otherwise `None` (follow recipient policy).
    ///
    /// ```
    /// # use smtpserver::{Envelope, Message};
    /// let mut message = Message {
    ///     envelope: Envelope { mail_from: None, params: Default::default(),
    ///         recipients: vec![], future_release: None },
    ///     received: String::new(),
    ///     data: b"TLS-Required: No\r\n\r\nhi\r\n".to_vec(),
    ///     has_8bit: false,
    /// };
    /// assert_eq!(message.require_tls(), Some(false));
    /// message.envelope.params.requiretls = true;
    /// assert_eq!(message.require_tls(), Some(true));
    /// ```
    pub fn require_tls(&self) -> Option<bool> {
        if self.envelope.params.requiretls {
            Some(true)
        } else if tls_required_no(&self.data) {
            Some(false)
        } else {
            None
        }
    }
}
