//! Accounts' mailboxes, messages and credentials.
//!
//! Postel keeps mail for its accounts here: DSNs the queue generates,
//! incoming mail and bounces, localserve deliveries, and copies of sent
//! messages. The web API reads it; the SMTP server checks logins against it.
//!
//! Map:
//! - [`MailboxStore`]: the interface (blocking; see its docs for why), and
//!   [`SqliteMailboxStore`] with [`StoreOptions`], its SQLite implementation
//!   (WAL, `synchronous=FULL`, versioned schema migrations).
//! - [`Account`], [`NewAccount`], [`AccountUpdate`], [`normalize_address`]:
//!   accounts and their login/destination addresses.
//! - Credentials: passwords are kept only as SCRAM-SHA-1/-256 keys and, when
//!   enabled, the CRAM-MD5 HMAC state; the store implements
//!   [`sasl::CredentialStore`]. [`MailboxStore::check_login`] (cached) and
//!   [`MailboxStore::authenticate`] (behind [`AuthLimiter`], with a [`Clock`])
//!   serve PLAIN, LOGIN and HTTP Basic.
//! - [`Mailbox`], [`MailboxRole`], [`INBOX`], [`SENT`], [`POSTMASTER`]: named mailboxes.
//! - [`NewMessage`], [`Envelope`], [`MessageMeta`], [`MessageId`],
//!   [`Flags`], [`SystemFlags`], [`Cursor`], [`Page`]: messages.
//! - [`Change`]: notifications from [`MailboxStore::subscribe`].
//! - [`MailboxError`], [`AuthError`]: what goes wrong.
//!
//! From async code, run store calls off the runtime's workers, e.g.
//! `tokio::task::spawn_blocking(move || store.deliver(&message))` with the
//! store in an `Arc`. [`MailboxStore::deliver_many`] shares one commit (one
//! fsync) among several messages.
//!
//! Delivering a DSN and waiting for it, as the queue's tests do:
//!
//! ```
//! use mailbox::*;
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteMailboxStore::open(dir.path().join("mail.db"), StoreOptions::default()).unwrap();
//! store.create_account(&NewAccount {
//!     name: "alice".into(),
//!     addresses: vec!["alice@example.org".into()],
//!     quota: 1 << 20,
//!     ..Default::default()
//! }).unwrap();
//! let mut changes = store.subscribe();
//!
//! let meta = store.deliver(&NewMessage {
//!     account: "alice".into(),
//!     mailbox: INBOX.into(),
//!     received: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
//!     flags: Flags::default(),
//!     envelope: Envelope { mail_from: None, rcpt_to: None, remote_ip: None, is_dsn: true },
//!     raw: b"Subject: Undelivered Mail\r\nMessage-ID: <dsn1@example.org>\r\n\r\n...\r\n".to_vec(),
//! }).unwrap();
//! assert_eq!(changes.try_recv().unwrap(), Change::Delivered {
//!     account: "alice".into(), mailbox: "Inbox".into(), id: meta.id, is_dsn: true,
//! });
//!
//! let page = store.list("alice", INBOX, None, 50).unwrap();
//! assert_eq!(page.messages.len(), 1);
//! assert_eq!(page.messages[0].message_id, "dsn1@example.org");
//! store.add_flags("alice", meta.id, &Flags::parse(["\\Seen"]).unwrap()).unwrap();
//! store.move_message("alice", meta.id, SENT).unwrap();
//! assert!(matches!(
//!     store.message("alice", MessageId(meta.id.0 + 1)),
//!     Err(MailboxError::MessageNotFound { .. })
//! ));
//! ```

mod account;
mod auth;
mod error;
mod extract;
mod flags;
mod folder;
mod message;
mod sqlite;
mod store;

pub use account::{Account, AccountUpdate, NewAccount, normalize_address};
pub use auth::cache::MAX_CACHED_CHECKS;
pub use auth::clock::{Clock, ManualClock, SystemClock};
pub use auth::limiter::{AuthLimiter, LimiterConfig};
pub use error::{AuthError, MailboxError};
pub use flags::{Flags, MAX_KEYWORD, MAX_KEYWORDS, SystemFlags};
pub use folder::{INBOX, MAX_MAILBOX_NAME, Mailbox, MailboxRole, POSTMASTER, SENT};
pub use message::{Change, Cursor, Envelope, MAX_PAGE, MessageId, MessageMeta, NewMessage, Page};
pub use sqlite::{SqliteMailboxStore, StoreOptions};
pub use store::MailboxStore;
