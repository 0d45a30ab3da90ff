//! The HTTP listener: the web API router served with the client's socket
//! address (for the login limiter), stopping gracefully with the other
//! listeners; and the periodic cleanup of expired idempotency keys.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use queue::{SqliteStore, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};
use webapi::server::{RouterOptions, router};

use super::WebApi;

/// How often expired idempotency keys are deleted.
pub const CLEANUP_EVERY: Duration = Duration::from_secs(3600);

async fn stopped(mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            // The sender is gone: nobody can ask us to stop any more, so
            // run until the process ends.
            std::future::pending::<()>().await;
        }
    }
}

/// Serves the web API on `listener` until `shutdown` turns true; requests
/// in flight finish first.
pub async fn serve(
    listener: TcpListener,
    backend: Arc<WebApi>,
    options: RouterOptions,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let local = listener.local_addr().context("web API listener address")?;
    info!(target: "postel", address = %local, path = %options.base_path, "web API listening");
    let app = router(backend, options);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopped(shutdown))
    .await
    .context("serving the web API")
}

/// Deletes expired idempotency keys now and every [`CLEANUP_EVERY`] until
/// shutdown.
pub fn spawn_cleanup(
    queue: Arc<SqliteStore>,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let stop = stopped(shutdown);
        tokio::pin!(stop);
        loop {
            let q = queue.clone();
            match tokio::task::spawn_blocking(move || q.cleanup_idempotency()).await {
                Ok(Ok(n)) if n > 0 => {
                    info!(target: "postel", keys = n, "expired idempotency keys deleted");
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => warn!(target: "postel", error = %e, "idempotency key cleanup failed"),
                Err(e) => {
                    warn!(target: "postel", error = %e, "idempotency key cleanup task failed")
                }
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(CLEANUP_EVERY) => {}
            }
        }
    })
}

/// The largest message when nothing is configured (the reference's 100 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 100 * 1024 * 1024;

/// The running listener and its key cleanup, for the caller to await
/// after shutdown.
pub type Running = (
    tokio::task::JoinHandle<anyhow::Result<()>>,
    tokio::task::JoinHandle<()>,
);

/// Binds the configured web API listener and serves it (with the key
/// cleanup) until `shutdown`.
pub async fn spawn_configured(
    listener: &crate::config::WebApiListener,
    config: &crate::config::Config,
    stores: &crate::stores::Stores,
    policy: Arc<crate::policy::Policy>,
    kick: Arc<tokio::sync::Notify>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Running> {
    let ip: std::net::IpAddr = listener
        .address
        .parse()
        .context("web API listener address")?;
    let addr = SocketAddr::new(ip, listener.port.0);
    let socket = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the web API on {addr}"))?;
    let max = listener
        .max_message_size
        .unwrap_or(config.submission.max_message_size);
    let backend = Arc::new(WebApi::new(
        stores,
        policy,
        kick,
        super::Settings {
            hostname: config.hostname.clone(),
            max_message_size: max,
        },
    ));
    let options = RouterOptions {
        base_path: listener.path.clone(),
        max_message_size: max,
        trust_forwarded: listener.trust_forwarded,
    };
    let cleanup = spawn_cleanup(stores.queue.clone(), shutdown.clone());
    let task = tokio::spawn(serve(socket, backend, options, shutdown));
    Ok((task, cleanup))
}
