//! Password checks: the cache of successful checks and the per-network limiter.

pub(crate) mod cache;
pub(crate) mod clock;
pub(crate) mod limiter;
