//! The records the store keeps and the requests it takes.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use smtp::{Address, Notify, OriginalRecipient, Ret};

/// The longest FUTURERELEASE interval accepted (60 days).
pub const FUTURE_RELEASE_MAX: Duration = Duration::from_secs(60 * 24 * 3600);

/// The result text of an attempt that was registered but has not finished.
pub const RESULT_DELIVERING: &str = "delivering...";

/// The result text an admin fail or drop appends.
pub const RESULT_CANCELED: &str = "delivery canceled by admin";

/// A submission: one body and its recipients. It becomes one queue row per
/// recipient, all sharing the stored body.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The local account that submitted; DSNs and retention follow it.
    pub account: String,
    /// The MAIL FROM path; `None` is the null reverse path.
    pub sender: Option<Address>,
    /// The recipients, one row each.
    pub recipients: Vec<NewRecipient>,
    /// The complete message as it goes on the wire (signatures and the
    /// Received header already prepended).
    pub body: Vec<u8>,
    /// Message-ID header value with angle brackets, "" if none.
    pub message_id: String,
    /// Subject, for admin listings.
    pub subject: String,
    /// The body has bytes above 127 (needs 8BITMIME).
    pub has_8bit: bool,
    /// The message needs SMTPUTF8.
    pub smtputf8: bool,
    /// REQUIRETLS tri-state: `None` follows the recipient domain's policy,
    /// `Some(true)` is REQUIRETLS, `Some(false)` is `TLS-Required: No`.
    pub require_tls: Option<bool>,
    /// FUTURERELEASE: the rows become due only at this time.
    pub future_release: Option<FutureRelease>,
    /// An explicit transport name; "" uses the routes.
    pub transport: String,
    /// Free metadata (extra headers or the web API's Extra).
    pub extra: BTreeMap<String, String>,
    /// DSN ENVID; `None` makes the store assign an opaque per-submission id.
    pub envid: Option<String>,
    /// DSN RET; `None` means the DSN returns headers only.
    pub ret: Option<Ret>,
    /// Maximum attempts; 0 is [`crate::DEFAULT_MAX_ATTEMPTS`].
    pub max_attempts: u32,
}

impl Submission {
    /// A submission with the given envelope and body and everything else at
    /// its default.
    pub fn new(
        account: &str,
        sender: Option<Address>,
        recipients: Vec<Address>,
        body: Vec<u8>,
    ) -> Submission {
        Submission {
            account: account.to_string(),
            sender,
            recipients: recipients.into_iter().map(NewRecipient::new).collect(),
            body,
            message_id: String::new(),
            subject: String::new(),
            has_8bit: false,
            smtputf8: false,
            require_tls: None,
            future_release: None,
            transport: String::new(),
            extra: BTreeMap::new(),
            envid: None,
            ret: None,
            max_attempts: 0,
        }
    }
}

/// One recipient of a submission.
#[derive(Clone, Debug)]
pub struct NewRecipient {
    /// RCPT TO.
    pub address: Address,
    /// DSN NOTIFY; `None` means FAILURE,DELAY.
    pub notify: Option<Notify>,
    /// DSN ORCPT; `None` means `rfc822;<address>` (`utf-8;` when needed).
    pub orcpt: Option<OriginalRecipient>,
    /// A unique fromid; must not exist in the queue nor the history.
    pub from_id: Option<String>,
    /// The MAIL FROM of this row when it differs from the submission's
    /// (fromid mode puts the fromid into the sender's local part).
    pub mail_from: Option<Address>,
}

impl NewRecipient {
    /// A recipient with default DSN parameters and no fromid.
    pub fn new(address: Address) -> NewRecipient {
        NewRecipient {
            address,
            notify: None,
            orcpt: None,
            from_id: None,
            mail_from: None,
        }
    }
}

/// A FUTURERELEASE request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FutureRelease {
    /// When the message may be sent.
    pub until: SystemTime,
    /// The request as the DSN field shows it: "for;<seconds>" or
    /// "until;<RFC 3339>".
    pub request: String,
}

/// The DSN parameters stored with a row, defaults already applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DsnParams {
    /// NOTIFY as given or FAILURE,DELAY.
    pub notify: Notify,
    /// RET as given.
    pub ret: Option<Ret>,
    /// ENVID as given or generated.
    pub envid: String,
    /// ORCPT as given or derived from the recipient.
    pub orcpt: OriginalRecipient,
}

/// The outcome of one delivery attempt, as kept in a row's history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptResult {
    /// When the attempt started (milliseconds since the epoch).
    pub start_ms: i64,
    /// How long it took in milliseconds.
    pub duration_ms: i64,
    /// Whether the message was accepted.
    pub success: bool,
    /// The MX or next-hop host name.
    pub mx_host: String,
    /// The IP dialed, "" if none.
    pub ip: String,
    /// The TLS version, "" without TLS.
    pub tls_version: String,
    /// The TLS cipher suite, "" without TLS.
    pub tls_cipher: String,
    /// How the certificate was checked: "pkix", "dane", "none" (opportunistic), "".
    pub tls_verification: String,
    /// The SMTP reply code, 0 without a reply.
    pub code: u16,
    /// The enhanced code, e.g. "5.1.1", "" if none.
    pub enhanced_code: String,
    /// All lines of the reply.
    pub reply_lines: Vec<String>,
    /// The failure class (the dsn crate's taxonomy), "" on success.
    pub failure_class: String,
    /// A readable error, [`RESULT_DELIVERING`] while in flight.
    pub error: String,
}

impl AttemptResult {
    /// The start time as a `SystemTime`.
    pub fn start(&self) -> SystemTime {
        crate::time::from_ms(self.start_ms)
    }
}

/// A row in the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMessage {
    /// The row id; it stays the same in the history.
    pub id: i64,
    /// Rows sharing a nonzero base id may go in one SMTP transaction.
    pub base_id: i64,
    /// The id of the shared body.
    pub body_id: i64,
    /// When the submission was accepted.
    pub queued: SystemTime,
    /// Held rows are never handed out.
    pub hold: bool,
    /// The submitting account.
    pub account: String,
    /// MAIL FROM in its UTF-8 wire form, "" for the null path.
    pub sender: String,
    /// The sender's domain (unicode), "" for the null path.
    pub sender_domain: String,
    /// The fromid, "" if none.
    pub from_id: String,
    /// RCPT TO in its UTF-8 wire form.
    pub recipient: String,
    /// The recipient's domain (unicode) or "[ip]".
    pub recipient_domain: String,
    /// Attempts started so far.
    pub attempts: u32,
    /// Maximum attempts; 0 is the default.
    pub max_attempts: u32,
    /// Host name → IPs dialed so far.
    pub dialed_ips: BTreeMap<String, Vec<String>>,
    /// When the row is due.
    pub next_attempt: SystemTime,
    /// When the last attempt started.
    pub last_attempt: Option<SystemTime>,
    /// One entry per attempt.
    pub results: Vec<AttemptResult>,
    /// Needs 8BITMIME.
    pub has_8bit: bool,
    /// Needs SMTPUTF8.
    pub smtputf8: bool,
    /// Size of the body in bytes.
    pub size: i64,
    /// Message-ID with angle brackets.
    pub message_id: String,
    /// Subject.
    pub subject: String,
    /// Explicit transport, "" for routes.
    pub transport: String,
    /// REQUIRETLS tri-state.
    pub require_tls: Option<bool>,
    /// The FUTURERELEASE request text, "" if none.
    pub future_release: String,
    /// Free metadata.
    pub extra: BTreeMap<String, String>,
    /// DSN parameters.
    pub dsn: DsnParams,
    /// The node holding a lease on the row, "" if none.
    pub lease_owner: String,
    /// Until when the lease holds.
    pub lease_until: Option<SystemTime>,
}

impl QueuedMessage {
    /// The recipient parsed back into an address.
    pub fn recipient_address(&self) -> Result<Address, smtp::AddressError> {
        Address::parse(&self.recipient)
    }

    /// The MAIL FROM parsed back, `None` for the null path.
    pub fn sender_address(&self) -> Result<Option<Address>, smtp::AddressError> {
        if self.sender.is_empty() {
            Ok(None)
        } else {
            Address::parse(&self.sender).map(Some)
        }
    }

    /// Maximum attempts with the default applied.
    pub fn effective_max_attempts(&self) -> u32 {
        if self.max_attempts == 0 {
            crate::DEFAULT_MAX_ATTEMPTS
        } else {
            self.max_attempts
        }
    }
}

/// Why a row left the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// Accepted by the next hop.
    Delivered,
    /// Failed permanently, ran out of attempts, or was failed by an admin
    /// or an incoming bounce.
    Failed,
    /// The recipient was on the suppression list.
    Suppressed,
    /// Dropped by an admin.
    Canceled,
}

impl Event {
    /// The name stored and shown ("delivered", "failed", ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Event::Delivered => "delivered",
            Event::Failed => "failed",
            Event::Suppressed => "suppressed",
            Event::Canceled => "canceled",
        }
    }

    pub(crate) fn parse(s: &str) -> Event {
        match s {
            "delivered" => Event::Delivered,
            "suppressed" => Event::Suppressed,
            "canceled" => Event::Canceled,
            _ => Event::Failed,
        }
    }
}

/// A row in the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetiredMessage {
    /// The row as it was when it left the queue (hold, next attempt and
    /// lease are meaningless here).
    pub message: QueuedMessage,
    /// Why it left.
    pub event: Event,
    /// `event == Delivered`, turned false by an incoming bounce.
    pub success: bool,
    /// When it last changed.
    pub last_activity: SystemTime,
    /// When the cleanup deletes it.
    pub keep_until: SystemTime,
    /// An admin failed or dropped it; such outcomes do not count for the
    /// repeated-failure suppression rule.
    pub by_admin: bool,
}

/// A hold rule. Empty fields match anything; a new or existing row is held
/// when it matches ALL non-empty fields (so an all-empty rule holds
/// everything). The reference ORs the fields at enqueue but ANDs them when
/// a rule is added; this store uses AND for both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HoldRule {
    /// The rule id (0 when adding).
    pub id: i64,
    /// Sender account, "" for any.
    pub account: String,
    /// Sender domain (unicode, case-insensitive), "" for any.
    pub sender_domain: String,
    /// Recipient domain (unicode, case-insensitive), "" for any.
    pub recipient_domain: String,
}

/// A suppression list entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppression {
    /// The entry id.
    pub id: i64,
    /// When it was added.
    pub created: SystemTime,
    /// The account it applies to.
    pub account: String,
    /// The normalised address ([`crate::base_address`]).
    pub base_address: String,
    /// The address as it was given or failed.
    pub original_address: String,
    /// Added by a person rather than by a failure.
    pub manual: bool,
    /// Why.
    pub reason: String,
}

/// Where a failure that may suppress an address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureSource {
    /// A reply to our own delivery attempt.
    Queue,
    /// A parsed incoming DSN.
    Dsn,
}

impl FailureSource {
    fn as_str(&self) -> &'static str {
        match self {
            FailureSource::Queue => "queue",
            FailureSource::Dsn => "DSN",
        }
    }

    /// The reason text for an immediate suppression.
    pub(crate) fn immediate_reason(&self, code: u16, enhanced: &str) -> String {
        format!(
            "delivery failure from {} with smtp code {code}, enhanced code \"{enhanced}\"",
            self.as_str()
        )
    }

    /// The reason text for a suppression after repeated failures.
    pub(crate) fn repeated_reason(&self) -> String {
        format!(
            "delivery failure from {} and three consecutive failures",
            self.as_str()
        )
    }
}

/// What a domain's servers were seen to support.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainTls {
    /// The recipient domain (unicode).
    pub domain: String,
    /// A server announced STARTTLS.
    pub starttls: bool,
    /// A server announced REQUIRETLS.
    pub requiretls: bool,
    /// When this was recorded.
    pub updated: SystemTime,
}

/// How an attempt ended, as the engine tells the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted: retire as delivered.
    Delivered,
    /// Temporary failure: retry after the backoff, unless attempts are used up.
    Temporary,
    /// Permanent failure: retire as failed.
    Permanent,
    /// The recipient is suppressed: retire as suppressed.
    Suppressed,
}

/// The end of an attempt for one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The row.
    pub id: i64,
    /// How it ended.
    pub outcome: Outcome,
    /// The result; its `start_ms` is ignored (the registered start is kept)
    /// and `duration_ms` is computed by the store when zero.
    pub result: AttemptResult,
    /// IPs dialed in this attempt, merged into the row's.
    pub dialed_ips: BTreeMap<String, Vec<String>>,
    /// The mailbox id of the DSN the engine wrote for this outcome before
    /// completing (0 if none); webhooks report it as `DSNMsgID`.
    pub dsn_msg_id: i64,
}

/// What the store did with a completed row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completed {
    /// Retired as delivered.
    Delivered,
    /// Rescheduled.
    Retry {
        /// The new due time.
        next_attempt: SystemTime,
        /// Attempts made so far (5 is when a delayed DSN is due).
        attempts: u32,
    },
    /// Retired as failed (permanent or attempts used up).
    Failed {
        /// Whether this failure just put the address on the suppression list.
        suppressed_now: bool,
    },
    /// Retired as suppressed.
    Suppressed,
    /// The row was no longer in the queue (an admin removed it).
    Gone,
}

/// A lease request.
#[derive(Clone, Debug)]
pub struct ClaimRequest {
    /// The claiming node.
    pub node: String,
    /// How long the lease holds.
    pub lease: Duration,
    /// At most this many batches.
    pub max_batches: usize,
    /// Only rows to this recipient domain.
    pub domain: Option<String>,
    /// Skip rows to these domains (busy at the caller).
    pub skip_domains: Vec<String>,
}

/// Rows handed out together: one row, or the due rows sharing its base id
/// and recipient domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The rows, first the one that made the batch due.
    pub rows: Vec<QueuedMessage>,
}

/// What a scheduler keeps per due row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueEntry {
    /// Row id.
    pub id: i64,
    /// Base id.
    pub base_id: i64,
    /// Recipient domain.
    pub domain: String,
    /// Due time.
    pub next_attempt: SystemTime,
}

/// A time comparison for filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeBound {
    /// Strictly before.
    Before(SystemTime),
    /// Strictly after.
    After(SystemTime),
}

/// Selects queue rows. Empty fields match everything; set fields must all
/// match (From and To are ANDed, unlike the reference's OR).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// At most this many rows (0 = no limit).
    pub max: usize,
    /// Only these ids.
    pub ids: Vec<i64>,
    /// Exact account.
    pub account: String,
    /// Substring of the sender.
    pub from: String,
    /// Substring of the recipient.
    pub to: String,
    /// Held or not.
    pub hold: Option<bool>,
    /// Queued time.
    pub submitted: Option<TimeBound>,
    /// Due time.
    pub next_attempt: Option<TimeBound>,
    /// Exact transport ("" matches the default transport).
    pub transport: Option<String>,
}

/// Sort fields for queue listings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortField {
    /// By due time.
    #[default]
    NextAttempt,
    /// By queued time.
    Queued,
}

/// Sort order and keyset position for queue listings. The default is the
/// soonest due first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sort {
    /// The field.
    pub field: SortField,
    /// Ascending.
    pub asc: bool,
    /// Continue after this row: its sort field value and id.
    pub after: Option<(SystemTime, i64)>,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            field: SortField::NextAttempt,
            asc: true,
            after: None,
        }
    }
}

/// Selects history rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// At most this many rows (0 = no limit).
    pub max: usize,
    /// Only these ids.
    pub ids: Vec<i64>,
    /// Exact account.
    pub account: String,
    /// Substring of the sender.
    pub from: String,
    /// Substring of the recipient.
    pub to: String,
    /// Queued time.
    pub submitted: Option<TimeBound>,
    /// Last activity.
    pub last_activity: Option<TimeBound>,
    /// Exact transport.
    pub transport: Option<String>,
    /// Success or not.
    pub success: Option<bool>,
    /// Exact DSN ENVID (for matching incoming bounces).
    pub envid: String,
    /// Exact Message-ID with angle brackets (for matching incoming bounces).
    pub message_id: String,
}

/// Sort fields for history listings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HistorySortField {
    /// By last activity.
    #[default]
    LastActivity,
    /// By queued time.
    Queued,
}

/// Sort order and keyset position for history listings. The default is the
/// most recent activity first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistorySort {
    /// The field.
    pub field: HistorySortField,
    /// Ascending.
    pub asc: bool,
    /// Continue after this row: its sort field value and id.
    pub after: Option<(SystemTime, i64)>,
}

/// Counts for admin pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Rows in the queue.
    pub total: u64,
    /// Held rows.
    pub held: u64,
    /// Rows due now and not held.
    pub due: u64,
}
