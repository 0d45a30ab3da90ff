//! Accounts: who logs in, which addresses they own, how much they may store.

use smtp::Address;

use crate::MailboxError;

/// An account as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Unique name, e.g. "postel".
    pub name: String,
    /// Login and destination addresses, normalised (see [`normalize_address`]),
    /// in the order they were added.
    pub addresses: Vec<String>,
    /// Full name used as the default From display name.
    pub display_name: String,
    /// Quota in bytes of message data; 0 means unlimited.
    pub quota: u64,
    /// Bytes of message data currently stored.
    pub used: u64,
    /// Whether CRAM-MD5 is allowed (and its HMAC-MD5 state stored).
    pub cram_md5: bool,
    /// A disabled account cannot log in; mail is still stored.
    pub disabled: bool,
    /// Whether a password has been set.
    pub has_password: bool,
}

/// What [`crate::MailboxStore::create_account`] needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewAccount {
    /// Unique name: 1..=64 characters, no control characters, no whitespace, no '@'.
    pub name: String,
    /// At least one address; each must parse as an SMTP address with a domain.
    pub addresses: Vec<String>,
    /// Full name.
    pub display_name: String,
    /// Quota in bytes, 0 = unlimited.
    pub quota: u64,
    /// Allow CRAM-MD5 (its state is derived by `set_password`).
    pub cram_md5: bool,
    /// Start disabled.
    pub disabled: bool,
}

/// A change to an account's settings; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountUpdate {
    /// New display name.
    pub display_name: Option<String>,
    /// New quota in bytes (0 = unlimited). Lowering it below the usage keeps
    /// the stored messages but refuses new ones.
    pub quota: Option<u64>,
    /// Enable or disable CRAM-MD5. Disabling deletes the stored HMAC-MD5
    /// state at once; enabling takes effect at the next `set_password`,
    /// because the state can only be derived from the password.
    pub cram_md5: Option<bool>,
    /// Disable or re-enable login.
    pub disabled: Option<bool>,
    /// Replace the address list (at least one address).
    pub addresses: Option<Vec<String>>,
}

/// The form addresses are stored and looked up in: the local part in its
/// decoded form, lowercased (logins are case-insensitive as at most
/// providers), `@`, the domain in ASCII (A-label) form.
///
/// ```
/// assert_eq!(mailbox::normalize_address("Alice@Bücher.Example").unwrap(), "alice@xn--bcher-kva.example");
/// assert!(mailbox::normalize_address("no-at-sign").is_err());
/// ```
pub fn normalize_address(address: &str) -> Result<String, MailboxError> {
    let invalid = |reason| MailboxError::Invalid {
        what: "address",
        value: address.to_string(),
        reason,
    };
    let parsed = Address::parse(address).map_err(|_| invalid("not an SMTP address"))?;
    let domain = parsed
        .domain()
        .ok_or(invalid("an IP literal is not a login address"))?;
    Ok(format!(
        "{}@{}",
        parsed.localpart().as_str().to_lowercase(),
        domain.ascii()
    ))
}

/// Checks an account name: 1..=64 characters, printable, no whitespace, no '@'.
pub(crate) fn check_account_name(name: &str) -> Result<(), MailboxError> {
    let invalid = |reason| MailboxError::Invalid {
        what: "account name",
        value: name.to_string(),
        reason,
    };
    if name.is_empty() || name.chars().count() > 64 {
        return Err(invalid("must be 1 to 64 characters"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '@')
    {
        return Err(invalid("no control characters, whitespace or '@'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalise_to_lowercase_local_part_and_ascii_domain() {
        assert_eq!(
            normalize_address("Mjl@Example.ORG").unwrap(),
            "mjl@example.org"
        );
        assert_eq!(
            normalize_address("\"john doe\"@example.org").unwrap(),
            "john doe@example.org"
        );
        assert!(matches!(
            normalize_address("x@[192.0.2.1]"),
            Err(MailboxError::Invalid {
                what: "address",
                ..
            })
        ));
    }

    #[test]
    fn account_names_refuse_at_sign_space_and_empty() {
        assert!(check_account_name("postel").is_ok());
        assert!(check_account_name("").is_err());
        assert!(check_account_name("a b").is_err());
        assert!(check_account_name("a@b").is_err());
        assert!(check_account_name(&"x".repeat(65)).is_err());
    }
}
