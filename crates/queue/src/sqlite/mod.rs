//! The embedded store: SQLite in WAL mode with `synchronous=FULL`, bodies
//! as BLOBs in the same group-committed transaction as their rows.
//!
//! Why BLOBs (benches/queue_bench.rs; the machine is shared, so only
//! figures of one run compare). Enqueueing 1 KiB single-recipient messages
//! with the body in a file of its own (create, write, fsync the file and
//! its directory) plus the row in the database, against the body as a BLOB
//! in the row's group-committed transaction, back to back in one run:
//! 1 submitter 1,499 vs 3,644 msgs/s, 8 submitters 4,398 vs 13,516, 64
//! submitters 6,189 vs 26,182. The file costs a file and a directory sync
//! per message that no batching removes; the BLOB shares the one WAL sync
//! of its batch. Counted with strace: 1.03 sync calls per message with 1
//! submitter, 0.15 with 8 and 0.02 with 64 (the extras are WAL
//! checkpoints); no file is opened O_SYNC/O_DSYNC.

mod bounce;
pub(crate) mod hooks;
mod idempotency;
mod ops;
mod rows;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

pub use bounce::{
    BounceMatch, BounceQuery, BounceRecipientKey, DsnApplied, DsnEvent, RESULT_INCOMING,
    dsn_reply_code,
};
pub use idempotency::{Begun, IDEMPOTENCY_KEEP, IdempotencyDone, ResultFn};
pub use schema::SCHEMA_VERSION;
pub use writer::WriterStats;

use crate::backoff::Jitter;
use crate::clock::{Clock, SystemClock};
use crate::model::*;
use crate::store::{FailedMessage, Retention, Store, StoreError};
use crate::time::{dur_ms, from_ms, to_ms};
use crate::webhook::{
    ClaimedHook, HookClaim, HookDone, HookRecord, HookResult, OutgoingEventData, WebhookSettings,
};
use rows::{Where, db, limit, msg_cols, read_msg, read_retired, retired_cols};

/// How a store is set up.
#[derive(Clone)]
pub struct Options {
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// The backoff jitter source (milliseconds, default ±5 s random).
    pub jitter: Jitter,
    /// History retention per account.
    pub retention: Retention,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(SystemClock),
            jitter: Arc::new(crate::backoff::random_jitter),
            retention: Retention::default(),
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// What the writer thread's jobs need besides the connection.
pub(crate) struct Shared {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) jitter: Jitter,
    pub(crate) retention: Retention,
    /// The webhook endpoints, swapped whole by `set_webhooks`.
    pub(crate) webhooks: std::sync::RwLock<Arc<WebhookSettings>>,
    /// Woken when hooks are queued, so a poster need not poll.
    pub(crate) hook_waker: Arc<tokio::sync::Notify>,
}

/// The SQLite queue store.
///
/// ```
/// use queue::{SqliteStore, Options, Store, Submission};
/// use smtp::Address;
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::open(dir.path().join("queue.db"), Options::default()).unwrap();
/// let sub = Submission::new(
///     "alice",
///     Some(Address::parse("alice@example.org").unwrap()),
///     vec![Address::parse("bob@example.com").unwrap()],
///     b"Subject: hi\r\n\r\nhello\r\n".to_vec(),
/// );
/// let ids = store.enqueue(sub).unwrap();
/// let row = store.get(ids[0]).unwrap().unwrap();
/// assert_eq!(row.recipient, "bob@example.com");
/// assert_eq!(row.dsn.notify.to_string(), "FAILURE,DELAY");
/// ```
pub struct SqliteStore {
    path: PathBuf,
    writer: writer::Writer,
    readers: Mutex<Vec<Connection>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn open_conn(path: &Path) -> Result<Connection, StoreError> {
    let err = |e: rusqlite::Error| StoreError::Open {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .map_err(err)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the store at `path`.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<SqliteStore, StoreError> {
        Self::open_at(path.as_ref(), options, SCHEMA_VERSION)
    }

    /// Opens the store migrating only up to `version`: for testing
    /// migrations from older schemas.
    #[doc(hidden)]
    pub fn open_at_version(
        path: impl AsRef<Path>,
        options: Options,
        version: i64,
    ) -> Result<SqliteStore, StoreError> {
        Self::open_at(path.as_ref(), options, version)
    }

    fn open_at(path: &Path, options: Options, version: i64) -> Result<SqliteStore, StoreError> {
        let conn = open_conn(path)?;
        schema::migrate(&conn, version)?;
        let writer = writer::Writer::start(conn).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            reason: format!("starting writer thread: {e}"),
        })?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer,
            readers: Mutex::new(Vec::new()),
            shared: Arc::new(Shared {
                clock: options.clock,
                jitter: options.jitter,
                retention: options.retention,
                webhooks: std::sync::RwLock::new(Arc::new(WebhookSettings::default())),
                hook_waker: Arc::new(tokio::sync::Notify::new()),
            }),
        })
    }

    /// The journal mode and synchronous level of the writer connection, as
    /// SQLite reports them ("wal", 2 = FULL).
    pub fn durability(&self) -> Result<(String, i64), StoreError> {
        self.writer.write(|c| {
            let mode: String = c
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .map_err(db("reading journal mode"))?;
            let sync: i64 = c
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .map_err(db("reading synchronous"))?;
            Ok((mode, sync))
        })
    }

    /// Replaces the webhook endpoints and retention; hooks already queued
    /// keep their URL and Authorization.
    pub fn set_webhooks(&self, settings: WebhookSettings) {
        *self
            .shared
            .webhooks
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
        self.shared.hook_waker.notify_one();
    }

    /// Counts of the group-commit writer.
    pub fn writer_stats(&self) -> WriterStats {
        self.writer.stats()
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
            .map_err(db("reading schema version"))
        })
    }

    fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Shared) -> Result<T, StoreError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        self.writer.write(move |conn| f(conn, &shared))
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_conn(&self.path)?,
        };
        let out = f(&conn);
        self.readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
        out
    }

    fn write_relaxed<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Shared) -> Result<T, StoreError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        self.writer.write_relaxed(move |conn| f(conn, &shared))
    }

    fn now(&self) -> SystemTime {
        self.shared.clock.now()
    }
}

fn collect<T>(
    conn: &Connection,
    sql: &str,
    values: Vec<Value>,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    during: &'static str,
) -> Result<Vec<T>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut st| {
            st.query_map(rusqlite::params_from_iter(values), map)?
                .collect()
        })
        .map_err(db(during))
}

impl Store for SqliteStore {
    fn enqueue(&self, submission: Submission) -> Result<Vec<i64>, StoreError> {
        self.write(move |c, s| ops::enqueue(c, s, submission))
    }

    fn claim(&self, req: ClaimRequest) -> Result<Vec<Batch>, StoreError> {
        self.write_relaxed(move |c, s| ops::claim(c, s, &req))
    }

    fn claim_and_begin(&self, req: ClaimRequest) -> Result<Vec<Batch>, StoreError> {
        self.write(move |c, s| ops::claim_and_begin(c, s, &req))
    }

    fn claim_and_begin_many(&self, reqs: Vec<ClaimRequest>) -> Result<Vec<Vec<Batch>>, StoreError> {
        self.write(move |c, s| reqs.iter().map(|r| ops::claim_and_begin(c, s, r)).collect())
    }

    fn renew(&self, node: &str, ids: &[i64], lease: Duration) -> Result<Vec<i64>, StoreError> {
        let (node, ids) = (node.to_string(), ids.to_vec());
        self.write_relaxed(move |c, s| ops::renew(c, s, &node, &ids, dur_ms(lease)))
    }

    fn release(&self, node: &str, ids: &[i64]) -> Result<(), StoreError> {
        let (node, ids) = (node.to_string(), ids.to_vec());
        self.write_relaxed(move |c, _| ops::release(c, &node, &ids))
    }

    fn release_all(&self, node: &str) -> Result<u64, StoreError> {
        let node = node.to_string();
        self.write_relaxed(move |c, _| {
            c.execute(
                "UPDATE msgs SET lease_owner = '', lease_until = NULL WHERE lease_owner = ?1",
                [node],
            )
            .map(|n| n as u64)
            .map_err(db("releasing leases"))
        })
    }

    fn begin_attempt(&self, node: &str, ids: &[i64]) -> Result<Vec<QueuedMessage>, StoreError> {
        let (node, ids) = (node.to_string(), ids.to_vec());
        self.write(move |c, s| ops::begin_attempt(c, s, &node, &ids))
    }

    fn complete(&self, completions: Vec<Completion>) -> Result<Vec<Completed>, StoreError> {
        self.write(move |c, s| ops::complete(c, s, completions))
    }

    fn body(&self, body_id: i64) -> Result<Vec<u8>, StoreError> {
        self.read(|c| ops::body(c, body_id))
    }

    fn get(&self, id: i64) -> Result<Option<QueuedMessage>, StoreError> {
        self.read(|c| ops::get_msg(c, id))
    }

    fn next_due(&self) -> Result<Option<SystemTime>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT MIN(next_attempt) FROM msgs WHERE hold = 0",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|v| v.map(from_ms))
            .map_err(db("reading next due time"))
        })
    }

    fn next_due_per_domain(&self) -> Result<Vec<(String, SystemTime)>, StoreError> {
        // One index probe per domain (a loose index scan), so the cost is
        // O(domains · log n) rather than a scan of every row.
        self.read(|c| {
            let mut out = Vec::new();
            let mut st = c
                .prepare_cached(
                    "SELECT recipient_domain, next_attempt FROM msgs WHERE hold = 0 AND recipient_domain > ?1 \
                     ORDER BY recipient_domain, next_attempt LIMIT 1",
                )
                .map_err(db("reading due times per domain"))?;
            let mut last = String::new();
            loop {
                let next = st
                    .query_row([&last], |r| Ok((r.get::<_, String>(0)?, from_ms(r.get(1)?))))
                    .optional()
                    .map_err(db("reading due times per domain"))?;
                let Some((domain, at)) = next else { break };
                last.clone_from(&domain);
                out.push((domain, at));
            }
            Ok(out)
        })
    }

    fn due(
        &self,
        until: SystemTime,
        after: Option<(SystemTime, i64)>,
        max: usize,
    ) -> Result<Vec<DueEntry>, StoreError> {
        let (t, id) = after.map_or((i64::MIN, i64::MIN), |(t, id)| (to_ms(t), id));
        self.read(|c| {
            collect(
                c,
                &format!(
                    "SELECT id, base_id, recipient_domain, next_attempt FROM msgs WHERE hold = 0 AND next_attempt <= ?1 \
                     AND (next_attempt > ?2 OR (next_attempt = ?2 AND id > ?3)) ORDER BY next_attempt, id{}",
                    limit(max)
                ),
                vec![Value::Integer(to_ms(until)), Value::Integer(t), Value::Integer(id)],
                |r| {
                    Ok(DueEntry {
                        id: r.get(0)?,
                        base_id: r.get(1)?,
                        domain: r.get(2)?,
                        next_attempt: from_ms(r.get(3)?),
                    })
                },
                "reading due rows",
            )
        })
    }

    fn list(&self, filter: &Filter, sort: &Sort) -> Result<Vec<QueuedMessage>, StoreError> {
        let mut w = Where::queue(filter);
        let column = match sort.field {
            SortField::NextAttempt => "next_attempt",
            SortField::Queued => "queued",
        };
        let order = w.keyset(column, sort.asc, sort.after);
        let sql = format!(
            "SELECT {} FROM msgs WHERE {} {order}{}",
            msg_cols(),
            w.sql(),
            limit(filter.max)
        );
        self.read(|c| collect(c, &sql, w.values, read_msg, "listing queue"))
    }

    fn count(&self, filter: &Filter) -> Result<u64, StoreError> {
        let w = Where::queue(filter);
        let sql = format!("SELECT COUNT(*) FROM msgs WHERE {}", w.sql());
        self.read(|c| {
            c.query_row(&sql, rusqlite::params_from_iter(w.values), |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(db("counting queue"))
        })
    }

    fn counts(&self) -> Result<QueueCounts, StoreError> {
        let now = to_ms(self.now());
        self.read(|c| {
            c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(hold), 0), COALESCE(SUM(hold = 0 AND next_attempt <= ?1), 0) FROM msgs",
                [now],
                |r| {
                    Ok(QueueCounts {
                        total: r.get::<_, i64>(0)? as u64,
                        held: r.get::<_, i64>(1)? as u64,
                        due: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .map_err(db("counting queue"))
        })
    }

    fn hold_set(&self, filter: &Filter, hold: bool) -> Result<u64, StoreError> {
        let filter = filter.clone();
        self.write(move |c, _| {
            ops::update_filtered(c, &filter, "hold = ?1", Value::Integer(i64::from(hold)))
        })
    }

    fn next_attempt_set(&self, filter: &Filter, at: SystemTime) -> Result<u64, StoreError> {
        let filter = filter.clone();
        self.write(move |c, _| {
            ops::update_filtered(c, &filter, "next_attempt = ?1", Value::Integer(to_ms(at)))
        })
    }

    fn next_attempt_add(&self, filter: &Filter, delta_ms: i64) -> Result<u64, StoreError> {
        let filter = filter.clone();
        self.write(move |c, _| {
            ops::update_filtered(
                c,
                &filter,
                "next_attempt = next_attempt + ?1",
                Value::Integer(delta_ms),
            )
        })
    }

    fn transport_set(&self, filter: &Filter, transport: &str) -> Result<u64, StoreError> {
        let (filter, transport) = (filter.clone(), transport.to_string());
        self.write(move |c, _| {
            ops::update_filtered(c, &filter, "transport = ?1", Value::Text(transport))
        })
    }

    fn require_tls_set(
        &self,
        filter: &Filter,
        require_tls: Option<bool>,
    ) -> Result<u64, StoreError> {
        let filter = filter.clone();
        let value = require_tls.map_or(Value::Null, |b| Value::Integer(i64::from(b)));
        self.write(move |c, _| ops::update_filtered(c, &filter, "require_tls = ?1", value))
    }

    fn fail(&self, filter: &Filter) -> Result<Vec<FailedMessage>, StoreError> {
        let filter = filter.clone();
        self.write(move |c, s| ops::fail(c, s, &filter))
    }

    fn fail_with_dsns(
        &self,
        filter: &Filter,
        dsn: crate::store::DsnWriter,
    ) -> Result<Vec<FailedMessage>, StoreError> {
        let filter = filter.clone();
        self.write(move |c, s| ops::fail_with_dsns(c, s, &filter, &dsn))
    }

    fn drop_messages(&self, filter: &Filter) -> Result<u64, StoreError> {
        let filter = filter.clone();
        self.write(move |c, s| ops::drop_messages(c, s, &filter))
    }

    fn history(
        &self,
        filter: &HistoryFilter,
        sort: &HistorySort,
    ) -> Result<Vec<RetiredMessage>, StoreError> {
        let mut w = Where::history(filter);
        let column = match sort.field {
            HistorySortField::LastActivity => "last_activity",
            HistorySortField::Queued => "queued",
        };
        let order = w.keyset(column, sort.asc, sort.after);
        let sql = format!(
            "SELECT {} FROM retired WHERE {} {order}{}",
            retired_cols(),
            w.sql(),
            limit(filter.max)
        );
        self.read(|c| collect(c, &sql, w.values, read_retired, "listing history"))
    }

    fn history_by_from_id(&self, from_id: &str) -> Result<Option<RetiredMessage>, StoreError> {
        if from_id.is_empty() {
            return Ok(None);
        }
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM retired WHERE from_id = ?1 AND from_id != ''",
                retired_cols()
            ))
            .and_then(|mut st| st.query_row([from_id], read_retired).optional())
            .map_err(db("looking up fromid"))
        })
    }

    fn cleanup_history(&self) -> Result<u64, StoreError> {
        self.write(|c, s| {
            c.execute(
                "DELETE FROM retired WHERE keep_until < ?1",
                [to_ms(s.clock.now())],
            )
            .map(|n| n as u64)
            .map_err(db("cleaning history"))
        })
    }

    fn match_bounce(
        &self,
        account: &str,
        query: &BounceQuery,
    ) -> Result<Vec<BounceMatch>, StoreError> {
        self.read(|c| bounce::match_bounce(c, &self.shared, account, query))
    }

    fn apply_dsn_event(
        &self,
        account: &str,
        retired_id: i64,
        event: DsnEvent,
    ) -> Result<DsnApplied, StoreError> {
        let account = account.to_string();
        self.write(move |c, s| bounce::apply_dsn_event(c, s, &account, retired_id, event))
    }

    fn record_unrecognized(
        &self,
        account: &str,
        retired_id: i64,
        is_dsn: bool,
        msg_id: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let account = account.to_string();
        self.write(move |c, s| {
            bounce::record_unrecognized(c, s, &account, retired_id, is_dsn, msg_id)
        })
    }

    fn webhooks(&self) -> Arc<WebhookSettings> {
        hooks::settings(&self.shared)
    }

    fn set_webhooks(&self, settings: WebhookSettings) {
        SqliteStore::set_webhooks(self, settings);
    }

    fn hook_waker(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.shared.hook_waker)
    }

    fn queue_outgoing_event(
        &self,
        account: &str,
        retired_id: i64,
        data: OutgoingEventData,
    ) -> Result<Vec<i64>, StoreError> {
        let account = account.to_string();
        self.write(move |c, s| hooks::queue_outgoing_for_retired(c, s, &account, retired_id, &data))
    }

    fn queue_incoming_hook(
        &self,
        account: &str,
        payload: &webapi::webhook::Incoming,
    ) -> Result<Vec<i64>, StoreError> {
        let (account, payload) = (account.to_string(), payload.clone());
        self.write(move |c, s| hooks::queue_incoming(c, s, &account, &payload))
    }

    fn hooks_claim(&self, req: HookClaim) -> Result<Vec<ClaimedHook>, StoreError> {
        self.write(move |c, s| hooks::claim(c, s, &req))
    }

    fn hook_complete(&self, id: i64, result: HookResult) -> Result<HookDone, StoreError> {
        self.write(move |c, s| hooks::complete(c, s, id, result))
    }

    fn hooks_complete(
        &self,
        done: Vec<(i64, HookResult)>,
    ) -> Result<Vec<Result<HookDone, StoreError>>, StoreError> {
        self.write_relaxed(move |c, s| hooks::complete_many(c, s, done))
    }

    fn hooks_next_due(&self) -> Result<Option<SystemTime>, StoreError> {
        self.read(hooks::next_due)
    }

    fn hooks_list(
        &self,
        account: &str,
        retired: bool,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<HookRecord>, StoreError> {
        self.read(|c| hooks::list(c, account, retired, after_id, limit))
    }

    fn hook_get(&self, id: i64) -> Result<Option<HookRecord>, StoreError> {
        self.read(|c| hooks::get(c, id))
    }

    fn hooks_for_message(&self, queue_msg_id: i64) -> Result<Vec<HookRecord>, StoreError> {
        self.read(|c| hooks::for_message(c, queue_msg_id))
    }

    fn hook_retry(&self, account: &str, id: i64) -> Result<(), StoreError> {
        let account = account.to_string();
        self.write(move |c, s| hooks::retry(c, s, &account, id))
    }

    fn hook_replay(&self, account: &str, id: i64) -> Result<i64, StoreError> {
        let account = account.to_string();
        self.write(move |c, s| hooks::replay(c, s, &account, id))
    }

    fn hook_cancel(&self, account: &str, id: i64) -> Result<(), StoreError> {
        let account = account.to_string();
        self.write(move |c, s| hooks::cancel(c, s, &account, id))
    }

    fn cleanup_hooks(&self) -> Result<u64, StoreError> {
        self.write(hooks::cleanup)
    }

    fn idempotency_begin(
        &self,
        account: &str,
        key: &str,
        fingerprint: &[u8; 32],
        running_for: Duration,
    ) -> Result<Begun, StoreError> {
        let (account, key, fingerprint) = (account.to_string(), key.to_string(), *fingerprint);
        self.write(move |c, s| idempotency::begin(c, s, &account, &key, &fingerprint, running_for))
    }

    fn enqueue_many(
        &self,
        submissions: Vec<Submission>,
        done: Option<IdempotencyDone>,
    ) -> Result<Vec<Vec<i64>>, StoreError> {
        self.write(move |c, s| idempotency::enqueue_many(c, s, submissions, done))
    }

    fn idempotency_abort(&self, account: &str, key: &str) -> Result<(), StoreError> {
        let (account, key) = (account.to_string(), key.to_string());
        self.write(move |c, _| idempotency::abort(c, &account, &key))
    }

    fn cleanup_idempotency(&self) -> Result<u64, StoreError> {
        self.write(idempotency::cleanup)
    }

    fn hold_rules(&self) -> Result<Vec<HoldRule>, StoreError> {
        self.read(ops::load_rules)
    }

    fn hold_rule_add(&self, rule: HoldRule) -> Result<i64, StoreError> {
        self.write(move |c, _| ops::hold_rule_add(c, rule))
    }

    fn hold_rule_remove(&self, id: i64) -> Result<(), StoreError> {
        self.write(move |c, _| {
            let n = c
                .execute("DELETE FROM hold_rules WHERE id = ?1", [id])
                .map_err(db("removing hold rule"))?;
            if n == 0 {
                return Err(StoreError::NotFound {
                    what: format!("hold rule {id}"),
                });
            }
            Ok(())
        })
    }

    fn suppression_add(
        &self,
        account: &str,
        address: &str,
        reason: &str,
    ) -> Result<Suppression, StoreError> {
        let (account, address, reason) =
            (account.to_string(), address.to_string(), reason.to_string());
        self.write(move |c, s| ops::suppression_insert(c, s, &account, &address, true, &reason))
    }

    fn suppression_remove(&self, account: &str, address: &str) -> Result<(), StoreError> {
        let (account, address) = (account.to_string(), address.to_string());
        self.write(move |c, _| {
            let base = crate::base_address(&address);
            let n = c
                .execute(
                    "DELETE FROM suppressions WHERE account = ?1 AND base_address = ?2",
                    params![account, base],
                )
                .map_err(db("removing suppression"))?;
            if n == 0 {
                return Err(StoreError::NotFound {
                    what: format!("suppression of {base:?} for {account:?}"),
                });
            }
            Ok(())
        })
    }

    fn suppression_lookup(
        &self,
        account: &str,
        address: &str,
    ) -> Result<Option<Suppression>, StoreError> {
        self.read(|c| ops::suppression_lookup(c, account, address))
    }

    fn suppressions(&self, account: &str) -> Result<Vec<Suppression>, StoreError> {
        self.read(|c| {
            collect(
                c,
                &format!(
                    "SELECT {} FROM suppressions WHERE ?1 = '' OR account = ?1 ORDER BY id",
                    ops::SUPPRESSION_COLS
                ),
                vec![Value::Text(account.into())],
                ops::read_suppression,
                "listing suppressions",
            )
        })
    }

    fn suppress_after_failure(
        &self,
        account: &str,
        address: &str,
        code: u16,
        enhanced: Option<smtp::EnhancedCode>,
        source: FailureSource,
    ) -> Result<bool, StoreError> {
        let (account, address) = (account.to_string(), address.to_string());
        self.write(move |c, s| {
            ops::suppress_after_failure(c, s, &account, &address, code, enhanced, source)
        })
    }

    fn domain_tls_record(
        &self,
        domain: &str,
        starttls: bool,
        requiretls: bool,
    ) -> Result<(), StoreError> {
        let domain = domain.to_lowercase();
        self.write(move |c, s| {
            c.execute(
                "INSERT INTO domain_tls (domain, starttls, requiretls, updated) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (domain) DO UPDATE SET starttls = ?2, requiretls = ?3, updated = ?4",
                params![domain, starttls, requiretls, to_ms(s.clock.now())],
            )
            .map(|_| ())
            .map_err(db("recording domain TLS"))
        })
    }

    fn domain_tls(&self, domain: &str) -> Result<Option<DomainTls>, StoreError> {
        let domain = domain.to_lowercase();
        self.read(|c| {
            c.query_row(
                "SELECT domain, starttls, requiretls, updated FROM domain_tls WHERE domain = ?1",
                [domain],
                |r| {
                    Ok(DomainTls {
                        domain: r.get(0)?,
                        starttls: r.get(1)?,
                        requiretls: r.get(2)?,
                        updated: from_ms(r.get(3)?),
                    })
                },
            )
            .optional()
            .map_err(db("reading domain TLS"))
        })
    }
}
