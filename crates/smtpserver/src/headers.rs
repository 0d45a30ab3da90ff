//! Pure helpers over a message's header section that a queue needs at
//! submission: extra metadata headers and `TLS-Required: No`.

use std::collections::BTreeMap;

use smtp::Reply;

use crate::replies;

/// The header prefixes whose fields become extra metadata: ours and the
/// reference's, in canonical form.
pub const EXTRA_PREFIXES: [&str; 2] = ["X-Postel-Extra-", "X-Mox-Extra-"];

/// Why the extra metadata headers are unacceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtraError {
    /// One key appears twice (under either prefix).
    #[error("duplicate extra metadata key {key:?} (header {header:?})")]
    Duplicate {
        /// The canonical key.
        key: String,
        /// The second header's name as written.
        header: String,
    },
}

impl ExtraError {
    /// `554 5.6.0 duplicate extra metadata key "<key>"`.
    pub fn reply(&self) -> Reply {
        match self {
            ExtraError::Duplicate { key, .. } => {
                replies::bad_content(&format!("duplicate extra metadata key {key:?}"))
            }
        }
    }
}

/// The header section: everything before the first empty line (the whole
/// message if there is none).
pub fn header_section(message: &[u8]) -> &[u8] {
    let mut start = 0;
    while start < message.len() {
        let rest = message.get(start..).unwrap_or(&[]);
        if rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
            return message.get(..start).unwrap_or(message);
        }
        match rest.iter().position(|b| *b == b'\n') {
            Some(i) => start += i + 1,
            None => break,
        }
    }
    message
}

/// The fields of a header section as (name, unfolded value): continuation
/// lines are joined with one space and the value is trimmed, like Go's
/// textproto. Lines without a colon are skipped.
pub fn header_fields(message: &[u8]) -> Vec<(String, String)> {
    let section = header_section(message);
    let mut fields: Vec<(String, String)> = Vec::new();
    for raw in section.split(|b| *b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(line);
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if let Some((_, value)) = fields.last_mut() {
                let more = text.trim();
                if !more.is_empty() {
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(more);
                }
            }
            continue;
        }
        if let Some((name, value)) = text.split_once(':') {
            fields.push((name.trim_end().to_string(), value.trim().to_string()));
        }
    }
    fields
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Go's `CanonicalMIMEHeaderKey`: the first letter and each letter after a
/// dash upper-case, the others lower-case; a name with bytes outside the
/// HTTP token set (spaces, non-ASCII) is returned unchanged.
///
/// ```
/// assert_eq!(smtpserver::canonical_header_key("x-mox-EXTRA-a"), "X-Mox-Extra-A");
/// assert_eq!(smtpserver::canonical_header_key("x-☺"), "x-☺");
/// ```
pub fn canonical_header_key(name: &str) -> String {
    if !name.bytes().all(is_token_byte) {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// The extra metadata of a message: for every header named
/// `X-Postel-Extra-<Key>` or `X-Mox-Extra-<Key>` (prefix case-insensitive),
/// key = the rest of the Go-canonical name, value = the unfolded value. The
/// headers stay in the message.
///
/// ```
/// let msg = b"X-Mox-Extra-x-cANONICAL-z: ok\r\nx-postel-extra-a: 1\r\n\r\nbody\r\n";
/// let extra = smtpserver::extra_metadata(msg).unwrap();
/// assert_eq!(extra["X-Canonical-Z"], "ok");
/// assert_eq!(extra["A"], "1");
/// let dup = b"X-Postel-Extra-A: 1\r\nX-Mox-Extra-a: 2\r\n\r\n";
/// assert_eq!(smtpserver::extra_metadata(dup).unwrap_err().reply().to_wire(),
///     "554 5.6.0 duplicate extra metadata key \"A\"\r\n");
/// ```
pub fn extra_metadata(message: &[u8]) -> Result<BTreeMap<String, String>, ExtraError> {
    let mut extra = BTreeMap::new();
    for (name, value) in header_fields(message) {
        let canonical = canonical_header_key(&name);
        let key = EXTRA_PREFIXES.iter().find_map(|prefix| {
            let head = canonical.get(..prefix.len())?;
            head.eq_ignore_ascii_case(prefix)
                .then(|| canonical.get(prefix.len()..))
                .flatten()
        });
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            continue;
        };
        if extra.contains_key(key) {
            return Err(ExtraError::Duplicate {
                key: key.to_string(),
                header: name,
            });
        }
        extra.insert(key.to_string(), value);
    }
    Ok(extra)
}

/// Whether the message asks to ignore TLS policy (RFC 8689 §5): it has a
/// `TLS-Required` header and every such header's value is "No"
/// (case-insensitive).
///
/// ```
/// assert!(smtpserver::tls_required_no(b"TLS-Required: no\r\n\r\nx"));
/// assert!(!smtpserver::tls_required_no(b"TLS-Required: No\r\ntls-required: yes\r\n\r\n"));
/// assert!(!smtpserver::tls_required_no(b"Subject: x\r\n\r\nTLS-Required: No\r\n"));
/// ```
pub fn tls_required_no(message: &[u8]) -> bool {
    let mut seen = false;
    for (name, value) in header_fields(message) {
        if name.eq_ignore_ascii_case("TLS-Required") {
            if !value.eq_ignore_ascii_case("no") {
                return false;
            }
            seen = true;
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(headers: &str) -> Vec<u8> {
        format!(
            "{}\r\n\r\nbody\r\nX-Mox-Extra-Body: no\r\n",
            headers.replace('\n', "\r\n")
        )
        .into_bytes()
    }

    #[test]
    fn reference_extra_cases_and_our_prefix() {
        let m = msg(
            "From: <mjl@mox.example>\nX-Mox-Extra-Test: testvalue\nX-Mox-Extra-a: 123\nX-Mox-Extra-☺: ☹\nX-Mox-Extra-x-cANONICAL-z: ok\nX-Postel-Extra-order-ID:  42\n  continued\nMessage-Id: <test@mox.example>",
        );
        let extra = extra_metadata(&m).unwrap();
        let expect: BTreeMap<String, String> = [
            ("Test", "testvalue"),
            ("A", "123"),
            ("☺", "☹"),
            ("X-Canonical-Z", "ok"),
            ("Order-Id", "42 continued"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(extra, expect);
    }

    #[test]
    fn duplicates_under_either_prefix_are_refused() {
        for headers in [
            "X-Mox-Extra-Test: 1\nX-Mox-Extra-test: 2",
            "X-Postel-Extra-Test: 1\nX-Mox-Extra-TEST: 2",
            "x-postel-extra-a: 1\nX-POSTEL-EXTRA-A: 2",
        ] {
            let err = extra_metadata(&msg(headers)).unwrap_err();
            assert_eq!(err.reply().code, 554);
            assert_eq!(err.reply().enhanced_code().unwrap().to_string(), "5.6.0");
        }
    }

    #[test]
    fn empty_key_and_body_lines_are_ignored() {
        assert!(extra_metadata(&msg("X-Mox-Extra-: x")).unwrap().is_empty());
    }

    #[test]
    fn header_section_without_blank_line_is_whole_message() {
        assert_eq!(header_section(b"A: b\r\n"), b"A: b\r\n");
        assert_eq!(header_section(b"\r\nbody"), b"");
    }

    #[test]
    fn tls_required_needs_all_values_no() {
        assert!(tls_required_no(&msg("TLS-Required:  NO ")));
        assert!(!tls_required_no(&msg("Subject: x")));
        assert!(!tls_required_no(&msg("TLS-Required: maybe")));
    }
}
