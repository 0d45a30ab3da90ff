//! Admin commands over a data directory's stores: queue, history, hold
//! rules, suppressions and accounts. Each writes human-readable lines, or
//! JSON for listings with `--json`. A running server sees the changes
//! because it re-reads the store.

use std::io::Write;
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use mailbox::{MailboxStore, NewAccount};
use queue::{
    Filter, HistoryFilter, HistorySort, HistorySortField, HoldRule, QueuedMessage, RetiredMessage,
    Sort, SortField, Store, Suppression,
};
use serde_json::{Value, json};
use smtpserver::{format_rfc3339, parse_rfc3339};

use crate::config::values::parse_duration;
use crate::stores::Stores;

/// Selection and paging options of queue commands.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Selection {
    /// Only messages of this account.
    #[arg(long)]
    pub account: Option<String>,
    /// Sender contains this text.
    #[arg(long)]
    pub from: Option<String>,
    /// Recipient contains this text.
    #[arg(long)]
    pub to: Option<String>,
    /// Only these message ids.
    #[arg(long = "id")]
    pub ids: Vec<i64>,
    /// Only held messages.
    #[arg(long, conflicts_with = "not_held")]
    pub held: bool,
    /// Only messages not held.
    #[arg(long)]
    pub not_held: bool,
    /// Only messages with this transport ("" = the routes).
    #[arg(long)]
    pub transport: Option<String>,
    /// At most this many messages.
    #[arg(long)]
    pub max: Option<usize>,
    /// Queued before/after a time relative to now: "<-1h", ">-10m", "<now".
    #[arg(long, allow_hyphen_values = true)]
    pub submitted: Option<String>,
    /// Queue: next attempt before/after, e.g. "<now" (due); history: last
    /// activity before/after.
    #[arg(long, allow_hyphen_values = true)]
    pub when: Option<String>,
    /// History: only successful (yes) or failed (no) deliveries.
    #[arg(long)]
    pub success: Option<bool>,
    /// Act on every message when no other selection is given.
    #[arg(long)]
    pub all: bool,
}

impl Selection {
    fn is_empty(&self) -> bool {
        self.account.is_none()
            && self.from.is_none()
            && self.to.is_none()
            && self.ids.is_empty()
            && !self.held
            && !self.not_held
            && self.transport.is_none()
            && self.submitted.is_none()
            && self.when.is_none()
    }

    fn bound(value: &Option<String>) -> anyhow::Result<Option<queue::TimeBound>> {
        value
            .as_deref()
            .map(|v| {
                queue::parse_time_bound(v, SystemTime::now())
                    .with_context(|| format!("bad time filter {v:?}"))
            })
            .transpose()
    }

    /// The queue filter.
    pub fn filter(&self) -> anyhow::Result<Filter> {
        Ok(Filter {
            max: self.max.unwrap_or(0),
            ids: self.ids.clone(),
            account: self.account.clone().unwrap_or_default(),
            from: self.from.clone().unwrap_or_default(),
            to: self.to.clone().unwrap_or_default(),
            hold: if self.held {
                Some(true)
            } else if self.not_held {
                Some(false)
            } else {
                None
            },
            transport: self.transport.clone(),
            submitted: Self::bound(&self.submitted)?,
            next_attempt: Self::bound(&self.when)?,
        })
    }

    /// The history filter.
    pub fn history_filter(&self) -> anyhow::Result<HistoryFilter> {
        Ok(HistoryFilter {
            max: self.max.unwrap_or(0),
            ids: self.ids.clone(),
            account: self.account.clone().unwrap_or_default(),
            from: self.from.clone().unwrap_or_default(),
            to: self.to.clone().unwrap_or_default(),
            transport: self.transport.clone(),
            submitted: Self::bound(&self.submitted)?,
            last_activity: Self::bound(&self.when)?,
            success: self.success,
            ..HistoryFilter::default()
        })
    }

    /// The filter of a command that changes messages: refuses an empty
    /// selection without `--all`.
    fn changing(&self) -> anyhow::Result<Filter> {
        if self.is_empty() && !self.all {
            bail!(
                "no messages selected: give --id, --account, --from, --to, --held, --transport, --submitted, --when, or --all"
            );
        }
        self.filter()
    }
}

/// Paging options.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Paging {
    /// Continue after this message id (from the previous page).
    #[arg(long)]
    pub after_id: Option<i64>,
    /// The sort value of that message (RFC 3339); looked up when omitted.
    #[arg(long, requires = "after_id")]
    pub last: Option<String>,
    /// Oldest first.
    #[arg(long, conflicts_with = "desc")]
    pub asc: bool,
    /// Newest first.
    #[arg(long)]
    pub desc: bool,
    /// Sort by queued time instead of next attempt (queue) or last activity (history).
    #[arg(long)]
    pub by_queued: bool,
}

fn time(t: SystemTime) -> String {
    format_rfc3339(t)
}

fn tri(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "default",
    }
}

/// A queue row as JSON.
pub fn message_json(m: &QueuedMessage) -> Value {
    json!({
        "id": m.id,
        "base_id": m.base_id,
        "queued": time(m.queued),
        "hold": m.hold,
        "account": m.account,
        "sender": m.sender,
        "from_id": m.from_id,
        "recipient": m.recipient,
        "attempts": m.attempts,
        "max_attempts": m.max_attempts,
        "next_attempt": time(m.next_attempt),
        "last_attempt": m.last_attempt.map(time),
        "size": m.size,
        "message_id": m.message_id,
        "subject": m.subject,
        "transport": m.transport,
        "require_tls": m.require_tls,
        "future_release": m.future_release,
        "extra": m.extra,
        "dsn": {
            "notify": m.dsn.notify.to_string(),
            "ret": m.dsn.ret.map(|r| r.to_string()),
            "envid": m.dsn.envid,
            "orcpt": format!("{};{}", m.dsn.orcpt.addr_type, m.dsn.orcpt.address),
        },
        "results": m.results.iter().map(|r| json!({
            "start": time(r.start()),
            "duration_ms": r.duration_ms,
            "success": r.success,
            "code": r.code,
            "enhanced_code": r.enhanced_code,
            "mx_host": r.mx_host,
            "ip": r.ip,
            "error": r.error,
        })).collect::<Vec<_>>(),
    })
}

fn retired_json(r: &RetiredMessage) -> Value {
    let mut v = message_json(&r.message);
    if let Some(o) = v.as_object_mut() {
        o.remove("hold");
        o.remove("next_attempt");
        o.insert("event".into(), json!(r.event.as_str()));
        o.insert("success".into(), json!(r.success));
        o.insert("last_activity".into(), json!(time(r.last_activity)));
        o.insert("keep_until".into(), json!(time(r.keep_until)));
    }
    v
}

fn message_line(m: &QueuedMessage) -> String {
    let mut s = format!(
        "{} {} <{}> -> <{}> attempts {} next {}",
        m.id,
        m.account,
        m.sender,
        m.recipient,
        m.attempts,
        time(m.next_attempt)
    );
    if m.hold {
        s.push_str(" held");
    }
    if !m.transport.is_empty() {
        s.push_str(&format!(" transport {}", m.transport));
    }
    if m.require_tls.is_some() {
        s.push_str(&format!(" requiretls {}", tri(m.require_tls)));
    }
    s
}

/// The keyset position after which a page starts: `--after-id` with the
/// sort key from `--last`, or else looked up for that row by `sort_key`.
fn keyset_after(
    paging: &Paging,
    sort_key: impl FnOnce(i64) -> anyhow::Result<SystemTime>,
) -> anyhow::Result<Option<(SystemTime, i64)>> {
    let Some(id) = paging.after_id else {
        return Ok(None);
    };
    let key = match &paging.last {
        Some(t) => {
            parse_rfc3339(t).with_context(|| format!("--last {t:?} is not an RFC 3339 time"))?
        }
        None => sort_key(id)?,
    };
    Ok(Some((key, id)))
}

/// `postel queue list`.
pub fn queue_list(
    stores: &Stores,
    sel: &Selection,
    paging: &Paging,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let field = if paging.by_queued {
        SortField::Queued
    } else {
        SortField::NextAttempt
    };
    let after = keyset_after(paging, |id| {
        let m = stores
            .queue
            .get(id)?
            .with_context(|| format!("message {id} is not in the queue; give --last"))?;
        Ok(match field {
            SortField::Queued => m.queued,
            SortField::NextAttempt => m.next_attempt,
        })
    })?;
    let sort = Sort {
        field,
        asc: !paging.desc,
        after,
    };
    let rows = stores.queue.list(&sel.filter()?, &sort)?;
    if as_json {
        let v: Vec<Value> = rows.iter().map(message_json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else if rows.is_empty() {
        writeln!(out, "queue is empty")?;
    } else {
        for m in &rows {
            writeln!(out, "{}", message_line(m))?;
        }
    }
    Ok(())
}

/// `postel queue show ID`.
pub fn queue_show(stores: &Stores, id: i64, out: &mut dyn Write) -> anyhow::Result<()> {
    let m = stores
        .queue
        .get(id)?
        .with_context(|| format!("message {id} is not in the queue"))?;
    writeln!(out, "{}", serde_json::to_string_pretty(&message_json(&m))?)?;
    Ok(())
}

/// `postel queue history`.
pub fn queue_history(
    stores: &Stores,
    sel: &Selection,
    paging: &Paging,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let field = if paging.by_queued {
        HistorySortField::Queued
    } else {
        HistorySortField::LastActivity
    };
    let after = keyset_after(paging, |id| {
        let r = stores
            .queue
            .history(
                &HistoryFilter {
                    ids: vec![id],
                    ..HistoryFilter::default()
                },
                &HistorySort::default(),
            )?
            .into_iter()
            .next()
            .with_context(|| format!("message {id} is not in the history; give --last"))?;
        Ok(match field {
            HistorySortField::Queued => r.message.queued,
            HistorySortField::LastActivity => r.last_activity,
        })
    })?;
    let sort = HistorySort {
        field,
        asc: paging.asc,
        after,
    };
    let rows = stores.queue.history(&sel.history_filter()?, &sort)?;
    if as_json {
        let v: Vec<Value> = rows.iter().map(retired_json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else if rows.is_empty() {
        writeln!(out, "history is empty")?;
    } else {
        for r in &rows {
            let m = &r.message;
            writeln!(
                out,
                "{} {} <{}> -> <{}> {} attempts {} last activity {}",
                m.id,
                m.account,
                m.sender,
                m.recipient,
                r.event.as_str(),
                m.attempts,
                time(r.last_activity)
            )?;
        }
    }
    Ok(())
}

fn count_line(out: &mut dyn Write, n: u64, what: &str) -> anyhow::Result<()> {
    let noun = if n == 1 { "message" } else { "messages" };
    writeln!(out, "{n} {noun} {what}")?;
    Ok(())
}

/// `postel queue hold` / `release`.
pub fn queue_hold(
    stores: &Stores,
    sel: &Selection,
    hold: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let n = stores.queue.hold_set(&sel.changing()?, hold)?;
    count_line(out, n, if hold { "held" } else { "released" })
}

/// `postel queue schedule`: `--now` or a duration to add ("-1h", "30m").
pub fn queue_schedule(
    stores: &Stores,
    sel: &Selection,
    now: bool,
    duration: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let filter = sel.changing()?;
    let n = if now {
        stores.queue.next_attempt_set(&filter, SystemTime::now())?
    } else {
        let Some(d) = duration else {
            bail!("give --now or a duration such as 30m or -1h");
        };
        let (neg, rest) = match d.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, d.strip_prefix('+').unwrap_or(d)),
        };
        let dur = parse_duration(rest)
            .with_context(|| format!("{d:?} is not a duration such as 30m or -1h"))?;
        let ms = i64::try_from(dur.as_millis()).unwrap_or(i64::MAX);
        stores
            .queue
            .next_attempt_add(&filter, if neg { -ms } else { ms })?
    };
    count_line(out, n, "rescheduled")
}

/// `postel queue retry`: due now and released.
pub fn queue_retry(stores: &Stores, sel: &Selection, out: &mut dyn Write) -> anyhow::Result<()> {
    let filter = sel.changing()?;
    stores.queue.hold_set(&filter, false)?;
    let n = stores.queue.next_attempt_set(&filter, SystemTime::now())?;
    count_line(out, n, "scheduled for delivery now")
}

/// `postel queue transport NAME`.
pub fn queue_transport(
    stores: &Stores,
    sel: &Selection,
    name: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let n = stores.queue.transport_set(&sel.changing()?, name)?;
    count_line(out, n, "changed")
}

/// `postel queue requiretls yes|no|default`.
pub fn queue_requiretls(
    stores: &Stores,
    sel: &Selection,
    value: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let v = match value {
        "yes" => Some(true),
        "no" => Some(false),
        "default" => None,
        other => bail!("requiretls takes yes, no or default, not {other:?}"),
    };
    let n = stores.queue.require_tls_set(&sel.changing()?, v)?;
    count_line(out, n, "changed")
}

/// `postel queue drop`.
pub fn queue_drop(stores: &Stores, sel: &Selection, out: &mut dyn Write) -> anyhow::Result<()> {
    let n = stores.queue.drop_messages(&sel.changing()?)?;
    count_line(out, n, "dropped")
}

/// `postel queue fail`: fails the messages and writes their failure DSNs
/// (NOTIFY respected) as the engine does for its own final failures.
pub fn queue_fail(
    stores: &Stores,
    sel: &Selection,
    engine: &queue::engine::EngineConfig,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    // The DSNs are written as the rows fail, so their `failed` webhooks name them.
    let writer = queue::engine::admin_failure_dsn_writer(engine, stores.mailbox.clone());
    let failed = stores.queue.fail_with_dsns(&sel.changing()?, writer)?;
    let written = failed.iter().filter(|f| f.dsn_msg_id != 0).count();
    let n = failed.len();
    let noun = if n == 1 { "message" } else { "messages" };
    let dsns = if written == 1 { "DSN" } else { "DSNs" };
    writeln!(out, "{n} {noun} failed, {written} failure {dsns} written")?;
    Ok(())
}

fn rule_line(r: &HoldRule) -> String {
    let any = |s: &str| {
        if s.is_empty() {
            "*".to_string()
        } else {
            s.to_string()
        }
    };
    format!(
        "{} account {} sender domain {} recipient domain {}",
        r.id,
        any(&r.account),
        any(&r.sender_domain),
        any(&r.recipient_domain)
    )
}

/// `postel holdrule list`.
pub fn holdrule_list(stores: &Stores, as_json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let rules = stores.queue.hold_rules()?;
    if as_json {
        let v: Vec<Value> = rules
            .iter()
            .map(|r| json!({"id": r.id, "account": r.account, "sender_domain": r.sender_domain, "recipient_domain": r.recipient_domain}))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else if rules.is_empty() {
        writeln!(out, "no hold rules")?;
    } else {
        for r in &rules {
            writeln!(out, "{}", rule_line(r))?;
        }
    }
    Ok(())
}

/// `postel holdrule add`.
pub fn holdrule_add(stores: &Stores, rule: HoldRule, out: &mut dyn Write) -> anyhow::Result<()> {
    let id = stores.queue.hold_rule_add(rule)?;
    writeln!(out, "hold rule {id} added")?;
    Ok(())
}

/// `postel holdrule remove`.
pub fn holdrule_remove(stores: &Stores, id: i64, out: &mut dyn Write) -> anyhow::Result<()> {
    stores.queue.hold_rule_remove(id)?;
    writeln!(out, "hold rule {id} removed (messages it held stay held)")?;
    Ok(())
}

fn suppression_json(s: &Suppression) -> Value {
    json!({
        "id": s.id, "created": time(s.created), "account": s.account,
        "base_address": s.base_address, "original_address": s.original_address,
        "manual": s.manual, "reason": s.reason,
    })
}

fn suppression_line(s: &Suppression) -> String {
    format!(
        "{} {} {} ({}{})",
        s.account,
        s.base_address,
        s.original_address,
        if s.manual { "manual" } else { "automatic" },
        if s.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", s.reason)
        }
    )
}

/// `postel suppression list`.
pub fn suppression_list(
    stores: &Stores,
    account: &str,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let list = stores.queue.suppressions(account)?;
    if as_json {
        let v: Vec<Value> = list.iter().map(suppression_json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else if list.is_empty() {
        writeln!(out, "no suppressions")?;
    } else {
        for s in &list {
            writeln!(out, "{}", suppression_line(s))?;
        }
    }
    Ok(())
}

/// `postel suppression add`.
pub fn suppression_add(
    stores: &Stores,
    account: &str,
    address: &str,
    reason: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let s = stores.queue.suppression_add(account, address, reason)?;
    writeln!(
        out,
        "suppressed {} for account {}",
        s.base_address, s.account
    )?;
    Ok(())
}

/// `postel suppression remove`.
pub fn suppression_remove(
    stores: &Stores,
    account: &str,
    address: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    stores.queue.suppression_remove(account, address)?;
    writeln!(
        out,
        "removed suppression of {address} for account {account}"
    )?;
    Ok(())
}

/// `postel suppression lookup`.
pub fn suppression_lookup(
    stores: &Stores,
    account: &str,
    address: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match stores.queue.suppression_lookup(account, address)? {
        Some(s) => writeln!(out, "{}", suppression_line(&s))?,
        None => writeln!(out, "{address} is not suppressed for account {account}")?,
    }
    Ok(())
}

/// `postel account add NAME ADDRESS...`.
pub fn account_add(
    stores: &Stores,
    name: &str,
    addresses: &[String],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let a = stores.mailbox.create_account(&NewAccount {
        name: name.to_string(),
        addresses: addresses.to_vec(),
        ..NewAccount::default()
    })?;
    writeln!(
        out,
        "account {} added with {}; set its password with `postel account password {}`",
        a.name,
        a.addresses.join(", "),
        a.name
    )?;
    Ok(())
}

/// `postel account password NAME`: the password is the first line of `input`.
pub fn account_password(
    stores: &Stores,
    name: &str,
    input: &mut dyn std::io::BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.len() < 8 {
        bail!("password too short: use at least 8 characters");
    }
    stores.mailbox.set_password(name, password)?;
    writeln!(out, "password of account {name} set")?;
    Ok(())
}

/// `postel account list`.
pub fn account_list(stores: &Stores, as_json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let accounts = stores.mailbox.accounts()?;
    if as_json {
        let v: Vec<Value> = accounts
            .iter()
            .map(|a| json!({"name": a.name, "addresses": a.addresses, "disabled": a.disabled, "has_password": a.has_password, "cram_md5": a.cram_md5}))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else if accounts.is_empty() {
        writeln!(out, "no accounts")?;
    } else {
        for a in &accounts {
            let mut flags = Vec::new();
            if !a.has_password {
                flags.push("no password");
            }
            if a.disabled {
                flags.push("disabled");
            }
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!(" ({})", flags.join(", "))
            };
            writeln!(out, "{} {}{}", a.name, a.addresses.join(" "), flags)?;
        }
    }
    Ok(())
}
