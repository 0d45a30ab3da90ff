//! Idle SMTP connections kept for the next due message with the same next
//! hop and session settings.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use smtpclient::{Client, Envelope};
use tokio::time::Instant;

/// What a connection was set up with; only a message needing the same may
/// use it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    pub transport: String,
    pub host: String,
    pub ip: String,
    pub tls: String,
    pub ehlo: String,
    pub username: String,
}

struct Idle {
    client: Client,
    since: Instant,
}

/// The idle connections.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<PoolKey, Vec<Idle>>>,
}

/// Whether a session can carry this message: usable, REQUIRETLS announced
/// over TLS when required, large enough, SMTPUTF8 when needed.
pub(crate) fn satisfies(client: &Client, envelope: &Envelope, size: u64) -> bool {
    let ext = client.extensions();
    client.can_reuse()
        && (!envelope.require_tls || (client.tls().is_some() && ext.requiretls))
        && ext.size.is_none_or(|limit| limit == 0 || size <= limit)
        && (!envelope.needs_smtputf8() || ext.smtputf8)
}

impl Pool {
    /// An idle connection for `key` that can carry the message, if any.
    /// Connections idle longer than `max_idle` are closed on the way.
    pub fn take(
        &self,
        key: &PoolKey,
        envelope: &Envelope,
        size: u64,
        max_idle: Duration,
    ) -> Option<Client> {
        let mut expired = Vec::new();
        let found = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let list = idle.get_mut(key)?;
            let now = Instant::now();
            let mut i = 0;
            let mut found = None;
            while i < list.len() {
                let stale = list.get(i).is_some_and(|c| {
                    now.duration_since(c.since) >= max_idle || !c.client.can_reuse()
                });
                if stale {
                    expired.push(list.swap_remove(i).client);
                    continue;
                }
                if found.is_none()
                    && list
                        .get(i)
                        .is_some_and(|c| satisfies(&c.client, envelope, size))
                {
                    found = Some(list.swap_remove(i).client);
                    continue;
                }
                i += 1;
            }
            if list.is_empty() {
                idle.remove(key);
            }
            found
        };
        close_all(expired);
        found
    }

    /// Keeps a connection for later.
    pub fn put(&self, key: PoolKey, client: Client) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.entry(key).or_default().push(Idle {
            client,
            since: Instant::now(),
        });
    }

    /// Closes connections idle for `max_idle` or longer.
    pub fn expire(&self, max_idle: Duration) {
        let mut expired = Vec::new();
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            for list in idle.values_mut() {
                let (old, keep): (Vec<Idle>, Vec<Idle>) = list
                    .drain(..)
                    .partition(|c| now.duration_since(c.since) >= max_idle);
                *list = keep;
                expired.extend(old.into_iter().map(|c| c.client));
            }
            idle.retain(|_, list| !list.is_empty());
        }
        close_all(expired);
    }

    /// Closes everything (shutdown).
    pub async fn close(&self) {
        let all: Vec<Client> = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.drain()
                .flat_map(|(_, list)| list.into_iter().map(|c| c.client))
                .collect()
        };
        for client in all {
            let _ = client.quit().await;
        }
    }

    /// How many connections are idle.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.values().map(Vec::len).sum()
    }
}

/// QUITs connections in the background.
pub(crate) fn close_all(clients: Vec<Client>) {
    if clients.is_empty() {
        return;
    }
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async move {
            for client in clients {
                let _ = client.quit().await;
            }
        });
    }
}
