//! Delivering, listing, reading, flagging, moving and deleting messages.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use smtp::Address;

use super::SqliteMailboxStore;
use super::accounts::id_by_name;
use super::folders::find;
use crate::extract::{Extracted, extract};
use crate::flags::{add_keyword, keywords_from_column, keywords_to_column};
use crate::{
    Change, Cursor, Envelope, Flags, MAX_PAGE, MailboxError, MessageId, MessageMeta, NewMessage,
    Page, SystemFlags,
};

/// Unix milliseconds; times before 1970 are negative.
pub(crate) fn to_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(d).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
    }
}

const META_COLUMNS: &str = "m.id, a.name, b.name, m.received_ms, m.flags, m.keywords,
    m.mail_from, m.rcpt_to, m.remote_ip, m.is_dsn, m.size, m.message_id, m.subject, m.msg_from
    FROM messages m JOIN accounts a ON a.id = m.account_id JOIN mailboxes b ON b.id = m.mailbox_id";

fn corrupt(what: &'static str, id: i64, reason: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::new(MailboxError::Corrupt {
            what,
            key: format!("message {id}"),
            reason,
        }),
    )
}

fn meta_from_row(r: &Row<'_>) -> rusqlite::Result<MessageMeta> {
    let id: i64 = r.get(0)?;
    let flag_bits: i64 = r.get(4)?;
    let keywords: String = r.get(5)?;
    let mail_from: String = r.get(6)?;
    let rcpt_to: String = r.get(7)?;
    let remote_ip: Option<String> = r.get(8)?;
    let parse_addr = |what, s: &str| -> rusqlite::Result<Option<Address>> {
        if s.is_empty() {
            return Ok(None);
        }
        Address::parse(s)
            .map(Some)
            .map_err(|e| corrupt(what, id, e.to_string()))
    };
    Ok(MessageMeta {
        id: MessageId(id),
        account: r.get(1)?,
        mailbox: r.get(2)?,
        received: from_millis(r.get(3)?),
        flags: Flags {
            system: SystemFlags::from_bits(u8::try_from(flag_bits & 0xff).unwrap_or(0)),
            keywords: keywords_from_column(&keywords),
        },
        envelope: Envelope {
            mail_from: parse_addr("MAIL FROM", &mail_from)?,
            rcpt_to: parse_addr("RCPT TO", &rcpt_to)?,
            remote_ip: remote_ip
                .map(|s| {
                    s.parse::<IpAddr>()
                        .map_err(|e| corrupt("remote IP", id, e.to_string()))
                })
                .transpose()?,
            is_dsn: r.get(9)?,
        },
        size: r.get::<_, i64>(10)?.try_into().unwrap_or(0),
        message_id: r.get(11)?,
        subject: r.get(12)?,
        msg_from: r.get(13)?,
    })
}

/// Unwraps the store error a row decoder wrapped.
fn unwrap_err(e: rusqlite::Error) -> MailboxError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(col, ty, inner) => {
            match inner.downcast::<MailboxError>() {
                Ok(m) => *m,
                Err(other) => MailboxError::Database(rusqlite::Error::FromSqlConversionFailure(
                    col, ty, other,
                )),
            }
        }
        e => MailboxError::Database(e),
    }
}

fn load_meta(
    conn: &Connection,
    account_id: i64,
    account: &str,
    id: MessageId,
) -> Result<MessageMeta, MailboxError> {
    conn.prepare_cached(&format!(
        "SELECT {META_COLUMNS} WHERE m.id = ?1 AND m.account_id = ?2"
    ))?
    .query_row(params![id.0, account_id], meta_from_row)
    .optional()
    .map_err(unwrap_err)?
    .ok_or_else(|| not_found(account, id))
}

fn not_found(account: &str, id: MessageId) -> MailboxError {
    MailboxError::MessageNotFound {
        account: account.to_string(),
        id: id.0,
    }
}

/// (flags, keywords) of a message of the account.
fn load_flags(
    conn: &Connection,
    account_id: i64,
    account: &str,
    id: MessageId,
) -> Result<Flags, MailboxError> {
    let (bits, keywords): (i64, String) = conn
        .prepare_cached("SELECT flags, keywords FROM messages WHERE id = ?1 AND account_id = ?2")?
        .query_row(params![id.0, account_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| not_found(account, id))?;
    Ok(Flags {
        system: SystemFlags::from_bits(u8::try_from(bits & 0xff).unwrap_or(0)),
        keywords: keywords_from_column(&keywords),
    })
}

impl SqliteMailboxStore {
    pub(super) fn deliver_inner(&self, msg: &NewMessage) -> Result<MessageMeta, MailboxError> {
        let extracted = extract(&msg.raw);
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let meta = insert(&tx, msg, extracted)?;
        tx.commit()?;
        drop(conn);
        self.delivered(&meta);
        Ok(meta)
    }

    pub(super) fn deliver_many_inner(
        &self,
        messages: &[NewMessage],
    ) -> Result<Vec<Result<MessageMeta, MailboxError>>, MailboxError> {
        // Parse outside the lock.
        let extracted: Vec<_> = messages.iter().map(|m| extract(&m.raw)).collect();
        let mut conn = self.write();
        let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(messages.len());
        for (msg, extracted) in messages.iter().zip(extracted) {
            // A savepoint per message: a refused one leaves no trace, the
            // others still commit together.
            let sp = tx.savepoint()?;
            match insert(&sp, msg, extracted) {
                Ok(meta) => {
                    sp.commit()?;
                    results.push(Ok(meta));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        tx.commit()?;
        drop(conn);
        for meta in results.iter().flatten() {
            self.delivered(meta);
        }
        Ok(results)
    }

    fn delivered(&self, meta: &MessageMeta) {
        tracing::debug!(target: "mailbox", account = %meta.account, mailbox = %meta.mailbox, id = meta.id.0, size = meta.size, dsn = meta.envelope.is_dsn, "message delivered");
        self.notify(Change::Delivered {
            account: meta.account.clone(),
            mailbox: meta.mailbox.clone(),
            id: meta.id,
            is_dsn: meta.envelope.is_dsn,
        });
    }
}

/// Inserts one message inside an open transaction, checking its keywords and the quota.
fn insert(
    tx: &Connection,
    msg: &NewMessage,
    extracted: Extracted,
) -> Result<MessageMeta, MailboxError> {
    msg.flags.validate()?;
    let size = msg.raw.len() as u64;
    let mut keywords = Vec::new();
    for k in &msg.flags.keywords {
        add_keyword(&mut keywords, k);
    }
    let account_id = id_by_name(tx, &msg.account)?;
    let (mailbox_id, _) = find(tx, account_id, &msg.account, &msg.mailbox)?;
    let (quota, used): (i64, i64) = tx.query_row(
        "SELECT quota, used FROM accounts WHERE id = ?1",
        [account_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (quota, used) = (quota.max(0) as u64, used.max(0) as u64);
    if quota > 0 && used.saturating_add(size) > quota {
        return Err(MailboxError::QuotaExceeded {
            account: msg.account.clone(),
            quota,
            used,
            size,
        });
    }
    let size_db = i64::try_from(size).unwrap_or(i64::MAX);
    let env = &msg.envelope;
    tx.prepare_cached(
        "INSERT INTO messages (account_id, mailbox_id, received_ms, flags, keywords, mail_from,
                 rcpt_to, remote_ip, is_dsn, size, message_id, subject, msg_from)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        account_id,
        mailbox_id,
        to_millis(msg.received),
        msg.flags.system.bits(),
        keywords_to_column(&keywords),
        env.mail_from
            .as_ref()
            .map(Address::to_utf8_wire)
            .unwrap_or_default(),
        env.rcpt_to
            .as_ref()
            .map(Address::to_utf8_wire)
            .unwrap_or_default(),
        env.remote_ip.map(|ip| ip.to_string()),
        env.is_dsn,
        size_db,
        extracted.message_id,
        extracted.subject,
        extracted.msg_from,
    ])?;
    let id = MessageId(tx.last_insert_rowid());
    tx.prepare_cached("INSERT INTO message_data (message_id, raw) VALUES (?1, ?2)")?
        .execute(params![id.0, msg.raw])?;
    tx.execute(
        "UPDATE accounts SET used = used + ?2 WHERE id = ?1",
        params![account_id, size_db],
    )?;
    load_meta(tx, account_id, &msg.account, id)
}

impl SqliteMailboxStore {
    pub(super) fn list_inner(
        &self,
        account: &str,
        mailbox: &str,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, MailboxError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let conn = self.read();
        let account_id = id_by_name(&conn, account)?;
        let (mailbox_id, _) = find(&conn, account_id, account, mailbox)?;
        let (ms, id) = after.map_or((i64::MAX, i64::MAX), |c| (c.received_ms, c.id));
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {META_COLUMNS} WHERE m.mailbox_id = ?1
               AND (m.received_ms < ?2 OR (m.received_ms = ?2 AND m.id < ?3))
             ORDER BY m.received_ms DESC, m.id DESC LIMIT ?4"
        ))?;
        let mut messages = stmt
            .query_map(
                params![mailbox_id, ms, id, (limit + 1) as i64],
                meta_from_row,
            )
            .map_err(unwrap_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unwrap_err)?;
        let next = if messages.len() > limit {
            messages.truncate(limit);
            messages.last().map(|m| Cursor {
                received_ms: to_millis(m.received),
                id: m.id.0,
            })
        } else {
            None
        };
        Ok(Page { messages, next })
    }

    pub(super) fn message_inner(
        &self,
        account: &str,
        id: MessageId,
    ) -> Result<MessageMeta, MailboxError> {
        let conn = self.read();
        let account_id = id_by_name(&conn, account)?;
        load_meta(&conn, account_id, account, id)
    }

    pub(super) fn raw_inner(&self, account: &str, id: MessageId) -> Result<Vec<u8>, MailboxError> {
        let conn = self.read();
        let account_id = id_by_name(&conn, account)?;
        conn.prepare_cached(
            "SELECT d.raw FROM message_data d JOIN messages m ON m.id = d.message_id
             WHERE m.id = ?1 AND m.account_id = ?2",
        )?
        .query_row(params![id.0, account_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| not_found(account, id))
    }

    pub(super) fn delete_message_inner(
        &self,
        account: &str,
        id: MessageId,
    ) -> Result<(), MailboxError> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let account_id = id_by_name(&tx, account)?;
        let size: i64 = tx
            .query_row(
                "SELECT size FROM messages WHERE id = ?1 AND account_id = ?2",
                params![id.0, account_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| not_found(account, id))?;
        tx.execute("DELETE FROM messages WHERE id = ?1", [id.0])?;
        tx.execute(
            "UPDATE accounts SET used = max(used - ?2, 0) WHERE id = ?1",
            params![account_id, size],
        )?;
        tx.commit()?;
        drop(conn);
        self.notify(Change::Deleted {
            account: account.to_string(),
            id,
        });
        Ok(())
    }

    /// Applies `change` to the message's flags; writes and notifies only if
    /// something changed.
    fn change_flags(
        &self,
        account: &str,
        id: MessageId,
        change: impl FnOnce(&mut Flags),
    ) -> Result<Flags, MailboxError> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let account_id = id_by_name(&tx, account)?;
        let before = load_flags(&tx, account_id, account, id)?;
        let mut after = before.clone();
        change(&mut after);
        if after == before {
            return Ok(after);
        }
        after.validate()?;
        tx.execute(
            "UPDATE messages SET flags = ?2, keywords = ?3 WHERE id = ?1",
            params![
                id.0,
                after.system.bits(),
                keywords_to_column(&after.keywords)
            ],
        )?;
        tx.commit()?;
        drop(conn);
        self.notify(Change::FlagsChanged {
            account: account.to_string(),
            id,
        });
        Ok(after)
    }

    pub(super) fn add_flags_inner(
        &self,
        account: &str,
        id: MessageId,
        flags: &Flags,
    ) -> Result<Flags, MailboxError> {
        flags.validate()?;
        self.change_flags(account, id, |f| {
            f.system = f.system.union(flags.system);
            for k in &flags.keywords {
                add_keyword(&mut f.keywords, k);
            }
        })
    }

    pub(super) fn remove_flags_inner(
        &self,
        account: &str,
        id: MessageId,
        flags: &Flags,
    ) -> Result<Flags, MailboxError> {
        self.change_flags(account, id, |f| {
            f.system = f.system.difference(flags.system);
            f.keywords
                .retain(|k| !flags.keywords.iter().any(|r| r.eq_ignore_ascii_case(k)));
        })
    }

    pub(super) fn move_message_inner(
        &self,
        account: &str,
        id: MessageId,
        mailbox: &str,
    ) -> Result<MessageMeta, MailboxError> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let account_id = id_by_name(&tx, account)?;
        let current = load_meta(&tx, account_id, account, id)?;
        let (dest, _) = find(&tx, account_id, account, mailbox)?;
        let current_mailbox = find(&tx, account_id, account, &current.mailbox)?.0;
        if dest == current_mailbox {
            return Ok(current);
        }
        tx.execute(
            "UPDATE messages SET mailbox_id = ?2 WHERE id = ?1",
            params![id.0, dest],
        )?;
        let meta = load_meta(&tx, account_id, account, id)?;
        tx.commit()?;
        drop(conn);
        self.notify(Change::Moved {
            account: account.to_string(),
            id,
            mailbox: meta.mailbox.clone(),
        });
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip_including_before_epoch() {
        for ms in [0i64, 1, 1_700_000_000_123, -1, -86_400_000] {
            assert_eq!(to_millis(from_millis(ms)), ms);
        }
    }
}
