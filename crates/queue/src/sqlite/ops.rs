//! The write operations, each run inside the group transaction by the
//! writer thread.

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use base64::Engine;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::Shared;
use super::hooks;
use super::rows::*;
use crate::model::*;
use crate::store::{FailedMessage, StoreError};
use crate::time::{dur_ms, from_ms, to_ms};
use webapi::webhook::OutgoingEvent;

fn random_id() -> Result<String, StoreError> {
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Commit(format!("random source: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

fn domain_of(addr: &smtp::Address) -> String {
    addr.host().to_unicode().to_lowercase()
}

fn rule_matches(
    rule: &HoldRule,
    account: &str,
    sender_domain: &str,
    recipient_domain: &str,
) -> bool {
    (rule.account.is_empty() || rule.account == account)
        && (rule.sender_domain.is_empty() || rule.sender_domain == sender_domain)
        && (rule.recipient_domain.is_empty() || rule.recipient_domain == recipient_domain)
}

pub(crate) fn load_rules(conn: &Connection) -> Result<Vec<HoldRule>, StoreError> {
    let mut st = conn
        .prepare_cached(
            "SELECT id, account, sender_domain, recipient_domain FROM hold_rules ORDER BY id",
        )
        .map_err(db("reading hold rules"))?;
    let rows = st
        .query_map([], |r| {
            Ok(HoldRule {
                id: r.get(0)?,
                account: r.get(1)?,
                sender_domain: r.get(2)?,
                recipient_domain: r.get(3)?,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(db("reading hold rules"))?;
    Ok(rows)
}

fn from_id_used(conn: &Connection, from_id: &str) -> Result<bool, StoreError> {
    conn.prepare_cached(
        // The `!= ''` lets SQLite use the partial indexes.
        "SELECT EXISTS (SELECT 1 FROM msgs WHERE from_id = ?1 AND from_id != '') \
         OR EXISTS (SELECT 1 FROM retired WHERE from_id = ?1 AND from_id != '')",
    )
    .and_then(|mut st| st.query_row([from_id], |r| r.get(0)))
    .map_err(db("checking fromid"))
}

pub(crate) fn enqueue(
    conn: &Connection,
    shared: &Shared,
    sub: Submission,
) -> Result<Vec<i64>, StoreError> {
    let now = shared.clock.now();
    if sub.recipients.is_empty() {
        return Err(StoreError::NoRecipients {
            account: sub.account,
        });
    }
    let next_attempt = match &sub.future_release {
        Some(fr) => {
            if fr.until > now + FUTURE_RELEASE_MAX {
                return Err(StoreError::FutureReleaseTooFar { until: fr.until });
            }
            fr.until.max(now)
        }
        None => now,
    };
    let rules = load_rules(conn)?;
    let mut seen_from_ids = HashSet::new();
    for r in &sub.recipients {
        if let Some(id) = r.from_id.as_deref().filter(|id| !id.is_empty())
            && (!seen_from_ids.insert(id) || from_id_used(conn, id)?)
        {
            return Err(StoreError::FromIdNotUnique {
                from_id: id.to_string(),
            });
        }
    }
    let envid = match &sub.envid {
        Some(e) => e.clone(),
        None => random_id()?,
    };
    let default_sender = sub
        .sender
        .as_ref()
        .map(|a| a.to_utf8_wire())
        .unwrap_or_default();
    let same_sender = sub.recipients.iter().all(|r| {
        r.mail_from
            .as_ref()
            .map(|a| a.to_utf8_wire())
            .unwrap_or_else(|| default_sender.clone())
            == default_sender
    });
    let batch = same_sender && sub.recipients.len() > 1;

    conn.prepare_cached("INSERT INTO bodies (data) VALUES (?1)")
        .and_then(|mut st| st.execute([&sub.body]))
        .map_err(db("storing body"))?;
    let body_id = conn.last_insert_rowid();

    let mut ids = Vec::with_capacity(sub.recipients.len());
    let cols = msg_cols();
    // Without the id column: AUTOINCREMENT assigns it, never reusing an id
    // that the history may still hold.
    let insert_cols = cols.trim_start_matches("id, ");
    for r in &sub.recipients {
        let sender_addr = r.mail_from.as_ref().or(sub.sender.as_ref());
        let sender = sender_addr.map(|a| a.to_utf8_wire()).unwrap_or_default();
        let sender_domain = sender_addr.map(domain_of).unwrap_or_default();
        let recipient_domain = domain_of(&r.address);
        let hold = rules
            .iter()
            .any(|rule| rule_matches(rule, &sub.account, &sender_domain, &recipient_domain));
        let m = QueuedMessage {
            id: 0,
            base_id: 0,
            body_id,
            queued: now,
            hold,
            account: sub.account.clone(),
            sender,
            sender_domain,
            from_id: r.from_id.clone().unwrap_or_default(),
            recipient: r.address.to_utf8_wire(),
            recipient_domain,
            attempts: 0,
            max_attempts: sub.max_attempts,
            dialed_ips: BTreeMap::new(),
            next_attempt,
            last_attempt: None,
            results: Vec::new(),
            has_8bit: sub.has_8bit,
            smtputf8: sub.smtputf8,
            size: sub.body.len() as i64,
            message_id: sub.message_id.clone(),
            subject: sub.subject.clone(),
            transport: sub.transport.clone(),
            require_tls: sub.require_tls,
            future_release: sub
                .future_release
                .as_ref()
                .map(|f| f.request.clone())
                .unwrap_or_default(),
            extra: sub.extra.clone(),
            dsn: DsnParams {
                notify: r.notify.unwrap_or(smtp::Notify::new(false, true, true)),
                ret: sub.ret,
                envid: envid.clone(),
                orcpt: r
                    .orcpt
                    .clone()
                    .unwrap_or_else(|| smtp::OriginalRecipient::for_address(&r.address)),
            },
            lease_owner: String::new(),
            lease_until: None,
        };
        let mut values = common_values(&m)?;
        values.remove(0);
        values.push(Value::Integer(body_id));
        values.push(Value::Integer(i64::from(hold)));
        values.push(Value::Integer(to_ms(next_attempt)));
        values.push(Value::Text(String::new()));
        values.push(Value::Null);
        let sql = format!(
            "INSERT INTO msgs ({insert_cols}) VALUES ({})",
            placeholders(values.len())
        );
        conn.prepare_cached(&sql)
            .and_then(|mut st| st.execute(rusqlite::params_from_iter(values)))
            .map_err(db("inserting queue row"))?;
        ids.push(conn.last_insert_rowid());
    }
    if batch && let Some(first) = ids.first().copied() {
        let last = ids.last().copied().unwrap_or(first);
        conn.execute(
            "UPDATE msgs SET base_id = ?1 WHERE id BETWEEN ?1 AND ?2",
            params![first, last],
        )
        .map_err(db("setting base id"))?;
    }
    Ok(ids)
}

pub(crate) fn get_msg(conn: &Connection, id: i64) -> Result<Option<QueuedMessage>, StoreError> {
    conn.prepare_cached(&format!("SELECT {} FROM msgs WHERE id = ?1", msg_cols()))
        .and_then(|mut st| st.query_row([id], read_msg).optional())
        .map_err(db("reading queue row"))
}

/// The few columns of a due row that forming batches needs; the full row is
/// decoded only once leased.
struct DueRow {
    id: i64,
    base_id: i64,
    domain: String,
    next_attempt: i64,
}

const FREE: &str = "hold = 0 AND next_attempt <= ?1 AND (lease_until IS NULL OR lease_until <= ?1)";

fn due_rows(
    conn: &Connection,
    now: i64,
    req: &ClaimRequest,
    after: Option<(i64, i64)>,
    limit: usize,
) -> Result<Vec<DueRow>, StoreError> {
    let mut sql =
        format!("SELECT id, base_id, recipient_domain, next_attempt FROM msgs WHERE {FREE}");
    let mut values = vec![Value::Integer(now)];
    if let Some(d) = &req.domain {
        values.push(Value::Text(d.clone()));
        sql.push_str(&format!(" AND recipient_domain = ?{}", values.len()));
    }
    if let Some((t, id)) = after {
        values.push(Value::Integer(t));
        values.push(Value::Integer(id));
        let (a, b) = (values.len() - 1, values.len());
        sql.push_str(&format!(
            " AND (next_attempt > ?{a} OR (next_attempt = ?{a} AND id > ?{b}))"
        ));
    }
    values.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    sql.push_str(&format!(
        " ORDER BY next_attempt, id LIMIT ?{}",
        values.len()
    ));
    conn.prepare_cached(&sql)
        .and_then(|mut st| {
            st.query_map(rusqlite::params_from_iter(values), |r| {
                Ok(DueRow {
                    id: r.get(0)?,
                    base_id: r.get(1)?,
                    domain: r.get(2)?,
                    next_attempt: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(db("reading due rows"))
}

/// The other free rows of `first`'s base id and domain, in id order.
fn base_mates(conn: &Connection, now: i64, first: &DueRow) -> Result<Vec<i64>, StoreError> {
    let sql = format!(
        "SELECT id FROM msgs INDEXED BY msgs_base_domain WHERE base_id = ?2 AND recipient_domain = ?3 AND id != ?4 AND {FREE} ORDER BY id"
    );
    conn.prepare_cached(&sql)
        .and_then(|mut st| {
            st.query_map(params![now, first.base_id, first.domain, first.id], |r| {
                r.get(0)
            })?
            .collect::<Result<Vec<i64>, _>>()
        })
        .map_err(db("reading batch rows"))
}

/// How many due rows to read per round: enough for the batches still
/// wanted, more when rows of skipped domains may be in the way.
fn scan_limit(req: &ClaimRequest, remaining: usize) -> usize {
    if req.skip_domains.is_empty() {
        remaining.max(1)
    } else {
        remaining
            .saturating_add(req.skip_domains.len() * 4)
            .min(256)
    }
}

pub(crate) fn claim(
    conn: &Connection,
    shared: &Shared,
    req: &ClaimRequest,
) -> Result<Vec<Batch>, StoreError> {
    let now = to_ms(shared.clock.now());
    let until = now.saturating_add(dur_ms(req.lease));
    let mut taken: HashSet<i64> = HashSet::new();
    let mut leased: Vec<Vec<i64>> = Vec::new();
    let mut after: Option<(i64, i64)> = None;
    'scan: while leased.len() < req.max_batches {
        let limit = scan_limit(req, req.max_batches - leased.len());
        let rows = due_rows(conn, now, req, after, limit)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            after = Some((row.next_attempt, row.id));
            if taken.contains(&row.id) || req.skip_domains.contains(&row.domain) {
                continue;
            }
            let mut ids = vec![row.id];
            if row.base_id != 0 {
                let mates = base_mates(conn, now, &row)?;
                ids.extend(mates.into_iter().filter(|id| !taken.contains(id)));
            }
            for id in &ids {
                taken.insert(*id);
                conn.prepare_cached(
                    "UPDATE msgs SET lease_owner = ?1, lease_until = ?2 WHERE id = ?3",
                )
                .and_then(|mut st| st.execute(params![req.node, until, id]))
                .map_err(db("leasing row"))?;
            }
            leased.push(ids);
            if leased.len() >= req.max_batches {
                break 'scan;
            }
        }
    }
    let mut batches = Vec::with_capacity(leased.len());
    for ids in leased {
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            // Leased in this transaction just now, so the row is there.
            if let Some(m) = get_msg(conn, id)? {
                rows.push(m);
            }
        }
        if !rows.is_empty() {
            batches.push(Batch { rows });
        }
    }
    Ok(batches)
}

pub(crate) fn renew(
    conn: &Connection,
    shared: &Shared,
    node: &str,
    ids: &[i64],
    lease_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    let until = to_ms(shared.clock.now()).saturating_add(lease_ms);
    let mut kept = Vec::new();
    for id in ids {
        let n = conn
            .prepare_cached("UPDATE msgs SET lease_until = ?1 WHERE id = ?2 AND lease_owner = ?3")
            .and_then(|mut st| st.execute(params![until, id, node]))
            .map_err(db("renewing lease"))?;
        if n > 0 {
            kept.push(*id);
        }
    }
    Ok(kept)
}

pub(crate) fn release(conn: &Connection, node: &str, ids: &[i64]) -> Result<(), StoreError> {
    for id in ids {
        conn.prepare_cached("UPDATE msgs SET lease_owner = '', lease_until = NULL WHERE id = ?1 AND lease_owner = ?2")
            .and_then(|mut st| st.execute(params![id, node]))
            .map_err(db("releasing lease"))?;
    }
    Ok(())
}

pub(crate) fn begin_attempt(
    conn: &Connection,
    shared: &Shared,
    node: &str,
    ids: &[i64],
) -> Result<Vec<QueuedMessage>, StoreError> {
    let now = shared.clock.now();
    let mut out = Vec::new();
    for id in ids {
        let Some(mut m) = get_msg(conn, *id)? else {
            continue;
        };
        if m.lease_owner != node {
            continue;
        }
        register_attempt(conn, shared, &mut m, now)?;
        out.push(m);
    }
    Ok(out)
}

/// Leases due rows like [`claim`] and registers an attempt on each in the
/// same transaction, so the caller needs one durable commit, not two.
pub(crate) fn claim_and_begin(
    conn: &Connection,
    shared: &Shared,
    req: &ClaimRequest,
) -> Result<Vec<Batch>, StoreError> {
    let mut batches = claim(conn, shared, req)?;
    let now = shared.clock.now();
    for batch in &mut batches {
        for m in &mut batch.rows {
            register_attempt(conn, shared, m, now)?;
        }
    }
    Ok(batches)
}

/// Attempts+1, a "delivering..." placeholder result and the next attempt
/// pushed to the backoff, written back to the row.
fn register_attempt(
    conn: &Connection,
    shared: &Shared,
    m: &mut QueuedMessage,
    now: SystemTime,
) -> Result<(), StoreError> {
    m.attempts += 1;
    m.last_attempt = Some(now);
    m.results.push(AttemptResult {
        start_ms: to_ms(now),
        error: RESULT_DELIVERING.into(),
        ..AttemptResult::default()
    });
    m.next_attempt = now + crate::backoff(m.attempts, (shared.jitter)());
    let results = serde_json::to_string(&m.results).map_err(|e| StoreError::Corrupt {
        id: m.id,
        field: "results",
        reason: e.to_string(),
    })?;
    // Only the columns an attempt changes: a whole-row REPLACE would
    // delete and reinsert the row in every index, on the one writer
    // thread, for each delivery.
    conn.prepare_cached(
        "UPDATE msgs SET attempts = ?1, last_attempt = ?2, results = ?3, next_attempt = ?4 WHERE id = ?5",
    )
    .and_then(|mut st| {
        st.execute(params![
            m.attempts,
            to_ms(now),
            results,
            to_ms(m.next_attempt),
            m.id
        ])
    })
    .map_err(db("registering attempt"))?;
    Ok(())
}

/// Appends or fills in the placeholder of the running attempt.
fn record_result(m: &mut QueuedMessage, mut result: AttemptResult, now: SystemTime) {
    let now_ms = to_ms(now);
    match m
        .results
        .iter_mut()
        .rev()
        .find(|r| r.error == RESULT_DELIVERING)
    {
        Some(slot) => {
            result.start_ms = slot.start_ms;
            if result.duration_ms == 0 {
                result.duration_ms = now_ms - slot.start_ms;
            }
            *slot = result;
        }
        None => {
            if result.start_ms == 0 {
                result.start_ms = now_ms;
            }
            m.results.push(result);
        }
    }
}

/// Moves a row into the history (or just deletes it when the account keeps
/// none) and deletes its body when no other row uses it.
pub(crate) fn retire(
    conn: &Connection,
    shared: &Shared,
    m: &QueuedMessage,
    event: Event,
    by_admin: bool,
) -> Result<(), StoreError> {
    let now = shared.clock.now();
    let keep = shared.retention.for_account(&m.account);
    if !keep.is_zero() {
        let mut values = common_values(m)?;
        values.push(Value::Text(event.as_str().into()));
        values.push(Value::Integer(i64::from(event == Event::Delivered)));
        values.push(Value::Integer(to_ms(now)));
        values.push(Value::Integer(to_ms(now + keep)));
        values.push(Value::Integer(i64::from(by_admin)));
        let sql = format!(
            "INSERT INTO retired ({}) VALUES ({})",
            retired_cols(),
            placeholders(values.len())
        );
        conn.prepare_cached(&sql)
            .and_then(|mut st| st.execute(rusqlite::params_from_iter(values)))
            .map_err(db("retiring row"))?;
    }
    conn.prepare_cached("DELETE FROM msgs WHERE id = ?1")
        .and_then(|mut st| st.execute([m.id]))
        .map_err(db("deleting queue row"))?;
    conn.prepare_cached(
        "DELETE FROM bodies WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM msgs WHERE body_id = ?1)",
    )
    .and_then(|mut st| st.execute([m.body_id]))
    .map_err(db("deleting body"))?;
    tracing::debug!(target: "queue", id = m.id, event = event.as_str(), "retired");
    Ok(())
}

pub(crate) fn complete(
    conn: &Connection,
    shared: &Shared,
    completions: Vec<Completion>,
) -> Result<Vec<Completed>, StoreError> {
    let now = shared.clock.now();
    let mut out = Vec::with_capacity(completions.len());
    for c in completions {
        let Some(mut m) = get_msg(conn, c.id)? else {
            out.push(Completed::Gone);
            continue;
        };
        let code = c.result.code;
        let enhanced = c.result.enhanced_code.parse::<smtp::EnhancedCode>().ok();
        let hook_result = c.result.clone();
        let dsn_msg_id = c.dsn_msg_id;
        record_result(&mut m, c.result, now);
        for (host, ips) in c.dialed_ips {
            let known = m.dialed_ips.entry(host).or_default();
            for ip in ips {
                if !known.contains(&ip) {
                    known.push(ip);
                }
            }
        }
        m.lease_owner.clear();
        m.lease_until = None;
        let final_failure = match c.outcome {
            Outcome::Delivered => {
                retire(conn, shared, &m, Event::Delivered, false)?;
                let data = hooks::event_data(
                    OutgoingEvent::Delivered,
                    &hook_result,
                    false,
                    false,
                    dsn_msg_id,
                );
                hooks::queue_outgoing_event(conn, shared, &m, &data)?;
                out.push(Completed::Delivered);
                continue;
            }
            Outcome::Suppressed => {
                retire(conn, shared, &m, Event::Suppressed, false)?;
                let data = hooks::event_data(
                    OutgoingEvent::Suppressed,
                    &hook_result,
                    false,
                    false,
                    dsn_msg_id,
                );
                hooks::queue_outgoing_event(conn, shared, &m, &data)?;
                out.push(Completed::Suppressed);
                continue;
            }
            Outcome::Permanent => true,
            Outcome::Temporary => m.attempts >= m.effective_max_attempts(),
        };
        if final_failure {
            retire(conn, shared, &m, Event::Failed, false)?;
            let suppressed_now = code != 0
                && suppress_after_failure(
                    conn,
                    shared,
                    &m.account,
                    &m.recipient,
                    code,
                    enhanced,
                    FailureSource::Queue,
                )?;
            let permanent = c.outcome == Outcome::Permanent;
            let data = hooks::event_data(
                OutgoingEvent::Failed,
                &hook_result,
                permanent,
                suppressed_now,
                dsn_msg_id,
            );
            hooks::queue_outgoing_event(conn, shared, &m, &data)?;
            out.push(Completed::Failed { suppressed_now });
        } else {
            m.next_attempt = now + crate::backoff(m.attempts, (shared.jitter)());
            update_msg(conn, &m)?;
            let data = hooks::event_data(
                OutgoingEvent::Delayed,
                &hook_result,
                false,
                false,
                dsn_msg_id,
            );
            hooks::queue_outgoing_event(conn, shared, &m, &data)?;
            out.push(Completed::Retry {
                next_attempt: m.next_attempt,
                attempts: m.attempts,
            });
        }
    }
    Ok(out)
}

fn select_ids(conn: &Connection, filter: &Filter) -> Result<Vec<i64>, StoreError> {
    let w = Where::queue(filter);
    let sql = format!(
        "SELECT id FROM msgs WHERE {} ORDER BY id{}",
        w.sql(),
        limit(filter.max)
    );
    conn.prepare(&sql)
        .and_then(|mut st| {
            st.query_map(rusqlite::params_from_iter(w.values), |r| r.get(0))?
                .collect::<Result<Vec<i64>, _>>()
        })
        .map_err(db("selecting rows"))
}

/// Runs `set` (an assignment list using ?1 for `value`) on the rows a filter selects.
pub(crate) fn update_filtered(
    conn: &Connection,
    filter: &Filter,
    set: &str,
    value: Value,
) -> Result<u64, StoreError> {
    let ids = select_ids(conn, filter)?;
    let sql = format!("UPDATE msgs SET {set} WHERE id = ?2");
    let mut n = 0;
    for id in ids {
        n += conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.execute(params![value, id]))
            .map_err(db("updating rows"))? as u64;
    }
    Ok(n)
}

fn cancel_filtered(
    conn: &Connection,
    shared: &Shared,
    filter: &Filter,
    event: Event,
    dsn: Option<&crate::store::DsnWriter>,
) -> Result<Vec<FailedMessage>, StoreError> {
    let now = shared.clock.now();
    let mut out = Vec::new();
    for id in select_ids(conn, filter)? {
        let Some(mut m) = get_msg(conn, id)? else {
            continue;
        };
        m.results.push(AttemptResult {
            start_ms: to_ms(now),
            error: RESULT_CANCELED.into(),
            ..AttemptResult::default()
        });
        if m.last_attempt.is_none() {
            m.last_attempt = Some(now);
        }
        let body = if event == Event::Failed {
            body(conn, m.body_id)?
        } else {
            Vec::new()
        };
        retire(conn, shared, &m, event, true)?;
        let dsn_msg_id = match dsn {
            Some(write) if event == Event::Failed => write(&m, &body),
            _ => 0,
        };
        let (kind, reason) = if event == Event::Failed {
            (OutgoingEvent::Failed, "other")
        } else {
            (OutgoingEvent::Canceled, "")
        };
        let data = crate::webhook::OutgoingEventData {
            event: kind,
            error: RESULT_CANCELED.into(),
            bounce_reason: reason.into(),
            dsn_msg_id,
            ..Default::default()
        };
        super::hooks::queue_outgoing_event(conn, shared, &m, &data)?;
        out.push(FailedMessage {
            message: m,
            body,
            dsn_msg_id,
        });
    }
    Ok(out)
}

pub(crate) fn fail(
    conn: &Connection,
    shared: &Shared,
    filter: &Filter,
) -> Result<Vec<FailedMessage>, StoreError> {
    cancel_filtered(conn, shared, filter, Event::Failed, None)
}

pub(crate) fn fail_with_dsns(
    conn: &Connection,
    shared: &Shared,
    filter: &Filter,
    dsn: &crate::store::DsnWriter,
) -> Result<Vec<FailedMessage>, StoreError> {
    cancel_filtered(conn, shared, filter, Event::Failed, Some(dsn))
}

pub(crate) fn drop_messages(
    conn: &Connection,
    shared: &Shared,
    filter: &Filter,
) -> Result<u64, StoreError> {
    Ok(cancel_filtered(conn, shared, filter, Event::Canceled, None)?.len() as u64)
}

pub(crate) fn body(conn: &Connection, body_id: i64) -> Result<Vec<u8>, StoreError> {
    conn.prepare_cached("SELECT data FROM bodies WHERE id = ?1")
        .and_then(|mut st| st.query_row([body_id], |r| r.get(0)).optional())
        .map_err(db("reading body"))?
        .ok_or(StoreError::BodyMissing { body_id })
}

pub(crate) fn hold_rule_add(conn: &Connection, rule: HoldRule) -> Result<i64, StoreError> {
    let (a, s, r) = (
        rule.account,
        rule.sender_domain.to_lowercase(),
        rule.recipient_domain.to_lowercase(),
    );
    conn.execute(
        "INSERT INTO hold_rules (account, sender_domain, recipient_domain) VALUES (?1, ?2, ?3)",
        params![a, s, r],
    )
    .map_err(db("adding hold rule"))?;
    let id = conn.last_insert_rowid();
    conn.execute(
        "UPDATE msgs SET hold = 1 WHERE (?1 = '' OR account = ?1) AND (?2 = '' OR sender_domain = ?2) AND (?3 = '' OR recipient_domain = ?3)",
        params![a, s, r],
    )
    .map_err(db("holding rows for a new rule"))?;
    Ok(id)
}

pub(crate) fn read_suppression(r: &rusqlite::Row<'_>) -> rusqlite::Result<Suppression> {
    Ok(Suppression {
        id: r.get(0)?,
        created: from_ms(r.get(1)?),
        account: r.get(2)?,
        base_address: r.get(3)?,
        original_address: r.get(4)?,
        manual: r.get(5)?,
        reason: r.get(6)?,
    })
}

pub(crate) const SUPPRESSION_COLS: &str =
    "id, created, account, base_address, original_address, manual, reason";

pub(crate) fn suppression_lookup(
    conn: &Connection,
    account: &str,
    address: &str,
) -> Result<Option<Suppression>, StoreError> {
    let base = crate::base_address(address);
    conn.prepare_cached(&format!(
        "SELECT {SUPPRESSION_COLS} FROM suppressions WHERE account = ?1 AND base_address = ?2"
    ))
    .and_then(|mut st| {
        st.query_row(params![account, base], read_suppression)
            .optional()
    })
    .map_err(db("looking up suppression"))
}

pub(crate) fn suppression_insert(
    conn: &Connection,
    shared: &Shared,
    account: &str,
    address: &str,
    manual: bool,
    reason: &str,
) -> Result<Suppression, StoreError> {
    let base = crate::base_address(address);
    if suppression_lookup(conn, account, address)?.is_some() {
        return Err(StoreError::AlreadySuppressed {
            account: account.into(),
            address: base,
        });
    }
    let created = shared.clock.now();
    conn.execute(
        "INSERT INTO suppressions (created, account, base_address, original_address, manual, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![to_ms(created), account, base, address, manual, reason],
    )
    .map_err(db("adding suppression"))?;
    Ok(Suppression {
        id: conn.last_insert_rowid(),
        created: crate::time::from_ms(to_ms(created)),
        account: account.into(),
        base_address: base,
        original_address: address.into(),
        manual,
        reason: reason.into(),
    })
}

/// The automatic suppression rule (see `Store::suppress_after_failure`).
/// Outcomes are counted per account: one tenant's failures do not
/// suppress an address for another.
pub(crate) fn suppress_after_failure(
    conn: &Connection,
    shared: &Shared,
    account: &str,
    address: &str,
    code: u16,
    enhanced: Option<smtp::EnhancedCode>,
    source: FailureSource,
) -> Result<bool, StoreError> {
    if suppression_lookup(conn, account, address)?.is_some() {
        return Ok(false);
    }
    let reason = if crate::suppresses_immediately(code, enhanced) {
        source.immediate_reason(code, &enhanced.map(|e| e.to_string()).unwrap_or_default())
    } else {
        let last: Vec<bool> = conn
            .prepare_cached(
                "SELECT success FROM retired WHERE recipient = ?1 AND account = ?2 AND event IN ('delivered', 'failed') AND by_admin = 0 \
                 ORDER BY last_activity DESC, id DESC LIMIT 3",
            )
            .and_then(|mut st| {
                st.query_map(params![address, account], |r| r.get(0))?
                    .collect::<Result<Vec<bool>, _>>()
            })
            .map_err(db("reading recent outcomes"))?;
        if last.len() < 3 || last.iter().any(|s| *s) {
            return Ok(false);
        }
        source.repeated_reason()
    };
    suppression_insert(conn, shared, account, address, false, &reason)?;
    tracing::info!(target: "queue", account, reason = %reason, "address suppressed");
    Ok(true)
}

pub(crate) fn get_retired(
    conn: &Connection,
    id: i64,
) -> Result<Option<RetiredMessage>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {} FROM retired WHERE id = ?1",
        retired_cols()
    ))
    .and_then(|mut st| st.query_row([id], read_retired).optional())
    .map_err(db("reading history row"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::{ClaimRequest, Options, SqliteStore, Store, Submission, TestClock};

    fn store(dir: &tempfile::TempDir) -> SqliteStore {
        let options = Options {
            clock: Arc::new(TestClock::new(
                std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            )),
            jitter: Arc::new(|| 0),
            ..Options::default()
        };
        SqliteStore::open(dir.path().join("q.db"), options).unwrap()
    }

    fn enqueue(store: &SqliteStore, to: &[&str]) -> Vec<i64> {
        let to = to
            .iter()
            .map(|t| smtp::Address::parse(t).unwrap())
            .collect();
        let sender = smtp::Address::parse("a@example.org").ok();
        let sub = Submission::new("a", sender, to, b"Subject: t\r\n\r\nx\r\n".to_vec());
        store.enqueue(sub).unwrap()
    }

    fn claim(store: &SqliteStore, max_batches: usize, skip: &[&str]) -> Vec<Vec<i64>> {
        let req = ClaimRequest {
            node: "n".into(),
            lease: Duration::from_secs(300),
            max_batches,
            domain: None,
            skip_domains: skip.iter().map(|s| s.to_string()).collect(),
        };
        store
            .claim(req)
            .unwrap()
            .iter()
            .map(|b| b.rows.iter().map(|r| r.id).collect())
            .collect()
    }

    #[test]
    fn short_scans_step_past_rows_already_in_a_batch_and_skipped_domains() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let first = enqueue(&store, &["x@one.example", "y@one.example", "z@one.example"]);
        let second = enqueue(&store, &["w@two.example"]);
        let skipped = enqueue(&store, &["v@three.example"]);
        let last = enqueue(&store, &["u@four.example"]);
        // Two batches wanted: the scan reads two rows, the second of which
        // already joined the first batch, then steps on one row at a time.
        assert_eq!(claim(&store, 2, &[]), vec![first, second]);
        assert_eq!(claim(&store, 2, &["three.example"]), vec![last]);
        assert_eq!(claim(&store, 2, &[]), vec![skipped]);
        assert_eq!(claim(&store, 2, &[]), Vec::<Vec<i64>>::new());
    }

    #[test]
    fn leased_rows_come_back_decoded_with_the_lease() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let ids = enqueue(&store, &["x@one.example"]);
        let req = ClaimRequest {
            node: "n".into(),
            lease: Duration::from_secs(300),
            max_batches: 1,
            domain: Some("one.example".into()),
            skip_domains: vec![],
        };
        let batches = store.claim(req).unwrap();
        let row = &batches[0].rows[0];
        assert_eq!(row.id, ids[0]);
        assert_eq!(row.recipient, "x@one.example");
        assert_eq!(row.lease_owner, "n");
        assert_eq!(
            row.lease_until,
            Some(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_300))
        );
    }

    #[test]
    fn claim_and_begin_many_answers_each_domain_in_request_order_in_one_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let one = enqueue(&store, &["x@one.example"]);
        let two_a = enqueue(&store, &["y@two.example"]);
        let two_b = enqueue(&store, &["z@two.example"]);
        let req = |domain: &str, max_batches| ClaimRequest {
            node: "n".into(),
            lease: Duration::from_secs(300),
            max_batches,
            domain: Some(domain.into()),
            skip_domains: vec![],
        };
        let commits = store.writer_stats().commits;
        let claimed = store
            .claim_and_begin_many(vec![
                req("two.example", 5),
                req("three.example", 1),
                req("one.example", 1),
            ])
            .unwrap();
        assert_eq!(store.writer_stats().commits, commits + 1);
        let ids: Vec<Vec<Vec<i64>>> = claimed
            .iter()
            .map(|batches| {
                batches
                    .iter()
                    .map(|b| b.rows.iter().map(|r| r.id).collect())
                    .collect()
            })
            .collect();
        assert_eq!(ids, vec![vec![two_a, two_b], vec![], vec![one]]);
        let attempts: Vec<u32> = claimed
            .iter()
            .flatten()
            .flat_map(|b| b.rows.iter().map(|r| r.attempts))
            .collect();
        assert_eq!(attempts, vec![1, 1, 1]);
    }
}
