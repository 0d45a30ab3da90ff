//! Accounts and their addresses.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::SqliteMailboxStore;
use crate::account::check_account_name;
use crate::{
    Account, AccountUpdate, INBOX, MailboxError, MailboxRole, NewAccount, POSTMASTER, SENT,
    normalize_address,
};

/// Loads an account by row id.
pub(super) fn load(conn: &Connection, id: i64) -> Result<Account, MailboxError> {
    let (name, display_name, quota, used, cram_md5, disabled, has_password) = conn.query_row(
        "SELECT name, display_name, quota, used, cram_md5, disabled,
                EXISTS (SELECT 1 FROM credentials c WHERE c.account_id = accounts.id)
         FROM accounts WHERE id = ?1",
        [id],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, bool>(5)?,
                r.get::<_, bool>(6)?,
            ))
        },
    )?;
    let mut stmt = conn
        .prepare_cached("SELECT address FROM addresses WHERE account_id = ?1 ORDER BY position")?;
    let addresses = stmt
        .query_map([id], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Account {
        name,
        addresses,
        display_name,
        quota: u64::try_from(quota).unwrap_or(0),
        used: u64::try_from(used).unwrap_or(0),
        cram_md5,
        disabled,
        has_password,
    })
}

/// The row id of the account named `name`.
pub(super) fn id_by_name(conn: &Connection, name: &str) -> Result<i64, MailboxError> {
    conn.prepare_cached("SELECT id FROM accounts WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| MailboxError::AccountNotFound {
            account: name.to_string(),
        })
}

/// The row id of the account owning `address`, trying the catchall base address too.
pub(super) fn id_by_address(
    conn: &Connection,
    address: &str,
    separator: Option<char>,
) -> Result<i64, MailboxError> {
    let not_found = || MailboxError::AccountNotFound {
        account: address.to_string(),
    };
    let normalized = normalize_address(address).map_err(|_| not_found())?;
    let mut stmt = conn.prepare_cached("SELECT account_id FROM addresses WHERE address = ?1")?;
    if let Some(id) = stmt.query_row([&normalized], |r| r.get(0)).optional()? {
        return Ok(id);
    }
    let base = separator.and_then(|sep| {
        let (local, domain) = normalized.rsplit_once('@')?;
        let (base, _) = local.split_once(sep)?;
        (!base.is_empty()).then(|| format!("{base}@{domain}"))
    });
    match base {
        Some(base) => stmt
            .query_row([&base], |r| r.get(0))
            .optional()?
            .ok_or_else(not_found),
        None => Err(not_found()),
    }
}

fn normalize_all(addresses: &[String]) -> Result<Vec<String>, MailboxError> {
    if addresses.is_empty() {
        return Err(MailboxError::Invalid {
            what: "address list",
            value: String::new(),
            reason: "an account needs at least one address",
        });
    }
    let mut out: Vec<String> = Vec::with_capacity(addresses.len());
    for a in addresses {
        let n = normalize_address(a)?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

fn insert_addresses(
    conn: &Connection,
    account_id: i64,
    addresses: &[String],
) -> Result<(), MailboxError> {
    let mut owner = conn.prepare_cached(
        "SELECT a.name FROM addresses d JOIN accounts a ON a.id = d.account_id WHERE d.address = ?1",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO addresses (address, account_id, position) VALUES (?1, ?2, ?3)",
    )?;
    for (pos, address) in addresses.iter().enumerate() {
        if let Some(holder) = owner
            .query_row([address], |r| r.get::<_, String>(0))
            .optional()?
        {
            return Err(MailboxError::AddressTaken {
                address: address.clone(),
                account: holder,
            });
        }
        insert.execute(params![address, account_id, pos as i64])?;
    }
    Ok(())
}

fn clamp_quota(quota: u64) -> i64 {
    i64::try_from(quota).unwrap_or(i64::MAX)
}

impl SqliteMailboxStore {
    pub(super) fn create_account_inner(&self, new: &NewAccount) -> Result<Account, MailboxError> {
        check_account_name(&new.name)?;
        let addresses = normalize_all(&new.addresses)?;
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM accounts WHERE name = ?1)",
            [&new.name],
            |r| r.get(0),
        )?;
        if exists {
            return Err(MailboxError::AccountExists {
                account: new.name.clone(),
            });
        }
        tx.execute(
            "INSERT INTO accounts (name, display_name, quota, cram_md5, disabled) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![new.name, new.display_name, clamp_quota(new.quota), new.cram_md5, new.disabled],
        )?;
        let id = tx.last_insert_rowid();
        insert_addresses(&tx, id, &addresses)?;
        for (name, role) in [
            (INBOX, MailboxRole::Inbox),
            (SENT, MailboxRole::Sent),
            (POSTMASTER, MailboxRole::Postmaster),
        ] {
            tx.execute(
                "INSERT INTO mailboxes (account_id, name, role) VALUES (?1, ?2, ?3)",
                params![id, name, role.code()],
            )?;
        }
        let account = load(&tx, id)?;
        tx.commit()?;
        tracing::info!(target: "mailbox", account = %new.name, "account created");
        Ok(account)
    }

    pub(super) fn account_inner(&self, name: &str) -> Result<Account, MailboxError> {
        let conn = self.read();
        let id = id_by_name(&conn, name)?;
        load(&conn, id)
    }

    pub(super) fn account_for_address_inner(&self, address: &str) -> Result<Account, MailboxError> {
        let conn = self.read();
        let id = id_by_address(&conn, address, self.options.catchall_separator)?;
        load(&conn, id)
    }

    pub(super) fn accounts_inner(&self) -> Result<Vec<Account>, MailboxError> {
        let conn = self.read();
        let ids = conn
            .prepare("SELECT id FROM accounts ORDER BY name")?
            .query_map([], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        ids.into_iter().map(|id| load(&conn, id)).collect()
    }

    pub(super) fn update_account_inner(
        &self,
        name: &str,
        update: &AccountUpdate,
    ) -> Result<Account, MailboxError> {
        let addresses = update.addresses.as_deref().map(normalize_all).transpose()?;
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = id_by_name(&tx, name)?;
        if let Some(display_name) = &update.display_name {
            tx.execute(
                "UPDATE accounts SET display_name = ?2 WHERE id = ?1",
                params![id, display_name],
            )?;
        }
        if let Some(quota) = update.quota {
            tx.execute(
                "UPDATE accounts SET quota = ?2 WHERE id = ?1",
                params![id, clamp_quota(quota)],
            )?;
        }
        if let Some(disabled) = update.disabled {
            tx.execute(
                "UPDATE accounts SET disabled = ?2 WHERE id = ?1",
                params![id, disabled],
            )?;
        }
        if let Some(cram_md5) = update.cram_md5 {
            tx.execute(
                "UPDATE accounts SET cram_md5 = ?2 WHERE id = ?1",
                params![id, cram_md5],
            )?;
            if !cram_md5 {
                tx.execute(
                    "UPDATE credentials SET cram_md5 = NULL WHERE account_id = ?1",
                    [id],
                )?;
            }
        }
        if let Some(addresses) = &addresses {
            tx.execute("DELETE FROM addresses WHERE account_id = ?1", [id])?;
            insert_addresses(&tx, id, addresses)?;
        }
        let account = load(&tx, id)?;
        tx.commit()?;
        Ok(account)
    }

    pub(super) fn delete_account_inner(&self, name: &str) -> Result<(), MailboxError> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = id_by_name(&tx, name)?;
        // Children first, so the order of cascades does not matter.
        tx.execute("DELETE FROM messages WHERE account_id = ?1", [id])?;
        tx.execute("DELETE FROM accounts WHERE id = ?1", [id])?;
        tx.commit()?;
        self.cache.forget_account(id);
        tracing::info!(target: "mailbox", account = %name, "account deleted");
        Ok(())
    }
}
