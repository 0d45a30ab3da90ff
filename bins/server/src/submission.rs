//! The submission listener's policy: AUTH against the mailbox store,
//! trusted networks, who may send as whom, fromid, daily limits, and the
//! message into the queue (250 only after the queue made it durable).

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use mailbox::{MailboxStore, SqliteMailboxStore};
use queue::{NewRecipient, SqliteStore, Store, StoreError, Submission};
use smtp::{Address, Localpart, MailParams, RcptParams, Reply};
use smtpserver::{
    Envelope, Handler, Identity, Message, Session, SharedCredentials, header_fields, replies,
};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::limits::{Exceeded, Tracker};
use crate::policy::{AccountPolicy, Policy};

/// The submission [`Handler`].
pub struct Submitter {
    queue: Arc<SqliteStore>,
    mailbox: Arc<SqliteMailboxStore>,
    policy: Arc<Policy>,
    kick: Arc<Notify>,
    limits: Arc<Tracker>,
}

impl Submitter {
    /// A handler over `stores` that counts the daily limits in
    /// `stores.limits`, together with the web API over the same stores.
    pub fn from_stores(
        stores: &crate::stores::Stores,
        policy: Arc<Policy>,
        kick: Arc<Notify>,
    ) -> Submitter {
        Submitter {
            queue: stores.queue.clone(),
            mailbox: stores.mailbox.clone(),
            policy,
            kick,
            limits: stores.limits.clone(),
        }
    }

    /// A handler over the stores with daily-limit counts of its own;
    /// `kick` is notified after each enqueue.
    pub fn new(
        queue: Arc<SqliteStore>,
        mailbox: Arc<SqliteMailboxStore>,
        policy: Arc<Policy>,
        kick: Arc<Notify>,
    ) -> Submitter {
        Submitter {
            queue,
            mailbox,
            policy,
            kick,
            limits: Arc::new(Tracker::default()),
        }
    }
}

/// 16 random bytes, base64url without padding: 22 characters.
pub fn new_fromid() -> String {
    let mut bytes = [0u8; 16];
    // getrandom failing means the OS has no randomness; a fixed id would
    // collide at once, so fall back to time-derived bytes, still unique
    // enough for the queue's uniqueness check to catch a clash.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = nanos.to_le_bytes();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn internal(e: impl std::fmt::Display) -> Reply {
    warn!(target: "postel", error = %e, "submission failed on a local error");
    replies::local_error("local error, try again later")
}

fn not_allowed_sender() -> Reply {
    replies::reply(
        550,
        replies::code(5, 7, 1),
        "not allowed to send as this address; use an address of the authenticated account",
    )
}

/// The reference's answer to a submission from a disabled domain: a
/// temporary failure, as the domain is expected to come back.
pub fn sender_domain_disabled() -> Reply {
    replies::reply(
        451,
        replies::code(4, 3, 0),
        "sender domain temporarily disabled",
    )
}

/// The domain of the address in a From header value
/// (`Name <local@domain>` or `local@domain`), lower case.
fn header_from_domain(value: &str) -> Option<String> {
    let addr = match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => value.get(open + 1..close)?,
        _ => value,
    };
    let (_, domain) = addr.trim().rsplit_once('@')?;
    let domain = domain.trim();
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

/// The fromid a submitter chose in the MAIL FROM local part, if any.
fn chosen_fromid(from: &Address, sep: char) -> Option<String> {
    let local = from.localpart().as_str();
    local
        .split_once(sep)
        .map(|(_, id)| id.to_string())
        .filter(|id| !id.is_empty())
}

impl Submitter {
    fn account_policy(&self, name: &str) -> &AccountPolicy {
        self.policy.account(name)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Reply> {
        tokio::task::spawn_blocking(f).await.map_err(internal)
    }

    /// Whether `from` (up to the catchall separator) is an address of `account`.
    async fn owns(&self, account: &str, from: &Address) -> Result<bool, Reply> {
        let mailbox = self.mailbox.clone();
        let name = account.to_string();
        let acct = self
            .blocking(move || mailbox.account(&name))
            .await?
            .map_err(internal)?;
        let sep = self.account_policy(account).separator;
        let local = from.localpart().as_str().to_lowercase();
        let base = match sep {
            Some(s) => local.split(s).next().unwrap_or(&local).to_string(),
            None => local,
        };
        let Some(domain) = from.domain() else {
            return Ok(false);
        };
        let wanted = format!("{base}@{}", domain.ascii());
        Ok(acct.addresses.contains(&wanted))
    }
}

impl Handler for Submitter {
    async fn connect(&self, session: &Session) -> Result<Option<Identity>, Reply> {
        Ok(self
            .policy
            .trusted_account(session.peer.remote_ip)
            .map(|account| Identity {
                account: account.to_string(),
                login: None,
            }))
    }

    async fn credentials(&self, session: &Session) -> Result<SharedCredentials, Reply> {
        if let Err(wait) = self.mailbox.auth_limiter().check(session.peer.remote_ip) {
            return Err(replies::reply(
                454,
                replies::code(4, 7, 0),
                &format!(
                    "too many failed authentication attempts; try again in {} seconds",
                    wait.as_secs().max(1)
                ),
            ));
        }
        Ok(self.mailbox.clone())
    }

    async fn authenticated(
        &self,
        _session: &Session,
        authcid: &str,
        authzid: Option<&str>,
    ) -> Result<Identity, Reply> {
        if let Some(z) = authzid
            && !z.eq_ignore_ascii_case(authcid)
        {
            return Err(replies::reply(
                535,
                replies::code(5, 7, 8),
                "not authorized to act as that identity",
            ));
        }
        let mailbox = self.mailbox.clone();
        let login = authcid.to_string();
        let account = self
            .blocking(move || mailbox.account_for_address(&login))
            .await?
            .map_err(|_| replies::reply(535, replies::code(5, 7, 8), "authentication failed"))?;
        if account.disabled {
            return Err(replies::reply(
                535,
                replies::code(5, 7, 8),
                "account disabled",
            ));
        }
        Ok(Identity {
            account: account.name,
            login: Some(authcid.to_string()),
        })
    }

    async fn auth_failed(&self, session: &Session, mechanism: &str, username: Option<&str>) {
        info!(target: "postel", remote = %session.peer.remote_ip, mechanism, username, "authentication failed");
        self.mailbox
            .auth_limiter()
            .record_failure(session.peer.remote_ip);
    }

    async fn mail_from(
        &self,
        session: &Session,
        from: Option<&Address>,
        _params: &MailParams,
    ) -> Result<(), Reply> {
        let Some(identity) = &session.identity else {
            return Err(replies::auth_required());
        };
        let Some(from) = from else {
            return Err(replies::reply(
                550,
                replies::code(5, 7, 1),
                "the null reverse path is not allowed for submission",
            ));
        };
        if !self.owns(&identity.account, from).await? {
            return Err(not_allowed_sender());
        }
        if from
            .domain()
            .is_some_and(|d| self.policy.domain_disabled(d.ascii()))
        {
            return Err(sender_domain_disabled());
        }
        Ok(())
    }

    async fn rcpt_to(
        &self,
        session: &Session,
        envelope: &Envelope,
        _to: &Address,
        _params: &RcptParams,
    ) -> Result<(), Reply> {
        let Some(identity) = &session.identity else {
            return Err(replies::auth_required());
        };
        let policy = self.account_policy(&identity.account);
        if let (Some(sep), Some(from)) = (policy.separator, &envelope.mail_from)
            && policy.fromid_mode(identity.login.as_deref())
            && chosen_fromid(from, sep).is_some()
            && !envelope.recipients.is_empty()
        {
            return Err(replies::fromid_multiple_recipients());
        }
        Ok(())
    }

    async fn data(&self, session: &Session, message: Message) -> Reply {
        match self.submit(session, message).await {
            Ok(reply) | Err(reply) => reply,
        }
    }
}

impl Submitter {
    async fn submit(&self, session: &Session, message: Message) -> Result<Reply, Reply> {
        let identity = session
            .identity
            .clone()
            .ok_or_else(replies::auth_required)?;
        let policy = self.account_policy(&identity.account).clone();
        let envelope = &message.envelope;
        let from = envelope.mail_from.clone().ok_or_else(not_allowed_sender)?;
        let extra = message.extra().map_err(|e| e.reply())?;
        if !self.policy.disabled_domains.is_empty()
            && header_fields(&message.data)
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("From"))
                .filter_map(|(_, v)| header_from_domain(v))
                .any(|d| self.policy.domain_disabled(&d))
        {
            return Err(sender_domain_disabled());
        }

        let recipients: Vec<String> = envelope
            .recipients
            .iter()
            .map(|r| r.address.to_utf8_wire())
            .collect();
        let (mpd, fpd) = (policy.messages_per_day, policy.first_time_per_day);
        // Only an account's first check loads from the store; the rest are
        // answered in memory without a blocking-thread hop.
        let exceeded = match self.limits.check_loaded(
            &identity.account,
            &recipients,
            mpd,
            fpd,
            SystemTime::now(),
        ) {
            Some(exceeded) => exceeded,
            None => {
                let store = self.queue.clone();
                let account = identity.account.clone();
                let rcpts = recipients.clone();
                let tracker = self.limits.clone();
                self.blocking(move || {
                    tracker.check(&*store, &account, &rcpts, mpd, fpd, SystemTime::now())
                })
                .await?
                .map_err(internal)?
            }
        };
        match exceeded {
            Some(Exceeded::Messages(n)) => {
                return Err(replies::rate_limited(&format!(
                    "max number of messages ({n}) over past 24h reached, try increasing per-account setting max_outgoing_messages_per_day"
                )));
            }
            Some(Exceeded::FirstTime(n)) => {
                return Err(replies::rate_limited(&format!(
                    "max number of new/first-time recipients ({n}) over past 24h reached, try increasing per-account setting max_first_time_recipients_per_day"
                )));
            }
            None => {}
        }

        let mut new_rcpts = Vec::with_capacity(envelope.recipients.len());
        let fromid_mode = policy.fromid_mode(identity.login.as_deref());
        let chosen = match policy.separator {
            Some(sep) if fromid_mode => chosen_fromid(&from, sep),
            _ => None,
        };
        if chosen.is_some() && envelope.recipients.len() > 1 {
            return Err(replies::fromid_multiple_recipients());
        }
        for r in &envelope.recipients {
            let mut nr = NewRecipient::new(r.address.clone());
            nr.notify = r.params.notify;
            nr.orcpt = r.params.orcpt.clone();
            if let (true, Some(sep)) = (fromid_mode, policy.separator) {
                if let Some(id) = &chosen {
                    nr.from_id = Some(id.clone());
                } else {
                    let id = new_fromid();
                    let base = from
                        .localpart()
                        .as_str()
                        .split(sep)
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let local = Localpart::new(&format!("{base}{sep}{id}")).map_err(internal)?;
                    nr.mail_from = Some(Address::new(local, from.host().clone()));
                    nr.from_id = Some(id);
                }
            }
            new_rcpts.push(nr);
        }

        let headers = header_fields(&message.data);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let submission = Submission {
            account: identity.account.clone(),
            sender: Some(from),
            recipients: new_rcpts,
            body: message.with_received(),
            message_id: header("Message-ID"),
            subject: header("Subject"),
            has_8bit: message.has_8bit,
            smtputf8: envelope.params.smtputf8,
            require_tls: message.require_tls(),
            future_release: envelope
                .future_release
                .as_ref()
                .map(|f| queue::FutureRelease {
                    until: f.at,
                    request: f.request.clone(),
                }),
            transport: String::new(),
            extra,
            envid: envelope.params.envid.clone(),
            ret: envelope.params.ret,
            max_attempts: self.policy.max_attempts,
        };
        let store = self.queue.clone();
        let result = self.blocking(move || store.enqueue(submission)).await?;
        let ids = match result {
            Ok(ids) => ids,
            Err(StoreError::FromIdNotUnique { .. }) => return Err(replies::fromid_not_unique()),
            Err(StoreError::FutureReleaseTooFar { .. }) => {
                return Err(replies::reply(
                    554,
                    replies::code(5, 5, 4),
                    "future release is too far in the future",
                ));
            }
            Err(e) => return Err(internal(e)),
        };
        self.limits
            .record(&identity.account, &recipients, SystemTime::now());
        self.kick.notify_one();
        info!(target: "postel", account = %identity.account, recipients = ids.len(), first_id = ids.first().copied().unwrap_or(0), "message queued");
        let first = ids.first().copied().unwrap_or(0);
        Ok(replies::ok(&format!("message queued with id {first}")))
    }
}
