//! Idempotency keys of the web API: a key is claimed ("running") in its own
//! durable commit before the request does any work, and completed with the
//! request's result in the same transaction as the queue rows it created,
//! so a crash either leaves no rows (the retry runs again once the running
//! record expires) or leaves the rows together with the result that a
//! retry gets back. Nothing is ever sent twice.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::Shared;
use super::rows::db;
use crate::model::Submission;
use crate::store::StoreError;
use crate::time::{dur_ms, to_ms};

/// How long a completed key is kept (and a repeat answered from it).
pub const IDEMPOTENCY_KEEP: Duration = Duration::from_secs(24 * 3600);

/// What [`crate::Store::idempotency_begin`] found for a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begun {
    /// The key was free (or its record had expired): it is now recorded as
    /// running for this request, which must end with
    /// [`crate::Store::enqueue_many`] or [`crate::Store::idempotency_abort`].
    Started,
    /// The same request was completed before: its result (JSON), to be
    /// returned again without doing anything.
    Done(String),
    /// The same request is still running (or crashed less than its running
    /// period ago).
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// Builds the stored result from the ids of the rows just inserted (one
/// list per submission), inside the enqueue transaction.
pub type ResultFn = Box<dyn FnOnce(&[Vec<i64>]) -> Result<String, String> + Send>;

/// The completion of a running key, committed with the queue rows.
pub struct IdempotencyDone {
    /// The account the key belongs to.
    pub account: String,
    /// The key.
    pub key: String,
    /// The fingerprint the key was begun with.
    pub fingerprint: [u8; 32],
    /// The result to store, made from the new row ids.
    pub result: ResultFn,
}

impl std::fmt::Debug for IdempotencyDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyDone")
            .field("account", &self.account)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

pub(crate) fn begin(
    conn: &Connection,
    shared: &Shared,
    account: &str,
    key: &str,
    fingerprint: &[u8; 32],
    running_for: Duration,
) -> Result<Begun, StoreError> {
    let now = to_ms(shared.clock.now());
    let found: Option<(Vec<u8>, String, String, i64)> = conn
        .prepare_cached(
            "SELECT fingerprint, state, result, expires FROM idempotency WHERE account = ?1 AND key = ?2",
        )
        .and_then(|mut st| {
            st.query_row(params![account, key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()
        })
        .map_err(db("reading idempotency key"))?;
    if let Some((stored, state, result, expires)) = found
        && expires > now
    {
        if stored.as_slice() != fingerprint.as_slice() {
            return Ok(Begun::Mismatch);
        }
        return Ok(if state == "done" {
            Begun::Done(result)
        } else {
            Begun::InProgress
        });
    }
    conn.prepare_cached(
        "INSERT INTO idempotency (account, key, fingerprint, state, result, created, expires) \
         VALUES (?1, ?2, ?3, 'running', '', ?4, ?5) \
         ON CONFLICT (account, key) DO UPDATE SET fingerprint = ?3, state = 'running', result = '', \
         created = ?4, expires = ?5",
    )
    .and_then(|mut st| {
        st.execute(params![
            account,
            key,
            fingerprint.as_slice(),
            now,
            now.saturating_add(dur_ms(running_for))
        ])
    })
    .map_err(db("recording idempotency key"))?;
    Ok(Begun::Started)
}

pub(crate) fn abort(conn: &Connection, account: &str, key: &str) -> Result<(), StoreError> {
    // Only a running record: a completed one is the answer to repeats.
    conn.prepare_cached(
        "DELETE FROM idempotency WHERE account = ?1 AND key = ?2 AND state = 'running'",
    )
    .and_then(|mut st| st.execute(params![account, key]))
    .map_err(db("releasing idempotency key"))?;
    Ok(())
}

fn complete(
    conn: &Connection,
    shared: &Shared,
    done: IdempotencyDone,
    ids: &[Vec<i64>],
) -> Result<(), StoreError> {
    let IdempotencyDone {
        account,
        key,
        fingerprint,
        result,
    } = done;
    let json = result(ids).map_err(|reason| {
        StoreError::Commit(format!(
            "encoding the result for idempotency key {key:?}: {reason}"
        ))
    })?;
    let now = to_ms(shared.clock.now());
    let expires = now.saturating_add(dur_ms(IDEMPOTENCY_KEEP));
    let state: Option<(Vec<u8>, String)> = conn
        .prepare_cached(
            "SELECT fingerprint, state FROM idempotency WHERE account = ?1 AND key = ?2",
        )
        .and_then(|mut st| {
            st.query_row(params![account, key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db("reading idempotency key"))?;
    match state {
        Some((stored, state))
            if stored.as_slice() == fingerprint.as_slice() && state == "running" => {}
        // The running record expired and was cleaned up meanwhile: nobody
        // else holds the key, so it is ours to complete.
        None => {}
        Some(_) => {
            // Another request took the key after ours expired; completing
            // would hide its result, so this request fails and queues nothing.
            return Err(StoreError::IdempotencyTaken { key });
        }
    }
    conn.prepare_cached(
        "INSERT INTO idempotency (account, key, fingerprint, state, result, created, expires) \
         VALUES (?1, ?2, ?3, 'done', ?4, ?5, ?6) \
         ON CONFLICT (account, key) DO UPDATE SET state = 'done', result = ?4, expires = ?6",
    )
    .and_then(|mut st| {
        st.execute(params![
            account,
            key,
            fingerprint.as_slice(),
            json,
            now,
            expires
        ])
    })
    .map_err(db("completing idempotency key"))?;
    Ok(())
}

/// All submissions and the key's completion in one transaction (one
/// savepoint of the group commit: any error rolls all of it back).
pub(crate) fn enqueue_many(
    conn: &Connection,
    shared: &Shared,
    submissions: Vec<Submission>,
    done: Option<IdempotencyDone>,
) -> Result<Vec<Vec<i64>>, StoreError> {
    let mut ids = Vec::with_capacity(submissions.len());
    for sub in submissions {
        ids.push(super::ops::enqueue(conn, shared, sub)?);
    }
    if let Some(done) = done {
        complete(conn, shared, done, &ids)?;
    }
    Ok(ids)
}

/// Deletes expired keys, running or done; returns how many.
pub(crate) fn cleanup(conn: &Connection, shared: &Shared) -> Result<u64, StoreError> {
    conn.prepare_cached("DELETE FROM idempotency WHERE expires <= ?1")
        .and_then(|mut st| st.execute([to_ms(shared.clock.now())]))
        .map(|n| n as u64)
        .map_err(db("cleaning idempotency keys"))
}
