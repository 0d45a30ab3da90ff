//! One taxonomy for why delivery failed, used for bounces from the world and
//! for the queue's own SMTP replies alike.
//!
//! The text is looked at first for the unambiguous causes (a full mailbox,
//! an unknown user, a host that does not exist, expiry, size, TLS), because
//! servers often send a generic enhanced code (`5.0.0`, `5.5.0`, even `5.1.1`
//! with "disk full") while the words say what happened. Then specific
//! enhanced codes decide, then the weaker words of policy rejections, then the
//! code's subject class.

use std::fmt;
use std::str::FromStr;

use smtp::{Class, EnhancedCode, Reply};

/// Why a delivery failed. The wire names (`as_str`) are part of the web
/// API and webhook payloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The mailbox does not exist, was disabled or moved (`userUnknown`).
    UserUnknown,
    /// The mailbox is over quota (`mailboxFull`).
    MailboxFull,
    /// Refused by policy: spam, block lists, authentication (SPF, DKIM,
    /// DMARC), reputation, relaying, content, rate limits (`policy`).
    Policy,
    /// The domain or host does not exist or accepts no mail (`hostUnknown`).
    HostUnknown,
    /// Gave up after retrying for too long (`expired`).
    Expired,
    /// The message is too large (`tooLarge`).
    TooLarge,
    /// A TLS or certificate requirement failed (`security`).
    Security,
    /// Anything else: network, system, protocol errors (`other`).
    Other,
}

impl Reason {
    /// The wire name, e.g. `userUnknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::UserUnknown => "userUnknown",
            Reason::MailboxFull => "mailboxFull",
            Reason::Policy => "policy",
            Reason::HostUnknown => "hostUnknown",
            Reason::Expired => "expired",
            Reason::TooLarge => "tooLarge",
            Reason::Security => "security",
            Reason::Other => "other",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reason name that is not one of the eight.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown bounce reason {0:?}")]
pub struct UnknownReason(pub String);

impl FromStr for Reason {
    type Err = UnknownReason;
    fn from_str(s: &str) -> Result<Reason, UnknownReason> {
        Ok(match s {
            "userUnknown" => Reason::UserUnknown,
            "mailboxFull" => Reason::MailboxFull,
            "policy" => Reason::Policy,
            "hostUnknown" => Reason::HostUnknown,
            "expired" => Reason::Expired,
            "tooLarge" => Reason::TooLarge,
            "security" => Reason::Security,
            "other" => Reason::Other,
            _ => return Err(UnknownReason(s.to_string())),
        })
    }
}

/// A reason and whether the address itself is bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Classification {
    /// Why it failed.
    pub reason: Reason,
    /// A hard bounce: permanent, and the address itself is bad (unknown
    /// user or host), so sending to it again is pointless. Everything else
    /// (full mailboxes, policy, expiry, transient errors) is soft.
    pub hard: bool,
}

const EXPIRED: &[&str] = &[
    "retry timeout exceeded",
    "retry time not reached for any host",
    "message expired",
    "delivery expired",
    "message has been in the queue too long",
    "in the queue too long",
    "too long in queue",
    "queue too long",
    "delivery time expired",
    "could not be delivered within",
    "was not delivered within",
    "has not been delivered for",
    "giving up on",
    "gave up",
    "delivery attempts will continue to be made for",
    "will be retried for",
    "maximum time",
    "time limit exceeded",
    "timeout exceeded",
    "message timed out",
    "deferral of more than",
    "no further attempts",
    "expired after",
    "envelope expired",
    "queue.expired",
    "delivery delayed",
    "has been delayed",
    "unable to deliver message after",
    "not delivered after",
    "could not be delivered for",
    "was undeliverable for",
];

const MAILBOX_FULL: &[&str] = &[
    "mailbox full",
    "mailbox is full",
    "mailbox has exceeded",
    "mailbox size limit",
    "mailbox exceeds",
    "mailbox would exceed",
    "over quota",
    "overquota",
    "quota exceeded",
    "exceeded quota",
    "exceed quota",
    "exceeds quota",
    "exceeded storage",
    "exceeded its storage",
    "storage quota",
    "out of storage",
    "quota full",
    "disk quota",
    "quota violation",
    "insufficient disk",
    "not enough disk space",
    "not enough storage",
    "insufficient system storage",
    "user is over",
    "is over the allowed quota",
    "inbox is full",
    "mailfolder is full",
    "full mailbox",
    "mailbox is over",
    "recipient's mailbox exceeded",
    "recipients mailbox exceeded",
    "messages in recipient's mailbox exceeded",
    "account is full",
    "box is full",
    "too many messages",
    "exceeded the local limit",
    "user over quota",
    "has exceeded its allotted",
];

const TOO_LARGE: &[&str] = &[
    "message too large",
    "message is too large",
    "message too big",
    "message is too big",
    "message size exceeds",
    "message size limit",
    "size limit exceeded",
    "mail size limit",
    "exceeds size limit",
    "exceeds the maximum size",
    "exceeds maximum message size",
    "message length exceeds",
    "message file too big",
    "message exceeds",
    "too large for",
    "larger than the maximum",
    "line limit exceeded",
    "line too long",
    "size exceeds",
];

const USER_UNKNOWN: &[&str] = &[
    "user unknown",
    "unknown user",
    "userunknown",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "no such person",
    "no mailbox here",
    "no mailbox",
    "user not found",
    "user doesn't exist",
    "user does not exist",
    "mailbox does not exist",
    "mailbox doesn't exist",
    "address does not exist",
    "address doesn't exist",
    "account does not exist",
    "account doesn't exist",
    "recipient does not exist",
    "does not exist here",
    "not a valid mailbox",
    "invalid mailbox",
    "invalid recipient",
    "invalid address",
    "unknown recipient",
    "recipient unknown",
    "unknown local part",
    "unknown or illegal alias",
    "unknown address",
    "address unknown",
    "addressee unknown",
    "mailbox not found",
    "mailbox unavailable",
    "mailbox is unavailable",
    "mailbox not available",
    "mailbox disabled",
    "mailbox is disabled",
    "account disabled",
    "account is disabled",
    "account has been disabled",
    "account is inactive",
    "inactive account",
    "account has been suspended",
    "account suspended",
    "suspended account",
    "account is suspended",
    "account deleted",
    "account has been deleted",
    "account expired",
    "account is locked",
    "account is blocked",
    "account is frozen",
    "mailbox is frozen",
    "disabled recipient",
    "recipient address rejected: user unknown",
    "recipient address rejected: undeliverable address",
    "recipient address rejected: unknown user",
    "recipient address rejected: access denied. aspmx",
    "is not a known user",
    "not listed in domino directory",
    "not listed in public name & address book",
    "recipient name is not recognized",
    "recipient not found",
    "no account by that name",
    "no one by that name",
    "does not have an account",
    "has no account",
    "unknown mailbox",
    "dosn't exist",
    "no longer available",
    "no longer active",
    "no longer in use",
    "no longer valid",
    "is no longer",
    "has moved",
    "has been moved",
    "user has moved",
    "this user doesn't have",
    "doesn't have a",
    "email account that you tried to reach does not exist",
    "the email account that you tried to reach is disabled",
    "this account has been",
    "mailbox unknown",
    "email address could not be found",
    "could not be found",
    "not our customer",
    "invalid user",
    "bad recipient",
    "destination address not found",
    "no valid recipients",
    "recipient rejected",
];

const HOST_UNKNOWN: &[&str] = &[
    "host unknown",
    "unknown host",
    "host not found",
    "domain not found",
    "domain does not exist",
    "domain doesn't exist",
    "domain name not found",
    "no such domain",
    "unknown domain",
    "domain is not",
    "unrouteable mail domain",
    "unrouteable address",
    "unroutable mail domain",
    "name service error",
    "name or service not known",
    "host or domain name not found",
    "dns lookup failure",
    "all relevant mx records point to non-existent hosts",
    "no mx record",
    "no mx or a",
    "mx lookup",
    "nxdomain",
    "domain has no mx",
    "domain or host does not exist",
    "account or domain may not exist",
    "bad destination host",
    "no route to host",
    "hostname lookup",
    "the host could not be found",
    "unknown mail domain",
    "mail for the domain",
];

const SECURITY: &[&str] = &[
    "smtp authentication",
    "smtp auth",
    "starttls",
    "tls required",
    "tls is required",
    "requires tls",
    "tls negotiation",
    "tls handshake",
    "must issue a starttls",
    "encryption required",
    "encryption needed",
    "certificate",
    "ssl",
    "requiretls",
    "security error",
    "security policy",
    "secure connection",
];

const POLICY: &[&str] = &[
    "virus",
    "malware",
    "infected",
    "spam",
    "junk",
    "bulk mail",
    "unsolicited",
    "blocked",
    "block list",
    "blocklist",
    "blacklist",
    "black list",
    "denylist",
    "listed in",
    "listed on",
    "rbl",
    "dnsbl",
    "spamhaus",
    "spamcop",
    "barracuda",
    "policy",
    "prohibited",
    "not allowed",
    "not permitted",
    "not authorized",
    "unauthorized",
    "unauthenticated",
    "authentication",
    "dmarc",
    "spf",
    "dkim",
    "reputation",
    "relay",
    "relaying",
    "content",
    "filter",
    "ptr record",
    "reverse dns",
    "reverse lookup",
    "rdns",
    "too many connections",
    "too many recipients",
    "too many",
    "rate limit",
    "rate-limit",
    "throttl",
    "try again later",
    "suspicious",
    "banned",
    "abuse",
    "access denied",
    "denied",
    "refused",
    "rejected",
    "reject",
    "not accepted",
    "does not accept",
    "not accept",
    "message header",
    "header error",
    "sender address",
    "sender domain",
    "not a member",
    "permission",
    "restricted",
    "mime",
    "media error",
    "blocked by",
    "sorry",
    "please use the smtp server",
    "unroutable sender",
    "sender verify",
    "address rejected",
    "violation",
];

/// Words that name a policy cause so plainly that they decide even when an
/// address-status code or "unknown" wording is present.
const STRONG_POLICY: &[&str] = &[
    "spam",
    "blacklist",
    "black list",
    "blocklist",
    "block list",
    "dnsbl",
    "spamhaus",
    "dmarc",
    "recipient preferences",
    "reputation",
    "virus",
    "malware",
    "banned sending ip",
];

/// The message breaks the message format rules: the sender's software is at fault.
const NOT_COMPLIANT: &[&str] = &[
    "rfc 5322",
    "rfc5322",
    "rfc 2822",
    "rfc2822",
    "rfc 822",
    "not rfc",
    "multiple addresses in from",
    "non-compliant",
    "not compliant",
];

/// Mail loops: the message is fine, the routing is not.
const LOOP: &[&str] = &[
    "hop count",
    "mail loop",
    "routing loop",
    "too many hops",
    "loop detected",
];

const OTHER_TEXT: &[&str] = &[
    "connection refused",
    "connection timed out",
    "connection reset",
    "network is unreachable",
    "internal error",
    "system error",
    "local error",
    "temporary failure",
    "malformed",
    "syntax error",
    "bad sequence",
    "command output",
    "mailer error",
    "loop",
    "not implemented",
    "routing loop",
    "procmail",
];

/// Phrases saying the refusal answered DATA or the end of data.
pub(crate) const AFTER_DATA: &[&str] = &[
    "in reply to end of data",
    "in reply to data",
    "after end of data",
    "after data",
    "smtp command data",
    "command data",
    "(data)",
];

/// "failed 20 attempts", "after 5 attempts": the queue retried and gave up.
fn retried_many_times(t: &str) -> bool {
    t.match_indices(" attempts").any(|(i, _)| {
        let before = t.get(..i).unwrap_or("");
        let word = before.rsplit(' ').next().unwrap_or("");
        word.parse::<u32>().is_ok_and(|n| n > 1)
    })
}

fn any(text: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| text.contains(n))
}

fn from_code(code: &EnhancedCode) -> Option<Reason> {
    Some(match (code.subject, code.detail) {
        (1, 1) | (1, 6) | (1, 0) | (2, 1) | (1, 4) | (1, 9) => Reason::UserUnknown,
        (1, 2) | (1, 10) | (4, 4) => Reason::HostUnknown,
        (2, 2) => Reason::MailboxFull,
        (2, 3) | (3, 4) => Reason::TooLarge,
        (4, 7) => Reason::Expired,
        (7, 5) | (7, 10) | (7, 11) | (7, 30) => Reason::Security,
        (7, 0) if code.class == Class::Success => return None,
        (1, 3) | (1, 7) | (1, 8) | (7, _) | (6, _) => Reason::Policy,
        _ => return None,
    })
}

fn from_subject(code: &EnhancedCode, in_bounce: bool) -> Option<Reason> {
    Some(match code.subject {
        1 => Reason::UserUnknown,
        2 => Reason::MailboxFull,
        // a network status in a bounce: the queue kept trying until it gave up
        4 if in_bounce && code.class == Class::Transient => Reason::Expired,
        3..=5 => Reason::Other,
        6 | 7 => Reason::Policy,
        _ => return None,
    })
}

/// Classifies a failure from what is known about it: the SMTP reply code,
/// the enhanced status code and the diagnostic text (any may be missing).
///
/// This is the queue's view of a reply it got itself: a transient network
/// status is `other` here, while [`crate::analyze`] reads the same status in
/// a final bounce as `expired` (the reporting MTA gave up retrying).
///
/// ```
/// use dsn::{classify, Reason};
/// let c = classify(Some(550), "5.1.1".parse().ok(), "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown");
/// assert_eq!((c.reason, c.hard), (Reason::UserUnknown, true));
/// let c = classify(Some(452), "4.2.2".parse().ok(), "452 4.2.2 Mailbox full");
/// assert_eq!((c.reason, c.hard), (Reason::MailboxFull, false));
/// assert_eq!(classify(Some(554), None, "554 Message rejected: spam detected").reason, Reason::Policy);
/// ```
pub fn classify(
    reply_code: Option<u16>,
    status: Option<EnhancedCode>,
    text: &str,
) -> Classification {
    classify_with(reply_code, status, text, false)
}

/// Like [`classify`], for what a bounce reports: a network status there
/// means the reporting MTA gave up retrying, so it counts as expiry.
pub(crate) fn classify_bounce(
    reply_code: Option<u16>,
    status: Option<EnhancedCode>,
    text: &str,
) -> Classification {
    classify_with(reply_code, status, text, true)
}

fn classify_with(
    reply_code: Option<u16>,
    status: Option<EnhancedCode>,
    text: &str,
    in_bounce: bool,
) -> Classification {
    let lower = text.to_ascii_lowercase();
    let t = lower.as_str();
    let permanent = match (status, reply_code) {
        (Some(s), _) if s.class != Class::Success => s.class == Class::Permanent,
        (_, Some(c)) => c >= 500,
        _ => true,
    };
    let specific = status.filter(|s| !(s.subject == 0 && s.detail == 0));
    let reason = if any(t, LOOP) {
        Reason::Other
    } else if any(t, &["account or domain may not exist"]) {
        // cPanel's Exim wording, which goes on to mention block lists as a maybe
        Reason::HostUnknown
    } else if any(t, NOT_COMPLIANT) {
        Reason::Other
    } else if any(t, STRONG_POLICY) {
        Reason::Policy
    } else if any(t, MAILBOX_FULL) {
        Reason::MailboxFull
    } else if any(t, TOO_LARGE) {
        Reason::TooLarge
    } else if (retried_many_times(t)
        || any(t, EXPIRED) && specific.is_none_or(|s| s.subject != 1 && s.subject != 2))
        && reply_code.is_none_or(|c| c < 500)
    {
        Reason::Expired
    } else if any(t, HOST_UNKNOWN) && !any(t, &["user unknown", "no such user", "user not found"]) {
        Reason::HostUnknown
    } else if any(t, USER_UNKNOWN)
        && !any(
            t,
            &[
                "sender address rejected",
                "sender verify",
                "not our customer",
            ],
        )
        && specific.is_none_or(|s| s.subject != 7)
    {
        Reason::UserUnknown
    } else if any(t, SECURITY) {
        Reason::Security
    } else if let Some(r) = specific.as_ref().and_then(from_code) {
        r
    } else if any(t, POLICY) {
        Reason::Policy
    } else if any(t, OTHER_TEXT) {
        Reason::Other
    } else if let Some(r) = specific.as_ref().and_then(|c| from_subject(c, in_bounce)) {
        r
    } else {
        Reason::Other
    };
    // A transient failure cannot prove that a host does not exist (DNS
    // servers time out); it is a network problem until it becomes permanent.
    let reason = if reason == Reason::HostUnknown && !permanent {
        Reason::Other
    } else {
        reason
    };
    // An unknown-user answer to DATA, after RCPT TO was accepted, comes from a
    // content filter, not from a missing mailbox.
    let address_code = specific.is_some_and(|s| s.subject == 1 || s.subject == 2);
    let reason = if reason == Reason::UserUnknown && any(t, AFTER_DATA) && !address_code {
        Reason::Policy
    } else {
        reason
    };
    Classification {
        reason,
        hard: permanent && matches!(reason, Reason::UserUnknown | Reason::HostUnknown),
    }
}

/// Classifies a synchronous SMTP reply, as the queue sees it after RCPT TO or DATA.
///
/// ```
/// use dsn::{classify_reply, Reason};
/// let reply = smtp::Reply::new(550, "5.7.1 Message rejected as spam");
/// assert_eq!(classify_reply(&reply).reason, Reason::Policy);
/// ```
pub fn classify_reply(reply: &Reply) -> Classification {
    classify(
        Some(reply.code),
        reply.enhanced_code(),
        &reply.lines.join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: Option<u16>, status: &str, text: &str) -> (Reason, bool) {
        let r = classify(code, status.parse().ok(), text);
        (r.reason, r.hard)
    }

    #[test]
    fn words_beat_generic_codes() {
        assert_eq!(
            c(Some(550), "5.1.1", "Not enough disk space"),
            (Reason::MailboxFull, false)
        );
        assert_eq!(
            c(Some(554), "5.0.0", "Domain not found"),
            (Reason::HostUnknown, true)
        );
        assert_eq!(
            c(None, "", "retry timeout exceeded"),
            (Reason::Expired, false)
        );
    }

    #[test]
    fn specific_codes_decide_when_text_is_vague() {
        assert_eq!(
            c(Some(550), "5.2.2", "see https://x"),
            (Reason::MailboxFull, false)
        );
        assert_eq!(c(Some(550), "5.7.1", "go away"), (Reason::Policy, false));
        assert_eq!(c(Some(421), "4.4.7", "x"), (Reason::Expired, false));
        assert_eq!(c(Some(550), "5.7.10", "x"), (Reason::Security, false));
    }

    #[test]
    fn transient_user_unknown_is_soft() {
        assert_eq!(
            c(Some(450), "4.1.1", "user unknown"),
            (Reason::UserUnknown, false)
        );
    }

    #[test]
    fn reasons_round_trip_their_wire_names() {
        for r in [
            Reason::UserUnknown,
            Reason::MailboxFull,
            Reason::Policy,
            Reason::HostUnknown,
            Reason::Expired,
            Reason::TooLarge,
            Reason::Security,
            Reason::Other,
        ] {
            assert_eq!(r.as_str().parse::<Reason>(), Ok(r));
        }
    }
}
