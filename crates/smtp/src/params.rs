//! MAIL FROM and RCPT TO parameters: SIZE (RFC 1870), BODY (RFC 6152,
//! RFC 3030), SMTPUTF8 (RFC 6531), REQUIRETLS (RFC 8689), RET, ENVID,
//! NOTIFY, ORCPT (RFC 3461), HOLDFOR/HOLDUNTIL (RFC 4865) and AUTH (RFC 4954).

use std::fmt;
use std::str::FromStr;

use crate::address::Address;
use crate::xtext::{self, XtextError};

/// Longest ENVID value, in characters of its xtext form (RFC 3461 §4.4).
pub const MAX_ENVID_LEN: usize = 100;
/// Longest ORCPT value, in characters of its encoded form (RFC 3461 §4.2).
pub const MAX_ORCPT_LEN: usize = 500;
/// Most digits of HOLDFOR (RFC 4865).
const MAX_HOLDFOR_DIGITS: usize = 9;
/// Most digits of SIZE; more cannot fit a u64.
const MAX_SIZE_DIGITS: usize = 20;

/// Why MAIL or RCPT parameters are invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A parameter is not `KEYWORD` or `KEYWORD=value` (RFC 5321 §4.1.2).
    #[error("malformed parameter {param:?}")]
    Syntax {
        /// The offending parameter.
        param: String,
    },
    /// A keyword appears twice.
    #[error("parameter {keyword} given more than once")]
    Duplicate {
        /// The keyword, upper-case.
        keyword: String,
    },
    /// A keyword that needs a value has none.
    #[error("parameter {keyword} needs a value")]
    MissingValue {
        /// The keyword, upper-case.
        keyword: String,
    },
    /// A keyword that takes no value has one.
    #[error("parameter {keyword} takes no value")]
    UnexpectedValue {
        /// The keyword, upper-case.
        keyword: String,
    },
    /// A value is not valid for its keyword.
    #[error("invalid value {value:?} for parameter {keyword}")]
    InvalidValue {
        /// The keyword, upper-case.
        keyword: String,
        /// The rejected value.
        value: String,
    },
    /// An xtext-encoded value does not decode.
    #[error("parameter {keyword}: {source}")]
    Xtext {
        /// The keyword, upper-case.
        keyword: String,
        /// Why decoding failed.
        #[source]
        source: XtextError,
    },
    /// ENVID is longer than 100 characters encoded.
    #[error("envid is {len} characters long encoded, more than 100")]
    EnvidTooLong {
        /// Its encoded length.
        len: usize,
    },
    /// ORCPT is longer than 500 characters encoded.
    #[error("orcpt is {len} characters long encoded, more than 500")]
    OrcptTooLong {
        /// Its encoded length.
        len: usize,
    },
    /// NOTIFY is not NEVER or a set of SUCCESS, FAILURE and DELAY.
    #[error("invalid notify value {value:?}: {reason}")]
    InvalidNotify {
        /// The rejected value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// ORCPT is not `addr-type;xtext`.
    #[error("invalid orcpt value {value:?}: {reason}")]
    InvalidOrcpt {
        /// The rejected value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two parameters that exclude each other were both given.
    #[error("parameters {first} and {second} cannot be combined")]
    Conflict {
        /// The first keyword.
        first: String,
        /// The second keyword.
        second: String,
    },
}

/// RET (RFC 3461): what a failure DSN should return of the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// The whole message.
    Full,
    /// Only the headers.
    Hdrs,
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ret::Full => "FULL",
            Ret::Hdrs => "HDRS",
        })
    }
}

impl FromStr for Ret {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("FULL") {
            Ok(Ret::Full)
        } else if s.eq_ignore_ascii_case("HDRS") {
            Ok(Ret::Hdrs)
        } else {
            Err(ParamError::InvalidValue {
                keyword: "RET".into(),
                value: s.into(),
            })
        }
    }
}

/// BODY: the message's content transfer class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Body {
    /// 7BIT: plain ASCII lines.
    SevenBit,
    /// 8BITMIME (RFC 6152).
    EightBitMime,
    /// BINARYMIME (RFC 3030), only with BDAT.
    BinaryMime,
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Body::SevenBit => "7BIT",
            Body::EightBitMime => "8BITMIME",
            Body::BinaryMime => "BINARYMIME",
        })
    }
}

impl FromStr for Body {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Body::SevenBit, Body::EightBitMime, Body::BinaryMime]
            .into_iter()
            .find(|body| body.to_string().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParamError::InvalidValue {
                keyword: "BODY".into(),
                value: s.into(),
            })
    }
}

const NOTIFY_SUCCESS: u8 = 1;
const NOTIFY_FAILURE: u8 = 2;
const NOTIFY_DELAY: u8 = 4;

/// NOTIFY (RFC 3461): NEVER, or a non-empty set of SUCCESS, FAILURE, DELAY.
///
/// ```
/// use smtp::Notify;
/// let notify: Notify = "delay,Failure".parse().unwrap();
/// assert_eq!(notify, Notify::new(false, true, true));
/// assert_eq!(notify.to_string(), "FAILURE,DELAY");
/// assert_eq!(Notify::new(false, false, false), Notify::NEVER);
/// assert!("NEVER,DELAY".parse::<Notify>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Notify {
    bits: u8,
}

impl Notify {
    /// No notifications at all.
    pub const NEVER: Notify = Notify { bits: 0 };

    /// The given set; all false is [`Notify::NEVER`].
    pub fn new(success: bool, failure: bool, delay: bool) -> Notify {
        let mut bits = 0;
        if success {
            bits |= NOTIFY_SUCCESS;
        }
        if failure {
            bits |= NOTIFY_FAILURE;
        }
        if delay {
            bits |= NOTIFY_DELAY;
        }
        Notify { bits }
    }

    /// Whether this is NEVER.
    pub fn is_never(&self) -> bool {
        self.bits == 0
    }

    /// Whether a DSN is wanted on successful delivery.
    pub fn success(&self) -> bool {
        self.bits & NOTIFY_SUCCESS != 0
    }

    /// Whether a DSN is wanted on failure.
    pub fn failure(&self) -> bool {
        self.bits & NOTIFY_FAILURE != 0
    }

    /// Whether a DSN is wanted on delay.
    pub fn delay(&self) -> bool {
        self.bits & NOTIFY_DELAY != 0
    }
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_never() {
            return f.write_str("NEVER");
        }
        let names = [
            (self.success(), "SUCCESS"),
            (self.failure(), "FAILURE"),
            (self.delay(), "DELAY"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        f.write_str(&set.join(","))
    }
}

impl FromStr for Notify {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| ParamError::InvalidNotify {
            value: s.into(),
            reason,
        };
        if s.eq_ignore_ascii_case("NEVER") {
            return Ok(Notify::NEVER);
        }
        let mut bits = 0;
        for item in s.split(',') {
            let bit = if item.eq_ignore_ascii_case("SUCCESS") {
                NOTIFY_SUCCESS
            } else if item.eq_ignore_ascii_case("FAILURE") {
                NOTIFY_FAILURE
            } else if item.eq_ignore_ascii_case("DELAY") {
                NOTIFY_DELAY
            } else if item.eq_ignore_ascii_case("NEVER") {
                return Err(invalid("never combined with other values"));
            } else {
                return Err(invalid("unknown value"));
            };
            if bits & bit != 0 {
                return Err(invalid("duplicate value"));
            }
            bits |= bit;
        }
        Ok(Notify { bits })
    }
}

/// ORCPT value (RFC 3461 §4.2): the address type and the decoded address.
///
/// ```
/// use smtp::{Address, OriginalRecipient};
/// let orcpt = OriginalRecipient::for_address(&Address::parse("a+b@example.org").unwrap());
/// assert_eq!(orcpt.to_param(), "rfc822;a+2Bb@example.org");
/// let utf8 = OriginalRecipient::for_address(&Address::parse("jörg@example.org").unwrap());
/// assert_eq!(utf8.to_param(), "utf-8;j\\x{F6}rg@example.org");
/// assert_eq!(OriginalRecipient::parse_param(&utf8.to_param()).unwrap(), utf8);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OriginalRecipient {
    /// Lower-case address type, e.g. "rfc822" or "utf-8".
    pub addr_type: String,
    /// The decoded address.
    pub address: String,
}

impl OriginalRecipient {
    /// The rfc822 type for an ASCII address (domain in A-labels), the utf-8
    /// type (RFC 6533) otherwise.
    pub fn for_address(addr: &Address) -> OriginalRecipient {
        match addr.to_ascii_wire() {
            Some(ascii) => OriginalRecipient {
                addr_type: "rfc822".into(),
                address: ascii,
            },
            None => OriginalRecipient {
                addr_type: "utf-8".into(),
                address: addr.to_utf8_wire(),
            },
        }
    }

    /// The parameter value: `rfc822;` and the xtext of the address, or
    /// `utf-8;` and its utf-8-addr-xtext.
    pub fn to_param(&self) -> String {
        let encoded = if self.addr_type == "utf-8" {
            xtext::encode_utf8_addr(&self.address)
        } else {
            xtext::encode(&self.address)
        };
        format!("{};{encoded}", self.addr_type)
    }

    /// Parses a parameter value `addr-type;encoded-address`. For type utf-8
    /// the address may be utf-8-addr-xtext or -unitext, else it is xtext.
    pub fn parse_param(value: &str) -> Result<OriginalRecipient, ParamError> {
        if value.len() > MAX_ORCPT_LEN {
            return Err(ParamError::OrcptTooLong { len: value.len() });
        }
        let invalid = |reason| ParamError::InvalidOrcpt {
            value: value.into(),
            reason,
        };
        let (addr_type, encoded) = value
            .split_once(';')
            .ok_or_else(|| invalid("missing ';'"))?;
        let type_ok = !addr_type.is_empty()
            && addr_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b));
        if !type_ok {
            return Err(invalid("address type is not an atom"));
        }
        let addr_type = addr_type.to_ascii_lowercase();
        let decoded = if addr_type == "utf-8" {
            xtext::decode_utf8_addr(encoded)
        } else {
            xtext::decode(encoded)
        };
        let address = decoded.map_err(|source| ParamError::Xtext {
            keyword: "ORCPT".into(),
            source,
        })?;
        if address.is_empty() {
            return Err(invalid("empty address"));
        }
        let orcpt = OriginalRecipient { addr_type, address };
        // A utf-8-addr-unitext value grows when re-encoded as the 7-bit xtext
        // we relay. Refuse what we could not pass on within the limit rather
        // than forward an invalid parameter to the next hop.
        let relayed_len = orcpt.to_param().len();
        if relayed_len > MAX_ORCPT_LEN {
            return Err(ParamError::OrcptTooLong { len: relayed_len });
        }
        Ok(orcpt)
    }
}

/// esmtp-keyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
fn is_keyword(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// esmtp-value: printable ASCII except '=' (RFC 5321), plus UTF-8 (RFC 6531).
fn is_value(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| (matches!(c, '!'..='~') && c != '=') || (!c.is_ascii() && !c.is_control()))
}

/// Splits a parameter string into (KEYWORD upper-case, value), checking
/// syntax and duplicates.
fn split_params(s: &str) -> Result<Vec<(String, Option<String>)>, ParamError> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for param in s.split_ascii_whitespace() {
        let (keyword, value) = match param.split_once('=') {
            Some((keyword, value)) => (keyword, Some(value)),
            None => (param, None),
        };
        if !is_keyword(keyword) || value.is_some_and(|v| !is_value(v)) {
            return Err(ParamError::Syntax {
                param: param.into(),
            });
        }
        let keyword = keyword.to_ascii_uppercase();
        if out.iter().any(|(k, _)| *k == keyword) {
            return Err(ParamError::Duplicate { keyword });
        }
        out.push((keyword, value.map(str::to_owned)));
    }
    Ok(out)
}

fn need_value(keyword: &str, value: Option<String>) -> Result<String, ParamError> {
    value.ok_or_else(|| ParamError::MissingValue {
        keyword: keyword.into(),
    })
}

fn no_value(keyword: &str, value: Option<String>) -> Result<(), ParamError> {
    match value {
        None => Ok(()),
        Some(_) => Err(ParamError::UnexpectedValue {
            keyword: keyword.into(),
        }),
    }
}

fn number(keyword: &str, value: String, max_digits: usize) -> Result<u64, ParamError> {
    let ok = value.len() <= max_digits && value.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| value.parse().ok())
        .flatten()
        .ok_or(ParamError::InvalidValue {
            keyword: keyword.into(),
            value,
        })
}

fn decode_xtext(keyword: &str, value: &str) -> Result<String, ParamError> {
    xtext::decode(value).map_err(|source| ParamError::Xtext {
        keyword: keyword.into(),
        source,
    })
}

fn push_other(out: &mut String, other: &[(String, Option<String>)]) {
    for (keyword, value) in other {
        out.push(' ');
        out.push_str(keyword);
        if let Some(value) = value {
            out.push('=');
            out.push_str(value);
        }
    }
}

/// MAIL FROM parameters.
///
/// ```
/// use smtp::{Body, MailParams, Ret};
/// let params = MailParams {
///     size: Some(1000),
///     body: Some(Body::EightBitMime),
///     ret: Some(Ret::Hdrs),
///     envid: Some("id 1".into()),
///     ..MailParams::default()
/// };
/// assert_eq!(params.to_wire(), " SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=id+201");
/// assert_eq!(MailParams::parse(&params.to_wire()).unwrap(), params);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailParams {
    /// SIZE: the message size in octets.
    pub size: Option<u64>,
    /// BODY.
    pub body: Option<Body>,
    /// SMTPUTF8.
    pub smtputf8: bool,
    /// REQUIRETLS.
    pub requiretls: bool,
    /// RET.
    pub ret: Option<Ret>,
    /// ENVID, decoded: printable ASCII and space, at most 100 characters
    /// when xtext-encoded (checked by `parse`, not by `to_wire`).
    pub envid: Option<String>,
    /// HOLDFOR (FUTURERELEASE): seconds to hold the message.
    pub hold_for: Option<u64>,
    /// HOLDUNTIL (FUTURERELEASE): RFC 3339 date-time, as given.
    pub hold_until: Option<String>,
    /// AUTH: the authenticated sender, decoded (`<>` for none).
    pub auth: Option<String>,
    /// Other parameters: (KEYWORD upper-case, raw value), in order.
    pub other: Vec<(String, Option<String>)>,
}

impl MailParams {
    /// The parameters as sent after `MAIL FROM:<...>`, each with a leading
    /// space; empty when there are none.
    pub fn to_wire(&self) -> String {
        let mut out = String::new();
        if let Some(size) = self.size {
            out.push_str(&format!(" SIZE={size}"));
        }
        if let Some(body) = self.body {
            out.push_str(&format!(" BODY={body}"));
        }
        if self.smtputf8 {
            out.push_str(" SMTPUTF8");
        }
        if self.requiretls {
            out.push_str(" REQUIRETLS");
        }
        if let Some(ret) = self.ret {
            out.push_str(&format!(" RET={ret}"));
        }
        if let Some(envid) = &self.envid {
            out.push_str(&format!(" ENVID={}", xtext::encode(envid)));
        }
        if let Some(hold_for) = self.hold_for {
            out.push_str(&format!(" HOLDFOR={hold_for}"));
        }
        if let Some(hold_until) = &self.hold_until {
            out.push_str(&format!(" HOLDUNTIL={hold_until}"));
        }
        if let Some(auth) = &self.auth {
            out.push_str(&format!(" AUTH={}", xtext::encode(auth)));
        }
        push_other(&mut out, &self.other);
        out
    }

    /// Parses the parameters after the reverse-path (leading spaces allowed).
    /// Keywords are case-insensitive; duplicates are errors; unknown keywords
    /// are kept in `other`.
    pub fn parse(s: &str) -> Result<MailParams, ParamError> {
        let mut params = MailParams::default();
        for (keyword, value) in split_params(s)? {
            match keyword.as_str() {
                "SIZE" => {
                    params.size = Some(number(
                        &keyword,
                        need_value(&keyword, value)?,
                        MAX_SIZE_DIGITS,
                    )?)
                }
                "BODY" => params.body = Some(need_value(&keyword, value)?.parse()?),
                "SMTPUTF8" => {
                    no_value(&keyword, value)?;
                    params.smtputf8 = true;
                }
                "REQUIRETLS" => {
                    no_value(&keyword, value)?;
                    params.requiretls = true;
                }
                "RET" => params.ret = Some(need_value(&keyword, value)?.parse()?),
                "ENVID" => {
                    let value = need_value(&keyword, value)?;
                    if value.len() > MAX_ENVID_LEN {
                        return Err(ParamError::EnvidTooLong { len: value.len() });
                    }
                    let envid = decode_xtext(&keyword, &value)?;
                    // RFC 3461 §4.4: printable US-ASCII and space only.
                    if !envid.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                        return Err(ParamError::InvalidValue { keyword, value });
                    }
                    params.envid = Some(envid);
                }
                "HOLDFOR" => {
                    params.hold_for = Some(number(
                        &keyword,
                        need_value(&keyword, value)?,
                        MAX_HOLDFOR_DIGITS,
                    )?)
                }
                "HOLDUNTIL" => params.hold_until = Some(need_value(&keyword, value)?),
                "AUTH" => {
                    params.auth = Some(decode_xtext(&keyword, &need_value(&keyword, value)?)?)
                }
                _ => params.other.push((keyword, value)),
            }
        }
        if params.hold_for.is_some() && params.hold_until.is_some() {
            return Err(ParamError::Conflict {
                first: "HOLDFOR".into(),
                second: "HOLDUNTIL".into(),
            });
        }
        Ok(params)
    }
}

/// RCPT TO parameters.
///
/// ```
/// use smtp::{Notify, OriginalRecipient, RcptParams};
/// let params = RcptParams {
///     notify: Some(Notify::new(false, true, true)),
///     orcpt: Some(OriginalRecipient { addr_type: "rfc822".into(), address: "a@example.org".into() }),
///     other: vec![],
/// };
/// assert_eq!(params.to_wire(), " NOTIFY=FAILURE,DELAY ORCPT=rfc822;a@example.org");
/// assert_eq!(RcptParams::parse(&params.to_wire()).unwrap(), params);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RcptParams {
    /// NOTIFY.
    pub notify: Option<Notify>,
    /// ORCPT.
    pub orcpt: Option<OriginalRecipient>,
    /// Other parameters: (KEYWORD upper-case, raw value), in order.
    pub other: Vec<(String, Option<String>)>,
}

impl RcptParams {
    /// The parameters as sent after `RCPT TO:<...>`, each with a leading
    /// space; empty when there are none.
    pub fn to_wire(&self) -> String {
        let mut out = String::new();
        if let Some(notify) = self.notify {
            out.push_str(&format!(" NOTIFY={notify}"));
        }
        if let Some(orcpt) = &self.orcpt {
            out.push_str(&format!(" ORCPT={}", orcpt.to_param()));
        }
        push_other(&mut out, &self.other);
        out
    }

    /// Parses the parameters after the forward-path (leading spaces allowed).
    /// Keywords are case-insensitive; duplicates are errors; unknown keywords
    /// are kept in `other`.
    pub fn parse(s: &str) -> Result<RcptParams, ParamError> {
        let mut params = RcptParams::default();
        for (keyword, value) in split_params(s)? {
            match keyword.as_str() {
                "NOTIFY" => params.notify = Some(need_value(&keyword, value)?.parse()?),
                "ORCPT" => {
                    params.orcpt = Some(OriginalRecipient::parse_param(&need_value(
                        &keyword, value,
                    )?)?)
                }
                _ => params.other.push((keyword, value)),
            }
        }
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_params_write_nothing_and_parse_to_default() {
        assert_eq!(MailParams::default().to_wire(), "");
        assert_eq!(RcptParams::default().to_wire(), "");
        assert_eq!(MailParams::parse(""), Ok(MailParams::default()));
        assert_eq!(MailParams::parse("  "), Ok(MailParams::default()));
        assert_eq!(RcptParams::parse(""), Ok(RcptParams::default()));
    }

    #[test]
    fn all_mail_params_are_written_in_order() {
        let params = MailParams {
            size: Some(12345),
            body: Some(Body::BinaryMime),
            smtputf8: true,
            requiretls: true,
            ret: Some(Ret::Full),
            envid: Some("QQ314159=x".into()),
            hold_for: Some(3600),
            hold_until: None,
            auth: Some("<>".into()),
            other: vec![
                ("MT-PRIORITY".into(), Some("3".into())),
                ("X-FLAG".into(), None),
            ],
        };
        let wire = " SIZE=12345 BODY=BINARYMIME SMTPUTF8 REQUIRETLS RET=FULL ENVID=QQ314159+3Dx HOLDFOR=3600 AUTH=<> MT-PRIORITY=3 X-FLAG";
        assert_eq!(params.to_wire(), wire);
        assert_eq!(MailParams::parse(wire), Ok(params));
    }

    #[test]
    fn mail_params_parse_case_insensitively() {
        let params = MailParams::parse("size=10 body=8bitmime smtputf8 ret=hdrs holduntil=2030-01-01T00:00:00Z auth=a+2Bb@example.org x-y=z").unwrap();
        assert_eq!(
            params,
            MailParams {
                size: Some(10),
                body: Some(Body::EightBitMime),
                smtputf8: true,
                ret: Some(Ret::Hdrs),
                hold_until: Some("2030-01-01T00:00:00Z".into()),
                auth: Some("a+b@example.org".into()),
                other: vec![("X-Y".into(), Some("z".into()))],
                ..MailParams::default()
            }
        );
    }

    #[test]
    fn mail_param_errors() {
        let cases: Vec<(&str, ParamError)> = vec![
            (
                "SIZE=1 size=2",
                ParamError::Duplicate {
                    keyword: "SIZE".into(),
                },
            ),
            (
                "X=1 x",
                ParamError::Duplicate {
                    keyword: "X".into(),
                },
            ),
            (
                "SIZE",
                ParamError::MissingValue {
                    keyword: "SIZE".into(),
                },
            ),
            (
                "SIZE=",
                ParamError::Syntax {
                    param: "SIZE=".into(),
                },
            ),
            (
                "SIZE=abc",
                ParamError::InvalidValue {
                    keyword: "SIZE".into(),
                    value: "abc".into(),
                },
            ),
            (
                "SIZE=-1",
                ParamError::InvalidValue {
                    keyword: "SIZE".into(),
                    value: "-1".into(),
                },
            ),
            (
                "SIZE=99999999999999999999",
                ParamError::InvalidValue {
                    keyword: "SIZE".into(),
                    value: "99999999999999999999".into(),
                },
            ),
            (
                "BODY=9BIT",
                ParamError::InvalidValue {
                    keyword: "BODY".into(),
                    value: "9BIT".into(),
                },
            ),
            (
                "RET=ALL",
                ParamError::InvalidValue {
                    keyword: "RET".into(),
                    value: "ALL".into(),
                },
            ),
            (
                "SMTPUTF8=yes",
                ParamError::UnexpectedValue {
                    keyword: "SMTPUTF8".into(),
                },
            ),
            (
                "REQUIRETLS=1",
                ParamError::UnexpectedValue {
                    keyword: "REQUIRETLS".into(),
                },
            ),
            (
                "HOLDFOR=1234567890",
                ParamError::InvalidValue {
                    keyword: "HOLDFOR".into(),
                    value: "1234567890".into(),
                },
            ),
            (
                "HOLDFOR=10 HOLDUNTIL=2030-01-01T00:00:00Z",
                ParamError::Conflict {
                    first: "HOLDFOR".into(),
                    second: "HOLDUNTIL".into(),
                },
            ),
            (
                "-X=1",
                ParamError::Syntax {
                    param: "-X=1".into(),
                },
            ),
            (
                "X_Y=1",
                ParamError::Syntax {
                    param: "X_Y=1".into(),
                },
            ),
            (
                "X=a=b",
                ParamError::Syntax {
                    param: "X=a=b".into(),
                },
            ),
            ("=1", ParamError::Syntax { param: "=1".into() }),
            (
                "X=\u{1}",
                ParamError::Syntax {
                    param: "X=\u{1}".into(),
                },
            ),
            (
                "ENVID=a+2",
                ParamError::Xtext {
                    keyword: "ENVID".into(),
                    source: XtextError::BadHexchar {
                        input: "a+2".into(),
                        offset: 1,
                    },
                },
            ),
        ];
        for (input, err) in cases {
            assert_eq!(MailParams::parse(input), Err(err), "{input}");
        }
    }

    #[test]
    fn envid_must_decode_to_printable_ascii() {
        for value in ["a+0Ab", "+C3+A9", "+7F"] {
            assert_eq!(
                MailParams::parse(&format!("ENVID={value}")),
                Err(ParamError::InvalidValue {
                    keyword: "ENVID".into(),
                    value: value.into()
                }),
                "{value}"
            );
        }
        assert_eq!(
            MailParams::parse("ENVID=a+20b").unwrap().envid.as_deref(),
            Some("a b")
        );
    }

    #[test]
    fn envid_is_limited_to_100_encoded_characters() {
        let ok = "a".repeat(100);
        assert_eq!(
            MailParams::parse(&format!("ENVID={ok}")).unwrap().envid,
            Some(ok)
        );
        let long = "a".repeat(101);
        assert_eq!(
            MailParams::parse(&format!("ENVID={long}")),
            Err(ParamError::EnvidTooLong { len: 101 })
        );
    }

    #[test]
    fn notify_parses_sets_and_never() {
        assert_eq!("NEVER".parse::<Notify>(), Ok(Notify::NEVER));
        assert_eq!("never".parse::<Notify>(), Ok(Notify::NEVER));
        let all: Notify = "Success,DELAY,failure".parse().unwrap();
        assert!(all.success() && all.failure() && all.delay() && !all.is_never());
        assert_eq!(all.to_string(), "SUCCESS,FAILURE,DELAY");
        assert_eq!(Notify::NEVER.to_string(), "NEVER");
        assert!(Notify::NEVER.is_never());
        assert_eq!(Notify::new(true, false, false).to_string(), "SUCCESS");
    }

    #[test]
    fn notify_errors() {
        for (input, reason) in [
            ("NEVER,SUCCESS", "never combined with other values"),
            ("SUCCESS,NEVER", "never combined with other values"),
            ("SUCCESS,SUCCESS", "duplicate value"),
            ("", "unknown value"),
            ("SUCCESS,", "unknown value"),
            ("SUCCESS, FAILURE", "unknown value"),
            ("ALWAYS", "unknown value"),
        ] {
            assert_eq!(
                input.parse::<Notify>(),
                Err(ParamError::InvalidNotify {
                    value: input.into(),
                    reason
                }),
                "{input}"
            );
        }
    }

    #[test]
    fn orcpt_for_ascii_and_utf8_addresses() {
        let ascii = OriginalRecipient::for_address(&Address::parse("user@Bücher.example").unwrap());
        assert_eq!(ascii.addr_type, "rfc822");
        assert_eq!(ascii.address, "user@xn--bcher-kva.example");
        assert_eq!(ascii.to_param(), "rfc822;user@xn--bcher-kva.example");

        let utf8 =
            OriginalRecipient::for_address(&Address::parse("δοκιμή@bücher.example").unwrap());
        assert_eq!(utf8.addr_type, "utf-8");
        assert_eq!(utf8.address, "δοκιμή@bücher.example");
        assert_eq!(
            utf8.to_param(),
            "utf-8;\\x{3B4}\\x{3BF}\\x{3BA}\\x{3B9}\\x{3BC}\\x{3AE}@b\\x{FC}cher.example"
        );
    }

    #[test]
    fn orcpt_parses_types_case_insensitively() {
        assert_eq!(
            OriginalRecipient::parse_param("RFC822;a+2Bb@example.org"),
            Ok(OriginalRecipient {
                addr_type: "rfc822".into(),
                address: "a+b@example.org".into()
            })
        );
        assert_eq!(
            OriginalRecipient::parse_param("UTF-8;jörg@example.org"),
            Ok(OriginalRecipient {
                addr_type: "utf-8".into(),
                address: "jörg@example.org".into()
            })
        );
        assert_eq!(
            OriginalRecipient::parse_param("x-local;a;b"),
            Ok(OriginalRecipient {
                addr_type: "x-local".into(),
                address: "a;b".into()
            })
        );
    }

    #[test]
    fn orcpt_errors() {
        let cases: Vec<(String, ParamError)> = vec![
            (
                "a@example.org".into(),
                ParamError::InvalidOrcpt {
                    value: "a@example.org".into(),
                    reason: "missing ';'",
                },
            ),
            (
                ";a@example.org".into(),
                ParamError::InvalidOrcpt {
                    value: ";a@example.org".into(),
                    reason: "address type is not an atom",
                },
            ),
            (
                "rfc 822;a".into(),
                ParamError::InvalidOrcpt {
                    value: "rfc 822;a".into(),
                    reason: "address type is not an atom",
                },
            ),
            (
                "rfc822;".into(),
                ParamError::InvalidOrcpt {
                    value: "rfc822;".into(),
                    reason: "empty address",
                },
            ),
            (
                "utf-8;".into(),
                ParamError::Xtext {
                    keyword: "ORCPT".into(),
                    source: XtextError::Empty,
                },
            ),
            (
                "utf-8;\\x{41}".into(),
                ParamError::Xtext {
                    keyword: "ORCPT".into(),
                    source: XtextError::NeedlessEscape {
                        input: "\\x{41}".into(),
                        offset: 0,
                        found: 'A',
                    },
                },
            ),
            (
                format!("rfc822;{}", "a".repeat(494)),
                ParamError::OrcptTooLong { len: 501 },
            ),
            // 100 × "ȿ" is 200 octets as unitext (within the limit) but 700
            // as the 7-bit xtext we would relay ("\x{23F}" each): found by
            // the smtp_params fuzz target.
            (
                format!("utf-8;{}@example.org", "ȿ".repeat(100)),
                ParamError::OrcptTooLong { len: 718 },
            ),
        ];
        for (input, err) in cases {
            assert_eq!(OriginalRecipient::parse_param(&input), Err(err), "{input}");
        }
    }

    #[test]
    fn rcpt_params_round_trip_and_errors() {
        let params = RcptParams::parse(" notify=success orcpt=rfc822;a@example.org X-A").unwrap();
        assert_eq!(
            params,
            RcptParams {
                notify: Some(Notify::new(true, false, false)),
                orcpt: Some(OriginalRecipient {
                    addr_type: "rfc822".into(),
                    address: "a@example.org".into()
                }),
                other: vec![("X-A".into(), None)],
            }
        );
        assert_eq!(
            params.to_wire(),
            " NOTIFY=SUCCESS ORCPT=rfc822;a@example.org X-A"
        );
        assert_eq!(
            RcptParams::parse("NOTIFY"),
            Err(ParamError::MissingValue {
                keyword: "NOTIFY".into()
            })
        );
        assert_eq!(
            RcptParams::parse("NOTIFY=NEVER notify=DELAY"),
            Err(ParamError::Duplicate {
                keyword: "NOTIFY".into()
            })
        );
    }

    #[test]
    fn error_messages_name_the_input() {
        assert_eq!(
            MailParams::parse("SIZE=big").unwrap_err().to_string(),
            "invalid value \"big\" for parameter SIZE"
        );
        assert_eq!(
            MailParams::parse("ENVID=+").unwrap_err().to_string(),
            "parameter ENVID: '+' at offset 0 of \"+\" is not followed by two upper-case hex digits"
        );
    }

    fn arb_mail_params() -> impl Strategy<Value = MailParams> {
        (
            proptest::option::of(any::<u64>()),
            proptest::option::of(prop::sample::select(vec![
                Body::SevenBit,
                Body::EightBitMime,
                Body::BinaryMime,
            ])),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(prop::sample::select(vec![Ret::Full, Ret::Hdrs])),
            proptest::option::of("[ -~]{1,30}"),
            proptest::option::of(0u64..1_000_000_000),
            proptest::option::of("\\PC{1,20}"),
        )
            .prop_map(
                |(size, body, smtputf8, requiretls, ret, envid, hold_for, auth)| MailParams {
                    size,
                    body,
                    smtputf8,
                    requiretls,
                    ret,
                    envid,
                    hold_for,
                    hold_until: None,
                    auth,
                    other: vec![],
                },
            )
    }

    proptest! {
        #[test]
        fn mail_params_round_trip(params in arb_mail_params()) {
            prop_assert_eq!(MailParams::parse(&params.to_wire()), Ok(params));
        }

        #[test]
        fn orcpt_round_trips(addr_type in prop::sample::select(vec!["rfc822", "utf-8"]), address in "[^\\x00]{1,40}") {
            let orcpt = OriginalRecipient { addr_type: addr_type.into(), address };
            let param = orcpt.to_param();
            prop_assume!(param.len() <= MAX_ORCPT_LEN);
            prop_assert_eq!(OriginalRecipient::parse_param(&param), Ok(orcpt));
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,80}|[A-Za-z0-9=;,+ \\\\{}-]{0,60}") {
            let _ = MailParams::parse(&s);
            let _ = RcptParams::parse(&s);
            let _ = s.parse::<Notify>();
            let _ = OriginalRecipient::parse_param(&s);
        }
    }
}
