//! The web API's server side: [`WebApi`] implements
//! [`webapi::server::Backend`] over the queue and mailbox stores, and
//! [`serve`] runs the router on a listener until shutdown.
//!
//! Map:
//! - [`auth`]: HTTP Basic logins through the mailbox store (cached checks,
//!   per-IP limiter).
//! - [`send`]: Send and SendBatch: composing, policy checks, fromids,
//!   idempotency keys and the one-transaction enqueue.
//! - [`messages`]: MessageList/Get/RawGet/PartGet/Delete/Flags/Move over the
//!   account's mailboxes.
//! - [`status`]: MessageStatus, the timeline across queue and history.
//! - [`suppressions`]: the Suppression* methods.
//! - [`hooks`]: HookList/Retry/Replay/Cancel and WebhookTest.
//! - [`listen`]: the HTTP listener, graceful shutdown, key cleanup.
//!
//! A backend over a data directory and the router that serves it (what
//! `postel serve` and `postel localserve` hand to [`serve`]):
//!
//! ```
//! use std::sync::Arc;
//! use postel_server::policy::Policy;
//! use postel_server::stores::Stores;
//! use postel_server::webapi::{Settings, WebApi};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let stores = Stores::open(dir.path(), None, Default::default()).unwrap();
//! let settings = Settings { hostname: "mail.example.org".into(), max_message_size: 1 << 20 };
//! let backend = Arc::new(WebApi::new(
//!     &stores,
//!     Arc::new(Policy::default()),
//!     Arc::new(tokio::sync::Notify::new()),
//!     settings,
//! ));
//! let _router = webapi::server::router(backend, webapi::server::RouterOptions::default());
//! ```

pub mod auth;
mod backend;
pub mod hooks;
pub mod listen;
pub mod messages;
pub mod send;
pub mod status;
pub mod suppressions;

use std::sync::Arc;

use mailbox::SqliteMailboxStore;
use queue::SqliteStore;
use tokio::sync::Notify;
use tracing::error;
use webapi::{ApiError, ErrorCode};

use crate::limits::Tracker;
use crate::policy::Policy;
use crate::stores::Stores;

pub use listen::{DEFAULT_MAX_MESSAGE_SIZE, Running, serve, spawn_cleanup, spawn_configured};

/// What the backend needs besides the stores.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Our host name: Message-IDs, Received headers.
    pub hostname: String,
    /// Largest composed message in bytes.
    pub max_message_size: u64,
}

/// The backend of the web API.
pub struct WebApi {
    pub(crate) queue: Arc<SqliteStore>,
    pub(crate) mailbox: Arc<SqliteMailboxStore>,
    pub(crate) policy: Arc<Policy>,
    pub(crate) kick: Arc<Notify>,
    pub(crate) limits: Arc<Tracker>,
    pub(crate) settings: Settings,
    /// Each account as its latest login returned it: every call logs in
    /// first, so Send reads the account from here instead of the store.
    pub(crate) accounts: std::sync::Mutex<std::collections::HashMap<String, mailbox::Account>>,
}

impl WebApi {
    /// A backend over `stores`; `kick` wakes the delivery engine after an
    /// enqueue. Daily limits count in `stores.limits`, shared with a
    /// [`crate::submission::Submitter::from_stores`] over the same stores.
    pub fn new(
        stores: &Stores,
        policy: Arc<Policy>,
        kick: Arc<Notify>,
        settings: Settings,
    ) -> Self {
        WebApi {
            queue: stores.queue.clone(),
            mailbox: stores.mailbox.clone(),
            policy,
            kick,
            limits: stores.limits.clone(),
            settings,
            accounts: Default::default(),
        }
    }
}

/// A `server` error: logged here with its cause, the client sees a
/// generic message.
pub(crate) fn internal(during: &str, e: impl std::fmt::Display) -> ApiError {
    error!(target: "postel", during, error = %e, "web API call failed on a local error");
    ApiError::new(ErrorCode::Server, format!("{during}: internal error"))
}

/// Runs blocking store work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    during: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| internal(during, e))
}
