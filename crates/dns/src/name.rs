//! Names as the resolver takes and gives them.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::LookupError;

/// Puts a name in the form used throughout this crate: ASCII, lower-case,
/// without the trailing dot. Rejects empty names, non-ASCII, whitespace,
/// empty or over-long labels (63 octets) and names over 253 octets.
///
/// ```
/// assert_eq!(dns::normalize_name("MX1.Example.COM.").unwrap(), "mx1.example.com");
/// assert!(dns::normalize_name("a..b").is_err());
/// ```
pub fn normalize_name(name: &str) -> Result<String, LookupError> {
    let invalid = |reason: &str| LookupError::InvalidName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(invalid("empty name"));
    }
    if trimmed.len() > 253 {
        return Err(invalid("longer than 253 octets"));
    }
    if !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("not printable ascii"));
    }
    for label in trimmed.split('.') {
        if label.is_empty() {
            return Err(invalid("empty label"));
        }
        if label.len() > 63 {
            return Err(invalid("label longer than 63 octets"));
        }
    }
    Ok(trimmed.to_ascii_lowercase())
}

/// The name a PTR lookup of `ip` asks for: `4.3.2.1.in-addr.arpa` or the
/// nibble form under `ip6.arpa`.
///
/// ```
/// let ip = "192.0.2.1".parse().unwrap();
/// assert_eq!(dns::reverse_name(ip), "1.2.0.192.in-addr.arpa");
/// ```
pub fn reverse_name(ip: IpAddr) -> String {
    let mut out = String::new();
    match ip {
        IpAddr::V4(v4) => {
            for octet in v4.octets().iter().rev() {
                let _ = write!(out, "{octet}.");
            }
            out.push_str("in-addr.arpa");
        }
        IpAddr::V6(v6) => {
            for octet in v6.octets().iter().rev() {
                let _ = write!(out, "{:x}.{:x}.", octet & 0xf, octet >> 4);
            }
            out.push_str("ip6.arpa");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_dot_and_case_are_normalised() {
        assert_eq!(normalize_name("Example.COM.").unwrap(), "example.com");
        assert_eq!(normalize_name("_25._tcp.mx").unwrap(), "_25._tcp.mx");
    }

    #[test]
    fn bad_names_are_rejected() {
        for bad in ["", ".", "a..b", "a b", "bücher.example", ".a"] {
            assert!(
                matches!(normalize_name(bad), Err(LookupError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        let long_label = "a".repeat(64);
        assert!(normalize_name(&long_label).is_err());
        let long_name = ["a".repeat(63).as_str(); 5].join(".");
        assert!(normalize_name(&long_name).is_err());
    }

    #[test]
    fn ipv6_reverse_name_is_nibbles() {
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            reverse_name(ip),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }
}
