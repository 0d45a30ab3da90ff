//! Successful password checks remembered, so a busy HTTP client does not pay
//! PBKDF2 on every request.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Most entries kept; when full the cache is emptied (it only saves work).
pub const MAX_CACHED_CHECKS: usize = 10_000;

/// Remembers (login, password) pairs that checked out, keyed by
/// HMAC-SHA256 under a per-process random key: the cache never holds a
/// password, and a memory dump does not give a cheap offline test for one.
#[derive(Debug)]
pub(crate) struct CheckCache {
    key: [u8; 32],
    /// HMAC → (account row id, credential version at the time of the check).
    entries: Mutex<HashMap<[u8; 32], (i64, i64)>>,
}

impl CheckCache {
    pub(crate) fn new() -> Result<CheckCache, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(CheckCache {
            key,
            entries: Mutex::new(HashMap::new()),
        })
    }

    fn tag(&self, login: &str, password: &str) -> [u8; 32] {
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key) else {
            // HMAC takes keys of any length; unreachable in practice.
            return [0; 32];
        };
        // Length-prefix the login so no (login, password) pair collides with another.
        mac.update(&(login.len() as u64).to_be_bytes());
        mac.update(login.as_bytes());
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The (account id, credential version) remembered for this pair.
    pub(crate) fn get(&self, login: &str, password: &str) -> Option<(i64, i64)> {
        let tag = self.tag(login, password);
        self.lock().get(&tag).copied()
    }

    pub(crate) fn insert(&self, login: &str, password: &str, account_id: i64, version: i64) {
        let tag = self.tag(login, password);
        let mut entries = self.lock();
        if entries.len() >= MAX_CACHED_CHECKS {
            entries.clear();
        }
        entries.insert(tag, (account_id, version));
    }

    /// Forgets every entry of an account (its password changed).
    pub(crate) fn forget_account(&self, account_id: i64) {
        self.lock().retain(|_, (id, _)| *id != account_id);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (i64, i64)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_keyed_by_login_and_password_and_dropped_per_account() {
        let c = CheckCache::new().unwrap();
        c.insert("a@x", "pw", 1, 7);
        c.insert("b@x", "pw", 2, 1);
        assert_eq!(c.get("a@x", "pw"), Some((1, 7)));
        assert_eq!(c.get("a@x", "pw2"), None);
        // "a@" + "xpw" must not collide with "a@x" + "pw".
        assert_eq!(c.get("a@", "xpw"), None);
        c.forget_account(1);
        assert_eq!(c.get("a@x", "pw"), None);
        assert_eq!(c.get("b@x", "pw"), Some((2, 1)));
        assert_eq!(c.len(), 1);
    }
}
