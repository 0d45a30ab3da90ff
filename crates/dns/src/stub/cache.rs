//! A small positive cache of responses, honouring their TTLs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use tokio::time::Instant;

/// Responses with answers, kept until the smallest TTL of their answer
/// records runs out (at most `max_ttl`). Negative answers and failures are
/// not cached: they should be retried promptly, and the resolver behind us
/// caches them anyway.
pub(crate) struct Cache {
    max_entries: usize,
    max_ttl: Duration,
    entries: Mutex<HashMap<(String, RecordType), (Instant, Message)>>,
}

impl Cache {
    pub(crate) fn new(max_entries: usize, max_ttl: Duration) -> Self {
        Self {
            max_entries,
            max_ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, name: &str, rtype: RecordType) -> Option<Message> {
        if self.max_entries == 0 {
            return None;
        }
        let mut entries = self.entries.lock().ok()?;
        let key = (name.to_owned(), rtype);
        match entries.get(&key) {
            Some((expires, msg)) if *expires > Instant::now() => Some(msg.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Stores `msg` for `name`/`rtype` if it has answers with a TTL above 0.
    pub(crate) fn put(&self, name: &str, rtype: RecordType, msg: &Message) {
        if self.max_entries == 0 {
            return;
        }
        let Some(min_ttl) = msg.answers.iter().map(|r| r.ttl).min() else {
            return;
        };
        let ttl = Duration::from_secs(u64::from(min_ttl)).min(self.max_ttl);
        if ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if entries.len() >= self.max_entries {
            entries.retain(|_, (expires, _)| *expires > now);
        }
        if entries.len() >= self.max_entries {
            let soonest = entries
                .iter()
                .min_by_key(|(_, (expires, _))| *expires)
                .map(|(key, _)| key.clone());
            if let Some(key) = soonest {
                entries.remove(&key);
            }
        }
        entries.insert((name.to_owned(), rtype), (now + ttl, msg.clone()));
    }
}
