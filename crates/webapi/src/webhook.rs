//! Webhook payloads: what Postel posts to an application's endpoint.
//!
//! [`Outgoing`] reports what happened to a message sent through the queue
//! (the reference's payload plus `BounceReason`, `HardBounce`, `Sequence` and
//! `DSNMsgID`); [`Incoming`] carries a message that arrived for the account.
//! Field names on the wire are exactly the reference's; lists are `[]` and
//! maps `{}`, never `null`.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use webapi::webhook::{Outgoing, OutgoingEvent};
//!
//! let hook = Outgoing {
//!     event: OutgoingEvent::Delivered,
//!     queue_msg_id: 12,
//!     message_id: "<a@example.org>".into(),
//!     webhook_queued: UNIX_EPOCH + Duration::from_secs(1_709_287_200),
//!     sequence: 1,
//!     ..Outgoing::default()
//! };
//! let json = serde_json::to_value(&hook).unwrap();
//! assert_eq!(json["Event"], "delivered");
//! assert_eq!(json["WebhookQueued"], "2024-03-01T10:00:00Z");
//! assert_eq!(json["Extra"], serde_json::json!({}));
//! ```

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize};

/// What happened to an outgoing message.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OutgoingEvent {
    /// Accepted by the next hop.
    #[default]
    Delivered,
    /// Not attempted: the recipient is on the suppression list.
    Suppressed,
    /// A temporary failure; delivery will be retried.
    Delayed,
    /// A permanent failure, or retries ran out.
    Failed,
    /// A DSN said the message was relayed to a system that sends no DSNs.
    Relayed,
    /// A DSN said the message was expanded (e.g. to a list).
    Expanded,
    /// An administrator removed the message from the queue.
    Canceled,
    /// Mail at a fromid address that could not be read as a DSN.
    Unrecognized,
}

impl OutgoingEvent {
    /// Every event, in declaration order.
    pub const ALL: [OutgoingEvent; 8] = [
        OutgoingEvent::Delivered,
        OutgoingEvent::Suppressed,
        OutgoingEvent::Delayed,
        OutgoingEvent::Failed,
        OutgoingEvent::Relayed,
        OutgoingEvent::Expanded,
        OutgoingEvent::Canceled,
        OutgoingEvent::Unrecognized,
    ];

    /// The wire name, e.g. `"delivered"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            OutgoingEvent::Delivered => "delivered",
            OutgoingEvent::Suppressed => "suppressed",
            OutgoingEvent::Delayed => "delayed",
            OutgoingEvent::Failed => "failed",
            OutgoingEvent::Relayed => "relayed",
            OutgoingEvent::Expanded => "expanded",
            OutgoingEvent::Canceled => "canceled",
            OutgoingEvent::Unrecognized => "unrecognized",
        }
    }

    /// The event for a wire name (exact, lowercase).
    pub fn parse(s: &str) -> Option<OutgoingEvent> {
        OutgoingEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Whether this is a final outcome: everything except `delayed`.
    pub fn is_final(&self) -> bool {
        *self != OutgoingEvent::Delayed
    }
}

impl std::fmt::Display for OutgoingEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads `null` as the type's default, so payloads written by Go (nil lists)
/// still decode.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The payload of an outgoing-message webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// Payload version, always 0.
    #[serde(rename = "Version", default)]
    pub version: u32,
    /// What happened.
    #[serde(rename = "Event")]
    pub event: OutgoingEvent,
    /// Whether an incoming DSN caused this event.
    #[serde(rename = "DSN", default)]
    pub dsn: bool,
    /// Whether this failure added the recipient to the suppression list.
    #[serde(rename = "Suppressing", default)]
    pub suppressing: bool,
    /// The queue message id (one per recipient), as returned by Send.
    #[serde(rename = "QueueMsgID", default)]
    pub queue_msg_id: i64,
    /// The unique part of the MAIL FROM address, or "".
    #[serde(rename = "FromID", default)]
    pub from_id: String,
    /// The Message-ID of the sent message, with `<>`.
    #[serde(rename = "MessageID", default)]
    pub message_id: String,
    /// The Subject of the sent message.
    #[serde(rename = "Subject", default)]
    pub subject: String,
    /// When this webhook was queued.
    #[serde(rename = "WebhookQueued", with = "crate::time")]
    pub webhook_queued: SystemTime,
    /// The SMTP reply code of a failure; 0 for `delivered` from the queue.
    #[serde(rename = "SMTPCode", default)]
    pub smtp_code: u16,
    /// The enhanced status code of a failure, e.g. "5.1.1", or "".
    #[serde(rename = "SMTPEnhancedCode", default)]
    pub smtp_enhanced_code: String,
    /// The last attempt's error text.
    #[serde(rename = "Error", default)]
    pub error: String,
    /// The Extra values given with Send.
    #[serde(rename = "Extra", default, deserialize_with = "null_default")]
    pub extra: BTreeMap<String, String>,
    /// Why delivery failed or was delayed ("" otherwise): userUnknown,
    /// mailboxFull, policy, hostUnknown, expired, tooLarge, security, other.
    #[serde(rename = "BounceReason", default)]
    pub bounce_reason: String,
    /// Whether the failure is permanent and the address itself is bad.
    #[serde(rename = "HardBounce", default)]
    pub hard_bounce: bool,
    /// Position of this event among the events of the same QueueMsgID, from 1.
    #[serde(rename = "Sequence", default)]
    pub sequence: u64,
    /// Mailbox message id of the DSN written for this event, 0 if none.
    #[serde(rename = "DSNMsgID", default)]
    pub dsn_msg_id: i64,
}

impl Default for Outgoing {
    fn default() -> Self {
        Outgoing {
            version: 0,
            event: OutgoingEvent::Delivered,
            dsn: false,
            suppressing: false,
            queue_msg_id: 0,
            from_id: String::new(),
            message_id: String::new(),
            subject: String::new(),
            webhook_queued: UNIX_EPOCH,
            smtp_code: 0,
            smtp_enhanced_code: String::new(),
            error: String::new(),
            extra: BTreeMap::new(),
            bounce_reason: String::new(),
            hard_bounce: false,
            sequence: 0,
            dsn_msg_id: 0,
        }
    }
}

/// A display name and an email address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NameAddress {
    /// Display name, may be "".
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The address, e.g. "user@example.org".
    #[serde(rename = "Address", default)]
    pub address: String,
}

impl NameAddress {
    /// A name and an address.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> NameAddress {
        NameAddress {
            name: name.into(),
            address: address.into(),
        }
    }
}

/// The MIME structure of a message: one part and its subparts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Structure {
    /// Lowercase media type, e.g. "text/plain" or "multipart/mixed".
    #[serde(rename = "ContentType", default)]
    pub content_type: String,
    /// Content-Type parameters, lowercase names (charset, boundary, ...).
    #[serde(
        rename = "ContentTypeParams",
        default,
        deserialize_with = "null_default"
    )]
    pub content_type_params: BTreeMap<String, String>,
    /// Content-ID, with `<>` as in the header, or "".
    #[serde(rename = "ContentID", default)]
    pub content_id: String,
    /// Lowercase disposition without parameters ("inline", "attachment") or "".
    #[serde(rename = "ContentDisposition", default)]
    pub content_disposition: String,
    /// The filename from the disposition or the content type's name, or "".
    #[serde(rename = "Filename", default)]
    pub filename: String,
    /// Size of the part's body after transfer decoding (0 for multiparts).
    #[serde(rename = "DecodedSize", default)]
    pub decoded_size: i64,
    /// Subparts of a multipart (a message/rfc822 part is a leaf, as in the reference).
    #[serde(rename = "Parts", default, deserialize_with = "null_default")]
    pub parts: Vec<Structure>,
}

/// Delivery facts of an incoming message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingMeta {
    /// Mailbox message id, for MessageGet and the other message methods.
    #[serde(rename = "MsgID", default)]
    pub msg_id: i64,
    /// The SMTP MAIL FROM address, "" for a null reverse path.
    #[serde(rename = "MailFrom", default)]
    pub mail_from: String,
    /// Whether SPF validated MAIL FROM; false until mail authentication exists.
    #[serde(rename = "MailFromValidated", default)]
    pub mail_from_validated: bool,
    /// Whether the message From was validated (DMARC-like); false until mail
    /// authentication exists.
    #[serde(rename = "MsgFromValidated", default)]
    pub msg_from_validated: bool,
    /// The SMTP RCPT TO address this copy was delivered for.
    #[serde(rename = "RcptTo", default)]
    pub rcpt_to: String,
    /// Domains with a valid DKIM signature; empty until mail authentication exists.
    #[serde(
        rename = "DKIMVerifiedDomains",
        default,
        deserialize_with = "null_default"
    )]
    pub dkim_verified_domains: Vec<String>,
    /// The IP address of the sending SMTP client.
    #[serde(rename = "RemoteIP", default)]
    pub remote_ip: String,
    /// When the message was received.
    #[serde(rename = "Received", with = "crate::time")]
    pub received: SystemTime,
    /// The mailbox the message was delivered to, e.g. "Inbox".
    #[serde(rename = "MailboxName", default)]
    pub mailbox_name: String,
    /// Whether the message looks automated (see [`is_automated`]).
    #[serde(rename = "Automated", default)]
    pub automated: bool,
}

impl Default for IncomingMeta {
    fn default() -> Self {
        IncomingMeta {
            msg_id: 0,
            mail_from: String::new(),
            mail_from_validated: false,
            msg_from_validated: false,
            rcpt_to: String::new(),
            dkim_verified_domains: Vec::new(),
            remote_ip: String::new(),
            received: UNIX_EPOCH,
            mailbox_name: String::new(),
            automated: false,
        }
    }
}

/// The payload of an incoming-message webhook.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    /// Payload version, always 0.
    #[serde(rename = "Version", default)]
    pub version: u32,
    /// From header addresses.
    #[serde(rename = "From", default, deserialize_with = "null_default")]
    pub from: Vec<NameAddress>,
    /// To header addresses.
    #[serde(rename = "To", default, deserialize_with = "null_default")]
    pub to: Vec<NameAddress>,
    /// Cc header addresses.
    #[serde(rename = "CC", default, deserialize_with = "null_default")]
    pub cc: Vec<NameAddress>,
    /// Bcc header addresses.
    #[serde(rename = "BCC", default, deserialize_with = "null_default")]
    pub bcc: Vec<NameAddress>,
    /// Reply-To header addresses.
    #[serde(rename = "ReplyTo", default, deserialize_with = "null_default")]
    pub reply_to: Vec<NameAddress>,
    /// Decoded Subject.
    #[serde(rename = "Subject", default)]
    pub subject: String,
    /// Message-ID with `<>`, or "".
    #[serde(rename = "MessageID", default)]
    pub message_id: String,
    /// In-Reply-To with `<>`, or "".
    #[serde(rename = "InReplyTo", default)]
    pub in_reply_to: String,
    /// Message-IDs of the References header, with `<>`.
    #[serde(rename = "References", default, deserialize_with = "null_default")]
    pub references: Vec<String>,
    /// The Date header, if present and valid.
    #[serde(rename = "Date", default, with = "crate::time::option")]
    pub date: Option<SystemTime>,
    /// The first text/plain part, LF line ends, at most 1 MiB.
    #[serde(rename = "Text", default)]
    pub text: String,
    /// The first text/html part, LF line ends, at most 1 MiB.
    #[serde(rename = "HTML", default)]
    pub html: String,
    /// The MIME structure.
    #[serde(rename = "Structure", default)]
    pub structure: Structure,
    /// Delivery facts.
    #[serde(rename = "Meta", default)]
    pub meta: IncomingMeta,
}

/// Builds the incoming-webhook payload for a received message: headers,
/// bodies and structure parsed from `raw` (see [`crate::mime::parse`]),
/// delivery facts from `meta` as given (the caller sets `meta.automated`,
/// e.g. with [`is_automated`]).
///
/// ```
/// use webapi::webhook::{incoming_from_message, IncomingMeta};
///
/// let raw = b"From: ann@example.org\r\nSubject: hi\r\nIn-Reply-To: <a@x>\r\n\r\nhello\r\n";
/// let inc = incoming_from_message(raw, IncomingMeta { msg_id: 3, ..IncomingMeta::default() });
/// assert_eq!(inc.from[0].address, "ann@example.org");
/// assert_eq!(inc.in_reply_to, "<a@x>");
/// assert_eq!(inc.references, Vec::<String>::new());
/// assert_eq!(inc.text, "hello\n");
/// assert_eq!(inc.meta.msg_id, 3);
/// ```
pub fn incoming_from_message(raw: &[u8], meta: IncomingMeta) -> Incoming {
    // The webhook carries References as written; MessageGet's prepending of
    // In-Reply-To does not apply here.
    let crate::mime::Parsed {
        message: m,
        structure,
        in_reply_to,
    } = crate::mime::parse_parts(raw);
    Incoming {
        version: 0,
        from: m.from,
        to: m.to,
        cc: m.cc,
        bcc: m.bcc,
        reply_to: m.reply_to,
        subject: m.subject,
        message_id: m.message_id,
        in_reply_to,
        references: m.references,
        date: m.date,
        text: m.text,
        html: m.html,
        structure,
        meta,
    }
}

/// Whether a received message is automated mail, the reference's rule: an
/// empty MAIL FROM, any of the headers List-Id, List-Unsubscribe,
/// List-Unsubscribe-Post or Precedence, an Auto-Submitted header other than
/// "no", or a multipart/report message.
///
/// ```
/// let list = b"From: a@example.org\r\nList-Id: <x.example.org>\r\n\r\nhi\r\n";
/// assert!(webapi::webhook::is_automated(list, false));
/// let person = b"From: a@example.org\r\nAuto-Submitted: no\r\n\r\nhi\r\n";
/// assert!(!webapi::webhook::is_automated(person, false));
/// assert!(webapi::webhook::is_automated(person, true));
/// ```
pub fn is_automated(raw: &[u8], mail_from_empty: bool) -> bool {
    if mail_from_empty {
        return true;
    }
    let mut content_type = None;
    for (name, value) in crate::headers::top_headers(raw) {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "list-id" | "list-unsubscribe" | "list-unsubscribe-post" | "precedence" => return true,
            "auto-submitted" => {
                let v = String::from_utf8_lossy(&value);
                let v = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                if v != "no" {
                    return true;
                }
            }
            "content-type" if content_type.is_none() => content_type = Some(value),
            _ => {}
        }
    }
    content_type.is_some_and(|v| {
        let v = String::from_utf8_lossy(&v);
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("multipart/report")
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn outgoing_json_has_declared_field_order_and_empty_extra() {
        let hook = Outgoing {
            event: OutgoingEvent::Failed,
            dsn: true,
            suppressing: true,
            queue_msg_id: 101,
            from_id: "abc".into(),
            message_id: "<m1@example.org>".into(),
            subject: "hi".into(),
            webhook_queued: UNIX_EPOCH + Duration::new(1_709_287_200, 123_456_000),
            smtp_code: 550,
            smtp_enhanced_code: "5.1.1".into(),
            bounce_reason: "userUnknown".into(),
            hard_bounce: true,
            sequence: 2,
            dsn_msg_id: 7,
            ..Outgoing::default()
        };
        assert_eq!(
            serde_json::to_string(&hook).unwrap(),
            concat!(
                r#"{"Version":0,"Event":"failed","DSN":true,"Suppressing":true,"QueueMsgID":101,"#,
                r#""FromID":"abc","MessageID":"<m1@example.org>","Subject":"hi","#,
                r#""WebhookQueued":"2024-03-01T10:00:00.123456Z","SMTPCode":550,"#,
                r#""SMTPEnhancedCode":"5.1.1","Error":"","Extra":{},"BounceReason":"userUnknown","#,
                r#""HardBounce":true,"Sequence":2,"DSNMsgID":7}"#
            )
        );
        let back: Outgoing = serde_json::from_str(&serde_json::to_string(&hook).unwrap()).unwrap();
        assert_eq!(back, hook);
    }

    #[test]
    fn incoming_json_never_has_null_lists_or_maps() {
        let inc = Incoming {
            from: vec![NameAddress::new("Ann", "ann@example.org")],
            subject: "s".into(),
            date: None,
            structure: Structure {
                content_type: "text/plain".into(),
                decoded_size: 3,
                ..Structure::default()
            },
            meta: IncomingMeta {
                msg_id: 5,
                received: UNIX_EPOCH + Duration::from_secs(1_709_287_200),
                mailbox_name: "Inbox".into(),
                ..IncomingMeta::default()
            },
            ..Incoming::default()
        };
        assert_eq!(
            serde_json::to_string(&inc).unwrap(),
            concat!(
                r#"{"Version":0,"From":[{"Name":"Ann","Address":"ann@example.org"}],"To":[],"CC":[],"#,
                r#""BCC":[],"ReplyTo":[],"Subject":"s","MessageID":"","InReplyTo":"","References":[],"#,
                r#""Date":null,"Text":"","HTML":"","Structure":{"ContentType":"text/plain","#,
                r#""ContentTypeParams":{},"ContentID":"","ContentDisposition":"","Filename":"","#,
                r#""DecodedSize":3,"Parts":[]},"Meta":{"MsgID":5,"MailFrom":"","#,
                r#""MailFromValidated":false,"MsgFromValidated":false,"RcptTo":"","#,
                r#""DKIMVerifiedDomains":[],"RemoteIP":"","Received":"2024-03-01T10:00:00Z","#,
                r#""MailboxName":"Inbox","Automated":false}}"#
            )
        );
    }

    #[test]
    fn go_null_lists_decode_as_empty() {
        let inc: Incoming = serde_json::from_str(
            r#"{"From":null,"References":null,"Structure":{"ContentTypeParams":null,"Parts":null},"Meta":{"Received":"2024-03-01T10:00:00Z","DKIMVerifiedDomains":null}}"#,
        )
        .unwrap();
        assert!(inc.from.is_empty() && inc.references.is_empty());
    }

    #[test]
    fn events_parse_and_only_delayed_is_not_final() {
        for e in OutgoingEvent::ALL {
            assert_eq!(OutgoingEvent::parse(e.as_str()), Some(e));
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.as_str())
            );
            assert_eq!(e.is_final(), e != OutgoingEvent::Delayed);
        }
        assert_eq!(OutgoingEvent::parse("Delivered"), None);
    }

    #[test]
    fn incoming_from_message_keeps_references_as_written_and_meta_as_given() {
        let raw = b"From: List <list@example.org>\r\nTo: Ann <ann@example.org>\r\n\
Subject: =?utf-8?q?n=C3=A9ws?=\r\nMessage-ID: <n1@example.org>\r\nIn-Reply-To: <p1@example.org>\r\n\
References: <p0@example.org>\r\nDate: Fri, 01 Mar 2024 10:00:00 +0000\r\nList-Id: <news.example.org>\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n<p>hi</p>\r\n";
        let meta = IncomingMeta {
            msg_id: 9,
            mail_from: "bounce@example.org".into(),
            rcpt_to: "ann@example.org".into(),
            remote_ip: "192.0.2.1".into(),
            received: UNIX_EPOCH + Duration::from_secs(1_709_287_260),
            mailbox_name: "Inbox".into(),
            automated: is_automated(raw, false),
            ..IncomingMeta::default()
        };
        let inc = incoming_from_message(raw, meta);
        assert_eq!(
            serde_json::to_string(&inc).unwrap(),
            concat!(
                r#"{"Version":0,"From":[{"Name":"List","Address":"list@example.org"}],"#,
                r#""To":[{"Name":"Ann","Address":"ann@example.org"}],"CC":[],"BCC":[],"ReplyTo":[],"#,
                r#""Subject":"néws","MessageID":"<n1@example.org>","InReplyTo":"<p1@example.org>","#,
                r#""References":["<p0@example.org>"],"Date":"2024-03-01T10:00:00Z","Text":"","#,
                r#""HTML":"<p>hi</p>\n","Structure":{"ContentType":"text/html","#,
                r#""ContentTypeParams":{"charset":"utf-8"},"ContentID":"","ContentDisposition":"","#,
                r#""Filename":"","DecodedSize":11,"Parts":[]},"Meta":{"MsgID":9,"#,
                r#""MailFrom":"bounce@example.org","MailFromValidated":false,"MsgFromValidated":false,"#,
                r#""RcptTo":"ann@example.org","DKIMVerifiedDomains":[],"RemoteIP":"192.0.2.1","#,
                r#""Received":"2024-03-01T10:01:00Z","MailboxName":"Inbox","Automated":true}}"#
            )
        );
    }

    #[test]
    fn automated_follows_the_reference_rule() {
        let cases: &[(&[u8], bool)] = &[
            (b"Subject: x\r\n\r\nbody", false),
            (b"Precedence: bulk\r\n\r\n", true),
            (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\n", true),
            (b"Auto-Submitted: auto-replied\r\n\r\n", true),
            (b"Auto-Submitted: No\r\n\r\n", false),
            (b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n", true),
            (b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nList-Id: inner\r\n\r\n--x--\r\n", false),
        ];
        for (raw, want) in cases {
            assert_eq!(
                is_automated(raw, false),
                *want,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
