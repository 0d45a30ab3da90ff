//! The scheduler and delivery engine: claims due rows, routes them to a
//! transport, delivers with the SMTP client, and records the outcome.
//!
//! - [`Engine::new`] takes an [`EngineConfig`] and the outside world as
//!   [`EngineDeps`] (store, mailboxes, resolver, dialer, clock).
//! - [`Engine::run`] schedules until its shutdown future completes;
//!   [`Engine::kick`] wakes it after an enqueue.
//! - Routes and transports: [`Routes`], [`Route`], [`Transport`].
//!
//! Scheduling keeps a heap of (next due, recipient domain) rebuilt from
//! [`Store::next_due_per_domain`](crate::Store::next_due_per_domain) when
//! kicked and at least every `poll_interval` (other processes change the
//! queue too), and claims per domain within the concurrency limits, so its
//! cost grows with the number of domains, not with the queue.
//!
//! Delivering one message through a route to a local SMTP listener:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use queue::Store;
//! use queue::engine::{Engine, EngineConfig, EngineDeps, Route, Transport};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Arc::new(queue::SqliteStore::open(dir.path().join("q.db"), Default::default()).unwrap());
//! let mailbox = Arc::new(mailbox::SqliteMailboxStore::open(dir.path().join("m.db"), Default::default()).unwrap());
//! let sink = testkit::sink::Sink::start().await.unwrap();
//!
//! let mut config = EngineConfig { hostname: "mail.example.org".into(), ..EngineConfig::default() };
//! config.transports.insert("local".into(), Transport::Localserve { address: sink.addr() });
//! config.routes.global.push(Route::to("local"));
//! let deps = EngineDeps::new(store.clone(), mailbox, Arc::new(dns::MemoryResolver::new()));
//! let engine = Engine::new(config, deps);
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let runner = engine.clone();
//! let task = tokio::spawn(async move { runner.run(async { let _ = stopped.await; }).await });
//!
//! let from = smtp::Address::parse("alice@example.org").ok();
//! let to = smtp::Address::parse("bob@example.com").unwrap();
//! store.enqueue(queue::Submission::new("alice", from, vec![to], b"Subject: hi\r\n\r\nhello\r\n".to_vec())).unwrap();
//! engine.kick();
//! assert_eq!(sink.wait_for(1, std::time::Duration::from_secs(10)).await, 1);
//! assert_eq!(sink.messages()[0].rcpt_to, vec!["<bob@example.com> NOTIFY=FAILURE,DELAY ORCPT=rfc822;bob@example.com".to_string()]);
//! stop.send(()).unwrap();
//! task.await.unwrap().unwrap();
//! # }
//! ```

mod commit;
mod config;
mod deliver;
mod pool;
mod report;
mod transport;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use dns::Resolver;
use mailbox::MailboxStore;
use smtpclient::dial::{Dialer, Socks5Dialer, TcpDialer};
use tokio::sync::Notify;
use tokio::task::JoinSet;

pub use config::{
    EngineConfig, FailTransport, Route, Routes, SmtpTransport, SocksTransport, Transport,
    TransportAuth,
};
pub use deliver::SUPPRESSED_ERROR;
pub use report::admin_failure_dsn_writer;

use crate::clock::{Clock, SystemClock};
use crate::model::ClaimRequest;
use crate::store::{Store, StoreError};

/// Writes the failure DSNs for rows an admin failed ([`Store::fail`]), as
/// the engine does for its own final failures (NOTIFY and the null reverse
/// path respected), into the sender's Inbox or the postmaster's mailbox.
/// Blocking. Returns how many DSNs were written.
///
/// ```
/// # let failed: Vec<queue::FailedMessage> = Vec::new();
/// # let dir = tempfile::tempdir().unwrap();
/// # let mailbox = mailbox::SqliteMailboxStore::open(dir.path().join("m.db"), Default::default()).unwrap();
/// let config = queue::engine::EngineConfig::default();
/// let written = queue::engine::write_admin_failure_dsns(&config, &mailbox, std::time::SystemTime::now(), &failed);
/// assert_eq!(written, 0);
/// ```
pub fn write_admin_failure_dsns(
    config: &EngineConfig,
    mailbox: &dyn MailboxStore,
    now: SystemTime,
    failed: &[crate::FailedMessage],
) -> usize {
    let postmaster = (
        config.postmaster_account.clone(),
        config.postmaster_mailbox.clone(),
    );
    let mut written = 0;
    for f in failed {
        let row = &f.message;
        if !report::wanted(row, report::DsnKind::Failed) {
            continue;
        }
        let result = row.results.last().cloned().unwrap_or_default();
        let raw = match report::compose(&report::DsnInput {
            hostname: &config.hostname,
            row,
            result: &result,
            kind: report::DsnKind::Failed,
            body: &f.body,
            now,
        }) {
            Ok(raw) => raw,
            Err(err) => {
                tracing::error!(target: "queue", id = row.id, error = %err, "composing dsn");
                continue;
            }
        };
        match report::store_dsn(mailbox, &postmaster, row, raw, now) {
            Ok(()) => written += 1,
            Err(errors) => {
                tracing::error!(target: "queue", id = row.id, error = %errors.0, fallback_error = %errors.1, "writing dsn");
            }
        }
    }
    written
}

/// Makes the dialer of a SOCKS transport.
pub type SocksDialerFactory = Arc<dyn Fn(&SocksTransport) -> Arc<dyn Dialer> + Send + Sync>;

/// The outside world the engine works with.
#[derive(Clone)]
pub struct EngineDeps {
    /// The queue.
    pub store: Arc<dyn Store>,
    /// Where DSNs go.
    pub mailbox: Arc<dyn MailboxStore>,
    /// DNS for MX and IP lookups.
    pub resolver: Arc<dyn Resolver>,
    /// Connections for direct, smarthost and localserve delivery.
    pub dialer: Arc<dyn Dialer>,
    /// Connections for SOCKS transports.
    pub socks: SocksDialerFactory,
    /// The time used for due times and DSN dates.
    pub clock: Arc<dyn Clock>,
}

impl EngineDeps {
    /// TCP dialing, real SOCKS5 proxies and the system clock.
    pub fn new(
        store: Arc<dyn Store>,
        mailbox: Arc<dyn MailboxStore>,
        resolver: Arc<dyn Resolver>,
    ) -> EngineDeps {
        EngineDeps {
            store,
            mailbox,
            resolver,
            dialer: Arc::new(TcpDialer::new()),
            socks: Arc::new(|s: &SocksTransport| {
                Arc::new(Socks5Dialer::new(s.address)) as Arc<dyn Dialer>
            }),
            clock: Arc::new(SystemClock),
        }
    }
}

/// What stops the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed at start.
    #[error("queue store at engine start: {0}")]
    Store(#[from] StoreError),
}

/// Shared by the scheduler and the delivery tasks.
pub(crate) struct Ctx {
    pub config: EngineConfig,
    pub store: Arc<dyn Store>,
    pub mailbox: Arc<dyn MailboxStore>,
    pub resolver: Arc<dyn Resolver>,
    pub dialer: Arc<dyn Dialer>,
    pub socks: SocksDialerFactory,
    pub clock: Arc<dyn Clock>,
    pub pool: pool::Pool,
    pub completer: commit::Completer,
    kick: Notify,
    stopping: AtomicBool,
}

impl Ctx {
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// Runs a blocking store call off the async workers.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(err) => Err(StoreError::Commit(format!("store call panicked: {err}"))),
    }
}

/// The delivery engine. Cheap to clone; clones share one scheduler state.
#[derive(Clone)]
pub struct Engine {
    ctx: Arc<Ctx>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.ctx.config)
            .finish_non_exhaustive()
    }
}

/// Rebuilds after a kick wait at least this long after the last rebuild,
/// so a burst of submissions costs one store read, not one each.
const MIN_REBUILD_GAP: Duration = Duration::from_millis(10);

impl Engine {
    /// An engine; nothing runs until [`Engine::run`].
    pub fn new(config: EngineConfig, deps: EngineDeps) -> Engine {
        Engine {
            ctx: Arc::new(Ctx {
                config,
                store: deps.store,
                mailbox: deps.mailbox,
                resolver: deps.resolver,
                dialer: deps.dialer,
                socks: deps.socks,
                clock: deps.clock,
                pool: pool::Pool::default(),
                completer: commit::Completer::new(),
                kick: Notify::new(),
                stopping: AtomicBool::new(false),
            }),
        }
    }

    /// Wakes the scheduler: new or changed rows may be due.
    pub fn kick(&self) {
        self.ctx.kick.notify_one();
    }

    /// Schedules deliveries until `shutdown` completes, then stops claiming,
    /// waits up to `shutdown_grace` for running deliveries, gives the leases
    /// of unfinished ones back and closes idle connections.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), EngineError> {
        let ctx = self.ctx.clone();
        let node = ctx.config.node.clone();
        let store = ctx.store.clone();
        // Leases from an earlier run of this node are ours no more.
        let released = deliver_blocking(move || store.release_all(&node)).await?;
        if released > 0 {
            tracing::info!(target: "queue", released, "gave back leases of an earlier run");
        }
        let completer = ctx.completer.start(ctx.store.clone());
        let mut sched = Scheduler::new(ctx.clone());
        // One renewal for every running batch's leases, every third of the lease.
        let mut renewal =
            tokio::time::interval((ctx.config.lease / 3).max(Duration::from_millis(100)));
        renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            if sched.refresh_due() {
                sched.rebuild().await;
            }
            sched.launch().await;
            let wait = sched.wait();
            let gap = tokio::time::sleep(wait);
            tokio::select! {
                _ = &mut shutdown => break,
                _ = ctx.kick.notified() => sched.kicked = true,
                Some(done) = sched.tasks.join_next_with_id(), if !sched.tasks.is_empty() => sched.finished(done),
                Some(done) = sched.recording.join_next(), if !sched.recording.is_empty() => recorded(done),
                _ = renewal.tick() => sched.renew(),
                _ = gap => {}
            }
            // Deliveries that ended meanwhile free their slots together, so
            // the next launch claims for all of them in one store round trip
            // instead of one durable claim per finished delivery.
            while let Some(done) = sched.tasks.try_join_next_with_id() {
                sched.finished(done);
            }
            while let Some(done) = sched.recording.try_join_next() {
                recorded(done);
            }
        }
        sched.shutdown().await;
        if let Some(task) = completer {
            task.abort();
        }
        Ok(())
    }
}

async fn deliver_blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    blocking(f).await
}

fn recorded(done: Result<(), tokio::task::JoinError>) {
    if let Err(err) = done {
        tracing::error!(target: "queue", error = %err, "recording task failed");
    }
}

struct Running {
    domain: String,
    ids: Vec<i64>,
}

struct Scheduler {
    ctx: Arc<Ctx>,
    heap: BinaryHeap<Reverse<(SystemTime, String)>>,
    busy: HashMap<String, usize>,
    /// Deliveries until their SMTP part is over.
    tasks: JoinSet<Option<deliver::Attempted>>,
    running: HashMap<tokio::task::Id, Running>,
    /// Attempted batches whose DSNs and outcome are being recorded; their
    /// delivery slots are free already.
    recording: JoinSet<()>,
    kicked: bool,
    /// Capacity ran out while rows were due: rebuild when some frees.
    starved: bool,
    /// Domains whose last claim came back short since the last rebuild:
    /// nothing more is due there, so a finished delivery does not claim
    /// again (the next rebuild, on a kick or the poll interval, brings
    /// them back).
    drained: HashSet<String>,
    last_rebuild: Option<tokio::time::Instant>,
    last_expire: tokio::time::Instant,
}

impl Scheduler {
    fn new(ctx: Arc<Ctx>) -> Scheduler {
        Scheduler {
            ctx,
            heap: BinaryHeap::new(),
            busy: HashMap::new(),
            tasks: JoinSet::new(),
            running: HashMap::new(),
            recording: JoinSet::new(),
            kicked: true,
            starved: false,
            drained: HashSet::new(),
            last_rebuild: None,
            last_expire: tokio::time::Instant::now(),
        }
    }

    fn refresh_due(&self) -> bool {
        match self.last_rebuild {
            None => true,
            Some(at) => {
                let since = at.elapsed();
                since >= self.ctx.config.poll_interval || (self.kicked && since >= MIN_REBUILD_GAP)
            }
        }
    }

    async fn rebuild(&mut self) {
        self.kicked = false;
        self.last_rebuild = Some(tokio::time::Instant::now());
        let store = self.ctx.store.clone();
        match blocking(move || store.next_due_per_domain()).await {
            Ok(list) => {
                self.drained.clear();
                self.heap = list
                    .into_iter()
                    .map(|(domain, due)| Reverse((due, domain)))
                    .collect();
            }
            Err(err) => {
                tracing::error!(target: "queue", error = %err, "reading due times");
            }
        }
        if self.last_expire.elapsed() >= self.ctx.config.idle_timeout / 2 {
            self.last_expire = tokio::time::Instant::now();
            self.ctx.pool.expire(self.ctx.config.idle_timeout);
        }
    }

    fn capacity(&self) -> usize {
        self.ctx
            .config
            .max_concurrent
            .max(1)
            .saturating_sub(self.running.len())
    }

    /// Claims and starts deliveries for due domains while capacity lasts.
    /// The claims of all due domains go to the store in one call (one
    /// durable commit), not one after another.
    async fn launch(&mut self) {
        let now = self.ctx.clock.now();
        let per_domain = self.ctx.config.max_per_domain.max(1);
        let mut wanted: Vec<(String, usize)> = Vec::new();
        let mut reserved = 0;
        while let Some(Reverse((due, _))) = self.heap.peek() {
            if *due > now {
                break;
            }
            let capacity = self.capacity().saturating_sub(reserved);
            if capacity == 0 {
                self.starved = true;
                break;
            }
            let Some(Reverse((_, domain))) = self.heap.pop() else {
                break;
            };
            let busy = self.busy.get(&domain).copied().unwrap_or(0);
            if busy >= per_domain
                || self.drained.contains(&domain)
                || wanted.iter().any(|(d, _)| *d == domain)
            {
                // Pushed again when one of its deliveries finishes.
                continue;
            }
            let want = (per_domain - busy).min(capacity);
            reserved += want;
            wanted.push((domain, want));
        }
        if wanted.is_empty() {
            return;
        }
        let reqs: Vec<ClaimRequest> = wanted
            .iter()
            .map(|(domain, want)| ClaimRequest {
                node: self.ctx.config.node.clone(),
                lease: self.ctx.config.lease,
                max_batches: *want,
                domain: Some(domain.clone()),
                skip_domains: Vec::new(),
            })
            .collect();
        let store = self.ctx.store.clone();
        // Leases and registers the attempts durably, so the deliveries can
        // dial without another round trip.
        // The same blocking call reads what the deliveries need (bodies,
        // suppression list), so they start without a round trip of their own.
        let claimed = match blocking(move || {
            let claimed = store.claim_and_begin_many(reqs)?;
            Ok(claimed
                .into_iter()
                .map(|batches| {
                    batches
                        .into_iter()
                        .map(|b| deliver::prepare(store.as_ref(), b))
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>())
        })
        .await
        {
            Ok(c) => c,
            Err(err) => {
                // The domains come back with the next rebuild.
                tracing::error!(target: "queue", error = %err, domains = wanted.len(), "claiming");
                return;
            }
        };
        for ((domain, want), batches) in wanted.into_iter().zip(claimed) {
            if batches.len() < want {
                self.drained.insert(domain.clone());
            }
            for batch in batches {
                self.spawn(domain.clone(), batch);
            }
        }
    }

    fn spawn(&mut self, domain: String, batch: deliver::Prepared) {
        let ids = batch.ids();
        let ctx = self.ctx.clone();
        let handle = self.tasks.spawn(deliver::deliver_batch(ctx, batch));
        *self.busy.entry(domain.clone()).or_default() += 1;
        self.running.insert(handle.id(), Running { domain, ids });
    }

    /// Renews the leases of every running batch in one store call, in the
    /// background.
    fn renew(&self) {
        if self.running.is_empty() {
            return;
        }
        let ids: Vec<i64> = self
            .running
            .values()
            .flat_map(|r| r.ids.iter().copied())
            .collect();
        let store = self.ctx.store.clone();
        let (node, lease) = (self.ctx.config.node.clone(), self.ctx.config.lease);
        tokio::spawn(async move {
            if let Err(err) = blocking(move || store.renew(&node, &ids, lease)).await {
                tracing::warn!(target: "queue", error = %err, "renewing leases");
            }
        });
    }

    fn finished(
        &mut self,
        done: Result<(tokio::task::Id, Option<deliver::Attempted>), tokio::task::JoinError>,
    ) {
        let id = match done {
            Ok((id, attempted)) => {
                if let Some(attempted) = attempted {
                    self.recording
                        .spawn(deliver::record_outcome(self.ctx.clone(), attempted));
                }
                id
            }
            Err(err) => {
                tracing::error!(target: "queue", error = %err, "delivery task failed");
                err.id()
            }
        };
        if let Some(r) = self.running.remove(&id) {
            if let Some(n) = self.busy.get_mut(&r.domain) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.busy.remove(&r.domain);
                }
            }
            // More of this domain may be due unless its last claim came
            // back short; a claim finds out cheaply.
            if !self.drained.contains(&r.domain) {
                self.heap.push(Reverse((self.ctx.clock.now(), r.domain)));
            }
        }
        if self.starved {
            self.starved = false;
            self.kicked = true;
        }
    }

    /// How long to sleep: until the earliest due domain, at most the poll interval.
    fn wait(&self) -> Duration {
        let poll = self.ctx.config.poll_interval;
        let mut wait = match self.heap.peek() {
            Some(Reverse((due, _))) if self.capacity() > 0 => due
                .duration_since(self.ctx.clock.now())
                .unwrap_or(Duration::ZERO),
            _ => poll,
        };
        if self.kicked {
            let since = self.last_rebuild.map_or(MIN_REBUILD_GAP, |t| t.elapsed());
            wait = wait.min(MIN_REBUILD_GAP.saturating_sub(since));
        }
        wait.min(poll)
    }

    async fn shutdown(mut self) {
        self.ctx.stopping.store(true, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + self.ctx.config.shutdown_grace;
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next_with_id()).await {
                Ok(Some(done)) => self.finished(done),
                Ok(None) => break,
                Err(_) => break,
            }
        }
        self.tasks.abort_all();
        // Outcomes of finished deliveries get the rest of the grace period;
        // an unrecorded one stays leased until the next start gives it back.
        while !self.recording.is_empty() {
            match tokio::time::timeout_at(deadline, self.recording.join_next()).await {
                Ok(Some(done)) => recorded(done),
                Ok(None) | Err(_) => break,
            }
        }
        self.recording.abort_all();
        let unfinished: Vec<i64> = self.running.drain().flat_map(|(_, r)| r.ids).collect();
        if !unfinished.is_empty() {
            let store = self.ctx.store.clone();
            let node = self.ctx.config.node.clone();
            if let Err(err) = blocking(move || store.release(&node, &unfinished)).await {
                tracing::warn!(target: "queue", error = %err, "giving back leases at shutdown");
            }
        }
        self.ctx.pool.close().await;
    }
}
