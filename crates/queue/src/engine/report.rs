//! DSNs for the sender: which are wanted, and composing them.

use std::time::SystemTime;

use dsn::{
    Action, DateTime, Dsn, Mta, Original, PerMessage, RecipientStatus, RetrySchedule, Typed,
};
use smtp::{Class, EnhancedCode};

use crate::model::{AttemptResult, Completed, Outcome, QueuedMessage};

/// The kinds of DSN the queue writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DsnKind {
    /// Final failure.
    Failed,
    /// Still trying (after the 5th attempt).
    Delayed,
    /// Accepted by a next hop without the DSN extension.
    Relayed,
}

impl DsnKind {
    fn action(self) -> Action {
        match self {
            DsnKind::Failed => Action::Failed,
            DsnKind::Delayed => Action::Delayed,
            DsnKind::Relayed => Action::Relayed,
        }
    }

    fn subject(self) -> &'static str {
        match self {
            DsnKind::Failed => "mail delivery failed",
            DsnKind::Delayed => "mail delivery delayed",
            DsnKind::Relayed => "mail relayed",
        }
    }
}

/// The [`crate::DsnWriter`] for [`crate::Store::fail_with_dsns`]: composes
/// the failure DSN of an admin-failed row (if its sender wants one) and
/// stores it in the sender account's Inbox or the postmaster's mailbox.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let mailbox = std::sync::Arc::new(mailbox::SqliteMailboxStore::open(dir.path().join("m.db"), Default::default()).unwrap());
/// let config = queue::engine::EngineConfig::default();
/// let writer = queue::engine::admin_failure_dsn_writer(&config, mailbox);
/// # drop(writer);
/// ```
pub fn admin_failure_dsn_writer(
    config: &super::EngineConfig,
    mailbox: std::sync::Arc<dyn mailbox::MailboxStore>,
) -> crate::DsnWriter {
    let hostname = config.hostname.clone();
    let postmaster = (
        config.postmaster_account.clone(),
        config.postmaster_mailbox.clone(),
    );
    std::sync::Arc::new(move |row: &QueuedMessage, body: &[u8]| {
        if !wanted(row, DsnKind::Failed) {
            return 0;
        }
        let now = SystemTime::now();
        let result = row.results.last().cloned().unwrap_or_default();
        let raw = match compose(&DsnInput {
            hostname: &hostname,
            row,
            result: &result,
            kind: DsnKind::Failed,
            body,
            now,
        }) {
            Ok(raw) => raw,
            Err(err) => {
                tracing::error!(target: "queue", id = row.id, error = %err, "composing dsn");
                return 0;
            }
        };
        match store_dsn_id(mailbox.as_ref(), &postmaster, row, raw, now) {
            Ok(id) => id,
            Err(errors) => {
                tracing::error!(target: "queue", id = row.id, error = %errors.0, fallback_error = %errors.1, "writing dsn");
                0
            }
        }
    })
}

/// Whether the sender asked for this DSN: never for the null reverse path
/// (a bounce must not bounce), never with NOTIFY=NEVER, otherwise as NOTIFY
/// says (SUCCESS for delivered and relayed).
pub(crate) fn wanted(row: &QueuedMessage, kind: DsnKind) -> bool {
    if row.sender.is_empty() {
        return false;
    }
    let notify = row.dsn.notify;
    match kind {
        DsnKind::Failed => notify.failure(),
        DsnKind::Delayed => notify.delay(),
        DsnKind::Relayed => notify.success(),
    }
}

/// The DSN an attempt's outcome calls for, if the sender wants it: failed
/// or suppressed → failure; the 5th failed attempt of a row with more to
/// come → delayed; delivered to a next hop without the DSN extension →
/// relayed. Delivered to a next hop that has it → none: the NOTIFY
/// parameter went along and that hop reports success (RFC 3461 §5.2.2);
/// a "delivered" DSN of ours would give the sender two.
pub(crate) fn dsn_for(row: &QueuedMessage, done: &Completed, relayed: bool) -> Option<DsnKind> {
    let kind = match done {
        Completed::Delivered if relayed => DsnKind::Relayed,
        Completed::Delivered => return None,
        Completed::Failed { .. } | Completed::Suppressed => DsnKind::Failed,
        Completed::Retry { attempts, .. } if *attempts == 5 && row.effective_max_attempts() > 5 => {
            DsnKind::Delayed
        }
        Completed::Retry { .. } | Completed::Gone => return None,
    };
    wanted(row, kind).then_some(kind)
}

/// What [`crate::Store::complete`] will make of `outcome` for a row whose
/// attempt is registered (its `attempts` counts this one): the engine
/// decides on the DSN before completing, so the webhook can name it.
pub(crate) fn expected_completion(row: &QueuedMessage, outcome: &Outcome) -> Completed {
    match outcome {
        Outcome::Delivered => Completed::Delivered,
        Outcome::Suppressed => Completed::Suppressed,
        Outcome::Permanent => Completed::Failed {
            suppressed_now: false,
        },
        Outcome::Temporary if row.attempts >= row.effective_max_attempts() => Completed::Failed {
            suppressed_now: false,
        },
        Outcome::Temporary => Completed::Retry {
            next_attempt: row.next_attempt,
            attempts: row.attempts,
        },
    }
}

/// The waits before each attempt still to come after `attempts` attempts,
/// as the store's backoff will schedule them (without jitter).
pub(crate) fn remaining_schedule(attempts: u32, max_attempts: u32) -> RetrySchedule {
    RetrySchedule {
        remaining_waits: (attempts..max_attempts)
            .map(|done| crate::backoff(done, 0))
            .collect(),
    }
}

fn status_code(kind: DsnKind, result: &AttemptResult) -> EnhancedCode {
    let class = match kind {
        DsnKind::Failed => Class::Permanent,
        DsnKind::Delayed => Class::Transient,
        DsnKind::Relayed => Class::Success,
    };
    match result.enhanced_code.parse::<EnhancedCode>() {
        Ok(code) if kind == DsnKind::Failed || kind == DsnKind::Delayed => {
            EnhancedCode::new(class, code.subject, code.detail)
        }
        _ => EnhancedCode::new(class, 0, 0),
    }
}

/// A DSN message id: random, at our host name.
pub(crate) fn new_message_id(hostname: &str) -> String {
    let mut buf = [0u8; 16];
    let _ = getrandom::fill(&mut buf);
    let id: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    format!("{id}@{hostname}")
}

/// Everything needed to write one DSN.
pub(crate) struct DsnInput<'a> {
    pub hostname: &'a str,
    pub row: &'a QueuedMessage,
    pub result: &'a AttemptResult,
    pub kind: DsnKind,
    pub body: &'a [u8],
    pub now: SystemTime,
}

/// Composes the DSN, with Return-Path and Delivered-To prepended as for a
/// message delivered into a mailbox.
pub(crate) fn compose(input: &DsnInput<'_>) -> Result<Vec<u8>, dsn::ComposeError> {
    let DsnInput {
        hostname,
        row,
        result,
        kind,
        body,
        now,
    } = *input;
    let postmaster = format!("postmaster@{hostname}");
    let mut status = RecipientStatus::new(&row.recipient, kind.action(), status_code(kind, result));
    status.original_recipient = Some(Typed::new(&row.dsn.orcpt.addr_type, &row.dsn.orcpt.address));
    if !result.error.is_empty() && !result.success {
        status.status_comment = Some(result.error.clone());
    }
    if !result.mx_host.is_empty() {
        status.remote_mta = Some(Mta {
            kind: "dns".into(),
            name: result.mx_host.clone(),
            ip: (!result.ip.is_empty()).then(|| result.ip.clone()),
        });
    }
    if result.code != 0 && !result.success {
        status.diagnostic_code = Some(Typed::new(
            "smtp",
            &format!("{} {}", result.code, result.reply_lines.join(" ")),
        ));
    }
    status.last_attempt_date = row.last_attempt.map(DateTime::from_system_time);
    let retry = (kind == DsnKind::Delayed)
        .then(|| remaining_schedule(row.attempts, row.effective_max_attempts()));
    let message_id = new_message_id(hostname);
    let references = row
        .message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let report = Dsn {
        from: postmaster.clone(),
        to: row.sender.clone(),
        subject: kind.subject().into(),
        message_id,
        references: (!references.is_empty()).then(|| references.to_string()),
        date: DateTime::from_system_time(now),
        text: String::new(),
        per_message: PerMessage {
            original_envelope_id: (!row.dsn.envid.is_empty()).then(|| row.dsn.envid.clone()),
            reporting_mta: Some(Mta::dns(hostname)),
            arrival_date: Some(DateTime::from_system_time(row.queued)),
            future_release_request: (!row.future_release.is_empty())
                .then(|| row.future_release.clone()),
            ..PerMessage::default()
        },
        recipients: vec![status],
        original: Some(Original {
            message: body.to_vec(),
            return_full: kind == DsnKind::Failed && row.dsn.ret == Some(smtp::Ret::Full),
        }),
        // Global (UTF-8) types only when the message or its addresses need them.
        smtputf8: row.smtputf8 || !row.recipient.is_ascii() || !row.sender.is_ascii(),
        retry,
    };
    let composed = dsn::compose(&report)?;
    let mut out = format!(
        "Return-Path: <{postmaster}>\r\nDelivered-To: <{}>\r\n",
        row.sender
    )
    .into_bytes();
    out.extend_from_slice(&composed);
    Ok(out)
}

/// Delivers a composed DSN into the sender account's Inbox, or into the
/// postmaster's mailbox when that fails. Both errors when neither worked.
pub(crate) fn store_dsn(
    mailbox: &dyn mailbox::MailboxStore,
    postmaster: &(String, String),
    row: &QueuedMessage,
    raw: Vec<u8>,
    now: SystemTime,
) -> Result<(), Box<(mailbox::MailboxError, mailbox::MailboxError)>> {
    store_dsn_id(mailbox, postmaster, row, raw, now).map(drop)
}

/// [`store_dsn`] returning the mailbox id of the stored DSN.
pub(crate) fn store_dsn_id(
    mailbox: &dyn mailbox::MailboxStore,
    postmaster: &(String, String),
    row: &QueuedMessage,
    raw: Vec<u8>,
    now: SystemTime,
) -> Result<i64, Box<(mailbox::MailboxError, mailbox::MailboxError)>> {
    let message = mailbox::NewMessage {
        account: row.account.clone(),
        mailbox: mailbox::INBOX.into(),
        received: now,
        flags: mailbox::Flags::default(),
        envelope: mailbox::Envelope {
            mail_from: None,
            rcpt_to: row.sender_address().ok().flatten(),
            remote_ip: None,
            is_dsn: true,
        },
        raw,
    };
    match mailbox.deliver(&message) {
        Ok(meta) => Ok(meta.id.0),
        Err(first) => {
            let fallback = mailbox::NewMessage {
                account: postmaster.0.clone(),
                mailbox: postmaster.1.clone(),
                ..message
            };
            mailbox
                .deliver(&fallback)
                .map(|meta| meta.id.0)
                .map_err(|second| Box::new((first, second)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DsnParams, QueuedMessage};
    use smtp::{Notify, OriginalRecipient};
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn row(sender: &str, notify: Notify) -> QueuedMessage {
        QueuedMessage {
            id: 1,
            base_id: 0,
            body_id: 1,
            queued: SystemTime::UNIX_EPOCH,
            hold: false,
            account: "alice".into(),
            sender: sender.into(),
            sender_domain: String::new(),
            from_id: String::new(),
            recipient: "bob@example.com".into(),
            recipient_domain: "example.com".into(),
            attempts: 5,
            max_attempts: 0,
            dialed_ips: BTreeMap::new(),
            next_attempt: SystemTime::UNIX_EPOCH,
            last_attempt: None,
            results: Vec::new(),
            has_8bit: false,
            smtputf8: false,
            size: 0,
            message_id: String::new(),
            subject: String::new(),
            transport: String::new(),
            require_tls: None,
            future_release: String::new(),
            extra: BTreeMap::new(),
            dsn: DsnParams {
                notify,
                ret: None,
                envid: String::new(),
                orcpt: OriginalRecipient {
                    addr_type: "rfc822".into(),
                    address: "bob@example.com".into(),
                },
            },
            lease_owner: String::new(),
            lease_until: None,
        }
    }

    const RETRY5: Completed = Completed::Retry {
        next_attempt: SystemTime::UNIX_EPOCH,
        attempts: 5,
    };
    const FAILED: Completed = Completed::Failed {
        suppressed_now: false,
    };

    #[test]
    fn notify_decides_which_dsns_are_written() {
        let default = Notify::new(false, true, true);
        let r = row("alice@example.org", default);
        assert_eq!(dsn_for(&r, &RETRY5, false), Some(DsnKind::Delayed));
        assert_eq!(dsn_for(&r, &FAILED, false), Some(DsnKind::Failed));
        assert_eq!(
            dsn_for(&r, &Completed::Suppressed, false),
            Some(DsnKind::Failed)
        );
        assert_eq!(dsn_for(&r, &Completed::Delivered, true), None);
        // NOTIFY without DELAY: no delayed DSN, failure DSN still.
        let r = row("alice@example.org", Notify::new(false, true, false));
        assert_eq!(dsn_for(&r, &RETRY5, false), None);
        assert_eq!(dsn_for(&r, &FAILED, false), Some(DsnKind::Failed));
        // NEVER: nothing.
        let r = row("alice@example.org", Notify::NEVER);
        assert_eq!(dsn_for(&r, &FAILED, false), None);
        assert_eq!(dsn_for(&r, &RETRY5, false), None);
        // SUCCESS: the DSN-capable next hop reports (RFC 3461 §5.2.2), so
        // none from us; relayed when the next hop lacked DSN.
        let r = row("alice@example.org", Notify::new(true, false, false));
        assert_eq!(dsn_for(&r, &Completed::Delivered, false), None);
        assert_eq!(
            dsn_for(&r, &Completed::Delivered, true),
            Some(DsnKind::Relayed)
        );
        // The null reverse path never gets a DSN.
        let r = row("", Notify::new(true, true, true));
        assert_eq!(dsn_for(&r, &FAILED, false), None);
        assert_eq!(dsn_for(&r, &Completed::Delivered, false), None);
        // Only the 5th attempt, and only when more attempts follow.
        let mut r = row("alice@example.org", default);
        r.max_attempts = 5;
        assert_eq!(dsn_for(&r, &RETRY5, false), None);
        let four = Completed::Retry {
            next_attempt: SystemTime::UNIX_EPOCH,
            attempts: 4,
        };
        assert_eq!(
            dsn_for(&row("alice@example.org", default), &four, false),
            None
        );
    }

    #[test]
    fn schedule_after_fifth_attempt_is_two_four_and_eight_hours() {
        let s = remaining_schedule(5, 8);
        assert_eq!(
            s.remaining_waits,
            vec![
                Duration::from_secs(7200),
                Duration::from_secs(14400),
                Duration::from_secs(28800)
            ]
        );
        assert_eq!(s.describe(), "in 2 hours, 6 hours and 14 hours");
    }
}
