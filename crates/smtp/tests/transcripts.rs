//! Replies as real servers send them, fed through parse_reply and
//! Extensions::parse the way the client does, plus the command lines the
//! client builds from addresses and parameters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use smtp::{
    Address, Body, Class, EnhancedCode, Extensions, Limits, MailParams, Notify, OriginalRecipient,
    RcptParams, Reply, Ret, parse_path, parse_reply, parse_reverse_path,
};

/// Parses a whole buffer that holds exactly one reply.
fn one_reply(wire: &[u8]) -> Reply {
    let (reply, used) = parse_reply(wire).unwrap().unwrap();
    assert_eq!(used, wire.len());
    reply
}

#[test]
fn postfix_smtp_sink_ehlo_ending_in_code_and_space() {
    // Default EHLO reply of Postfix smtp-sink, byte for byte.
    let wire = b"250-smtp-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n\
250-XCLIENT NAME HELO\r\n250-XFORWARD NAME ADDR PROTO HELO\r\n250-ENHANCEDSTATUSCODES\r\n\
250-DSN\r\n250 \r\n";
    let reply = one_reply(wire);
    assert_eq!(reply.lines.len(), 9);
    assert_eq!(reply.lines.last().map(String::as_str), Some(""));
    let ext = Extensions::parse(&reply.lines);
    assert_eq!(ext.hostname, "smtp-sink");
    assert!(ext.pipelining && ext.eight_bit_mime && ext.enhanced_status_codes && ext.dsn);
    assert!(!ext.starttls && !ext.smtputf8 && !ext.chunking);
    assert_eq!(ext.auth, ["PLAIN", "LOGIN"]);
    assert_eq!(ext.size, None);
    let names: Vec<&str> = ext.keywords.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "PIPELINING",
            "8BITMIME",
            "AUTH",
            "XCLIENT",
            "XFORWARD",
            "ENHANCEDSTATUSCODES",
            "DSN"
        ]
    );
    assert_eq!(
        ext.keywords[4],
        ("XFORWARD".to_string(), "NAME ADDR PROTO HELO".to_string())
    );
}

#[test]
fn large_provider_ehlo_with_chunking_and_size() {
    let wire = b"250-mx.example.com at your service, [192.0.2.7]\r\n250-SIZE 157286400\r\n\
250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-8BITMIME\r\n\
250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";
    let ext = Extensions::parse(&one_reply(wire).lines);
    assert_eq!(ext.hostname, "mx.example.com");
    assert_eq!(ext.size, Some(157_286_400));
    assert!(ext.starttls && ext.binary_mime && ext.chunking && ext.smtputf8 && ext.dsn);
    assert!(ext.auth.is_empty());
}

#[test]
fn exim_style_limits_and_old_auth_syntax() {
    let wire = b"250-mail.example Hello tester [127.0.0.1]\n250-SIZE 52428800\n\
250-LIMITS MAILMAX=1000 RCPTMAX=50000\n250-AUTH=LOGIN\n250-AUTH LOGIN PLAIN\n250 HELP\n";
    let ext = Extensions::parse(&one_reply(wire).lines);
    assert_eq!(
        ext.limits,
        Some(Limits {
            mail_max: Some(1000),
            rcpt_max: Some(50000),
            rcpt_domain_max: None,
            params: vec![],
        })
    );
    assert_eq!(ext.auth, ["LOGIN", "PLAIN"]);
    assert_eq!(ext.keywords.last().unwrap().0, "HELP");
}

#[test]
fn reference_test_server_limits_line() {
    // The line the reference's client tests announce.
    let wire =
        b"250-mox.example\r\n250-LIMITS MAILMAX=10 RCPTMAX=100 RCPTDOMAINMAX=1\r\n250 UNKNOWN\r\n";
    let ext = Extensions::parse(&one_reply(wire).lines);
    let limits = ext.limits.unwrap();
    assert_eq!(
        (limits.mail_max, limits.rcpt_max, limits.rcpt_domain_max),
        (Some(10), Some(100), Some(1))
    );
    assert_eq!(
        ext.keywords.last(),
        Some(&("UNKNOWN".to_string(), String::new()))
    );
}

#[test]
fn multiline_rejection_keeps_enhanced_code_and_all_lines() {
    let wire = b"550-5.1.1 The email account that you tried to reach does not exist.\r\n\
550 5.1.1 Please try double-checking the recipient's email address.\r\n";
    let reply = one_reply(wire);
    assert_eq!(reply.code, 550);
    assert_eq!(
        reply.enhanced_code(),
        Some(EnhancedCode::new(Class::Permanent, 1, 1))
    );
    assert_eq!(
        reply.message(),
        "The email account that you tried to reach does not exist."
    );
    assert_eq!(
        reply.to_string(),
        "550 5.1.1 The email account that you tried to reach does not exist. / \
5.1.1 Please try double-checking the recipient's email address."
    );
    assert_eq!(reply.to_wire().as_bytes(), wire);
}

#[test]
fn pipelined_replies_are_read_one_after_another() {
    let wire = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Too many recipients\r\n354 End data with <CR><LF>.<CR><LF>\r\n";
    let mut rest = &wire[..];
    let mut codes = Vec::new();
    while let Some((reply, used)) = parse_reply(rest).unwrap() {
        codes.push((reply.code, reply.enhanced_code().map(|c| c.to_string())));
        rest = &rest[used..];
    }
    assert!(rest.is_empty());
    assert_eq!(
        codes,
        [
            (250, Some("2.1.0".to_string())),
            (250, Some("2.1.5".to_string())),
            (452, Some("4.5.3".to_string())),
            (354, None),
        ]
    );
}

#[test]
fn mail_and_rcpt_lines_for_an_ascii_envelope() {
    let from = parse_reverse_path("<Bounce+X@Example.COM>")
        .unwrap()
        .unwrap();
    let rcpt = parse_path("<user@Bücher.example>").unwrap();
    let mail = MailParams {
        size: Some(4096),
        body: Some(Body::EightBitMime),
        ret: Some(Ret::Hdrs),
        envid: Some("msg-1".into()),
        ..MailParams::default()
    };
    let rcpt_params = RcptParams {
        notify: Some(Notify::new(false, true, true)),
        orcpt: Some(OriginalRecipient::for_address(&rcpt)),
        other: vec![],
    };
    assert_eq!(
        format!(
            "MAIL FROM:<{}>{}",
            from.to_ascii_wire().unwrap(),
            mail.to_wire()
        ),
        "MAIL FROM:<Bounce+X@example.com> SIZE=4096 BODY=8BITMIME RET=HDRS ENVID=msg-1"
    );
    assert_eq!(
        format!(
            "RCPT TO:<{}>{}",
            rcpt.to_ascii_wire().unwrap(),
            rcpt_params.to_wire()
        ),
        "RCPT TO:<user@xn--bcher-kva.example> NOTIFY=FAILURE,DELAY ORCPT=rfc822;user@xn--bcher-kva.example"
    );
}

#[test]
fn mail_and_rcpt_lines_for_an_smtputf8_envelope() {
    let rcpt = Address::parse("δοκιμή@παράδειγμα.δοκιμή").unwrap();
    assert!(rcpt.needs_smtputf8());
    assert_eq!(rcpt.to_ascii_wire(), None);
    let mail = MailParams {
        smtputf8: true,
        ..MailParams::default()
    };
    assert_eq!(mail.to_wire(), " SMTPUTF8");
    let orcpt = OriginalRecipient::for_address(&rcpt);
    let rcpt_params = RcptParams {
        orcpt: Some(orcpt.clone()),
        ..RcptParams::default()
    };
    let line = format!("RCPT TO:<{}>{}", rcpt.to_utf8_wire(), rcpt_params.to_wire());
    assert_eq!(
        line,
        "RCPT TO:<δοκιμή@παράδειγμα.δοκιμή> ORCPT=utf-8;\\x{3B4}\\x{3BF}\\x{3BA}\\x{3B9}\\x{3BC}\\x{3AE}@\
\\x{3C0}\\x{3B1}\\x{3C1}\\x{3AC}\\x{3B4}\\x{3B5}\\x{3B9}\\x{3B3}\\x{3BC}\\x{3B1}.\
\\x{3B4}\\x{3BF}\\x{3BA}\\x{3B9}\\x{3BC}\\x{3AE}"
    );
    // The server side reads back what we sent.
    let (path, params) = line["RCPT TO:".len()..].split_once(' ').unwrap();
    assert_eq!(parse_path(path).unwrap(), rcpt);
    assert_eq!(RcptParams::parse(params).unwrap().orcpt, Some(orcpt));
}

#[test]
fn smtp_sink_pipelined_session_bytes_split_into_replies() {
    // Captured from /usr/sbin/smtp-sink after one pipelined write of
    // EHLO, MAIL, RCPT and QUIT.
    let wire = b"250-smtp-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n\
250-XCLIENT NAME HELO\r\n250-XFORWARD NAME ADDR PROTO HELO\r\n250-ENHANCEDSTATUSCODES\r\n\
250-DSN\r\n250 \r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n221 Bye\r\n";
    let mut rest = &wire[..];
    let mut replies = Vec::new();
    while let Some((reply, used)) = parse_reply(rest).unwrap() {
        replies.push(reply);
        rest = &rest[used..];
    }
    assert!(rest.is_empty());
    let summary: Vec<(u16, usize, &str)> = replies
        .iter()
        .map(|r| (r.code, r.lines.len(), r.message()))
        .collect();
    assert_eq!(
        summary,
        [
            (250, 9, "smtp-sink"),
            (250, 1, "Ok"),
            (250, 1, "Ok"),
            (221, 1, "Bye")
        ]
    );
}
