//! The per-account daily limits (the reference's MaxOutgoingMessagesPerDay
//! and MaxFirstTimeRecipientsPerDay) over a sliding 24 hours.
//!
//! Counting in the store for every message would scan the account's rows
//! each time, so a [`Tracker`] loads an account's recent sends and known
//! recipients from the queue and its history once, then keeps them up to
//! date as this process enqueues. Submissions through other nodes after
//! the load are not seen until a restart (the limits are a brake against
//! runaway senders, not an exact quota). The process keeps one tracker
//! ([`crate::stores::Stores::limits`]) for the web API and SMTP
//! submission alike.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use queue::{Filter, HistoryFilter, HistorySort, Sort, Store, StoreError};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Which limit a submission would exceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    /// Messages per day, with the limit.
    Messages(u64),
    /// First-time recipients per day, with the limit.
    FirstTime(u64),
}

#[derive(Default)]
struct AccountState {
    /// Queued times of messages (one per recipient) in the last 24 h.
    sends: VecDeque<SystemTime>,
    /// Recipient (lower case) → when it was first sent to.
    first_seen: HashMap<String, SystemTime>,
    /// Times of first sends in the last 24 h.
    recent_first: VecDeque<SystemTime>,
}

impl AccountState {
    fn expire(&mut self, since: SystemTime) {
        while self.sends.front().is_some_and(|t| *t <= since) {
            self.sends.pop_front();
        }
        while self.recent_first.front().is_some_and(|t| *t <= since) {
            self.recent_first.pop_front();
        }
    }
}

/// Per-account send counters, loaded lazily from the store.
#[derive(Default)]
pub struct Tracker {
    accounts: Mutex<HashMap<String, AccountState>>,
}

fn load(store: &dyn Store, account: &str, since: SystemTime) -> Result<AccountState, StoreError> {
    let mut times: Vec<(String, SystemTime)> = store
        .list(
            &Filter {
                account: account.to_string(),
                ..Filter::default()
            },
            &Sort::default(),
        )?
        .into_iter()
        .map(|m| (m.recipient.to_lowercase(), m.queued))
        .collect();
    times.extend(
        store
            .history(
                &HistoryFilter {
                    account: account.to_string(),
                    ..HistoryFilter::default()
                },
                &HistorySort::default(),
            )?
            .into_iter()
            .map(|r| (r.message.recipient.to_lowercase(), r.message.queued)),
    );
    times.sort_by_key(|(_, t)| *t);
    let mut state = AccountState::default();
    for (rcpt, t) in times {
        if t > since {
            state.sends.push_back(t);
        }
        if let std::collections::hash_map::Entry::Vacant(e) = state.first_seen.entry(rcpt) {
            e.insert(t);
            if t > since {
                state.recent_first.push_back(t);
            }
        }
    }
    Ok(state)
}

/// The limit that adding `recipients` to a loaded `state` would exceed.
fn evaluate(
    state: &mut AccountState,
    recipients: &[String],
    messages_per_day: u64,
    first_time_per_day: u64,
    since: SystemTime,
) -> Option<Exceeded> {
    state.expire(since);
    let new = recipients.len() as u64;
    if messages_per_day > 0 && state.sends.len() as u64 + new > messages_per_day {
        return Some(Exceeded::Messages(messages_per_day));
    }
    if first_time_per_day > 0 {
        let mut fresh: Vec<String> = recipients
            .iter()
            .map(|r| r.to_lowercase())
            .filter(|r| !state.first_seen.contains_key(r))
            .collect();
        fresh.sort();
        fresh.dedup();
        if !fresh.is_empty()
            && state.recent_first.len() as u64 + fresh.len() as u64 > first_time_per_day
        {
            return Some(Exceeded::FirstTime(first_time_per_day));
        }
    }
    None
}

impl Tracker {
    /// Whether adding `recipients` for `account` at `now` stays within the
    /// limits (0 = unlimited). Blocking on the first call per account.
    pub fn check(
        &self,
        store: &dyn Store,
        account: &str,
        recipients: &[String],
        messages_per_day: u64,
        first_time_per_day: u64,
        now: SystemTime,
    ) -> Result<Option<Exceeded>, StoreError> {
        if messages_per_day == 0 && first_time_per_day == 0 {
            return Ok(None);
        }
        let since = now.checked_sub(DAY).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if !accounts.contains_key(account) {
            let state = load(store, account, since)?;
            accounts.insert(account.to_string(), state);
        }
        Ok(accounts.get_mut(account).and_then(|state| {
            evaluate(
                state,
                recipients,
                messages_per_day,
                first_time_per_day,
                since,
            )
        }))
    }

    /// [`Tracker::check`] without the store: the answer when it needs no
    /// load (limits unlimited, or the account counted already), `None`
    /// when only [`Tracker::check`] can tell. Never blocks on I/O, so the
    /// submission path asks here first and skips a blocking-thread hop
    /// for every message but an account's first.
    pub fn check_loaded(
        &self,
        account: &str,
        recipients: &[String],
        messages_per_day: u64,
        first_time_per_day: u64,
        now: SystemTime,
    ) -> Option<Option<Exceeded>> {
        if messages_per_day == 0 && first_time_per_day == 0 {
            return Some(None);
        }
        let since = now.checked_sub(DAY).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let state = accounts.get_mut(account)?;
        Some(evaluate(
            state,
            recipients,
            messages_per_day,
            first_time_per_day,
            since,
        ))
    }

    /// Counts an accepted submission (only for accounts already loaded by
    /// [`Tracker::check`]).
    pub fn record(&self, account: &str, recipients: &[String], now: SystemTime) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let Some(state) = accounts.get_mut(account) else {
            return;
        };
        for r in recipients {
            state.sends.push_back(now);
            if let std::collections::hash_map::Entry::Vacant(e) =
                state.first_seen.entry(r.to_lowercase())
            {
                e.insert(now);
                state.recent_first.push_back(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use queue::{Options, SqliteStore, Submission, TestClock};
    use smtp::Address;
    use std::sync::Arc;

    #[test]
    fn counts_come_from_the_store_and_slide_out_after_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = Arc::new(TestClock::new(t0));
        let store = SqliteStore::open(
            dir.path().join("q.db"),
            Options {
                clock: clock.clone(),
                ..Options::default()
            },
        )
        .unwrap();
        let rcpts = vec![
            Address::parse("a@example.com").unwrap(),
            Address::parse("b@example.com").unwrap(),
        ];
        store
            .enqueue(Submission::new("app", None, rcpts, b"x".to_vec()))
            .unwrap();
        let tracker = Tracker::default();
        let c = vec!["c@example.com".to_string()];
        let a = vec!["A@example.com".to_string()];
        let hour = Duration::from_secs(3600);
        // Unlimited needs no load; limited needs one before the fast path answers.
        assert_eq!(tracker.check_loaded("app", &c, 0, 0, t0 + hour), Some(None));
        assert_eq!(tracker.check_loaded("app", &c, 2, 0, t0 + hour), None);
        assert_eq!(
            tracker.check(&store, "app", &c, 2, 0, t0 + hour).unwrap(),
            Some(Exceeded::Messages(2))
        );
        assert_eq!(
            tracker.check(&store, "app", &c, 0, 2, t0 + hour).unwrap(),
            Some(Exceeded::FirstTime(2))
        );
        assert_eq!(
            tracker.check_loaded("app", &c, 2, 0, t0 + hour),
            Some(Some(Exceeded::Messages(2)))
        );
        assert_eq!(
            tracker.check(&store, "app", &a, 0, 2, t0 + hour).unwrap(),
            None
        );
        assert_eq!(
            tracker.check(&store, "app", &c, 3, 3, t0 + hour).unwrap(),
            None
        );
        tracker.record("app", &c, t0 + hour);
        assert_eq!(
            tracker.check(&store, "app", &a, 3, 0, t0 + hour).unwrap(),
            Some(Exceeded::Messages(3))
        );
        // A day after the first two, only the third one counts.
        assert_eq!(
            tracker
                .check(&store, "app", &a, 2, 1, t0 + 24 * hour + hour / 2)
                .unwrap(),
            None
        );
        assert_eq!(
            tracker
                .check(
                    &store,
                    "app",
                    &["d@example.com".to_string()],
                    0,
                    1,
                    t0 + 24 * hour + hour / 2
                )
                .unwrap(),
            Some(Exceeded::FirstTime(1))
        );
    }
}
