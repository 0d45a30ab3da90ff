//! What a delivery sends and what it gets back.

use smtp::{Address, Command, EnhancedCode, Notify, OriginalRecipient, Ret};

use crate::error::Error;

/// One recipient with its DSN parameters (RFC 3461).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// The forward path.
    pub address: Address,
    /// NOTIFY, sent only when the server offers DSN.
    pub notify: Option<Notify>,
    /// ORCPT, sent only when the server offers DSN.
    pub orcpt: Option<OriginalRecipient>,
}

impl From<Address> for Recipient {
    fn from(address: Address) -> Self {
        Recipient {
            address,
            notify: None,
            orcpt: None,
        }
    }
}

/// The envelope of one message.
///
/// ```
/// use smtp::{Notify, Ret};
/// use smtpclient::Envelope;
///
/// let mut envelope = Envelope::new(
///     Some("bounces@example.org".parse().unwrap()),
///     vec!["rcpt@example.com".parse().unwrap()],
/// );
/// envelope.ret = Some(Ret::Hdrs);
/// envelope.recipients[0].notify = Some(Notify::new(false, true, true));
/// assert!(envelope.has_dsn_params());
/// assert!(!envelope.needs_smtputf8());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// MAIL FROM; `None` is the null reverse path "<>" (bounces).
    pub reverse_path: Option<Address>,
    /// RCPT TO, in order; results come back in the same order.
    pub recipients: Vec<Recipient>,
    /// DSN RET, sent only when the server offers DSN.
    pub ret: Option<Ret>,
    /// DSN ENVID (decoded; xtext-encoded on the wire), only with DSN.
    pub envid: Option<String>,
    /// The message has non-ASCII header content (RFC 6531). An address
    /// with a non-ASCII local part needs SMTPUTF8 by itself.
    pub requires_smtputf8: bool,
    /// The message has 8-bit content (sent as BODY=8BITMIME).
    pub requires_8bitmime: bool,
    /// Deliver only under REQUIRETLS (RFC 8689).
    pub require_tls: bool,
    /// The size for the SIZE check and parameter; default the message length.
    pub size: Option<u64>,
}

impl Envelope {
    /// An envelope with these paths and no options.
    pub fn new(reverse_path: Option<Address>, recipients: Vec<Address>) -> Envelope {
        Envelope {
            reverse_path,
            recipients: recipients.into_iter().map(Recipient::from).collect(),
            ret: None,
            envid: None,
            requires_smtputf8: false,
            requires_8bitmime: false,
            require_tls: false,
            size: None,
        }
    }

    /// Whether the message or an address needs SMTPUTF8.
    pub fn needs_smtputf8(&self) -> bool {
        self.requires_smtputf8
            || self
                .reverse_path
                .as_ref()
                .is_some_and(Address::needs_smtputf8)
            || self.recipients.iter().any(|r| r.address.needs_smtputf8())
    }

    /// Whether any DSN parameter is set.
    pub fn has_dsn_params(&self) -> bool {
        self.ret.is_some()
            || self.envid.is_some()
            || self
                .recipients
                .iter()
                .any(|r| r.notify.is_some() || r.orcpt.is_some())
    }
}

/// A server reply as it concerns a recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The command the reply answered (rcptto, data, bdat or mailfrom).
    pub command: Command,
    /// The reply code.
    pub code: u16,
    /// The enhanced status code, when ENHANCEDSTATUSCODES was announced and
    /// the code's class matches the reply.
    pub enhanced: Option<EnhancedCode>,
    /// The text of each reply line.
    pub lines: Vec<String>,
    /// Whether retrying cannot help: 5xx, except 552 to RCPT (historically
    /// "too many recipients", RFC 5321 §4.5.3.1.10).
    pub permanent: bool,
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" / "))
    }
}

/// Why a recipient was not tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotAttempted {
    /// The connection reached the server's LIMITS MAILMAX: deliver to this
    /// recipient over a new connection.
    MailMaxReached,
    /// The session ended (421, connection loss, timeout, protocol error)
    /// before this recipient's delivery finished; retry later.
    SessionEnded {
        /// What ended it.
        reason: String,
    },
}

/// What happened to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// The server accepted the message for this recipient; the final reply
    /// to the message data.
    Delivered(Response),
    /// The server refused this recipient (its RCPT reply) or the message
    /// (the DATA/BDAT or MAIL reply).
    Failed(Response),
    /// Not tried to the end on this connection.
    NotAttempted(NotAttempted),
}

impl RecipientOutcome {
    /// Whether the message was accepted for this recipient.
    pub fn is_delivered(&self) -> bool {
        matches!(self, RecipientOutcome::Delivered(_))
    }

    /// Whether this recipient failed for good.
    pub fn is_permanent_failure(&self) -> bool {
        matches!(self, RecipientOutcome::Failed(r) if r.permanent)
    }

    /// The deciding server reply, if there was one.
    pub fn response(&self) -> Option<&Response> {
        match self {
            RecipientOutcome::Delivered(r) | RecipientOutcome::Failed(r) => Some(r),
            RecipientOutcome::NotAttempted(_) => None,
        }
    }
}

/// The result of [`Client::deliver`](crate::Client::deliver).
#[derive(Debug)]
pub struct Delivery {
    /// One outcome per recipient, in envelope order.
    pub recipients: Vec<RecipientOutcome>,
    /// DSN parameters were set but the server does not offer DSN, so they
    /// were not sent: the sender should get a "relayed" DSN for recipients
    /// that asked for success notification (RFC 3461 §5.2.2).
    pub dsn_params_dropped: bool,
    /// How many transactions (MAIL FROM) this delivery took.
    pub transactions: u32,
    /// The error that ended the session partway, when some recipients
    /// already had their answer (otherwise `deliver` returns it as `Err`).
    pub error: Option<Error>,
}

impl Delivery {
    /// How many recipients the message was delivered to.
    pub fn delivered(&self) -> usize {
        self.recipients.iter().filter(|r| r.is_delivered()).count()
    }
}
