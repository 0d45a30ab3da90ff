//! Issue 6 acceptance points for webhooks that the other store tests leave
//! open: which endpoints an event goes to (event filter, final-only mode,
//! accounts without endpoints), a receiver that stays down across a
//! restart of the store and poster under the virtual clock, and the
//! minimum secret length.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use common::*;
use queue::webhook::*;
use queue::*;
use serde_json::Value;
use webapi::webhook::OutgoingEvent;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

async fn receive(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> &'static str {
    seen.lock()
        .unwrap()
        .push((headers, serde_json::from_slice(&body).unwrap()));
    "ok"
}

async fn receiver_at(addr: SocketAddr) -> Seen {
    let seen = Seen::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    seen
}

fn endpoint(id: &str, addr: SocketAddr) -> Endpoint {
    let mut e = Endpoint::new(id, &format!("http://{addr}/hook"));
    e.secrets = vec![SECRET.into()];
    e
}

fn poster(env: &Env) -> Poster {
    let store = SqliteStore::open(env.path(), env.options()).unwrap();
    store.set_webhooks(env.store.webhooks().as_ref().clone());
    Poster::new(Arc::new(store), env.clock.clone(), PosterOptions::default()).unwrap()
}

/// Enqueues one message of `account` to `to` and completes one attempt.
fn attempt(env: &Env, account: &str, to: &str, outcome: Outcome, result: AttemptResult) -> i64 {
    let from = format!("{account}@example.org");
    let id = env
        .store
        .enqueue(submission(account, &from, &[to]))
        .unwrap()[0];
    env.store.claim_and_begin(claim_req("n")).unwrap();
    env.store
        .complete(vec![completion(id, outcome, result)])
        .unwrap();
    id
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).unwrap().to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_filter_and_final_only_mode_pick_the_endpoints_of_each_event() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let env = env();
    let all = endpoint("all", addr);
    let mut failures = endpoint("failures", addr);
    failures.events = [EventKind::Outgoing(OutgoingEvent::Failed)].into();
    let mut finals = endpoint("finals", addr);
    finals.final_only = true;
    let mut inbound = endpoint("inbound", addr);
    inbound.events = [EventKind::Incoming].into();
    let mut settings = WebhookSettings::default();
    settings
        .accounts
        .insert("alice".into(), vec![all, failures, finals, inbound]);
    env.store.set_webhooks(settings);

    let delayed = attempt(
        &env,
        "alice",
        "a@example.com",
        Outcome::Temporary,
        reply(451, "4.2.0", "later"),
    );
    let delivered = attempt(
        &env,
        "alice",
        "b@example.com",
        Outcome::Delivered,
        reply(250, "2.0.0", "ok"),
    );
    let failed = attempt(
        &env,
        "alice",
        "c@example.com",
        Outcome::Permanent,
        reply(554, "5.0.0", "no"),
    );
    let incoming = webapi::webhook::Incoming {
        subject: "in".into(),
        ..Default::default()
    };
    assert_eq!(
        env.store
            .queue_incoming_hook("alice", &incoming)
            .unwrap()
            .len(),
        3
    );
    let mut got: Vec<(i64, String, String)> = env
        .store
        .hooks_list("alice", false, 0, 100)
        .unwrap()
        .into_iter()
        .map(|h| (h.queue_msg_id, h.event, h.endpoint_id))
        .collect();
    got.sort();
    let want = |id: i64, event: &str, ep: &str| (id, event.to_string(), ep.to_string());
    let mut expected = vec![
        want(0, "incoming", "all"),
        want(0, "incoming", "finals"),
        want(0, "incoming", "inbound"),
        want(delayed, "delayed", "all"),
        want(delivered, "delivered", "all"),
        want(delivered, "delivered", "finals"),
        want(failed, "failed", "all"),
        want(failed, "failed", "failures"),
        want(failed, "failed", "finals"),
    ];
    expected.sort();
    assert_eq!(got, expected);

    // An account without endpoints queues nothing, outgoing or incoming.
    attempt(
        &env,
        "bob",
        "d@example.com",
        Outcome::Delivered,
        reply(250, "", "ok"),
    );
    assert!(
        env.store
            .queue_incoming_hook("bob", &incoming)
            .unwrap()
            .is_empty()
    );
    assert!(
        env.store
            .hooks_list("bob", false, 0, 100)
            .unwrap()
            .is_empty()
    );
    assert!(
        env.store
            .hooks_list("bob", true, 0, 100)
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_across_a_restart_keeps_the_schedule_and_the_webhook_id() {
    // A port nobody listens on until the receiver starts there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let env = env();
    let mut settings = WebhookSettings::default();
    settings
        .accounts
        .insert("alice".into(), vec![endpoint("app", addr)]);
    env.store.set_webhooks(settings.clone());
    let id = attempt(
        &env,
        "alice",
        "bob@example.com",
        Outcome::Permanent,
        reply(550, "5.1.1", "no such user"),
    );
    let p = poster(&env);
    assert_eq!(p.run_due().await.unwrap(), 1);
    env.clock.advance(Duration::from_secs(59));
    assert_eq!(p.run_due().await.unwrap(), 0);
    env.clock.advance(Duration::from_secs(1));
    assert_eq!(p.run_due().await.unwrap(), 1);
    let before = env.store.hooks_for_message(id).unwrap().remove(0);
    assert_eq!((before.attempts, before.success), (2, None));
    // Second interval of the schedule: 2 minutes after the second attempt.
    assert_eq!(
        before.next_attempt,
        Some(env.clock.now() + Duration::from_secs(120))
    );
    drop(p);

    // Restart: store and poster are new, the clock goes on.
    let env = env.reopen();
    env.store.set_webhooks(settings);
    let after = env.store.hooks_for_message(id).unwrap().remove(0);
    assert_eq!(after.id, before.id);
    assert_eq!(after.webhook_id, before.webhook_id);
    assert_eq!(after.attempts, 2);
    assert_eq!(after.next_attempt, before.next_attempt);
    assert_eq!(after.results.len(), 2);
    let seen = receiver_at(addr).await;
    let p = poster(&env);
    env.clock.advance(Duration::from_secs(119));
    assert_eq!(p.run_due().await.unwrap(), 0);
    assert!(seen.lock().unwrap().is_empty());
    env.clock.advance(Duration::from_secs(1));
    assert_eq!(p.run_due().await.unwrap(), 1);
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (headers, body) = &got[0];
    assert_eq!(header(headers, "webhook-id"), before.webhook_id);
    assert_eq!(
        header(headers, "x-postel-webhook-id"),
        before.id.to_string()
    );
    assert_eq!(header(headers, "x-postel-webhook-attempt"), "3");
    assert_eq!(body["Event"], "failed");
    assert_eq!(body["QueueMsgID"], id);
    assert_eq!(body["Suppressing"], true);
    let done = env.store.hooks_for_message(id).unwrap().remove(0);
    assert_eq!((done.attempts, done.success), (3, Some(true)));
    assert_eq!(
        done.results.iter().map(|r| r.code).collect::<Vec<_>>(),
        [0, 0, 200]
    );
}

#[test]
fn secrets_need_at_least_24_bytes_of_key() {
    // base64 of 18 and of 24 zero bytes.
    let short = "whsec_AAAAAAAAAAAAAAAAAAAAAAAA";
    let enough = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(validate_secret(short), Err(SignError::TooShort { got: 18 }));
    assert_eq!(validate_secret(enough), Ok(()));
    let generated = generate_secret();
    assert!(generated.starts_with("whsec_"), "{generated}");
    assert_eq!(validate_secret(&generated), Ok(()));
}
