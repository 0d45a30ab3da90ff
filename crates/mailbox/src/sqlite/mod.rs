//! The SQLite implementation of [`crate::MailboxStore`].

mod accounts;
mod credentials;
mod folders;
mod messages;
pub(crate) mod schema;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;
use tokio::sync::broadcast;

use std::net::IpAddr;

use crate::auth::cache::CheckCache;
use crate::{
    Account, AccountUpdate, AuthError, AuthLimiter, Change, Clock, Cursor, Flags, LimiterConfig,
    Mailbox, MailboxError, MailboxRole, MailboxStore, MessageId, MessageMeta, NewAccount,
    NewMessage, Page, SystemClock,
};

/// Settings of a [`SqliteMailboxStore`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// PBKDF2 iterations for newly set passwords (default
    /// [`sasl::DEFAULT_ITERATIONS`], 4096).
    pub scram_iterations: u32,
    /// The catchall separator (localserve: `+`): `a+x@d` logs in and
    /// receives as `a@d`. `None` disables it.
    pub catchall_separator: Option<char>,
    /// Numbers of the failed-login limiter.
    pub limiter: LimiterConfig,
    /// The limiter's clock (tests pass a [`crate::ManualClock`]).
    pub clock: Arc<dyn Clock>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            scram_iterations: sasl::DEFAULT_ITERATIONS,
            catchall_separator: None,
            limiter: LimiterConfig::default(),
            clock: Arc::new(SystemClock::new()),
        }
    }
}

/// Changes kept for slow subscribers before they see `Lagged`.
const CHANGE_BUFFER: usize = 1024;

/// The store in one SQLite file (WAL mode, `synchronous=FULL`, foreign keys
/// on). Two connections: one for writes, one for reads, so a listing does
/// not wait for a delivery's fsync. Cheap to share behind an `Arc`.
///
/// ```
/// use mailbox::*;
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteMailboxStore::open(dir.path().join("mailbox.db"), StoreOptions::default()).unwrap();
/// store.create_account(&NewAccount {
///     name: "postel".into(),
///     addresses: vec!["postel@localhost".into()],
///     ..Default::default()
/// }).unwrap();
/// store.set_password("postel", "postelpostel").unwrap();
/// assert_eq!(store.check_login("Postel@localhost", "postelpostel").unwrap().name, "postel");
///
/// let meta = store.deliver(&NewMessage {
///     account: "postel".into(),
///     mailbox: INBOX.into(),
///     received: std::time::SystemTime::now(),
///     flags: Flags::default(),
///     envelope: Envelope { mail_from: None, rcpt_to: None, remote_ip: None, is_dsn: true },
///     raw: b"Subject: Delivery failed\r\n\r\nsorry\r\n".to_vec(),
/// }).unwrap();
/// assert_eq!(meta.subject, "Delivery failed");
/// assert_eq!(store.raw("postel", meta.id).unwrap(), b"Subject: Delivery failed\r\n\r\nsorry\r\n");
/// ```
pub struct SqliteMailboxStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    options: StoreOptions,
    limiter: AuthLimiter,
    cache: CheckCache,
    changes: broadcast::Sender<Change>,
    /// Keys of no account, checked against for unknown logins so they take
    /// as long as wrong passwords.
    dummy: std::sync::OnceLock<Option<sasl::ScramCredentials>>,
}

impl std::fmt::Debug for SqliteMailboxStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteMailboxStore")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl SqliteMailboxStore {
    /// Opens or creates the database at `path` and migrates its schema.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self, MailboxError> {
        let path = path.as_ref();
        let mut writer = connect(path)?;
        schema::migrate(&mut writer)?;
        let reader = connect(path)?;
        let cache = CheckCache::new().map_err(|e| MailboxError::Corrupt {
            what: "random key",
            key: "check cache".into(),
            reason: e.to_string(),
        })?;
        let limiter = AuthLimiter::new(options.limiter.clone(), options.clock.clone());
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        tracing::debug!(target: "mailbox", path = %path.display(), "store opened");
        Ok(SqliteMailboxStore {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            options,
            limiter,
            cache,
            changes,
            dummy: std::sync::OnceLock::new(),
        })
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, MailboxError> {
        schema::version(&self.read())
    }

    /// The options in use.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Number of remembered successful password checks.
    pub fn cached_checks(&self) -> usize {
        self.cache.len()
    }

    fn write(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock left no open transaction behind
        // (rusqlite rolls back on drop), so the connection is still usable.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self, change: Change) {
        // No subscribers is fine.
        let _ = self.changes.send(change);
    }
}

fn connect(path: &Path) -> Result<Connection, MailboxError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // journal_mode answers with a row, so it is queried rather than executed.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(MailboxError::Corrupt {
            what: "journal mode",
            key: path.display().to_string(),
            reason: format!("SQLite kept journal mode {mode:?} instead of WAL"),
        });
    }
    // After a checkpoint the WAL is cut back to 64 MiB, so one 100 MiB
    // message does not leave a 100 MiB WAL file behind for good.
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA journal_size_limit=67108864;",
    )?;
    Ok(conn)
}

impl MailboxStore for SqliteMailboxStore {
    fn create_account(&self, account: &NewAccount) -> Result<Account, MailboxError> {
        self.create_account_inner(account)
    }
    fn account(&self, name: &str) -> Result<Account, MailboxError> {
        self.account_inner(name)
    }
    fn account_for_address(&self, address: &str) -> Result<Account, MailboxError> {
        self.account_for_address_inner(address)
    }
    fn accounts(&self) -> Result<Vec<Account>, MailboxError> {
        self.accounts_inner()
    }
    fn update_account(&self, name: &str, update: &AccountUpdate) -> Result<Account, MailboxError> {
        self.update_account_inner(name, update)
    }
    fn delete_account(&self, name: &str) -> Result<(), MailboxError> {
        self.delete_account_inner(name)
    }
    fn set_password(&self, account: &str, password: &str) -> Result<(), MailboxError> {
        self.set_password_inner(account, password)
    }
    fn check_login(&self, login: &str, password: &str) -> Result<Account, AuthError> {
        self.check_password_inner(login, password)
    }
    fn authenticate(&self, ip: IpAddr, login: &str, password: &str) -> Result<Account, AuthError> {
        self.authenticate_inner(ip, login, password)
    }
    fn auth_limiter(&self) -> &AuthLimiter {
        &self.limiter
    }
    fn mailboxes(&self, account: &str) -> Result<Vec<Mailbox>, MailboxError> {
        self.mailboxes_inner(account)
    }
    fn mailbox_by_role(&self, account: &str, role: MailboxRole) -> Result<Mailbox, MailboxError> {
        self.mailbox_by_role_inner(account, role)
    }
    fn create_mailbox(&self, account: &str, name: &str) -> Result<Mailbox, MailboxError> {
        self.create_mailbox_inner(account, name)
    }
    fn rename_mailbox(&self, account: &str, from: &str, to: &str) -> Result<(), MailboxError> {
        self.rename_mailbox_inner(account, from, to)
    }
    fn delete_mailbox(&self, account: &str, name: &str) -> Result<(), MailboxError> {
        self.delete_mailbox_inner(account, name)
    }
    fn deliver(&self, message: &NewMessage) -> Result<MessageMeta, MailboxError> {
        self.deliver_inner(message)
    }
    fn deliver_many(
        &self,
        messages: &[NewMessage],
    ) -> Result<Vec<Result<MessageMeta, MailboxError>>, MailboxError> {
        self.deliver_many_inner(messages)
    }
    fn list(
        &self,
        account: &str,
        mailbox: &str,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, MailboxError> {
        self.list_inner(account, mailbox, after, limit)
    }
    fn message(&self, account: &str, id: MessageId) -> Result<MessageMeta, MailboxError> {
        self.message_inner(account, id)
    }
    fn raw(&self, account: &str, id: MessageId) -> Result<Vec<u8>, MailboxError> {
        self.raw_inner(account, id)
    }
    fn delete_message(&self, account: &str, id: MessageId) -> Result<(), MailboxError> {
        self.delete_message_inner(account, id)
    }
    fn add_flags(
        &self,
        account: &str,
        id: MessageId,
        flags: &Flags,
    ) -> Result<Flags, MailboxError> {
        self.add_flags_inner(account, id, flags)
    }
    fn remove_flags(
        &self,
        account: &str,
        id: MessageId,
        flags: &Flags,
    ) -> Result<Flags, MailboxError> {
        self.remove_flags_inner(account, id, flags)
    }
    fn move_message(
        &self,
        account: &str,
        id: MessageId,
        mailbox: &str,
    ) -> Result<MessageMeta, MailboxError> {
        self.move_message_inner(account, id, mailbox)
    }
    fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests;
