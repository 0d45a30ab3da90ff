//! The data directory: the queue and mailbox databases.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use mailbox::{SqliteMailboxStore, StoreOptions};
use queue::{Options, Retention, SqliteStore};

use crate::limits::Tracker;

/// File name of the queue database in the data directory.
pub const QUEUE_DB: &str = "queue.db";
/// File name of the mailbox database in the data directory.
pub const MAILBOX_DB: &str = "mailbox.db";

/// Both stores of a data directory.
#[derive(Clone)]
pub struct Stores {
    /// The directory.
    pub dir: PathBuf,
    /// The queue.
    pub queue: Arc<SqliteStore>,
    /// Accounts, credentials and mailboxes.
    pub mailbox: Arc<SqliteMailboxStore>,
    /// The per-account daily limits, one per process: the web API and
    /// SMTP submission count against the same totals. Each account's
    /// counts load from the queue and its history at first use, so a
    /// restart does not reset them.
    pub limits: Arc<Tracker>,
}

impl Stores {
    /// Opens (creating) the stores in `dir`. SQLite in WAL mode lets admin
    /// commands open them while a server runs.
    pub fn open(
        dir: &Path,
        separator: Option<char>,
        retention: Retention,
    ) -> anyhow::Result<Stores> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
        let queue = SqliteStore::open(
            dir.join(QUEUE_DB),
            Options {
                retention,
                ..Options::default()
            },
        )
        .with_context(|| format!("opening queue in {}", dir.display()))?;
        let mailbox = SqliteMailboxStore::open(
            dir.join(MAILBOX_DB),
            StoreOptions {
                catchall_separator: separator,
                ..StoreOptions::default()
            },
        )
        .with_context(|| format!("opening mailbox store in {}", dir.display()))?;
        Ok(Stores {
            dir: dir.to_path_buf(),
            queue: Arc::new(queue),
            mailbox: Arc::new(mailbox),
            limits: Arc::new(Tracker::default()),
        })
    }
}
