//! SCRAM message syntax (RFC 5802 §7): GS2 header, attributes, saslname escaping.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::{ChannelBindingType, SaslError};

/// Longest SCRAM message either side accepts. Real ones are a few hundred
/// bytes; this keeps a hostile peer from making us buffer or hash megabytes.
pub(crate) const MAX_MESSAGE: usize = 4096;

/// The GS2 channel binding flag of a SCRAM client-first message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gs2Flag {
    /// `n`: the client does not (or cannot, on this session) do channel binding.
    NoBinding,
    /// `y`: the client could bind but believes the server cannot (it offered
    /// no -PLUS mechanism). A server that can bind rejects this as a downgrade.
    BindingNotOffered,
    /// `p=<type>`: the client binds with this type (only with -PLUS mechanisms).
    Bound(ChannelBindingType),
}

impl fmt::Display for Gs2Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gs2Flag::NoBinding => f.write_str("n"),
            Gs2Flag::BindingNotOffered => f.write_str("y"),
            Gs2Flag::Bound(kind) => write!(f, "p={kind}"),
        }
    }
}

/// The GS2 header: flag and optional authorization identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Gs2Header {
    pub(crate) flag: Gs2Flag,
    pub(crate) authzid: Option<String>,
}

impl Gs2Header {
    /// Wire form, including the trailing comma.
    pub(crate) fn encode(&self) -> String {
        match &self.authzid {
            Some(a) => format!("{},a={},", self.flag, escape_saslname(a)),
            None => format!("{},,", self.flag),
        }
    }

    /// Parses the header at the start of a client-first message; returns it
    /// with the client-first-bare that follows.
    pub(crate) fn parse(message: &str) -> Result<(Gs2Header, &str), SaslError> {
        const WHAT: &str = "SCRAM client-first message";
        let (flag_text, rest) = message
            .split_once(',')
            .ok_or_else(|| SaslError::malformed(WHAT, "no GS2 header"))?;
        let flag = match flag_text {
            "n" => Gs2Flag::NoBinding,
            "y" => Gs2Flag::BindingNotOffered,
            other => match other.strip_prefix("p=") {
                Some(name) => Gs2Flag::Bound(name.parse()?),
                None => {
                    return Err(SaslError::malformed(
                        WHAT,
                        format!("bad channel binding flag {other:?}"),
                    ));
                }
            },
        };
        let (authz_text, bare) = rest
            .split_once(',')
            .ok_or_else(|| SaslError::malformed(WHAT, "GS2 header not terminated"))?;
        let authzid = if authz_text.is_empty() {
            None
        } else {
            let value = authz_text.strip_prefix("a=").ok_or_else(|| {
                SaslError::malformed(WHAT, format!("bad authzid field {authz_text:?}"))
            })?;
            Some(unescape_saslname(value, WHAT)?)
        };
        Ok((Gs2Header { flag, authzid }, bare))
    }
}

/// Escapes `,` and `=` in a username or authzid (RFC 5802 §5.1).
pub(crate) fn escape_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Undoes [`escape_saslname`]; any other `=` sequence is an error.
pub(crate) fn unescape_saslname(value: &str, what: &'static str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('=') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("=2C") {
            out.push(',');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("=3D") {
            out.push('=');
            rest = tail;
        } else {
            return Err(SaslError::malformed(
                what,
                "'=' in a name not followed by 2C or 3D",
            ));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks the `printable` production of a nonce: ASCII 0x21-0x7E except `,`.
pub(crate) fn check_nonce(nonce: &str, what: &'static str) -> Result<(), SaslError> {
    if nonce.is_empty() {
        return Err(SaslError::malformed(what, "empty nonce"));
    }
    if nonce
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
    {
        Ok(())
    } else {
        Err(SaslError::malformed(
            what,
            "nonce has non-printable characters",
        ))
    }
}

/// Splits a message into `(name, value)` attributes.
pub(crate) fn attributes<'a>(
    message: &'a str,
    what: &'static str,
) -> Result<Vec<(u8, &'a str)>, SaslError> {
    message
        .split(',')
        .map(|part| {
            let bytes = part.as_bytes();
            match (bytes.first(), bytes.get(1)) {
                (Some(&name), Some(b'=')) if name.is_ascii_alphabetic() => {
                    Ok((name, part.get(2..).unwrap_or("")))
                }
                _ => Err(SaslError::malformed(
                    what,
                    format!("bad attribute {:?}", truncate(part)),
                )),
            }
        })
        .collect()
}

/// Decodes base64 from an attribute.
pub(crate) fn decode_b64(value: &str, what: &'static str) -> Result<Vec<u8>, SaslError> {
    B64.decode(value)
        .map_err(|e| SaslError::malformed(what, format!("bad base64: {e}")))
}

/// Standard base64 with padding, as SCRAM uses.
pub(crate) fn encode_b64(data: &[u8]) -> String {
    B64.encode(data)
}

/// Turns raw bytes into a bounded UTF-8 message.
pub(crate) fn as_text<'a>(data: &'a [u8], what: &'static str) -> Result<&'a str, SaslError> {
    if data.len() > MAX_MESSAGE {
        return Err(SaslError::TooLong {
            what,
            len: data.len(),
            limit: MAX_MESSAGE,
        });
    }
    std::str::from_utf8(data).map_err(|_| SaslError::malformed(what, "not UTF-8"))
}

/// The start of a peer's text, for error messages.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saslname_escaping_round_trips() {
        assert_eq!(escape_saslname("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(unescape_saslname("a=2Cb=3Dc", "t").unwrap(), "a,b=c");
        assert!(unescape_saslname("a=2", "t").is_err());
        assert!(unescape_saslname("a=41", "t").is_err());
    }

    #[test]
    fn gs2_header_parses_each_flag() {
        let (h, bare) = Gs2Header::parse("n,,n=user,r=abc").unwrap();
        assert_eq!(h.flag, Gs2Flag::NoBinding);
        assert_eq!(h.authzid, None);
        assert_eq!(bare, "n=user,r=abc");
        let (h, _) = Gs2Header::parse("y,a=adm=2Cin,n=u,r=x").unwrap();
        assert_eq!(h.flag, Gs2Flag::BindingNotOffered);
        assert_eq!(h.authzid.as_deref(), Some("adm,in"));
        assert_eq!(h.encode(), "y,a=adm=2Cin,");
        let (h, _) = Gs2Header::parse("p=tls-exporter,,n=u,r=x").unwrap();
        assert_eq!(h.flag, Gs2Flag::Bound(ChannelBindingType::TlsExporter));
        assert_eq!(
            Gs2Header::parse("p=tls-unique,,n=u,r=x"),
            Err(SaslError::UnsupportedChannelBinding("tls-unique".into()))
        );
        assert!(Gs2Header::parse("x,,n=u,r=x").is_err());
        assert!(Gs2Header::parse("n").is_err());
    }

    #[test]
    fn attributes_reject_garbage() {
        assert_eq!(
            attributes("r=ab,s=QQ==,i=1", "t").unwrap(),
            vec![(b'r', "ab"), (b's', "QQ=="), (b'i', "1")]
        );
        assert!(attributes("r=ab,,i=1", "t").is_err());
        assert!(attributes("rab", "t").is_err());
    }
}
