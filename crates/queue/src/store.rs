//! The contract every queue store meets (SQLite now, PostgreSQL later).
//!
//! Calls block until their write is durable; async callers run them on a
//! blocking thread. Nothing here assumes one process: work is handed out
//! as leases, and everything a scheduler keeps in memory can be rebuilt
//! from [`Store::next_due`], [`Store::next_due_per_domain`] and [`Store::due`].

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::model::*;
use crate::sqlite::{Begun, BounceMatch, BounceQuery, DsnApplied, DsnEvent, IdempotencyDone};
use crate::webhook::{
    ClaimedHook, HookClaim, HookDone, HookRecord, HookResult, OutgoingEventData, WebhookSettings,
};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("database error during {during}: {source}")]
    Database {
        /// The operation.
        during: &'static str,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The batch this request was part of failed to commit.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The writer thread is gone.
    #[error("the store's writer thread has stopped")]
    WriterGone,
    /// A submission without recipients.
    #[error("submission for account {account:?} has no recipients")]
    NoRecipients {
        /// The account.
        account: String,
    },
    /// A fromid that is already used in the queue or the history.
    #[error("fromid {from_id:?} not unique")]
    FromIdNotUnique {
        /// The fromid.
        from_id: String,
    },
    /// FUTURERELEASE too far ahead.
    #[error("future release at {until:?} is more than 60 days ahead")]
    FutureReleaseTooFar {
        /// The requested time.
        until: SystemTime,
    },
    /// A stored value that does not parse.
    #[error("stored {field} of row {id} is corrupt: {reason}")]
    Corrupt {
        /// Row id.
        id: i64,
        /// Column.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The suppression entry exists already.
    #[error("{address:?} is already suppressed for account {account:?}")]
    AlreadySuppressed {
        /// Account.
        account: String,
        /// Base address.
        address: String,
    },
    /// Nothing matched.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The body of a row is missing.
    #[error("body {body_id} is missing")]
    BodyMissing {
        /// The body id.
        body_id: i64,
    },
    /// An idempotency key's running record expired and another request
    /// took the key before this one completed; this one queued nothing.
    #[error("idempotency key {key:?} was taken over by another request")]
    IdempotencyTaken {
        /// The key.
        key: String,
    },
    /// Opening or preparing the database file failed.
    #[error("opening queue database {path}: {reason}")]
    Open {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Rows that an admin failed: the caller writes their failure DSNs, so the
/// body comes along.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedMessage {
    /// The row as retired.
    pub message: QueuedMessage,
    /// Its body.
    pub body: Vec<u8>,
    /// The mailbox id of the failure DSN written by
    /// [`Store::fail_with_dsns`], 0 if none.
    pub dsn_msg_id: i64,
}

/// Writes the failure DSN of an admin-failed row (its body given) and
/// returns the DSN's mailbox id, 0 when none was written.
pub type DsnWriter = std::sync::Arc<dyn Fn(&QueuedMessage, &[u8]) -> i64 + Send + Sync>;

/// The durable queue.
pub trait Store: Send + Sync {
    /// Stores a submission: one row per recipient sharing one body, with a
    /// shared base id when all rows have the same MAIL FROM (and more than
    /// one recipient). Applies hold rules (AND semantics), checks fromid
    /// uniqueness over queue and history, applies DSN defaults and
    /// FUTURERELEASE. Returns the row ids in recipient order once durable.
    fn enqueue(&self, submission: Submission) -> Result<Vec<i64>, StoreError>;

    /// Hands out due rows (due, not held, not leased or lease expired) as
    /// leases to `req.node`, grouped into batches sharing a base id and
    /// recipient domain, in due order. A scheduler should claim per domain
    /// (`req.domain`, driven by [`Store::next_due_per_domain`]): that is an
    /// index range, while `skip_domains` scans past the skipped rows.
    /// Leases need not survive a power failure (the SQLite store commits
    /// lease-only batches without waiting for the disk); attempts do.
    fn claim(&self, req: ClaimRequest) -> Result<Vec<Batch>, StoreError>;
    /// [`Store::claim`] and [`Store::begin_attempt`] in one durable
    /// transaction: the rows are leased to `req.node` and each has its
    /// attempt registered (attempts+1, a "delivering..." result, next
    /// attempt pushed to the backoff) on disk before this returns, so a
    /// scheduler may dial right away. Returns the batches with the rows as
    /// updated.
    fn claim_and_begin(&self, req: ClaimRequest) -> Result<Vec<Batch>, StoreError>;
    /// [`Store::claim_and_begin`] for several requests (typically one per
    /// due recipient domain) at once; the answer holds each request's
    /// batches in request order. A store should run them in one durable
    /// transaction, so a scheduler pays one commit for all its domains;
    /// this default runs them one after another.
    fn claim_and_begin_many(&self, reqs: Vec<ClaimRequest>) -> Result<Vec<Vec<Batch>>, StoreError> {
        reqs.into_iter().map(|r| self.claim_and_begin(r)).collect()
    }
    /// Extends leases held by `node`; returns the ids still leased to it.
    fn renew(&self, node: &str, ids: &[i64], lease: Duration) -> Result<Vec<i64>, StoreError>;
    /// Gives leases back without an attempt.
    fn release(&self, node: &str, ids: &[i64]) -> Result<(), StoreError>;

    /// Gives back every lease `node` holds (a node restarting under the same
    /// name calls this before it claims); returns how many.
    fn release_all(&self, node: &str) -> Result<u64, StoreError>;

    /// Registers an attempt before dialing: attempts+1, last attempt = now,
    /// a "delivering..." result, and next attempt pushed to the backoff, so
    /// a crash before completion does not make the row due at once.
    /// Returns the rows as updated; rows no longer leased to `node` are left out.
    fn begin_attempt(&self, node: &str, ids: &[i64]) -> Result<Vec<QueuedMessage>, StoreError>;
    /// Records how attempts ended (one transaction for all) and retires,
    /// reschedules or fails each row; may add suppressions.
    fn complete(&self, completions: Vec<Completion>) -> Result<Vec<Completed>, StoreError>;

    /// The body shared by rows.
    fn body(&self, body_id: i64) -> Result<Vec<u8>, StoreError>;
    /// One queued row.
    fn get(&self, id: i64) -> Result<Option<QueuedMessage>, StoreError>;

    /// Earliest due time of a row that is not held.
    fn next_due(&self) -> Result<Option<SystemTime>, StoreError>;
    /// Earliest due time per recipient domain of rows that are not held.
    fn next_due_per_domain(&self) -> Result<Vec<(String, SystemTime)>, StoreError>;
    /// Rows not held and due at or before `until`, by due time then id,
    /// after the keyset position `after`, at most `limit` (0 = no limit).
    fn due(
        &self,
        until: SystemTime,
        after: Option<(SystemTime, i64)>,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreError>;

    /// Queue rows matching a filter, sorted, keyset-paged.
    fn list(&self, filter: &Filter, sort: &Sort) -> Result<Vec<QueuedMessage>, StoreError>;
    /// Number of rows matching a filter.
    fn count(&self, filter: &Filter) -> Result<u64, StoreError>;
    /// Totals.
    fn counts(&self) -> Result<QueueCounts, StoreError>;
    /// Holds or releases matching rows; returns how many changed.
    fn hold_set(&self, filter: &Filter, hold: bool) -> Result<u64, StoreError>;
    /// Sets the due time of matching rows.
    fn next_attempt_set(&self, filter: &Filter, at: SystemTime) -> Result<u64, StoreError>;
    /// Moves the due time of matching rows by `delta_ms` (may be negative).
    fn next_attempt_add(&self, filter: &Filter, delta_ms: i64) -> Result<u64, StoreError>;
    /// Sets the transport of matching rows.
    fn transport_set(&self, filter: &Filter, transport: &str) -> Result<u64, StoreError>;
    /// Sets the REQUIRETLS tri-state of matching rows.
    fn require_tls_set(
        &self,
        filter: &Filter,
        require_tls: Option<bool>,
    ) -> Result<u64, StoreError>;
    /// Fails matching rows ("delivery canceled by admin", event failed); the
    /// caller writes their failure DSNs.
    fn fail(&self, filter: &Filter) -> Result<Vec<FailedMessage>, StoreError>;
    /// [`Store::fail`], writing each row's failure DSN with `dsn` before the
    /// row's webhook is queued in the same transaction, so the `failed`
    /// event names the DSN (`DSNMsgID`). `dsn` runs on the store's writer
    /// (admin fails are rare).
    fn fail_with_dsns(
        &self,
        filter: &Filter,
        dsn: DsnWriter,
    ) -> Result<Vec<FailedMessage>, StoreError>;
    /// Drops matching rows (event canceled, no DSN); returns how many.
    fn drop_messages(&self, filter: &Filter) -> Result<u64, StoreError>;

    /// History rows matching a filter, sorted, keyset-paged.
    fn history(
        &self,
        filter: &HistoryFilter,
        sort: &HistorySort,
    ) -> Result<Vec<RetiredMessage>, StoreError>;
    /// The history row with this fromid.
    fn history_by_from_id(&self, from_id: &str) -> Result<Option<RetiredMessage>, StoreError>;
    /// Deletes history rows whose keep-until has passed; returns how many.
    fn cleanup_history(&self) -> Result<u64, StoreError>;

    /// The retired messages an incoming bounce received by `account` is
    /// about, one per matched DSN recipient: only rows of `account` within
    /// their retention; at a fromid address the row with that fromid, else
    /// the rows with the DSN's ENVID, then those with the returned
    /// Message-ID, each DSN recipient matched to the row of the recipient it
    /// names (or to the only row, when the DSN has only this recipient).
    fn match_bounce(
        &self,
        account: &str,
        query: &BounceQuery,
    ) -> Result<Vec<BounceMatch>, StoreError>;
    /// Records what an incoming DSN says about a retired row of `account`,
    /// in one durable transaction: appends an "incoming message" result
    /// (success for delivered, relayed, expanded), updates the last
    /// activity, marks the row failed and applies the suppression rule for
    /// `failed`, and queues the outgoing webhook.
    fn apply_dsn_event(
        &self,
        account: &str,
        retired_id: i64,
        event: DsnEvent,
    ) -> Result<DsnApplied, StoreError>;
    /// Queues the `unrecognized` outgoing webhook for a retired row of
    /// `account` whose fromid address received mail that is no usable DSN
    /// (`msg_id`: its mailbox id); returns the hook ids.
    fn record_unrecognized(
        &self,
        account: &str,
        retired_id: i64,
        is_dsn: bool,
        msg_id: i64,
    ) -> Result<Vec<i64>, StoreError>;

    /// The webhook endpoints and retention in force.
    fn webhooks(&self) -> std::sync::Arc<WebhookSettings>;
    /// Replaces the webhook endpoints and retention (at runtime; queued
    /// hooks keep their URL and Authorization).
    fn set_webhooks(&self, settings: WebhookSettings);
    /// Notified whenever hooks are queued or made due, so a poster wakes.
    fn hook_waker(&self) -> std::sync::Arc<tokio::sync::Notify>;
    /// Queues an outgoing event for the history row `retired_id` of
    /// `account` (one hook per endpoint that wants it, superseding older
    /// pending ones per endpoint); returns the hook ids. Code inside the
    /// store queues the same in its own transactions.
    fn queue_outgoing_event(
        &self,
        account: &str,
        retired_id: i64,
        data: OutgoingEventData,
    ) -> Result<Vec<i64>, StoreError>;
    /// Queues the incoming-mail hook for each endpoint of `account` that
    /// wants it; returns the hook ids.
    fn queue_incoming_hook(
        &self,
        account: &str,
        payload: &webapi::webhook::Incoming,
    ) -> Result<Vec<i64>, StoreError>;
    /// Hands out due hooks within the endpoints' concurrency and registers
    /// each attempt (attempts+1, next attempt after the backoff) durably
    /// before returning, so a crash while posting cannot retry at once.
    fn hooks_claim(&self, req: HookClaim) -> Result<Vec<ClaimedHook>, StoreError>;
    /// Records how a claimed hook's attempt ended: retires it when
    /// delivered or out of attempts.
    fn hook_complete(&self, id: i64, result: HookResult) -> Result<HookDone, StoreError>;
    /// [`Store::hook_complete`] for several attempts in one write; the
    /// outcomes in the same order. The write may be committed without
    /// waiting for the disk: a lost outcome means the hook is posted again
    /// with the same webhook-id (at-least-once; receivers dedupe).
    fn hooks_complete(
        &self,
        done: Vec<(i64, HookResult)>,
    ) -> Result<Vec<Result<HookDone, StoreError>>, StoreError> {
        Ok(done
            .into_iter()
            .map(|(id, result)| self.hook_complete(id, result))
            .collect())
    }
    /// The earliest due time of a pending hook.
    fn hooks_next_due(&self) -> Result<Option<SystemTime>, StoreError>;
    /// Hooks of `account` ("" = all): pending ones by id ascending after
    /// `after_id`, or retired ones most recent first below `after_id` (0 =
    /// from the newest); at most `limit` (0 = 100).
    fn hooks_list(
        &self,
        account: &str,
        retired: bool,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<HookRecord>, StoreError>;
    /// One hook, pending or retired.
    fn hook_get(&self, id: i64) -> Result<Option<HookRecord>, StoreError>;
    /// Every hook of a queue message, pending and retired, by id.
    fn hooks_for_message(&self, queue_msg_id: i64) -> Result<Vec<HookRecord>, StoreError>;
    /// Makes a pending hook of `account` ("" = any) due now, or queues a
    /// retired failed one again (same webhook-id, fresh attempts).
    fn hook_retry(&self, account: &str, id: i64) -> Result<(), StoreError>;
    /// Queues the event of hook `id` again as a new hook with a new
    /// webhook-id naming the original; returns the new id.
    fn hook_replay(&self, account: &str, id: i64) -> Result<i64, StoreError>;
    /// Retires a pending hook with the result "canceled by admin".
    fn hook_cancel(&self, account: &str, id: i64) -> Result<(), StoreError>;
    /// Deletes retired hooks past their keep time; returns how many.
    fn cleanup_hooks(&self) -> Result<u64, StoreError>;

    /// Claims an idempotency key of `account` for a request with this
    /// fingerprint, in its own durable commit: [`Begun::Started`] records
    /// it as running for `running_for` (after which a crashed request's key
    /// is free again); a live record of the same fingerprint is
    /// [`Begun::Done`] with the stored result or [`Begun::InProgress`]; a
    /// live record of another fingerprint is [`Begun::Mismatch`]. Expired
    /// records count as absent.
    fn idempotency_begin(
        &self,
        account: &str,
        key: &str,
        fingerprint: &[u8; 32],
        running_for: Duration,
    ) -> Result<Begun, StoreError>;
    /// Stores several submissions, and completes an idempotency key with
    /// the result built from their row ids, in ONE transaction: all or
    /// nothing. Returns the row ids per submission.
    fn enqueue_many(
        &self,
        submissions: Vec<Submission>,
        done: Option<IdempotencyDone>,
    ) -> Result<Vec<Vec<i64>>, StoreError>;
    /// Forgets a running key (its request failed and stored nothing); a
    /// completed key stays.
    fn idempotency_abort(&self, account: &str, key: &str) -> Result<(), StoreError>;
    /// Deletes expired idempotency keys (completed ones live
    /// [`crate::IDEMPOTENCY_KEEP`]); returns how many.
    fn cleanup_idempotency(&self) -> Result<u64, StoreError>;

    /// All hold rules.
    fn hold_rules(&self) -> Result<Vec<HoldRule>, StoreError>;
    /// Adds a rule and holds the queued rows it matches; returns the rule id.
    fn hold_rule_add(&self, rule: HoldRule) -> Result<i64, StoreError>;
    /// Removes a rule; rows it held stay held.
    fn hold_rule_remove(&self, id: i64) -> Result<(), StoreError>;

    /// Adds a manual entry; fails if the base address is already listed.
    fn suppression_add(
        &self,
        account: &str,
        address: &str,
        reason: &str,
    ) -> Result<Suppression, StoreError>;
    /// Removes the entry for the base address of `address`.
    fn suppression_remove(&self, account: &str, address: &str) -> Result<(), StoreError>;
    /// The entry for the base address of `address`.
    fn suppression_lookup(
        &self,
        account: &str,
        address: &str,
    ) -> Result<Option<Suppression>, StoreError>;
    /// Entries of an account, or of all accounts for "".
    fn suppressions(&self, account: &str) -> Result<Vec<Suppression>, StoreError>;
    /// The automatic rule, for a final failure with an SMTP code, called once
    /// the failure is in the history (the store's own [`Store::complete`]
    /// and [`Store::apply_dsn_event`] call it): suppresses at once for the
    /// codes of [`crate::suppresses_immediately`], otherwise when the last
    /// three counted history outcomes of this account for this exact address
    /// (delivered or failed; admin fails and drops and suppressed rows do
    /// not count) were all failures.
    /// Does nothing when the base address is already listed. Returns whether
    /// an entry was added.
    fn suppress_after_failure(
        &self,
        account: &str,
        address: &str,
        code: u16,
        enhanced: Option<smtp::EnhancedCode>,
        source: FailureSource,
    ) -> Result<bool, StoreError>;

    /// Records what a recipient domain's servers announced.
    fn domain_tls_record(
        &self,
        domain: &str,
        starttls: bool,
        requiretls: bool,
    ) -> Result<(), StoreError>;
    /// What a recipient domain's servers announced last.
    fn domain_tls(&self, domain: &str) -> Result<Option<DomainTls>, StoreError>;
}

/// The per-account retention of history rows; accounts not listed get the default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    /// The default (7 days).
    pub default: Duration,
    /// Per-account overrides; zero keeps nothing.
    pub accounts: BTreeMap<String, Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            default: Duration::from_secs(7 * 24 * 3600),
            accounts: BTreeMap::new(),
        }
    }
}

impl Retention {
    /// The period for an account.
    pub fn for_account(&self, account: &str) -> Duration {
        self.accounts.get(account).copied().unwrap_or(self.default)
    }
}
