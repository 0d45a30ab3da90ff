//! The command line: `postel localserve|serve|account|queue|holdrule|suppression|hook`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use queue::HoldRule;
use tokio::sync::watch;

use crate::admin::{self, Paging, Selection};
use crate::config::Config;
use crate::config::localserve::LocalserveConfig;
use crate::config::values::{Port, Span, parse_duration};
use crate::localserve;
use crate::policy::Policy;
use crate::stores::Stores;

/// Outbound mail for applications.
#[derive(Debug, Parser)]
#[command(name = "postel", version, about)]
pub struct Cli {
    /// Data directory for admin commands (default: the config's data_dir,
    /// else ./postel-localserve).
    #[arg(long, global = true)]
    pub dir: Option<PathBuf>,
    /// Config file whose data_dir admin commands use; for localserve, its
    /// settings file (instead of <dir>/localserve.toml).
    #[arg(short = 'c', long = "config", global = true)]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything on localhost for trying Postel out. Settings come
    /// from these flags, else from the file given with --config or else
    /// <dir>/localserve.toml when present (keys webhook_url, password,
    /// timeout_hang, smtp_port, submission_port, submissions_port,
    /// http_port), else the defaults.
    Localserve {
        /// Password of postel@localhost [default: postelpostel].
        #[arg(long)]
        password: Option<String>,
        /// Post webhooks of every event (incoming mail too) to this URL,
        /// signed with the secret printed at start.
        #[arg(long)]
        webhook_url: Option<String>,
        /// How long `...timeout` recipients stay silent before 451
        /// [default: 1h].
        #[arg(long)]
        timeout_hang: Option<String>,
        /// Port of the web API on 127.0.0.1 (at /webapi/) [default: 1080].
        #[arg(long)]
        http_port: Option<u16>,
    },
    /// Run a deployment from the config file given with -c.
    Serve,
    /// Accounts.
    #[command(subcommand)]
    Account(AccountCmd),
    /// The queue and its history.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// Hold rules.
    #[command(subcommand)]
    Holdrule(HoldruleCmd),
    /// Per-account suppression lists.
    #[command(subcommand)]
    Suppression(SuppressionCmd),
    /// Webhooks: pending and retired hooks, retry, replay, cancel, test.
    #[command(subcommand)]
    Hook(HookCmd),
}

/// `postel hook ...`.
#[derive(Debug, Subcommand)]
pub enum HookCmd {
    /// List pending hooks (by id), or retired ones (newest first).
    List {
        /// Only this account.
        #[arg(long, default_value = "")]
        account: String,
        /// Retired hooks instead of pending ones.
        #[arg(long)]
        retired: bool,
        /// Continue after this hook id.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many (default 100).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Make a pending hook due now, or queue a failed one again (same webhook-id).
    Retry {
        /// Hook id.
        id: i64,
    },
    /// Send a hook's event again as a new hook (new webhook-id, names the original).
    Replay {
        /// Hook id.
        id: i64,
    },
    /// Cancel a pending hook.
    Cancel {
        /// Hook id.
        id: i64,
    },
    /// Post a sample signed event to an endpoint of the config (-c).
    Test {
        /// Account.
        account: String,
        /// Endpoint id (default: the account's first).
        #[arg(long, default_value = "")]
        endpoint: String,
        /// Event name.
        #[arg(long, default_value = "delivered")]
        event: String,
    },
    /// Print a new signing secret (whsec_...).
    Secret,
}

/// `postel account ...`.
#[derive(Debug, Subcommand)]
pub enum AccountCmd {
    /// Add an account with its addresses.
    Add {
        /// Account name.
        name: String,
        /// Addresses.
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// Set the password, read from the first line of standard input.
    Password {
        /// Account name.
        name: String,
    },
    /// List accounts.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `postel queue ...`.
#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// List queued messages.
    List {
        /// Which messages.
        #[command(flatten)]
        sel: Selection,
        /// Paging and order.
        #[command(flatten)]
        paging: Paging,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show one message with its attempts (JSON).
    Show {
        /// Message id.
        id: i64,
    },
    /// Hold messages.
    Hold {
        /// Which messages.
        #[command(flatten)]
        sel: Selection,
    },
    /// Release held messages.
    Release {
        /// Which messages.
        #[command(flatten)]
        sel: Selection,
    },
    /// Move the next attempt: --now, or by a duration such as 30m or -1h.
    Schedule {
        /// Which messages.
        #[command(flatten)]
        sel: Selection,
        /// Make them due now.
        #[arg(long)]
        now: bool,
        /// Duration to add.
        #[arg(allow_hyphen_values = true, required_unless_present = "now")]
        duration: Option<String>,
    },
    /// Set the transport ("" for the routes).
    Transport {
        /// Transport name.
        name: String,
        /// Which messages.
        #[command(flatten)]
        sel: Selection,
    },
    /// Set REQUIRETLS: yes, no (TLS-Required: No) or default.
    Requiretls {
        /// yes, no or default.
        value: String,
        /// Which messages.
        #[command(flatten)]
        sel: Selection,
    },
    /// Release and make due now.
    Retry {
        /// Which messages.
        #[command(flatten)]
        sel: Selection,
    },
    /// Remove messages without a DSN.
    Drop {
        /// Which messages.
        #[command(flatten)]
        sel: Selection,
    },
    /// Fail messages (as if delivery failed permanently).
    Fail {
        /// Which messages.
        #[command(flatten)]
        sel: Selection,
    },
    /// Delivered and failed messages kept for the retention period.
    History {
        /// Which messages.
        #[command(flatten)]
        sel: Selection,
        /// Paging and order.
        #[command(flatten)]
        paging: Paging,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `postel holdrule ...`.
#[derive(Debug, Subcommand)]
pub enum HoldruleCmd {
    /// List hold rules.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Add a rule; empty fields match anything, all given fields must match.
    Add {
        /// Sender account.
        #[arg(long, default_value = "")]
        account: String,
        /// Sender domain.
        #[arg(long, default_value = "")]
        sender_domain: String,
        /// Recipient domain.
        #[arg(long, default_value = "")]
        recipient_domain: String,
    },
    /// Remove a rule (held messages stay held).
    Remove {
        /// Rule id.
        id: i64,
    },
}

/// `postel suppression ...`.
#[derive(Debug, Subcommand)]
pub enum SuppressionCmd {
    /// List suppressions.
    List {
        /// Only this account.
        #[arg(long, default_value = "")]
        account: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Suppress an address for an account.
    Add {
        /// Account.
        account: String,
        /// Address.
        address: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Remove a suppression.
    Remove {
        /// Account.
        account: String,
        /// Address.
        address: String,
    },
    /// Whether an address is suppressed.
    Lookup {
        /// Account.
        account: String,
        /// Address.
        address: String,
    },
}

/// Resolves to true on SIGINT or SIGTERM.
fn shutdown_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(target: "postel", error = %e, "cannot listen for SIGTERM");
                        let _ = tokio::signal::ctrl_c().await;
                        let _ = tx.send(true);
                        return;
                    }
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!(target: "postel", "shutting down: no new connections, finishing sessions");
        let _ = tx.send(true);
    });
    rx
}

fn admin_stores(cli: &Cli) -> anyhow::Result<(Stores, queue::engine::EngineConfig)> {
    let (dir, policy, engine) = match (&cli.dir, &cli.config) {
        (Some(d), _) => (
            d.clone(),
            Policy::default(),
            queue::engine::EngineConfig::default(),
        ),
        (None, Some(c)) => {
            let config = Config::load(c)?;
            (
                config.data_dir.clone(),
                Policy::from_config(&config),
                crate::delivery::engine_config(&config),
            )
        }
        (None, None) => (
            PathBuf::from(localserve::DEFAULT_DIR),
            localserve::policy(),
            crate::delivery::localserve_config(
                std::net::SocketAddr::from(([127, 0, 0, 1], localserve::PORTS.0)),
                localserve::ACCOUNT,
            ),
        ),
    };
    let stores = Stores::open(&dir, policy.common_separator(), policy.retention())?;
    if let Some(c) = &cli.config
        && cli.dir.is_none()
    {
        // Retried and replayed hooks take the endpoints' current settings.
        stores
            .queue
            .set_webhooks(crate::webhooks::settings(&Config::load(c)?));
    }
    Ok((stores, engine))
}

/// Runs a parsed command line, writing command output to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    match &cli.command {
        Command::Localserve {
            password,
            webhook_url,
            timeout_hang,
            http_port,
        } => {
            let dir = cli
                .dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(localserve::DEFAULT_DIR));
            let flags = LocalserveConfig {
                webhook_url: webhook_url.clone(),
                password: password.clone(),
                timeout_hang: match timeout_hang {
                    Some(t) => {
                        Some(Span(parse_duration(t).with_context(|| {
                            format!("--timeout-hang {t:?} is not a duration")
                        })?))
                    }
                    None => None,
                },
                http_port: http_port.map(Port),
                ..LocalserveConfig::default()
            };
            let settings = match LocalserveConfig::find(cli.config.as_deref(), &dir)? {
                Some((path, file)) => {
                    writeln!(out, "settings from {}", path.display())?;
                    file.overridden_by(flags)
                }
                None => flags,
            };
            let password = settings
                .password
                .clone()
                .unwrap_or_else(|| localserve::DEFAULT_PASSWORD.to_string());
            let hang = settings
                .timeout_hang
                .map(|s| s.0)
                .unwrap_or(localserve::DEFAULT_HANG);
            let port = |p: Option<Port>, default: u16| p.map(|p| p.0).unwrap_or(default);
            let ports = (
                port(settings.smtp_port, localserve::PORTS.0),
                port(settings.submission_port, localserve::PORTS.1),
                port(settings.submissions_port, localserve::PORTS.2),
            );
            let http_port = port(settings.http_port, localserve::WEBAPI_PORT);
            let listeners = localserve::Listeners::bind_ports(ports).await?;
            if let Some(url) = &settings.webhook_url {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating data directory {}", dir.display()))?;
                let endpoint = crate::webhooks::localserve_endpoint(&dir, url)?;
                writeln!(
                    out,
                    "webhooks: every event of the account is posted to {url}, signed (Standard Webhooks) with secret {}",
                    endpoint.secrets.first().map(String::as_str).unwrap_or("")
                )?;
            }
            let web = localserve::bind_webapi(http_port).await?;
            writeln!(
                out,
                "postel localserve: data in {}\n  submission  127.0.0.1:{} (STARTTLS, AUTH PLAIN allowed in plaintext)\n  submissions 127.0.0.1:{} (self-signed certificate)\n  smtp        127.0.0.1:{} (local delivery)\n  account {} password {}\nrecipient local parts ending in temperror, permerror, timeout or a code like 552 simulate failures (prefix mailfrom/rcptto: at that command)",
                dir.display(),
                ports.1,
                ports.2,
                ports.0,
                localserve::ADDRESS,
                password
            )?;
            writeln!(
                out,
                "web API: http://127.0.0.1:{http_port}/webapi/v0/ (HTTP Basic with the account above)"
            )?;
            out.flush()?;
            let opts = localserve::Options {
                dir,
                password,
                hang,
                webhook_url: settings.webhook_url,
            };
            localserve::run_with_webapi(opts, listeners, Some(web), shutdown_on_signals()).await
        }
        Command::Serve => {
            let path = cli
                .config
                .as_deref()
                .context("serve needs a config file: postel serve -c postel.toml")?;
            crate::serve::run(path, shutdown_on_signals()).await
        }
        Command::Hook(HookCmd::Test {
            account,
            endpoint,
            event,
        }) => {
            let path = cli
                .config
                .as_deref()
                .context("hook test needs the config file with the endpoints: postel -c postel.toml hook test ACCOUNT")?;
            let config = Config::load(path)?;
            let settings = crate::webhooks::settings(&config);
            crate::webhooks::test(&settings, account, endpoint, event, out).await
        }
        Command::Hook(HookCmd::Secret) => crate::webhooks::secret(out),
        _ => {
            let (stores, engine) = admin_stores(&cli)?;
            let out_ref = out;
            tokio::task::block_in_place(|| admin(&cli.command, &stores, &engine, out_ref))
        }
    }
}

fn admin(
    cmd: &Command,
    s: &Stores,
    engine: &queue::engine::EngineConfig,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        Command::Account(c) => match c {
            AccountCmd::Add { name, addresses } => admin::account_add(s, name, addresses, out),
            AccountCmd::Password { name } => {
                let stdin = std::io::stdin();
                admin::account_password(s, name, &mut stdin.lock(), out)
            }
            AccountCmd::List { json } => admin::account_list(s, *json, out),
        },
        Command::Queue(c) => match c {
            QueueCmd::List { sel, paging, json } => admin::queue_list(s, sel, paging, *json, out),
            QueueCmd::Show { id } => admin::queue_show(s, *id, out),
            QueueCmd::Hold { sel } => admin::queue_hold(s, sel, true, out),
            QueueCmd::Release { sel } => admin::queue_hold(s, sel, false, out),
            QueueCmd::Schedule { sel, now, duration } => {
                admin::queue_schedule(s, sel, *now, duration.as_deref(), out)
            }
            QueueCmd::Transport { name, sel } => admin::queue_transport(s, sel, name, out),
            QueueCmd::Requiretls { value, sel } => admin::queue_requiretls(s, sel, value, out),
            QueueCmd::Retry { sel } => admin::queue_retry(s, sel, out),
            QueueCmd::Drop { sel } => admin::queue_drop(s, sel, out),
            QueueCmd::Fail { sel } => admin::queue_fail(s, sel, engine, out),
            QueueCmd::History { sel, paging, json } => {
                admin::queue_history(s, sel, paging, *json, out)
            }
        },
        Command::Holdrule(c) => match c {
            HoldruleCmd::List { json } => admin::holdrule_list(s, *json, out),
            HoldruleCmd::Add {
                account,
                sender_domain,
                recipient_domain,
            } => admin::holdrule_add(
                s,
                HoldRule {
                    id: 0,
                    account: account.clone(),
                    sender_domain: sender_domain.clone(),
                    recipient_domain: recipient_domain.clone(),
                },
                out,
            ),
            HoldruleCmd::Remove { id } => admin::holdrule_remove(s, *id, out),
        },
        Command::Suppression(c) => match c {
            SuppressionCmd::List { account, json } => {
                admin::suppression_list(s, account, *json, out)
            }
            SuppressionCmd::Add {
                account,
                address,
                reason,
            } => admin::suppression_add(s, account, address, reason, out),
            SuppressionCmd::Remove { account, address } => {
                admin::suppression_remove(s, account, address, out)
            }
            SuppressionCmd::Lookup { account, address } => {
                admin::suppression_lookup(s, account, address, out)
            }
        },
        Command::Hook(c) => match c {
            HookCmd::List {
                account,
                retired,
                after,
                limit,
                json,
            } => crate::webhooks::list(
                s.queue.as_ref(),
                account,
                *retired,
                *after,
                *limit,
                *json,
                out,
            ),
            HookCmd::Retry { id } => crate::webhooks::retry(s.queue.as_ref(), *id, out),
            HookCmd::Replay { id } => crate::webhooks::replay(s.queue.as_ref(), *id, out),
            HookCmd::Cancel { id } => crate::webhooks::cancel(s.queue.as_ref(), *id, out),
            HookCmd::Test { .. } | HookCmd::Secret => Ok(()),
        },
        Command::Localserve { .. } | Command::Serve => Ok(()),
    }
}
