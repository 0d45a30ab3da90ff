//! The per-account daily limits (the reference's MaxOutgoingMessagesPerDay
//! and MaxFirstTimeRecipientsPerDay), counted from the queue and its
//! history over the last 24 hours.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use queue::{Filter, HistoryFilter, HistorySort, Sort, Store, StoreError, TimeBound};

const DAY: Duration = Duration::from_secs(24 * 3600);
/// Rows looked at when counting first-time recipients.
const SCAN_CAP: usize = 200_000;

/// Which limit a submission would exceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    /// Messages per day, with the limit.
    Messages(u64),
    /// First-time recipients per day, with the limit.
    FirstTime(u64),
}

/// Checks whether adding `recipients` (wire form, as stored) for `account`
/// stays within the limits (0 = unlimited).
pub fn check(
    store: &dyn Store,
    account: &str,
    recipients: &[String],
    messages_per_day: u64,
    first_time_per_day: u64,
    now: SystemTime,
) -> Result<Option<Exceeded>, StoreError> {
    let since = now.checked_sub(DAY).unwrap_or(SystemTime::UNIX_EPOCH);
    let new = recipients.len() as u64;
    if messages_per_day > 0 {
        let queued = store.count(&Filter {
            account: account.to_string(),
            submitted: Some(TimeBound::After(since)),
            ..Filter::default()
        })?;
        let cap = usize::try_from(messages_per_day.saturating_add(1)).unwrap_or(usize::MAX);
        let retired = store
            .history(
                &HistoryFilter {
                    account: account.to_string(),
                    submitted: Some(TimeBound::After(since)),
                    max: cap,
                    ..HistoryFilter::default()
                },
                &HistorySort::default(),
            )?
            .len() as u64;
        if queued + retired + new > messages_per_day {
            return Ok(Some(Exceeded::Messages(messages_per_day)));
        }
    }
    if first_time_per_day > 0 {
        // First time each recipient was queued by this account (within what
        // the queue and the retained history know).
        let mut first: BTreeMap<String, SystemTime> = BTreeMap::new();
        let mut note = |rcpt: &str, at: SystemTime| {
            let e = first.entry(rcpt.to_lowercase()).or_insert(at);
            if at < *e {
                *e = at;
            }
        };
        for m in store.list(
            &Filter {
                account: account.to_string(),
                max: SCAN_CAP,
                ..Filter::default()
            },
            &Sort::default(),
        )? {
            note(&m.recipient, m.queued);
        }
        for r in store.history(
            &HistoryFilter {
                account: account.to_string(),
                max: SCAN_CAP,
                ..HistoryFilter::default()
            },
            &HistorySort::default(),
        )? {
            note(&r.message.recipient, r.message.queued);
        }
        let fresh: Vec<&String> = recipients
            .iter()
            .filter(|r| !first.contains_key(&r.to_lowercase()))
            .collect();
        if !fresh.is_empty() {
            let recent = first.values().filter(|t| **t > since).count() as u64;
            if recent + fresh.len() as u64 > first_time_per_day {
                return Ok(Some(Exceeded::FirstTime(first_time_per_day)));
            }
        }
    }
    Ok(None)
}
