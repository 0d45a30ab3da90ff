//! The hook queue: producing hooks inside the transactions that retire rows
//! or record events, handing them to posters, retiring them, admin
//! operations and cleanup.

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use rusqlite::types::Value;
use rusqlite::{Connection, params};
use webapi::webhook::{Incoming, Outgoing, OutgoingEvent};

use super::Shared;
use super::rows::db;
use crate::model::{AttemptResult, QueuedMessage};
use crate::store::StoreError;
use crate::time::{from_ms, to_ms};
use crate::webhook::{
    ClaimedHook, EventKind, HookClaim, HookDone, HookRecord, HookResult, INCOMING_EVENT,
    MAX_HOOK_ATTEMPTS, OutgoingEventData, WebhookSettings, hook_backoff,
};

/// The result text of an admin cancel.
pub(crate) const CANCELED: &str = "canceled by admin";

/// How many due rows one claim looks at, at most.
const CLAIM_SCAN: usize = 1000;

/// Sequence counters idle this long, for messages no longer in the queue
/// nor the history, are deleted.
const SEQUENCE_KEEP_MS: i64 = 90 * 24 * 3600 * 1000;

const SELECT_PENDING: &str = "SELECT id, account, endpoint_id, webhook_id, queue_msg_id, sequence, event, url, \
    authorization, submitted, attempts, next_attempt, results, replay_of, payload, 0, NULL, NULL FROM hooks";
const SELECT_RETIRED: &str = "SELECT id, account, endpoint_id, webhook_id, queue_msg_id, sequence, event, url, \
    authorization, submitted, attempts, NULL, results, replay_of, payload, superseded_by, success, last_activity \
    FROM hooks_retired";

pub(crate) fn settings(shared: &Shared) -> Arc<WebhookSettings> {
    shared
        .webhooks
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

fn read_hook(r: &rusqlite::Row<'_>) -> rusqlite::Result<HookRecord> {
    let authorization = match r.get::<_, Value>(8)? {
        Value::Text(t) => !t.is_empty(),
        Value::Integer(i) => i != 0,
        _ => false,
    };
    let results_text: String = r.get(12)?;
    let results: Vec<HookResult> = serde_json::from_str(&results_text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            12,
            rusqlite::types::Type::Text,
            format!("json: {e}").into(),
        )
    })?;
    Ok(HookRecord {
        id: r.get(0)?,
        account: r.get(1)?,
        endpoint_id: r.get(2)?,
        webhook_id: r.get(3)?,
        queue_msg_id: r.get(4)?,
        sequence: r.get::<_, i64>(5)?.max(0) as u64,
        event: r.get(6)?,
        url: r.get(7)?,
        authorization,
        submitted: from_ms(r.get(9)?),
        attempts: r.get(10)?,
        next_attempt: r.get::<_, Option<i64>>(11)?.map(from_ms),
        results,
        replay_of: r.get(13)?,
        payload: r.get(14)?,
        superseded_by: r.get(15)?,
        success: r.get::<_, Option<bool>>(16)?,
        last_activity: r.get::<_, Option<i64>>(17)?.map(from_ms),
    })
}

fn query(
    conn: &Connection,
    sql: &str,
    values: Vec<Value>,
    during: &'static str,
) -> Result<Vec<HookRecord>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut st| {
            st.query_map(rusqlite::params_from_iter(values), read_hook)?
                .collect()
        })
        .map_err(db(during))
}

fn pending(conn: &Connection, id: i64) -> Result<Option<HookRecord>, StoreError> {
    Ok(query(
        conn,
        &format!("{SELECT_PENDING} WHERE id = ?1"),
        vec![Value::Integer(id)],
        "reading hook",
    )?
    .pop())
}

fn retired(conn: &Connection, id: i64) -> Result<Option<HookRecord>, StoreError> {
    Ok(query(
        conn,
        &format!("{SELECT_RETIRED} WHERE id = ?1"),
        vec![Value::Integer(id)],
        "reading retired hook",
    )?
    .pop())
}

fn to_json<T: serde::Serialize>(id: i64, field: &'static str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt {
        id,
        field,
        reason: e.to_string(),
    })
}

fn new_webhook_id() -> Result<String, StoreError> {
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Commit(format!("random source: {e}")))?;
    Ok(format!(
        "msg_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    ))
}

fn next_sequence(conn: &Connection, queue_msg_id: i64, now: i64) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO hook_sequences (queue_msg_id, last, updated) VALUES (?1, 1, ?2) \
         ON CONFLICT (queue_msg_id) DO UPDATE SET last = last + 1, updated = ?2 RETURNING last",
    )
    .and_then(|mut st| st.query_row(params![queue_msg_id, now], |r| r.get::<_, i64>(0)))
    .map(|n| n.max(0) as u64)
    .map_err(db("numbering hook"))
}

/// The fields of a new pending row.
struct NewHook<'a> {
    account: &'a str,
    endpoint_id: &'a str,
    webhook_id: String,
    queue_msg_id: i64,
    sequence: u64,
    from_id: &'a str,
    message_id: &'a str,
    subject: &'a str,
    extra: &'a str,
    url: &'a str,
    authorization: &'a str,
    event: &'a str,
    payload: &'a str,
    now: i64,
    replay_of: i64,
}

fn insert(conn: &Connection, h: &NewHook<'_>) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO hooks (account, endpoint_id, webhook_id, queue_msg_id, sequence, from_id, message_id, \
         subject, extra, url, authorization, is_incoming, event, payload, submitted, attempts, next_attempt, \
         results, replay_of) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 0, ?15, '[]', ?16)",
    )
    .and_then(|mut st| {
        st.execute(params![
            h.account,
            h.endpoint_id,
            h.webhook_id,
            h.queue_msg_id,
            h.sequence as i64,
            h.from_id,
            h.message_id,
            h.subject,
            h.extra,
            h.url,
            h.authorization,
            h.event == INCOMING_EVENT,
            h.event,
            h.payload,
            h.now,
            h.replay_of,
        ])
    })
    .map_err(db("queueing hook"))?;
    Ok(conn.last_insert_rowid())
}

/// Moves a pending hook to the history (or deletes it when the account
/// keeps none), with `results` as its final results.
fn retire(
    conn: &Connection,
    shared: &Shared,
    hook: &HookRecord,
    results: &[HookResult],
    success: bool,
    superseded_by: i64,
) -> Result<(), StoreError> {
    let now = shared.clock.now();
    let keep = settings(shared).retention.for_account(&hook.account);
    if !keep.is_zero() {
        let results = to_json(hook.id, "hook results", &results)?;
        conn.prepare_cached(
            "INSERT INTO hooks_retired (id, account, endpoint_id, webhook_id, queue_msg_id, sequence, from_id, \
             message_id, subject, extra, url, authorization, is_incoming, event, payload, submitted, attempts, \
             results, replay_of, superseded_by, success, last_activity, keep_until) \
             SELECT id, account, endpoint_id, webhook_id, queue_msg_id, sequence, from_id, message_id, subject, \
             extra, url, authorization != '', is_incoming, event, payload, submitted, attempts, ?2, replay_of, ?3, \
             ?4, ?5, ?6 FROM hooks WHERE id = ?1",
        )
        .and_then(|mut st| {
            st.execute(params![
                hook.id,
                results,
                superseded_by,
                success,
                to_ms(now),
                to_ms(now + keep)
            ])
        })
        .map_err(db("retiring hook"))?;
    }
    conn.prepare_cached("DELETE FROM hooks WHERE id = ?1")
        .and_then(|mut st| st.execute([hook.id]))
        .map_err(db("deleting hook"))?;
    tracing::debug!(target: "queue", hook = hook.id, success, superseded_by, "hook retired");
    Ok(())
}

/// The event the store reports for an attempt's result.
pub(crate) fn event_data(
    event: OutgoingEvent,
    result: &AttemptResult,
    permanent: bool,
    suppressing: bool,
    dsn_msg_id: i64,
) -> OutgoingEventData {
    let (bounce_reason, hard_bounce) = match event {
        OutgoingEvent::Failed | OutgoingEvent::Delayed => {
            let reason = if event == OutgoingEvent::Failed && !permanent {
                // Retries ran out.
                "expired".to_string()
            } else if result.failure_class.is_empty() {
                "other".to_string()
            } else {
                result.failure_class.clone()
            };
            (reason, permanent && result.code >= 500)
        }
        _ => (String::new(), false),
    };
    let delivered = event == OutgoingEvent::Delivered;
    OutgoingEventData {
        event,
        dsn: false,
        suppressing,
        // The reference reports no code for a delivery.
        smtp_code: if delivered { 0 } else { result.code },
        smtp_enhanced_code: if delivered {
            String::new()
        } else {
            result.enhanced_code.clone()
        },
        error: result.error.clone(),
        bounce_reason,
        hard_bounce,
        dsn_msg_id,
    }
}

/// Queues one hook per endpoint of the message's account that wants the
/// event, superseding older pending hooks of each endpoint for the message.
/// Runs inside the caller's transaction. Returns the new hook ids.
pub(crate) fn queue_outgoing_event(
    conn: &Connection,
    shared: &Shared,
    m: &QueuedMessage,
    data: &OutgoingEventData,
) -> Result<Vec<i64>, StoreError> {
    let settings = settings(shared);
    let endpoints: Vec<_> = settings
        .matching(&m.account, EventKind::Outgoing(data.event))
        .collect();
    if endpoints.is_empty() {
        return Ok(Vec::new());
    }
    let now = shared.clock.now();
    let sequence = next_sequence(conn, m.id, to_ms(now))?;
    let payload = Outgoing {
        version: 0,
        event: data.event,
        dsn: data.dsn,
        suppressing: data.suppressing,
        queue_msg_id: m.id,
        from_id: m.from_id.clone(),
        message_id: m.message_id.clone(),
        subject: m.subject.clone(),
        webhook_queued: now,
        smtp_code: data.smtp_code,
        smtp_enhanced_code: data.smtp_enhanced_code.clone(),
        error: data.error.clone(),
        extra: m.extra.clone(),
        bounce_reason: data.bounce_reason.clone(),
        hard_bounce: data.hard_bounce,
        sequence,
        dsn_msg_id: data.dsn_msg_id,
    };
    let payload = to_json(m.id, "hook payload", &payload)?;
    let extra = to_json(m.id, "extra", &m.extra)?;
    let mut ids = Vec::with_capacity(endpoints.len());
    for ep in endpoints {
        let id = insert(
            conn,
            &NewHook {
                account: &m.account,
                endpoint_id: &ep.id,
                webhook_id: new_webhook_id()?,
                queue_msg_id: m.id,
                sequence,
                from_id: &m.from_id,
                message_id: &m.message_id,
                subject: &m.subject,
                extra: &extra,
                url: &ep.url,
                authorization: ep.authorization.as_deref().unwrap_or(""),
                event: data.event.as_str(),
                payload: &payload,
                now: to_ms(now),
                replay_of: 0,
            },
        )?;
        supersede(conn, shared, &m.account, &ep.id, m.id, id)?;
        ids.push(id);
    }
    shared.hook_waker.notify_one();
    Ok(ids)
}

/// Retires the other pending hooks of an endpoint for a queue message.
fn supersede(
    conn: &Connection,
    shared: &Shared,
    account: &str,
    endpoint_id: &str,
    queue_msg_id: i64,
    by: i64,
) -> Result<(), StoreError> {
    let older = query(
        conn,
        &format!(
            "{SELECT_PENDING} WHERE queue_msg_id = ?1 AND queue_msg_id != 0 AND endpoint_id = ?2 AND account = ?3 AND id != ?4"
        ),
        vec![
            Value::Integer(queue_msg_id),
            Value::Text(endpoint_id.into()),
            Value::Text(account.into()),
            Value::Integer(by),
        ],
        "finding superseded hooks",
    )?;
    for hook in older {
        retire(conn, shared, &hook, &hook.results, false, by)?;
    }
    Ok(())
}

/// [`queue_outgoing_event`] for a history row of `account` (an incoming
/// DSN's event).
pub(crate) fn queue_outgoing_for_retired(
    conn: &Connection,
    shared: &Shared,
    account: &str,
    retired_id: i64,
    data: &OutgoingEventData,
) -> Result<Vec<i64>, StoreError> {
    let row = super::ops::get_retired(conn, retired_id)?
        .filter(|r| r.message.account == account)
        .ok_or_else(|| StoreError::NotFound {
            what: format!("history row {retired_id} of account {account:?}"),
        })?;
    queue_outgoing_event(conn, shared, &row.message, data)
}

/// Queues the incoming-mail hook for each endpoint of `account` that wants it.
pub(crate) fn queue_incoming(
    conn: &Connection,
    shared: &Shared,
    account: &str,
    payload: &Incoming,
) -> Result<Vec<i64>, StoreError> {
    let settings = settings(shared);
    let endpoints: Vec<_> = settings.matching(account, EventKind::Incoming).collect();
    if endpoints.is_empty() {
        return Ok(Vec::new());
    }
    let now = to_ms(shared.clock.now());
    let body = to_json(payload.meta.msg_id, "incoming payload", payload)?;
    let mut ids = Vec::with_capacity(endpoints.len());
    for ep in endpoints {
        ids.push(insert(
            conn,
            &NewHook {
                account,
                endpoint_id: &ep.id,
                webhook_id: new_webhook_id()?,
                queue_msg_id: 0,
                sequence: 0,
                from_id: "",
                message_id: &payload.message_id,
                subject: &payload.subject,
                extra: "{}",
                url: &ep.url,
                authorization: ep.authorization.as_deref().unwrap_or(""),
                event: INCOMING_EVENT,
                payload: &body,
                now,
                replay_of: 0,
            },
        )?);
    }
    shared.hook_waker.notify_one();
    Ok(ids)
}

/// Hands out due hooks within the endpoints' concurrency, registering each
/// attempt (attempts+1, next attempt after the backoff) before it is posted.
pub(crate) fn claim(
    conn: &Connection,
    shared: &Shared,
    req: &HookClaim,
) -> Result<Vec<ClaimedHook>, StoreError> {
    if req.max == 0 {
        return Ok(Vec::new());
    }
    let now = shared.clock.now();
    let settings = settings(shared);
    // The scan reads only what choosing needs; whole rows are read for the
    // chosen ones, so a backlog behind a busy endpoint stays cheap.
    let due: Vec<(i64, String, String, u32)> = conn
        .prepare_cached(&format!(
            "SELECT id, account, endpoint_id, attempts FROM hooks WHERE next_attempt <= ?1 \
             ORDER BY next_attempt, id LIMIT {CLAIM_SCAN}"
        ))
        .and_then(|mut st| {
            st.query_map([to_ms(now)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect()
        })
        .map_err(db("claiming hooks"))?;
    let mut in_flight = req.in_flight.clone();
    let mut out = Vec::new();
    for (id, account, endpoint_id, attempts) in due {
        if out.len() >= req.max {
            break;
        }
        if attempts < MAX_HOOK_ATTEMPTS {
            let limit = settings
                .endpoint(&account, &endpoint_id)
                .map_or(1, |e| e.effective_concurrency());
            let busy = in_flight.entry((account, endpoint_id)).or_insert(0);
            if *busy >= limit {
                continue;
            }
            *busy += 1;
        }
        let Some(mut hook) = pending(conn, id)? else {
            continue;
        };
        if hook.attempts >= MAX_HOOK_ATTEMPTS {
            // Its last attempt was registered but never finished (a crash).
            let mut results = hook.results.clone();
            results.push(HookResult {
                start_ms: to_ms(now),
                url: hook.url.clone(),
                error: "no attempts left after an unfinished attempt".into(),
                ..HookResult::default()
            });
            retire(conn, shared, &hook, &results, false, 0)?;
            continue;
        }
        hook.attempts += 1;
        let next = now + hook_backoff(hook.attempts, (shared.jitter)());
        let authorization: String = conn
            .prepare_cached(
                "UPDATE hooks SET attempts = ?1, next_attempt = ?2 WHERE id = ?3 RETURNING authorization",
            )
            .and_then(|mut st| {
                st.query_row(params![hook.attempts, to_ms(next), hook.id], |r| r.get(0))
            })
            .map_err(db("registering hook attempt"))?;
        hook.next_attempt = Some(from_ms(to_ms(next)));
        out.push(ClaimedHook {
            record: hook,
            authorization: (!authorization.is_empty()).then_some(authorization),
        });
    }
    Ok(out)
}

/// Records how an attempt ended.
pub(crate) fn complete(
    conn: &Connection,
    shared: &Shared,
    id: i64,
    result: HookResult,
) -> Result<HookDone, StoreError> {
    if let Some(hook) = pending(conn, id)? {
        let mut results = hook.results.clone();
        let success = result.success;
        results.push(result);
        if success {
            retire(conn, shared, &hook, &results, true, 0)?;
            return Ok(HookDone::Delivered);
        }
        if hook.attempts >= MAX_HOOK_ATTEMPTS {
            retire(conn, shared, &hook, &results, false, 0)?;
            return Ok(HookDone::Failed);
        }
        let json = to_json(id, "hook results", &results)?;
        conn.prepare_cached("UPDATE hooks SET results = ?1 WHERE id = ?2")
            .and_then(|mut st| st.execute(params![json, id]))
            .map_err(db("recording hook result"))?;
        return Ok(HookDone::Retry {
            next_attempt: hook.next_attempt.unwrap_or_else(|| shared.clock.now()),
        });
    }
    // Superseded or canceled while in flight: the outcome goes to the record.
    if let Some(hook) = retired(conn, id)? {
        let mut result = result;
        if hook.superseded_by != 0 {
            result.error = if result.error.is_empty() {
                "(superseded)".into()
            } else {
                format!("{} (superseded)", result.error)
            };
        }
        let mut results = hook.results;
        results.push(result);
        let json = to_json(id, "hook results", &results)?;
        conn.prepare_cached("UPDATE hooks_retired SET results = ?1 WHERE id = ?2")
            .and_then(|mut st| st.execute(params![json, id]))
            .map_err(db("recording hook result"))?;
    }
    Ok(HookDone::Gone)
}

/// Records several attempts' outcomes, each in its own savepoint so one
/// that fails leaves the others recorded.
///
/// The poster hands these in one write that the store commits relaxed (not
/// waiting for the disk when nothing durable shares the commit). That is a
/// deliberate at-least-once trade-off: every attempt was registered durably
/// when it was claimed, so a power failure that loses an outcome loses no
/// hook; a lost success is posted again after its backoff with the same
/// webhook-id, which Standard Webhooks receivers dedupe, and a lost failure
/// only drops that attempt's result text.
pub(crate) fn complete_many(
    conn: &Connection,
    shared: &Shared,
    done: Vec<(i64, HookResult)>,
) -> Result<Vec<Result<HookDone, StoreError>>, StoreError> {
    let step = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut st| st.execute([]))
            .map(|_| ())
            .map_err(db("recording hook results"))
    };
    let mut out = Vec::with_capacity(done.len());
    for (id, result) in done {
        step("SAVEPOINT hook_done")?;
        let outcome = complete(conn, shared, id, result);
        if outcome.is_err() {
            step("ROLLBACK TO hook_done")?;
        }
        step("RELEASE hook_done")?;
        out.push(outcome);
    }
    Ok(out)
}

pub(crate) fn next_due(conn: &Connection) -> Result<Option<SystemTime>, StoreError> {
    conn.query_row("SELECT MIN(next_attempt) FROM hooks", [], |r| {
        r.get::<_, Option<i64>>(0)
    })
    .map(|v| v.map(from_ms))
    .map_err(db("reading next hook due time"))
}

/// Pending hooks by id ascending, or retired ones most recent first; keyset
/// paged by id.
pub(crate) fn list(
    conn: &Connection,
    account: &str,
    retired: bool,
    after_id: i64,
    limit: usize,
) -> Result<Vec<HookRecord>, StoreError> {
    let limit = if limit == 0 { 100 } else { limit };
    let sql = if retired {
        format!(
            "{SELECT_RETIRED} WHERE (?1 = '' OR account = ?1) AND (?2 = 0 OR id < ?2) ORDER BY id DESC LIMIT {limit}"
        )
    } else {
        format!(
            "{SELECT_PENDING} WHERE (?1 = '' OR account = ?1) AND id > ?2 ORDER BY id LIMIT {limit}"
        )
    };
    query(
        conn,
        &sql,
        vec![Value::Text(account.into()), Value::Integer(after_id)],
        "listing hooks",
    )
}

pub(crate) fn get(conn: &Connection, id: i64) -> Result<Option<HookRecord>, StoreError> {
    match pending(conn, id)? {
        Some(h) => Ok(Some(h)),
        None => retired(conn, id),
    }
}

pub(crate) fn for_message(
    conn: &Connection,
    queue_msg_id: i64,
) -> Result<Vec<HookRecord>, StoreError> {
    if queue_msg_id == 0 {
        return Ok(Vec::new());
    }
    let mut out = query(
        conn,
        &format!("{SELECT_PENDING} WHERE queue_msg_id = ?1 AND queue_msg_id != 0"),
        vec![Value::Integer(queue_msg_id)],
        "listing hooks of a message",
    )?;
    out.extend(query(
        conn,
        &format!("{SELECT_RETIRED} WHERE queue_msg_id = ?1 AND queue_msg_id != 0"),
        vec![Value::Integer(queue_msg_id)],
        "listing hooks of a message",
    )?);
    out.sort_by_key(|h| h.id);
    Ok(out)
}

fn not_found(account: &str, id: i64) -> StoreError {
    StoreError::NotFound {
        what: if account.is_empty() {
            format!("hook {id}")
        } else {
            format!("hook {id} of account {account:?}")
        },
    }
}

fn owned(hook: Option<HookRecord>, account: &str, id: i64) -> Result<HookRecord, StoreError> {
    hook.filter(|h| account.is_empty() || h.account == account)
        .ok_or_else(|| not_found(account, id))
}

/// A pending hook becomes due now; a retired one that failed (not
/// superseded) is queued again with the same webhook-id and fresh attempts.
pub(crate) fn retry(
    conn: &Connection,
    shared: &Shared,
    account: &str,
    id: i64,
) -> Result<(), StoreError> {
    let now = to_ms(shared.clock.now());
    if let Some(hook) = pending(conn, id)? {
        owned(Some(hook), account, id)?;
        conn.execute(
            "UPDATE hooks SET next_attempt = ?1 WHERE id = ?2",
            params![now, id],
        )
        .map_err(db("retrying hook"))?;
        shared.hook_waker.notify_one();
        return Ok(());
    }
    let hook = owned(retired(conn, id)?, account, id)?;
    if hook.success == Some(true) || hook.superseded_by != 0 {
        return Err(StoreError::NotFound {
            what: format!("failed hook {id} (it was delivered or superseded; replay it instead)"),
        });
    }
    let authorization = settings(shared)
        .endpoint(&hook.account, &hook.endpoint_id)
        .and_then(|e| e.authorization.clone())
        .unwrap_or_default();
    conn.execute(
        "INSERT INTO hooks (id, account, endpoint_id, webhook_id, queue_msg_id, sequence, from_id, message_id, \
         subject, extra, url, authorization, is_incoming, event, payload, submitted, attempts, next_attempt, \
         results, replay_of) SELECT id, account, endpoint_id, webhook_id, queue_msg_id, sequence, from_id, \
         message_id, subject, extra, url, ?2, is_incoming, event, payload, submitted, 0, ?3, results, replay_of \
         FROM hooks_retired WHERE id = ?1",
        params![id, authorization, now],
    )
    .map_err(db("requeueing hook"))?;
    conn.execute("DELETE FROM hooks_retired WHERE id = ?1", [id])
        .map_err(db("requeueing hook"))?;
    shared.hook_waker.notify_one();
    Ok(())
}

/// Queues the payload of hook `id` again as a new hook with a new
/// webhook-id that names the original.
pub(crate) fn replay(
    conn: &Connection,
    shared: &Shared,
    account: &str,
    id: i64,
) -> Result<i64, StoreError> {
    let hook = owned(get(conn, id)?, account, id)?;
    let row: (String, String, String, String) = {
        let table = if hook.success.is_none() {
            "hooks"
        } else {
            "hooks_retired"
        };
        conn.query_row(
            &format!("SELECT from_id, message_id, subject, extra FROM {table} WHERE id = ?1"),
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .map_err(db("reading hook to replay"))?
    };
    // A pending original keeps its frozen header; a retired one only
    // recorded whether it had one, so the endpoint's current one is used.
    let authorization = if hook.success.is_none() {
        conn.query_row("SELECT authorization FROM hooks WHERE id = ?1", [id], |r| {
            r.get::<_, String>(0)
        })
        .map_err(db("reading hook to replay"))?
    } else {
        settings(shared)
            .endpoint(&hook.account, &hook.endpoint_id)
            .and_then(|e| e.authorization.clone())
            .unwrap_or_default()
    };
    let new_id = insert(
        conn,
        &NewHook {
            account: &hook.account,
            endpoint_id: &hook.endpoint_id,
            webhook_id: new_webhook_id()?,
            queue_msg_id: hook.queue_msg_id,
            sequence: hook.sequence,
            from_id: &row.0,
            message_id: &row.1,
            subject: &row.2,
            extra: &row.3,
            url: &hook.url,
            authorization: &authorization,
            event: &hook.event,
            payload: &hook.payload,
            now: to_ms(shared.clock.now()),
            replay_of: id,
        },
    )?;
    shared.hook_waker.notify_one();
    Ok(new_id)
}

/// Retires a pending hook with the result "canceled by admin".
pub(crate) fn cancel(
    conn: &Connection,
    shared: &Shared,
    account: &str,
    id: i64,
) -> Result<(), StoreError> {
    let hook = owned(pending(conn, id)?, account, id)?;
    let mut results = hook.results.clone();
    results.push(HookResult {
        start_ms: to_ms(shared.clock.now()),
        url: hook.url.clone(),
        error: CANCELED.into(),
        ..HookResult::default()
    });
    retire(conn, shared, &hook, &results, false, 0)
}

/// Deletes retired hooks past their keep time and sequence counters of
/// messages long gone; returns how many hooks were deleted.
pub(crate) fn cleanup(conn: &Connection, shared: &Shared) -> Result<u64, StoreError> {
    let now = to_ms(shared.clock.now());
    let n = conn
        .execute("DELETE FROM hooks_retired WHERE keep_until < ?1", [now])
        .map_err(db("cleaning hooks"))?;
    conn.execute(
        "DELETE FROM hook_sequences WHERE updated < ?1 \
         AND NOT EXISTS (SELECT 1 FROM msgs WHERE msgs.id = hook_sequences.queue_msg_id) \
         AND NOT EXISTS (SELECT 1 FROM retired WHERE retired.id = hook_sequences.queue_msg_id)",
        [now - SEQUENCE_KEEP_MS],
    )
    .map_err(db("cleaning hook sequences"))?;
    Ok(n as u64)
}
