//! The Received trace header the engine adds to every message
//! (RFC 5321 §4.4, RFC 3848 and RFC 6531 protocol names).

use std::net::IpAddr;
use std::time::SystemTime;

use crate::time::format_rfc5322;
use crate::types::TlsInfo;

/// Longest line before folding.
const FOLD_AT: usize = 78;

/// Facts that go into one Received header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedInfo<'a> {
    /// The client's EHLO/HELO name.
    pub helo: &'a str,
    /// The client's IP address.
    pub remote_ip: IpAddr,
    /// Our host name (U-labels when the message is SMTPUTF8).
    pub by: &'a str,
    /// Our IP address, when known.
    pub local_ip: Option<IpAddr>,
    /// EHLO (true) or HELO.
    pub extended: bool,
    /// Whether the transaction used SMTPUTF8.
    pub smtputf8: bool,
    /// The session's TLS.
    pub tls: Option<&'a TlsInfo>,
    /// Whether the client authenticated with SASL.
    pub authenticated: bool,
    /// Whether MAIL FROM carried REQUIRETLS.
    pub requiretls: bool,
    /// The id of this message.
    pub id: &'a str,
    /// The only recipient, or `None` when there are several, so every
    /// recipient gets identical bytes (the reference's batching rule).
    pub for_recipient: Option<&'a str>,
    /// When.
    pub date: SystemTime,
}

/// An address literal: `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
pub fn address_literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    }
}

/// The protocol word after "with": SMTP, ESMTP or UTF8SMTP, plus S for TLS
/// and A for AUTH (RFC 3848, RFC 6531 §4.3).
pub fn with_protocol(extended: bool, smtputf8: bool, tls: bool, authenticated: bool) -> String {
    let mut with = String::from(if smtputf8 {
        "UTF8SMTP"
    } else if extended {
        "ESMTP"
    } else {
        "SMTP"
    });
    if tls {
        with.push('S');
    }
    if authenticated {
        with.push('A');
    }
    with
}

/// The header, folded before 78 columns with CRLF + tab, ending in CRLF.
/// The REQUIRETLS comment sits after "with", just before "id", as in the
/// reference; the TLS comment follows the id.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use smtpserver::{ReceivedInfo, received_header};
/// let info = ReceivedInfo {
///     helo: "client.example", remote_ip: "192.0.2.1".parse().unwrap(),
///     by: "mail.example.org", local_ip: None, extended: true, smtputf8: false,
///     tls: None, authenticated: true, requiretls: false, id: "abc",
///     for_recipient: Some("rcpt@example.com"),
///     date: UNIX_EPOCH + Duration::from_secs(1_795_607_800),
/// };
/// assert_eq!(received_header(&info),
///     "Received: from client.example ([192.0.2.1]) by mail.example.org via tcp with\r\n\
///      \tESMTPA id abc for <rcpt@example.com>; Wed, 25 Nov 2026 11:56:40 +0000\r\n");
/// ```
pub fn received_header(info: &ReceivedInfo<'_>) -> String {
    let mut words: Vec<String> = vec![
        "Received:".into(),
        "from".into(),
        format!("{} ({})", info.helo, address_literal(info.remote_ip)),
        "by".into(),
    ];
    match info.local_ip {
        Some(ip) => words.push(format!("{} ({})", info.by, address_literal(ip))),
        None => words.push(info.by.to_string()),
    }
    words.push("via".into());
    words.push("tcp".into());
    words.push("with".into());
    let mut with = with_protocol(
        info.extended,
        info.smtputf8,
        info.tls.is_some(),
        info.authenticated,
    );
    if info.requiretls {
        with.push_str(" (requiretls)");
    }
    words.push(with);
    words.push("id".into());
    words.push(info.id.to_string());
    if let Some(tls) = info.tls {
        words.push(format!("({}", tls.version));
        words.push(format!("{})", tls.cipher));
    }
    if let Some(rcpt) = info.for_recipient {
        words.push("for".into());
        words.push(format!("<{rcpt}>;"));
    } else if let Some(last) = words.last_mut() {
        last.push(';');
    }
    words.push(format_rfc5322(info.date));
    fold(&words)
}

fn fold(words: &[String]) -> String {
    let mut out = String::new();
    let mut line_len = 0;
    for (index, word) in words.iter().enumerate() {
        if index == 0 {
            out.push_str(word);
            line_len = word.len();
        } else if line_len + 1 + word.len() > FOLD_AT {
            out.push_str("\r\n\t");
            out.push_str(word);
            line_len = 1 + word.len();
        } else {
            out.push(' ');
            out.push_str(word);
            line_len += 1 + word.len();
        }
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn tls_requiretls_and_no_for_clause() {
        let tls = TlsInfo {
            version: "TLS1.3".into(),
            cipher: "TLS_AES_256_GCM_SHA384".into(),
            server_name: None,
            implicit: false,
        };
        let info = ReceivedInfo {
            helo: "[IPv6:::1]",
            remote_ip: "::1".parse().unwrap(),
            by: "mail.example.org",
            local_ip: Some("::1".parse().unwrap()),
            extended: true,
            smtputf8: true,
            tls: Some(&tls),
            authenticated: true,
            requiretls: true,
            id: "id1",
            for_recipient: None,
            date: UNIX_EPOCH + Duration::from_secs(1_795_607_800),
        };
        assert_eq!(
            received_header(&info),
            "Received: from [IPv6:::1] ([IPv6:::1]) by mail.example.org ([IPv6:::1]) via\r\n\
             \ttcp with UTF8SMTPSA (requiretls) id id1 (TLS1.3 TLS_AES_256_GCM_SHA384);\r\n\
             \tWed, 25 Nov 2026 11:56:40 +0000\r\n"
        );
    }

    #[test]
    fn protocol_names() {
        assert_eq!(with_protocol(false, false, false, false), "SMTP");
        assert_eq!(with_protocol(true, false, true, false), "ESMTPS");
        assert_eq!(with_protocol(true, false, true, true), "ESMTPSA");
        assert_eq!(with_protocol(true, true, false, false), "UTF8SMTP");
    }
}
