//! The `postel` binary's pieces, as a library so tests can drive them.
//!
//! Map:
//! - [`config`]: `postel.toml`, validated with file:line: key errors.
//! - [`cli`]: the command line and its dispatch.
//! - [`admin`]: queue, history, hold rule, suppression and account commands.
//! - [`submission`]: the submission listener's [`smtpserver::Handler`].
//! - [`inbound`]: incoming mail (port 25): mailboxes, bounce matching, webhooks.
//! - [`policy`], [`limits`]: per-account rules and daily limits.
//! - [`localserve`]: `postel localserve` and its local delivery listener.
//! - [`serve`]: `postel serve -c FILE`.
//! - [`delivery`]: the queue's delivery engine, configured and running.
//! - [`stores`], [`tls`]: the data directory and certificates.
//! - [`webapi`]: the web API's backend over the stores and its listener.
//! - [`webhooks`]: webhook endpoints from the config, the poster, `postel hook`.
//!
//! ```
//! use postel_server::config::Config;
//! let err = Config::parse("postel.toml", "hostname = \"mail.example.org\"\ndata_dir = \"/tmp/x\"\nbogus = 1\n")
//!     .unwrap_err();
//! assert!(err.to_string().starts_with("postel.toml:3: bogus: unknown field `bogus`"));
//! ```

pub mod admin;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod inbound;
pub mod limits;
pub mod localserve;
pub mod policy;
pub mod serve;
pub mod stores;
pub mod submission;
pub mod tls;
pub mod webapi;
pub mod webhooks;
