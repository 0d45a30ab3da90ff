//! Webhook signatures checked by an independent verifier: the Standard
//! Webhooks reference library for Python (`standardwebhooks`, installed into
//! the peers venv by `.ci/peers/install.sh`) receives Postel's requests in
//! `.ci/peers/webhook_receiver.py` and verifies each one, a rotation's two
//! signatures separately, with its own timestamp tolerance against this
//! machine's clock while the queue schedules with a virtual clock in 2023.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use queue::webhook::{Endpoint, Poster, PosterOptions, WebhookSettings, generate_secret};
use queue::{
    AttemptResult, ClaimRequest, Completion, Options, Outcome, SqliteStore, Store, Submission,
    TestClock,
};
use serde_json::Value;

struct Receiver {
    child: Child,
    lines: mpsc::Receiver<String>,
    port: u16,
}

impl Receiver {
    fn start(secrets: &[&str]) -> Receiver {
        let mut cmd = Command::new(support::venv_python());
        cmd.arg(support::peers_dir().join("webhook_receiver.py"));
        for s in secrets {
            cmd.args(["--secret", s]);
        }
        let mut child = cmd
            .env("PYTHONWARNINGS", "ignore")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn webhook_receiver.py");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = lines.recv_timeout(Duration::from_secs(30)).expect("READY");
        let port = ready.strip_prefix("READY ").unwrap().parse().unwrap();
        Receiver { child, lines, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn requests(&self, n: usize) -> Vec<Value> {
        (0..n)
            .map(|_| {
                let line = self.lines.recv_timeout(Duration::from_secs(30)).unwrap();
                serde_json::from_str(&line).unwrap()
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn complete(store: &SqliteStore, to: &str, outcome: Outcome, code: u16, enhanced: &str) -> i64 {
    let sender = smtp::Address::parse("alice@example.org").ok();
    let mut sub = Submission::new(
        "alice",
        sender,
        vec![smtp::Address::parse(to).unwrap()],
        b"Subject: hi\r\n\r\nhello\r\n".to_vec(),
    );
    sub.message_id = "<verify@example.org>".into();
    let id = store.enqueue(sub).unwrap()[0];
    store
        .claim_and_begin(ClaimRequest {
            node: "n".into(),
            lease: Duration::from_secs(300),
            max_batches: 10,
            domain: None,
            skip_domains: vec![],
        })
        .unwrap();
    let result = AttemptResult {
        code,
        enhanced_code: enhanced.into(),
        error: if code >= 400 {
            format!("{code} refused")
        } else {
            String::new()
        },
        failure_class: if code >= 400 {
            "other".into()
        } else {
            String::new()
        },
        ..AttemptResult::default()
    };
    store
        .complete(vec![Completion {
            id,
            outcome,
            result,
            dialed_ips: Default::default(),
            dsn_msg_id: 0,
        }])
        .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python standardwebhooks; run by .ci/run"]
async fn standardwebhooks_library_verifies_every_request_and_both_rotation_signatures() {
    let old = generate_secret();
    let new = generate_secret();
    let single = Receiver::start(&[&old]);
    let rotating = Receiver::start(&[&new, &old]);

    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TestClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ));
    let options = Options {
        clock: clock.clone(),
        jitter: Arc::new(|| 0),
        ..Options::default()
    };
    let store = Arc::new(SqliteStore::open(dir.path().join("q.db"), options).unwrap());
    let mut one = Endpoint::new("one", &single.url());
    one.secrets = vec![old.clone()];
    let mut two = Endpoint::new("two", &rotating.url());
    two.secrets = vec![new.clone(), old.clone()];
    let mut settings = WebhookSettings::default();
    settings.accounts.insert("alice".into(), vec![one, two]);
    store.set_webhooks(settings);

    complete(&store, "bob@example.com", Outcome::Delivered, 250, "");
    complete(
        &store,
        "carol@example.com",
        Outcome::Permanent,
        550,
        "5.1.1",
    );
    complete(&store, "dave@example.com", Outcome::Temporary, 451, "4.3.0");
    let incoming = webapi::webhook::Incoming {
        subject: "héllo".into(),
        ..Default::default()
    };
    store.queue_incoming_hook("alice", &incoming).unwrap();

    let poster = Poster::new(store.clone(), clock.clone(), PosterOptions::default()).unwrap();
    assert_eq!(poster.run_due().await.unwrap(), 8);
    let first = store.hooks_list("alice", true, 0, 100).unwrap();
    assert_eq!(first.len(), 8);
    let replayed = store.hook_replay("alice", first[0].id).unwrap();
    assert_eq!(poster.run_due().await.unwrap(), 1);

    let mut seen = single.requests(4);
    seen.extend(rotating.requests(4));
    let replay_receiver = if first[0].endpoint_id == "one" {
        &single
    } else {
        &rotating
    };
    let replay = replay_receiver.requests(1).remove(0);
    for r in seen.iter().chain(std::iter::once(&replay)) {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["attempt"], "1");
    }
    let signatures: Vec<i64> = seen
        .iter()
        .map(|r| r["signatures"].as_i64().unwrap())
        .collect();
    assert_eq!(signatures, vec![1, 1, 1, 1, 2, 2, 2, 2]);
    let mut events: Vec<String> = seen
        .iter()
        .map(|r| {
            let p = &r["payload"];
            p["Event"]
                .as_str()
                .map_or_else(|| format!("incoming {}", p["Subject"]), String::from)
        })
        .collect();
    events.sort();
    assert_eq!(
        events,
        vec![
            "delayed",
            "delayed",
            "delivered",
            "delivered",
            "failed",
            "failed",
            "incoming \"héllo\"",
            "incoming \"héllo\""
        ]
    );
    let original = store.hook_get(first[0].id).unwrap().unwrap();
    let copy = store.hook_get(replayed).unwrap().unwrap();
    assert_eq!(replay["webhook_id"], copy.webhook_id.as_str());
    assert_ne!(copy.webhook_id, original.webhook_id);
    assert_eq!(copy.replay_of, original.id);
    assert_eq!(replay["postel_id"], replayed.to_string());
    assert!(store.hooks_list("alice", false, 0, 100).unwrap().is_empty());

    // The verifier is no rubber stamp: a request signed with another secret fails.
    let mut wrong = Endpoint::new("wrong", &single.url());
    wrong.secrets = vec![new.clone()];
    let kind = queue::webhook::EventKind::Incoming;
    let answer = queue::webhook::webhook_test(&wrong, kind).await.unwrap();
    assert_eq!(answer.status_code, 401);
    let refused = single.requests(1).remove(0);
    assert_eq!(refused["ok"], false);
    assert_eq!(
        refused["error"],
        "WebhookVerificationError: No matching signature found"
    );
}
