//! Mailboxes of an account.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::SqliteMailboxStore;
use super::accounts::id_by_name;
use crate::folder::check_mailbox_name;
use crate::{Mailbox, MailboxError, MailboxRole};

/// (row id, role) of the mailbox `name` of account row `account_id`.
pub(super) fn find(
    conn: &Connection,
    account_id: i64,
    account: &str,
    name: &str,
) -> Result<(i64, MailboxRole), MailboxError> {
    let found: Option<(i64, i64)> = conn
        .prepare_cached("SELECT id, role FROM mailboxes WHERE account_id = ?1 AND name = ?2")?
        .query_row(params![account_id, name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (id, role) = found.ok_or_else(|| MailboxError::MailboxNotFound {
        account: account.to_string(),
        mailbox: name.to_string(),
    })?;
    Ok((
        id,
        MailboxRole::from_code(role).unwrap_or(MailboxRole::None),
    ))
}

fn load(conn: &Connection, mailbox_id: i64) -> Result<Mailbox, MailboxError> {
    Ok(conn
        .prepare_cached(
            "SELECT b.name, b.role, count(m.id), coalesce(sum(m.size), 0)
         FROM mailboxes b LEFT JOIN messages m ON m.mailbox_id = b.id
         WHERE b.id = ?1 GROUP BY b.id",
        )?
        .query_row([mailbox_id], |r| {
            Ok(Mailbox {
                name: r.get(0)?,
                role: MailboxRole::from_code(r.get(1)?).unwrap_or(MailboxRole::None),
                messages: r.get::<_, i64>(2)?.try_into().unwrap_or(0),
                size: r.get::<_, i64>(3)?.try_into().unwrap_or(0),
            })
        })?)
}

impl SqliteMailboxStore {
    pub(super) fn mailboxes_inner(&self, account: &str) -> Result<Vec<Mailbox>, MailboxError> {
        let conn = self.read();
        let account_id = id_by_name(&conn, account)?;
        let ids = conn
            .prepare("SELECT id FROM mailboxes WHERE account_id = ?1 ORDER BY name")?
            .query_map([account_id], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        ids.into_iter().map(|id| load(&conn, id)).collect()
    }

    pub(super) fn mailbox_by_role_inner(
        &self,
        account: &str,
        role: MailboxRole,
    ) -> Result<Mailbox, MailboxError> {
        let conn = self.read();
        let account_id = id_by_name(&conn, account)?;
        let id: Option<i64> = conn
            .query_row(
                "SELECT id FROM mailboxes WHERE account_id = ?1 AND role = ?2 ORDER BY id LIMIT 1",
                params![account_id, role.code()],
                |r| r.get(0),
            )
            .optional()?;
        let id = id.ok_or_else(|| MailboxError::MailboxNotFound {
            account: account.to_string(),
            mailbox: format!("{role:?}"),
        })?;
        load(&conn, id)
    }

    pub(super) fn create_mailbox_inner(
        &self,
        account: &str,
        name: &str,
    ) -> Result<Mailbox, MailboxError> {
        check_mailbox_name(name)?;
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let account_id = id_by_name(&tx, account)?;
        if find(&tx, account_id, account, name).is_ok() {
            return Err(MailboxError::MailboxExists {
                account: account.to_string(),
                mailbox: name.to_string(),
            });
        }
        tx.execute(
            "INSERT INTO mailboxes (account_id, name, role) VALUES (?1, ?2, ?3)",
            params![account_id, name, MailboxRole::None.code()],
        )?;
        let mailbox = load(&tx, tx.last_insert_rowid())?;
        tx.commit()?;
        Ok(mailbox)
    }

    pub(super) fn rename_mailbox_inner(
        &self,
        account: &str,
        from: &str,
        to: &str,
    ) -> Result<(), MailboxError> {
        check_mailbox_name(to)?;
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let account_id = id_by_name(&tx, account)?;
        let (id, role) = find(&tx, account_id, account, from)?;
        if role == MailboxRole::Inbox {
            return Err(MailboxError::MailboxProtected {
                account: account.to_string(),
                mailbox: from.to_string(),
                action: "renamed",
            });
        }
        // A change of case only ("archive" → "Archive") finds itself.
        if let Ok((other, _)) = find(&tx, account_id, account, to)
            && other != id
        {
            return Err(MailboxError::MailboxExists {
                account: account.to_string(),
                mailbox: to.to_string(),
            });
        }
        tx.execute(
            "UPDATE mailboxes SET name = ?2 WHERE id = ?1",
            params![id, to],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub(super) fn delete_mailbox_inner(
        &self,
        account: &str,
        name: &str,
    ) -> Result<(), MailboxError> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let account_id = id_by_name(&tx, account)?;
        let (id, role) = find(&tx, account_id, account, name)?;
        if role != MailboxRole::None {
            return Err(MailboxError::MailboxProtected {
                account: account.to_string(),
                mailbox: name.to_string(),
                action: "deleted",
            });
        }
        let count: i64 = tx.query_row(
            "SELECT count(*) FROM messages WHERE mailbox_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        if count > 0 {
            return Err(MailboxError::MailboxNotEmpty {
                account: account.to_string(),
                mailbox: name.to_string(),
                count: count.try_into().unwrap_or(0),
            });
        }
        tx.execute("DELETE FROM mailboxes WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }
}
