//! The entry points: serve one connection, or accept connections from a
//! TCP listener.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info};

use crate::config::ServerConfig;
use crate::error::ServeError;
use crate::handler::Handler;
use crate::io::{Conn, Io};
use crate::metrics::{Metrics, NoMetrics};
use crate::session::Conversation;
use crate::time::{Clock, IdSource, RandomIds, SystemClock};
use crate::types::{Peer, Session};

/// An SMTP server: configuration, handler, and the injectable parts
/// (metrics, clock, ids). Cheap to clone.
pub struct Server<H> {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) handler: Arc<H>,
    pub(crate) metrics: Arc<dyn Metrics>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdSource>,
    pub(crate) shutdown: Option<watch::Receiver<bool>>,
}

/// Resolves once `rx` holds `true`; never when its sender is gone.
pub(crate) async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

impl<H> Clone for Server<H> {
    fn clone(&self) -> Self {
        Server {
            config: self.config.clone(),
            handler: self.handler.clone(),
            metrics: self.metrics.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

impl<H: Handler> Server<H> {
    /// A server with no metrics, the system clock and random ids.
    pub fn new(config: ServerConfig, handler: Arc<H>) -> Server<H> {
        Server {
            config: Arc::new(config),
            handler,
            metrics: Arc::new(NoMetrics),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            shutdown: None,
        }
    }

    /// Stops when `shutdown` becomes `true`: sessions waiting for a command
    /// get `421 4.3.2` and close (a transaction in progress finishes first),
    /// and [`Server::run`] stops accepting and waits for its sessions.
    pub fn with_shutdown(mut self, shutdown: watch::Receiver<bool>) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Reports to `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reads time from `clock` (Received dates, FUTURERELEASE).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Takes session and Received ids from `ids`.
    pub fn with_ids(mut self, ids: Arc<dyn IdSource>) -> Self {
        self.ids = ids;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Serves one plaintext connection (STARTTLS when configured) until
    /// QUIT (`Ok`) or an error.
    pub async fn serve<S>(&self, stream: S, peer: Peer) -> Result<(), ServeError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        self.serve_inner(stream, peer, false).await
    }

    /// Serves one connection that starts with a TLS handshake (port 465).
    /// Fails when the configuration has no TLS.
    pub async fn serve_implicit_tls<S>(&self, stream: S, peer: Peer) -> Result<(), ServeError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        self.serve_inner(stream, peer, true).await
    }

    async fn serve_inner<S>(&self, stream: S, peer: Peer, implicit: bool) -> Result<(), ServeError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        self.metrics.connection();
        let session = Session {
            id: self.ids.next_id(),
            peer,
            mode: self.config.mode,
            hello: None,
            tls: None,
            identity: None,
            auth_failures: 0,
        };
        debug!(target: "smtpserver", session = %session.id, remote = %peer.remote_ip, implicit_tls = implicit, "connection");
        let mut conversation = Conversation::new(self, Io::new(Conn::Plain(stream)), session);
        if implicit {
            let Some(settings) = self.config.tls.clone() else {
                return Err(ServeError::Tls(
                    "implicit TLS without a TLS configuration".into(),
                ));
            };
            conversation.start_tls(&settings, true).await?;
        }
        let result = conversation.run().await;
        debug!(target: "smtpserver", session = %conversation.session.id, result = ?result.as_ref().err(), "connection closed");
        result
    }

    /// Accepts connections, serving each on its own task, until the
    /// shutdown signal (see [`Server::with_shutdown`]); then waits for the
    /// sessions to end. Without a shutdown signal it runs until an accept
    /// error. `implicit_tls` selects port-465 behaviour.
    pub async fn run(&self, listener: TcpListener, implicit_tls: bool) -> std::io::Result<()> {
        let local: Option<SocketAddr> = listener.local_addr().ok();
        info!(target: "smtpserver", address = ?local, implicit_tls, "listening");
        let mut sessions = JoinSet::new();
        let mut shutdown = self.shutdown.clone();
        loop {
            let accepted = match shutdown.as_mut() {
                Some(rx) => tokio::select! {
                    accepted = listener.accept() => Some(accepted),
                    _ = shutdown_requested(rx) => None,
                },
                None => Some(listener.accept().await),
            };
            // Reap finished sessions so the set stays small.
            while sessions.try_join_next().is_some() {}
            let Some(accepted) = accepted else {
                break;
            };
            let (stream, remote) = accepted?;
            let peer = Peer {
                remote_ip: remote.ip(),
                local_ip: stream.local_addr().ok().map(|a| a.ip()),
            };
            let server = self.clone();
            sessions.spawn(async move {
                let _ = if implicit_tls {
                    server.serve_implicit_tls(stream, peer).await
                } else {
                    server.serve(stream, peer).await
                };
            });
        }
        info!(target: "smtpserver", address = ?local, sessions = sessions.len(), "stopped accepting; waiting for sessions");
        while sessions.join_next().await.is_some() {}
        Ok(())
    }
}
