#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Concurrent submissions share commits; a failing one does not affect others.

mod common;

use std::sync::Arc;

use common::*;
use queue::*;

#[test]
fn concurrent_enqueues_commit_in_fewer_transactions_than_requests() {
    let env = env();
    let before = env.store.writer_stats();
    let store = Arc::new(env.store);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                for i in 0..25 {
                    let to = format!("r{t}-{i}@example.com");
                    let mut sub = submission("a", "a@example.org", &[to.as_str()]);
                    // Every fifth request reuses a fromid and must fail alone.
                    sub.recipients[0].from_id = Some(if i % 5 == 4 {
                        format!("f{t}-{}", i - 1)
                    } else {
                        format!("f{t}-{i}")
                    });
                    outcomes.push(store.enqueue(sub).is_ok());
                }
                outcomes
            })
        })
        .collect();
    let mut ok = 0;
    let mut failed = 0;
    for t in threads {
        for o in t.join().unwrap() {
            if o { ok += 1 } else { failed += 1 }
        }
    }
    assert_eq!((ok, failed), (320, 80));
    let after = store.writer_stats();
    let requests = after.requests - before.requests;
    let commits = after.commits - before.commits;
    assert_eq!(requests, 400);
    assert!(
        commits < requests,
        "{commits} commits for {requests} requests"
    );
    assert_eq!(store.counts().unwrap().total, 320);
}
