//! What each mail system's bounce text looks like: the phrases that identify
//! it, where its list of failed recipients begins, and where the returned
//! original starts. The extractor in [`super::text`] is shared; the formats
//! are data, one module per family, so adding a family is adding a table.

mod amazon;
mod exchange;
mod exim;
mod gmail;
mod lotus;
mod misc;
mod opensmtpd;
mod postfix;
mod qmail;
mod sendmail;
mod yahoo;

/// How one family writes its non-standard bounces.
#[derive(Debug)]
pub struct Format {
    /// Family name reported in [`crate::Analysis::family`].
    pub name: &'static str,
    /// Lower-case phrases of which one in the body or subject identifies the family.
    pub detect: &'static [&'static str],
    /// Lower-case phrases after whose line the recipients are listed.
    pub start: &'static [&'static str],
    /// Lower-case line prefixes (after trimming) where the returned original begins.
    pub end: &'static [&'static str],
}

/// All known formats, most specific first.
pub const FORMATS: &[&Format] = &[
    &qmail::FORMAT,
    &exim::FORMAT,
    &postfix::FORMAT,
    &sendmail::FORMAT,
    &exchange::FORMAT,
    &gmail::FORMAT,
    &yahoo::FORMAT,
    &amazon::FORMAT,
    &lotus::FORMAT,
    &opensmtpd::FORMAT,
    &misc::FORMAT,
];

/// Line prefixes that start the returned original in many formats.
pub const COMMON_END: &[&str] = &[
    "------ this is a copy of",
    "--- below this line is a copy of the message",
    "----- original message -----",
    "--- the header of the original message",
    "----- unsent message follows -----",
    "--- original message follows",
    "below is a copy of the original message",
    "included is a copy of the message header",
    "------- returned message --------",
    "-------original message",
    "-------original mail info",
    "message headers follow",
    "original message:",
    "------ original message",
    "----- the header of",
    "content-type: message/rfc822",
    "return-path:",
    "received: from",
    "received: by",
    "dkim-signature:",
    "x-received:",
];
