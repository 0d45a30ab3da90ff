//! `postel localserve`: everything on localhost with one account, and a
//! local SMTP listener (1025) that takes the queue's deliveries into the
//! sender's own mailbox, or fails them on request by recipient local part.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use mailbox::{
    AccountUpdate, Envelope as MailEnvelope, Flags, INBOX, MailboxError, MailboxStore, NewAccount,
    NewMessage, SqliteMailboxStore,
};
use smtp::{Address, MailParams, RcptParams, Reply};
use smtpserver::{Envelope, Handler, Message, Mode, Server, ServerConfig, Session, replies};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::policy::{AccountPolicy, Policy};
use crate::stores::Stores;
use crate::submission::Submitter;

/// The localserve account's name.
pub const ACCOUNT: &str = "postel";
/// Its address.
pub const ADDRESS: &str = "postel@localhost";
/// Its default password.
pub const DEFAULT_PASSWORD: &str = "postelpostel";
/// Default data directory.
pub const DEFAULT_DIR: &str = "postel-localserve";
/// How long `...timeout` recipients stay silent unless configured.
pub const DEFAULT_HANG: Duration = Duration::from_secs(3600);
/// Ports: SMTP (the queue's local delivery target), submission, submissions.
pub const PORTS: (u16, u16, u16) = (1025, 1587, 1465);

/// A simulated failure asked for by a recipient local part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    /// Reply with this code.
    Code(u16),
    /// Say nothing for a while, then 451.
    Timeout,
}

/// The failure a local part asks for by its ending: `temperror` (451),
/// `permerror` (550), `timeout`, or three digits 400–599.
///
/// ```
/// use postel_server::localserve::{Special, special};
/// assert_eq!(special("usertemperror"), Some(Special::Code(451)));
/// assert_eq!(special("rcpttouser552"), Some(Special::Code(552)));
/// assert_eq!(special("bob"), None);
/// ```
pub fn special(localpart: &str) -> Option<Special> {
    let l = localpart.to_ascii_lowercase();
    if l.ends_with("temperror") {
        return Some(Special::Code(451));
    }
    if l.ends_with("permerror") {
        return Some(Special::Code(550));
    }
    if l.ends_with("timeout") {
        return Some(Special::Timeout);
    }
    let digits = l.get(l.len().saturating_sub(3)..)?;
    if digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()) {
        let code: u16 = digits.parse().ok()?;
        // 600 is not an SMTP code, although the reference lets it through.
        if (400..600).contains(&code) {
            return Some(Special::Code(code));
        }
    }
    None
}

fn code_reply(code: u16) -> Reply {
    let class = u8::try_from(code / 100).unwrap_or(5);
    replies::reply(
        code,
        replies::code(class, 0, 0),
        "error simulated by localserve",
    )
}

/// The local SMTP listener's handler.
pub struct LocalDelivery {
    mailbox: Arc<SqliteMailboxStore>,
    default_account: String,
    hang: Duration,
}

impl LocalDelivery {
    /// Delivers into `mailbox`, to the sender's account or else
    /// `default_account`; `hang` is how long `...timeout` stays silent.
    pub fn new(mailbox: Arc<SqliteMailboxStore>, default_account: &str, hang: Duration) -> Self {
        LocalDelivery {
            mailbox,
            default_account: default_account.to_string(),
            hang,
        }
    }

    async fn fail(&self, s: Special) -> Reply {
        match s {
            Special::Code(c) => code_reply(c),
            Special::Timeout => {
                tokio::time::sleep(self.hang).await;
                code_reply(451)
            }
        }
    }
}

fn local_lower(a: &Address) -> String {
    a.localpart().as_str().to_ascii_lowercase()
}

impl Handler for LocalDelivery {
    async fn mail_from(
        &self,
        _session: &Session,
        from: Option<&Address>,
        _params: &MailParams,
    ) -> Result<(), Reply> {
        if let Some(from) = from
            && local_lower(from).starts_with("mailfrom")
            && let Some(s) = special(from.localpart().as_str())
        {
            return Err(self.fail(s).await);
        }
        Ok(())
    }

    async fn rcpt_to(
        &self,
        _session: &Session,
        _envelope: &Envelope,
        to: &Address,
        _params: &RcptParams,
    ) -> Result<(), Reply> {
        if local_lower(to).starts_with("rcptto")
            && let Some(s) = special(to.localpart().as_str())
        {
            return Err(self.fail(s).await);
        }
        Ok(())
    }

    async fn data(&self, session: &Session, message: Message) -> Reply {
        for r in &message.envelope.recipients {
            let l = local_lower(&r.address);
            if l.starts_with("mailfrom") || l.starts_with("rcptto") {
                continue;
            }
            if let Some(s) = special(r.address.localpart().as_str()) {
                return self.fail(s).await;
            }
        }
        let mailbox = self.mailbox.clone();
        let default = self.default_account.clone();
        let from = message.envelope.mail_from.clone();
        let rcpt = message
            .envelope
            .recipients
            .first()
            .map(|r| r.address.clone());
        let remote_ip = session.peer.remote_ip;
        let raw = message.with_received();
        let result = tokio::task::spawn_blocking(move || {
            let account = from
                .as_ref()
                .and_then(|f| mailbox.account_for_address(&f.to_utf8_wire()).ok())
                .map(|a| a.name)
                .unwrap_or(default);
            mailbox.deliver(&NewMessage {
                account,
                mailbox: INBOX.into(),
                received: SystemTime::now(),
                flags: Flags::default(),
                envelope: MailEnvelope {
                    mail_from: from,
                    rcpt_to: rcpt,
                    remote_ip: Some(remote_ip),
                    is_dsn: false,
                },
                raw,
            })
        })
        .await;
        match result {
            Ok(Ok(meta)) => replies::ok(&format!("delivered as message {}", meta.id.0)),
            Ok(Err(e)) => {
                warn!(target: "postel", error = %e, "local delivery failed");
                replies::local_error("could not store the message")
            }
            Err(e) => {
                warn!(target: "postel", error = %e, "local delivery task failed");
                replies::local_error("could not store the message")
            }
        }
    }
}

/// Options of `postel localserve`.
#[derive(Clone, Debug)]
pub struct Options {
    /// Data directory.
    pub dir: PathBuf,
    /// The account's password.
    pub password: String,
    /// How long `...timeout` recipients stay silent (1 h).
    pub hang: Duration,
    /// Where webhooks of the account go (all events, incoming included),
    /// signed with the secret in `<dir>/webhook-secret`.
    pub webhook_url: Option<String>,
}

/// The three listeners, bound by the caller (tests bind port 0).
pub struct Listeners {
    /// Local delivery (1025).
    pub smtp: TcpListener,
    /// Submission (1587), STARTTLS offered, AUTH PLAIN allowed in plaintext.
    pub submission: TcpListener,
    /// Submissions (1465), implicit TLS.
    pub submissions: TcpListener,
}

impl Listeners {
    /// Binds 127.0.0.1 on the reference's ports.
    pub async fn bind_default() -> anyhow::Result<Listeners> {
        Listeners::bind_ports(PORTS).await
    }

    /// Binds 127.0.0.1 on `(smtp, submission, submissions)`.
    pub async fn bind_ports(ports: (u16, u16, u16)) -> anyhow::Result<Listeners> {
        let bind = |port: u16| async move {
            TcpListener::bind(("127.0.0.1", port))
                .await
                .with_context(|| format!("binding 127.0.0.1:{port}"))
        };
        Ok(Listeners {
            smtp: bind(ports.0).await?,
            submission: bind(ports.1).await?,
            submissions: bind(ports.2).await?,
        })
    }
}

/// The localserve account's policy: `+` separator, fromid mode for its
/// login, retention on, reference limits.
pub fn policy() -> Policy {
    let mut p = Policy::default();
    p.accounts.insert(
        ACCOUNT.to_string(),
        AccountPolicy {
            separator: Some('+'),
            fromid_logins: vec![ADDRESS.to_string()],
            ..AccountPolicy::default()
        },
    );
    p
}

/// Creates the account if missing and sets its password.
pub fn ensure_account(mailbox: &SqliteMailboxStore, password: &str) -> anyhow::Result<()> {
    match mailbox.account(ACCOUNT) {
        Ok(_) => {}
        Err(MailboxError::AccountNotFound { .. }) => {
            mailbox
                .create_account(&NewAccount {
                    name: ACCOUNT.into(),
                    addresses: vec![ADDRESS.into()],
                    ..NewAccount::default()
                })
                .context("creating the localserve account")?;
        }
        Err(e) => return Err(e).context("looking up the localserve account"),
    }
    mailbox
        .update_account(
            ACCOUNT,
            &AccountUpdate {
                disabled: Some(false),
                ..AccountUpdate::default()
            },
        )
        .context("enabling the localserve account")?;
    mailbox
        .set_password(ACCOUNT, password)
        .context("setting the localserve password")?;
    Ok(())
}

/// Port of the web API (HTTP, at `/webapi/`), as the reference's.
pub const WEBAPI_PORT: u16 = 1080;

/// Binds the web API's listener on 127.0.0.1.
pub async fn bind_webapi(port: u16) -> anyhow::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))
}

/// Runs localserve until `shutdown` turns true, without the web API.
pub async fn run(
    opts: Options,
    listeners: Listeners,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    run_with_webapi(opts, listeners, None, shutdown).await
}

/// Runs localserve until `shutdown` turns true, serving the web API at
/// `/webapi/` on `webapi` when given.
pub async fn run_with_webapi(
    opts: Options,
    listeners: Listeners,
    webapi: Option<TcpListener>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let policy = Arc::new(policy());
    let stores = Stores::open(&opts.dir, Some('+'), policy.retention())?;
    {
        let mailbox = stores.mailbox.clone();
        let password = opts.password.clone();
        tokio::task::spawn_blocking(move || ensure_account(&mailbox, &password)).await??;
    }
    if let Some(url) = &opts.webhook_url {
        let endpoint = crate::webhooks::localserve_endpoint(&opts.dir, url)?;
        let mut settings = queue::webhook::WebhookSettings::default();
        settings
            .accounts
            .insert(ACCOUNT.to_string(), vec![endpoint]);
        stores.queue.set_webhooks(settings);
        info!(target: "postel", url = %url, "posting webhooks");
    }
    let hooks = crate::webhooks::spawn(
        stores.queue.clone(),
        crate::webhooks::DEFAULT_MAX_IN_FLIGHT,
        shutdown.clone(),
    )?;
    let tls = crate::tls::self_signed(&["localhost"])?;
    let hostname: smtp::Domain = "localhost".parse().context("host name")?;
    let kick = Arc::new(Notify::new());
    let local = listeners
        .smtp
        .local_addr()
        .context("local listener address")?;
    let engine = crate::delivery::spawn(
        crate::delivery::localserve_config(local, ACCOUNT),
        &stores,
        Arc::new(dns::MemoryResolver::new()),
        kick.clone(),
        shutdown.clone(),
    );

    let web = webapi.map(|listener| {
        let backend = Arc::new(crate::webapi::WebApi::new(
            &stores,
            policy.clone(),
            kick.clone(),
            crate::webapi::Settings {
                hostname: "localhost".into(),
                max_message_size: crate::webapi::DEFAULT_MAX_MESSAGE_SIZE,
            },
        ));
        let cleanup = crate::webapi::spawn_cleanup(stores.queue.clone(), shutdown.clone());
        let options = ::webapi::server::RouterOptions::default();
        let task = tokio::spawn(crate::webapi::serve(
            listener,
            backend,
            options,
            shutdown.clone(),
        ));
        (task, cleanup)
    });
    let submitter = Arc::new(Submitter::from_stores(&stores, policy.clone(), kick));
    let mut sub_config = ServerConfig::new(hostname.clone(), Mode::Submission);
    sub_config.tls = Some(tls.clone());
    // Loopback only: plaintext passwords never leave the machine.
    sub_config.sasl.plaintext_without_tls = true;
    let submission =
        Server::new(sub_config.clone(), submitter.clone()).with_shutdown(shutdown.clone());
    let submissions = Server::new(sub_config, submitter).with_shutdown(shutdown.clone());

    let mut in_config = ServerConfig::new(hostname, Mode::Inbound);
    in_config.tls = Some(tls);
    let local = Arc::new(crate::inbound::LocalInbound::new(
        crate::inbound::Inbound::new(
            stores.queue.clone(),
            stores.mailbox.clone(),
            policy.clone(),
            ["localhost".to_string()],
            Some(ACCOUNT.to_string()),
        ),
        LocalDelivery::new(stores.mailbox.clone(), ACCOUNT, opts.hang),
    ));
    let inbound = Server::new(in_config, local).with_shutdown(shutdown.clone());

    info!(
        target: "postel",
        dir = %opts.dir.display(),
        smtp = ?listeners.smtp.local_addr().ok(),
        submission = ?listeners.submission.local_addr().ok(),
        submissions = ?listeners.submissions.local_addr().ok(),
        "localserve running; account {ADDRESS}"
    );
    let (a, b, c) = tokio::join!(
        inbound.run(listeners.smtp, false),
        submission.run(listeners.submission, false),
        submissions.run(listeners.submissions, true),
    );
    a?;
    b?;
    c?;
    if let Some((task, cleanup)) = web {
        task.await??;
        cleanup.await?;
    }
    hooks.await?;
    // The engine finishes running deliveries or gives their leases back.
    engine.await?;
    info!(target: "postel", "localserve stopped");
    Ok(())
}
