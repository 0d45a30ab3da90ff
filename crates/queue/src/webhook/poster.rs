//! Delivering hooks: claim due ones within the concurrency limits, POST
//! them signed, record each outcome.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio::task::JoinSet;
use webapi::webhook::{Incoming, Outgoing, OutgoingEvent};

use super::{
    ClaimedHook, Endpoint, EventKind, HookClaim, HookDone, HookResult, MAX_RESPONSE_BYTES,
    signature_header,
};
use crate::clock::Clock;
use crate::store::{Store, StoreError};

/// How a [`Poster`] runs.
#[derive(Clone, Debug)]
pub struct PosterOptions {
    /// Requests in flight at most, over all endpoints (default 10).
    pub max_in_flight: usize,
    /// Timeout of one request (default 60 s).
    pub timeout: Duration,
    /// The longest sleep between looks at the hook queue (default 60 s);
    /// new hooks of this process wake the poster at once.
    pub poll_interval: Duration,
    /// How often retired hooks past their keep time are deleted (default 1 h).
    pub cleanup_interval: Duration,
}

impl Default for PosterOptions {
    fn default() -> Self {
        PosterOptions {
            max_in_flight: 10,
            timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(60),
            cleanup_interval: Duration::from_secs(3600),
        }
    }
}

/// The poster could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PosterError {
    /// The TLS configuration was refused.
    #[error("webhook TLS setup: {0}")]
    Tls(String),
    /// The HTTP client could not be built.
    #[error("building the webhook HTTP client: {0}")]
    Client(String),
}

/// The answer to a test request ([`webhook_test`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestResult {
    /// The HTTP status, 0 without a response.
    pub status_code: u16,
    /// What went wrong, "" for a 2xx answer.
    pub error: String,
    /// The start of the response body.
    pub response: String,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    options: PosterOptions,
    kick: Notify,
    in_flight: Mutex<BTreeMap<(String, String), usize>>,
    done: Mutex<Completions>,
    /// Requests between their claim and their HTTP response.
    posting: std::sync::atomic::AtomicUsize,
    /// Woken when a request got its response and freed its slot.
    freed: Notify,
}

/// A request's place within the limits (all endpoints, and its endpoint);
/// given back when its response is in, before its outcome is written: the
/// limits bound requests at the receivers, and the attempt registered at
/// the claim keeps the hook from being claimed again meanwhile.
struct Slot {
    poster: Poster,
    key: (String, String),
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.poster.busy(&self.key, -1);
        self.poster
            .inner
            .posting
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.poster.inner.freed.notify_one();
    }
}

/// An attempt's outcome waiting to be written, and who waits for it.
type Completion = (
    i64,
    HookResult,
    tokio::sync::oneshot::Sender<Result<HookDone, StoreError>>,
);

/// Outcomes of finished requests waiting for one shared write: one write
/// per finished request was a writer request, a savepoint and a blocking
/// thread each, competing with the deliveries that queue the hooks.
#[derive(Default)]
struct Completions {
    waiting: Vec<Completion>,
    /// A flush task is running; it takes what arrives meanwhile too.
    flushing: bool,
}

/// Delivers due hooks of a store.
///
/// ```no_run
/// # async fn demo(store: std::sync::Arc<queue::SqliteStore>) {
/// use queue::webhook::{Poster, PosterOptions};
/// let poster = Poster::new(store, std::sync::Arc::new(queue::SystemClock), PosterOptions::default()).unwrap();
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let task = tokio::spawn(poster.clone().run(async { let _ = stopped.await; }));
/// // ... hooks are posted as they are queued ...
/// stop.send(()).unwrap();
/// task.await.unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct Poster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Poster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poster")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// The HTTP client: ring TLS with the Mozilla roots, no redirects,
/// `User-Agent: postel/<version>`.
fn http_client(timeout: Duration, idle_per_host: usize) -> Result<reqwest::Client, PosterError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PosterError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(idle_per_host.max(2))
        .user_agent(concat!("postel/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| PosterError::Client(e.to_string()))
}

/// One request as sent.
struct Request<'a> {
    url: &'a str,
    body: String,
    hook_id: i64,
    attempt: u32,
    webhook_id: &'a str,
    secrets: &'a [String],
    authorization: Option<&'a str>,
}

/// What came back.
struct Response {
    code: u16,
    error: String,
    body: String,
}

async fn post(client: &reqwest::Client, req: Request<'_>) -> Response {
    // The signature timestamp is the wall clock of this attempt, whatever
    // clock schedules the attempts: receivers compare it with theirs.
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let signature = signature_header(req.secrets, req.webhook_id, timestamp, req.body.as_bytes());
    let mut builder = client
        .post(req.url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("X-Postel-Webhook-ID", req.hook_id.to_string())
        .header("X-Postel-Webhook-Attempt", req.attempt.to_string())
        .header("webhook-id", req.webhook_id)
        .header("webhook-timestamp", timestamp.to_string());
    if !signature.is_empty() {
        builder = builder.header("webhook-signature", signature);
    }
    if let Some(auth) = req.authorization {
        builder = builder.header("Authorization", auth);
    }
    match builder.body(req.body).send().await {
        Ok(mut resp) => {
            let status = resp.status();
            let mut body = Vec::new();
            while body.len() < MAX_RESPONSE_BYTES {
                match resp.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            body.truncate(MAX_RESPONSE_BYTES);
            let mut text = String::from_utf8_lossy(&body).into_owned();
            while text.len() > MAX_RESPONSE_BYTES {
                text.pop();
            }
            Response {
                code: status.as_u16(),
                error: if status.is_success() {
                    String::new()
                } else {
                    format!("HTTP status {}", status.as_u16())
                },
                body: text,
            }
        }
        Err(e) => Response {
            code: 0,
            error: format!("posting webhook: {}", error_chain(&e)),
            body: String::new(),
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Commit(format!("blocking task: {e}")))?
}

impl Poster {
    /// A poster for `store`'s hooks, scheduling with `clock`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        options: PosterOptions,
    ) -> Result<Poster, PosterError> {
        let client = http_client(options.timeout, options.max_in_flight)?;
        Ok(Poster {
            inner: Arc::new(Inner {
                store,
                clock,
                client,
                options,
                kick: Notify::new(),
                in_flight: Mutex::new(BTreeMap::new()),
                done: Mutex::new(Completions::default()),
                posting: std::sync::atomic::AtomicUsize::new(0),
                freed: Notify::new(),
            }),
        })
    }

    /// Wakes the run loop (after the clock moved, or settings changed).
    pub fn kick(&self) {
        self.inner.kick.notify_one();
    }

    fn in_flight(&self) -> BTreeMap<(String, String), usize> {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn busy(&self, key: &(String, String), delta: isize) {
        let mut map = self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let n = map.entry(key.clone()).or_insert(0);
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            map.remove(key);
        }
    }

    /// Claims up to `max` due hooks and starts posting each into `tasks`.
    async fn start(&self, max: usize, tasks: &mut JoinSet<()>) -> Result<usize, StoreError> {
        if max == 0 {
            return Ok(0);
        }
        let store = Arc::clone(&self.inner.store);
        let req = HookClaim {
            max,
            in_flight: self.in_flight(),
        };
        let claimed = blocking(move || store.hooks_claim(req)).await?;
        let n = claimed.len();
        for hook in claimed {
            let key = (hook.record.account.clone(), hook.record.endpoint_id.clone());
            self.busy(&key, 1);
            self.inner
                .posting
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let slot = Slot {
                poster: self.clone(),
                key,
            };
            let this = self.clone();
            tasks.spawn(async move { this.deliver(hook, slot).await });
        }
        Ok(n)
    }

    async fn deliver(&self, hook: ClaimedHook, slot: Slot) {
        let record = hook.record;
        let settings = self.inner.store.webhooks();
        let start_ms = crate::time::to_ms(self.inner.clock.now());
        let started = Instant::now();
        let response = match settings.endpoint(&record.account, &record.endpoint_id) {
            Some(endpoint) => {
                post(
                    &self.inner.client,
                    Request {
                        url: &record.url,
                        body: record.payload.clone(),
                        hook_id: record.id,
                        attempt: record.attempts,
                        webhook_id: &record.webhook_id,
                        secrets: &endpoint.secrets,
                        authorization: hook.authorization.as_deref(),
                    },
                )
                .await
            }
            None => Response {
                code: 0,
                error: format!(
                    "endpoint {:?} of account {:?} is no longer configured",
                    record.endpoint_id, record.account
                ),
                body: String::new(),
            },
        };
        drop(slot);
        let result = HookResult {
            start_ms,
            duration_ms: started.elapsed().as_millis().min(i64::MAX as u128) as i64,
            url: record.url.clone(),
            success: response.code / 100 == 2,
            code: response.code,
            error: response.error,
            response: response.body,
        };
        tracing::info!(
            target: "queue",
            hook = record.id,
            account = %record.account,
            endpoint = %record.endpoint_id,
            event = %record.event,
            attempt = record.attempts,
            code = result.code,
            error = %result.error,
            "webhook attempt done"
        );
        let id = record.id;
        // The task lasts until the outcome is written: run_due's callers
        // see every hook retired.
        match self.complete(id, result).await {
            Ok(done) => {
                tracing::debug!(target: "queue", hook = id, ?done, "webhook outcome recorded")
            }
            Err(err) => {
                tracing::error!(target: "queue", hook = id, error = %err, "recording webhook outcome")
            }
        }
    }

    /// Writes an attempt's outcome together with those of the other
    /// requests that finished meanwhile.
    async fn complete(&self, id: i64, result: HookResult) -> Result<HookDone, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let lead = {
            let mut done = self.inner.done.lock().unwrap_or_else(|e| e.into_inner());
            done.waiting.push((id, result, tx));
            !std::mem::replace(&mut done.flushing, true)
        };
        if lead {
            // Its own task: a request aborted at shutdown must not strand
            // the others' outcomes.
            let this = self.clone();
            tokio::spawn(async move { this.flush().await });
        }
        rx.await
            .map_err(|_| StoreError::Commit("webhook outcome writer stopped".into()))?
    }

    async fn flush(&self) {
        loop {
            let batch = {
                let mut done = self.inner.done.lock().unwrap_or_else(|e| e.into_inner());
                if done.waiting.is_empty() {
                    done.flushing = false;
                    return;
                }
                std::mem::take(&mut done.waiting)
            };
            let mut items = Vec::with_capacity(batch.len());
            let mut replies = Vec::with_capacity(batch.len());
            for (id, result, reply) in batch {
                items.push((id, result));
                replies.push(reply);
            }
            let store = Arc::clone(&self.inner.store);
            match blocking(move || store.hooks_complete(items)).await {
                Ok(outcomes) => {
                    let mut outcomes = outcomes.into_iter();
                    for reply in replies {
                        let outcome = outcomes.next().unwrap_or_else(|| {
                            Err(StoreError::Commit(
                                "no outcome for a webhook attempt".into(),
                            ))
                        });
                        let _ = reply.send(outcome);
                    }
                }
                Err(err) => {
                    let reason = err.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Commit(reason.clone())));
                    }
                }
            }
        }
    }

    /// Posts every hook due now, within the concurrency limits, and waits
    /// for them; repeats while more are due. Returns how many were posted.
    /// For tests and one-shot runs; [`Poster::run`] does this continuously.
    pub async fn run_due(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let mut tasks = JoinSet::new();
            let n = self
                .start(self.inner.options.max_in_flight, &mut tasks)
                .await?;
            while tasks.join_next().await.is_some() {}
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// Posts hooks as they fall due until `shutdown` completes; requests in
    /// flight then are abandoned (their attempts are registered, so they are
    /// retried after the backoff).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let waker = self.inner.store.hook_waker();
        let mut tasks = JoinSet::new();
        let mut last_cleanup: Option<SystemTime> = None;
        loop {
            let now = self.inner.clock.now();
            let cleanup_due = last_cleanup.is_none_or(|t| {
                now.duration_since(t).unwrap_or_default() >= self.inner.options.cleanup_interval
            });
            if cleanup_due {
                last_cleanup = Some(now);
                let store = Arc::clone(&self.inner.store);
                match blocking(move || store.cleanup_hooks()).await {
                    Ok(n) if n > 0 => {
                        tracing::info!(target: "queue", deleted = n, "retired webhooks cleaned up")
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::error!(target: "queue", error = %err, "cleaning retired webhooks")
                    }
                }
            }
            // Slots are counted by requests awaiting their response, not by
            // tasks: counting unjoined finished tasks as busy made each claim
            // take one hook and pay a commit for it.
            while tasks.try_join_next().is_some() {}
            let posting = self
                .inner
                .posting
                .load(std::sync::atomic::Ordering::Relaxed);
            let free = self.inner.options.max_in_flight.saturating_sub(posting);
            let mut wait = self.inner.options.poll_interval;
            match self.start(free, &mut tasks).await {
                Ok(_) => {
                    let store = Arc::clone(&self.inner.store);
                    if let Ok(Some(due)) = blocking(move || store.hooks_next_due()).await {
                        let until = due
                            .duration_since(self.inner.clock.now())
                            .unwrap_or(Duration::ZERO);
                        // Due now but not claimed: an endpoint is at its
                        // limit; a finishing task wakes the loop.
                        if !until.is_zero() {
                            wait = wait.min(until);
                        }
                    }
                }
                Err(err) => {
                    tracing::error!(target: "queue", error = %err, "claiming webhooks");
                    wait = wait.min(Duration::from_secs(60));
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = self.inner.kick.notified() => {}
                () = waker.notified() => {}
                () = self.inner.freed.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }

    /// Posts a sample event to an endpoint with this poster's client.
    pub async fn test(&self, endpoint: &Endpoint, event: EventKind) -> TestResult {
        send_test(&self.inner.client, endpoint, event).await
    }
}

/// A sample outgoing event for tests of an endpoint.
pub fn sample_outgoing(event: OutgoingEvent) -> Outgoing {
    let failure = matches!(event, OutgoingEvent::Failed | OutgoingEvent::Delayed);
    Outgoing {
        event,
        queue_msg_id: 101,
        from_id: "MDEyMzQ1Njc4OWFiY2RlZg".into(),
        message_id: "<QnxzgulZK51utga6agH_rg@postel.example>".into(),
        subject: "test from postel".into(),
        webhook_queued: SystemTime::now(),
        smtp_code: if failure { 554 } else { 0 },
        smtp_enhanced_code: if failure {
            "5.4.0".into()
        } else {
            String::new()
        },
        error: if failure {
            "554 5.4.0 sample failure".into()
        } else {
            String::new()
        },
        bounce_reason: if failure {
            "other".into()
        } else {
            String::new()
        },
        hard_bounce: event == OutgoingEvent::Failed,
        sequence: 1,
        ..Outgoing::default()
    }
}

async fn send_test(client: &reqwest::Client, endpoint: &Endpoint, event: EventKind) -> TestResult {
    let body = match event {
        EventKind::Outgoing(e) => serde_json::to_string(&sample_outgoing(e)),
        EventKind::Incoming => serde_json::to_string(&Incoming {
            subject: "test from postel".into(),
            ..Incoming::default()
        }),
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return TestResult {
                error: format!("encoding sample payload: {e}"),
                ..TestResult::default()
            };
        }
    };
    let response = post(
        client,
        Request {
            url: &endpoint.url,
            body,
            hook_id: 0,
            attempt: 1,
            webhook_id: "msg_test",
            secrets: &endpoint.secrets,
            authorization: endpoint.authorization.as_deref(),
        },
    )
    .await;
    TestResult {
        status_code: response.code,
        error: response.error,
        response: response.body,
    }
}

/// Posts a sample signed event of kind `event` to `endpoint` now and reports
/// the answer (the admin "test" command and the web API's WebhookTest).
pub async fn webhook_test(
    endpoint: &Endpoint,
    event: EventKind,
) -> Result<TestResult, PosterError> {
    let client = http_client(Duration::from_secs(60), 2)?;
    Ok(send_test(&client, endpoint, event).await)
}
