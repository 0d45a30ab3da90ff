//! Named mailboxes of an account.

use crate::MailboxError;

/// Name of the mailbox incoming mail goes to.
pub const INBOX: &str = "Inbox";
/// Name given to the Sent mailbox at account creation.
pub const SENT: &str = "Sent";
/// Name given to the postmaster mailbox at account creation: DSNs about mail
/// whose sender has no account of its own land in the postmaster account's.
pub const POSTMASTER: &str = "Postmaster";

/// The special purpose of a mailbox; each account has exactly one of each
/// role except [`MailboxRole::None`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MailboxRole {
    /// Where incoming mail and DSNs go; never renamed or deleted.
    Inbox,
    /// Where copies of sent messages go (web API SaveSent).
    Sent,
    /// Where the postmaster fallback puts DSNs.
    Postmaster,
    /// A mailbox the user created.
    None,
}

impl MailboxRole {
    pub(crate) fn code(self) -> i64 {
        match self {
            MailboxRole::None => 0,
            MailboxRole::Inbox => 1,
            MailboxRole::Sent => 2,
            MailboxRole::Postmaster => 3,
        }
    }

    pub(crate) fn from_code(code: i64) -> Option<MailboxRole> {
        match code {
            0 => Some(MailboxRole::None),
            1 => Some(MailboxRole::Inbox),
            2 => Some(MailboxRole::Sent),
            3 => Some(MailboxRole::Postmaster),
            _ => None,
        }
    }
}

/// A mailbox with its counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    /// The name, unique per account (case-insensitively).
    pub name: String,
    /// Its role.
    pub role: MailboxRole,
    /// Number of messages.
    pub messages: u64,
    /// Bytes of message data.
    pub size: u64,
}

/// Longest mailbox name accepted, in bytes.
pub const MAX_MAILBOX_NAME: usize = 255;

/// Checks a mailbox name: 1..=255 bytes, no control characters, no leading
/// or trailing whitespace.
pub(crate) fn check_mailbox_name(name: &str) -> Result<(), MailboxError> {
    let invalid = |reason| MailboxError::Invalid {
        what: "mailbox name",
        value: name.to_string(),
        reason,
    };
    if name.is_empty() || name.len() > MAX_MAILBOX_NAME {
        return Err(invalid("must be 1 to 255 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("control characters are not allowed"));
    }
    if name.trim() != name {
        return Err(invalid("leading or trailing whitespace is not allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_names_refuse_controls_blanks_and_overlong() {
        assert!(check_mailbox_name("Archive/2024").is_ok());
        assert!(check_mailbox_name("").is_err());
        assert!(check_mailbox_name(" x").is_err());
        assert!(check_mailbox_name("a\tb").is_err());
        assert!(check_mailbox_name(&"é".repeat(128)).is_err());
    }

    #[test]
    fn roles_round_trip_through_their_codes() {
        for role in [
            MailboxRole::None,
            MailboxRole::Inbox,
            MailboxRole::Sent,
            MailboxRole::Postmaster,
        ] {
            assert_eq!(MailboxRole::from_code(role.code()), Some(role));
        }
        assert_eq!(MailboxRole::from_code(9), None);
    }
}
