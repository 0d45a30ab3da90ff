//! The schema and its migrations. Each migration runs in its own
//! transaction together with the version bump, so a crash leaves the file at
//! one version or the next, never between.

use rusqlite::{Connection, Transaction, params};

use crate::MailboxError;
use crate::extract::extract;

/// The first schema.
pub(crate) const V1: &str = "
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    quota INTEGER NOT NULL DEFAULT 0,
    used INTEGER NOT NULL DEFAULT 0,
    cram_md5 INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE addresses (
    address TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    position INTEGER NOT NULL
);
CREATE INDEX addresses_account ON addresses(account_id, position);
CREATE TABLE credentials (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    sha1_salt BLOB NOT NULL,
    sha1_iterations INTEGER NOT NULL,
    sha1_stored_key BLOB NOT NULL,
    sha1_server_key BLOB NOT NULL,
    sha256_salt BLOB NOT NULL,
    sha256_iterations INTEGER NOT NULL,
    sha256_stored_key BLOB NOT NULL,
    sha256_server_key BLOB NOT NULL,
    cram_md5 BLOB
);
CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL COLLATE NOCASE,
    role INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, name)
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    received_ms INTEGER NOT NULL,
    flags INTEGER NOT NULL DEFAULT 0,
    keywords TEXT NOT NULL DEFAULT '',
    mail_from TEXT NOT NULL DEFAULT '',
    rcpt_to TEXT NOT NULL DEFAULT '',
    remote_ip TEXT,
    is_dsn INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT ''
);
CREATE INDEX messages_listing ON messages(mailbox_id, received_ms DESC, id DESC);
CREATE INDEX messages_account ON messages(account_id);
-- Bytes apart from the metadata, so listings never read them.
CREATE TABLE message_data (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    raw BLOB NOT NULL
);
";

/// Version 2: the From address for listings, filled in for stored messages.
const V2: &str = "ALTER TABLE messages ADD COLUMN msg_from TEXT NOT NULL DEFAULT '';";

/// Fills `msg_from` of messages stored before version 2.
fn backfill_msg_from(tx: &Transaction<'_>) -> Result<(), MailboxError> {
    let mut rows: Vec<(i64, String)> = Vec::new();
    {
        let mut stmt = tx.prepare("SELECT message_id, raw FROM message_data")?;
        let mut q = stmt.query([])?;
        while let Some(row) = q.next()? {
            let raw: Vec<u8> = row.get(1)?;
            rows.push((row.get(0)?, extract(&raw).msg_from));
        }
    }
    let mut update = tx.prepare("UPDATE messages SET msg_from = ?2 WHERE id = ?1")?;
    for (id, from) in rows {
        update.execute(params![id, from])?;
    }
    Ok(())
}

/// A migration step in Rust, for data SQL cannot transform.
type DataStep = fn(&Transaction<'_>) -> Result<(), MailboxError>;

struct Migration {
    version: i64,
    sql: &'static str,
    data: Option<DataStep>,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: V1,
        data: None,
    },
    Migration {
        version: 2,
        sql: V2,
        data: Some(backfill_msg_from),
    },
];

/// The version this code writes.
pub(crate) const CURRENT_VERSION: i64 = 2;

/// The schema version recorded in the file, 0 for a new file.
pub(crate) fn version(conn: &Connection) -> Result<i64, MailboxError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);")?;
    let v: Option<i64> =
        conn.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))?;
    Ok(v.unwrap_or(0))
}

/// Brings the file to [`CURRENT_VERSION`]; refuses a newer file.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), MailboxError> {
    let found = version(conn)?;
    if found > CURRENT_VERSION {
        return Err(MailboxError::SchemaTooNew {
            found,
            supported: CURRENT_VERSION,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        let now: Option<i64> =
            tx.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))?;
        if now.unwrap_or(0) >= m.version {
            continue;
        }
        tx.execute_batch(m.sql)?;
        if let Some(data) = m.data {
            data(&tx)?;
        }
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [m.version],
        )?;
        tx.commit()?;
        tracing::info!(target: "mailbox", version = m.version, "schema migrated");
    }
    Ok(())
}

/// Writes only the version-1 schema, as an old program would have: for the
/// migration test.
#[cfg(test)]
pub(crate) fn create_v1(conn: &mut Connection) -> Result<(), MailboxError> {
    version(conn)?;
    let tx = conn.transaction()?;
    tx.execute_batch(V1)?;
    tx.execute("INSERT INTO schema_version (version) VALUES (1)", [])?;
    tx.commit()?;
    Ok(())
}
