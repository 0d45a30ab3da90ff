//! `postel serve -c FILE`: a deployment from a config file.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use mailbox::{AccountUpdate, MailboxError, MailboxStore, NewAccount, SqliteMailboxStore};
use smtpserver::{Mode, Server, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::config::Config;
use crate::policy::Policy;
use crate::stores::Stores;
use crate::submission::Submitter;

/// Makes the mailbox store's accounts match the config: creates missing
/// ones and updates addresses and CRAM-MD5. Accounts only in the store
/// (added with `postel account add`) stay.
pub fn sync_accounts(config: &Config, mailbox: &SqliteMailboxStore) -> anyhow::Result<()> {
    for (name, a) in &config.accounts {
        match mailbox.account(name) {
            Ok(_) => {
                mailbox
                    .update_account(
                        name,
                        &AccountUpdate {
                            addresses: Some(a.addresses.clone()),
                            cram_md5: Some(a.cram_md5),
                            ..AccountUpdate::default()
                        },
                    )
                    .with_context(|| format!("updating account {name}"))?;
            }
            Err(MailboxError::AccountNotFound { .. }) => {
                mailbox
                    .create_account(&NewAccount {
                        name: name.clone(),
                        addresses: a.addresses.clone(),
                        cram_md5: a.cram_md5,
                        ..NewAccount::default()
                    })
                    .with_context(|| format!("creating account {name}"))?;
                warn!(target: "postel", account = %name, "account created without a password; set one with `postel account password {name}`");
            }
            Err(e) => return Err(e).with_context(|| format!("looking up account {name}")),
        }
    }
    Ok(())
}

/// The server-side time limits of the config.
pub fn server_timeouts(c: &Config) -> smtpserver::Timeouts {
    let d = smtpserver::Timeouts::default();
    let t = &c.timeouts;
    smtpserver::Timeouts {
        command: t.command.map(|s| s.0).unwrap_or(d.command),
        data_block: t.data_block.map(|s| s.0).unwrap_or(d.data_block),
        tls_handshake: t.tls_handshake.map(|s| s.0).unwrap_or(d.tls_handshake),
    }
}

async fn bind(l: &crate::config::Listener) -> anyhow::Result<TcpListener> {
    let ip: IpAddr = l.address.parse().context("listener address")?;
    let addr = SocketAddr::new(ip, l.port.0);
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}

/// Runs the server of `config_path` until `shutdown` turns true.
pub async fn run(config_path: &Path, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let policy = Arc::new(Policy::from_config(&config));
    let stores = Stores::open(
        &config.data_dir,
        policy.common_separator(),
        policy.retention(),
    )?;
    {
        let c = config.clone();
        let mailbox = stores.mailbox.clone();
        tokio::task::spawn_blocking(move || sync_accounts(&c, &mailbox)).await??;
    }
    stores
        .queue
        .set_webhooks(crate::webhooks::settings(&config));
    let hooks = crate::webhooks::spawn(
        stores.queue.clone(),
        config
            .webhooks
            .max_in_flight
            .unwrap_or(crate::webhooks::DEFAULT_MAX_IN_FLIGHT),
        shutdown.clone(),
    )?;
    let hostname: smtp::Domain = config.hostname.parse().context("hostname")?;
    let tls = match &config.tls {
        Some(t) => Some(crate::tls::load(&t.cert, &t.key)?),
        None => None,
    };
    let kick = Arc::new(Notify::new());
    let engine = crate::delivery::spawn(
        crate::delivery::engine_config(&config),
        &stores,
        crate::delivery::config_resolver(&config),
        kick.clone(),
        shutdown.clone(),
    );

    let web = match &config.listeners.webapi {
        Some(w) => Some(
            crate::webapi::spawn_configured(
                w,
                &config,
                &stores,
                policy.clone(),
                kick.clone(),
                shutdown.clone(),
            )
            .await?,
        ),
        None => None,
    };
    let submitter = Arc::new(Submitter::from_stores(&stores, policy.clone(), kick));
    let mut sub_config = ServerConfig::new(hostname.clone(), Mode::Submission);
    sub_config.tls = tls.clone();
    sub_config.max_recipients = config.submission.max_recipients;
    sub_config.max_message_size = config.submission.max_message_size;
    sub_config.timeouts = server_timeouts(&config);

    let mut tasks = tokio::task::JoinSet::new();
    if let Some(l) = &config.listeners.submission {
        let listener = bind(l).await?;
        let server =
            Server::new(sub_config.clone(), submitter.clone()).with_shutdown(shutdown.clone());
        tasks.spawn(async move { server.run(listener, false).await });
    }
    if let Some(l) = &config.listeners.submissions {
        let listener = bind(l).await?;
        let server =
            Server::new(sub_config.clone(), submitter.clone()).with_shutdown(shutdown.clone());
        tasks.spawn(async move { server.run(listener, true).await });
    }
    if let Some(l) = &config.listeners.smtp {
        let listener = bind(l).await?;
        let mut c = ServerConfig::new(hostname.clone(), Mode::Inbound);
        c.tls = tls.clone();
        c.timeouts = server_timeouts(&config);
        let inbound = crate::inbound::Inbound::new(
            stores.queue.clone(),
            stores.mailbox.clone(),
            policy.clone(),
            config.domains.keys().cloned(),
            config.postmaster_account.clone(),
        );
        let server = Server::new(c, Arc::new(inbound)).with_shutdown(shutdown.clone());
        tasks.spawn(async move { server.run(listener, false).await });
    }
    if tasks.is_empty() {
        warn!(target: "postel", "no listeners configured");
    }
    info!(target: "postel", hostname = %config.hostname, data_dir = %config.data_dir.display(), "serving");
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    if let Some((task, cleanup)) = web {
        task.await??;
        cleanup.await?;
    }
    hooks.await?;
    // The engine finishes running deliveries or gives their leases back.
    engine.await?;
    info!(target: "postel", "stopped");
    Ok(())
}
