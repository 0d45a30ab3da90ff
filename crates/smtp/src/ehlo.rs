//! The service extensions a server announces in its EHLO reply.

/// Longest LIMITS value kept for a known limit, in digits (as the reference does).
const MAX_LIMIT_DIGITS: usize = 6;

/// What a server announced in its EHLO reply.
///
/// ```
/// use smtp::{Extensions, parse_reply};
/// let wire = b"250-mx.example greets you\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n\
///              250-AUTH PLAIN login\r\n250-LIMITS RCPTMAX=100\r\n250 SMTPUTF8\r\n";
/// let (reply, _) = parse_reply(wire).unwrap().unwrap();
/// let ext = Extensions::parse(&reply.lines);
/// assert_eq!(ext.hostname, "mx.example");
/// assert!(ext.pipelining && ext.smtputf8 && !ext.starttls);
/// assert_eq!(ext.size, Some(35882577));
/// assert_eq!(ext.auth, ["PLAIN", "LOGIN"]);
/// assert!(ext.offers_auth("login"));
/// assert_eq!(ext.limits.and_then(|l| l.rcpt_max), Some(100));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extensions {
    /// The first word of the first line (the server's name for itself).
    pub hostname: String,
    /// SIZE (RFC 1870): `Some(0)` when announced without a (valid) limit.
    pub size: Option<u64>,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub enhanced_status_codes: bool,
    /// CHUNKING (RFC 3030).
    pub chunking: bool,
    /// BINARYMIME (RFC 3030).
    pub binary_mime: bool,
    /// DSN (RFC 3461).
    pub dsn: bool,
    /// REQUIRETLS (RFC 8689).
    pub requiretls: bool,
    /// FUTURERELEASE (RFC 4865).
    pub future_release: bool,
    /// Upper-case SASL mechanisms; "AUTH x" and "AUTH=x" lines merged and
    /// deduplicated, in order of appearance.
    pub auth: Vec<String>,
    /// LIMITS (RFC 9422); None when not announced or dropped as invalid.
    pub limits: Option<Limits>,
    /// Every line after the first: (KEYWORD upper-case, raw parameters), in order.
    pub keywords: Vec<(String, String)>,
}

impl Extensions {
    /// Reads the lines of a 250 reply to EHLO ([`crate::Reply::lines`]).
    /// Never fails: lines it does not understand are kept in `keywords` only.
    /// Keywords are case-insensitive; blank lines (Postfix smtp-sink ends
    /// with "250 ") are skipped.
    pub fn parse(lines: &[String]) -> Extensions {
        let mut ext = Extensions {
            hostname: lines
                .first()
                .and_then(|line| line.split_ascii_whitespace().next())
                .unwrap_or("")
                .to_owned(),
            ..Extensions::default()
        };
        for line in lines.iter().skip(1) {
            let line = line.trim_matches(|c: char| c.is_ascii_whitespace());
            let (keyword, params) = match line.split_once(|c: char| c.is_ascii_whitespace()) {
                Some((keyword, params)) => (
                    keyword,
                    params.trim_start_matches(|c: char| c.is_ascii_whitespace()),
                ),
                None => (line, ""),
            };
            if keyword.is_empty() {
                continue;
            }
            let keyword = keyword.to_ascii_uppercase();
            ext.apply(&keyword, params);
            ext.keywords.push((keyword, params.to_owned()));
        }
        ext
    }

    fn apply(&mut self, keyword: &str, params: &str) {
        match keyword {
            "PIPELINING" => self.pipelining = true,
            "8BITMIME" => self.eight_bit_mime = true,
            // RFC 6531 tells clients to ignore any SMTPUTF8 parameters.
            "SMTPUTF8" => self.smtputf8 = true,
            "STARTTLS" => self.starttls = true,
            "ENHANCEDSTATUSCODES" => self.enhanced_status_codes = true,
            "CHUNKING" => self.chunking = true,
            "BINARYMIME" => self.binary_mime = true,
            "DSN" => self.dsn = true,
            "REQUIRETLS" => self.requiretls = true,
            "FUTURERELEASE" => self.future_release = true,
            "SIZE" => {
                let limit = params
                    .split_ascii_whitespace()
                    .next()
                    .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                self.size = Some(limit);
            }
            "AUTH" => self.add_auth(params),
            "LIMITS" => self.limits = Limits::parse(params),
            _ => {
                // Old servers announce "AUTH=LOGIN PLAIN" for broken clients.
                if let Some(first) = keyword.strip_prefix("AUTH=") {
                    self.add_auth(first);
                    self.add_auth(params);
                }
            }
        }
    }

    fn add_auth(&mut self, mechanisms: &str) {
        for mechanism in mechanisms.split_ascii_whitespace() {
            let mechanism = mechanism.to_ascii_uppercase();
            if !self.auth.contains(&mechanism) {
                self.auth.push(mechanism);
            }
        }
    }

    /// Whether the server announced the SASL mechanism (case-insensitive).
    pub fn offers_auth(&self, mechanism: &str) -> bool {
        self.auth.iter().any(|m| m.eq_ignore_ascii_case(mechanism))
    }
}

/// LIMITS (RFC 9422) as the reference reads it: space-separated NAME=VALUE
/// pairs; names `[A-Za-z0-9_-]+` (case-insensitive, kept upper-cased); values
/// printable ASCII without ';'. A syntax error or a duplicate name drops the
/// whole extension. MAILMAX, RCPTMAX and RCPTDOMAINMAX are set only for
/// positive integers of at most 6 digits; other names are kept in `params`.
///
/// ```
/// use smtp::Limits;
/// let limits = Limits::parse("MAILMAX=10 rcptmax=0 X-FOO=bar").unwrap();
/// assert_eq!(limits.mail_max, Some(10));
/// assert_eq!(limits.rcpt_max, None); // 0 is not a usable limit
/// assert_eq!(limits.params, [("X-FOO".to_string(), "bar".to_string())]);
/// assert_eq!(Limits::parse("MAILMAX=1 MAILMAX=2"), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Limits {
    /// MAILMAX: most transactions per connection.
    pub mail_max: Option<u32>,
    /// RCPTMAX: most recipients per transaction.
    pub rcpt_max: Option<u32>,
    /// RCPTDOMAINMAX: most recipient domains per transaction.
    pub rcpt_domain_max: Option<u32>,
    /// Pairs with other names: (NAME upper-case, value), in order.
    pub params: Vec<(String, String)>,
}

fn is_limit_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_limit_value(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| (b'!'..=b'~').contains(&b) && b != b';')
}

/// A known limit's value, when it is a positive integer of at most 6 digits.
fn limit_number(value: &str) -> Option<u32> {
    if value.len() > MAX_LIMIT_DIGITS || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|&n| n > 0)
}

impl Limits {
    /// Parses the parameters of a LIMITS line (the text after "LIMITS ").
    /// None on any syntax error, a duplicate name, or no pairs at all.
    pub fn parse(params: &str) -> Option<Limits> {
        if params.is_empty() {
            return None;
        }
        let mut limits = Limits::default();
        let mut seen: Vec<String> = Vec::new();
        // Exactly one space between pairs, as RFC 9422's grammar has it.
        for pair in params.split(' ') {
            let (name, value) = pair.split_once('=')?;
            if !is_limit_name(name) || !is_limit_value(value) {
                return None;
            }
            let name = name.to_ascii_uppercase();
            if seen.contains(&name) {
                return None;
            }
            seen.push(name.clone());
            match name.as_str() {
                "MAILMAX" => limits.mail_max = limit_number(value),
                "RCPTMAX" => limits.rcpt_max = limit_number(value),
                "RCPTDOMAINMAX" => limits.rcpt_domain_max = limit_number(value),
                _ => limits.params.push((name, value.to_owned())),
            }
        }
        Some(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ext(lines: &[&str]) -> Extensions {
        let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        Extensions::parse(&lines)
    }

    #[test]
    fn every_known_keyword_sets_its_flag() {
        let e = ext(&[
            "mx.example Hello",
            "PIPELINING",
            "8BITMIME",
            "SMTPUTF8",
            "STARTTLS",
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
            "BINARYMIME",
            "DSN",
            "REQUIRETLS",
            "FUTURERELEASE 604800 2012-10-17T12:34:56Z",
        ]);
        assert_eq!(e.hostname, "mx.example");
        assert!(e.pipelining);
        assert!(e.eight_bit_mime);
        assert!(e.smtputf8);
        assert!(e.starttls);
        assert!(e.enhanced_status_codes);
        assert!(e.chunking);
        assert!(e.binary_mime);
        assert!(e.dsn);
        assert!(e.requiretls);
        assert!(e.future_release);
        assert_eq!(e.size, None);
        assert_eq!(e.limits, None);
        assert!(e.auth.is_empty());
        assert_eq!(
            e.keywords.last(),
            Some(&(
                "FUTURERELEASE".to_string(),
                "604800 2012-10-17T12:34:56Z".to_string()
            ))
        );
        assert_eq!(e.keywords.len(), 10);
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let e = ext(&["mx", "pipelining", "StartTLS", "smtputf8 param", "size 100"]);
        assert!(e.pipelining && e.starttls && e.smtputf8);
        assert_eq!(e.size, Some(100));
        assert_eq!(
            e.keywords,
            [
                ("PIPELINING".to_string(), String::new()),
                ("STARTTLS".to_string(), String::new()),
                ("SMTPUTF8".to_string(), "param".to_string()),
                ("SIZE".to_string(), "100".to_string()),
            ]
        );
    }

    #[test]
    fn only_the_greeting_line_is_not_a_keyword() {
        let e = ext(&["PIPELINING"]);
        assert_eq!(e.hostname, "PIPELINING");
        assert!(!e.pipelining);
        assert!(e.keywords.is_empty());
        assert_eq!(Extensions::parse(&[]), Extensions::default());
    }

    #[test]
    fn size_without_or_with_invalid_number_means_no_limit() {
        assert_eq!(ext(&["mx", "SIZE"]).size, Some(0));
        assert_eq!(ext(&["mx", "SIZE abc"]).size, Some(0));
        assert_eq!(ext(&["mx", "SIZE -5"]).size, Some(0));
        assert_eq!(ext(&["mx", "SIZE 99999999999999999999999"]).size, Some(0));
        assert_eq!(ext(&["mx", "SIZE 0"]).size, Some(0));
        assert_eq!(ext(&["mx", "SIZE 10240000"]).size, Some(10_240_000));
    }

    #[test]
    fn auth_lines_are_merged_upper_cased_and_deduplicated() {
        let e = ext(&[
            "mx",
            "AUTH PLAIN login CRAM-MD5",
            "AUTH=LOGIN PLAIN XOAUTH2",
            "auth=scram-sha-256",
        ]);
        assert_eq!(
            e.auth,
            ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "SCRAM-SHA-256"]
        );
        assert!(e.offers_auth("cram-md5"));
        assert!(e.offers_auth("SCRAM-SHA-256"));
        assert!(!e.offers_auth("SCRAM-SHA-1"));
        assert_eq!(
            e.keywords[1],
            ("AUTH=LOGIN".to_string(), "PLAIN XOAUTH2".to_string())
        );
    }

    #[test]
    fn blank_and_whitespace_lines_are_skipped() {
        // Postfix smtp-sink ends its EHLO reply with "250 ".
        let e = ext(&["sink", "PIPELINING", "", "  "]);
        assert!(e.pipelining);
        assert_eq!(e.keywords.len(), 1);
    }

    #[test]
    fn limits_line_is_parsed() {
        let e = ext(&["mx", "LIMITS MAILMAX=10 RCPTMAX=100 RCPTDOMAINMAX=1"]);
        assert_eq!(
            e.limits,
            Some(Limits {
                mail_max: Some(10),
                rcpt_max: Some(100),
                rcpt_domain_max: Some(1),
                params: vec![],
            })
        );
        assert_eq!(ext(&["mx", "LIMITS"]).limits, None);
        assert_eq!(ext(&["mx", "LIMITS RCPTMAX"]).limits, None);
    }

    #[test]
    fn limits_keep_unknown_names_upper_cased() {
        assert_eq!(
            Limits::parse("rcptmax=2 future_limit=x-1 Other-One=abc!"),
            Some(Limits {
                mail_max: None,
                rcpt_max: Some(2),
                rcpt_domain_max: None,
                params: vec![
                    ("FUTURE_LIMIT".into(), "x-1".into()),
                    ("OTHER-ONE".into(), "abc!".into())
                ],
            })
        );
    }

    #[test]
    fn limits_ignore_invalid_values_of_known_names() {
        for value in ["0", "-1", "+1", "1234567", "abc", "1.5", "00000000"] {
            let limits = Limits::parse(&format!(
                "MAILMAX={value} RCPTMAX={value} RCPTDOMAINMAX={value}"
            ));
            assert_eq!(limits, Some(Limits::default()), "{value}");
        }
        assert_eq!(
            Limits::parse("RCPTMAX=999999").and_then(|l| l.rcpt_max),
            Some(999_999)
        );
        assert_eq!(
            Limits::parse("RCPTMAX=000001").and_then(|l| l.rcpt_max),
            Some(1)
        );
    }

    #[test]
    fn limits_syntax_errors_drop_the_extension() {
        for params in [
            "",
            " ",
            "MAILMAX",
            "MAILMAX=",
            "=10",
            "MAILMAX=10 ",
            " MAILMAX=10",
            "MAILMAX=10  RCPTMAX=2",
            "MAILMAX=10;",
            "MAIL.MAX=10",
            "MAILMAX=1\t RCPTMAX=2",
            "MAILMAX=é",
        ] {
            assert_eq!(Limits::parse(params), None, "{params:?}");
        }
        // '=' in a value is printable ASCII and allowed.
        assert_eq!(Limits::parse("MAILMAX=1=2"), Some(Limits::default()));
        assert_eq!(
            Limits::parse("X=1=2").map(|l| l.params),
            Some(vec![("X".to_string(), "1=2".to_string())])
        );
    }

    #[test]
    fn limits_duplicates_drop_the_extension() {
        assert_eq!(Limits::parse("RCPTMAX=1 rcptmax=2"), None);
        assert_eq!(Limits::parse("X=1 x=1"), None);
        assert_eq!(Limits::parse("RCPTMAX=0 RCPTMAX=5"), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics(lines in prop::collection::vec("\\PC{0,40}", 0..8)) {
            let e = Extensions::parse(&lines);
            prop_assert!(e.keywords.len() < lines.len().max(1));
        }

        #[test]
        fn ehlo_from_arbitrary_reply_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(Some((reply, _))) = crate::reply::parse_reply(&bytes) {
                let _ = Extensions::parse(&reply.lines);
            }
        }

        #[test]
        fn well_formed_limits_are_kept(
            pairs in prop::collection::btree_map("(MAILMAX|RCPTMAX|RCPTDOMAINMAX|[A-Z0-9_-]{1,8})", "[!-:<-~]{1,8}", 1..6)
        ) {
            let params: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={v}", k.to_lowercase())).collect();
            let limits = Limits::parse(&params.join(" "));
            prop_assert!(limits.is_some());
            let limits = limits.unwrap_or_default();
            let known = |name: &str| pairs.get(name).and_then(|v| limit_number(v));
            prop_assert_eq!(limits.mail_max, known("MAILMAX"));
            prop_assert_eq!(limits.rcpt_max, known("RCPTMAX"));
            prop_assert_eq!(limits.rcpt_domain_max, known("RCPTDOMAINMAX"));
            let unknown: Vec<(String, String)> = pairs
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "MAILMAX" | "RCPTMAX" | "RCPTDOMAINMAX"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            prop_assert_eq!(limits.params, unknown);
        }

        #[test]
        fn limits_parse_never_panics(s in "[ -~]{0,60}") {
            let _ = Limits::parse(&s);
        }
    }
}
