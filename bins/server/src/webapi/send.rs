//! Send and SendBatch: each message is composed and checked (From allowed
//! for the account, size, FUTURERELEASE, suppressed recipients when asked),
//! the account's daily limits are checked over all of them, and all are
//! queued with the idempotency key's completion in one transaction: a
//! batch is all or nothing and a crash cannot send twice.

use std::time::{Duration, SystemTime};

use mailbox::{
    Account, Envelope as MailEnvelope, Flags, MailboxError, MailboxRole, MailboxStore, NewMessage,
};
use queue::{Begun, IdempotencyDone, NewRecipient, Store, StoreError, Submission};
use smtp::{Address, Localpart};
use tracing::info;
use webapi::compose::{ComposeContext, Composed, compose};
use webapi::server::{Idempotency, Session};
use webapi::types::{NameAddress, SendRequest, SendResult, Submission as ResultSubmission};
use webapi::{ApiError, ErrorCode};

use super::{Settings, WebApi, blocking, internal};
use crate::limits::Exceeded;
use crate::policy::Policy;
use crate::submission::new_fromid;

/// How long a running idempotency key blocks repeats: longer than any
/// request takes, short enough that a crashed request's key frees soon.
pub const RUNNING_FOR: Duration = Duration::from_secs(10 * 60);

/// The longest FutureRelease accepted.
const FUTURE_RELEASE_MAX: Duration = queue::FUTURE_RELEASE_MAX;

/// One message ready to queue.
struct Prepared {
    submission: Submission,
    message_id: String,
    /// (address, fromid) per recipient, To, CC, BCC order.
    recipients: Vec<(String, String)>,
    /// The Sent copy, when SaveSent was asked.
    sent_copy: Option<Vec<u8>>,
    refuse_suppressed: bool,
}

fn user(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::User, message)
}

/// Whether `from` (up to the catchall separator) is one of the account's
/// addresses.
fn owns(account: &Account, separator: Option<char>, from: &Address) -> bool {
    let local = from.localpart().as_str().to_lowercase();
    let base = match separator {
        Some(s) => local.split(s).next().unwrap_or(&local).to_string(),
        None => local,
    };
    let Some(domain) = from.domain() else {
        return false;
    };
    let wanted = format!("{base}@{}", domain.ascii().to_lowercase());
    account
        .addresses
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&wanted))
}

/// The trace header for a message that arrived over HTTP.
fn received(hostname: &str, s: &Session, id: &str, only: Option<&str>, at: SystemTime) -> String {
    let ip = smtpserver::address_literal(s.ip);
    let mut h = format!("Received: from {ip} by {hostname} via HTTP with HTTPA id {id}");
    if let Some(r) = only {
        h.push_str(&format!("\r\n\tfor <{r}>"));
    }
    h.push_str(&format!(";\r\n\t{}\r\n", smtpserver::format_rfc5322(at)));
    h
}

fn sent_copy(composed: &Composed) -> Vec<u8> {
    let bcc: Vec<String> = composed
        .recipients
        .iter()
        .filter(|(kind, _)| *kind == webapi::compose::RecipientKind::Bcc)
        .map(|(_, a)| a.to_utf8_wire())
        .collect();
    let mut out = Vec::with_capacity(composed.data.len() + 64);
    if !bcc.is_empty() {
        out.extend_from_slice(format!("Bcc: {}\r\n", bcc.join(", ")).as_bytes());
    }
    out.extend_from_slice(&composed.data);
    out
}

/// Composes and checks one message (blocking: composing may be large work).
fn prepare(
    policy_all: &Policy,
    settings: &Settings,
    s: &Session,
    account: &Account,
    req: &SendRequest,
    now: SystemTime,
) -> Result<Prepared, ApiError> {
    let policy = policy_all.account(&s.account).clone();
    let ctx = ComposeContext {
        hostname: settings.hostname.clone(),
        now,
        default_from: NameAddress {
            name: account.display_name.clone(),
            address: s.login.clone(),
        },
        user_agent: format!("postel/{}", env!("CARGO_PKG_VERSION")),
        random: random16(),
    };
    let composed = compose(req, &ctx)?;
    if !owns(account, policy.separator, &composed.from) {
        return Err(ApiError::new(
            ErrorCode::BadFrom,
            format!(
                "from address {} is not an address of this account",
                composed.from.to_utf8_wire()
            ),
        ));
    }
    if composed
        .from
        .domain()
        .is_some_and(|d| policy_all.domain_disabled(d.ascii()))
    {
        return Err(ApiError::new(
            ErrorCode::DomainDisabled,
            format!(
                "the domain of from address {} is disabled",
                composed.from.to_utf8_wire()
            ),
        ));
    }
    let future_release = match req.future_release {
        Some(until) if until > now + FUTURE_RELEASE_MAX => {
            return Err(user("FutureRelease is more than 60 days in the future"));
        }
        Some(until) => Some(queue::FutureRelease {
            until,
            request: format!("until;{}", smtpserver::format_rfc3339(until)),
        }),
        None => None,
    };
    let only = match composed.recipients.as_slice() {
        [(_, one)] => Some(one.to_utf8_wire()),
        _ => None,
    };
    let trace_id = new_fromid();
    let mut body = received(&settings.hostname, s, &trace_id, only.as_deref(), now).into_bytes();
    body.extend_from_slice(&composed.data);
    if body.len() as u64 > settings.max_message_size {
        return Err(ApiError::new(
            ErrorCode::MessageTooLarge,
            format!(
                "message of {} bytes is larger than the maximum of {} bytes",
                body.len(),
                settings.max_message_size
            ),
        ));
    }

    let fromid_mode = policy.fromid_mode(Some(&s.login));
    let mut new_rcpts = Vec::with_capacity(composed.recipients.len());
    let mut recipients = Vec::with_capacity(composed.recipients.len());
    for (_, address) in &composed.recipients {
        let mut nr = NewRecipient::new(address.clone());
        let mut from_id = String::new();
        if let (true, Some(sep)) = (fromid_mode, policy.separator) {
            let id = new_fromid();
            let local = composed.from.localpart().as_str();
            let base = local.split(sep).next().unwrap_or(local);
            let local = Localpart::new(&format!("{base}{sep}{id}"))
                .map_err(|e| internal("building the fromid address", e))?;
            nr.mail_from = Some(Address::new(local, composed.from.host().clone()));
            nr.from_id = Some(id.clone());
            from_id = id;
        }
        recipients.push((address.to_utf8_wire(), from_id));
        new_rcpts.push(nr);
    }
    let submission = Submission {
        account: s.account.clone(),
        sender: Some(composed.from.clone()),
        recipients: new_rcpts,
        body,
        message_id: composed.message_id.clone(),
        subject: composed.subject.clone(),
        has_8bit: composed.has_8bit,
        smtputf8: composed.smtputf8,
        require_tls: req.require_tls,
        future_release,
        transport: String::new(),
        extra: req.extra.clone(),
        envid: None,
        ret: None,
        max_attempts: policy_all.max_attempts,
    };
    Ok(Prepared {
        submission,
        message_id: composed.message_id.clone(),
        recipients,
        sent_copy: req.save_sent.then(|| sent_copy(&composed)),
        refuse_suppressed: req.refuse_suppressed,
    })
}

impl WebApi {
    /// Send and SendBatch: `batch` numbers item errors.
    pub(crate) async fn submit(
        &self,
        s: &Session,
        requests: Vec<SendRequest>,
        idem: Option<Idempotency>,
        batch: bool,
    ) -> Result<Vec<SendResult>, ApiError> {
        if let Some(i) = &idem {
            let (queue, account, key, fp) = (
                self.queue.clone(),
                s.account.clone(),
                i.key.clone(),
                i.fingerprint,
            );
            let begun = blocking("idempotency key", move || {
                queue.idempotency_begin(&account, &key, &fp, RUNNING_FOR)
            })
            .await?
            .map_err(|e| internal("recording the idempotency key", e))?;
            match begun {
                Begun::Started => {}
                Begun::Done(json) => {
                    return serde_json::from_str(&json)
                        .map_err(|e| internal("decoding the stored idempotent result", e));
                }
                Begun::InProgress => {
                    return Err(ApiError::new(
                        ErrorCode::IdempotencyInProgress,
                        format!(
                            "a request with idempotency key {:?} is still running",
                            i.key
                        ),
                    ));
                }
                Begun::Mismatch => {
                    return Err(ApiError::new(
                        ErrorCode::IdempotencyMismatch,
                        format!(
                            "idempotency key {:?} was used for a different request",
                            i.key
                        ),
                    ));
                }
            }
        }
        let result = self.submit_started(s, requests, idem.as_ref(), batch).await;
        if result.is_err()
            && let Some(i) = &idem
        {
            let (queue, account, key) = (self.queue.clone(), s.account.clone(), i.key.clone());
            // A failed request stores nothing; if even this fails, the
            // running record expires by itself.
            if let Ok(Err(e)) = blocking("idempotency key", move || {
                queue.idempotency_abort(&account, &key)
            })
            .await
            {
                tracing::warn!(target: "postel", error = %e, "releasing an idempotency key failed");
            }
        }
        result
    }

    async fn submit_started(
        &self,
        s: &Session,
        requests: Vec<SendRequest>,
        idem: Option<&Idempotency>,
        batch: bool,
    ) -> Result<Vec<SendResult>, ApiError> {
        let now = SystemTime::now();
        let (mailbox, policy, settings, session) = (
            self.mailbox.clone(),
            self.policy.clone(),
            self.settings.clone(),
            s.clone(),
        );
        let cached = self
            .accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&s.account)
            .cloned();
        let prepared = blocking("compose", move || {
            let account = match cached {
                Some(a) => a,
                None => mailbox
                    .account(&session.account)
                    .map_err(|e| internal("reading the account", e))?,
            };
            let mut prepared = Vec::with_capacity(requests.len());
            for (index, req) in requests.iter().enumerate() {
                match prepare(&policy, &settings, &session, &account, req, now) {
                    Ok(p) => prepared.push(p),
                    Err(e) if batch => {
                        return Err(ApiError::new(
                            e.code,
                            format!("message {index}: {}", e.message),
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(prepared)
        })
        .await??;
        self.refuse_suppressed(s, &prepared).await?;
        self.check_limits(s, &prepared, now).await?;

        let shapes: Vec<(String, Vec<(String, String)>)> = prepared
            .iter()
            .map(|p| (p.message_id.clone(), p.recipients.clone()))
            .collect();
        let build = move |ids: &[Vec<i64>]| -> Vec<SendResult> {
            shapes
                .iter()
                .zip(ids)
                .map(|((message_id, rcpts), ids)| SendResult {
                    message_id: message_id.clone(),
                    submissions: rcpts
                        .iter()
                        .zip(ids)
                        .map(|((address, from_id), id)| ResultSubmission {
                            address: address.clone(),
                            queue_msg_id: *id,
                            from_id: from_id.clone(),
                        })
                        .collect(),
                })
                .collect()
        };
        let done = idem.map(|i| {
            let build = build.clone();
            IdempotencyDone {
                account: s.account.clone(),
                key: i.key.clone(),
                fingerprint: i.fingerprint,
                result: Box::new(move |ids: &[Vec<i64>]| {
                    serde_json::to_string(&build(ids)).map_err(|e| e.to_string())
                }),
            }
        });
        let mut copies = Vec::new();
        let mut submissions = Vec::with_capacity(prepared.len());
        let mut all_rcpts = Vec::new();
        for p in prepared {
            all_rcpts.extend(p.recipients.iter().map(|(a, _)| a.to_lowercase()));
            if let Some(c) = p.sent_copy {
                copies.push((p.submission.sender.clone(), c));
            }
            submissions.push(p.submission);
        }
        let queue = self.queue.clone();
        let ids = blocking("enqueue", move || queue.enqueue_many(submissions, done))
            .await?
            .map_err(|e| match e {
                StoreError::FromIdNotUnique { .. } | StoreError::IdempotencyTaken { .. } => {
                    ApiError::new(ErrorCode::Server, format!("{e}; try again"))
                }
                StoreError::FutureReleaseTooFar { .. } => user(e.to_string()),
                e => internal("queueing the message", e),
            })?;
        self.limits.record(&s.account, &all_rcpts, now);
        self.kick.notify_one();
        let results = build(&ids);
        info!(
            target: "postel",
            account = %s.account,
            messages = results.len(),
            recipients = all_rcpts.len(),
            "web API messages queued"
        );
        self.save_sent(s, copies, now).await?;
        Ok(results)
    }

    async fn refuse_suppressed(&self, s: &Session, prepared: &[Prepared]) -> Result<(), ApiError> {
        let wanted: Vec<String> = prepared
            .iter()
            .filter(|p| p.refuse_suppressed)
            .flat_map(|p| p.recipients.iter().map(|(a, _)| a.clone()))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let (queue, account) = (self.queue.clone(), s.account.clone());
        let found = blocking("suppression lookup", move || {
            let mut found = Vec::new();
            for a in wanted {
                if queue.suppression_lookup(&account, &a)?.is_some() && !found.contains(&a) {
                    found.push(a);
                }
            }
            Ok::<_, StoreError>(found)
        })
        .await?
        .map_err(|e| internal("looking up suppressions", e))?;
        if found.is_empty() {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::RecipientSuppressed,
            format!("recipients on the suppression list: {}", found.join(", ")),
        ))
    }

    async fn check_limits(
        &self,
        s: &Session,
        prepared: &[Prepared],
        now: SystemTime,
    ) -> Result<(), ApiError> {
        let rcpts: Vec<String> = prepared
            .iter()
            .flat_map(|p| p.recipients.iter().map(|(a, _)| a.to_lowercase()))
            .collect();
        let policy = self.policy.account(&s.account);
        let (mpd, fpd) = (policy.messages_per_day, policy.first_time_per_day);
        let (queue, tracker, account) =
            (self.queue.clone(), self.limits.clone(), s.account.clone());
        let exceeded = blocking("limits", move || {
            tracker.check(&*queue, &account, &rcpts, mpd, fpd, now)
        })
        .await?
        .map_err(|e| internal("checking the daily limits", e))?;
        match exceeded {
            None => Ok(()),
            Some(Exceeded::Messages(n)) => Err(ApiError::new(
                ErrorCode::MessageLimitReached,
                format!(
                    "max number of messages ({n}) over past 24h reached, try increasing per-account setting max_outgoing_messages_per_day"
                ),
            )),
            Some(Exceeded::FirstTime(n)) => Err(ApiError::new(
                ErrorCode::RecipientLimitReached,
                format!(
                    "max number of new/first-time recipients ({n}) over past 24h reached, try increasing per-account setting max_first_time_recipients_per_day"
                ),
            )),
        }
    }

    async fn save_sent(
        &self,
        s: &Session,
        copies: Vec<(Option<Address>, Vec<u8>)>,
        now: SystemTime,
    ) -> Result<(), ApiError> {
        if copies.is_empty() {
            return Ok(());
        }
        let (mailbox, account, ip) = (self.mailbox.clone(), s.account.clone(), s.ip);
        let result = blocking("saving to Sent", move || {
            let sent = mailbox.mailbox_by_role(&account, MailboxRole::Sent)?;
            let flags = Flags::parse(["\\Seen", "$NotJunk"])?;
            for (from, raw) in copies {
                mailbox.deliver(&NewMessage {
                    account: account.clone(),
                    mailbox: sent.name.clone(),
                    received: now,
                    flags: flags.clone(),
                    envelope: MailEnvelope {
                        mail_from: from,
                        rcpt_to: None,
                        remote_ip: Some(ip),
                        is_dsn: false,
                    },
                    raw,
                })?;
            }
            Ok::<_, MailboxError>(())
        })
        .await?;
        match result {
            Ok(()) => Ok(()),
            Err(MailboxError::QuotaExceeded { .. }) => Err(ApiError::new(
                ErrorCode::SentOverQuota,
                "the message was sent, but storing it in the Sent mailbox exceeds the quota",
            )),
            Err(e) => Err(internal("storing the Sent copy (the message was sent)", e)),
        }
    }
}

fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = nanos.to_le_bytes();
    }
    b
}
