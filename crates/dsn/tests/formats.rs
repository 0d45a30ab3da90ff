#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hand-written messages in the shapes each mail system writes, so the
//! tolerant reader is tested on formats, not only on the corpus files.

use dsn::{Action, MessageKind, Reason, Status, analyze, classify_reply};

fn one(msg: &str) -> dsn::BounceRecipient {
    let a = analyze(msg.as_bytes());
    assert_eq!(a.kind, MessageKind::Bounce, "{a:?}");
    assert_eq!(a.recipients.len(), 1, "{a:?}");
    a.recipients.into_iter().next().unwrap()
}

#[test]
fn qmail_bounce_gives_address_code_and_reason() {
    let r = one(
        "From: MAILER-DAEMON@mx.example.org\r\nTo: alice@example.org\r\nSubject: failure notice\r\n\r\n\
Hi. This is the qmail-send program at mx.example.org.\r\n\
I'm afraid I wasn't able to deliver your message to the following addresses.\r\n\
This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n\
<carol@example.net>:\r\n192.0.2.9 does not like recipient.\r\nRemote host said: 552 5.2.2 <carol@example.net>... Mailbox is full\r\n\
Giving up on 192.0.2.9.\r\n\r\n--- Below this line is a copy of the message.\r\n\r\nReturn-Path: <alice@example.org>\r\nTo: carol@example.net\r\n\r\nhi\r\n",
    );
    assert_eq!(r.recipient.as_deref(), Some("carol@example.net"));
    assert_eq!(r.status, Some(Status::Code("5.2.2".parse().unwrap())));
    assert_eq!(r.reply_code, Some(552));
    assert_eq!((r.reason, r.hard), (Reason::MailboxFull, false));
}

#[test]
fn exim_bounce_lists_each_failed_address() {
    let a = analyze(
        b"From: Mail Delivery System <Mailer-Daemon@mx.example.org>\r\nTo: alice@example.org\r\nSubject: Mail delivery failed: returning message to sender\r\n\r\n\
This message was created automatically by mail delivery software.\r\n\r\n\
A message that you sent could not be delivered to one or more of its\r\nrecipients. This is a permanent error. The following address(es) failed:\r\n\r\n\
  bob@example.net\r\n    host mx.example.net [192.0.2.1]\r\n    SMTP error from remote mail server after RCPT TO:<bob@example.net>:\r\n    550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown\r\n\
  dave@nowhere.example\r\n    Unrouteable address\r\n\r\n------ This is a copy of the message, including all the headers. ------\r\nTo: bob@example.net\r\n\r\nhi\r\n",
    );
    assert_eq!(a.family, "exim");
    let got: Vec<(Option<&str>, Reason, bool)> = a
        .recipients
        .iter()
        .map(|r| (r.recipient.as_deref(), r.reason, r.hard))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("bob@example.net"), Reason::UserUnknown, true),
            (Some("dave@nowhere.example"), Reason::HostUnknown, true)
        ]
    );
    assert_eq!(a.recipients[0].reply_code, Some(550));
    assert_eq!(
        a.recipients[0].remote_mta.as_deref(),
        Some("mx.example.net")
    );
}

#[test]
fn gmail_delay_warning_is_not_a_failure() {
    let a = analyze(
        b"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\nTo: alice@example.org\r\nSubject: Delivery Status Notification (Delay)\r\n\r\n\
This is an automatically generated Delivery Status Notification\r\n\r\nTHIS IS A WARNING MESSAGE ONLY.\r\n\r\n\
Delivery to the following recipient has been delayed:\r\n\r\n     bob@example.net\r\n\r\nMessage will be retried for 2 more day(s)\r\n\r\n\
Technical details of temporary failure:\r\nThe recipient server did not accept our requests to connect. [mx.example.net. 192.0.2.1: timed out]\r\n\r\n----- Original message -----\r\nTo: bob@example.net\r\n",
    );
    assert_eq!(a.kind, MessageKind::Bounce);
    let r = &a.recipients[0];
    assert_eq!(r.recipient.as_deref(), Some("bob@example.net"));
    assert_eq!(r.action, Some(Action::Delayed));
    assert_eq!(r.status, Some(Status::Code("4.0.0".parse().unwrap())));
    assert_eq!(a.failures().count(), 0);
}

#[test]
fn dsn_with_several_recipients_keeps_envelope_id_and_orcpt() {
    let a = analyze(
        b"From: MAILER-DAEMON@mx.example.org\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\n\r\nsee below\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n\
Original-Envelope-ID: q-77\r\nReporting-MTA: dns; mx.example.org\r\n\r\n\
Original-Recipient: rfc822;Bob@example.net\r\nFinal-Recipient: rfc822; bob@example.net\r\nAction: failed\r\nStatus: 5.0.0 (permanent failure)\r\nDiagnostic-Code: smtp; 554 5.7.1 Message rejected as spam\r\n\r\n\
Final-Recipient: rfc822; carol@example.net\r\nAction: delayed\r\nStatus: 4.4.1\r\nDiagnostic-Code: smtp; 421 4.4.1 connection timed out\r\n\r\n\
--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <m1@example.org>\r\nTo: bob@example.net\r\n\r\n--b--\r\n",
    );
    assert_eq!(a.envelope_id.as_deref(), Some("q-77"));
    assert_eq!(a.original_message_id.as_deref(), Some("m1@example.org"));
    assert_eq!(a.reporting_mta.as_deref(), Some("mx.example.org"));
    assert_eq!(a.recipients.len(), 2);
    let bob = &a.recipients[0];
    assert_eq!(bob.original_recipient.as_deref(), Some("Bob@example.net"));
    // the remote server's 5.7.1 replaces the reporting MTA's generic 5.0.0
    assert_eq!(bob.status, Some(Status::Code("5.7.1".parse().unwrap())));
    assert_eq!(
        (bob.reason, bob.hard, bob.reply_code),
        (Reason::Policy, false, Some(554))
    );
    assert_eq!(a.recipients[1].action, Some(Action::Delayed));
    assert_eq!(a.failures().count(), 1);
}

#[test]
fn ses_bounce_notification_is_read_from_json() {
    let r = one(
        "From: no-reply@sns.amazonaws.com\r\nSubject: AWS Notification Message\r\n\r\n\
{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\",\"bouncedRecipients\":[{\"emailAddress\":\"bob@example.net\",\"action\":\"failed\",\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 user unknown\"}]}}\r\n",
    );
    assert_eq!(r.recipient.as_deref(), Some("bob@example.net"));
    assert_eq!(
        (r.reason, r.hard, r.reply_code),
        (Reason::UserUnknown, true, Some(550))
    );
}

#[test]
fn arf_complaint_and_auto_reply_are_not_failures() {
    let arf = analyze(
        b"From: fbl@isp.example\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n--b\r\n\r\nabuse report\r\n--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: FBL/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: <bob@example.net>\r\n\r\n--b--\r\n",
    );
    assert_eq!(arf.kind, MessageKind::Complaint);
    let c = arf.complaint.unwrap();
    assert_eq!(c.feedback_type.as_deref(), Some("abuse"));
    assert_eq!(c.recipient.as_deref(), Some("bob@example.net"));
    assert!(arf.recipients.is_empty());

    let ooo =
        analyze(b"From: bob@example.net\r\nSubject: Automatic reply: hello\r\n\r\nI am away.\r\n");
    assert_eq!(ooo.kind, MessageKind::AutoReply);
    let plain = analyze(b"From: bob@example.net\r\nSubject: hello\r\n\r\nThanks!\r\n");
    assert_eq!(plain.kind, MessageKind::NotBounce);
}

#[test]
fn synchronous_replies_use_the_same_taxonomy() {
    let cases = [
        (
            550,
            "5.1.1 <bob@example.net>: Recipient address rejected: User unknown",
            Reason::UserUnknown,
            true,
        ),
        (452, "4.2.2 Mailbox full", Reason::MailboxFull, false),
        (
            552,
            "5.3.4 Message size exceeds fixed limit",
            Reason::TooLarge,
            false,
        ),
        (
            554,
            "5.7.1 Service unavailable; client host blocked using zen.spamhaus.org",
            Reason::Policy,
            false,
        ),
        (
            550,
            "5.7.26 Unauthenticated email is not accepted due to DMARC policy",
            Reason::Policy,
            false,
        ),
        (
            530,
            "5.7.0 Must issue a STARTTLS command first",
            Reason::Security,
            false,
        ),
        (421, "4.4.2 connection dropped", Reason::Other, false),
        (550, "5.1.2 Host unknown", Reason::HostUnknown, true),
    ];
    for (code, text, reason, hard) in cases {
        let c = classify_reply(&smtp::Reply::new(code, text));
        assert_eq!((c.reason, c.hard), (reason, hard), "{code} {text}");
    }
}

#[test]
fn sendmail_transcript_gives_the_recipient_and_remote_reply() {
    let r = one(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.org>\r\nTo: alice@example.org\r\nSubject: Returned mail: see transcript for details\r\n\r\n\
The original message was received at Mon, 2 Mar 2026 10:00:00 +0100\r\nfrom localhost [127.0.0.1]\r\n\r\n\
   ----- The following addresses had permanent fatal errors -----\r\n<erin@example.net>\r\n    (reason: 550 5.1.1 <erin@example.net>... User unknown)\r\n\r\n\
   ----- Transcript of session follows -----\r\n... while talking to mx.example.net.:\r\n>>> RCPT To:<erin@example.net>\r\n<<< 550 5.1.1 <erin@example.net>... User unknown\r\n\
550 5.1.1 <erin@example.net>... User unknown\r\n\r\n   ----- Unsent message follows -----\r\nTo: erin@example.net\r\n\r\nhi\r\n",
    );
    assert_eq!(r.recipient.as_deref(), Some("erin@example.net"));
    assert_eq!(r.status, Some(Status::Code("5.1.1".parse().unwrap())));
    assert_eq!(
        (r.reply_code, r.reason, r.hard),
        (Some(550), Reason::UserUnknown, true)
    );
}

#[test]
fn exchange_text_names_recipient_after_its_phrase() {
    let r = one(
        "From: System Administrator <postmaster@corp.example>\r\nTo: alice@example.org\r\nSubject: Undeliverable: hello\r\n\r\n\
Your message\r\n  To:      frank@corp.example\r\n  Subject: hello\r\n\r\ndid not reach the following recipient(s):\r\n\r\n\
frank@corp.example on Mon, 2 Mar 2026 10:00:00 +0100\r\n    The recipient name is not recognized\r\n    MSEXCH:IMS:CORP:SITE:SERVER 0 (000C05A6) Unknown Recipient\r\n",
    );
    assert_eq!(r.recipient.as_deref(), Some("frank@corp.example"));
    assert_eq!((r.reason, r.hard), (Reason::UserUnknown, true));
    assert_eq!(r.status, Some(Status::Code("5.0.0".parse().unwrap())));
}

#[test]
fn postfix_refusal_at_end_of_data_is_policy_not_unknown_user() {
    let a = analyze(
        b"From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\nTo: alice@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n\
This is the mail system at host mx.example.org.\r\n\r\n<gina@example.net>: host mx.example.net[192.0.2.5] said: 550 Unknown user\r\n    gina@example.net (in reply to end of DATA command)\r\n\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; gina@example.net\r\nAction: failed\r\nStatus: 5.0.0\r\n\
Remote-MTA: dns; mx.example.net\r\nDiagnostic-Code: smtp; 550 Unknown user gina@example.net\r\n\r\n--B--\r\n",
    );
    let r = &a.recipients[0];
    assert_eq!(r.recipient.as_deref(), Some("gina@example.net"));
    assert_eq!(r.remote_mta.as_deref(), Some("mx.example.net"));
    assert_eq!((r.reason, r.hard), (Reason::Policy, false));
}

#[test]
fn opensmtpd_line_gives_address_and_reason() {
    let r = one(
        "From: Mailer Daemon <MAILER-DAEMON@mx.example.org>\r\nTo: alice@example.org\r\nSubject: Delivery status notification: error\r\n\r\n\
    Hi!\r\n\r\n    This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.\r\n\r\n    An error has occurred while attempting to deliver a message for\r\n    the following list of recipients:\r\n\r\n\
hank@nowhere.example: Domain does not exist\r\n\r\n    Below is a copy of the original message:\r\n\r\nTo: hank@nowhere.example\r\n\r\nhi\r\n",
    );
    assert_eq!(r.recipient.as_deref(), Some("hank@nowhere.example"));
    assert_eq!((r.reason, r.hard), (Reason::HostUnknown, true));
}
