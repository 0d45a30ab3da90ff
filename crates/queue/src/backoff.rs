//! The retry schedule of the reference: 7.5 minutes, doubling per attempt.

use std::time::Duration;

/// Attempts made before a temporary failure becomes final, when a row does
/// not set its own maximum.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// The first wait after a failed attempt.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(450_000);

/// The largest jitter the default jitter source adds or subtracts.
pub const MAX_JITTER: Duration = Duration::from_secs(5);

/// The wait after attempt number `attempts` (1-based) failed temporarily:
/// 7.5m, 15m, 30m, 1h, 2h, 4h, 8h, ... plus `jitter_ms` (which may be
/// negative), never below zero.
///
/// ```
/// use queue::backoff;
/// use std::time::Duration;
/// assert_eq!(backoff(1, 0), Duration::from_secs(450));
/// assert_eq!(backoff(4, 0), Duration::from_secs(3600));
/// assert_eq!(backoff(2, -5000), Duration::from_secs(895));
/// ```
pub fn backoff(attempts: u32, jitter_ms: i64) -> Duration {
    // Capped so the shift cannot overflow; 2^20 * 7.5m is centuries anyway.
    let doublings = attempts.saturating_sub(1).min(20);
    let base_ms = FIRST_BACKOFF.as_millis() as i64 * (1i64 << doublings);
    Duration::from_millis(base_ms.saturating_add(jitter_ms).max(0) as u64)
}

/// A jitter source in milliseconds; the store adds its value to each backoff.
pub type Jitter = std::sync::Arc<dyn Fn() -> i64 + Send + Sync>;

/// Uniform jitter in ±[`MAX_JITTER`] from the system's random source.
pub fn random_jitter() -> i64 {
    let mut buf = [0u8; 8];
    if getrandom::fill(&mut buf).is_err() {
        return 0;
    }
    let span = MAX_JITTER.as_millis() as u64 * 2 + 1;
    (u64::from_le_bytes(buf) % span) as i64 - MAX_JITTER.as_millis() as i64
}
