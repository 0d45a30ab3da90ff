//! Composing the message of a Send request (RFC 5322 + MIME).
//!
//! Header order follows the reference: From, Reply-To, To, Cc, Subject,
//! Date, Message-Id, References, In-Reply-To, MIME-Version, the request's
//! own headers, User-Agent (unless the request gave User-Agent or X-Mailer),
//! then the body's Content-Type. Bcc never appears in the message. The body
//! nests multipart/mixed (attachments) ⊃ multipart/related (inline files) ⊃
//! multipart/alternative (text, HTML, alternative files), each level only
//! when needed. Text is 7bit when it is ASCII with short lines and no
//! control characters but tab, else quoted-printable; files are base64.
//! Non-ASCII header text and words too long to fold are written as RFC 2047
//! encoded words, so the message is 7-bit clean except for non-ASCII local
//! parts (which need SMTPUTF8), and no line passes 998 octets.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use webapi::compose::{compose, ComposeContext, RecipientKind};
//! use webapi::types::{NameAddress, SendRequest};
//!
//! let ctx = ComposeContext {
//!     hostname: "mail.example.org".into(),
//!     now: UNIX_EPOCH + Duration::from_secs(1_709_287_200),
//!     default_from: NameAddress::new("Ann", "ann@example.org"),
//!     user_agent: "postel/0.1.0".into(),
//!     random: [7; 16],
//! };
//! let req = SendRequest {
//!     to: vec![NameAddress::new("", "bob@example.net")],
//!     subject: "hi".into(),
//!     text: "hello\n".into(),
//!     ..SendRequest::default()
//! };
//! let c = compose(&req, &ctx).unwrap();
//! assert_eq!(c.message_id, "<BwcHBwcHBwcHBwcHBwcHBw@mail.example.org>");
//! assert_eq!(c.recipients[0].0, RecipientKind::To);
//! assert_eq!(c.recipients[0].1.to_string(), "bob@example.net");
//! assert!(String::from_utf8(c.data).unwrap().starts_with("From: Ann <ann@example.org>\r\nTo: bob@example.net\r\n"));
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::types::{File, NameAddress, SendRequest};

/// Longest MessageID or References id, in octets: "In-Reply-To: " plus
/// the id then still fits the 998-octet line limit of RFC 5322 §2.1.1.
pub const MAX_MESSAGE_ID_LEN: usize = 985;

/// Longest allowed delay of FutureRelease (60 days).
pub const MAX_FUTURE_RELEASE: Duration = Duration::from_secs(60 * 24 * 3600);

/// What composing needs besides the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComposeContext {
    /// Host name for the generated Message-ID.
    pub hostname: String,
    /// The current time (Date when the request has none; FutureRelease check).
    pub now: SystemTime,
    /// From when the request has none: the login address and the account's name.
    pub default_from: NameAddress,
    /// User-Agent header value, e.g. "postel/0.1.0".
    pub user_agent: String,
    /// Randomness for the Message-ID and the MIME boundaries.
    pub random: [u8; 16],
}

impl ComposeContext {
    /// A context with the current time and fresh random bytes.
    ///
    /// # Errors
    /// When the operating system's random source fails.
    pub fn new(
        hostname: impl Into<String>,
        default_from: NameAddress,
        user_agent: impl Into<String>,
    ) -> Result<ComposeContext, ApiError> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random)
            .map_err(|e| ApiError::server(format!("reading random bytes: {e}")))?;
        Ok(ComposeContext {
            hostname: hostname.into(),
            now: SystemTime::now(),
            default_from,
            user_agent: user_agent.into(),
            random,
        })
    }
}

/// Which header a recipient came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecipientKind {
    /// To.
    To,
    /// Cc.
    Cc,
    /// Bcc (not in the message header).
    Bcc,
}

/// A composed message, ready to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Composed {
    /// The message, CRLF line ends.
    pub data: Vec<u8>,
    /// Message-ID with `<>`.
    pub message_id: String,
    /// The Subject as given.
    pub subject: String,
    /// The From address (also the basis of MAIL FROM).
    pub from: smtp::Address,
    /// Recipients in the order To, CC, BCC.
    pub recipients: Vec<(RecipientKind, smtp::Address)>,
    /// Whether a local part is non-ASCII, so delivery needs SMTPUTF8.
    pub smtputf8: bool,
    /// Whether the message has bytes outside ASCII (8BITMIME).
    pub has_8bit: bool,
}

/// Composes the message for `req`.
///
/// # Errors
/// - `multipleFrom` for more than one From, `badAddress` for an address
///   that does not parse, `noRecipients` without To/CC/BCC,
///   `missingBody` without Text and HTML;
/// - `malformedMessageID` for a MessageID without `<>`, an empty
///   Reference or one with a space, or either longer than
///   [`MAX_MESSAGE_ID_LEN`] octets;
/// - `user` for control characters in header text, a bad custom header,
///   bad base64 file data, a bad content type, or a FutureRelease more than
///   60 days ahead.
pub fn compose(req: &SendRequest, ctx: &ComposeContext) -> Result<Composed, ApiError> {
    // Checks in the reference's order, so the same bad request gets the same code.
    if req.text.is_empty() && req.html.is_empty() {
        return Err(ApiError::new(
            ErrorCode::MissingBody,
            "message needs Text or HTML",
        ));
    }
    if req.from.len() > 1 {
        return Err(ApiError::new(
            ErrorCode::MultipleFrom,
            format!(
                "{} From addresses given, at most one allowed",
                req.from.len()
            ),
        ));
    }
    let from_na = req.from.first().unwrap_or(&ctx.default_from);
    let from = parse_address("From", &from_na.address)?;
    let reply_to = req
        .reply_to
        .iter()
        .map(|na| parse_address("ReplyTo", &na.address))
        .collect::<Result<Vec<_>, _>>()?;
    let mut recipients = Vec::new();
    for (kind, list, what) in [
        (RecipientKind::To, &req.to, "To"),
        (RecipientKind::Cc, &req.cc, "CC"),
        (RecipientKind::Bcc, &req.bcc, "BCC"),
    ] {
        for na in list {
            recipients.push((kind, parse_address(what, &na.address)?));
        }
    }
    if recipients.is_empty() {
        return Err(ApiError::new(
            ErrorCode::NoRecipients,
            "no recipients in To, CC or BCC",
        ));
    }
    if let Some(at) = req.future_release
        && at > ctx.now + MAX_FUTURE_RELEASE
    {
        return Err(ApiError::user(format!(
            "FutureRelease {} is more than 60 days ahead",
            crate::time::format(at)
        )));
    }
    let message_id = if req.message_id.is_empty() {
        format!("<{}@{}>", URL_SAFE_NO_PAD.encode(ctx.random), ctx.hostname)
    } else {
        check_message_id("MessageID", &req.message_id)?;
        req.message_id.clone()
    };
    // Like the reference, References are taken as given (callers pass on
    // what they received), as long as they cannot break the header.
    for r in &req.references {
        check_text("References", r)?;
        if r.is_empty() || r.contains(' ') {
            return Err(ApiError::new(
                ErrorCode::MalformedMessageID,
                format!("References {r:?} is not a message id"),
            ));
        }
        // One id is one token that cannot be folded, and the last one is
        // also written whole as In-Reply-To.
        check_message_id_len("References", r)?;
    }
    check_text("Subject", &req.subject)?;
    for na in req
        .from
        .iter()
        .chain(&req.reply_to)
        .chain(&req.to)
        .chain(&req.cc)
    {
        check_text("address name", &na.name)?;
    }

    let smtputf8 = from.needs_smtputf8()
        || reply_to.iter().any(smtp::Address::needs_smtputf8)
        || recipients.iter().any(|(_, a)| a.needs_smtputf8());

    let mut h = HeaderWriter::default();
    h.addresses("From", &[(from_na, &from)], smtputf8);
    if !reply_to.is_empty() {
        let pairs: Vec<_> = req.reply_to.iter().zip(&reply_to).collect();
        h.addresses("Reply-To", &pairs, smtputf8);
    }
    for (name, list, kind) in [
        ("To", &req.to, RecipientKind::To),
        ("Cc", &req.cc, RecipientKind::Cc),
    ] {
        if list.is_empty() {
            continue;
        }
        let addrs = recipients
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, a)| a);
        let pairs: Vec<_> = list.iter().zip(addrs).collect();
        h.addresses(name, &pairs, smtputf8);
    }
    if !req.subject.is_empty() {
        h.unstructured("Subject", &req.subject);
    }
    h.raw("Date", &rfc5322_date(req.date.unwrap_or(ctx.now)));
    h.raw("Message-Id", &message_id);
    if let Some(last) = req.references.last() {
        h.words("References", req.references.iter().map(String::as_str));
        h.raw("In-Reply-To", last);
    }
    h.raw("MIME-Version", "1.0");
    let mut has_agent = false;
    for [name, value] in &req.headers {
        check_header_name(name)?;
        check_text(&format!("header {name}"), value)?;
        if name.eq_ignore_ascii_case("User-Agent") || name.eq_ignore_ascii_case("X-Mailer") {
            has_agent = true;
        }
        h.unstructured(name, value);
    }
    if !has_agent && !ctx.user_agent.is_empty() {
        h.unstructured("User-Agent", &ctx.user_agent);
    }

    let mut boundaries = Boundaries::new(ctx.random);
    let body = build_body(req)?;
    let mut data = h.out;
    body.write(&mut data, &mut boundaries);
    if !data.ends_with(b"\r\n") {
        data.extend_from_slice(b"\r\n");
    }
    let has_8bit = !data.is_ascii();
    Ok(Composed {
        data,
        message_id,
        subject: req.subject.clone(),
        from,
        recipients,
        smtputf8,
        has_8bit,
    })
}

fn parse_address(what: &str, s: &str) -> Result<smtp::Address, ApiError> {
    smtp::Address::parse(s).map_err(|e| {
        ApiError::new(
            ErrorCode::BadAddress,
            format!("parsing {what} address {s:?}: {e}"),
        )
    })
}

fn check_message_id_len(what: &str, id: &str) -> Result<(), ApiError> {
    if id.len() > MAX_MESSAGE_ID_LEN {
        return Err(ApiError::new(
            ErrorCode::MalformedMessageID,
            format!(
                "{what} id of {} octets is longer than {MAX_MESSAGE_ID_LEN}, it cannot fit a header line",
                id.len()
            ),
        ));
    }
    Ok(())
}

fn check_message_id(what: &str, id: &str) -> Result<(), ApiError> {
    check_message_id_len(what, id)?;
    let inner = id.strip_prefix('<').and_then(|s| s.strip_suffix('>'));
    let ok = inner.is_some_and(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::MalformedMessageID,
            format!("{what} {id:?} is not a message id like <id@host>"),
        ))
    }
}

fn check_text(what: &str, s: &str) -> Result<(), ApiError> {
    if let Some(c) = s.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(ApiError::user(format!(
            "{what} contains control character {:?}",
            c
        )));
    }
    Ok(())
}

fn check_header_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 76
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    if !ok {
        return Err(ApiError::user(format!("invalid header name {name:?}")));
    }
    // Headers the composer writes itself: a second copy would make the
    // message ambiguous (two From headers, two bodies' types).
    for reserved in [
        "From",
        "Reply-To",
        "To",
        "Cc",
        "Bcc",
        "Subject",
        "Date",
        "Message-Id",
        "References",
        "In-Reply-To",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    ] {
        if name.eq_ignore_ascii_case(reserved) {
            return Err(ApiError::user(format!(
                "header {name} is set by the composer and cannot be given"
            )));
        }
    }
    Ok(())
}

/// RFC 5322 date in UTC, e.g. "Fri, 01 Mar 2024 10:00:00 +0000".
pub(crate) fn rfc5322_date(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = crate::time::civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let wd = WEEKDAYS
        .get(usize::try_from(days.rem_euclid(7)).unwrap_or(0))
        .unwrap_or(&"Thu");
    let mon = MONTHS
        .get(usize::try_from(m - 1).unwrap_or(0))
        .unwrap_or(&"Jan");
    format!(
        "{wd}, {d:02} {mon} {y:04} {:02}:{:02}:{:02} +0000",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Writes header fields, folding at spaces so lines stay within 78
/// characters where the content allows.
#[derive(Default)]
struct HeaderWriter {
    out: Vec<u8>,
}

impl HeaderWriter {
    fn raw(&mut self, name: &str, value: &str) {
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b": ");
        self.out.extend_from_slice(value.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Tokens separated by single spaces, folded before a token that would
    /// pass 78 characters.
    fn words<'a>(&mut self, name: &str, tokens: impl Iterator<Item = &'a str>) {
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b':');
        let mut col = name.len() + 1;
        for t in tokens {
            let w = t.chars().count();
            if col + 1 + w > 78 && col > name.len() + 1 {
                self.out.extend_from_slice(b"\r\n");
                col = 0;
            }
            self.out.push(b' ');
            self.out.extend_from_slice(t.as_bytes());
            col += 1 + w;
        }
        self.out.extend_from_slice(b"\r\n");
    }

    fn unstructured(&mut self, name: &str, value: &str) {
        let needs_encoding = !value.is_ascii()
            || value
                .split(' ')
                .any(|w| w.len() > 70 || (w.starts_with("=?") && w.ends_with("?=")));
        if needs_encoding {
            let words = encoded_words(value, false);
            self.words(name, words.iter().map(String::as_str));
        } else if value.contains("  ") || value.starts_with(' ') || value.ends_with(' ') {
            // Folding would change runs of spaces; such values stay on one line
            // (at most 998 characters, else encoded words, which keep spaces).
            if name.len() + 2 + value.len() <= 998 {
                self.raw(name, value);
            } else {
                let words = encoded_words(value, false);
                self.words(name, words.iter().map(String::as_str));
            }
        } else {
            self.words(name, value.split(' '));
        }
    }

    fn addresses(&mut self, name: &str, list: &[(&NameAddress, &smtp::Address)], utf8: bool) {
        let mut tokens: Vec<String> = Vec::new();
        let count = list.len();
        for (i, (na, addr)) in list.iter().enumerate() {
            let wire = if utf8 {
                addr.to_utf8_wire()
            } else {
                addr.to_ascii_wire().unwrap_or_else(|| addr.to_utf8_wire())
            };
            let comma = if i + 1 < count { "," } else { "" };
            if na.name.is_empty() {
                tokens.push(format!("{wire}{comma}"));
            } else {
                tokens.extend(display_name(&na.name));
                tokens.push(format!("<{wire}>{comma}"));
            }
        }
        self.words(name, tokens.iter().map(String::as_str));
    }
}

fn display_name(name: &str) -> Vec<String> {
    // A word longer than this cannot be folded; as encoded words it can be
    // split, so no header line passes 998 octets.
    const MAX_WORD: usize = 70;
    if !name.is_ascii() || name.split(' ').any(|w| w.len() > MAX_WORD) {
        return encoded_words(name, true);
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~ ".contains(c);
    if name.chars().all(atext) && !name.starts_with(' ') && !name.ends_with(' ') {
        return name
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect();
    }
    if name.len() > MAX_WORD {
        // A quoted string is one token too.
        return encoded_words(name, true);
    }
    let mut q = String::from("\"");
    for c in name.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    vec![q]
}

/// RFC 2047 Q-encoded words of at most 75 characters, split between
/// characters (never inside a UTF-8 sequence).
fn encoded_words(s: &str, phrase: bool) -> Vec<String> {
    const PREFIX: &str = "=?utf-8?q?";
    let limit = 75 - PREFIX.len() - 2;
    let mut words = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        let mut enc = String::new();
        let safe = c.is_ascii_alphanumeric()
            || (c.is_ascii() && "!*+-/".contains(c))
            || (!phrase && c.is_ascii_graphic() && !"=?_\"(),.:;<>@[\\]".contains(c));
        if c == ' ' {
            enc.push('_');
        } else if safe {
            enc.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                enc.push_str(&format!("={b:02X}"));
            }
        }
        if cur.len() + enc.len() > limit && !cur.is_empty() {
            words.push(format!("{PREFIX}{cur}?="));
            cur.clear();
        }
        cur.push_str(&enc);
    }
    if !cur.is_empty() || words.is_empty() {
        words.push(format!("{PREFIX}{cur}?="));
    }
    words
}

/// Boundaries derived from the context's random bytes, so tests with fixed
/// randomness get fixed output.
struct Boundaries {
    seed: [u8; 16],
    n: u32,
}

impl Boundaries {
    fn new(seed: [u8; 16]) -> Self {
        Boundaries { seed, n: 0 }
    }

    fn next(&mut self) -> String {
        self.n += 1;
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(self.n.to_be_bytes());
        let digest = h.finalize();
        format!(
            "=_{}",
            URL_SAFE_NO_PAD.encode(digest.get(..18).unwrap_or_default())
        )
    }
}

/// A MIME entity before it is written.
enum Part {
    Leaf {
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Multi {
        subtype: &'static str,
        parts: Vec<Part>,
    },
}

impl Part {
    fn write(&self, out: &mut Vec<u8>, boundaries: &mut Boundaries) {
        match self {
            Part::Leaf { headers, body } => {
                for (k, v) in headers {
                    out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(body);
            }
            Part::Multi { subtype, parts } => {
                let mut inner = Vec::new();
                let mut boundary = boundaries.next();
                let mut children = Vec::new();
                for p in parts {
                    let mut c = Vec::new();
                    p.write(&mut c, boundaries);
                    children.push(c);
                }
                // A boundary must not occur in the content; draw another if it does.
                while children
                    .iter()
                    .any(|c| c.windows(boundary.len()).any(|w| w == boundary.as_bytes()))
                {
                    boundary = boundaries.next();
                }
                // The CRLF before a delimiter belongs to the delimiter (RFC 2046
                // §5.1.1), so each part keeps its own final line end.
                for c in &children {
                    inner.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                    inner.extend_from_slice(c);
                    inner.extend_from_slice(b"\r\n");
                }
                // No line end after the close delimiter: an enclosing multipart adds
                // its own, and compose() ends the message with one.
                inner.extend_from_slice(format!("--{boundary}--").as_bytes());
                out.extend_from_slice(
                    format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\r\n\r\n")
                        .as_bytes(),
                );
                out.extend_from_slice(&inner);
            }
        }
    }
}

fn build_body(req: &SendRequest) -> Result<Part, ApiError> {
    let mut alternatives = Vec::new();
    if !req.text.is_empty() {
        alternatives.push(text_part("plain", &req.text));
    }
    if !req.html.is_empty() {
        alternatives.push(text_part("html", &req.html));
    }
    for (i, f) in req.alternative_files.iter().enumerate() {
        alternatives.push(file_part(f, None, "AlternativeFiles", i)?);
    }
    let mut body = wrap("alternative", alternatives);
    if !req.inline_files.is_empty() {
        let mut parts = vec![body];
        for (i, f) in req.inline_files.iter().enumerate() {
            parts.push(file_part(f, Some("inline"), "InlineFiles", i)?);
        }
        body = wrap("related", parts);
    }
    if !req.attached_files.is_empty() {
        let mut parts = vec![body];
        for (i, f) in req.attached_files.iter().enumerate() {
            parts.push(file_part(f, Some("attachment"), "AttachedFiles", i)?);
        }
        body = wrap("mixed", parts);
    }
    Ok(body)
}

fn wrap(subtype: &'static str, mut parts: Vec<Part>) -> Part {
    if parts.len() == 1
        && let Some(p) = parts.pop()
    {
        return p;
    }
    Part::Multi { subtype, parts }
}

fn text_part(subtype: &str, text: &str) -> Part {
    let text = text.replace("\r\n", "\n");
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    // Control characters other than tab (NUL, a lone CR, ...) are not text
    // (RFC 5322 §2.3, RFC 6152 §2.1), so only quoted-printable carries them.
    let plain = text.is_ascii()
        && lines
            .iter()
            .all(|l| l.len() <= 78 && !l.bytes().any(|b| b.is_ascii_control() && b != b'\t'));
    let (cte, body) = if plain {
        let mut b = Vec::with_capacity(text.len() + lines.len());
        for l in &lines {
            b.extend_from_slice(l.as_bytes());
            b.extend_from_slice(b"\r\n");
        }
        ("7bit", b)
    } else {
        ("quoted-printable", quoted_printable(&lines))
    };
    Part::Leaf {
        headers: vec![
            (
                "Content-Type".into(),
                format!("text/{subtype}; charset=utf-8"),
            ),
            ("Content-Transfer-Encoding".into(), cte.into()),
        ],
        body,
    }
}

/// Quoted-printable (RFC 2045 §6.7) of `\n`-split lines: lines of at most 76
/// characters, soft breaks, trailing white space encoded.
fn quoted_printable(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        let bytes = line.as_bytes();
        let mut col = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let literal =
                (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let enc_len = if literal { 1 } else { 3 };
            // Keep room for the soft-break "=" unless this is the line's last byte.
            let room = if last { 76 } else { 75 };
            if col + enc_len > room {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(format!("={b:02X}").as_bytes());
            }
            col += enc_len;
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn file_part(f: &File, disposition: Option<&str>, what: &str, i: usize) -> Result<Part, ApiError> {
    let data = decode_file_data(&f.data)
        .map_err(|e| ApiError::user(format!("{what}[{i}] ({:?}): bad base64 Data: {e}", f.name)))?;
    let content_type = if f.content_type.is_empty() {
        sniff(&data).to_string()
    } else {
        check_content_type(&f.content_type)
            .map_err(|m| ApiError::user(format!("{what}[{i}] ({:?}): {m}", f.name)))?;
        f.content_type.to_ascii_lowercase()
    };
    check_text(&format!("{what}[{i}] Name"), &f.name)?;
    let mut headers = vec![("Content-Type".to_string(), content_type)];
    if let Some(d) = disposition {
        let value = if f.name.is_empty() {
            d.to_string()
        } else {
            format!("{d}; {}", filename_param(&f.name))
        };
        headers.push(("Content-Disposition".into(), value));
    }
    if !f.content_id.is_empty() {
        let id = if f.content_id.starts_with('<') {
            f.content_id.clone()
        } else {
            format!("<{}>", f.content_id)
        };
        check_message_id(&format!("{what}[{i}] ContentID"), &id)
            .map_err(|e| ApiError::user(e.message))?;
        headers.push(("Content-ID".into(), id));
    }
    headers.push(("Content-Transfer-Encoding".into(), "base64".into()));
    let encoded = STANDARD.encode(&data);
    let mut body = Vec::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for (n, chunk) in encoded.as_bytes().chunks(76).enumerate() {
        if n > 0 {
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(chunk);
    }
    Ok(Part::Leaf { headers, body })
}

/// Decodes file data: standard base64, padding optional, line breaks allowed.
pub(crate) fn decode_file_data(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD_NO_PAD.decode(clean.trim_end_matches('='))
}

fn check_content_type(ct: &str) -> Result<(), String> {
    let base = ct.split(';').next().unwrap_or("").trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    match base.split_once('/') {
        Some((t, s)) if token(t) && token(s) && !ct.chars().any(char::is_control) => Ok(()),
        _ => Err(format!("invalid ContentType {ct:?}")),
    }
}

fn filename_param(name: &str) -> String {
    if name.is_ascii() && name.len() <= 60 {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        return format!("filename=\"{escaped}\"");
    }
    // RFC 2231 extended value for non-ASCII or long names.
    let mut v = String::from("filename*=utf-8''");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            v.push(char::from(b));
        } else {
            v.push_str(&format!("%{b:02X}"));
        }
    }
    v
}

/// A media type guessed from the first bytes, for files given without one.
pub fn sniff(data: &[u8]) -> &'static str {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
    ];
    for (magic, ct) in MAGIC {
        if data.starts_with(magic) {
            return ct;
        }
    }
    if data.starts_with(b"RIFF") && data.get(8..12) == Some(b"WEBP") {
        return "image/webp";
    }
    let head = data.get(..512).unwrap_or(data);
    let trimmed = head.trim_ascii_start();
    if trimmed.len() >= 5 {
        let lower = trimmed.get(..14).unwrap_or(trimmed).to_ascii_lowercase();
        if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
            return "text/html; charset=utf-8";
        }
    }
    let text_like = match std::str::from_utf8(head) {
        Ok(s) => !s
            .chars()
            .any(|c| c.is_control() && !"\r\n\t\x0c".contains(c)),
        // A multi-byte character cut at 512 bytes is still text.
        Err(e) => e.error_len().is_none() && head.len() == 512,
    };
    if text_like && !data.is_empty() {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests;
