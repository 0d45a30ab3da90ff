//! Incoming mail (port 25, and localserve's SMTP port): mail for hosted
//! accounts goes into their Inbox; a bounce about a message we sent (at a
//! fromid address, or at the plain address by ENVID or the returned
//! Message-ID, only within the receiving account) becomes an outgoing
//! event for that message; anything else at a fromid address is
//! `unrecognized`; other mail gives the incoming webhook. Relaying is
//! refused. The 250 comes only after the mailbox and the queue committed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

use mailbox::{
    Envelope as MailEnvelope, Flags, INBOX, MailboxError, MailboxStore, NewMessage,
    SqliteMailboxStore,
};
use queue::{BounceQuery, BounceRecipientKey, DsnEvent, SqliteStore, Store};
use smtp::{Address, RcptParams, Reply};
use smtpserver::{Envelope, Handler, Message, Session, replies};
use tracing::{info, warn};

use crate::policy::Policy;

/// Where an accepted recipient goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The account.
    pub account: String,
    /// The fromid after the account's catchall separator, "" if none.
    pub from_id: String,
}

/// What happened to a message for one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Bounce recipients matched and recorded: (retired id, event).
    Bounce(Vec<(i64, &'static str)>),
    /// Mail at a fromid address that is no usable bounce.
    Unrecognized(i64),
    /// Ordinary incoming mail; the incoming webhook ids.
    Incoming(Vec<i64>),
}

/// The inbound [`Handler`].
pub struct Inbound {
    queue: Arc<SqliteStore>,
    mailbox: Arc<SqliteMailboxStore>,
    policy: Arc<Policy>,
    domains: BTreeSet<String>,
    postmaster: Option<String>,
}

fn internal(e: impl std::fmt::Display) -> Reply {
    warn!(target: "postel", error = %e, "incoming mail failed on a local error");
    replies::local_error("local error, try again later")
}

/// The reply to a recipient in a domain this server does not host.
pub fn relay_refused() -> Reply {
    replies::reply(
        550,
        replies::code(5, 7, 1),
        "relaying denied: this server accepts mail only for its own domains",
    )
}

/// The reference's answer to mail for a disabled domain: temporary, so
/// senders retry once it is enabled again.
pub fn recipient_domain_disabled() -> Reply {
    replies::reply(
        450,
        replies::code(4, 2, 1),
        "recipient domain temporarily disabled",
    )
}

fn domain_of(address: &str) -> Option<&str> {
    address.rsplit_once('@').map(|(_, d)| d)
}

impl Inbound {
    /// A handler over the stores. `domains` are the hosted domains (ASCII,
    /// any case) besides those of the accounts' addresses; `postmaster` is
    /// the account that gets `postmaster@` of a hosted domain without an
    /// account of its own.
    pub fn new(
        queue: Arc<SqliteStore>,
        mailbox: Arc<SqliteMailboxStore>,
        policy: Arc<Policy>,
        domains: impl IntoIterator<Item = String>,
        postmaster: Option<String>,
    ) -> Inbound {
        Inbound {
            queue,
            mailbox,
            policy,
            domains: domains
                .into_iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            postmaster,
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Reply> {
        tokio::task::spawn_blocking(f).await.map_err(internal)
    }

    /// The account and fromid of a recipient, `Ok(None)` when it is not
    /// hosted here at all (a relay attempt), or the refusal for an unknown
    /// user of a hosted domain.
    pub async fn destination(&self, to: &Address) -> Result<Option<Destination>, Reply> {
        let Some(domain) = to.domain().map(|d| d.ascii().to_ascii_lowercase()) else {
            return Ok(None);
        };
        let mailbox = self.mailbox.clone();
        let wire = to.to_utf8_wire();
        let configured = self.domains.contains(&domain);
        let postmaster = self.postmaster.clone();
        let is_postmaster = to.localpart().as_str().eq_ignore_ascii_case("postmaster");
        let found = self
            .blocking(move || -> Result<Result<String, bool>, MailboxError> {
                match mailbox.account_for_address(&wire) {
                    Ok(a) => return Ok(Ok(a.name)),
                    Err(MailboxError::AccountNotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
                let hosted = configured
                    || mailbox.accounts()?.iter().any(|a| {
                        a.addresses
                            .iter()
                            .any(|x| domain_of(x).is_some_and(|d| d == domain))
                    });
                if hosted && is_postmaster {
                    let fallback = match postmaster {
                        Some(p) => Some(p),
                        None => mailbox.accounts()?.into_iter().next().map(|a| a.name),
                    };
                    if let Some(p) = fallback {
                        return Ok(Ok(p));
                    }
                }
                Ok(Err(hosted))
            })
            .await?
            .map_err(internal)?;
        match found {
            Ok(account) => {
                let from_id = self
                    .policy
                    .account(&account)
                    .separator
                    .and_then(|sep| {
                        to.localpart()
                            .as_str()
                            .split_once(sep)
                            .map(|(_, id)| id.to_string())
                    })
                    .unwrap_or_default();
                Ok(Some(Destination { account, from_id }))
            }
            Err(true) => Err(replies::no_such_user()),
            Err(false) => Ok(None),
        }
    }

    /// Stores `message` for the recipients of `envelope` (all hosted) and
    /// does what it means; the reply for the transaction.
    pub async fn deliver(&self, session: &Session, message: &Message) -> Reply {
        match self.deliver_inner(session, message).await {
            Ok(reply) | Err(reply) => reply,
        }
    }

    async fn deliver_inner(&self, session: &Session, message: &Message) -> Result<Reply, Reply> {
        // Recipients per account, in order; the first recipient of an
        // account is the RCPT TO its mailbox copy shows.
        let mut per_account: Vec<(String, Vec<(Address, String)>)> = Vec::new();
        for r in &message.envelope.recipients {
            let dest = self
                .destination(&r.address)
                .await?
                .ok_or_else(relay_refused)?;
            match per_account.iter_mut().find(|(a, _)| *a == dest.account) {
                Some((_, list)) => list.push((r.address.clone(), dest.from_id)),
                None => per_account.push((dest.account, vec![(r.address.clone(), dest.from_id)])),
            }
        }
        let raw = Arc::new(message.with_received());
        let data = message.data.clone();
        let analysis = Arc::new(self.blocking(move || dsn::analyze(&data)).await?);
        let is_dsn = analysis.kind == dsn::MessageKind::Bounce;
        let mut ids = Vec::new();
        for (account, rcpts) in per_account {
            let received = SystemTime::now();
            let mailbox = self.mailbox.clone();
            let new = NewMessage {
                account: account.clone(),
                mailbox: INBOX.into(),
                received,
                flags: Flags::default(),
                envelope: MailEnvelope {
                    mail_from: message.envelope.mail_from.clone(),
                    rcpt_to: rcpts.first().map(|(a, _)| a.clone()),
                    remote_ip: Some(session.peer.remote_ip),
                    is_dsn,
                },
                raw: raw.to_vec(),
            };
            let meta = self
                .blocking(move || mailbox.deliver(&new))
                .await?
                .map_err(internal)?;
            let msg_id = meta.id.0;
            let outcome = self
                .after_delivery(
                    session, message, &account, &rcpts, &raw, &analysis, msg_id, received,
                )
                .await?;
            info!(target: "postel", account = %account, msg_id, outcome = ?outcome, "incoming message stored");
            ids.push(msg_id);
        }
        let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        Ok(replies::ok(&format!(
            "delivered as message {}",
            list.join(", ")
        )))
    }

    /// Bounce matching, `unrecognized`, or the incoming webhook, for the
    /// copy stored for `account` as `msg_id`.
    #[allow(clippy::too_many_arguments)]
    async fn after_delivery(
        &self,
        session: &Session,
        message: &Message,
        account: &str,
        rcpts: &[(Address, String)],
        raw: &Arc<Vec<u8>>,
        analysis: &Arc<dsn::Analysis>,
        msg_id: i64,
        received: SystemTime,
    ) -> Result<Outcome, Reply> {
        let from_ids: Vec<String> = rcpts
            .iter()
            .map(|(_, f)| f.clone())
            .filter(|f| !f.is_empty())
            .collect();
        let queue = self.queue.clone();
        let acct = account.to_string();
        let a = analysis.clone();
        let data = message.data.clone();
        let matched = self
            .blocking(move || bounce_outcome(&*queue, &acct, &data, &a, &from_ids, msg_id))
            .await?
            .map_err(internal)?;
        if let Some(outcome) = matched {
            return Ok(outcome);
        }
        let meta = webapi::webhook::IncomingMeta {
            msg_id,
            mail_from: message
                .envelope
                .mail_from
                .as_ref()
                .map(|a| a.to_utf8_wire())
                .unwrap_or_default(),
            mail_from_validated: false,
            msg_from_validated: false,
            rcpt_to: rcpts
                .first()
                .map(|(a, _)| a.to_utf8_wire())
                .unwrap_or_default(),
            dkim_verified_domains: Vec::new(),
            remote_ip: session.peer.remote_ip.to_string(),
            received,
            mailbox_name: INBOX.into(),
            automated: webapi::webhook::is_automated(
                &message.data,
                message.envelope.mail_from.is_none(),
            ),
        };
        let queue = self.queue.clone();
        let acct = account.to_string();
        let raw = raw.clone();
        let hooks = self
            .blocking(move || {
                let payload = webapi::webhook::incoming_from_message(&raw, meta);
                queue.queue_incoming_hook(&acct, &payload)
            })
            .await?
            .map_err(internal)?;
        Ok(Outcome::Incoming(hooks))
    }
}

/// Matches an analysed message (`raw`, as received) received by `account`
/// to the messages it sent and records the events: `Ok(None)` when it is
/// ordinary mail. A report with an Action that is not one of RFC 3464's
/// gives no events (at a fromid address it is `unrecognized`, as the
/// reference has it).
pub fn bounce_outcome(
    queue: &dyn Store,
    account: &str,
    raw: &[u8],
    analysis: &dsn::Analysis,
    from_ids: &[String],
    msg_id: i64,
) -> Result<Option<Outcome>, queue::StoreError> {
    let is_dsn = analysis.kind == dsn::MessageKind::Bounce;
    // A bounce that names no recipient still concerns the one recipient
    // a fromid stands for.
    let synthetic = dsn::BounceRecipient {
        recipient: None,
        original_recipient: None,
        action: Some(dsn::Action::Failed),
        status: None,
        reply_code: None,
        diagnostic: None,
        remote_mta: None,
        reason: dsn::Reason::Other,
        hard: false,
    };
    let recipients: Vec<&dsn::BounceRecipient> = if is_dsn {
        if analysis.recipients.is_empty() && !from_ids.is_empty() {
            vec![&synthetic]
        } else {
            analysis.recipients.iter().collect()
        }
    } else {
        Vec::new()
    };
    let mut base = BounceQuery::from_analysis(analysis, "");
    base.recipients = recipients
        .iter()
        .map(|r| BounceRecipientKey {
            original: r.original_recipient.clone(),
            final_recipient: r.recipient.clone(),
        })
        .collect();
    let queries: Vec<BounceQuery> = if from_ids.is_empty() {
        vec![base]
    } else {
        from_ids
            .iter()
            .map(|f| BounceQuery {
                from_id: f.clone(),
                ..base.clone()
            })
            .collect()
    };
    // The tolerant analysis infers an odd Action from the Status; the
    // strict parser tells such a report apart.
    let bogus_action =
        is_dsn && matches!(dsn::parse(raw), Err(dsn::ParseError::UnknownAction { .. }));
    let mut recorded = Vec::new();
    for q in &queries {
        for m in queue.match_bounce(account, q)? {
            let Some(r) = recipients.get(m.recipient) else {
                continue;
            };
            if bogus_action {
                continue;
            }
            let event = DsnEvent::from_recipient(r, msg_id);
            let name = event.action.as_str();
            queue.apply_dsn_event(account, m.message.message.id, event)?;
            recorded.push((m.message.message.id, name));
        }
    }
    if !recorded.is_empty() {
        return Ok(Some(Outcome::Bounce(recorded)));
    }
    // Not matched: at a known fromid it is `unrecognized`.
    for f in from_ids {
        let q = BounceQuery {
            from_id: f.clone(),
            recipients: vec![BounceRecipientKey::default()],
            ..BounceQuery::default()
        };
        if let Some(m) = queue.match_bounce(account, &q)?.into_iter().next() {
            queue.record_unrecognized(account, m.message.message.id, is_dsn, msg_id)?;
            return Ok(Some(Outcome::Unrecognized(m.message.message.id)));
        }
    }
    Ok(None)
}

impl Handler for Inbound {
    async fn rcpt_to(
        &self,
        _session: &Session,
        _envelope: &Envelope,
        to: &Address,
        _params: &RcptParams,
    ) -> Result<(), Reply> {
        if to
            .domain()
            .is_some_and(|d| self.policy.domain_disabled(d.ascii()))
        {
            return Err(recipient_domain_disabled());
        }
        match self.destination(to).await? {
            Some(_) => Ok(()),
            None => Err(relay_refused()),
        }
    }

    async fn data(&self, session: &Session, message: Message) -> Reply {
        self.deliver(session, &message).await
    }
}

/// localserve's SMTP port: mail for the localserve account's addresses
/// (catchall variants included) is incoming mail; everything else is the
/// queue's simulated delivery ([`crate::localserve::LocalDelivery`]).
pub struct LocalInbound {
    inbound: Inbound,
    local: crate::localserve::LocalDelivery,
}

impl LocalInbound {
    /// Both halves.
    pub fn new(inbound: Inbound, local: crate::localserve::LocalDelivery) -> LocalInbound {
        LocalInbound { inbound, local }
    }

    async fn hosted(&self, to: &Address) -> bool {
        matches!(self.inbound.destination(to).await, Ok(Some(_)))
    }
}

impl Handler for LocalInbound {
    async fn mail_from(
        &self,
        session: &Session,
        from: Option<&Address>,
        params: &smtp::MailParams,
    ) -> Result<(), Reply> {
        self.local.mail_from(session, from, params).await
    }

    async fn rcpt_to(
        &self,
        session: &Session,
        envelope: &Envelope,
        to: &Address,
        params: &RcptParams,
    ) -> Result<(), Reply> {
        if self.hosted(to).await {
            return Ok(());
        }
        self.local.rcpt_to(session, envelope, to, params).await
    }

    async fn data(&self, session: &Session, message: Message) -> Reply {
        let mut hosted = Vec::new();
        let mut others = Vec::new();
        for r in &message.envelope.recipients {
            if self.hosted(&r.address).await {
                hosted.push(r.clone());
            } else {
                others.push(r.clone());
            }
        }
        let mut last = None;
        if !others.is_empty() {
            let mut m = message.clone();
            m.envelope.recipients = others;
            let reply = self.local.data(session, m).await;
            if reply.code >= 400 {
                return reply;
            }
            last = Some(reply);
        }
        if !hosted.is_empty() {
            let mut m = message;
            m.envelope.recipients = hosted;
            let reply = self.inbound.deliver(session, &m).await;
            if reply.code >= 400 {
                return reply;
            }
            last = Some(reply);
        }
        last.unwrap_or_else(|| replies::ok("nothing to deliver"))
    }
}
