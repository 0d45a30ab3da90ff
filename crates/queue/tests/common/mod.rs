//! Shared setup for the store tests: a real SQLite file in a temp dir and a
//! clock the test moves.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use queue::*;
use smtp::Address;

pub const START: u64 = 1_700_000_000;

pub fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(START)
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub clock: Arc<TestClock>,
    pub store: SqliteStore,
    pub retention: Retention,
}

impl Env {
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("queue.db")
    }

    pub fn options(&self) -> Options {
        Options {
            clock: self.clock.clone(),
            jitter: Arc::new(|| 0),
            retention: self.retention.clone(),
        }
    }

    /// Closes and opens the store again (a restart).
    pub fn reopen(self) -> Env {
        let options = self.options();
        let Env {
            dir,
            clock,
            store,
            retention,
        } = self;
        drop(store);
        let store = SqliteStore::open(dir.path().join("queue.db"), options).unwrap();
        Env {
            dir,
            clock,
            store,
            retention,
        }
    }
}

pub fn env_with(retention: Retention) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TestClock::new(t0()));
    let options = Options {
        clock: clock.clone(),
        jitter: Arc::new(|| 0),
        retention: retention.clone(),
    };
    let store = SqliteStore::open(dir.path().join("queue.db"), options).unwrap();
    Env {
        dir,
        clock,
        store,
        retention,
    }
}

pub fn env() -> Env {
    env_with(Retention::default())
}

pub fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

pub fn submission(account: &str, from: &str, to: &[&str]) -> Submission {
    let mut s = Submission::new(
        account,
        Some(addr(from)),
        to.iter().map(|t| addr(t)).collect(),
        b"From: x\r\nSubject: test\r\n\r\nbody\r\n".to_vec(),
    );
    s.message_id = "<m1@example.org>".into();
    s.subject = "test".into();
    s
}

pub fn claim_req(node: &str) -> ClaimRequest {
    ClaimRequest {
        node: node.into(),
        lease: Duration::from_secs(300),
        max_batches: 100,
        domain: None,
        skip_domains: vec![],
    }
}

pub fn ids_of(batches: &[Batch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| b.rows.iter().map(|r| r.id))
        .collect()
}

pub fn reply(code: u16, enhanced: &str, line: &str) -> AttemptResult {
    AttemptResult {
        mx_host: "mx.example.com".into(),
        ip: "192.0.2.1".into(),
        code,
        enhanced_code: enhanced.into(),
        reply_lines: vec![line.into()],
        failure_class: if code >= 400 {
            "other".into()
        } else {
            String::new()
        },
        error: if code >= 400 {
            format!("{code} {line}")
        } else {
            String::new()
        },
        ..AttemptResult::default()
    }
}

pub fn completion(id: i64, outcome: Outcome, result: AttemptResult) -> Completion {
    Completion {
        id,
        outcome,
        result,
        dialed_ips: Default::default(),
        dsn_msg_id: 0,
    }
}

/// Claims, begins and completes one row with the given outcome.
pub fn attempt(env: &Env, id: i64, outcome: Outcome, result: AttemptResult) -> Completed {
    let req = ClaimRequest {
        domain: None,
        ..claim_req("n")
    };
    let claimed = ids_of(&env.store.claim(req).unwrap());
    assert!(
        claimed.contains(&id),
        "row {id} not claimable, got {claimed:?}"
    );
    let others: Vec<i64> = claimed.into_iter().filter(|c| *c != id).collect();
    env.store.release("n", &others).unwrap();
    env.store.begin_attempt("n", &[id]).unwrap();
    env.store
        .complete(vec![completion(id, outcome, result)])
        .unwrap()
        .remove(0)
}
