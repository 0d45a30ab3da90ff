//! Stored credentials and password checks.

use std::net::IpAddr;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sasl::{CramMd5Credentials, CredentialStore, ScramCredentials, ScramHash};

use super::SqliteMailboxStore;
use super::accounts::{id_by_address, id_by_name, load};
use crate::{Account, AuthError, MailboxError, normalize_address};

/// What a login address resolves to for credential lookups.
struct LoginRow {
    account_id: i64,
    disabled: bool,
    cram_md5_enabled: bool,
    /// Credential version, `None` without a password.
    version: Option<i64>,
}

fn login_row(
    conn: &Connection,
    login: &str,
    separator: Option<char>,
) -> Result<LoginRow, MailboxError> {
    let account_id = id_by_address(conn, login, separator)?;
    Ok(conn
        .prepare_cached(
            "SELECT a.disabled, a.cram_md5, c.version FROM accounts a
         LEFT JOIN credentials c ON c.account_id = a.id WHERE a.id = ?1",
        )?
        .query_row([account_id], |r| {
            Ok(LoginRow {
                account_id,
                disabled: r.get(0)?,
                cram_md5_enabled: r.get(1)?,
                version: r.get(2)?,
            })
        })?)
}

fn scram_row(
    conn: &Connection,
    account_id: i64,
    hash: ScramHash,
) -> Result<Option<ScramCredentials>, MailboxError> {
    let sql = match hash {
        ScramHash::Sha1 => {
            "SELECT sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key FROM credentials WHERE account_id = ?1"
        }
        ScramHash::Sha256 => {
            "SELECT sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key FROM credentials WHERE account_id = ?1"
        }
    };
    Ok(conn
        .prepare_cached(sql)?
        .query_row([account_id], |r| {
            Ok(ScramCredentials {
                salt: r.get(0)?,
                iterations: r.get(1)?,
                stored_key: r.get(2)?,
                server_key: r.get(3)?,
            })
        })
        .optional()?)
}

impl SqliteMailboxStore {
    pub(super) fn set_password_inner(
        &self,
        account: &str,
        password: &str,
    ) -> Result<(), MailboxError> {
        let (id, cram_enabled) = {
            let conn = self.read();
            let id = id_by_name(&conn, account)?;
            let cram: bool =
                conn.query_row("SELECT cram_md5 FROM accounts WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
            (id, cram)
        };
        // PBKDF2 twice: done before taking the writer lock.
        let refused = |e: sasl::SaslError| MailboxError::Password {
            account: account.to_string(),
            reason: e.to_string(),
        };
        let iterations = self.options.scram_iterations;
        let sha1 =
            ScramCredentials::generate(password, iterations, ScramHash::Sha1).map_err(refused)?;
        let sha256 =
            ScramCredentials::generate(password, iterations, ScramHash::Sha256).map_err(refused)?;
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read again under the lock: CRAM-MD5 may have been switched meanwhile.
        let cram_now: Option<bool> = tx
            .query_row("SELECT cram_md5 FROM accounts WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(cram_now) = cram_now else {
            return Err(MailboxError::AccountNotFound {
                account: account.to_string(),
            });
        };
        let cram = (cram_now && cram_enabled)
            .then(|| CramMd5Credentials::derive(password).to_bytes().to_vec());
        tx.execute(
            "INSERT INTO credentials (account_id, version,
                 sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key,
                 sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key, cram_md5)
             VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (account_id) DO UPDATE SET version = version + 1,
                 sha1_salt = ?2, sha1_iterations = ?3, sha1_stored_key = ?4, sha1_server_key = ?5,
                 sha256_salt = ?6, sha256_iterations = ?7, sha256_stored_key = ?8, sha256_server_key = ?9,
                 cram_md5 = ?10",
            params![
                id,
                sha1.salt,
                sha1.iterations,
                sha1.stored_key,
                sha1.server_key,
                sha256.salt,
                sha256.iterations,
                sha256.stored_key,
                sha256.server_key,
                cram,
            ],
        )?;
        tx.commit()?;
        drop(conn);
        self.cache.forget_account(id);
        tracing::info!(target: "mailbox", account = %account, cram_md5 = cram_now && cram_enabled, "password set");
        Ok(())
    }

    pub(super) fn check_password_inner(
        &self,
        login: &str,
        password: &str,
    ) -> Result<Account, AuthError> {
        let bad = || AuthError::BadCredentials {
            login: login.to_string(),
        };
        let key = normalize_address(login).map_err(|_| bad())?;
        let (row, creds) = {
            let conn = self.read();
            let row = match login_row(&conn, login, self.options.catchall_separator) {
                Ok(row) => row,
                Err(MailboxError::AccountNotFound { .. }) => {
                    drop(conn);
                    self.waste_time(password);
                    return Err(bad());
                }
                Err(e) => return Err(e.into()),
            };
            let Some(version) = row.version else {
                drop(conn);
                self.waste_time(password);
                return Err(bad());
            };
            let cached = self
                .cache
                .get(&key, password)
                .is_some_and(|hit| hit == (row.account_id, version));
            let creds = if cached {
                None
            } else {
                Some(scram_row(&conn, row.account_id, ScramHash::Sha256)?.ok_or_else(bad)?)
            };
            (row, creds)
        };
        let version = row.version.unwrap_or_default();
        match creds {
            None => tracing::trace!(target: "mailbox", login = %key, "password check cached"),
            Some(creds) => {
                if !creds.verify_password(password, ScramHash::Sha256) {
                    tracing::debug!(target: "mailbox", login = %key, "bad password");
                    return Err(bad());
                }
                self.cache.insert(&key, password, row.account_id, version);
            }
        }
        let account = load(&self.read(), row.account_id)?;
        if row.disabled {
            return Err(AuthError::Disabled {
                account: account.name,
            });
        }
        Ok(account)
    }

    /// One PBKDF2 run against keys of no account, so that an unknown login
    /// costs as much time as a wrong password and does not reveal itself.
    fn waste_time(&self, password: &str) {
        let dummy = self.dummy.get_or_init(|| {
            ScramCredentials::derive(
                "no account has this password",
                b"postel-dummy-salt",
                self.options.scram_iterations,
                ScramHash::Sha256,
            )
            .ok()
        });
        if let Some(dummy) = dummy {
            let _ = dummy.verify_password(password, ScramHash::Sha256);
        }
    }

    pub(super) fn authenticate_inner(
        &self,
        ip: IpAddr,
        login: &str,
        password: &str,
    ) -> Result<Account, AuthError> {
        if let Err(retry_after) = self.limiter.check(ip) {
            tracing::info!(target: "mailbox", %ip, ?retry_after, "login refused: too many failures");
            return Err(AuthError::RateLimited { ip, retry_after });
        }
        let result = self.check_password_inner(login, password);
        if matches!(result, Err(AuthError::BadCredentials { .. })) {
            self.limiter.record_failure(ip);
        }
        result
    }

    fn lookup_login(&self, username: &str) -> Option<LoginRow> {
        let conn = self.read();
        match login_row(&conn, username, self.options.catchall_separator) {
            Ok(row) if !row.disabled && row.version.is_some() => Some(row),
            Ok(_) | Err(MailboxError::AccountNotFound { .. }) => None,
            Err(e) => {
                tracing::warn!(target: "mailbox", error = %e, "credential lookup failed");
                None
            }
        }
    }
}

/// The SMTP server's SASL exchanges look up keys here. A disabled account or
/// one without a password has no credentials; a database error is logged
/// and treated as unknown (the exchange fails, nothing is revealed).
impl CredentialStore for SqliteMailboxStore {
    fn scram(&self, username: &str, hash: ScramHash) -> Option<ScramCredentials> {
        let row = self.lookup_login(username)?;
        match scram_row(&self.read(), row.account_id, hash) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: "mailbox", error = %e, "credential lookup failed");
                None
            }
        }
    }

    fn cram_md5(&self, username: &str) -> Option<CramMd5Credentials> {
        let row = self.lookup_login(username)?;
        if !row.cram_md5_enabled {
            return None;
        }
        let stored: Option<Vec<u8>> = self
            .read()
            .query_row(
                "SELECT cram_md5 FROM credentials WHERE account_id = ?1",
                [row.account_id],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten()
            .flatten();
        let bytes: [u8; 32] = stored?.try_into().ok()?;
        Some(CramMd5Credentials::from_bytes(bytes))
    }

    fn check_password(&self, username: &str, password: &str) -> bool {
        self.check_password_inner(username, password).is_ok()
    }
}
