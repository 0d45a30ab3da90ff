//! The request and response of every web API method.
//!
//! JSON names are the reference implementation's (Go field names), so its
//! clients keep working. Requests reject unknown fields and take absent
//! fields (and `null` lists) as their defaults; responses write `[]` and `{}`
//! for empty lists and maps, never `null`.
//!
//! ```
//! use webapi::types::{Method, SendRequest};
//!
//! let req: SendRequest = serde_json::from_str(
//!     r#"{"To":[{"Address":"bob@example.org"}],"Subject":"hi","Text":"hello\n"}"#,
//! ).unwrap();
//! assert_eq!(req.to[0].address, "bob@example.org");
//! assert!(req.from.is_empty() && req.require_tls.is_none());
//! assert!(serde_json::from_str::<SendRequest>(r#"{"Txt":"typo"}"#).is_err());
//! assert_eq!(Method::parse("SendBatch"), Some(Method::SendBatch));
//! ```

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::webhook::null_default;
pub use crate::webhook::{NameAddress, Structure};

/// Most messages one SendBatch call may carry.
pub const MAX_BATCH: usize = 500;

/// Every method of the API, as named in the URL path (`/webapi/v0/<Method>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// Compose and queue one message.
    Send,
    /// Queue up to 500 messages, all or nothing (Postel).
    SendBatch,
    /// List the account's suppressed addresses.
    SuppressionList,
    /// Add an address to the suppression list.
    SuppressionAdd,
    /// Remove an address from the suppression list.
    SuppressionRemove,
    /// Whether one address is suppressed.
    SuppressionPresent,
    /// Whether each of several addresses is suppressed (Postel).
    SuppressionCheck,
    /// One page of a mailbox's messages (Postel).
    MessageList,
    /// A stored message, parsed.
    MessageGet,
    /// A stored message as raw bytes.
    MessageRawGet,
    /// One decoded MIME part of a stored message.
    MessagePartGet,
    /// Delete a stored message permanently.
    MessageDelete,
    /// Add flags to a stored message.
    MessageFlagsAdd,
    /// Remove flags from a stored message.
    MessageFlagsRemove,
    /// Move a stored message to another mailbox.
    MessageMove,
    /// The delivery timeline of sent messages (Postel).
    MessageStatus,
    /// The account's webhooks, pending or retired (Postel).
    HookList,
    /// Retry a pending webhook now (Postel).
    HookRetry,
    /// Send a retired webhook's event again as a new webhook (Postel).
    HookReplay,
    /// Cancel a pending webhook (Postel).
    HookCancel,
    /// Post a sample event to one of the account's endpoints (Postel).
    WebhookTest,
}

const METHODS: &[Method] = &[
    Method::Send,
    Method::SendBatch,
    Method::SuppressionList,
    Method::SuppressionAdd,
    Method::SuppressionRemove,
    Method::SuppressionPresent,
    Method::SuppressionCheck,
    Method::MessageList,
    Method::MessageGet,
    Method::MessageRawGet,
    Method::MessagePartGet,
    Method::MessageDelete,
    Method::MessageFlagsAdd,
    Method::MessageFlagsRemove,
    Method::MessageMove,
    Method::MessageStatus,
    Method::HookList,
    Method::HookRetry,
    Method::HookReplay,
    Method::HookCancel,
    Method::WebhookTest,
];

impl Method {
    /// The name in the URL path, e.g. `"MessageGet"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Send => "Send",
            Method::SendBatch => "SendBatch",
            Method::SuppressionList => "SuppressionList",
            Method::SuppressionAdd => "SuppressionAdd",
            Method::SuppressionRemove => "SuppressionRemove",
            Method::SuppressionPresent => "SuppressionPresent",
            Method::SuppressionCheck => "SuppressionCheck",
            Method::MessageList => "MessageList",
            Method::MessageGet => "MessageGet",
            Method::MessageRawGet => "MessageRawGet",
            Method::MessagePartGet => "MessagePartGet",
            Method::MessageDelete => "MessageDelete",
            Method::MessageFlagsAdd => "MessageFlagsAdd",
            Method::MessageFlagsRemove => "MessageFlagsRemove",
            Method::MessageMove => "MessageMove",
            Method::MessageStatus => "MessageStatus",
            Method::HookList => "HookList",
            Method::HookRetry => "HookRetry",
            Method::HookReplay => "HookReplay",
            Method::HookCancel => "HookCancel",
            Method::WebhookTest => "WebhookTest",
        }
    }

    /// The method for a path name (exact case).
    pub fn parse(s: &str) -> Option<Method> {
        METHODS.iter().copied().find(|m| m.as_str() == s)
    }

    /// Every method, in documentation order.
    pub fn all() -> &'static [Method] {
        METHODS
    }

    /// Whether the method answers with raw bytes instead of JSON.
    pub fn is_raw(&self) -> bool {
        matches!(self, Method::MessageRawGet | Method::MessagePartGet)
    }

    /// Whether the method is a Postel addition (absent from the reference).
    pub fn is_postel(&self) -> bool {
        matches!(
            self,
            Method::SendBatch
                | Method::SuppressionCheck
                | Method::MessageList
                | Method::MessageStatus
                | Method::HookList
                | Method::HookRetry
                | Method::HookReplay
                | Method::HookCancel
                | Method::WebhookTest
        )
    }

    /// A one-line description for the index page and the OpenAPI document.
    pub fn description(&self) -> &'static str {
        match self {
            Method::Send => "Compose a message and queue it for each recipient.",
            Method::SendBatch => "Queue up to 500 distinct messages in one call; all or nothing.",
            Method::SuppressionList => "List the account's suppressed addresses.",
            Method::SuppressionAdd => "Add an address to the suppression list.",
            Method::SuppressionRemove => "Remove an address from the suppression list.",
            Method::SuppressionPresent => "Whether an address is on the suppression list.",
            Method::SuppressionCheck => "Whether each of several addresses is suppressed.",
            Method::MessageList => "One page of a mailbox's messages, newest first.",
            Method::MessageGet => "A stored message: parsed headers, text, structure, metadata.",
            Method::MessageRawGet => "A stored message as raw bytes.",
            Method::MessagePartGet => "One MIME part of a stored message, transfer-decoded.",
            Method::MessageDelete => "Delete a stored message permanently.",
            Method::MessageFlagsAdd => "Add system flags or keywords to a stored message.",
            Method::MessageFlagsRemove => "Remove system flags or keywords from a stored message.",
            Method::MessageMove => "Move a stored message to another existing mailbox.",
            Method::MessageStatus => {
                "Delivery timeline of sent messages by QueueMsgID or Message-ID."
            }
            Method::HookList => "The account's webhooks, pending or retired.",
            Method::HookRetry => "Retry a pending webhook now.",
            Method::HookReplay => "Send a webhook's event again, as a new webhook.",
            Method::HookCancel => "Cancel a pending webhook.",
            Method::WebhookTest => "Post a sample event to one of the account's endpoints.",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file to include in a sent message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct File {
    /// File name, used in the Content-Disposition; may be "".
    #[serde(rename = "Name")]
    pub name: String,
    /// Media type; "" means sniff from the data.
    #[serde(rename = "ContentType")]
    pub content_type: String,
    /// Content-ID with `<>`, for inline files referenced from HTML; may be "".
    #[serde(rename = "ContentID")]
    pub content_id: String,
    /// The content, base64 (standard alphabet, padding optional).
    #[serde(rename = "Data")]
    pub data: String,
}

/// Send: compose one message and queue it for every recipient.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendRequest {
    /// From address; empty means the login address with the account's name.
    #[serde(rename = "From", deserialize_with = "null_default")]
    pub from: Vec<NameAddress>,
    /// To recipients.
    #[serde(rename = "To", deserialize_with = "null_default")]
    pub to: Vec<NameAddress>,
    /// Cc recipients.
    #[serde(rename = "CC", deserialize_with = "null_default")]
    pub cc: Vec<NameAddress>,
    /// Bcc recipients (never in the message header).
    #[serde(rename = "BCC", deserialize_with = "null_default")]
    pub bcc: Vec<NameAddress>,
    /// Reply-To addresses.
    #[serde(rename = "ReplyTo", deserialize_with = "null_default")]
    pub reply_to: Vec<NameAddress>,
    /// Message-ID with `<>`; "" generates one.
    #[serde(rename = "MessageID")]
    pub message_id: String,
    /// Message-IDs this one refers to, oldest first; the last is In-Reply-To.
    #[serde(rename = "References", deserialize_with = "null_default")]
    pub references: Vec<String>,
    /// The Date header; `null` means now.
    #[serde(rename = "Date", with = "crate::time::option")]
    pub date: Option<SystemTime>,
    /// Subject.
    #[serde(rename = "Subject")]
    pub subject: String,
    /// Plain-text body, lines separated by `\n`.
    #[serde(rename = "Text")]
    pub text: String,
    /// HTML body, lines separated by `\n`.
    #[serde(rename = "HTML")]
    pub html: String,
    /// Values returned in every webhook about this message.
    #[serde(rename = "Extra", deserialize_with = "null_default")]
    pub extra: BTreeMap<String, String>,
    /// Extra headers, `[name, value]` pairs, added after MIME-Version.
    #[serde(rename = "Headers", deserialize_with = "null_default")]
    pub headers: Vec<[String; 2]>,
    /// Files shown as alternatives to the text/HTML body.
    #[serde(rename = "AlternativeFiles", deserialize_with = "null_default")]
    pub alternative_files: Vec<File>,
    /// Files referenced from the HTML (multipart/related).
    #[serde(rename = "InlineFiles", deserialize_with = "null_default")]
    pub inline_files: Vec<File>,
    /// Attachments (multipart/mixed).
    #[serde(rename = "AttachedFiles", deserialize_with = "null_default")]
    pub attached_files: Vec<File>,
    /// `true`: require TLS on the whole path (REQUIRETLS); `false`: add
    /// `TLS-Required: No`; `null`: the default policy.
    #[serde(rename = "RequireTLS")]
    pub require_tls: Option<bool>,
    /// Hold delivery until this time (at most 60 days ahead).
    #[serde(rename = "FutureRelease", with = "crate::time::option")]
    pub future_release: Option<SystemTime>,
    /// Store a copy in the account's Sent mailbox.
    #[serde(rename = "SaveSent")]
    pub save_sent: bool,
    /// Refuse the whole call with `recipientSuppressed` when a recipient is
    /// suppressed, instead of failing that recipient at delivery (Postel).
    #[serde(rename = "RefuseSuppressed")]
    pub refuse_suppressed: bool,
}

/// One queued recipient of a sent message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// The recipient address.
    #[serde(rename = "Address", default)]
    pub address: String,
    /// Queue message id, named in webhooks.
    #[serde(rename = "QueueMsgID", default)]
    pub queue_msg_id: i64,
    /// The unique part of the MAIL FROM address.
    #[serde(rename = "FromID", default)]
    pub from_id: String,
}

/// The result of Send.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResult {
    /// The message's Message-ID, with `<>`.
    #[serde(rename = "MessageID", default)]
    pub message_id: String,
    /// One entry per recipient, in the order To, CC, BCC.
    #[serde(rename = "Submissions", default, deserialize_with = "null_default")]
    pub submissions: Vec<Submission>,
}

/// SendBatch: up to [`MAX_BATCH`] messages, all queued or none (Postel).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendBatchRequest {
    /// The messages.
    #[serde(rename = "Messages", deserialize_with = "null_default")]
    pub messages: Vec<SendRequest>,
}

/// The result of SendBatch: one result per message, in request order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendBatchResult {
    /// The results.
    #[serde(rename = "Results", default, deserialize_with = "null_default")]
    pub results: Vec<SendResult>,
}

/// An entry of the suppression list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// Entry id.
    #[serde(rename = "ID", default)]
    pub id: i64,
    /// When it was added.
    #[serde(rename = "Created", with = "crate::time")]
    pub created: SystemTime,
    /// The account.
    #[serde(rename = "Account", default)]
    pub account: String,
    /// The normalised address that is matched.
    #[serde(rename = "BaseAddress", default)]
    pub base_address: String,
    /// The address as given or as it failed.
    #[serde(rename = "OriginalAddress", default)]
    pub original_address: String,
    /// Added by a person rather than by a failure.
    #[serde(rename = "Manual", default)]
    pub manual: bool,
    /// Why.
    #[serde(rename = "Reason", default)]
    pub reason: String,
}

impl Default for Suppression {
    fn default() -> Self {
        Suppression {
            id: 0,
            created: UNIX_EPOCH,
            account: String::new(),
            base_address: String::new(),
            original_address: String::new(),
            manual: false,
            reason: String::new(),
        }
    }
}

/// SuppressionList: no parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressionListRequest {}

/// The result of SuppressionList.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionListResult {
    /// The account's suppressions.
    #[serde(rename = "Suppressions", default, deserialize_with = "null_default")]
    pub suppressions: Vec<Suppression>,
}

/// SuppressionAdd: suppress an address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SuppressionAddRequest {
    /// The address.
    #[serde(rename = "EmailAddress")]
    pub email_address: String,
    /// Whether a person (rather than a failure) adds it.
    #[serde(rename = "Manual")]
    pub manual: bool,
    /// Why.
    #[serde(rename = "Reason")]
    pub reason: String,
}

/// SuppressionRemove: stop suppressing an address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SuppressionRemoveRequest {
    /// The address.
    #[serde(rename = "EmailAddress")]
    pub email_address: String,
}

/// SuppressionPresent: whether an address is suppressed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SuppressionPresentRequest {
    /// The address.
    #[serde(rename = "EmailAddress")]
    pub email_address: String,
}

/// The result of SuppressionPresent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionPresentResult {
    /// Whether the address (by base address) is suppressed.
    #[serde(rename = "Present", default)]
    pub present: bool,
}

/// SuppressionCheck: whether each address is suppressed (Postel).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SuppressionCheckRequest {
    /// The addresses.
    #[serde(rename = "Addresses", deserialize_with = "null_default")]
    pub addresses: Vec<String>,
}

/// One address of a SuppressionCheck.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionCheckItem {
    /// The address as asked.
    #[serde(rename = "Address", default)]
    pub address: String,
    /// Whether it is suppressed.
    #[serde(rename = "Suppressed", default)]
    pub suppressed: bool,
    /// The suppression's reason, or "".
    #[serde(rename = "Reason", default)]
    pub reason: String,
    /// When it was suppressed.
    #[serde(rename = "Created", default, with = "crate::time::option")]
    pub created: Option<SystemTime>,
}

/// The result of SuppressionCheck, in request order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionCheckResult {
    /// One entry per address.
    #[serde(rename = "Results", default, deserialize_with = "null_default")]
    pub results: Vec<SuppressionCheckItem>,
}

/// A parsed message: envelope headers and bodies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// From addresses.
    #[serde(rename = "From", default, deserialize_with = "null_default")]
    pub from: Vec<NameAddress>,
    /// To addresses.
    #[serde(rename = "To", default, deserialize_with = "null_default")]
    pub to: Vec<NameAddress>,
    /// Cc addresses.
    #[serde(rename = "CC", default, deserialize_with = "null_default")]
    pub cc: Vec<NameAddress>,
    /// Bcc addresses.
    #[serde(rename = "BCC", default, deserialize_with = "null_default")]
    pub bcc: Vec<NameAddress>,
    /// Reply-To addresses.
    #[serde(rename = "ReplyTo", default, deserialize_with = "null_default")]
    pub reply_to: Vec<NameAddress>,
    /// Message-ID with `<>`.
    #[serde(rename = "MessageID", default)]
    pub message_id: String,
    /// References, oldest first, with In-Reply-To prepended if it was absent.
    #[serde(rename = "References", default, deserialize_with = "null_default")]
    pub references: Vec<String>,
    /// The Date header, if valid.
    #[serde(rename = "Date", default, with = "crate::time::option")]
    pub date: Option<SystemTime>,
    /// Decoded Subject.
    #[serde(rename = "Subject", default)]
    pub subject: String,
    /// First text/plain part, LF line ends, at most 1 MiB.
    #[serde(rename = "Text", default)]
    pub text: String,
    /// First text/html part, LF line ends, at most 1 MiB.
    #[serde(rename = "HTML", default)]
    pub html: String,
}

/// MessageGet, MessageRawGet, MessageDelete: one stored message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessageGetRequest {
    /// Mailbox message id.
    #[serde(rename = "MsgID")]
    pub msg_id: i64,
}

/// MessageRawGet request (same shape as MessageGet).
pub type MessageRawGetRequest = MessageGetRequest;
/// MessageDelete request (same shape as MessageGet).
pub type MessageDeleteRequest = MessageGetRequest;

/// Stored facts about a message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// Size in bytes.
    #[serde(rename = "Size", default)]
    pub size: i64,
    /// Whether it is a DSN (generated or received).
    #[serde(rename = "DSN", default)]
    pub dsn: bool,
    /// System flags (lowercase, e.g. `\seen`) and keywords.
    #[serde(rename = "Flags", default, deserialize_with = "null_default")]
    pub flags: Vec<String>,
    /// SMTP MAIL FROM, or "".
    #[serde(rename = "MailFrom", default)]
    pub mail_from: String,
    /// Whether MAIL FROM was validated (false until mail authentication exists).
    #[serde(rename = "MailFromValidated", default)]
    pub mail_from_validated: bool,
    /// SMTP RCPT TO, or "".
    #[serde(rename = "RcptTo", default)]
    pub rcpt_to: String,
    /// The message From address.
    #[serde(rename = "MsgFrom", default)]
    pub msg_from: String,
    /// Whether the From was validated (false until mail authentication exists).
    #[serde(rename = "MsgFromValidated", default)]
    pub msg_from_validated: bool,
    /// DKIM-verified domains (empty until mail authentication exists).
    #[serde(
        rename = "DKIMVerifiedDomains",
        default,
        deserialize_with = "null_default"
    )]
    pub dkim_verified_domains: Vec<String>,
    /// IP of the SMTP client, or "".
    #[serde(rename = "RemoteIP", default)]
    pub remote_ip: String,
    /// The mailbox holding it.
    #[serde(rename = "MailboxName", default)]
    pub mailbox_name: String,
}

/// The result of MessageGet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageGetResult {
    /// Parsed headers and bodies.
    #[serde(rename = "Message", default)]
    pub message: Message,
    /// MIME structure.
    #[serde(rename = "Structure", default)]
    pub structure: Structure,
    /// Stored facts.
    #[serde(rename = "Meta", default)]
    pub meta: MessageMeta,
}

/// MessagePartGet: one decoded part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessagePartGetRequest {
    /// Mailbox message id.
    #[serde(rename = "MsgID")]
    pub msg_id: i64,
    /// Indexes into `Parts`, from the top-level body; empty = the body itself.
    #[serde(rename = "PartPath", deserialize_with = "null_default")]
    pub part_path: Vec<u32>,
}

/// MessageFlagsAdd / MessageFlagsRemove.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessageFlagsRequest {
    /// Mailbox message id.
    #[serde(rename = "MsgID")]
    pub msg_id: i64,
    /// System flags (`\Seen`, ...) and keywords.
    #[serde(rename = "Flags", deserialize_with = "null_default")]
    pub flags: Vec<String>,
}

/// MessageFlagsAdd request.
pub type MessageFlagsAddRequest = MessageFlagsRequest;
/// MessageFlagsRemove request.
pub type MessageFlagsRemoveRequest = MessageFlagsRequest;

/// MessageMove.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessageMoveRequest {
    /// Mailbox message id.
    #[serde(rename = "MsgID")]
    pub msg_id: i64,
    /// An existing mailbox of the account.
    #[serde(rename = "DestMailboxName")]
    pub dest_mailbox_name: String,
}

/// MessageList: one page of a mailbox, newest first (Postel).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessageListRequest {
    /// The mailbox; "" means "Inbox".
    #[serde(rename = "MailboxName")]
    pub mailbox_name: String,
    /// Page size; 0 means 50 (at most 1000).
    #[serde(rename = "Limit")]
    pub limit: u32,
    /// `NextCursor` of the previous page; "" for the first page.
    #[serde(rename = "Cursor")]
    pub cursor: String,
}

/// One message in a MessageList page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageListItem {
    /// Mailbox message id.
    #[serde(rename = "MsgID", default)]
    pub msg_id: i64,
    /// When it was stored.
    #[serde(rename = "Received", with = "crate::time")]
    pub received: SystemTime,
    /// Size in bytes.
    #[serde(rename = "Size", default)]
    pub size: i64,
    /// Flags.
    #[serde(rename = "Flags", default, deserialize_with = "null_default")]
    pub flags: Vec<String>,
    /// Whether it is a DSN.
    #[serde(rename = "DSN", default)]
    pub dsn: bool,
    /// Message-ID with `<>`, or "".
    #[serde(rename = "MessageID", default)]
    pub message_id: String,
    /// Decoded Subject.
    #[serde(rename = "Subject", default)]
    pub subject: String,
    /// The message From address.
    #[serde(rename = "MsgFrom", default)]
    pub msg_from: String,
}

impl Default for MessageListItem {
    fn default() -> Self {
        MessageListItem {
            msg_id: 0,
            received: UNIX_EPOCH,
            size: 0,
            flags: Vec::new(),
            dsn: false,
            message_id: String::new(),
            subject: String::new(),
            msg_from: String::new(),
        }
    }
}

/// The result of MessageList.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageListResult {
    /// The page.
    #[serde(rename = "Messages", default, deserialize_with = "null_default")]
    pub messages: Vec<MessageListItem>,
    /// Cursor for the next page; "" when this was the last.
    #[serde(rename = "NextCursor", default)]
    pub next_cursor: String,
}

/// The empty result of methods that only succeed or fail.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// MessageStatus: the timeline of sent messages (Postel). Give one of the two.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessageStatusRequest {
    /// Queue message id from Send; 0 = unset.
    #[serde(rename = "QueueMsgID")]
    pub queue_msg_id: i64,
    /// Message-ID with `<>`; all recipients of that message.
    #[serde(rename = "MessageID")]
    pub message_id: String,
}

/// One delivery attempt of a queued message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptStatus {
    /// When the attempt started.
    #[serde(rename = "Start", with = "crate::time")]
    pub start: SystemTime,
    /// How long it took, milliseconds.
    #[serde(rename = "DurationMs", default)]
    pub duration_ms: i64,
    /// Whether it delivered.
    #[serde(rename = "Success", default)]
    pub success: bool,
    /// The MX host tried last.
    #[serde(rename = "MXHost", default)]
    pub mx_host: String,
    /// The IP address connected to.
    #[serde(rename = "IP", default)]
    pub ip: String,
    /// TLS version, or "".
    #[serde(rename = "TLSVersion", default)]
    pub tls_version: String,
    /// TLS cipher suite, or "".
    #[serde(rename = "TLSCipher", default)]
    pub tls_cipher: String,
    /// How the certificate was checked (pkix, dane, none, ...), or "".
    #[serde(rename = "TLSVerification", default)]
    pub tls_verification: String,
    /// The SMTP reply code, 0 if none.
    #[serde(rename = "SMTPCode", default)]
    pub smtp_code: u16,
    /// The enhanced status code, or "".
    #[serde(rename = "SMTPEnhancedCode", default)]
    pub smtp_enhanced_code: String,
    /// The reply's text lines.
    #[serde(rename = "Lines", default, deserialize_with = "null_default")]
    pub lines: Vec<String>,
    /// The failure class (e.g. "transient", "permanent", "dns"), or "".
    #[serde(rename = "FailureClass", default)]
    pub failure_class: String,
    /// Error text, or "".
    #[serde(rename = "Error", default)]
    pub error: String,
}

impl Default for AttemptStatus {
    fn default() -> Self {
        AttemptStatus {
            start: UNIX_EPOCH,
            duration_ms: 0,
            success: false,
            mx_host: String::new(),
            ip: String::new(),
            tls_version: String::new(),
            tls_cipher: String::new(),
            tls_verification: String::new(),
            smtp_code: 0,
            smtp_enhanced_code: String::new(),
            lines: Vec::new(),
            failure_class: String::new(),
            error: String::new(),
        }
    }
}

/// One delivery attempt of a webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookAttempt {
    /// When the attempt started.
    #[serde(rename = "Start", with = "crate::time")]
    pub start: SystemTime,
    /// How long it took, milliseconds.
    #[serde(rename = "DurationMs", default)]
    pub duration_ms: i64,
    /// The URL posted to.
    #[serde(rename = "URL", default)]
    pub url: String,
    /// Whether the endpoint answered 2xx.
    #[serde(rename = "Success", default)]
    pub success: bool,
    /// HTTP status, 0 if no response.
    #[serde(rename = "Code", default)]
    pub code: u16,
    /// Error text, or "".
    #[serde(rename = "Error", default)]
    pub error: String,
    /// The start of the response body (at most 512 bytes).
    #[serde(rename = "Response", default)]
    pub response: String,
}

impl Default for HookAttempt {
    fn default() -> Self {
        HookAttempt {
            start: UNIX_EPOCH,
            duration_ms: 0,
            url: String::new(),
            success: false,
            code: 0,
            error: String::new(),
            response: String::new(),
        }
    }
}

/// A webhook, pending or retired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookInfo {
    /// Webhook id (the `webhook-id` header is derived from it).
    #[serde(rename = "ID", default)]
    pub id: i64,
    /// The endpoint it is for.
    #[serde(rename = "EndpointID", default)]
    pub endpoint_id: String,
    /// The queue message it reports on; 0 for incoming.
    #[serde(rename = "QueueMsgID", default)]
    pub queue_msg_id: i64,
    /// The outgoing event name, or "incoming".
    #[serde(rename = "Event", default)]
    pub event: String,
    /// The URL, fixed when queued.
    #[serde(rename = "URL", default)]
    pub url: String,
    /// When it was queued.
    #[serde(rename = "Submitted", with = "crate::time")]
    pub submitted: SystemTime,
    /// Attempts so far.
    #[serde(rename = "Attempts", default)]
    pub attempts: u32,
    /// The next attempt, when pending.
    #[serde(rename = "NextAttempt", default, with = "crate::time::option")]
    pub next_attempt: Option<SystemTime>,
    /// `null` while pending; then whether it was delivered.
    #[serde(rename = "Success", default)]
    pub success: Option<bool>,
    /// The newer webhook that superseded this one, or 0.
    #[serde(rename = "SupersededByID", default)]
    pub superseded_by_id: i64,
    /// The webhook this one replays, or 0.
    #[serde(rename = "ReplayOfID", default)]
    pub replay_of_id: i64,
    /// Attempts, oldest first.
    #[serde(rename = "Results", default, deserialize_with = "null_default")]
    pub results: Vec<HookAttempt>,
}

impl Default for HookInfo {
    fn default() -> Self {
        HookInfo {
            id: 0,
            endpoint_id: String::new(),
            queue_msg_id: 0,
            event: String::new(),
            url: String::new(),
            submitted: UNIX_EPOCH,
            attempts: 0,
            next_attempt: None,
            success: None,
            superseded_by_id: 0,
            replay_of_id: 0,
            results: Vec::new(),
        }
    }
}

/// The timeline of one queued recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageStatus {
    /// Queue message id.
    #[serde(rename = "QueueMsgID", default)]
    pub queue_msg_id: i64,
    /// Id shared by the recipients of one submission.
    #[serde(rename = "BaseID", default)]
    pub base_id: i64,
    /// The unique part of the MAIL FROM address.
    #[serde(rename = "FromID", default)]
    pub from_id: String,
    /// The recipient.
    #[serde(rename = "Recipient", default)]
    pub recipient: String,
    /// Message-ID with `<>`.
    #[serde(rename = "MessageID", default)]
    pub message_id: String,
    /// Subject.
    #[serde(rename = "Subject", default)]
    pub subject: String,
    /// When it was queued.
    #[serde(rename = "Queued", with = "crate::time")]
    pub queued: SystemTime,
    /// queued, held, delivered, failed, canceled or suppressed.
    #[serde(rename = "State", default)]
    pub state: String,
    /// Attempts so far.
    #[serde(rename = "Attempts", default)]
    pub attempts: u32,
    /// Attempts allowed before failing.
    #[serde(rename = "MaxAttempts", default)]
    pub max_attempts: u32,
    /// The next attempt, while queued.
    #[serde(rename = "NextAttempt", default, with = "crate::time::option")]
    pub next_attempt: Option<SystemTime>,
    /// The last attempt, if any.
    #[serde(rename = "LastAttempt", default, with = "crate::time::option")]
    pub last_attempt: Option<SystemTime>,
    /// Attempts and DSN results, oldest first.
    #[serde(rename = "Results", default, deserialize_with = "null_default")]
    pub results: Vec<AttemptStatus>,
    /// Webhooks about it, pending and retired.
    #[serde(rename = "Events", default, deserialize_with = "null_default")]
    pub events: Vec<HookInfo>,
}

impl Default for MessageStatus {
    fn default() -> Self {
        MessageStatus {
            queue_msg_id: 0,
            base_id: 0,
            from_id: String::new(),
            recipient: String::new(),
            message_id: String::new(),
            subject: String::new(),
            queued: UNIX_EPOCH,
            state: String::new(),
            attempts: 0,
            max_attempts: 0,
            next_attempt: None,
            last_attempt: None,
            results: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// The result of MessageStatus.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageStatusResult {
    /// One entry per recipient.
    #[serde(rename = "Messages", default, deserialize_with = "null_default")]
    pub messages: Vec<MessageStatus>,
}

/// HookList (Postel).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HookListRequest {
    /// List retired webhooks instead of pending ones.
    #[serde(rename = "Retired")]
    pub retired: bool,
    /// Page size; 0 means 100.
    #[serde(rename = "Limit")]
    pub limit: u32,
    /// Only webhooks with a larger ID (paging); 0 for the first page.
    #[serde(rename = "AfterID")]
    pub after_id: i64,
}

/// The result of HookList.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookListResult {
    /// The webhooks.
    #[serde(rename = "Hooks", default, deserialize_with = "null_default")]
    pub hooks: Vec<HookInfo>,
}

/// HookRetry, HookCancel and HookReplay: one webhook by id (Postel).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HookIdRequest {
    /// Webhook id.
    #[serde(rename = "ID")]
    pub id: i64,
}

/// HookRetry request.
pub type HookRetryRequest = HookIdRequest;
/// HookCancel request.
pub type HookCancelRequest = HookIdRequest;
/// HookReplay request.
pub type HookReplayRequest = HookIdRequest;

/// The result of HookReplay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookReplayResult {
    /// The new webhook's id.
    #[serde(rename = "ID", default)]
    pub id: i64,
}

/// WebhookTest (Postel).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookTestRequest {
    /// The endpoint; "" means the account's first.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The sample event ("delivered" when ""; "incoming" for an incoming payload).
    #[serde(rename = "Event")]
    pub event: String,
}

/// The result of WebhookTest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTestResult {
    /// The endpoint's HTTP status, 0 if none.
    #[serde(rename = "StatusCode", default)]
    pub status_code: u16,
    /// Error text, or "".
    #[serde(rename = "Error", default)]
    pub error: String,
    /// The start of the response body.
    #[serde(rename = "Response", default)]
    pub response: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_request_defaults_absent_and_null_fields() {
        let req: SendRequest = serde_json::from_str(
            r#"{"To":[{"Address":"b@example.org"}],"CC":null,"Text":"t","RequireTLS":false,"FutureRelease":"2024-03-01T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(req.to, vec![NameAddress::new("", "b@example.org")]);
        assert!(req.cc.is_empty());
        assert_eq!(req.require_tls, Some(false));
        assert_eq!(
            req.future_release,
            Some(UNIX_EPOCH + std::time::Duration::from_secs(1_709_287_200))
        );
        assert!(!req.refuse_suppressed);
    }

    #[test]
    fn requests_reject_unknown_fields() {
        let err = serde_json::from_str::<SendRequest>(r#"{"Bogus":1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `Bogus`"), "{err}");
        assert!(serde_json::from_str::<SuppressionListRequest>(r#"{"x":1}"#).is_err());
        assert!(serde_json::from_str::<File>(r#"{"Data":"","Size":1}"#).is_err());
        assert!(serde_json::from_str::<SendBatchRequest>(r#"{"Messages":[{"Nope":1}]}"#).is_err());
    }

    #[test]
    fn empty_responses_write_empty_lists_not_null() {
        assert_eq!(
            serde_json::to_string(&SendResult::default()).unwrap(),
            r#"{"MessageID":"","Submissions":[]}"#
        );
        assert_eq!(serde_json::to_string(&Empty {}).unwrap(), "{}");
        assert_eq!(
            serde_json::to_string(&MessageGetResult::default()).unwrap(),
            concat!(
                r#"{"Message":{"From":[],"To":[],"CC":[],"BCC":[],"ReplyTo":[],"MessageID":"","#,
                r#""References":[],"Date":null,"Subject":"","Text":"","HTML":""},"#,
                r#""Structure":{"ContentType":"","ContentTypeParams":{},"ContentID":"","#,
                r#""ContentDisposition":"","Filename":"","DecodedSize":0,"Parts":[]},"#,
                r#""Meta":{"Size":0,"DSN":false,"Flags":[],"MailFrom":"","MailFromValidated":false,"#,
                r#""RcptTo":"","MsgFrom":"","MsgFromValidated":false,"DKIMVerifiedDomains":[],"#,
                r#""RemoteIP":"","MailboxName":""}}"#
            )
        );
        assert_eq!(
            serde_json::to_string(&HookInfo::default()).unwrap(),
            concat!(
                r#"{"ID":0,"EndpointID":"","QueueMsgID":0,"Event":"","URL":"","#,
                r#""Submitted":"1970-01-01T00:00:00Z","Attempts":0,"NextAttempt":null,"#,
                r#""Success":null,"SupersededByID":0,"ReplayOfID":0,"Results":[]}"#
            )
        );
    }

    #[test]
    fn methods_parse_by_exact_name() {
        for m in Method::all() {
            assert_eq!(Method::parse(m.as_str()), Some(*m));
        }
        assert_eq!(Method::all().len(), 21);
        assert_eq!(Method::parse("send"), None);
        assert!(Method::MessageRawGet.is_raw() && !Method::MessageGet.is_raw());
    }
}
