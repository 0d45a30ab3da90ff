//! The durable outgoing queue.
//!
//! A submission becomes one row per recipient sharing one stored body. A
//! scheduler claims due rows as leases and registers each attempt before it
//! dials, both in one durable commit ([`Store::claim_and_begin`]; or
//! [`Store::claim`] then [`Store::begin_attempt`]), and reports the outcome
//! ([`Store::complete`]), which reschedules with the reference backoff or
//! retires the row into the history. Hold rules, the per-account
//! suppression list, admin operations and the per-domain TLS record live
//! here too. Incoming bounces are matched to history rows
//! ([`Store::match_bounce`] with a [`BounceQuery`]) and recorded with
//! their webhook ([`Store::apply_dsn_event`]). Webhooks ([`webhook`]) are
//! queued in the same transaction that retires a row or records a delayed
//! attempt, and a [`webhook::Poster`] delivers them signed.
//!
//! [`SqliteStore`] is the embedded implementation: SQLite in WAL mode with
//! `synchronous=FULL`, where one writer thread commits every waiting
//! request in one transaction (group commit), so many submissions share
//! one fsync. Every call returns only after its commit is durable.
//!
//! ```
//! use queue::*;
//! use smtp::Address;
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let clock = Arc::new(TestClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
//! let options = Options { clock: clock.clone(), jitter: Arc::new(|| 0), ..Options::default() };
//! let store = SqliteStore::open(dir.path().join("q.db"), options).unwrap();
//! let rcpt = Address::parse("bob@example.com").unwrap();
//! store.enqueue(Submission::new("alice", None, vec![rcpt], b"body".to_vec())).unwrap();
//!
//! let batches = store.claim(ClaimRequest {
//!     node: "node1".into(), lease: Duration::from_secs(300), max_batches: 10,
//!     domain: None, skip_domains: vec![],
//! }).unwrap();
//! let id = batches[0].rows[0].id;
//! store.begin_attempt("node1", &[id]).unwrap();
//! let done = store.complete(vec![Completion {
//!     id, outcome: Outcome::Temporary,
//!     result: AttemptResult { code: 451, ..Default::default() },
//!     dialed_ips: Default::default(), dsn_msg_id: 0,
//! }]).unwrap();
//! assert_eq!(done, vec![Completed::Retry { next_attempt: clock.now() + Duration::from_secs(450), attempts: 1 }]);
//! ```

mod backoff;
mod clock;
pub mod engine;
mod model;
mod sqlite;
mod store;
mod suppression;
mod time;
mod timebound;
pub mod webhook;

pub use backoff::{
    DEFAULT_MAX_ATTEMPTS, FIRST_BACKOFF, Jitter, MAX_JITTER, backoff, random_jitter,
};
pub use clock::{Clock, SystemClock, TestClock};
pub use model::*;
pub use sqlite::{Begun, IDEMPOTENCY_KEEP, IdempotencyDone, ResultFn};
pub use sqlite::{
    BounceMatch, BounceQuery, BounceRecipientKey, DsnApplied, DsnEvent, RESULT_INCOMING,
    dsn_reply_code,
};
pub use sqlite::{Options, SCHEMA_VERSION, SqliteStore, WriterStats};
pub use store::{DsnWriter, FailedMessage, Retention, Store, StoreError};
pub use suppression::{base_address, suppresses_immediately};
pub use timebound::{TimeBoundError, parse_time_bound};
