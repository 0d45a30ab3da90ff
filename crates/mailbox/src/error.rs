//! Typed errors of the store and of password checks.

use std::net::IpAddr;
use std::time::Duration;

/// What went wrong with a store operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailboxError {
    /// No account with this name or login address.
    #[error("account {account:?} not found")]
    AccountNotFound {
        /// The name or address that was looked up.
        account: String,
    },
    /// An account with this name already exists.
    #[error("account {account:?} already exists")]
    AccountExists {
        /// The name given.
        account: String,
    },
    /// The address already belongs to an account (possibly another one).
    #[error("address {address:?} already belongs to account {account:?}")]
    AddressTaken {
        /// The normalised address.
        address: String,
        /// The account that holds it.
        account: String,
    },
    /// An account name, address, mailbox name, flag or keyword is malformed.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// Which kind of value ("account name", "address", "mailbox name", "flag", "keyword", ...).
        what: &'static str,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The account has no mailbox of this name.
    #[error("mailbox {mailbox:?} not found in account {account:?}")]
    MailboxNotFound {
        /// The account.
        account: String,
        /// The mailbox name looked up.
        mailbox: String,
    },
    /// The account already has a mailbox of this name (compared case-insensitively).
    #[error("mailbox {mailbox:?} already exists in account {account:?}")]
    MailboxExists {
        /// The account.
        account: String,
        /// The name that clashed.
        mailbox: String,
    },
    /// Inbox, Sent and the postmaster mailbox cannot be deleted, and Inbox cannot be renamed.
    #[error(
        "mailbox {mailbox:?} of account {account:?} is a standard mailbox and cannot be {action}"
    )]
    MailboxProtected {
        /// The account.
        account: String,
        /// The mailbox.
        mailbox: String,
        /// "deleted" or "renamed".
        action: &'static str,
    },
    /// Only empty mailboxes are deleted, so no message disappears by accident.
    #[error("mailbox {mailbox:?} of account {account:?} still holds {count} messages")]
    MailboxNotEmpty {
        /// The account.
        account: String,
        /// The mailbox.
        mailbox: String,
        /// How many messages it holds.
        count: u64,
    },
    /// No message with this id in the account.
    #[error("message {id} not found in account {account:?}")]
    MessageNotFound {
        /// The account.
        account: String,
        /// The message id.
        id: i64,
    },
    /// Storing the message would take the account over its quota.
    #[error(
        "account {account:?} over quota: {used} of {quota} bytes used, message of {size} bytes refused"
    )]
    QuotaExceeded {
        /// The account.
        account: String,
        /// The quota in bytes.
        quota: u64,
        /// Bytes used before this message.
        used: u64,
        /// The size of the refused message.
        size: u64,
    },
    /// The password could not be turned into stored keys (SASLprep refused it,
    /// or no randomness for a salt).
    #[error("password for account {account:?} refused: {reason}")]
    Password {
        /// The account.
        account: String,
        /// What the SASL crate said.
        reason: String,
    },
    /// The database file was written by a newer version of this crate.
    #[error("database schema version {found} is newer than the {supported} this program knows")]
    SchemaTooNew {
        /// The version in the file.
        found: i64,
        /// The newest version this crate migrates to.
        supported: i64,
    },
    /// A stored value does not decode (the file was edited or damaged).
    #[error("stored {what} of {key} does not decode: {reason}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// Which row.
        key: String,
        /// Why.
        reason: String,
    },
    /// SQLite failed.
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
}

/// Why a password check refused a login.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Too many failed attempts from this network recently (HTTP 429).
    #[error("too many failed logins from {ip}; retry in {retry_after:?}")]
    RateLimited {
        /// The client address as given.
        ip: IpAddr,
        /// When the oldest counted failure leaves the window.
        retry_after: Duration,
    },
    /// Unknown login, no password set, or a wrong password: deliberately one case.
    #[error("bad credentials for login {login:?}")]
    BadCredentials {
        /// The login as given.
        login: String,
    },
    /// The password was right but the account is disabled.
    #[error("login is disabled for account {account:?}")]
    Disabled {
        /// The account name.
        account: String,
    },
    /// The store failed while checking.
    #[error(transparent)]
    Store(#[from] MailboxError),
}
