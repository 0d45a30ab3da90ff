//! Webhooks: per-account endpoints, the persistent hook queue's records,
//! Standard Webhooks signing, and the [`Poster`] that delivers due hooks.
//!
//! Hooks are produced by the store itself, in the same transaction that
//! retires a queue row, records a delayed attempt or an incoming DSN, so a
//! crash cannot lose one. The store holds the current [`WebhookSettings`]
//! ([`crate::SqliteStore::set_webhooks`], swappable at runtime); the URL and
//! Authorization of a hook are frozen when it is queued, the signing secrets
//! are looked up at each attempt (so a rotation applies to retries too).
//!
//! ```
//! use queue::webhook::{Endpoint, EventKind, WebhookSettings, generate_secret, sign};
//! use webapi::webhook::OutgoingEvent;
//!
//! let mut endpoint = Endpoint::new("app", "https://app.example/hooks");
//! endpoint.final_only = true;
//! assert!(endpoint.wants(EventKind::Outgoing(OutgoingEvent::Failed)));
//! assert!(!endpoint.wants(EventKind::Outgoing(OutgoingEvent::Delayed)));
//!
//! let secret = generate_secret();
//! assert!(secret.starts_with("whsec_"));
//! let signature = sign(&secret, "msg_1", 1_700_000_000, b"{}").unwrap();
//! assert!(signature.starts_with("v1,"));
//!
//! let mut settings = WebhookSettings::default();
//! settings.accounts.insert("alice".into(), vec![endpoint]);
//! assert!(settings.endpoint("alice", "app").is_some());
//! ```

mod poster;
mod sign;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use webapi::webhook::OutgoingEvent;

use crate::store::Retention;

pub use poster::{Poster, PosterError, PosterOptions, TestResult, sample_outgoing, webhook_test};
pub use sign::{
    MIN_SECRET_BYTES, SignError, generate_secret, sign, signature_header, validate_secret,
};

/// Attempts made for one hook before it is retired as failed.
pub const MAX_HOOK_ATTEMPTS: u32 = 12;

/// The wait after attempt n (index n-1), the reference's table; an interval
/// varies by ±1% (jitter).
pub const HOOK_BACKOFF: [Duration; 11] = [
    Duration::from_secs(60),
    Duration::from_secs(120),
    Duration::from_secs(240),
    Duration::from_secs(450),
    Duration::from_secs(900),
    Duration::from_secs(1800),
    Duration::from_secs(3600),
    Duration::from_secs(7200),
    Duration::from_secs(14400),
    Duration::from_secs(28800),
    Duration::from_secs(57600),
];

/// At most this many bytes of an endpoint's response body are kept.
pub const MAX_RESPONSE_BYTES: usize = 512;

/// The event name of incoming-mail hooks.
pub const INCOMING_EVENT: &str = "incoming";

/// The wait after attempt number `attempts` (1-based) with `jitter_ms` from the
/// store's jitter source (±5 s at most) scaled to ±1% of the interval.
///
/// ```
/// use queue::webhook::hook_backoff;
/// use std::time::Duration;
/// assert_eq!(hook_backoff(1, 0), Duration::from_secs(60));
/// assert_eq!(hook_backoff(4, 0), Duration::from_secs(450));
/// assert_eq!(hook_backoff(11, 0), Duration::from_secs(57600));
/// assert_eq!(hook_backoff(1, 5000), Duration::from_millis(60_600));
/// ```
pub fn hook_backoff(attempts: u32, jitter_ms: i64) -> Duration {
    let index = (attempts.max(1) - 1) as usize;
    let base = HOOK_BACKOFF
        .get(index)
        .or(HOOK_BACKOFF.last())
        .copied()
        .unwrap_or(Duration::from_secs(60));
    let base_ms = base.as_millis() as i64;
    let jitter = jitter_ms.clamp(-5000, 5000);
    // jitter / 5000 of 1% of the interval.
    let delta = base_ms * jitter / 500_000;
    Duration::from_millis((base_ms + delta).max(0) as u64)
}

/// What an endpoint can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// An outgoing-message event.
    Outgoing(OutgoingEvent),
    /// Mail that arrived for the account.
    Incoming,
}

impl EventKind {
    /// The name in configuration and in hook records.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Outgoing(e) => e.as_str(),
            EventKind::Incoming => INCOMING_EVENT,
        }
    }

    /// The kind for a name (`incoming` or an outgoing event name).
    ///
    /// ```
    /// use queue::webhook::EventKind;
    /// assert_eq!(EventKind::parse("incoming"), Some(EventKind::Incoming));
    /// assert_eq!(EventKind::parse("bogus"), None);
    /// ```
    pub fn parse(s: &str) -> Option<EventKind> {
        if s == INCOMING_EVENT {
            return Some(EventKind::Incoming);
        }
        OutgoingEvent::parse(s).map(EventKind::Outgoing)
    }
}

/// One webhook endpoint of an account.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Unique within the account; shown in hook records.
    pub id: String,
    /// Where to POST (http or https).
    pub url: String,
    /// Sent verbatim as the Authorization header, if set.
    pub authorization: Option<String>,
    /// Subscribed events; empty means all (incoming included).
    pub events: BTreeSet<EventKind>,
    /// Only final outcomes: everything except `delayed`.
    pub final_only: bool,
    /// Signing secrets (`whsec_...`), the current one first; two during a
    /// rotation, when each request carries both signatures.
    pub secrets: Vec<String>,
    /// Requests in flight to this endpoint at most (0 counts as 1).
    pub concurrency: usize,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("events", &self.events)
            .field("final_only", &self.final_only)
            .field("secrets", &self.secrets.len())
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl Endpoint {
    /// An endpoint for all events, without secrets, one request at a time.
    pub fn new(id: &str, url: &str) -> Endpoint {
        Endpoint {
            id: id.into(),
            url: url.into(),
            authorization: None,
            events: BTreeSet::new(),
            final_only: false,
            secrets: Vec::new(),
            concurrency: 1,
        }
    }

    /// Whether an event of this kind is queued for this endpoint.
    pub fn wants(&self, kind: EventKind) -> bool {
        if let EventKind::Outgoing(e) = kind
            && self.final_only
            && !e.is_final()
        {
            return false;
        }
        self.events.is_empty() || self.events.contains(&kind)
    }

    /// The concurrency limit with the minimum of one applied.
    pub fn effective_concurrency(&self) -> usize {
        self.concurrency.max(1)
    }
}

/// The webhook configuration the store applies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Endpoints per account.
    pub accounts: BTreeMap<String, Vec<Endpoint>>,
    /// How long retired hooks are kept, per account (7 days by default;
    /// zero keeps none).
    pub retention: Retention,
}

impl WebhookSettings {
    /// The endpoint `id` of `account`.
    pub fn endpoint(&self, account: &str, id: &str) -> Option<&Endpoint> {
        self.accounts.get(account)?.iter().find(|e| e.id == id)
    }

    /// The endpoints of `account` that want `kind`.
    pub fn matching<'a>(
        &'a self,
        account: &str,
        kind: EventKind,
    ) -> impl Iterator<Item = &'a Endpoint> + 'a {
        self.accounts
            .get(account)
            .into_iter()
            .flatten()
            .filter(move |e| e.wants(kind))
    }
}

/// One attempt to deliver a hook.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookResult {
    /// When the attempt started (milliseconds since the epoch).
    pub start_ms: i64,
    /// How long it took in milliseconds.
    pub duration_ms: i64,
    /// The URL posted to.
    pub url: String,
    /// A 2xx answer.
    pub success: bool,
    /// The HTTP status, 0 without a response.
    pub code: u16,
    /// What went wrong, "" on success.
    pub error: String,
    /// The start of the response body, at most [`MAX_RESPONSE_BYTES`].
    pub response: String,
}

impl HookResult {
    /// The start as a `SystemTime`.
    pub fn start(&self) -> SystemTime {
        crate::time::from_ms(self.start_ms)
    }
}

/// A hook, pending or retired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookRecord {
    /// The hook id (`X-Postel-Webhook-ID`).
    pub id: i64,
    /// The account whose endpoint it is for.
    pub account: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The Standard Webhooks `webhook-id`, the same on every retry.
    pub webhook_id: String,
    /// The queue message it reports on; 0 for incoming mail.
    pub queue_msg_id: i64,
    /// Position among the events of the queue message, from 1 (0 for incoming).
    pub sequence: u64,
    /// The outgoing event name, or [`INCOMING_EVENT`].
    pub event: String,
    /// The URL, frozen when queued.
    pub url: String,
    /// Whether an Authorization header is sent.
    pub authorization: bool,
    /// When it was queued.
    pub submitted: SystemTime,
    /// Attempts started so far.
    pub attempts: u32,
    /// When the next attempt is due; `None` once retired.
    pub next_attempt: Option<SystemTime>,
    /// `None` while pending, then whether it was delivered.
    pub success: Option<bool>,
    /// The hook that superseded this one, 0 if none.
    pub superseded_by: i64,
    /// The hook this one replays, 0 if none.
    pub replay_of: i64,
    /// The JSON body posted.
    pub payload: String,
    /// One entry per finished attempt.
    pub results: Vec<HookResult>,
    /// When it was retired, `None` while pending.
    pub last_activity: Option<SystemTime>,
}

/// An outgoing event to queue for a message (the DSN path uses it for
/// incoming bounces; the queue builds the same from its own outcomes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutgoingEventData {
    /// The event.
    pub event: OutgoingEvent,
    /// Caused by an incoming DSN.
    pub dsn: bool,
    /// This failure added the recipient to the suppression list.
    pub suppressing: bool,
    /// The SMTP code, 0 if none.
    pub smtp_code: u16,
    /// The enhanced code, "" if none.
    pub smtp_enhanced_code: String,
    /// Error text, "" if none.
    pub error: String,
    /// userUnknown, mailboxFull, policy, hostUnknown, expired, tooLarge,
    /// security, other; "" when not a failure or delay.
    pub bounce_reason: String,
    /// A permanent (5xx) failure.
    pub hard_bounce: bool,
    /// The mailbox id of the DSN written for this event, 0 if none.
    pub dsn_msg_id: i64,
}

/// A request for due hooks.
#[derive(Clone, Debug, Default)]
pub struct HookClaim {
    /// At most this many hooks.
    pub max: usize,
    /// Requests in flight per (account, endpoint id) at the caller; the
    /// store hands out at most the endpoint's concurrency minus these.
    pub in_flight: BTreeMap<(String, String), usize>,
}

/// What the store did with a finished attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookDone {
    /// Delivered and retired.
    Delivered,
    /// Failed; due again at the time registered when it was claimed.
    Retry {
        /// When.
        next_attempt: SystemTime,
    },
    /// Failed for the last time and retired.
    Failed,
    /// It had been superseded or canceled meanwhile; the result went to
    /// the retired record if one is kept.
    Gone,
}

/// A hook handed to a poster, its attempt already registered.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimedHook {
    /// The hook as updated by the claim.
    pub record: HookRecord,
    /// The Authorization header frozen with it.
    pub authorization: Option<String>,
}

impl std::fmt::Debug for ClaimedHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedHook")
            .field("record", &self.record)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}
