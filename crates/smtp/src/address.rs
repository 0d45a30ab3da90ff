//! Mailbox addresses and paths as used in MAIL FROM and RCPT TO
//! (RFC 5321 §4.1.2, RFC 6531 for UTF-8 local parts, IDNA for domains).

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

/// Longest local part, in octets of its wire form (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCALPART_LEN: usize = 64;
/// Longest domain name, in octets of its ASCII form without a trailing dot.
pub const MAX_DOMAIN_LEN: usize = 253;
/// Longest label of a domain name, in octets of its ASCII form.
pub const MAX_LABEL_LEN: usize = 63;
/// Longest path, in octets including the angle brackets (RFC 5321 §4.5.3.1.3).
pub const MAX_PATH_LEN: usize = 256;
/// Longest input Domain::parse looks at: no Unicode spelling of a 253-octet
/// name needs more, and it bounds the IDNA work on hostile input.
const MAX_DOMAIN_INPUT_LEN: usize = 1024;

/// Why a string is not a valid address, domain, local part or path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The input is empty (or a path is `<>` where a mailbox is needed).
    #[error("empty address")]
    Empty,
    /// An address has no '@' outside a quoted string.
    #[error("address {address:?} has no '@'")]
    MissingAt {
        /// The rejected address.
        address: String,
    },
    /// The local part is longer than 64 octets.
    #[error("local part is {len} octets long, more than 64")]
    LocalpartTooLong {
        /// Its length in octets (wire form).
        len: usize,
    },
    /// The local part is neither a dot-string nor a quoted string, or holds
    /// characters that cannot be sent.
    #[error("invalid local part {localpart:?}: {reason}")]
    InvalidLocalpart {
        /// The rejected local part.
        localpart: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The domain is not a valid (internationalized) host name.
    #[error("invalid domain {domain:?}: {reason}")]
    InvalidDomain {
        /// The rejected domain.
        domain: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The domain is longer than 253 octets in ASCII form.
    #[error("domain is {len} octets long, more than 253 in ascii form")]
    DomainTooLong {
        /// Its length in octets: of the ASCII form, or of the input when the
        /// input alone is too long for any name (over 1024 octets).
        len: usize,
    },
    /// An address literal in brackets is not `[IPv4]` or `[IPv6:...]`.
    #[error("invalid address literal {literal:?}")]
    InvalidAddressLiteral {
        /// The rejected literal, with brackets.
        literal: String,
    },
    /// A path is longer than 256 octets including the brackets.
    #[error("path is {len} octets long, more than 256")]
    PathTooLong {
        /// Its length in octets.
        len: usize,
    },
    /// A path does not start with '<' and end with '>'.
    #[error("path is not enclosed in angle brackets")]
    MissingAngleBrackets,
    /// The source route of a path ("@a,@b:") is malformed.
    #[error("invalid source route in path {path:?}")]
    InvalidSourceRoute {
        /// The rejected path.
        path: String,
    },
}

/// A domain name in normalised form: lower-case A-label (ASCII) and U-label (Unicode) forms.
///
/// ```
/// let domain = smtp::Domain::parse("Bücher.Example.").unwrap();
/// assert_eq!(domain.ascii(), "xn--bcher-kva.example");
/// assert_eq!(domain.unicode(), "bücher.example");
/// assert!(!domain.is_ascii());
/// assert!(smtp::Domain::parse("under_score.example").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain {
    ascii: String,
    unicode: String,
}

fn domain_error(domain: &str, reason: &'static str) -> AddressError {
    AddressError::InvalidDomain {
        domain: domain.to_owned(),
        reason,
    }
}

/// Checks the LDH rules on an A-label form that IDNA processing produced.
fn check_ldh(input: &str, ascii: &str) -> Result<(), AddressError> {
    for label in ascii.split('.') {
        if label.is_empty() {
            return Err(domain_error(input, "empty label"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(domain_error(input, "label longer than 63 octets"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(domain_error(
                input,
                "label with characters other than letters, digits and '-'",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(domain_error(input, "label starts or ends with '-'"));
        }
    }
    // RFC 3696 §2: a top-level label is never all-numeric; such a name is an
    // IP address written without the brackets of an address literal.
    let tld = ascii.rsplit('.').next().unwrap_or("");
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(domain_error(input, "all-numeric top-level label"));
    }
    Ok(())
}

impl Domain {
    /// Parses a domain given in ASCII or Unicode (IDNA UTS-46), with an
    /// optional single trailing dot. The result is lower-case; labels are
    /// 1..=63 octets of letters, digits and '-' in A-label form, not starting
    /// or ending with '-' (so no '_'); the whole name is at most 253 octets
    /// in ASCII form; the last label is not all digits (that would be an IP
    /// address, which belongs in an address literal).
    pub fn parse(s: &str) -> Result<Domain, AddressError> {
        if s.len() > MAX_DOMAIN_INPUT_LEN {
            return Err(AddressError::DomainTooLong { len: s.len() });
        }
        let name = s.strip_suffix('.').unwrap_or(s);
        if name.is_empty() {
            return Err(domain_error(s, "empty"));
        }
        // Length checks are left to after IDNA (DnsLength::Ignore) so that
        // they apply to the A-label form and give our own error variants.
        let uts46 = Uts46::new();
        let ascii = uts46
            .to_ascii(
                name.as_bytes(),
                AsciiDenyList::STD3,
                Hyphens::CheckFirstLast,
                DnsLength::Ignore,
            )
            .map_err(|_| domain_error(s, "not a valid internationalized domain name"))?
            .into_owned();
        if ascii.len() > MAX_DOMAIN_LEN {
            return Err(AddressError::DomainTooLong { len: ascii.len() });
        }
        check_ldh(s, &ascii)?;
        let (unicode, result) = uts46.to_unicode(
            ascii.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
        );
        if result.is_err() {
            return Err(domain_error(s, "a-labels do not decode to valid unicode"));
        }
        Ok(Domain {
            unicode: unicode.into_owned(),
            ascii,
        })
    }

    /// The A-label form, e.g. `xn--bcher-kva.example`.
    pub fn ascii(&self) -> &str {
        &self.ascii
    }

    /// The U-label form, e.g. `bücher.example`.
    pub fn unicode(&self) -> &str {
        &self.unicode
    }

    /// Whether the name has no internationalized labels.
    pub fn is_ascii(&self) -> bool {
        self.ascii == self.unicode
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ascii)
    }
}

impl FromStr for Domain {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Domain::parse(s)
    }
}

/// The part after '@': a domain or an address literal.
///
/// ```
/// use smtp::Host;
/// let host: Host = "[IPv6:2001:DB8::1]".parse().unwrap();
/// assert_eq!(host.to_string(), "[IPv6:2001:db8::1]");
/// assert_eq!("[192.0.2.1]".parse::<Host>().unwrap().to_string(), "[192.0.2.1]");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name.
    Domain(Domain),
    /// An address literal, `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    Ip(IpAddr),
}

impl Host {
    /// Parses a domain or a bracketed address literal.
    pub fn parse(s: &str) -> Result<Host, AddressError> {
        if s.starts_with('[') {
            parse_address_literal(s).map(Host::Ip)
        } else {
            Domain::parse(s).map(Host::Domain)
        }
    }

    /// The domain, None for an address literal.
    pub fn domain(&self) -> Option<&Domain> {
        match self {
            Host::Domain(domain) => Some(domain),
            Host::Ip(_) => None,
        }
    }

    /// The host in U-label form for a domain, the literal otherwise.
    pub fn to_unicode(&self) -> Cow<'_, str> {
        match self {
            Host::Domain(domain) => Cow::Borrowed(domain.unicode()),
            Host::Ip(_) => Cow::Owned(self.to_string()),
        }
    }
}

fn parse_address_literal(s: &str) -> Result<IpAddr, AddressError> {
    let invalid = || AddressError::InvalidAddressLiteral { literal: s.into() };
    let inner = s
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or_else(invalid)?;
    let v6 = inner
        .get(..5)
        .filter(|tag| tag.eq_ignore_ascii_case("IPv6:"))
        .and_then(|_| inner.get(5..));
    match v6 {
        Some(addr) => addr
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| invalid()),
        None => inner
            .parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| invalid()),
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(domain) => f.write_str(domain.ascii()),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "[{ip}]"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[IPv6:{ip}]"),
        }
    }
}

impl FromStr for Host {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Host::parse(s)
    }
}

/// A local part, stored decoded (quotes and backslash escapes removed).
///
/// ```
/// use smtp::Localpart;
/// let quoted = Localpart::parse(r#""john \"j\" doe""#).unwrap();
/// assert_eq!(quoted.as_str(), r#"john "j" doe"#);
/// assert_eq!(quoted.to_wire(), r#""john \"j\" doe""#);
/// assert_eq!(Localpart::parse(r#""plain""#).unwrap().to_wire(), "plain");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Localpart(String);

/// atext of RFC 5321/5322, plus UTF-8 beyond ASCII as RFC 6531 allows
/// (without C1 controls, which no mailbox should carry).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && !c.is_control())
}

fn is_dot_string(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// qtextSMTP of RFC 5321, plus UTF-8 beyond ASCII as RFC 6531 allows.
fn is_qtext(c: char) -> bool {
    matches!(c, ' ' | '!' | '#'..='[' | ']'..='~') || (!c.is_ascii() && !c.is_control())
}

impl Localpart {
    /// Parses the wire form: a dot-string or a quoted-string (RFC 5321 §4.1.2),
    /// with UTF-8 allowed as in RFC 6531 (callers check [`Localpart::is_ascii`]
    /// against the server's SMTPUTF8 support). At most 64 octets; empty is an error.
    pub fn parse(wire: &str) -> Result<Localpart, AddressError> {
        let invalid = |reason| AddressError::InvalidLocalpart {
            localpart: wire.into(),
            reason,
        };
        if wire.is_empty() {
            return Err(invalid("empty"));
        }
        if wire.len() > MAX_LOCALPART_LEN {
            return Err(AddressError::LocalpartTooLong { len: wire.len() });
        }
        let Some(quoted) = wire.strip_prefix('"') else {
            if is_dot_string(wire) {
                return Ok(Localpart(wire.to_owned()));
            }
            return Err(invalid("not a dot-string or quoted-string"));
        };
        let mut decoded = String::with_capacity(quoted.len());
        let mut chars = quoted.chars();
        loop {
            match chars.next() {
                None => return Err(invalid("unterminated quoted-string")),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some(c @ ' '..='~') => decoded.push(c),
                    _ => return Err(invalid("backslash not followed by printable ascii")),
                },
                Some(c) if is_qtext(c) => decoded.push(c),
                Some(_) => return Err(invalid("character not allowed in quoted-string")),
            }
        }
        if chars.next().is_some() {
            return Err(invalid("text after closing quote"));
        }
        if decoded.is_empty() {
            return Err(invalid("empty"));
        }
        Ok(Localpart(decoded))
    }

    /// Builds a local part from its decoded value (e.g. `john doe`), quoting
    /// it on the wire where needed. Control characters are rejected, as is a
    /// value whose wire form exceeds 64 octets.
    ///
    /// ```
    /// let lp = smtp::Localpart::new("john doe").unwrap();
    /// assert_eq!(lp.to_wire(), "\"john doe\"");
    /// ```
    pub fn new(decoded: &str) -> Result<Localpart, AddressError> {
        if decoded.is_empty() {
            return Err(AddressError::InvalidLocalpart {
                localpart: String::new(),
                reason: "empty",
            });
        }
        if decoded.chars().any(char::is_control) {
            return Err(AddressError::InvalidLocalpart {
                localpart: decoded.into(),
                reason: "control character",
            });
        }
        let localpart = Localpart(decoded.to_owned());
        let len = localpart.to_wire().len();
        if len > MAX_LOCALPART_LEN {
            return Err(AddressError::LocalpartTooLong { len });
        }
        Ok(localpart)
    }

    /// The decoded value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The wire form: the value itself when it is a dot-string, else a
    /// quoted-string with '"' and '\' escaped.
    pub fn to_wire(&self) -> Cow<'_, str> {
        if is_dot_string(&self.0) {
            return Cow::Borrowed(&self.0);
        }
        let mut out = String::with_capacity(self.0.len() + 2);
        out.push('"');
        for c in self.0.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        Cow::Owned(out)
    }

    /// Whether the local part is ASCII (sendable without SMTPUTF8).
    pub fn is_ascii(&self) -> bool {
        self.0.is_ascii()
    }
}

impl fmt::Display for Localpart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_wire())
    }
}

/// A mailbox: local part @ host.
///
/// ```
/// use smtp::Address;
/// let addr = Address::parse("Jörg@Bücher.example").unwrap();
/// assert_eq!(addr.localpart().as_str(), "Jörg");
/// assert!(addr.needs_smtputf8());
/// assert_eq!(addr.to_utf8_wire(), "Jörg@bücher.example");
/// assert_eq!(addr.to_ascii_wire(), None);
///
/// let ascii = Address::parse("info@Bücher.example").unwrap();
/// assert_eq!(ascii.to_ascii_wire().as_deref(), Some("info@xn--bcher-kva.example"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    localpart: Localpart,
    host: Host,
}

/// Index of the last '@' that is not inside a quoted string.
fn split_at_sign(s: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    let mut last = None;
    for (index, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '@' if !in_quotes => last = Some(index),
            _ => {}
        }
    }
    last
}

impl Address {
    /// Parses `local@domain` (no angle brackets). The local part is in wire
    /// form; the split is at the last '@' outside a quoted string.
    pub fn parse(s: &str) -> Result<Address, AddressError> {
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        let at = split_at_sign(s).ok_or_else(|| AddressError::MissingAt { address: s.into() })?;
        let local = s.get(..at).unwrap_or("");
        let host = s.get(at + 1..).unwrap_or("");
        Ok(Address {
            localpart: Localpart::parse(local)?,
            host: Host::parse(host)?,
        })
    }

    /// Joins a local part and a host.
    pub fn new(localpart: Localpart, host: Host) -> Address {
        Address { localpart, host }
    }

    /// The local part.
    pub fn localpart(&self) -> &Localpart {
        &self.localpart
    }

    /// The host: a domain or an address literal.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The domain, None for an address literal.
    pub fn domain(&self) -> Option<&Domain> {
        self.host.domain()
    }

    /// True when the local part is non-ASCII (the domain can always go as A-labels).
    pub fn needs_smtputf8(&self) -> bool {
        !self.localpart.is_ascii()
    }

    /// The wire form with the domain in A-labels; None when the local part is not ASCII.
    pub fn to_ascii_wire(&self) -> Option<String> {
        if self.needs_smtputf8() {
            return None;
        }
        Some(format!("{}@{}", self.localpart.to_wire(), self.host))
    }

    /// The wire form with the domain in U-labels, for SMTPUTF8 sessions and display.
    pub fn to_utf8_wire(&self) -> String {
        format!("{}@{}", self.localpart.to_wire(), self.host.to_unicode())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_utf8_wire())
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

/// Removes an RFC 5321 source route ("@a.example,@b.example:") from the inside of a path.
fn strip_source_route<'a>(path: &str, inner: &'a str) -> Result<&'a str, AddressError> {
    if !inner.starts_with('@') {
        return Ok(inner);
    }
    let bad = || AddressError::InvalidSourceRoute { path: path.into() };
    let (route, mailbox) = inner.split_once(':').ok_or_else(bad)?;
    for hop in route.split(',') {
        let domain = hop.strip_prefix('@').ok_or_else(bad)?;
        Domain::parse(domain).map_err(|_| bad())?;
    }
    Ok(mailbox)
}

/// Parses a path as in RCPT TO: `<local@domain>`. An RFC 5321 source route
/// (`<@a,@b:local@domain>`) is accepted and dropped. At most 256 octets
/// including the brackets. `<>` is an error here; see [`parse_reverse_path`].
///
/// ```
/// let addr = smtp::parse_path("<@relay.example:user@example.org>").unwrap();
/// assert_eq!(addr.to_string(), "user@example.org");
/// ```
pub fn parse_path(s: &str) -> Result<Address, AddressError> {
    if s.len() > MAX_PATH_LEN {
        return Err(AddressError::PathTooLong { len: s.len() });
    }
    let inner = s
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .ok_or(AddressError::MissingAngleBrackets)?;
    let mailbox = strip_source_route(s, inner)?;
    Address::parse(mailbox)
}

/// Like [`parse_path`], but the null path `<>` (MAIL FROM of bounces) gives `Ok(None)`.
///
/// ```
/// assert_eq!(smtp::parse_reverse_path("<>").unwrap(), None);
/// assert!(smtp::parse_reverse_path("<a@example.org>").unwrap().is_some());
/// ```
pub fn parse_reverse_path(s: &str) -> Result<Option<Address>, AddressError> {
    if s == "<>" {
        return Ok(None);
    }
    parse_path(s).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn domain(s: &str) -> Domain {
        Domain::parse(s).unwrap()
    }

    #[test]
    fn ascii_domain_is_lower_cased_and_loses_trailing_dot() {
        let d = domain("Mail.EXAMPLE.org.");
        assert_eq!(d.ascii(), "mail.example.org");
        assert_eq!(d.unicode(), "mail.example.org");
        assert!(d.is_ascii());
        assert_eq!(d.to_string(), "mail.example.org");
    }

    #[test]
    fn idn_domain_has_both_forms() {
        let from_unicode = domain("BÜCHER.example");
        let from_ascii = domain("xn--bcher-kva.EXAMPLE");
        assert_eq!(from_unicode, from_ascii);
        assert_eq!(from_unicode.ascii(), "xn--bcher-kva.example");
        assert_eq!(from_unicode.unicode(), "bücher.example");
        assert!(!from_unicode.is_ascii());
    }

    #[test]
    fn invalid_domains_are_rejected_with_reason() {
        let cases = [
            ("", "empty"),
            (".", "empty"),
            ("a..b", "empty label"),
            ("a.b..", "empty label"),
            ("-a.example", "not a valid internationalized domain name"),
            ("a-.example", "not a valid internationalized domain name"),
            (
                "under_score.example",
                "not a valid internationalized domain name",
            ),
            (
                "sp ace.example",
                "not a valid internationalized domain name",
            ),
            ("[192.0.2.1]", "not a valid internationalized domain name"),
            ("xn--a.example", "not a valid internationalized domain name"),
            ("xn--.example", "not a valid internationalized domain name"),
            (
                "a\u{200d}b.example",
                "not a valid internationalized domain name",
            ),
            ("192.0.2.1", "all-numeric top-level label"),
            ("example.123", "all-numeric top-level label"),
        ];
        for (input, reason) in cases {
            assert_eq!(
                Domain::parse(input),
                Err(AddressError::InvalidDomain {
                    domain: input.into(),
                    reason
                }),
                "{input}"
            );
        }
    }

    #[test]
    fn uts46_mapping_normalises_input() {
        // Full-width letters and the ideographic full stop map to ASCII.
        assert_eq!(domain("ｅｘａｍｐｌｅ。ORG").ascii(), "example.org");
        // A soft hyphen is ignored.
        assert_eq!(domain("ex\u{ad}ample.org").ascii(), "example.org");
        // Non-transitional processing keeps sharp s.
        let sharp = domain("Straße.example");
        assert_eq!(sharp.ascii(), "xn--strae-oqa.example");
        assert_eq!(sharp.unicode(), "straße.example");
        assert_eq!(domain("é.xn--p1ai").unicode(), "é.рф");
        // Hyphens in positions 3 and 4 of non-IDN labels are accepted.
        assert_eq!(domain("ab--cd.example").ascii(), "ab--cd.example");
        assert_eq!(domain("1.example").ascii(), "1.example");
    }

    #[test]
    fn domain_label_and_name_lengths() {
        let label63 = "a".repeat(63);
        assert_eq!(domain(&format!("{label63}.example")).ascii().len(), 71);
        let label64 = "a".repeat(64);
        let long_label = format!("{label64}.example");
        assert_eq!(
            Domain::parse(&long_label),
            Err(AddressError::InvalidDomain {
                domain: long_label.clone(),
                reason: "label longer than 63 octets"
            })
        );
        // 4 labels of 63 + 3 dots = 255; trim to exactly 253.
        let name253 = format!("{l}.{l}.{l}.{m}", l = "a".repeat(63), m = "a".repeat(61));
        assert_eq!(name253.len(), 253);
        assert_eq!(domain(&name253).ascii().len(), 253);
        assert_eq!(domain(&format!("{name253}.")).ascii().len(), 253);
        let name254 = format!("{name253}a");
        assert_eq!(
            Domain::parse(&name254),
            Err(AddressError::DomainTooLong { len: 254 })
        );
        // 250 characters of two octets each: 500 octets in, far more out.
        let unicode = format!("{}.example", vec!["é".repeat(50); 5].join("."));
        assert!(matches!(
            Domain::parse(&unicode),
            Err(AddressError::DomainTooLong { len }) if len > 253
        ));
        let huge = "a.".repeat(600);
        assert_eq!(
            Domain::parse(&huge),
            Err(AddressError::DomainTooLong { len: 1200 })
        );
    }

    #[test]
    fn host_literals_parse_and_display() {
        assert_eq!(
            Host::parse("[192.0.2.1]"),
            Ok(Host::Ip("192.0.2.1".parse().unwrap()))
        );
        assert_eq!(
            Host::parse("[ipv6:2001:DB8::1]").unwrap().to_string(),
            "[IPv6:2001:db8::1]"
        );
        assert_eq!(Host::parse("[192.0.2.1]").unwrap().domain(), None);
        assert_eq!(
            Host::parse("example.org").unwrap().domain(),
            Some(&domain("example.org"))
        );
        for bad in [
            "[]",
            "[192.0.2]",
            "[192.0.2.256]",
            "[192.0.2.01]",
            "[2001:db8::1]",
            "[IPv6:192.0.2.1]",
            "[IPv6:]",
            "[tag:content]",
            "[192.0.2.1",
        ] {
            assert_eq!(
                Host::parse(bad),
                Err(AddressError::InvalidAddressLiteral {
                    literal: bad.into()
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn dot_string_localparts_keep_case() {
        let lp = Localpart::parse("John.Doe+tag").unwrap();
        assert_eq!(lp.as_str(), "John.Doe+tag");
        assert_eq!(lp.to_wire(), "John.Doe+tag");
        assert!(lp.is_ascii());
        assert_eq!(
            Localpart::parse("!#$%&'*+-/=?^_`{|}~").unwrap().as_str(),
            "!#$%&'*+-/=?^_`{|}~"
        );
    }

    #[test]
    fn utf8_localpart_is_accepted_and_flagged() {
        let lp = Localpart::parse("δοκιμή").unwrap();
        assert!(!lp.is_ascii());
        assert_eq!(lp.to_wire(), "δοκιμή");
    }

    #[test]
    fn quoted_localparts_are_decoded_and_requoted() {
        let lp = Localpart::parse(r#""a b\"c\\d""#).unwrap();
        assert_eq!(lp.as_str(), r#"a b"c\d"#);
        assert_eq!(lp.to_wire(), r#""a b\"c\\d""#);
        // Needless quoting and escaping disappear on the wire.
        assert_eq!(Localpart::parse(r#""a\b""#).unwrap().to_wire(), "ab");
        // Dots in odd places need quotes.
        assert_eq!(
            Localpart::parse(r#"".a..b.""#).unwrap().to_wire(),
            r#"".a..b.""#
        );
    }

    #[test]
    fn invalid_localparts_say_why() {
        let cases = [
            ("", "empty"),
            (r#""""#, "empty"),
            ("a..b", "not a dot-string or quoted-string"),
            (".a", "not a dot-string or quoted-string"),
            ("a.", "not a dot-string or quoted-string"),
            ("a b", "not a dot-string or quoted-string"),
            ("a\"b", "not a dot-string or quoted-string"),
            ("a(b)", "not a dot-string or quoted-string"),
            ("a\u{85}b", "not a dot-string or quoted-string"),
            ("a\u{0}b", "not a dot-string or quoted-string"),
            (r#""abc"#, "unterminated quoted-string"),
            (r#""abc\"#, "backslash not followed by printable ascii"),
            ("\"a\\\tb\"", "backslash not followed by printable ascii"),
            ("\"a\tb\"", "character not allowed in quoted-string"),
            ("\"a\u{7f}\"", "character not allowed in quoted-string"),
            (r#""a"b"#, "text after closing quote"),
        ];
        for (input, reason) in cases {
            assert_eq!(
                Localpart::parse(input),
                Err(AddressError::InvalidLocalpart {
                    localpart: input.into(),
                    reason
                }),
                "{input}"
            );
        }
    }

    #[test]
    fn localpart_length_limit_is_64_wire_octets() {
        assert!(Localpart::parse(&"a".repeat(64)).is_ok());
        assert_eq!(
            Localpart::parse(&"a".repeat(65)),
            Err(AddressError::LocalpartTooLong { len: 65 })
        );
        // "é" is two octets.
        assert_eq!(
            Localpart::parse(&"é".repeat(33)),
            Err(AddressError::LocalpartTooLong { len: 66 })
        );
        // 62 characters plus the two quotes of the wire form.
        assert!(Localpart::new(&format!("a b{}", "c".repeat(59))).is_ok());
        assert_eq!(
            Localpart::new(&format!("a b{}", "c".repeat(60))),
            Err(AddressError::LocalpartTooLong { len: 65 })
        );
    }

    #[test]
    fn localpart_new_rejects_control_and_empty() {
        assert_eq!(
            Localpart::new("a\r\nb"),
            Err(AddressError::InvalidLocalpart {
                localpart: "a\r\nb".into(),
                reason: "control character"
            })
        );
        assert_eq!(
            Localpart::new(""),
            Err(AddressError::InvalidLocalpart {
                localpart: "".into(),
                reason: "empty"
            })
        );
        let lp = Localpart::new("john doe").unwrap();
        assert_eq!(lp.as_str(), "john doe");
        assert_eq!(lp.to_wire(), "\"john doe\"");
        assert_eq!(lp.to_string(), "\"john doe\"");
    }

    #[test]
    fn address_splits_at_last_unquoted_at() {
        let addr = Address::parse(r#""a@b"@Example.ORG"#).unwrap();
        assert_eq!(addr.localpart().as_str(), "a@b");
        assert_eq!(addr.domain(), Some(&domain("example.org")));
        assert_eq!(addr.to_string(), r#""a@b"@example.org"#);
        let escaped = Address::parse(r#""a\"@b"@example.org"#).unwrap();
        assert_eq!(escaped.localpart().as_str(), r#"a"@b"#);
    }

    #[test]
    fn address_with_literal_host() {
        let addr = Address::parse("postmaster@[IPv6:2001:db8::1]").unwrap();
        assert_eq!(addr.domain(), None);
        assert_eq!(addr.host(), &Host::Ip("2001:db8::1".parse().unwrap()));
        assert_eq!(
            addr.to_ascii_wire().as_deref(),
            Some("postmaster@[IPv6:2001:db8::1]")
        );
        assert_eq!(addr.to_utf8_wire(), "postmaster@[IPv6:2001:db8::1]");
    }

    #[test]
    fn address_errors() {
        assert_eq!(Address::parse(""), Err(AddressError::Empty));
        assert_eq!(
            Address::parse("user.example.org"),
            Err(AddressError::MissingAt {
                address: "user.example.org".into()
            })
        );
        assert_eq!(
            Address::parse(r#""user@example.org""#),
            Err(AddressError::MissingAt {
                address: r#""user@example.org""#.into()
            })
        );
        assert_eq!(
            Address::parse("@example.org"),
            Err(AddressError::InvalidLocalpart {
                localpart: "".into(),
                reason: "empty"
            })
        );
        assert_eq!(
            Address::parse("user@"),
            Err(AddressError::InvalidDomain {
                domain: "".into(),
                reason: "empty"
            })
        );
        assert_eq!(
            Address::parse("a@b@example.org"),
            Err(AddressError::InvalidLocalpart {
                localpart: "a@b".into(),
                reason: "not a dot-string or quoted-string"
            })
        );
    }

    #[test]
    fn address_new_and_wire_forms() {
        let addr = Address::new(
            Localpart::new("jörg").unwrap(),
            Host::Domain(domain("bücher.example")),
        );
        assert!(addr.needs_smtputf8());
        assert_eq!(addr.to_ascii_wire(), None);
        assert_eq!(addr.to_utf8_wire(), "jörg@bücher.example");
        assert_eq!(addr.to_string(), "jörg@bücher.example");
        assert_eq!("jörg@xn--bcher-kva.example".parse::<Address>(), Ok(addr));
    }

    #[test]
    fn paths_need_brackets_and_drop_source_routes() {
        assert_eq!(
            parse_path("<user@example.org>").unwrap().to_string(),
            "user@example.org"
        );
        assert_eq!(
            parse_path("<@a.example,@b.example:user@example.org>")
                .unwrap()
                .to_string(),
            "user@example.org"
        );
        assert_eq!(
            parse_path("user@example.org"),
            Err(AddressError::MissingAngleBrackets)
        );
        assert_eq!(
            parse_path("<user@example.org"),
            Err(AddressError::MissingAngleBrackets)
        );
        assert_eq!(parse_path("<>"), Err(AddressError::Empty));
        for bad in [
            "<@a.example user@example.org>",
            "<@a.example,b.example:u@example.org>",
            "<@:u@example.org>",
            "<@a_b:u@example.org>",
        ] {
            assert_eq!(
                parse_path(bad),
                Err(AddressError::InvalidSourceRoute { path: bad.into() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn path_length_limit_is_256_with_brackets() {
        let local = "a".repeat(64);
        // 64 + 1 + 189 + 2 = 256
        let host = format!("{}.{}.{}", "b".repeat(63), "c".repeat(63), "d".repeat(61));
        assert_eq!(host.len(), 189);
        let path = format!("<{local}@{host}>");
        assert_eq!(path.len(), 256);
        assert!(parse_path(&path).is_ok());
        let longer = format!("<{local}@{host}e>");
        assert_eq!(
            parse_path(&longer),
            Err(AddressError::PathTooLong { len: 257 })
        );
    }

    #[test]
    fn reverse_path_allows_null() {
        assert_eq!(parse_reverse_path("<>"), Ok(None));
        assert_eq!(
            parse_reverse_path("<a@example.org>"),
            Ok(Some(Address::parse("a@example.org").unwrap()))
        );
        assert_eq!(
            parse_reverse_path(""),
            Err(AddressError::MissingAngleBrackets)
        );
    }

    #[test]
    fn error_messages_name_the_input() {
        assert_eq!(
            Address::parse("nobody").unwrap_err().to_string(),
            "address \"nobody\" has no '@'"
        );
        assert_eq!(
            Domain::parse("a..b").unwrap_err().to_string(),
            "invalid domain \"a..b\": empty label"
        );
    }

    fn arb_localpart() -> impl Strategy<Value = Localpart> {
        prop_oneof![
            "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,10}(\\.[a-zA-Z0-9_-]{1,8}){0,3}",
            "[ -~]{1,40}",
            "[a-zé日本δ .\"\\\\]{1,20}",
        ]
        .prop_filter_map("valid local part", |s| Localpart::new(&s).ok())
    }

    fn arb_host() -> impl Strategy<Value = Host> {
        prop_oneof![
            "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){0,3}",
            "(bücher|日本|δοκιμή|xn--bcher-kva)\\.[a-z]{2,6}",
        ]
        .prop_filter_map("valid domain", |s| Domain::parse(&s).ok().map(Host::Domain))
        .boxed()
        .prop_union(any::<IpAddr>().prop_map(Host::Ip).boxed())
    }

    proptest! {
        #[test]
        fn utf8_wire_then_parse_is_identity(localpart in arb_localpart(), host in arb_host()) {
            let addr = Address::new(localpart, host);
            let wire = addr.to_utf8_wire();
            prop_assert_eq!(Address::parse(&wire), Ok(addr.clone()));
            if let Some(ascii) = addr.to_ascii_wire() {
                prop_assert_eq!(Address::parse(&ascii), Ok(addr.clone()));
                prop_assert_eq!(parse_path(&format!("<{ascii}>")), Ok(addr));
            }
        }

        #[test]
        fn domain_forms_parse_back_to_the_same_domain(host in arb_host()) {
            if let Host::Domain(domain) = host {
                prop_assert_eq!(Domain::parse(domain.ascii()), Ok(domain.clone()));
                prop_assert_eq!(Domain::parse(domain.unicode()), Ok(domain.clone()));
                prop_assert_eq!(Domain::parse(&domain.ascii().to_uppercase()), Ok(domain.clone()));
                prop_assert!(domain.ascii().is_ascii());
                prop_assert_eq!(domain.is_ascii(), domain.ascii() == domain.unicode());
            }
        }

        #[test]
        fn localpart_wire_then_parse_is_identity(localpart in arb_localpart()) {
            prop_assert_eq!(Localpart::parse(&localpart.to_wire()), Ok(localpart));
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,80}|[\"\\\\@<>.\\[\\]:,a-z ]{0,40}") {
            let _ = Address::parse(&s);
            let _ = Domain::parse(&s);
            let _ = Localpart::parse(&s);
            let _ = Localpart::new(&s);
            let _ = Host::parse(&s);
            let _ = parse_path(&s);
            let _ = parse_reverse_path(&s);
            let _ = parse_path(&format!("<{s}>"));
        }
    }
}
