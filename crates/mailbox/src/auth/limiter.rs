//! Per-network limit on failed logins.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::auth::clock::{Clock, SystemClock};

/// The limiter's numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimiterConfig {
    /// Failed attempts allowed from one network within `window`; the next
    /// attempt is refused until the oldest failure leaves the window.
    pub max_failures: usize,
    /// The sliding window.
    pub window: Duration,
    /// Networks tracked at most; past this, expired entries are pruned and,
    /// if that is not enough, the table is cleared (memory stays bounded; an
    /// attacker spraying that many networks only resets the counts).
    pub max_networks: usize,
}

impl Default for LimiterConfig {
    /// 10 failures per minute per network, 65,536 networks tracked.
    fn default() -> Self {
        LimiterConfig {
            max_failures: 10,
            window: Duration::from_secs(60),
            max_networks: 65_536,
        }
    }
}

/// Counts failed logins per network (an IPv4 address, or an IPv6 /64, since
/// one host commonly owns a whole /64) in a sliding window and refuses
/// further attempts when there were too many: the web API's 429, the SMTP
/// server's 421/454 after repeated AUTH failures.
///
/// ```
/// use mailbox::{AuthLimiter, LimiterConfig, ManualClock};
/// use std::{net::IpAddr, sync::Arc, time::Duration};
/// let clock = Arc::new(ManualClock::new());
/// let limiter = AuthLimiter::new(
///     LimiterConfig { max_failures: 2, window: Duration::from_secs(60), ..Default::default() },
///     clock.clone(),
/// );
/// let ip: IpAddr = "192.0.2.7".parse().unwrap();
/// limiter.record_failure(ip);
/// limiter.record_failure(ip);
/// assert_eq!(limiter.check(ip), Err(Duration::from_secs(60)));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(limiter.check(ip), Ok(()));
/// ```
#[derive(Debug)]
pub struct AuthLimiter {
    config: LimiterConfig,
    clock: Arc<dyn Clock>,
    failures: Mutex<HashMap<IpAddr, VecDeque<Duration>>>,
}

impl Default for AuthLimiter {
    fn default() -> Self {
        AuthLimiter::new(LimiterConfig::default(), Arc::new(SystemClock::new()))
    }
}

impl AuthLimiter {
    /// A limiter with these numbers, reading time from `clock`.
    pub fn new(config: LimiterConfig, clock: Arc<dyn Clock>) -> AuthLimiter {
        AuthLimiter {
            config,
            clock,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The numbers in use.
    pub fn config(&self) -> &LimiterConfig {
        &self.config
    }

    /// `Ok` if an attempt from `ip` may go ahead, else how long until it may.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let Some(times) = map.get_mut(&network(ip)) else {
            return Ok(());
        };
        expire(times, now, self.config.window);
        if times.len() < self.config.max_failures {
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now);
        Err((oldest + self.config.window).saturating_sub(now))
    }

    /// Counts a failed attempt from `ip`.
    pub fn record_failure(&self, ip: IpAddr) {
        let now = self.clock.now();
        let key = network(ip);
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(&key) && map.len() >= self.config.max_networks {
            let window = self.config.window;
            map.retain(|_, times| {
                expire(times, now, window);
                !times.is_empty()
            });
            if map.len() >= self.config.max_networks {
                tracing::warn!(target: "mailbox", networks = map.len(), "login failure table full, clearing");
                map.clear();
            }
        }
        let times = map.entry(key).or_default();
        expire(times, now, self.config.window);
        times.push_back(now);
        // Only the newest max_failures matter for the decision.
        while times.len() > self.config.max_failures.max(1) {
            times.pop_front();
        }
    }

    /// Failures of `ip`'s network still inside the window.
    pub fn failures(&self, ip: IpAddr) -> usize {
        let now = self.clock.now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.get_mut(&network(ip)).map_or(0, |times| {
            expire(times, now, self.config.window);
            times.len()
        })
    }
}

fn expire(times: &mut VecDeque<Duration>, now: Duration, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.saturating_sub(*t) >= window)
    {
        times.pop_front();
    }
}

/// The key failures are counted under.
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments.iter_mut().skip(4).for_each(|s| *s = 0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn limiter(max: usize, clock: Arc<ManualClock>) -> AuthLimiter {
        AuthLimiter::new(
            LimiterConfig {
                max_failures: max,
                window: Duration::from_secs(60),
                max_networks: 4,
            },
            clock,
        )
    }

    #[test]
    fn third_failure_within_window_refuses_until_oldest_expires() {
        let clock = Arc::new(ManualClock::new());
        let l = limiter(3, clock.clone());
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        l.record_failure(ip);
        clock.advance(Duration::from_secs(10));
        l.record_failure(ip);
        assert_eq!(l.check(ip), Ok(()));
        clock.advance(Duration::from_secs(10));
        l.record_failure(ip);
        assert_eq!(l.failures(ip), 3);
        assert_eq!(l.check(ip), Err(Duration::from_secs(40)));
        clock.advance(Duration::from_secs(39));
        assert_eq!(l.check(ip), Err(Duration::from_secs(1)));
        clock.advance(Duration::from_secs(1));
        assert_eq!(l.check(ip), Ok(()));
        assert_eq!(l.failures(ip), 2);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let clock = Arc::new(ManualClock::new());
        let l = limiter(1, clock);
        l.record_failure("2001:db8:1:2::1".parse().unwrap());
        assert!(l.check("2001:db8:1:2:ffff::9".parse().unwrap()).is_err());
        assert_eq!(l.check("2001:db8:1:3::1".parse().unwrap()), Ok(()));
        l.record_failure("::ffff:192.0.2.1".parse().unwrap());
        assert!(l.check("192.0.2.1".parse().unwrap()).is_err());
        assert_eq!(l.check("192.0.2.2".parse().unwrap()), Ok(()));
    }

    #[test]
    fn table_stays_bounded_by_pruning_then_clearing() {
        let clock = Arc::new(ManualClock::new());
        let l = limiter(5, clock.clone());
        for i in 1..=4u8 {
            l.record_failure(IpAddr::from([192, 0, 2, i]));
        }
        clock.advance(Duration::from_secs(60));
        l.record_failure(IpAddr::from([192, 0, 2, 9]));
        // The four expired entries were pruned, the new one kept.
        assert_eq!(l.failures.lock().unwrap().len(), 1);
        for i in 10..=13u8 {
            l.record_failure(IpAddr::from([192, 0, 2, i]));
        }
        // Full of live entries: cleared, then the newest added.
        assert_eq!(l.failures.lock().unwrap().len(), 1);
        assert_eq!(l.failures(IpAddr::from([192, 0, 2, 13])), 1);
    }
}
