//! Writing DSNs (RFC 3464, RFC 6533 for UTF-8): a multipart/report with a
//! human-readable part, the machine-readable status part and the original's
//! header or, for failures with RET=FULL, the whole original.

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;

use crate::date::DateTime;
use crate::fields::encode_utf8_addr;
use crate::model::{Action, Mta, PerMessage, RecipientStatus, ReturnedKind, Typed};

/// Lines are folded to this length where there is a space to fold at.
const SOFT_LINE: usize = 78;
/// RFC 5322 hard limit without CRLF; unbreakable text is cut into pieces of this size.
const HARD_LINE: usize = 998;

/// When the remaining delivery attempts will happen, as the queue's retry
/// schedule says. The composer derives Will-Retry-Until and the text of
/// delayed DSNs from it, so both always match what the queue will do.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RetrySchedule {
    /// The waits before each remaining attempt, counted from the last attempt.
    pub remaining_waits: Vec<Duration>,
}

impl RetrySchedule {
    /// The time of the last remaining attempt after `last_attempt`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use dsn::{DateTime, RetrySchedule};
    /// let s = RetrySchedule { remaining_waits: vec![Duration::from_secs(7200), Duration::from_secs(14400)] };
    /// assert_eq!(s.retry_until(DateTime::from_unix(0, 0)).unix(), 6 * 3600);
    /// ```
    pub fn retry_until(&self, last_attempt: DateTime) -> DateTime {
        let mut t = last_attempt;
        for w in &self.remaining_waits {
            t = t.add(*w);
        }
        t
    }

    /// Human text for the remaining attempts, e.g. "in 2 hours, 6 hours and 14 hours"
    /// (each counted from the last attempt).
    pub fn describe(&self) -> String {
        let mut total = Duration::ZERO;
        let parts: Vec<String> = self
            .remaining_waits
            .iter()
            .map(|w| {
                total += *w;
                human_duration(total)
            })
            .collect();
        match parts.as_slice() {
            [] => "none".to_string(),
            [one] => format!("in {one}"),
            [init @ .., last] => format!("in {} and {last}", init.join(", ")),
        }
    }
}

fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = if secs.is_multiple_of(3600) && secs >= 3600 {
        (secs / 3600, "hour")
    } else if secs.is_multiple_of(60) && secs >= 60 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// What to return of the original message.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Original {
    /// The original message as submitted (header and body, CRLF or LF).
    pub message: Vec<u8>,
    /// RET=FULL was asked for: failure DSNs carry the whole message.
    pub return_full: bool,
}

/// A DSN to compose; see [`compose`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dsn {
    /// From address, e.g. `postmaster@mail.example.org`.
    pub from: String,
    /// To address: the original's MAIL FROM.
    pub to: String,
    /// Subject, e.g. "mail delivery failed".
    pub subject: String,
    /// Message-ID of the DSN, without angle brackets.
    pub message_id: String,
    /// Message-ID of the original, without angle brackets; written as References.
    pub references: Option<String>,
    /// Date of the DSN.
    pub date: DateTime,
    /// The human-readable text; when empty, one is written from the fields.
    pub text: String,
    /// Per-message fields; `reporting_mta` is required.
    pub per_message: PerMessage,
    /// At least one recipient.
    pub recipients: Vec<RecipientStatus>,
    /// The original message, when available.
    pub original: Option<Original>,
    /// The receiver accepts UTF-8 (SMTPUTF8 or local delivery): the global
    /// types of RFC 6533 are used.
    pub smtputf8: bool,
    /// The queue's remaining attempts, for delayed DSNs.
    pub retry: Option<RetrySchedule>,
}

/// Why a DSN could not be composed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    /// The DSN lists no recipient.
    #[error("a dsn needs at least one recipient")]
    NoRecipients,
    /// Reporting-MTA is required by RFC 3464.
    #[error("a dsn needs a reporting-mta")]
    NoReportingMta,
    /// The Message-ID is empty or contains angle brackets or white space.
    #[error("invalid message-id {0:?}")]
    BadMessageId(String),
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

fn ascii_only(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect()
}

fn escape_comment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in sanitize(s).chars() {
        if matches!(c, '(' | ')' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Writes `Name: value` folded at spaces to 78 characters where possible,
/// never over 998, ending in CRLF.
fn push_field(out: &mut String, name: &str, value: &str) {
    let mut line = format!("{name}:");
    for word in value.split(' ').filter(|w| !w.is_empty()) {
        if line.len() + 1 + word.len() > SOFT_LINE && line.trim().len() > name.len() + 1 {
            out.push_str(&line);
            out.push_str("\r\n");
            line = String::from("\t");
            line.push_str(word);
        } else {
            line.push(' ');
            line.push_str(word);
        }
        while line.len() > HARD_LINE {
            let cut = floor_char_boundary(&line, HARD_LINE);
            let (head, tail) = line.split_at(cut);
            out.push_str(head);
            out.push_str("\r\n");
            line = format!("\t{tail}");
        }
    }
    out.push_str(&line);
    out.push_str("\r\n");
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn address_value(t: &Typed, utf8: bool) -> String {
    let v = sanitize(&t.value);
    if v.is_ascii() {
        let kind = if t.kind.is_empty() { "rfc822" } else { &t.kind };
        format!("{kind};{v}")
    } else if utf8 {
        format!("utf-8;{v}")
    } else {
        format!("utf-8;{}", encode_utf8_addr(&v))
    }
}

fn mta_value(m: &Mta, utf8: bool) -> String {
    let kind = if m.kind.is_empty() { "dns" } else { &m.kind };
    let name = if utf8 {
        sanitize(&m.name)
    } else {
        ascii_only(&sanitize(&m.name))
    };
    match &m.ip {
        Some(ip) => format!("{kind};{name} ({})", escape_comment(ip)),
        None => format!("{kind};{name}"),
    }
}

/// Wraps plain text to 78 columns at spaces, CRLF line ends.
fn wrap_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split(' ') {
            if !line.is_empty() && line.len() + 1 + word.len() > SOFT_LINE {
                out.push_str(line.trim_end());
                out.push_str("\r\n");
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            while line.len() > HARD_LINE {
                let cut = floor_char_boundary(&line, HARD_LINE);
                let (head, tail) = line.split_at(cut);
                out.push_str(head);
                out.push_str("\r\n");
                line = tail.to_string();
            }
        }
        out.push_str(line.trim_end());
        out.push_str("\r\n");
    }
    out
}

/// The default human-readable text for the recipients and their actions.
fn default_text(dsn: &Dsn) -> String {
    let mut t = String::new();
    for r in &dsn.recipients {
        let who = &r.final_recipient.value;
        let detail = r
            .diagnostic_code
            .as_ref()
            .map(|d| d.value.clone())
            .or_else(|| r.status_comment.clone());
        match r.action {
            Action::Failed => {
                let _ = writeln!(
                    t,
                    "Delivery to {who} failed permanently; no more attempts will be made."
                );
            }
            Action::Delayed => {
                let _ = writeln!(t, "Delivery to {who} is delayed; it has not failed yet.");
                if let Some(s) = &dsn.retry {
                    let _ = writeln!(
                        t,
                        "Next attempts to deliver, counted from the last attempt: {}.",
                        s.describe()
                    );
                }
                if let Some(until) = r.will_retry_until {
                    let _ = writeln!(t, "Delivery will be attempted until {until}.");
                }
            }
            Action::Delivered => {
                let _ = writeln!(t, "Your message was delivered to {who}.");
            }
            Action::Relayed => {
                let _ = writeln!(
                    t,
                    "Your message was relayed for {who} to a system that does not send delivery notifications."
                );
            }
            Action::Expanded => {
                let _ = writeln!(
                    t,
                    "Your message was delivered to {who} and forwarded to more recipients."
                );
            }
        }
        let _ = writeln!(t, "Status: {}", r.status);
        if let Some(d) = detail {
            let _ = writeln!(t, "Last error: {d}");
        }
        t.push('\n');
    }
    t
}

fn quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.split("\r\n") {
        let mut col = 0usize;
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let piece = if (b == b' ' || b == b'\t') && last
                || b == b'='
                || !(32..127).contains(&b) && b != b'\t'
            {
                format!("={b:02X}")
            } else {
                char::from(b).to_string()
            };
            if col + piece.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            col += piece.len();
            out.push_str(&piece);
        }
        out.push_str("\r\n");
    }
    // split leaves one trailing empty line for text ending in CRLF
    if out.ends_with("\r\n\r\n") {
        out.truncate(out.len() - 2);
    }
    out
}

fn header_section(msg: &[u8]) -> &[u8] {
    let mut i = 0usize;
    while i < msg.len() {
        let rest = msg.get(i..).unwrap_or(&[]);
        if rest.starts_with(b"\r\n") {
            return msg.get(..i).unwrap_or(msg);
        }
        if rest.starts_with(b"\n") {
            return msg.get(..i).unwrap_or(msg);
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(p) => i += p + 1,
            None => return msg,
        }
    }
    msg
}

/// Normalises line ends to CRLF.
fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 40);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn longest_line(data: &[u8]) -> usize {
    data.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
        .max()
        .unwrap_or(0)
}

fn boundary_for(dsn: &Dsn, parts: &[&[u8]]) -> String {
    // FNV-1a of the message-id: deterministic output for tests, different per DSN.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in dsn.message_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut n = 0u32;
    loop {
        let b = format!("postel-dsn-{h:016x}-{n}");
        if !parts
            .iter()
            .any(|p| p.windows(b.len()).any(|w| w == b.as_bytes()))
        {
            return b;
        }
        n += 1;
    }
}

/// The machine-readable status part body.
pub(crate) fn status_body(pm: &PerMessage, recipients: &[RecipientStatus], utf8: bool) -> String {
    let mut s = String::new();
    if let Some(id) = &pm.original_envelope_id {
        push_field(&mut s, "Original-Envelope-ID", &ascii_only(&sanitize(id)));
    }
    if let Some(m) = &pm.reporting_mta {
        push_field(&mut s, "Reporting-MTA", &mta_value(m, utf8));
    }
    if let Some(m) = &pm.dsn_gateway {
        push_field(&mut s, "DSN-Gateway", &mta_value(m, utf8));
    }
    if let Some(m) = &pm.received_from_mta {
        push_field(&mut s, "Received-From-MTA", &mta_value(m, utf8));
    }
    if let Some(d) = &pm.arrival_date {
        push_field(&mut s, "Arrival-Date", &d.to_string());
    }
    if let Some(f) = &pm.future_release_request {
        push_field(&mut s, "Future-Release-Request", &ascii_only(&sanitize(f)));
    }
    for r in recipients {
        s.push_str("\r\n");
        if let Some(o) = &r.original_recipient {
            push_field(&mut s, "Original-Recipient", &address_value(o, utf8));
        }
        push_field(
            &mut s,
            "Final-Recipient",
            &address_value(&r.final_recipient, utf8),
        );
        push_field(&mut s, "Action", r.action.as_str());
        let status = match &r.status_comment {
            Some(c) if !c.trim().is_empty() => {
                let c = if utf8 {
                    escape_comment(c)
                } else {
                    ascii_only(&escape_comment(c))
                };
                format!("{} ({c})", r.status)
            }
            _ => r.status.to_string(),
        };
        push_field(&mut s, "Status", &status);
        if let Some(m) = &r.remote_mta {
            push_field(&mut s, "Remote-MTA", &mta_value(m, utf8));
        }
        if let Some(d) = &r.diagnostic_code {
            let kind = if d.kind.is_empty() { "smtp" } else { &d.kind };
            let v = if utf8 {
                sanitize(&d.value)
            } else {
                ascii_only(&sanitize(&d.value))
            };
            push_field(&mut s, "Diagnostic-Code", &format!("{kind}; {v}"));
        }
        if let Some(d) = &r.last_attempt_date {
            push_field(&mut s, "Last-Attempt-Date", &d.to_string());
        }
        if let Some(id) = &r.final_log_id {
            push_field(&mut s, "Final-Log-ID", &ascii_only(&sanitize(id)));
        }
        if let Some(d) = &r.will_retry_until {
            push_field(&mut s, "Will-Retry-Until", &d.to_string());
        }
    }
    s
}

fn encode_subject(subject: &str, utf8: bool) -> String {
    let s = sanitize(subject);
    if s.is_ascii() || utf8 {
        return s;
    }
    // RFC 2047 encoded words of at most 45 input bytes each, split on char boundaries.
    let mut words = Vec::new();
    let mut rest = s.as_str();
    while !rest.is_empty() {
        let cut = floor_char_boundary(rest, rest.len().min(45));
        let cut = if cut == 0 { rest.len() } else { cut };
        let (head, tail) = rest.split_at(cut);
        words.push(format!(
            "=?utf-8?b?{}?=",
            base64::engine::general_purpose::STANDARD.encode(head)
        ));
        rest = tail;
    }
    words.join(" ")
}

/// Composes the DSN as CRLF-terminated bytes.
///
/// Delayed recipients without a Will-Retry-Until get one from
/// [`Dsn::retry`] and their Last-Attempt-Date (or the DSN's date). The third
/// part is the whole original only when `return_full` is set, some recipient
/// failed and the original has no line over 998 octets; otherwise its header.
///
/// ```
/// use dsn::{compose, Action, DateTime, Dsn, Mta, PerMessage, RecipientStatus};
/// use smtp::{Class, EnhancedCode};
/// let dsn = Dsn {
///     from: "postmaster@mx.example.org".into(),
///     to: "alice@example.org".into(),
///     subject: "mail delivery failed".into(),
///     message_id: "dsn1@mx.example.org".into(),
///     references: Some("orig1@example.org".into()),
///     date: DateTime::from_unix(1_700_000_000, 0),
///     text: String::new(),
///     per_message: PerMessage { reporting_mta: Some(Mta::dns("mx.example.org")), ..Default::default() },
///     recipients: vec![RecipientStatus::new("bob@example.net", Action::Failed, EnhancedCode::new(Class::Permanent, 1, 1))],
///     original: None,
///     smtputf8: false,
///     retry: None,
/// };
/// let bytes = compose(&dsn).unwrap();
/// let report = dsn::parse(&bytes).unwrap();
/// assert_eq!(report.recipients[0].final_recipient.value, "bob@example.net");
/// assert_eq!(report.recipients[0].status.to_string(), "5.1.1");
/// ```
pub fn compose(dsn: &Dsn) -> Result<Vec<u8>, ComposeError> {
    if dsn.recipients.is_empty() {
        return Err(ComposeError::NoRecipients);
    }
    if dsn.per_message.reporting_mta.is_none() {
        return Err(ComposeError::NoReportingMta);
    }
    let mid = dsn.message_id.trim();
    if mid.is_empty() || mid.contains(['<', '>', ' ', '\r', '\n', '\t']) {
        return Err(ComposeError::BadMessageId(dsn.message_id.clone()));
    }
    let utf8 = dsn.smtputf8;

    let mut recipients = dsn.recipients.clone();
    if let Some(schedule) = &dsn.retry {
        for r in recipients.iter_mut() {
            if r.action == Action::Delayed && r.will_retry_until.is_none() {
                let last = r.last_attempt_date.unwrap_or(dsn.date);
                r.will_retry_until = Some(schedule.retry_until(last));
            }
        }
    }
    let with_fields = Dsn {
        recipients: recipients.clone(),
        ..dsn.clone()
    };

    let text = if dsn.text.trim().is_empty() {
        default_text(&with_fields)
    } else {
        dsn.text.clone()
    };
    let text = wrap_text(&text);
    let (text_headers, text_body) = if text.is_ascii() {
        (
            "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n",
            text,
        )
    } else if utf8 {
        (
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
            text,
        )
    } else {
        (
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n",
            quoted_printable(&text),
        )
    };

    let status = status_body(&dsn.per_message, &recipients, utf8);
    let status_headers = if utf8 {
        "Content-Type: message/global-delivery-status\r\nContent-Transfer-Encoding: 8bit\r\n"
    } else {
        "Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: 7bit\r\n"
    };

    let any_failed = recipients.iter().any(|r| r.action == Action::Failed);
    let third: Option<(String, Vec<u8>)> = dsn.original.as_ref().map(|o| {
        let full = o.return_full && any_failed && longest_line(&o.message) <= HARD_LINE;
        if full {
            let eight = !o.message.is_ascii();
            let kind = if utf8 && eight { ReturnedKind::GlobalMessage } else { ReturnedKind::Message };
            let cte = if eight { "8bit" } else { "7bit" };
            (
                format!("Content-Type: {}\r\nContent-Transfer-Encoding: {cte}\r\n", kind.mime_type()),
                crlf(&o.message),
            )
        } else {
            let h = crlf(header_section(&o.message));
            if h.is_ascii() {
                (
                    "Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: 7bit\r\n".to_string(),
                    h,
                )
            } else if utf8 {
                (
                    "Content-Type: message/global-headers\r\nContent-Transfer-Encoding: 8bit\r\n".to_string(),
                    h,
                )
            } else {
                let b64 = base64::engine::general_purpose::STANDARD.encode(&h);
                let mut body = Vec::with_capacity(b64.len() + b64.len() / 38);
                for chunk in b64.as_bytes().chunks(76) {
                    body.extend_from_slice(chunk);
                    body.extend_from_slice(b"\r\n");
                }
                (
                    "Content-Type: text/rfc822-headers; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
                        .to_string(),
                    body,
                )
            }
        }
    });

    let mut parts: Vec<&[u8]> = vec![text_body.as_bytes(), status.as_bytes()];
    if let Some((_, body)) = &third {
        parts.push(body);
    }
    let boundary = boundary_for(dsn, &parts);

    let mut head = String::new();
    push_field(&mut head, "From", &format!("<{}>", sanitize(&dsn.from)));
    push_field(&mut head, "To", &format!("<{}>", sanitize(&dsn.to)));
    push_field(&mut head, "Subject", &encode_subject(&dsn.subject, utf8));
    push_field(&mut head, "Message-Id", &format!("<{mid}>"));
    if let Some(r) = &dsn.references {
        let r = sanitize(r);
        let r = r.trim_start_matches('<').trim_end_matches('>');
        if !r.is_empty() {
            push_field(&mut head, "References", &format!("<{r}>"));
        }
    }
    push_field(&mut head, "Date", &dsn.date.to_string());
    head.push_str("MIME-Version: 1.0\r\n");
    head.push_str("Content-Type: multipart/report; report-type=delivery-status;\r\n");
    let _ = write!(head, "\tboundary=\"{boundary}\"\r\n");
    head.push_str("Auto-Submitted: auto-replied\r\n");
    head.push_str("\r\nThis is a MIME-formatted message.\r\n\r\n");

    let mut out = head.into_bytes();
    let _ = out_part(&mut out, &boundary, text_headers, text_body.as_bytes());
    let _ = out_part(&mut out, &boundary, status_headers, status.as_bytes());
    if let Some((h, body)) = &third {
        let _ = out_part(&mut out, &boundary, h, body);
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    tracing::debug!(target: "dsn", recipients = recipients.len(), utf8, bytes = out.len(), "composed dsn");
    Ok(out)
}

fn out_part(out: &mut Vec<u8>, boundary: &str, headers: &str, body: &[u8]) -> Option<()> {
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    out.extend_from_slice(headers.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    if !body.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_text_counts_from_last_attempt() {
        let s = RetrySchedule {
            remaining_waits: vec![
                Duration::from_secs(7200),
                Duration::from_secs(14400),
                Duration::from_secs(28800),
            ],
        };
        assert_eq!(s.describe(), "in 2 hours, 6 hours and 14 hours");
        assert_eq!(
            s.retry_until(DateTime::from_unix(100, 0)).unix(),
            100 + 14 * 3600
        );
    }

    #[test]
    fn long_fields_fold_at_78_and_never_exceed_998() {
        let mut s = String::new();
        let long = "word ".repeat(40);
        push_field(&mut s, "Diagnostic-Code", &format!("smtp; {long}"));
        assert!(s.split("\r\n").all(|l| l.len() <= 78), "{s}");
        let mut t = String::new();
        push_field(&mut t, "X", &"a".repeat(2500));
        assert!(t.split("\r\n").all(|l| l.len() <= 998));
        assert_eq!(
            t.replace("\r\n\t", "").trim_end(),
            format!("X: {}", "a".repeat(2500))
        );
    }

    #[test]
    fn quoted_printable_escapes_non_ascii_and_equals() {
        assert_eq!(quoted_printable("a=b ü\r\n"), "a=3Db =C3=BC\r\n");
    }
}
