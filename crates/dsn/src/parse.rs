//! Strict reading of RFC 3464 / RFC 6533 delivery status notifications: the
//! MIME structure must be a multipart/report of delivery-status type and the
//! status fields must follow the grammar. Real-world bounces that bend the
//! rules go through [`crate::analyze`] instead.

use mail_parser::{MessagePart, MimeHeaders, PartType};
use smtp::EnhancedCode;

use crate::date::DateTime;
use crate::fields::{Block, parse_address, parse_mta, split_blocks, split_typed, strip_comments};
use crate::model::{Action, PerMessage, RecipientStatus, ReturnedKind};

/// Input larger than this is refused before any parsing.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// A parsed delivery status notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The From address of the DSN.
    pub from: Option<String>,
    /// The To address.
    pub to: Option<String>,
    /// The Subject.
    pub subject: Option<String>,
    /// The DSN's own Message-ID, without angle brackets.
    pub message_id: Option<String>,
    /// The References field's message ids (the original's, for DSNs we wrote).
    pub references: Vec<String>,
    /// The human-readable part's text.
    pub text: String,
    /// The status part was message/global-delivery-status (RFC 6533).
    pub utf8: bool,
    /// Per-message fields.
    pub per_message: PerMessage,
    /// One entry per recipient block, in order.
    pub recipients: Vec<RecipientStatus>,
    /// The third part, if any.
    pub returned: Option<Returned>,
}

/// The returned original (or its header) of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Returned {
    /// Which of the four types it had.
    pub kind: ReturnedKind,
    /// Its content with transfer encoding undone.
    pub content: Vec<u8>,
}

impl Returned {
    /// The Message-ID in the returned header, without angle brackets.
    pub fn message_id(&self) -> Option<String> {
        let parsed = crate::mime::parse_headers(&self.content)?;
        parsed.message_id().map(str::to_string)
    }
}

/// Why a message is not a valid DSN.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input is larger than [`MAX_MESSAGE_SIZE`].
    #[error("message of {size} bytes is over the {MAX_MESSAGE_SIZE} byte limit")]
    TooLarge {
        /// Input size.
        size: usize,
    },
    /// No header could be read.
    #[error("input is not an internet message")]
    NotMessage,
    /// The top-level type is something else.
    #[error("content-type is {content_type:?}, not multipart/report")]
    NotMultipartReport {
        /// The type found.
        content_type: String,
    },
    /// The report-type parameter is not delivery-status.
    #[error("report-type is {report_type:?}, not delivery-status")]
    NotDeliveryStatus {
        /// The report-type found.
        report_type: String,
    },
    /// A report has 2 or 3 parts.
    #[error("multipart/report has {count} parts, expected 2 or 3")]
    PartCount {
        /// Parts found.
        count: usize,
    },
    /// The first part must be text/plain.
    #[error("first part is {content_type:?}, not text/plain")]
    HumanPartType {
        /// The type found.
        content_type: String,
    },
    /// The second part must be message/(global-)delivery-status.
    #[error(
        "second part is {content_type:?}, not message/delivery-status or message/global-delivery-status"
    )]
    StatusPartType {
        /// The type found.
        content_type: String,
    },
    /// The third part has a type RFC 3464/6533 does not allow.
    #[error("third part is {content_type:?}, not one of the four returned-content types")]
    ReturnedPartType {
        /// The type found.
        content_type: String,
    },
    /// The status part is not valid UTF-8.
    #[error("status part is not valid utf-8")]
    StatusNotUtf8,
    /// The status part has no per-message block.
    #[error("status part is empty")]
    EmptyStatus,
    /// There is no recipient block.
    #[error("status part has no recipient block")]
    NoRecipients,
    /// A line in a block is not a field.
    #[error("line {line:?} in block {block} is not a field")]
    StrayLine {
        /// The line.
        line: String,
        /// Block index (0 = per-message).
        block: usize,
    },
    /// A field appears twice in one block.
    #[error("field {field} appears twice in block {block}")]
    DuplicateField {
        /// Field name.
        field: String,
        /// Block index (0 = per-message).
        block: usize,
    },
    /// A required field is missing.
    #[error("required field {field} missing in block {block}")]
    MissingField {
        /// Field name.
        field: &'static str,
        /// Block index (0 = per-message).
        block: usize,
    },
    /// A Status value is not an enhanced status code.
    #[error("status {value:?} is not an enhanced status code")]
    BadStatus {
        /// The value.
        value: String,
    },
    /// The Action is not one of the five.
    #[error("unknown action {value:?}")]
    UnknownAction {
        /// The value.
        value: String,
    },
    /// A date field is not an RFC 5322 date.
    #[error("{field} {value:?} is not an rfc 5322 date")]
    BadDate {
        /// Field name.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// A typed field lacks its `type;` prefix.
    #[error("{field} {value:?} has no type")]
    MissingType {
        /// Field name.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// A utf-8 address or non-ASCII text in a plain (ASCII) DSN.
    #[error("{field} has non-ascii text in a non-utf-8 dsn")]
    NonAscii {
        /// Field name.
        field: String,
    },
}

fn content_type_of(part: &MessagePart<'_>) -> Option<(String, Option<String>)> {
    let ct = part.content_type()?;
    Some((
        ct.ctype().to_ascii_lowercase(),
        ct.subtype().map(str::to_ascii_lowercase),
    ))
}

fn type_string(part: &MessagePart<'_>) -> String {
    match content_type_of(part) {
        Some((t, Some(s))) => format!("{t}/{s}"),
        Some((t, None)) => t,
        None => "text/plain".to_string(),
    }
}

/// The bytes of a part's body as written, transfer encoding undone.
pub(crate) fn part_bytes<'a>(
    raw: &'a [u8],
    part: &'a MessagePart<'a>,
) -> std::borrow::Cow<'a, [u8]> {
    match &part.body {
        PartType::Message(_) | PartType::Multipart(_) => {
            let start = usize::try_from(part.offset_body).unwrap_or(usize::MAX);
            let end = usize::try_from(part.offset_end).unwrap_or(usize::MAX);
            std::borrow::Cow::Borrowed(raw.get(start..end).unwrap_or(&[]))
        }
        PartType::Text(t) | PartType::Html(t) => std::borrow::Cow::Borrowed(t.as_bytes()),
        PartType::Binary(b) | PartType::InlineBinary(b) => std::borrow::Cow::Borrowed(b.as_ref()),
    }
}

/// Parses a DSN strictly.
///
/// ```
/// let msg = b"From: <postmaster@mx.example>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; bob@example.net\r\nAction: failed\r\nStatus: 5.1.1 (no such user)\r\n\r\n--b--\r\n";
/// let r = dsn::parse(msg).unwrap();
/// assert_eq!(r.recipients[0].status_comment.as_deref(), Some("no such user"));
/// assert!(dsn::parse(b"Subject: hi\r\n\r\nhello\r\n").is_err());
/// ```
pub fn parse(message: &[u8]) -> Result<Report, ParseError> {
    if message.len() > MAX_MESSAGE_SIZE {
        return Err(ParseError::TooLarge {
            size: message.len(),
        });
    }
    let msg = crate::mime::parse(message).ok_or(ParseError::NotMessage)?;
    let root = msg.parts.first().ok_or(ParseError::NotMessage)?;
    let top = type_string(root);
    if top != "multipart/report" {
        return Err(ParseError::NotMultipartReport { content_type: top });
    }
    let report_type = root
        .content_type()
        .and_then(|c| c.attribute("report-type"))
        .unwrap_or("")
        .to_string();
    if !report_type.eq_ignore_ascii_case("delivery-status") {
        return Err(ParseError::NotDeliveryStatus { report_type });
    }
    let ids: &[u32] = match &root.body {
        PartType::Multipart(ids) => ids,
        _ => &[],
    };
    if !(2..=3).contains(&ids.len()) {
        return Err(ParseError::PartCount { count: ids.len() });
    }
    let get = |i: usize| {
        ids.get(i)
            .and_then(|id| msg.parts.get(usize::try_from(*id).ok()?))
    };
    let human = get(0).ok_or(ParseError::PartCount { count: 0 })?;
    let human_type = type_string(human);
    if human_type != "text/plain" {
        return Err(ParseError::HumanPartType {
            content_type: human_type,
        });
    }
    let status_part = get(1).ok_or(ParseError::PartCount { count: 1 })?;
    let status_type = type_string(status_part);
    let utf8 = match status_type.as_str() {
        "message/delivery-status" => false,
        "message/global-delivery-status" => true,
        _ => {
            return Err(ParseError::StatusPartType {
                content_type: status_type,
            });
        }
    };
    let returned = match get(2) {
        Some(p) => {
            let t = type_string(p);
            let kind = ReturnedKind::from_mime_type(&t)
                .ok_or(ParseError::ReturnedPartType { content_type: t })?;
            Some(Returned {
                kind,
                content: part_bytes(message, p).into_owned(),
            })
        }
        None => None,
    };
    let status_bytes = part_bytes(message, status_part);
    let status_text = std::str::from_utf8(&status_bytes).map_err(|_| ParseError::StatusNotUtf8)?;
    let (per_message, recipients) = parse_status(status_text, utf8)?;
    let text = human.text_contents().unwrap_or("").to_string();
    let first_addr = |a: Option<&mail_parser::Address<'_>>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_string)
    };
    let references = match msg.references() {
        mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
        mail_parser::HeaderValue::TextList(l) => l.iter().map(|s| s.to_string()).collect(),
        _ => Vec::new(),
    };
    tracing::debug!(target: "dsn", recipients = recipients.len(), utf8, "parsed dsn");
    Ok(Report {
        from: first_addr(msg.from()),
        to: first_addr(msg.to()),
        subject: msg.subject().map(str::to_string),
        message_id: msg.message_id().map(str::to_string),
        references,
        text,
        utf8,
        per_message,
        recipients,
        returned,
    })
}

fn check_block(b: &Block, idx: usize, utf8: bool) -> Result<(), ParseError> {
    if let Some(line) = b.stray.first() {
        return Err(ParseError::StrayLine {
            line: line.clone(),
            block: idx,
        });
    }
    for (i, f) in b.fields.iter().enumerate() {
        if b.fields
            .iter()
            .skip(i + 1)
            .any(|g| g.name.eq_ignore_ascii_case(&f.name))
        {
            return Err(ParseError::DuplicateField {
                field: f.name.clone(),
                block: idx,
            });
        }
        if !utf8 && !f.value.is_ascii() {
            return Err(ParseError::NonAscii {
                field: f.name.clone(),
            });
        }
    }
    Ok(())
}

fn date_field(b: &Block, name: &'static str) -> Result<Option<DateTime>, ParseError> {
    match b.get(name) {
        None => Ok(None),
        Some(v) => DateTime::parse(v)
            .map(Some)
            .ok_or_else(|| ParseError::BadDate {
                field: name,
                value: v.to_string(),
            }),
    }
}

fn typed_required(b: &Block, name: &'static str, value: &str) -> Result<(), ParseError> {
    if split_typed(value).kind.is_empty() || !value.contains(';') {
        let _ = b;
        return Err(ParseError::MissingType {
            field: name,
            value: value.to_string(),
        });
    }
    Ok(())
}

/// Parses the body of a message/delivery-status (`utf8` false) or
/// message/global-delivery-status (`utf8` true) part.
///
/// ```
/// let (pm, rcpts) = dsn::parse_status("Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@b\nAction: delayed\nStatus: 4.4.7\n", false).unwrap();
/// assert_eq!(pm.reporting_mta.unwrap().name, "mx");
/// assert_eq!(rcpts[0].action, dsn::Action::Delayed);
/// ```
pub fn parse_status(
    body: &str,
    utf8: bool,
) -> Result<(PerMessage, Vec<RecipientStatus>), ParseError> {
    let blocks = split_blocks(body);
    let mut iter = blocks.iter();
    let first = iter.next().ok_or(ParseError::EmptyStatus)?;
    check_block(first, 0, utf8)?;
    let reporting = first.get("Reporting-MTA").ok_or(ParseError::MissingField {
        field: "Reporting-MTA",
        block: 0,
    })?;
    typed_required(first, "Reporting-MTA", reporting)?;
    let mta = |name: &'static str| -> Result<_, ParseError> {
        match first.get(name) {
            Some(v) => {
                typed_required(first, name, v)?;
                Ok(Some(parse_mta(v)))
            }
            None => Ok(None),
        }
    };
    let per_message = PerMessage {
        original_envelope_id: first.get("Original-Envelope-ID").map(str::to_string),
        reporting_mta: Some(parse_mta(reporting)),
        dsn_gateway: mta("DSN-Gateway")?,
        received_from_mta: mta("Received-From-MTA")?,
        arrival_date: date_field(first, "Arrival-Date")?,
        future_release_request: first.get("Future-Release-Request").map(str::to_string),
        fields: first
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.value.clone()))
            .collect(),
    };
    let mut recipients = Vec::new();
    for (i, b) in iter.enumerate() {
        let idx = i + 1;
        check_block(b, idx, utf8)?;
        recipients.push(parse_recipient(b, idx, utf8)?);
    }
    if recipients.is_empty() {
        return Err(ParseError::NoRecipients);
    }
    Ok((per_message, recipients))
}

fn parse_recipient(b: &Block, idx: usize, utf8: bool) -> Result<RecipientStatus, ParseError> {
    let address = |name: &'static str| -> Result<_, ParseError> {
        match b.get(name) {
            Some(v) => {
                typed_required(b, name, v)?;
                let t = parse_address(v);
                if t.kind == "utf-8" && !utf8 && !v.is_ascii() {
                    return Err(ParseError::NonAscii {
                        field: name.to_string(),
                    });
                }
                Ok(Some(t))
            }
            None => Ok(None),
        }
    };
    let final_recipient = address("Final-Recipient")?.ok_or(ParseError::MissingField {
        field: "Final-Recipient",
        block: idx,
    })?;
    let action_value = b.get("Action").ok_or(ParseError::MissingField {
        field: "Action",
        block: idx,
    })?;
    let (action_clean, _) = strip_comments(action_value);
    let action: Action = action_clean
        .parse()
        .map_err(|_| ParseError::UnknownAction {
            value: action_value.to_string(),
        })?;
    let status_value = b.get("Status").ok_or(ParseError::MissingField {
        field: "Status",
        block: idx,
    })?;
    let (code, comment) = strip_comments(status_value);
    let status: EnhancedCode = code.parse().map_err(|_| ParseError::BadStatus {
        value: status_value.to_string(),
    })?;
    let remote_mta = match b.get("Remote-MTA") {
        Some(v) => {
            typed_required(b, "Remote-MTA", v)?;
            Some(parse_mta(v))
        }
        None => None,
    };
    let diagnostic_code = match b.get("Diagnostic-Code") {
        Some(v) => {
            typed_required(b, "Diagnostic-Code", v)?;
            Some(split_typed(v))
        }
        None => None,
    };
    Ok(RecipientStatus {
        original_recipient: address("Original-Recipient")?,
        final_recipient,
        action,
        status,
        status_comment: comment.filter(|c| !c.is_empty()),
        remote_mta,
        diagnostic_code,
        last_attempt_date: date_field(b, "Last-Attempt-Date")?,
        final_log_id: b.get("Final-Log-ID").map(str::to_string),
        will_retry_until: date_field(b, "Will-Retry-Until")?,
        fields: b
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.value.clone()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(report_type: &str, parts: &[(&str, &str)]) -> Vec<u8> {
        let mut m = format!(
            "From: <postmaster@mx.example>\r\nContent-Type: multipart/report; report-type={report_type}; boundary=b\r\n\r\n"
        );
        for (ctype, body) in parts {
            m.push_str(&format!("--b\r\nContent-Type: {ctype}\r\n\r\n{body}\r\n"));
        }
        m.push_str("--b--\r\n");
        m.into_bytes()
    }

    const STATUS: &str = "Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\nAction: failed\r\nStatus: 5.1.1\r\n";

    #[test]
    fn mime_structure_errors_name_what_was_found() {
        assert_eq!(
            parse(b"Content-Type: text/plain\r\n\r\nhi\r\n"),
            Err(ParseError::NotMultipartReport {
                content_type: "text/plain".into()
            })
        );
        assert_eq!(
            parse(&report(
                "feedback-report",
                &[("text/plain", "x"), ("message/delivery-status", STATUS)]
            )),
            Err(ParseError::NotDeliveryStatus {
                report_type: "feedback-report".into()
            })
        );
        assert_eq!(
            parse(&report("delivery-status", &[("text/plain", "x")])),
            Err(ParseError::PartCount { count: 1 })
        );
        assert_eq!(
            parse(&report(
                "delivery-status",
                &[("text/html", "x"), ("message/delivery-status", STATUS)]
            )),
            Err(ParseError::HumanPartType {
                content_type: "text/html".into()
            })
        );
        assert_eq!(
            parse(&report(
                "delivery-status",
                &[("text/plain", "x"), ("text/plain", STATUS)]
            )),
            Err(ParseError::StatusPartType {
                content_type: "text/plain".into()
            })
        );
        assert_eq!(
            parse(&report(
                "delivery-status",
                &[
                    ("text/plain", "x"),
                    ("message/delivery-status", STATUS),
                    ("application/pdf", "x")
                ]
            )),
            Err(ParseError::ReturnedPartType {
                content_type: "application/pdf".into()
            })
        );
        let ok = parse(&report(
            "delivery-status",
            &[("text/plain", "x"), ("message/delivery-status", STATUS)],
        ))
        .unwrap();
        assert_eq!(ok.recipients[0].final_recipient.value, "a@b.example");
        assert_eq!(ok.returned, None);
    }

    #[test]
    fn bad_status_and_date_values_are_errors() {
        assert_eq!(
            parse_status(
                "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@b\nAction: failed\nStatus: 5.0.910x\n",
                false
            ),
            Err(ParseError::BadStatus {
                value: "5.0.910x".into()
            })
        );
        assert_eq!(
            parse_status(
                "Reporting-MTA: dns; mx\nArrival-Date: yesterday\n\nFinal-Recipient: rfc822; a@b\nAction: failed\nStatus: 5.0.0\n",
                false
            ),
            Err(ParseError::BadDate {
                field: "Arrival-Date",
                value: "yesterday".into()
            })
        );
        assert_eq!(
            parse_status(
                "Reporting-MTA: mx\n\nFinal-Recipient: rfc822; a@b\nAction: failed\nStatus: 5.0.0\n",
                false
            ),
            Err(ParseError::MissingType {
                field: "Reporting-MTA",
                value: "mx".into()
            })
        );
        assert_eq!(
            parse_status("Reporting-MTA: dns; mx\n", false),
            Err(ParseError::NoRecipients)
        );
    }

    #[test]
    fn duplicate_status_in_one_block_is_an_error() {
        let e = parse_status(
            "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@b\nAction: failed\nStatus: 5.1.1\nStatus: 5.1.2\n",
            false,
        );
        assert_eq!(
            e,
            Err(ParseError::DuplicateField {
                field: "Status".into(),
                block: 1
            })
        );
    }

    #[test]
    fn missing_reporting_mta_and_unknown_action_are_errors() {
        assert_eq!(
            parse_status(
                "Arrival-Date: Wed, 16 Oct 2013 14:15:34 +0900\n\nFinal-Recipient: rfc822; a@b\n",
                false
            ),
            Err(ParseError::MissingField {
                field: "Reporting-MTA",
                block: 0
            })
        );
        assert_eq!(
            parse_status(
                "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@b\nAction: bounced\nStatus: 5.0.0\n",
                false
            ),
            Err(ParseError::UnknownAction {
                value: "bounced".into()
            })
        );
    }

    #[test]
    fn utf8_address_needs_global_type() {
        let body = "Reporting-MTA: dns; mx\n\nFinal-Recipient: utf-8; jöran@example\nAction: failed\nStatus: 5.1.1\n";
        assert_eq!(
            parse_status(body, false),
            Err(ParseError::NonAscii {
                field: "Final-Recipient".into()
            })
        );
        let (_, r) = parse_status(body, true).unwrap();
        assert_eq!(r[0].final_recipient.value, "jöran@example");
    }

    #[test]
    fn several_recipients_with_comments_and_orcpt() {
        let body = "Original-Envelope-ID: env-1\r\nReporting-MTA: dns; mx.example (192.0.2.1)\r\n\r\n\
Original-Recipient: rfc822;Bob@Example.net\r\nFinal-Recipient: rfc822; bob@example.net\r\nAction: failed\r\nStatus: 5.2.2 (mailbox full)\r\n\
Diagnostic-Code: smtp; 552 5.2.2 over quota\r\n\r\nFinal-Recipient: rfc822; carol@example.net\r\nAction: delayed (still trying)\r\nStatus: 4.4.1\r\n\
Will-Retry-Until: Thu, 17 Oct 2013 14:15:35 +0900\r\n";
        let (pm, r) = parse_status(body, false).unwrap();
        assert_eq!(pm.original_envelope_id.as_deref(), Some("env-1"));
        assert_eq!(pm.reporting_mta.unwrap().ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0].original_recipient.as_ref().unwrap().value,
            "Bob@Example.net"
        );
        assert_eq!(r[0].status.to_string(), "5.2.2");
        assert_eq!(
            r[0].diagnostic_code.as_ref().unwrap().value,
            "552 5.2.2 over quota"
        );
        assert_eq!(r[1].action, Action::Delayed);
        assert_eq!(r[1].will_retry_until.unwrap().unix(), 1381986935);
    }
}
