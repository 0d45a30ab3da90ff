//! Mapping rows to records and filters to SQL.

use std::str::FromStr;

use rusqlite::types::{Type, Value};
use rusqlite::{Connection, Row};

use crate::model::*;
use crate::store::StoreError;
use crate::time::{from_ms, to_ms};

/// Columns shared by `msgs` and `retired`, in the order `fill_common` reads them.
pub(crate) const COMMON_COLS: &str = "id, base_id, queued, account, sender, sender_domain, from_id, \
    recipient, recipient_domain, attempts, max_attempts, dialed_ips, last_attempt, results, has_8bit, \
    smtputf8, size, message_id, subject, transport, require_tls, future_release, extra, notify, ret, envid, orcpt";

/// `msgs` columns: the common ones, then the queue-only ones.
pub(crate) fn msg_cols() -> String {
    format!("{COMMON_COLS}, body_id, hold, next_attempt, lease_owner, lease_until")
}

/// `retired` columns: the common ones, then the history-only ones.
pub(crate) fn retired_cols() -> String {
    format!("{COMMON_COLS}, event, success, last_activity, keep_until, by_admin")
}

const COMMON_COUNT: usize = 27;

pub(crate) fn db(during: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| StoreError::Database { during, source }
}

fn bad(index: usize, reason: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, reason.into())
}

fn json<T: serde::de::DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|e| bad(index, format!("json: {e}")))
}

fn read_common(row: &Row<'_>) -> rusqlite::Result<QueuedMessage> {
    let notify_text: String = row.get(23)?;
    let notify = smtp::Notify::from_str(&notify_text).map_err(|e| bad(23, e.to_string()))?;
    let ret_text: String = row.get(24)?;
    let ret = if ret_text.is_empty() {
        None
    } else {
        Some(smtp::Ret::from_str(&ret_text).map_err(|e| bad(24, e.to_string()))?)
    };
    let orcpt_text: String = row.get(26)?;
    let orcpt =
        smtp::OriginalRecipient::parse_param(&orcpt_text).map_err(|e| bad(26, e.to_string()))?;
    let require_tls: Option<bool> = row.get(20)?;
    Ok(QueuedMessage {
        id: row.get(0)?,
        base_id: row.get(1)?,
        body_id: 0,
        queued: from_ms(row.get(2)?),
        hold: false,
        account: row.get(3)?,
        sender: row.get(4)?,
        sender_domain: row.get(5)?,
        from_id: row.get(6)?,
        recipient: row.get(7)?,
        recipient_domain: row.get(8)?,
        attempts: row.get(9)?,
        max_attempts: row.get(10)?,
        dialed_ips: json(row, 11)?,
        next_attempt: std::time::UNIX_EPOCH,
        last_attempt: row.get::<_, Option<i64>>(12)?.map(from_ms),
        results: json(row, 13)?,
        has_8bit: row.get(14)?,
        smtputf8: row.get(15)?,
        size: row.get(16)?,
        message_id: row.get(17)?,
        subject: row.get(18)?,
        transport: row.get(19)?,
        require_tls,
        future_release: row.get(21)?,
        extra: json(row, 22)?,
        dsn: DsnParams {
            notify,
            ret,
            envid: row.get(25)?,
            orcpt,
        },
        lease_owner: String::new(),
        lease_until: None,
    })
}

pub(crate) fn read_msg(row: &Row<'_>) -> rusqlite::Result<QueuedMessage> {
    let mut m = read_common(row)?;
    m.body_id = row.get(COMMON_COUNT)?;
    m.hold = row.get(COMMON_COUNT + 1)?;
    m.next_attempt = from_ms(row.get(COMMON_COUNT + 2)?);
    m.lease_owner = row.get(COMMON_COUNT + 3)?;
    m.lease_until = row.get::<_, Option<i64>>(COMMON_COUNT + 4)?.map(from_ms);
    Ok(m)
}

pub(crate) fn read_retired(row: &Row<'_>) -> rusqlite::Result<RetiredMessage> {
    let message = read_common(row)?;
    let event: String = row.get(COMMON_COUNT)?;
    Ok(RetiredMessage {
        message,
        event: Event::parse(&event),
        success: row.get(COMMON_COUNT + 1)?,
        last_activity: from_ms(row.get(COMMON_COUNT + 2)?),
        keep_until: from_ms(row.get(COMMON_COUNT + 3)?),
        by_admin: row.get(COMMON_COUNT + 4)?,
    })
}

/// The values of the common columns, in `COMMON_COLS` order.
pub(crate) fn common_values(m: &QueuedMessage) -> Result<Vec<Value>, StoreError> {
    let to_json = |field: &'static str, v: serde_json::Result<String>| {
        v.map_err(|e| StoreError::Corrupt {
            id: m.id,
            field,
            reason: e.to_string(),
        })
    };
    Ok(vec![
        Value::Integer(m.id),
        Value::Integer(m.base_id),
        Value::Integer(to_ms(m.queued)),
        Value::Text(m.account.clone()),
        Value::Text(m.sender.clone()),
        Value::Text(m.sender_domain.clone()),
        Value::Text(m.from_id.clone()),
        Value::Text(m.recipient.clone()),
        Value::Text(m.recipient_domain.clone()),
        Value::Integer(i64::from(m.attempts)),
        Value::Integer(i64::from(m.max_attempts)),
        Value::Text(to_json("dialed_ips", serde_json::to_string(&m.dialed_ips))?),
        m.last_attempt
            .map_or(Value::Null, |t| Value::Integer(to_ms(t))),
        Value::Text(to_json("results", serde_json::to_string(&m.results))?),
        Value::Integer(i64::from(m.has_8bit)),
        Value::Integer(i64::from(m.smtputf8)),
        Value::Integer(m.size),
        Value::Text(m.message_id.clone()),
        Value::Text(m.subject.clone()),
        Value::Text(m.transport.clone()),
        m.require_tls
            .map_or(Value::Null, |b| Value::Integer(i64::from(b))),
        Value::Text(m.future_release.clone()),
        Value::Text(to_json("extra", serde_json::to_string(&m.extra))?),
        Value::Text(m.dsn.notify.to_string()),
        Value::Text(m.dsn.ret.map(|r| r.to_string()).unwrap_or_default()),
        Value::Text(m.dsn.envid.clone()),
        Value::Text(m.dsn.orcpt.to_param()),
    ])
}

pub(crate) fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes a queue row back (all columns but id).
pub(crate) fn update_msg(conn: &Connection, m: &QueuedMessage) -> Result<(), StoreError> {
    let mut values = common_values(m)?;
    values.push(Value::Integer(m.body_id));
    values.push(Value::Integer(i64::from(m.hold)));
    values.push(Value::Integer(to_ms(m.next_attempt)));
    values.push(Value::Text(m.lease_owner.clone()));
    values.push(
        m.lease_until
            .map_or(Value::Null, |t| Value::Integer(to_ms(t))),
    );
    let sql = format!(
        "REPLACE INTO msgs ({}) VALUES ({})",
        msg_cols(),
        placeholders(values.len())
    );
    conn.prepare_cached(&sql)
        .and_then(|mut st| st.execute(rusqlite::params_from_iter(values)))
        .map_err(db("writing queue row"))?;
    Ok(())
}

/// Builds a WHERE clause.
#[derive(Default)]
pub(crate) struct Where {
    parts: Vec<String>,
    pub(crate) values: Vec<Value>,
}

impl Where {
    pub(crate) fn add(&mut self, sql: &str, values: Vec<Value>) {
        let mut text = sql.to_string();
        for v in values {
            self.values.push(v);
            let n = self.values.len();
            text = text.replacen("{}", &format!("?{n}"), 1);
        }
        self.parts.push(text);
    }

    pub(crate) fn sql(&self) -> String {
        if self.parts.is_empty() {
            "1".into()
        } else {
            self.parts.join(" AND ")
        }
    }

    fn time_bound(&mut self, column: &str, bound: Option<TimeBound>) {
        match bound {
            Some(TimeBound::Before(t)) => {
                self.add(&format!("{column} < {{}}"), vec![Value::Integer(to_ms(t))])
            }
            Some(TimeBound::After(t)) => {
                self.add(&format!("{column} > {{}}"), vec![Value::Integer(to_ms(t))])
            }
            None => {}
        }
    }

    fn common(
        &mut self,
        ids: &[i64],
        account: &str,
        from: &str,
        to: &str,
        transport: &Option<String>,
    ) {
        if !ids.is_empty() {
            let list = ids
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",");
            self.parts.push(format!("id IN ({list})"));
        }
        if !account.is_empty() {
            self.add("account = {}", vec![Value::Text(account.into())]);
        }
        if !from.is_empty() {
            self.add("instr(sender, {}) > 0", vec![Value::Text(from.into())]);
        }
        if !to.is_empty() {
            self.add("instr(recipient, {}) > 0", vec![Value::Text(to.into())]);
        }
        if let Some(t) = transport {
            self.add("transport = {}", vec![Value::Text(t.clone())]);
        }
    }

    pub(crate) fn queue(filter: &Filter) -> Where {
        let mut w = Where::default();
        w.common(
            &filter.ids,
            &filter.account,
            &filter.from,
            &filter.to,
            &filter.transport,
        );
        if let Some(h) = filter.hold {
            w.add("hold = {}", vec![Value::Integer(i64::from(h))]);
        }
        w.time_bound("queued", filter.submitted);
        w.time_bound("next_attempt", filter.next_attempt);
        w
    }

    pub(crate) fn history(filter: &HistoryFilter) -> Where {
        let mut w = Where::default();
        w.common(
            &filter.ids,
            &filter.account,
            &filter.from,
            &filter.to,
            &filter.transport,
        );
        if !filter.envid.is_empty() {
            w.add("envid = {}", vec![Value::Text(filter.envid.clone())]);
        }
        if !filter.message_id.is_empty() {
            w.add(
                "message_id = {}",
                vec![Value::Text(filter.message_id.clone())],
            );
        }
        if let Some(s) = filter.success {
            w.add("success = {}", vec![Value::Integer(i64::from(s))]);
        }
        w.time_bound("queued", filter.submitted);
        w.time_bound("last_activity", filter.last_activity);
        w
    }

    /// Adds the keyset condition and returns the ORDER BY clause.
    pub(crate) fn keyset(
        &mut self,
        column: &str,
        asc: bool,
        after: Option<(std::time::SystemTime, i64)>,
    ) -> String {
        let (cmp, dir) = if asc { (">", "ASC") } else { ("<", "DESC") };
        if let Some((t, id)) = after {
            self.add(
                &format!("({column} {cmp} {{}} OR ({column} = {{}} AND id {cmp} {{}}))"),
                vec![
                    Value::Integer(to_ms(t)),
                    Value::Integer(to_ms(t)),
                    Value::Integer(id),
                ],
            );
        }
        format!("ORDER BY {column} {dir}, id {dir}")
    }
}

pub(crate) fn limit(max: usize) -> String {
    if max == 0 {
        String::new()
    } else {
        format!(" LIMIT {max}")
    }
}
