//! Webhooks end to end against a real SQLite store and an HTTP receiver on
//! 127.0.0.1: exact payloads per event, the retry schedule under the
//! virtual clock, durability across a reopen, superseding, per-endpoint
//! concurrency, secret rotation, replay, cancel and retry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use queue::webhook::*;
use queue::*;
use serde_json::{Value, json};
use webapi::webhook::OutgoingEvent;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Clone, Debug)]
struct Seen {
    headers: HeaderMap,
    body: Value,
    raw: Bytes,
}

#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    status: Arc<AtomicU16>,
    active: Arc<AtomicUsize>,
    max_active: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicUsize>,
    /// Repetitions of "aé" in the response body; 0 answers "status N".
    long_body: Arc<AtomicUsize>,
    /// Requests wait (up to 10 s) until this many are in flight together.
    gather: Arc<AtomicUsize>,
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let now = r.active.fetch_add(1, Ordering::SeqCst) + 1;
    r.max_active.fetch_max(now, Ordering::SeqCst);
    let delay = r.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay as u64)).await;
    }
    for _ in 0..2000 {
        if r.max_active.load(Ordering::SeqCst) >= r.gather.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    r.seen.lock().unwrap().push(Seen {
        headers,
        body: serde_json::from_slice(&body).unwrap(),
        raw: body,
    });
    r.active.fetch_sub(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(r.status.load(Ordering::SeqCst)).unwrap();
    match r.long_body.load(Ordering::SeqCst) {
        0 => (status, format!("status {}", status.as_u16())),
        n => (status, "aé".repeat(n)),
    }
}

impl Receiver {
    async fn start() -> (Receiver, SocketAddr) {
        Receiver::start_at("127.0.0.1:0".parse().unwrap()).await
    }

    async fn start_at(at: SocketAddr) -> (Receiver, SocketAddr) {
        let r = Receiver::default();
        r.status.store(200, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind(at).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn set_status(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }
}

fn header<'a>(s: &'a Seen, name: &str) -> &'a str {
    s.headers.get(name).unwrap().to_str().unwrap()
}

fn endpoint(addr: SocketAddr) -> Endpoint {
    let mut e = Endpoint::new("app", &format!("http://{addr}/hook"));
    e.secrets = vec![SECRET.into()];
    e.authorization = Some("Bearer t0ken".into());
    e
}

fn settings(account: &str, endpoints: Vec<Endpoint>) -> WebhookSettings {
    let mut s = WebhookSettings::default();
    s.accounts.insert(account.into(), endpoints);
    s
}

fn poster(env: &Env) -> Poster {
    // The store outlives the poster in every test: wrap a second handle.
    let store = SqliteStore::open(env.path(), env.options()).unwrap();
    store.set_webhooks(env.store.webhooks().as_ref().clone());
    Poster::new(Arc::new(store), env.clock.clone(), PosterOptions::default()).unwrap()
}

/// Enqueues one message for `to` and completes its first attempt.
fn attempt(env: &Env, to: &str, outcome: Outcome, result: AttemptResult, dsn_msg_id: i64) -> i64 {
    let mut sub = submission("alice", "alice@example.org", &[to]);
    sub.extra.insert("order".into(), "17".into());
    let id = env.store.enqueue(sub).unwrap()[0];
    env.store.claim_and_begin(claim_req("n")).unwrap();
    let mut c = completion(id, outcome, result);
    c.dsn_msg_id = dsn_msg_id;
    env.store.complete(vec![c]).unwrap();
    id
}

fn expected(id: i64, event: &str, fields: Value) -> Value {
    let mut v = json!({
        "Version": 0, "Event": event, "DSN": false, "Suppressing": false, "QueueMsgID": id,
        "FromID": "", "MessageID": "<m1@example.org>", "Subject": "test",
        "WebhookQueued": "2023-11-14T22:13:20Z", "SMTPCode": 0, "SMTPEnhancedCode": "",
        "Error": "", "Extra": {"order": "17"}, "BounceReason": "", "HardBounce": false,
        "Sequence": 1, "DSNMsgID": 0
    });
    for (k, val) in fields.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_outcome_posts_its_exact_payload() {
    let (rx, addr) = Receiver::start().await;
    let env = env();
    env.store
        .set_webhooks(settings("alice", vec![endpoint(addr)]));

    let delivered = attempt(
        &env,
        "bob@example.com",
        Outcome::Delivered,
        reply(250, "2.0.0", "ok"),
        0,
    );
    let mut r550 = reply(550, "5.1.1", "no such user");
    r550.failure_class = "userUnknown".into();
    let failed = attempt(&env, "carol@example.com", Outcome::Permanent, r550, 41);
    let failed554 = attempt(
        &env,
        "dave@example.com",
        Outcome::Permanent,
        reply(554, "5.0.0", "no"),
        0,
    );
    let supp = AttemptResult {
        error: queue::engine::SUPPRESSED_ERROR.into(),
        ..AttemptResult::default()
    };
    let suppressed = attempt(&env, "carol@example.com", Outcome::Suppressed, supp, 0);
    let mut sub = submission(
        "alice",
        "alice@example.org",
        &["erin@example.com", "frank@example.com"],
    );
    sub.extra.insert("order".into(), "17".into());
    let ids = env.store.enqueue(sub).unwrap();
    let admin_failed = env
        .store
        .fail(&Filter {
            ids: vec![ids[0]],
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(admin_failed.len(), 1);
    assert_eq!(
        env.store
            .drop_messages(&Filter {
                ids: vec![ids[1]],
                ..Filter::default()
            })
            .unwrap(),
        1
    );

    let posted = poster(&env).run_due().await.unwrap();
    assert_eq!(posted, 6);
    let mut seen = rx.seen();
    seen.sort_by_key(|s| s.body["QueueMsgID"].as_i64().unwrap());
    let bodies: Vec<Value> = seen.iter().map(|s| s.body.clone()).collect();
    assert_eq!(
        bodies,
        vec![
            expected(delivered, "delivered", json!({})),
            expected(
                failed,
                "failed",
                json!({"Suppressing": true, "SMTPCode": 550,
                "SMTPEnhancedCode": "5.1.1", "Error": "550 no such user", "BounceReason": "userUnknown",
                "HardBounce": true, "DSNMsgID": 41})
            ),
            expected(
                failed554,
                "failed",
                json!({"SMTPCode": 554, "SMTPEnhancedCode": "5.0.0",
                "Error": "554 no", "BounceReason": "other", "HardBounce": true})
            ),
            expected(
                suppressed,
                "suppressed",
                json!({"Error": "address is on suppression list"})
            ),
            expected(
                ids[0],
                "failed",
                json!({"Error": "delivery canceled by admin", "BounceReason": "other"})
            ),
            expected(
                ids[1],
                "canceled",
                json!({"Error": "delivery canceled by admin"})
            ),
        ]
    );
    for s in &seen {
        let hook = env
            .store
            .hooks_for_message(s.body["QueueMsgID"].as_i64().unwrap())
            .unwrap();
        assert_eq!(hook.len(), 1);
        assert_eq!(header(s, "x-postel-webhook-id"), hook[0].id.to_string());
        assert_eq!(header(s, "x-postel-webhook-attempt"), "1");
        assert_eq!(header(s, "authorization"), "Bearer t0ken");
        assert_eq!(header(s, "content-type"), "application/json; charset=utf-8");
        assert_eq!(
            header(s, "user-agent"),
            concat!("postel/", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(header(s, "webhook-id"), hook[0].webhook_id);
        assert_eq!(hook[0].success, Some(true));
        assert_eq!(hook[0].results.len(), 1);
        assert_eq!(hook[0].results[0].code, 200);
        assert_eq!(hook[0].results[0].response, "status 200");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_verifies_with_the_wall_clock_timestamp() {
    let (rx, addr) = Receiver::start().await;
    let env = env();
    env.store
        .set_webhooks(settings("alice", vec![endpoint(addr)]));
    attempt(
        &env,
        "bob@example.com",
        Outcome::Delivered,
        reply(250, "", "ok"),
        0,
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    poster(&env).run_due().await.unwrap();
    let s = &rx.seen()[0];
    let ts: i64 = header(s, "webhook-timestamp").parse().unwrap();
    // The store's clock stands in 2023; the signature time is the real one.
    assert!(ts >= before && ts < before + 120);
    let hook = &env.store.hooks_list("", true, 0, 0).unwrap()[0];
    let expected = sign(SECRET, &hook.webhook_id, ts, hook.payload.as_bytes()).unwrap();
    assert_eq!(header(s, "webhook-signature"), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_receiver_is_retried_on_the_schedule_until_it_answers() {
    let (rx, addr) = Receiver::start().await;
    rx.set_status(503);
    let env = env();
    env.store
        .set_webhooks(settings("alice", vec![endpoint(addr)]));
    let id = attempt(
        &env,
        "bob@example.com",
        Outcome::Delivered,
        reply(250, "", "ok"),
        0,
    );
    let p = poster(&env);
    let waits = [60u64, 120, 240, 450, 900];
    for (n, wait) in waits.iter().enumerate() {
        assert_eq!(p.run_due().await.unwrap(), 1);
        let hook = &env.store.hooks_for_message(id).unwrap()[0];
        assert_eq!(hook.attempts, n as u32 + 1);
        assert_eq!(hook.success, None);
        assert_eq!(
            hook.next_attempt,
            Some(env.clock.now() + Duration::from_secs(*wait))
        );
        assert_eq!(hook.results.last().unwrap().code, 503);
        assert_eq!(hook.results.last().unwrap().error, "HTTP status 503");
        // Not due a second early.
        env.clock.advance(Duration::from_secs(wait - 1));
        assert_eq!(p.run_due().await.unwrap(), 0);
        env.clock.advance(Duration::from_secs(1));
    }
    // 202 is success too (the reference wants exactly 200).
    rx.set_status(202);
    assert_eq!(p.run_due().await.unwrap(), 1);
    let hook = &env.store.hooks_for_message(id).unwrap()[0];
    assert_eq!(hook.success, Some(true));
    assert_eq!(hook.attempts, 6);
    let seen = rx.seen();
    let attempts: Vec<&str> = seen
        .iter()
        .map(|s| header(s, "x-postel-webhook-attempt"))
        .collect();
    assert_eq!(attempts, vec!["1", "2", "3", "4", "5", "6"]);
    let ids: Vec<&str> = seen.iter().map(|s| header(s, "webhook-id")).collect();
    assert!(ids.iter().all(|i| *i == hook.webhook_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_failed_attempts_retire_the_hook_as_failed() {
    let (rx, addr) = Receiver::start().await;
    rx.set_status(500);
    let env = env();
    env.store
        .set_webhooks(settings("alice", vec![endpoint(addr)]));
    let id = attempt(
        &env,
        "bob@example.com",
        Outcome::Delivered,
        reply(250, "", "ok"),
        0,
    );
    let p = poster(&env);
    let mut total = Duration::ZERO;
    for n in 1..=12u32 {
        assert_eq!(p.run_due().await.unwrap(), 1, "attempt {n}");
        if n < 12 {
            let wait = hook_backoff(n, 0);
            total += wait;
            env.clock.advance(wait);
        }
    }
    // About 32 hours in all, as the reference.
    assert_eq!(total, Duration::from_secs(115_170));
    env.clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(p.run_due().await.unwrap(), 0);
    let hooks = env.store.hooks_for_message(id).unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].success, Some(false));
    assert_eq!(hooks[0].attempts, 12);
    assert_eq!(hooks[0].results.len(), 12);
    assert_eq!(rx.seen().len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_without_retention_keeps_no_retired_hooks_and_cleanup_honours_keep_until() {
    let (_rx, addr) = Receiver::start().await;
    let env = env();
    let mut s = settings("alice", vec![endpoint(addr)]);
    s.accounts.insert("bob".into(), vec![endpoint(addr)]);
    s.retention.accounts.insert("bob".into(), Duration::ZERO);
    env.store.set_webhooks(s);
    attempt(
        &env,
        "x@example.com",
        Outcome::Delivered,
        reply(250, "", "ok"),
        0,
    );
    let bob = env
        .store
        .enqueue(submission("bob", "bob@example.org", &["y@example.com"]))
        .unwrap()[0];
    env.store.claim_and_begin(claim_req("n")).unwrap();
    env.store
        .complete(vec![completion(
            bob,
            Outcome::Delivered,
            reply(250, "", "ok"),
        )])
        .unwrap();
    poster(&env).run_due().await.unwrap();
    let retired = env.store.hooks_list("", true, 0, 0).unwrap();
    assert_eq!(
        retired
            .iter()
            .map(|h| h.account.as_str())
            .collect::<Vec<_>>(),
        vec!["alice"]
    );
    assert!(env.store.hooks_list("", false, 0, 0).unwrap().is_empty());
    env.clock.advance(Duration::from_secs(7 * 24 * 3600));
    assert_eq!(env.store.cleanup_hooks().unwrap(), 0);
    env.clock.advance(Duration::from_secs(1));
    assert_eq!(env.store.cleanup_hooks().unwrap(), 1);
    assert!(env.store.hooks_list("", true, 0, 0).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempt_is_registered_before_posting_and_pending_hooks_survive_a_reopen() {
    let (rx, addr) = Receiver::start().await;
    let env = env();
    env.store
        .set_webhooks(settings("alice", vec![endpoint(addr)]));
    let id = attempt(
        &env,
        "bob@example.com",
        Outcome::Delivered,
        reply(250, "", "ok"),
        0,
    );
    // A poster claims and then dies before posting.
    let claimed = env
        .store
        .hooks_claim(HookClaim {
            max: 10,
            ..HookClaim::default()
        })
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].authorization.as_deref(), Some("Bearer t0ken"));
    let env = env.reopen();
    env.store
        .set_webhooks(settings("alice", vec![endpoint(addr)]));
    let hook = &env.store.hooks_for_message(id).unwrap()[0];
    assert_eq!(hook.attempts, 1);
    assert_eq!(
        hook.next_attempt,
        Some(env.clock.now() + Duration::from_secs(60))
    );
    let p = poster(&env);
    assert_eq!(p.run_due().await.unwrap(), 0);
    env.clock.advance(Duration::from_secs(60));
    assert_eq!(p.run_due().await.unwrap(), 1);
    let seen = rx.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(header(&seen[0], "x-postel-webhook-attempt"), "2");
    assert_eq!(header(&seen[0], "webhook-id"), hook.webhook_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_event_supersedes_the_pending_one_of_the_same_endpoint() {
    let (rx, addr) = Receiver::start().await;
    let env = env();
    let mut other = endpoint(addr);
    other.id = "finals".into();
    other.final_only = true;
    env.store
        .set_webhooks(settings("alice", vec![endpoint(addr), other]));
    let id = env
        .store
        .enqueue(submission(
            "alice",
            "alice@example.org",
            &["bob@example.com"],
        ))
        .unwrap()[0];
    env.store.claim_and_begin(claim_req("n")).unwrap();
    env.store
        .complete(vec![completion(
            id,
            Outcome::Temporary,
            reply(451, "4.2.0", "later"),
        )])
        .unwrap();
    let delayed = env.store.hooks_list("", false, 0, 0).unwrap();
    assert_eq!(
        delayed.len(),
        1,
        "the final-only endpoint gets no delayed event"
    );
    assert_eq!(delayed[0].event, "delayed");
    env.clock.advance(Duration::from_secs(450));
    env.store.claim_and_begin(claim_req("n")).unwrap();
    env.store
        .complete(vec![completion(
            id,
            Outcome::Delivered,
            reply(250, "", "ok"),
        )])
        .unwrap();
    let hooks = env.store.hooks_for_message(id).unwrap();
    assert_eq!(hooks.len(), 3);
    assert_eq!(hooks[0].superseded_by, hooks[1].id);
    assert_eq!(hooks[0].success, Some(false));
    assert_eq!(
        (hooks[1].endpoint_id.as_str(), hooks[2].endpoint_id.as_str()),
        ("app", "finals")
    );
    assert_eq!(hooks[1].sequence, 2);
    poster(&env).run_due().await.unwrap();
    let seen = rx.seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|s| s.body["Event"] == "delivered" && s.body["Sequence"] == 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_in_flight_per_endpoint_by_default() {
    let (rx, addr) = Receiver::start().await;
    rx.delay_ms.store(100, Ordering::SeqCst);
    let env = env();
    let mut wide = endpoint(addr);
    wide.id = "wide".into();
    wide.concurrency = 3;
    wide.events = [EventKind::Incoming].into();
    let mut app = endpoint(addr);
    app.events = [EventKind::Outgoing(OutgoingEvent::Delivered)].into();
    env.store.set_webhooks(settings("alice", vec![app, wide]));
    for to in ["a@example.com", "b@example.com", "c@example.com"] {
        attempt(&env, to, Outcome::Delivered, reply(250, "", "ok"), 0);
    }
    assert_eq!(poster(&env).run_due().await.unwrap(), 3);
    assert_eq!(rx.max_active.load(Ordering::SeqCst), 1);

    // The endpoint allowing three gets three at once.
    rx.max_active.store(0, Ordering::SeqCst);
    rx.delay_ms.store(0, Ordering::SeqCst);
    rx.gather.store(3, Ordering::SeqCst);
    for n in 0..3 {
        let payload = webapi::webhook::Incoming {
            subject: format!("in {n}"),
            ..Default::default()
        };
        assert_eq!(
            env.store
                .queue_incoming_hook("alice", &payload)
                .unwrap()
                .len(),
            1
        );
    }
    assert_eq!(poster(&env).run_due().await.unwrap(), 3);
    assert_eq!(rx.max_active.load(Ordering::SeqCst), 3);
    let incoming: Vec<String> = env
        .store
        .hooks_list("alice", true, 0, 3)
        .unwrap()
        .iter()
        .map(|h| format!("{} {} {}", h.event, h.endpoint_id, h.queue_msg_id))
        .collect();
    assert_eq!(incoming, vec!["incoming wide 0"; 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_sends_both_signatures_current_first() {
    let (rx, addr) = Receiver::start().await;
    let env = env();
    let mut e = endpoint(addr);
    let new = generate_secret();
    e.secrets = vec![new.clone(), SECRET.into()];
    env.store.set_webhooks(settings("alice", vec![e]));
    attempt(
        &env,
        "bob@example.com",
        Outcome::Delivered,
        reply(250, "", "ok"),
        0,
    );
    poster(&env).run_due().await.unwrap();
    let s = &rx.seen()[0];
    let ts: i64 = header(s, "webhook-timestamp").parse().unwrap();
    let hook = &env.store.hooks_list("", true, 0, 0).unwrap()[0];
    let body = hook.payload.as_bytes();
    let want = format!(
        "{} {}",
        sign(&new, &hook.webhook_id, ts, body).unwrap(),
        sign(SECRET, &hook.webhook_id, ts, body).unwrap()
    );
    assert_eq!(header(s, "webhook-signature"), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_gets_a_new_webhook_id_and_names_the_original() {
    let (rx, addr) = Receiver::start().await;
    let env = env();
    env.store
        .set_webhooks(settings("alice", vec![endpoint(addr)]));
    attempt(
        &env,
        "bob@example.com",
        Outcome::Delivered,
        reply(250, "", "ok"),
        0,
    );
    let p = poster(&env);
    p.run_due().await.unwrap();
    let original = env.store.hooks_list("", true, 0, 0).unwrap().remove(0);
    assert!(matches!(
        env.store.hook_replay("mallory", original.id),
        Err(StoreError::NotFound { .. })
    ));
    let new_id = env.store.hook_replay("alice", original.id).unwrap();
    assert!(new_id > original.id);
    p.run_due().await.unwrap();
    let replayed = env.store.hook_get(new_id).unwrap().unwrap();
    assert_eq!(replayed.replay_of, original.id);
    assert_ne!(replayed.webhook_id, original.webhook_id);
    assert_eq!(replayed.payload, original.payload);
    let seen = rx.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(header(&seen[1], "webhook-id"), replayed.webhook_id);
    assert_eq!(header(&seen[1], "x-postel-webhook-id"), new_id.to_string());
    assert_eq!(seen[1].body, seen[0].body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_retires_and_retry_requeues_a_failed_hook() {
    let (rx, addr) = Receiver::start().await;
    rx.set_status(500);
    let env = env();
    env.store
        .set_webhooks(settings("alice", vec![endpoint(addr)]));
    let id = attempt(
        &env,
        "bob@example.com",
        Outcome::Delivered,
        reply(250, "", "ok"),
        0,
    );
    let p = poster(&env);
    p.run_due().await.unwrap();
    let hook = env.store.hooks_for_message(id).unwrap().remove(0);
    env.store.hook_cancel("alice", hook.id).unwrap();
    let canceled = env.store.hook_get(hook.id).unwrap().unwrap();
    assert_eq!(canceled.success, Some(false));
    assert_eq!(canceled.results.last().unwrap().error, "canceled by admin");
    assert!(matches!(
        env.store.hook_cancel("alice", hook.id),
        Err(StoreError::NotFound { .. })
    ));

    rx.set_status(200);
    env.store.hook_retry("", hook.id).unwrap();
    let again = env.store.hook_get(hook.id).unwrap().unwrap();
    assert_eq!(
        (again.success, again.attempts, again.webhook_id.as_str()),
        (None, 0, hook.webhook_id.as_str())
    );
    assert_eq!(p.run_due().await.unwrap(), 1);
    let done = env.store.hook_get(hook.id).unwrap().unwrap();
    assert_eq!(done.success, Some(true));
    assert_eq!(done.results.len(), 3);
    assert_eq!(header(&rx.seen()[1], "webhook-id"), hook.webhook_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_poster_posts_new_hooks_without_being_kicked() {
    let (rx, addr) = Receiver::start().await;
    let env = env();
    env.store
        .set_webhooks(settings("alice", vec![endpoint(addr)]));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(env.path(), env.options()).unwrap());
    // The hooks are queued through this handle, whose waker the poster watches.
    store.set_webhooks(env.store.webhooks().as_ref().clone());
    let p = Poster::new(store.clone(), env.clock.clone(), PosterOptions::default()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(p.run(async {
        let _ = stopped.await;
    }));
    let id = store
        .enqueue(submission(
            "alice",
            "alice@example.org",
            &["bob@example.com"],
        ))
        .unwrap()[0];
    store.claim_and_begin(claim_req("n")).unwrap();
    store
        .complete(vec![completion(
            id,
            Outcome::Delivered,
            reply(250, "", "ok"),
        )])
        .unwrap();
    for _ in 0..500 {
        if store.hooks_for_message(id).unwrap()[0].success.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.hooks_for_message(id).unwrap()[0].success, Some(true));
    assert_eq!(rx.seen().len(), 1);
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_test_posts_a_signed_sample() {
    let (rx, addr) = Receiver::start().await;
    let result = webhook_test(&endpoint(addr), EventKind::Outgoing(OutgoingEvent::Failed))
        .await
        .unwrap();
    assert_eq!(
        result,
        TestResult {
            status_code: 200,
            error: String::new(),
            response: "status 200".into()
        }
    );
    let s = &rx.seen()[0];
    assert_eq!(s.body["Event"], "failed");
    assert_eq!(header(s, "x-postel-webhook-attempt"), "1");
    let ts: i64 = header(s, "webhook-timestamp").parse().unwrap();
    assert_eq!(
        header(s, "webhook-signature"),
        sign(SECRET, "msg_test", ts, &s.raw).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_webhook_names_the_dsn_the_engine_wrote_first() {
    use mailbox::MailboxStore;
    use queue::engine::{Engine, EngineConfig, EngineDeps, FailTransport, Route, Transport};

    let (rx, addr) = Receiver::start().await;
    let env = env();
    let store = Arc::new(SqliteStore::open(env.path(), env.options()).unwrap());
    store.set_webhooks(settings("alice", vec![endpoint(addr)]));
    let mailbox = Arc::new(
        mailbox::SqliteMailboxStore::open(env.dir.path().join("mail.db"), Default::default())
            .unwrap(),
    );
    mailbox
        .create_account(&mailbox::NewAccount {
            name: "alice".into(),
            addresses: vec!["alice@example.org".into()],
            ..Default::default()
        })
        .unwrap();
    let mut config = EngineConfig {
        hostname: "mail.example.org".into(),
        ..EngineConfig::default()
    };
    config.transports.insert(
        "fail".into(),
        Transport::Fail(FailTransport {
            code: 550,
            enhanced: (1, 1),
            message: "no such user".into(),
        }),
    );
    config.routes.global.push(Route::to("fail"));
    let mut deps = EngineDeps::new(
        store.clone(),
        mailbox.clone(),
        Arc::new(dns::MemoryResolver::new()),
    );
    deps.clock = env.clock.clone();
    let engine = Engine::new(config, deps);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = engine.clone();
    let task = tokio::spawn(async move {
        runner
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    let id = store
        .enqueue(submission(
            "alice",
            "alice@example.org",
            &["bob@example.com"],
        ))
        .unwrap()[0];
    engine.kick();
    let mut hooks = Vec::new();
    for _ in 0..500 {
        hooks = store.hooks_for_message(id).unwrap();
        if !hooks.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let inbox = mailbox.list("alice", mailbox::INBOX, None, 10).unwrap();
    assert_eq!(inbox.messages.len(), 1);
    let dsn_id = inbox.messages[0].id.0;
    assert_eq!(hooks.len(), 1);
    let payload: Value = serde_json::from_str(&hooks[0].payload).unwrap();
    assert_eq!(payload["Event"], "failed");
    assert_eq!(payload["DSNMsgID"], dsn_id);
    assert_eq!(payload["Suppressing"], true);
    assert_eq!(payload["SMTPCode"], 550);
    assert_eq!(payload["SMTPEnhancedCode"], "5.1.1");
    assert_eq!(payload["HardBounce"], true);
    Poster::new(store.clone(), env.clock.clone(), PosterOptions::default())
        .unwrap()
        .run_due()
        .await
        .unwrap();
    assert_eq!(rx.seen()[0].body, payload);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_body_is_kept_to_512_bytes_on_a_character_boundary() {
    let (rx, addr) = Receiver::start().await;
    rx.long_body.store(1000, Ordering::SeqCst);
    rx.set_status(500);
    let env = env();
    env.store
        .set_webhooks(settings("alice", vec![endpoint(addr)]));
    let id = attempt(
        &env,
        "bob@example.com",
        Outcome::Delivered,
        reply(250, "", "ok"),
        0,
    );
    poster(&env).run_due().await.unwrap();
    let hook = env.store.hooks_for_message(id).unwrap().remove(0);
    let kept = &hook.results[0].response;
    // 170 "aé" are 510 bytes; the "a" fits, the cut "é" does not.
    assert_eq!(kept, &format!("{}a", "aé".repeat(170)));
    assert_eq!(kept.len(), 511);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_twelfth_attempt_retires_the_hook_when_due_again() {
    let (rx, addr) = Receiver::start().await;
    rx.set_status(500);
    let env = env();
    env.store
        .set_webhooks(settings("alice", vec![endpoint(addr)]));
    let id = attempt(
        &env,
        "bob@example.com",
        Outcome::Delivered,
        reply(250, "", "ok"),
        0,
    );
    let p = poster(&env);
    for n in 1..=11u32 {
        assert_eq!(p.run_due().await.unwrap(), 1);
        env.clock.advance(hook_backoff(n, 0));
    }
    // The twelfth attempt is registered, then the poster dies.
    let claimed = env
        .store
        .hooks_claim(HookClaim {
            max: 1,
            ..HookClaim::default()
        })
        .unwrap();
    assert_eq!(claimed[0].record.attempts, 12);
    env.clock.advance(hook_backoff(12, 0));
    assert_eq!(p.run_due().await.unwrap(), 0);
    let hook = env.store.hooks_for_message(id).unwrap().remove(0);
    assert_eq!(hook.success, Some(false));
    assert_eq!(
        hook.results.last().unwrap().error,
        "no attempts left after an unfinished attempt"
    );
    assert_eq!(rx.seen().len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_fail_writes_the_dsn_before_queueing_the_webhook_that_names_it() {
    use mailbox::MailboxStore;
    let env = env();
    env.store.set_webhooks(settings(
        "alice",
        vec![Endpoint::new("app", "http://127.0.0.1:9/hook")],
    ));
    let mailbox = Arc::new(
        mailbox::SqliteMailboxStore::open(env.dir.path().join("mail.db"), Default::default())
            .unwrap(),
    );
    mailbox
        .create_account(&mailbox::NewAccount {
            name: "alice".into(),
            addresses: vec!["alice@example.org".into()],
            ..Default::default()
        })
        .unwrap();
    let config = queue::engine::EngineConfig {
        hostname: "mail.example.org".into(),
        ..Default::default()
    };
    let id = env
        .store
        .enqueue(submission(
            "alice",
            "alice@example.org",
            &["bob@example.com"],
        ))
        .unwrap()[0];
    let writer = queue::engine::admin_failure_dsn_writer(&config, mailbox.clone());
    let failed = env
        .store
        .fail_with_dsns(
            &Filter {
                ids: vec![id],
                ..Filter::default()
            },
            writer,
        )
        .unwrap();
    let inbox = mailbox.list("alice", mailbox::INBOX, None, 10).unwrap();
    assert_eq!(inbox.messages.len(), 1);
    assert_eq!(failed[0].dsn_msg_id, inbox.messages[0].id.0);
    let hook = env.store.hooks_for_message(id).unwrap().remove(0);
    let payload: Value = serde_json::from_str(&hook.payload).unwrap();
    assert_eq!(
        (payload["Event"].as_str(), payload["DSNMsgID"].as_i64()),
        (Some("failed"), Some(failed[0].dsn_msg_id))
    );
}

#[test]
fn result_of_a_hook_superseded_in_flight_goes_to_its_record() {
    let env = env();
    env.store.set_webhooks(settings(
        "alice",
        vec![Endpoint::new("app", "http://127.0.0.1:9/hook")],
    ));
    let id = env
        .store
        .enqueue(submission(
            "alice",
            "alice@example.org",
            &["bob@example.com"],
        ))
        .unwrap()[0];
    env.store.claim_and_begin(claim_req("n")).unwrap();
    env.store
        .complete(vec![completion(
            id,
            Outcome::Temporary,
            reply(451, "4.2.0", "later"),
        )])
        .unwrap();
    let in_flight = env
        .store
        .hooks_claim(HookClaim {
            max: 10,
            ..HookClaim::default()
        })
        .unwrap()
        .remove(0)
        .record;
    env.clock.advance(Duration::from_secs(450));
    env.store.claim_and_begin(claim_req("n")).unwrap();
    env.store
        .complete(vec![completion(
            id,
            Outcome::Delivered,
            reply(250, "", "ok"),
        )])
        .unwrap();
    let result = HookResult {
        start_ms: 1,
        url: in_flight.url.clone(),
        code: 500,
        error: "HTTP status 500".into(),
        ..HookResult::default()
    };
    assert_eq!(
        env.store.hook_complete(in_flight.id, result).unwrap(),
        HookDone::Gone
    );
    let old = env.store.hook_get(in_flight.id).unwrap().unwrap();
    assert_eq!(old.success, Some(false));
    assert_ne!(old.superseded_by, 0);
    assert_eq!(old.results.len(), 1);
    assert_eq!(old.results[0].error, "HTTP status 500 (superseded)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_for_a_while_gets_the_hook_once_it_is_up() {
    // A port nobody listens on, until the receiver starts there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let env = env();
    env.store
        .set_webhooks(settings("alice", vec![endpoint(addr)]));
    let id = attempt(
        &env,
        "bob@example.com",
        Outcome::Delivered,
        reply(250, "", "ok"),
        0,
    );
    let p = poster(&env);
    assert_eq!(p.run_due().await.unwrap(), 1);
    env.clock.advance(Duration::from_secs(60));
    assert_eq!(p.run_due().await.unwrap(), 1);
    let hook = env.store.hooks_for_message(id).unwrap().remove(0);
    assert_eq!(hook.attempts, 2);
    assert!(
        hook.results
            .iter()
            .all(|r| r.code == 0 && !r.success && r.error.starts_with("posting webhook: "))
    );
    let (rx, _) = Receiver::start_at(addr).await;
    env.clock.advance(Duration::from_secs(119));
    assert_eq!(p.run_due().await.unwrap(), 0);
    env.clock.advance(Duration::from_secs(1));
    assert_eq!(p.run_due().await.unwrap(), 1);
    let hook = env.store.hooks_for_message(id).unwrap().remove(0);
    assert_eq!((hook.success, hook.attempts), (Some(true), 3));
    let seen = rx.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(header(&seen[0], "x-postel-webhook-attempt"), "3");
}
