//! Incoming bounces: matching them to retired messages and recording what
//! they say.
//!
//! Matching (DESIGN.md "Decisions"): only rows of the account that
//! received the bounce and still within their retention; at a fromid
//! address by the fromid, at the plain address by our ENVID together with
//! the recipient, then by the Message-ID of the returned header. Each
//! recipient of the DSN is matched on its own to one recipient of that
//! message (the reference marks a DSN with several recipients
//! `unrecognized`; Postel matches them one by one).

use rusqlite::{Connection, OptionalExtension, params};
use smtp::{Class, EnhancedCode};

use webapi::webhook::OutgoingEvent;

use super::Shared;
use super::hooks;
use super::ops::{get_retired, suppress_after_failure};
use super::rows::{db, read_retired, retired_cols};
use crate::model::*;
use crate::store::StoreError;
use crate::time::to_ms;
use crate::webhook::OutgoingEventData;

/// Candidate rows looked at per key; an ENVID or Message-ID shared by more
/// rows than this is someone else's doing.
const MAX_CANDIDATES: usize = 1000;

/// The text of the result a bounce appends to a retired row.
pub const RESULT_INCOMING: &str = "incoming message";

/// One recipient of an incoming DSN, as the matcher sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BounceRecipientKey {
    /// Original-Recipient (our ORCPT), bare address.
    pub original: Option<String>,
    /// Final-Recipient, or the address a non-standard bounce names.
    pub final_recipient: Option<String>,
}

/// What identifies the message(s) a bounce is about.
///
/// ```
/// use queue::*;
/// use smtp::Address;
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::open(dir.path().join("q.db"), Options::default()).unwrap();
/// let mut sub = Submission::new("app", Address::parse("app@example.org").ok(),
///     vec![Address::parse("bob@example.com").unwrap()], b"Subject: x\r\n\r\nx\r\n".to_vec());
/// sub.envid = Some("env1".into());
/// let id = store.enqueue(sub).unwrap()[0];
/// store.fail(&Filter { ids: vec![id], ..Filter::default() }).unwrap();
///
/// let query = BounceQuery {
///     envid: "env1".into(),
///     recipients: vec![BounceRecipientKey { original: None, final_recipient: Some("bob@example.com".into()) }],
///     ..BounceQuery::default()
/// };
/// let found = store.match_bounce("app", &query).unwrap();
/// assert_eq!((found[0].message.message.id, found[0].recipient), (id, 0));
/// // Another account receiving the same bounce matches nothing.
/// assert!(store.match_bounce("mallory", &query).unwrap().is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BounceQuery {
    /// The fromid taken from the RCPT TO local part, "" at a plain address.
    pub from_id: String,
    /// Original-Envelope-ID of the DSN (our ENVID), "" if none.
    pub envid: String,
    /// The DSN's recipients, in its order.
    pub recipients: Vec<BounceRecipientKey>,
    /// Message-ID of the returned header, "" if none (brackets optional).
    pub returned_message_id: String,
}

impl BounceQuery {
    /// The keys of an analysed bounce.
    ///
    /// ```
    /// let a = dsn::analyze(b"Subject: x\r\n\r\nhello\r\n");
    /// let q = queue::BounceQuery::from_analysis(&a, "fid");
    /// assert_eq!(q.from_id, "fid");
    /// assert!(q.recipients.is_empty());
    /// ```
    pub fn from_analysis(analysis: &dsn::Analysis, from_id: &str) -> BounceQuery {
        BounceQuery {
            from_id: from_id.to_string(),
            envid: analysis.envelope_id.clone().unwrap_or_default(),
            recipients: analysis
                .recipients
                .iter()
                .map(|r| BounceRecipientKey {
                    original: r.original_recipient.clone(),
                    final_recipient: r.recipient.clone(),
                })
                .collect(),
            returned_message_id: norm_message_id(
                analysis.original_message_id.as_deref().unwrap_or_default(),
            ),
        }
    }
}

/// A DSN recipient matched to a retired message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BounceMatch {
    /// The retired row.
    pub message: RetiredMessage,
    /// Index into [`BounceQuery::recipients`].
    pub recipient: usize,
}

/// What an incoming DSN says about one matched recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DsnEvent {
    /// The DSN action; it names the webhook event.
    pub action: dsn::Action,
    /// The SMTP code (see [`dsn_reply_code`]), 0 if none.
    pub code: u16,
    /// The enhanced code, if known.
    pub enhanced: Option<EnhancedCode>,
    /// The diagnostic text, as reply lines.
    pub lines: Vec<String>,
    /// The bounce reason class (for failed and delayed).
    pub reason: Option<dsn::Reason>,
    /// Whether the address itself is bad.
    pub hard: bool,
    /// The mailbox id of the incoming DSN message, 0 if none.
    pub dsn_msg_id: i64,
}

impl DsnEvent {
    /// The event for one recipient of an analysed bounce. A recipient
    /// without an action (non-standard bounces) is `failed` when
    /// [`dsn::BounceRecipient::is_failure`], else `delayed`.
    ///
    /// ```
    /// let raw = b"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail\r\n\
    /// Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n\
    /// Content-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n\
    /// Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; bob@example.net\r\nAction: failed\r\n\
    /// Status: 5.1.1\r\nDiagnostic-Code: smtp; 554 5.0.0 no\r\n\r\n--b--\r\n";
    /// let a = dsn::analyze(raw);
    /// let ev = queue::DsnEvent::from_recipient(&a.recipients[0], 7);
    /// assert_eq!(ev.action, dsn::Action::Failed);
    /// assert_eq!((ev.code, ev.enhanced.map(|e| e.to_string())), (554, Some("5.0.0".to_string())));
    /// assert_eq!(ev.dsn_msg_id, 7);
    /// ```
    pub fn from_recipient(r: &dsn::BounceRecipient, dsn_msg_id: i64) -> DsnEvent {
        let action = r.action.unwrap_or(if r.is_failure() {
            dsn::Action::Failed
        } else {
            dsn::Action::Delayed
        });
        let (code, enhanced) = dsn_reply_code(r);
        let lines = r
            .diagnostic
            .as_deref()
            .map(|d| vec![d.split_whitespace().collect::<Vec<_>>().join(" ")])
            .filter(|l| l.iter().all(|s| !s.is_empty()))
            .unwrap_or_default();
        let failing = matches!(action, dsn::Action::Failed | dsn::Action::Delayed);
        DsnEvent {
            action,
            code,
            enhanced,
            lines,
            reason: failing.then_some(r.reason),
            hard: action == dsn::Action::Failed && r.hard,
            dsn_msg_id,
        }
    }
}

/// What recording a DSN event did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DsnApplied {
    /// The failure put the address on the suppression list now.
    pub suppressing: bool,
    /// The webhooks queued for it.
    pub hook_ids: Vec<i64>,
}

/// The SMTP code and enhanced code of a DSN recipient, the reference's way
/// (its §2.3): the three digits leading the Diagnostic-Code and the
/// enhanced code after them if it starts with "4." or "5."; without a code
/// there, the Status gives 400 or 500 and the enhanced code. A known
/// reply code of a non-standard bounce stands in for the diagnostic.
///
/// ```
/// let r = dsn::BounceRecipient {
///     recipient: Some("bob@example.net".into()), original_recipient: None,
///     action: Some(dsn::Action::Failed),
///     status: Some(dsn::Status::Code("5.1.1".parse().unwrap())),
///     reply_code: None, diagnostic: Some("mailbox unknown".into()), remote_mta: None,
///     reason: dsn::Reason::UserUnknown, hard: true,
/// };
/// let (code, enhanced) = queue::dsn_reply_code(&r);
/// assert_eq!((code, enhanced.unwrap().to_string()), (500, "5.1.1".to_string()));
/// ```
pub fn dsn_reply_code(r: &dsn::BounceRecipient) -> (u16, Option<EnhancedCode>) {
    let status = r
        .status
        .as_ref()
        .and_then(dsn::Status::code)
        .filter(|c| c.class != Class::Success);
    let (mut code, mut enhanced) = r
        .diagnostic
        .as_deref()
        .map(diagnostic_code)
        .unwrap_or((None, None));
    if code.is_none() {
        code = r.reply_code.filter(|c| (400..600).contains(c));
    }
    match code {
        Some(c) => {
            if enhanced.is_none() {
                enhanced = status.filter(|s| u16::from(s.class.digit()) == c / 100);
            }
            (c, enhanced)
        }
        None => match status {
            Some(s) => (u16::from(s.class.digit()) * 100, Some(s)),
            None => (0, None),
        },
    }
}

/// "smtp; 554 5.0.0 text" (the type may already be cut off).
fn diagnostic_code(text: &str) -> (Option<u16>, Option<EnhancedCode>) {
    let text = text.trim();
    let text = match text.split_once(';') {
        Some((kind, rest)) if kind.trim().eq_ignore_ascii_case("smtp") => rest.trim(),
        _ => text,
    };
    let mut words = text.split(|c: char| c.is_whitespace() || c == '-');
    let code = words
        .next()
        .filter(|w| w.len() == 3 && w.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|w| w.parse::<u16>().ok())
        .filter(|c| (200..600).contains(c));
    let Some(code) = code else {
        return (None, None);
    };
    let enhanced = words
        .next()
        .filter(|w| w.starts_with("4.") || w.starts_with("5."))
        .and_then(|w| w.parse::<EnhancedCode>().ok());
    (Some(code), enhanced)
}

fn norm_message_id(id: &str) -> String {
    let id = id.trim();
    if id.is_empty() || id.starts_with('<') {
        id.to_string()
    } else {
        format!("<{id}>")
    }
}

fn same_address(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Whether a DSN recipient names this row's recipient (by our ORCPT or the
/// address itself).
fn names_row(key: &BounceRecipientKey, row: &RetiredMessage) -> bool {
    let ours = [
        row.message.recipient.as_str(),
        row.message.dsn.orcpt.address.as_str(),
    ];
    [&key.original, &key.final_recipient]
        .into_iter()
        .flatten()
        .any(|theirs| ours.iter().any(|o| same_address(o, theirs)))
}

fn candidates(
    conn: &Connection,
    account: &str,
    column: &'static str,
    value: &str,
    now_ms: i64,
) -> Result<Vec<RetiredMessage>, StoreError> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {} FROM retired WHERE account = ?1 AND {column} = ?2 AND keep_until >= ?3 \
         ORDER BY last_activity DESC, id DESC LIMIT {MAX_CANDIDATES}",
        retired_cols()
    );
    conn.prepare_cached(&sql)
        .and_then(|mut st| {
            st.query_map(params![account, value, now_ms], read_retired)?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(db("looking up bounce candidates"))
}

/// The row of one DSN recipient among `rows` (one message's recipients,
/// most recent first): the one it names, or the only row when the DSN has
/// only this recipient and names none we know (a forwarded address).
fn pick<'a>(
    rows: &'a [RetiredMessage],
    key: &BounceRecipientKey,
    single: bool,
) -> Option<&'a RetiredMessage> {
    rows.iter()
        .find(|r| names_row(key, r))
        .or_else(|| (single && rows.len() == 1).then(|| &rows[0]))
}

pub(crate) fn match_bounce(
    conn: &Connection,
    shared: &Shared,
    account: &str,
    query: &BounceQuery,
) -> Result<Vec<BounceMatch>, StoreError> {
    let now_ms = to_ms(shared.clock.now());
    let single = query.recipients.len() == 1;
    let mut out: Vec<BounceMatch> = Vec::new();
    let mut push = |row: &RetiredMessage, index: usize| {
        if !out.iter().any(|m| m.message.message.id == row.message.id) {
            out.push(BounceMatch {
                message: row.clone(),
                recipient: index,
            });
        }
    };
    if !query.from_id.is_empty() {
        let row = conn
            .prepare_cached(&format!(
                "SELECT {} FROM retired WHERE from_id = ?1 AND from_id != '' AND account = ?2 AND keep_until >= ?3",
                retired_cols()
            ))
            .and_then(|mut st| {
                st.query_row(params![query.from_id, account, now_ms], read_retired)
                    .optional()
            })
            .map_err(db("looking up fromid"))?;
        if let Some(row) = row {
            let rows = [row];
            for (i, key) in query.recipients.iter().enumerate() {
                if let Some(r) = pick(&rows, key, single) {
                    push(r, i);
                }
            }
        }
        return Ok(out);
    }
    let by_envid = candidates(conn, account, "envid", query.envid.trim(), now_ms)?;
    let message_id = norm_message_id(&query.returned_message_id);
    let by_message_id = candidates(conn, account, "message_id", &message_id, now_ms)?;
    for (i, key) in query.recipients.iter().enumerate() {
        let found = pick(&by_envid, key, single).or_else(|| pick(&by_message_id, key, single));
        if let Some(r) = found {
            push(r, i);
        }
    }
    Ok(out)
}

fn retired_of(conn: &Connection, account: &str, id: i64) -> Result<RetiredMessage, StoreError> {
    get_retired(conn, id)?
        .filter(|r| r.message.account == account)
        .ok_or_else(|| StoreError::NotFound {
            what: format!("history row {id} of account {account:?}"),
        })
}

pub(crate) fn apply_dsn_event(
    conn: &Connection,
    shared: &Shared,
    account: &str,
    id: i64,
    event: DsnEvent,
) -> Result<DsnApplied, StoreError> {
    let now = shared.clock.now();
    let mut r = retired_of(conn, account, id)?;
    let failed = event.action == dsn::Action::Failed;
    let success = matches!(
        event.action,
        dsn::Action::Delivered | dsn::Action::Relayed | dsn::Action::Expanded
    );
    r.message.results.push(AttemptResult {
        start_ms: to_ms(now),
        success,
        code: event.code,
        enhanced_code: event.enhanced.map(|e| e.to_string()).unwrap_or_default(),
        reply_lines: event.lines.clone(),
        failure_class: event
            .reason
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        error: RESULT_INCOMING.into(),
        ..AttemptResult::default()
    });
    let results = serde_json::to_string(&r.message.results).map_err(|e| StoreError::Corrupt {
        id,
        field: "results",
        reason: e.to_string(),
    })?;
    if failed {
        // A bounce after a delivery turns the outcome into a failure, which
        // the repeated-failure suppression rule counts.
        conn.execute(
            "UPDATE retired SET results = ?1, success = 0, event = 'failed', by_admin = 0, last_activity = ?2 WHERE id = ?3",
            params![results, to_ms(now), id],
        )
    } else {
        conn.execute(
            "UPDATE retired SET results = ?1, last_activity = ?2 WHERE id = ?3",
            params![results, to_ms(now), id],
        )
    }
    .map_err(db("recording incoming DSN"))?;
    let suppressing = failed
        && event.code != 0
        && suppress_after_failure(
            conn,
            shared,
            account,
            &r.message.recipient,
            event.code,
            event.enhanced,
            FailureSource::Dsn,
        )?;
    let hook_ids = queue_event_hook(conn, shared, &r, HookInput::Dsn(&event), suppressing)?;
    tracing::info!(
        target: "queue",
        id,
        account,
        action = event.action.as_str(),
        code = event.code,
        suppressing,
        "incoming DSN recorded"
    );
    Ok(DsnApplied {
        suppressing,
        hook_ids,
    })
}

pub(crate) fn record_unrecognized(
    conn: &Connection,
    shared: &Shared,
    account: &str,
    id: i64,
    is_dsn: bool,
    msg_id: i64,
) -> Result<Vec<i64>, StoreError> {
    let r = retired_of(conn, account, id)?;
    tracing::info!(target: "queue", id, account, is_dsn, msg_id, "unrecognized message at a fromid address");
    queue_event_hook(
        conn,
        shared,
        &r,
        HookInput::Unrecognized { is_dsn, msg_id },
        false,
    )
}

/// What an outgoing webhook for incoming mail reports.
enum HookInput<'a> {
    /// A matched DSN recipient.
    Dsn(&'a DsnEvent),
    /// Mail at a fromid address that is no usable DSN.
    Unrecognized {
        /// It was a DSN (e.g. an unknown action), not other mail.
        is_dsn: bool,
        /// Its mailbox id.
        msg_id: i64,
    },
}

/// Queues the outgoing webhook for incoming mail about a retired row, in
/// the caller's transaction.
fn queue_event_hook(
    conn: &Connection,
    shared: &Shared,
    row: &RetiredMessage,
    input: HookInput<'_>,
    suppressing: bool,
) -> Result<Vec<i64>, StoreError> {
    let data = match input {
        HookInput::Dsn(e) => {
            let event = match e.action {
                dsn::Action::Failed => OutgoingEvent::Failed,
                dsn::Action::Delayed => OutgoingEvent::Delayed,
                dsn::Action::Delivered => OutgoingEvent::Delivered,
                dsn::Action::Relayed => OutgoingEvent::Relayed,
                dsn::Action::Expanded => OutgoingEvent::Expanded,
            };
            let failing = matches!(event, OutgoingEvent::Failed | OutgoingEvent::Delayed);
            OutgoingEventData {
                event,
                dsn: true,
                suppressing,
                smtp_code: e.code,
                smtp_enhanced_code: e.enhanced.map(|c| c.to_string()).unwrap_or_default(),
                // The reference leaves Error empty for DSN-based events.
                error: String::new(),
                bounce_reason: if failing {
                    e.reason.unwrap_or(dsn::Reason::Other).as_str().to_string()
                } else {
                    String::new()
                },
                hard_bounce: e.hard,
                dsn_msg_id: e.dsn_msg_id,
            }
        }
        HookInput::Unrecognized { is_dsn, msg_id } => OutgoingEventData {
            event: OutgoingEvent::Unrecognized,
            dsn: is_dsn,
            dsn_msg_id: msg_id,
            ..OutgoingEventData::default()
        },
    };
    hooks::queue_outgoing_event(conn, shared, &row.message, &data)
}
