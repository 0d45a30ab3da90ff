//! Schema migrations: each step runs once, in order, recorded in
//! `schema_version`.

use rusqlite::Connection;

use crate::store::StoreError;

/// Version 1: queue rows, bodies, history, hold rules, suppressions.
const V1: &str = "
CREATE TABLE bodies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    data BLOB NOT NULL
);
CREATE TABLE msgs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    base_id INTEGER NOT NULL,
    body_id INTEGER NOT NULL,
    queued INTEGER NOT NULL,
    hold INTEGER NOT NULL,
    account TEXT NOT NULL,
    sender TEXT NOT NULL,
    sender_domain TEXT NOT NULL,
    from_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    recipient_domain TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    dialed_ips TEXT NOT NULL,
    next_attempt INTEGER NOT NULL,
    last_attempt INTEGER,
    results TEXT NOT NULL,
    has_8bit INTEGER NOT NULL,
    smtputf8 INTEGER NOT NULL,
    size INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    transport TEXT NOT NULL,
    require_tls INTEGER,
    future_release TEXT NOT NULL,
    extra TEXT NOT NULL,
    notify TEXT NOT NULL,
    ret TEXT NOT NULL,
    envid TEXT NOT NULL,
    orcpt TEXT NOT NULL,
    lease_owner TEXT NOT NULL,
    lease_until INTEGER
);
CREATE INDEX msgs_due ON msgs (hold, next_attempt, id);
CREATE INDEX msgs_domain_due ON msgs (hold, recipient_domain, next_attempt);
CREATE INDEX msgs_base ON msgs (base_id) WHERE base_id != 0;
CREATE INDEX msgs_from_id ON msgs (from_id) WHERE from_id != '';
CREATE INDEX msgs_body ON msgs (body_id);
CREATE INDEX msgs_queued ON msgs (queued, id);
CREATE TABLE retired (
    id INTEGER PRIMARY KEY,
    base_id INTEGER NOT NULL,
    queued INTEGER NOT NULL,
    account TEXT NOT NULL,
    sender TEXT NOT NULL,
    sender_domain TEXT NOT NULL,
    from_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    recipient_domain TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    dialed_ips TEXT NOT NULL,
    last_attempt INTEGER,
    results TEXT NOT NULL,
    has_8bit INTEGER NOT NULL,
    smtputf8 INTEGER NOT NULL,
    size INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    transport TEXT NOT NULL,
    require_tls INTEGER,
    future_release TEXT NOT NULL,
    extra TEXT NOT NULL,
    notify TEXT NOT NULL,
    ret TEXT NOT NULL,
    envid TEXT NOT NULL,
    orcpt TEXT NOT NULL,
    event TEXT NOT NULL,
    success INTEGER NOT NULL,
    last_activity INTEGER NOT NULL,
    keep_until INTEGER NOT NULL
);
CREATE INDEX retired_from_id ON retired (from_id) WHERE from_id != '';
CREATE INDEX retired_keep ON retired (keep_until);
CREATE INDEX retired_activity ON retired (last_activity, id);
CREATE INDEX retired_queued ON retired (queued, id);
CREATE INDEX retired_recipient ON retired (recipient, last_activity);
CREATE TABLE hold_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    sender_domain TEXT NOT NULL,
    recipient_domain TEXT NOT NULL
);
CREATE TABLE suppressions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created INTEGER NOT NULL,
    account TEXT NOT NULL,
    base_address TEXT NOT NULL,
    original_address TEXT NOT NULL,
    manual INTEGER NOT NULL,
    reason TEXT NOT NULL,
    UNIQUE (account, base_address)
);
";

/// Version 2: what recipient domains were seen to support.
const V2: &str = "
CREATE TABLE domain_tls (
    domain TEXT PRIMARY KEY,
    starttls INTEGER NOT NULL,
    requiretls INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
";

/// Version 3: bounce matching looks history rows up by ENVID and Message-ID;
/// gathering the rows of one base id and domain gets an index of its own.
const V3: &str = "
DROP INDEX msgs_base;
CREATE INDEX msgs_base_domain ON msgs (base_id, recipient_domain, id);
CREATE INDEX retired_envid ON retired (account, envid);
CREATE INDEX retired_message_id ON retired (account, message_id);
";

/// Version 4: admin fails and drops are marked, so the suppression rule
/// can leave them out.
const V4: &str = "
ALTER TABLE retired ADD COLUMN by_admin INTEGER NOT NULL DEFAULT 0;
";

/// Version 5: web API idempotency keys. A key is recorded as running before
/// the request's work starts and completed with its result in the same
/// transaction as the queue rows, so a crash cannot send twice; `expires`
/// lets a key of a crashed request be used again.
const V5: &str = "
CREATE TABLE idempotency (
    account TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    state TEXT NOT NULL,
    result TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    PRIMARY KEY (account, key)
);
CREATE INDEX idempotency_expires ON idempotency (expires);
";

/// Version 6: webhooks. `hooks` holds pending events (one row per event and
/// endpoint, URL and Authorization frozen when queued); `hooks_retired` the
/// delivered, failed, superseded and canceled ones until `keep_until`.
/// `webhook_id` is the Standard Webhooks id, the same on every retry; a
/// replay gets a new one and names the original in `replay_of`.
/// `hook_sequences` numbers the events of one queue message.
const V6: &str = "
CREATE TABLE hooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    queue_msg_id INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    from_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    extra TEXT NOT NULL,
    url TEXT NOT NULL,
    authorization TEXT NOT NULL,
    is_incoming INTEGER NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    submitted INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt INTEGER NOT NULL,
    results TEXT NOT NULL,
    replay_of INTEGER NOT NULL
);
CREATE INDEX hooks_due ON hooks (next_attempt, id);
CREATE INDEX hooks_msg ON hooks (queue_msg_id, endpoint_id) WHERE queue_msg_id != 0;
CREATE TABLE hooks_retired (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    queue_msg_id INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    from_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    extra TEXT NOT NULL,
    url TEXT NOT NULL,
    authorization INTEGER NOT NULL,
    is_incoming INTEGER NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    submitted INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    results TEXT NOT NULL,
    replay_of INTEGER NOT NULL,
    superseded_by INTEGER NOT NULL,
    success INTEGER NOT NULL,
    last_activity INTEGER NOT NULL,
    keep_until INTEGER NOT NULL
);
CREATE INDEX hooks_retired_keep ON hooks_retired (keep_until);
CREATE INDEX hooks_retired_msg ON hooks_retired (queue_msg_id) WHERE queue_msg_id != 0;
CREATE INDEX hooks_retired_account ON hooks_retired (account, id);
CREATE TABLE hook_sequences (
    queue_msg_id INTEGER PRIMARY KEY,
    last INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE INDEX hook_sequences_updated ON hook_sequences (updated);
";

const MIGRATIONS: [&str; 6] = [V1, V2, V3, V4, V5, V6];

/// The version a fully migrated database has.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to `target` (at most [`SCHEMA_VERSION`]).
pub(crate) fn migrate(conn: &Connection, target: i64) -> Result<i64, StoreError> {
    let db = |during| move |source| StoreError::Database { during, source };
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(db("creating schema_version"))?;
    let current: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )
        .map_err(db("reading schema version"))?;
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version <= current || version > target {
            continue;
        }
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(db("beginning migration"))?;
        let step = conn.execute_batch(sql).and_then(|()| {
            conn.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [version],
            )
            .map(|_| ())
        });
        match step {
            Ok(()) => conn
                .execute_batch("COMMIT")
                .map_err(db("committing migration"))?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(db("migrating")(e));
            }
        }
        tracing::info!(target: "queue", version, "queue schema migrated");
    }
    Ok(current.max(target.min(SCHEMA_VERSION)))
}
