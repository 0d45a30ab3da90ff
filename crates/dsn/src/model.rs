//! The fields of a delivery status notification (RFC 3464 §2.2 and §2.3),
//! shared by the composer and the strict parser so that a round trip compares
//! like with like.

use std::fmt;
use std::str::FromStr;

use smtp::EnhancedCode;

use crate::date::DateTime;

/// What the reporting MTA did with a recipient (RFC 3464 §2.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Delivery failed; no more attempts.
    Failed,
    /// Delivery is delayed; the MTA keeps trying.
    Delayed,
    /// Delivered to the recipient's mailbox.
    Delivered,
    /// Relayed to a system that does not send DSNs.
    Relayed,
    /// Delivered and expanded to more recipients (a mailing list or alias).
    Expanded,
}

impl Action {
    /// The lower-case wire form, e.g. `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
            Action::Expanded => "expanded",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An Action value that is not one of the five of RFC 3464.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown action {0:?}")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Action, UnknownAction> {
        match s.trim().to_ascii_lowercase().as_str() {
            "failed" => Ok(Action::Failed),
            "delayed" => Ok(Action::Delayed),
            "delivered" => Ok(Action::Delivered),
            "relayed" => Ok(Action::Relayed),
            "expanded" => Ok(Action::Expanded),
            _ => Err(UnknownAction(s.to_string())),
        }
    }
}

/// A typed value such as `rfc822; user@example.org` or `dns; mx.example.org`:
/// the type is kept lower-case, the value decoded (utf-8-addr-xtext undone).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Typed {
    /// `rfc822`, `utf-8`, `dns`, `smtp`, `x-unix`, ...
    pub kind: String,
    /// The value after the semicolon, trimmed.
    pub value: String,
}

impl Typed {
    /// A value of type `kind`.
    pub fn new(kind: &str, value: &str) -> Typed {
        Typed {
            kind: kind.to_ascii_lowercase(),
            value: value.to_string(),
        }
    }

    /// An address with type `rfc822` when it is ASCII, `utf-8` (RFC 6533) otherwise.
    pub fn address(addr: &str) -> Typed {
        Typed::new(if addr.is_ascii() { "rfc822" } else { "utf-8" }, addr)
    }
}

/// An MTA name field (Reporting-MTA, Remote-MTA, ...): `dns; name`, with the
/// IP address that mox and Postfix put in a comment after it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mta {
    /// The name type, normally `dns`.
    pub kind: String,
    /// The host name.
    pub name: String,
    /// The IP address from the trailing comment, e.g. `192.0.2.1` from `(192.0.2.1)` or `([192.0.2.1])`.
    pub ip: Option<String>,
}

impl Mta {
    /// A `dns`-typed MTA name without an IP.
    pub fn dns(name: &str) -> Mta {
        Mta {
            kind: "dns".into(),
            name: name.to_string(),
            ip: None,
        }
    }
}

/// The per-message fields of the status part (RFC 3464 §2.2).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PerMessage {
    /// Original-Envelope-ID, the ENVID given at submission; the queue matches bounces with it.
    pub original_envelope_id: Option<String>,
    /// Reporting-MTA (required).
    pub reporting_mta: Option<Mta>,
    /// DSN-Gateway.
    pub dsn_gateway: Option<Mta>,
    /// Received-From-MTA.
    pub received_from_mta: Option<Mta>,
    /// Arrival-Date.
    pub arrival_date: Option<DateTime>,
    /// Future-Release-Request (RFC 4865 extension field, mox writes it).
    pub future_release_request: Option<String>,
    /// Every field of the block in order (names as written, values unfolded), filled when parsing.
    pub fields: Vec<(String, String)>,
}

/// One recipient's block of the status part (RFC 3464 §2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientStatus {
    /// Original-Recipient: the ORCPT given at submission, kept for matching.
    pub original_recipient: Option<Typed>,
    /// Final-Recipient (required).
    pub final_recipient: Typed,
    /// Action (required).
    pub action: Action,
    /// Status (required).
    pub status: EnhancedCode,
    /// The comment after Status, e.g. the error text.
    pub status_comment: Option<String>,
    /// Remote-MTA.
    pub remote_mta: Option<Mta>,
    /// Diagnostic-Code, e.g. kind `smtp` and text `550 5.1.1 no such user`.
    pub diagnostic_code: Option<Typed>,
    /// Last-Attempt-Date.
    pub last_attempt_date: Option<DateTime>,
    /// Final-Log-ID.
    pub final_log_id: Option<String>,
    /// Will-Retry-Until (delayed only).
    pub will_retry_until: Option<DateTime>,
    /// Every field of the block in order, filled when parsing.
    pub fields: Vec<(String, String)>,
}

impl RecipientStatus {
    /// A recipient block with only the required fields.
    ///
    /// ```
    /// use dsn::{Action, RecipientStatus};
    /// use smtp::{Class, EnhancedCode};
    /// let r = RecipientStatus::new("bob@example.org", Action::Failed, EnhancedCode::new(Class::Permanent, 1, 1));
    /// assert_eq!(r.final_recipient.kind, "rfc822");
    /// ```
    pub fn new(final_recipient: &str, action: Action, status: EnhancedCode) -> RecipientStatus {
        RecipientStatus {
            original_recipient: None,
            final_recipient: Typed::address(final_recipient),
            action,
            status,
            status_comment: None,
            remote_mta: None,
            diagnostic_code: None,
            last_attempt_date: None,
            final_log_id: None,
            will_retry_until: None,
            fields: Vec::new(),
        }
    }
}

/// Which kind of third part a report carries (RFC 3462, RFC 6533).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReturnedKind {
    /// text/rfc822-headers: the original's header only.
    Headers,
    /// message/global-headers: the original's header, UTF-8 allowed.
    GlobalHeaders,
    /// message/rfc822: the whole original.
    Message,
    /// message/global: the whole original, UTF-8 allowed.
    GlobalMessage,
}

impl ReturnedKind {
    /// The MIME type, e.g. `text/rfc822-headers`.
    pub fn mime_type(&self) -> &'static str {
        match self {
            ReturnedKind::Headers => "text/rfc822-headers",
            ReturnedKind::GlobalHeaders => "message/global-headers",
            ReturnedKind::Message => "message/rfc822",
            ReturnedKind::GlobalMessage => "message/global",
        }
    }

    /// The kind for a MIME type (case-insensitive), None for others.
    pub fn from_mime_type(t: &str) -> Option<ReturnedKind> {
        match t.to_ascii_lowercase().as_str() {
            "text/rfc822-headers" => Some(ReturnedKind::Headers),
            "message/global-headers" => Some(ReturnedKind::GlobalHeaders),
            "message/rfc822" => Some(ReturnedKind::Message),
            "message/global" => Some(ReturnedKind::GlobalMessage),
            _ => None,
        }
    }

    /// Whether the whole message is returned rather than its header.
    pub fn is_full(&self) -> bool {
        matches!(self, ReturnedKind::Message | ReturnedKind::GlobalMessage)
    }
}
