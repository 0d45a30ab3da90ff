//! The interface the queue, the SMTP server and the web API use.

use std::net::IpAddr;

use tokio::sync::broadcast;

use crate::{
    Account, AccountUpdate, AuthError, AuthLimiter, Change, Cursor, Flags, Mailbox, MailboxError,
    MailboxRole, MessageId, MessageMeta, NewAccount, NewMessage, Page,
};

/// Accounts, their credentials, mailboxes and messages.
///
/// **Blocking.** Every method does file I/O (SQLite, with an fsync per
/// write) and the password methods run PBKDF2, so call them from a
/// dedicated thread or `tokio::task::spawn_blocking`, never directly on an
/// async worker. The interface is synchronous on purpose: the storage
/// engine is synchronous, the SASL crate's [`sasl::CredentialStore`] that
/// the SMTP server drives is synchronous, and the callers already run their
/// storage work off the runtime; an async facade would only hide where the
/// blocking happens and tie the crate to one executor's thread pool.
///
/// **Durability.** A method that changes anything returns only after its
/// transaction has committed and been synced to disk (SQLite WAL with
/// `synchronous=FULL`), so a delivered message survives a crash or power
/// loss as soon as `deliver` returns.
///
/// **Scope.** Message operations take the account name and only see that
/// account's messages: an id of another account's message is
/// [`MailboxError::MessageNotFound`], so a web API user cannot probe others.
pub trait MailboxStore: sasl::CredentialStore + Send + Sync {
    /// Creates an account with its addresses and the mailboxes Inbox, Sent
    /// and Postmaster. No password yet: see [`MailboxStore::set_password`].
    fn create_account(&self, account: &NewAccount) -> Result<Account, MailboxError>;

    /// The account with this name.
    fn account(&self, name: &str) -> Result<Account, MailboxError>;

    /// The account owning `address` (normalised first, see
    /// [`crate::normalize_address`]); with a catchall separator configured,
    /// `local+anything@domain` also finds the owner of `local@domain`.
    fn account_for_address(&self, address: &str) -> Result<Account, MailboxError>;

    /// All accounts, by name.
    fn accounts(&self) -> Result<Vec<Account>, MailboxError>;

    /// Changes an account's settings.
    fn update_account(&self, name: &str, update: &AccountUpdate) -> Result<Account, MailboxError>;

    /// Deletes an account with its credentials, mailboxes and messages.
    fn delete_account(&self, name: &str) -> Result<(), MailboxError>;

    /// Sets the password: stores SCRAM-SHA-1 and SCRAM-SHA-256 keys (fresh
    /// salts) and, if the account has CRAM-MD5 enabled, the HMAC-MD5 state;
    /// never the password. Forgets cached successful checks of the account.
    fn set_password(&self, account: &str, password: &str) -> Result<(), MailboxError>;

    /// Checks a password given with PLAIN, LOGIN or HTTP Basic for the login
    /// address `login` against the SCRAM-SHA-256 keys; successful checks are
    /// cached until the password changes. A correct password of a disabled
    /// account is [`AuthError::Disabled`]. No rate limiting: see
    /// [`MailboxStore::authenticate`]. (Named apart from
    /// [`sasl::CredentialStore::check_password`], the yes/no form the SASL
    /// server calls, which goes through this same check and cache.)
    fn check_login(&self, login: &str, password: &str) -> Result<Account, AuthError>;

    /// [`MailboxStore::check_login`] behind the per-network limiter: a
    /// network with too many recent failures is refused without checking
    /// ([`AuthError::RateLimited`], HTTP 429), and a bad password counts as a
    /// failure.
    fn authenticate(&self, ip: IpAddr, login: &str, password: &str) -> Result<Account, AuthError>;

    /// The limiter `authenticate` uses, for callers that run the SASL
    /// exchange themselves (the SMTP server checks it before AUTH and
    /// records failed exchanges).
    fn auth_limiter(&self) -> &AuthLimiter;

    /// The account's mailboxes with counts, by name.
    fn mailboxes(&self, account: &str) -> Result<Vec<Mailbox>, MailboxError>;

    /// The account's mailbox with this role (e.g. where SaveSent stores).
    fn mailbox_by_role(&self, account: &str, role: MailboxRole) -> Result<Mailbox, MailboxError>;

    /// Creates an empty mailbox; names are unique per account, compared case-insensitively.
    fn create_mailbox(&self, account: &str, name: &str) -> Result<Mailbox, MailboxError>;

    /// Renames a mailbox (its messages and role stay). Inbox cannot be renamed.
    fn rename_mailbox(&self, account: &str, from: &str, to: &str) -> Result<(), MailboxError>;

    /// Deletes an empty mailbox without a role.
    fn delete_mailbox(&self, account: &str, name: &str) -> Result<(), MailboxError>;

    /// Stores a message in one transaction with its bytes, after checking the
    /// account's quota ([`MailboxError::QuotaExceeded`]).
    fn deliver(&self, message: &NewMessage) -> Result<MessageMeta, MailboxError>;

    /// Stores several messages with one commit (one fsync), as a group
    /// commit for callers that have several at hand. Each message gets its
    /// own result: a refused one (quota, unknown account or mailbox) is
    /// skipped and the others are stored. The outer error means nothing
    /// was stored.
    fn deliver_many(
        &self,
        messages: &[NewMessage],
    ) -> Result<Vec<Result<MessageMeta, MailboxError>>, MailboxError>;

    /// A page of a mailbox, newest first (by received time, then id),
    /// continuing after `after`. `limit` is clamped to 1..=[`crate::MAX_PAGE`].
    fn list(
        &self,
        account: &str,
        mailbox: &str,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, MailboxError>;

    /// A message's metadata.
    fn message(&self, account: &str, id: MessageId) -> Result<MessageMeta, MailboxError>;

    /// A message's bytes as delivered.
    fn raw(&self, account: &str, id: MessageId) -> Result<Vec<u8>, MailboxError>;

    /// Deletes a message permanently (no Trash), releasing its quota.
    fn delete_message(&self, account: &str, id: MessageId) -> Result<(), MailboxError>;

    /// Adds flags and keywords; ones already set are no-ops. Returns the
    /// message's flags afterwards.
    fn add_flags(&self, account: &str, id: MessageId, flags: &Flags)
    -> Result<Flags, MailboxError>;

    /// Removes flags and keywords (keywords compared case-insensitively);
    /// absent ones are no-ops. Returns the message's flags afterwards.
    fn remove_flags(
        &self,
        account: &str,
        id: MessageId,
        flags: &Flags,
    ) -> Result<Flags, MailboxError>;

    /// Moves a message to another mailbox of the same account; its id stays.
    fn move_message(
        &self,
        account: &str,
        id: MessageId,
        mailbox: &str,
    ) -> Result<MessageMeta, MailboxError>;

    /// Changes made through this store value from now on, sent after each
    /// commit. A receiver that falls more than 1024 changes behind gets
    /// `Lagged` and should re-read what it waits for. Changes made by other
    /// processes on the same file are not seen.
    fn subscribe(&self) -> broadcast::Receiver<Change>;
}
