#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Leases, attempts, backoff, crash safety, scheduling queries.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use queue::*;

/// Enqueues 200 single-recipient rows over 7 domains and lets 4 threads
/// claim them with `claim` (7 batches per call) until nothing is left;
/// returns the store, every row handed out (in no particular order), and the
/// temporary directory, which must outlive the store.
fn claim_200_from_4_threads(
    claim: fn(&SqliteStore, ClaimRequest) -> Vec<Batch>,
) -> (Arc<SqliteStore>, Vec<QueuedMessage>, tempfile::TempDir) {
    let env = env();
    for i in 0..200 {
        let to = format!("r{i}@d{}.example", i % 7);
        env.store
            .enqueue(submission("a", "a@example.org", &[to.as_str()]))
            .unwrap();
    }
    let store = Arc::new(env.store);
    let handles: Vec<_> = (0..4)
        .map(|n| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    let req = ClaimRequest {
                        max_batches: 7,
                        ..claim_req(&format!("node{n}"))
                    };
                    let batches = claim(&store, req);
                    if batches.is_empty() {
                        return got;
                    }
                    got.extend(batches.into_iter().flat_map(|b| b.rows));
                }
            })
        })
        .collect();
    let all = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    (store, all, env.dir)
}

#[test]
fn two_claimers_never_get_the_same_row() {
    let (_store, all, _dir) = claim_200_from_4_threads(|store, req| store.claim(req).unwrap());
    let unique: HashSet<i64> = all.iter().map(|m| m.id).collect();
    assert_eq!(all.len(), 200);
    assert_eq!(unique.len(), 200);
}

#[test]
fn claim_groups_rows_of_one_base_id_and_domain() {
    let env = env();
    let ids = env
        .store
        .enqueue(submission(
            "a",
            "a@example.org",
            &["x@one.example", "y@two.example", "z@one.example"],
        ))
        .unwrap();
    let single = env
        .store
        .enqueue(submission("a", "a@example.org", &["w@one.example"]))
        .unwrap();
    let batches = env.store.claim(claim_req("n")).unwrap();
    let groups: Vec<Vec<i64>> = batches
        .iter()
        .map(|b| b.rows.iter().map(|r| r.id).collect())
        .collect();
    assert_eq!(
        groups,
        vec![vec![ids[0], ids[2]], vec![ids[1]], vec![single[0]]]
    );
    let row = &batches[0].rows[0];
    assert_eq!(row.lease_owner, "n");
    assert_eq!(row.lease_until, Some(t0() + Duration::from_secs(300)));
}

#[test]
fn claim_honours_domain_skip_list_and_batch_limit() {
    let env = env();
    let a = env
        .store
        .enqueue(submission("a", "a@example.org", &["x@one.example"]))
        .unwrap();
    env.clock.advance(Duration::from_secs(1));
    let b = env
        .store
        .enqueue(submission("a", "a@example.org", &["x@two.example"]))
        .unwrap();
    env.clock.advance(Duration::from_secs(1));
    let c = env
        .store
        .enqueue(submission("a", "a@example.org", &["y@two.example"]))
        .unwrap();
    let req = ClaimRequest {
        domain: Some("two.example".into()),
        max_batches: 1,
        ..claim_req("n")
    };
    assert_eq!(ids_of(&env.store.claim(req).unwrap()), b);
    let req = ClaimRequest {
        skip_domains: vec!["one.example".into()],
        ..claim_req("n")
    };
    assert_eq!(ids_of(&env.store.claim(req).unwrap()), c);
    assert_eq!(ids_of(&env.store.claim(claim_req("n")).unwrap()), a);
}

#[test]
fn expired_lease_is_claimable_again_and_renew_release_work() {
    let env = env();
    let ids = env
        .store
        .enqueue(submission("a", "a@example.org", &["x@example.com"]))
        .unwrap();
    assert_eq!(ids_of(&env.store.claim(claim_req("n1")).unwrap()), ids);
    assert!(env.store.claim(claim_req("n2")).unwrap().is_empty());

    env.clock.advance(Duration::from_secs(200));
    assert_eq!(
        env.store
            .renew("n1", &ids, Duration::from_secs(300))
            .unwrap(),
        ids
    );
    assert_eq!(
        env.store
            .renew("n2", &ids, Duration::from_secs(300))
            .unwrap(),
        Vec::<i64>::new()
    );
    assert_eq!(
        env.store.get(ids[0]).unwrap().unwrap().lease_until,
        Some(t0() + Duration::from_secs(500))
    );
    env.clock.advance(Duration::from_secs(299));
    assert!(env.store.claim(claim_req("n2")).unwrap().is_empty());
    env.clock.advance(Duration::from_secs(1));
    assert_eq!(ids_of(&env.store.claim(claim_req("n2")).unwrap()), ids);

    // A release by a node that lost the lease changes nothing.
    env.store.release("n1", &ids).unwrap();
    assert!(env.store.claim(claim_req("n3")).unwrap().is_empty());
    env.store.release("n2", &ids).unwrap();
    let m = env.store.get(ids[0]).unwrap().unwrap();
    assert_eq!((m.lease_owner.as_str(), m.lease_until), ("", None));
    assert_eq!(ids_of(&env.store.claim(claim_req("n3")).unwrap()), ids);
}

#[test]
fn attempt_registered_before_dialing_survives_a_crash() {
    let env = env();
    let ids = env
        .store
        .enqueue(submission("a", "a@example.org", &["x@example.com"]))
        .unwrap();
    env.store.claim(claim_req("n1")).unwrap();
    let started = env.store.begin_attempt("n1", &ids).unwrap();
    assert_eq!(started[0].attempts, 1);
    // Crash: the store goes away without completing the attempt.
    let env = env.reopen();
    let m = env.store.get(ids[0]).unwrap().unwrap();
    assert_eq!(m.attempts, 1);
    assert_eq!(m.last_attempt, Some(t0()));
    assert_eq!(
        m.results,
        vec![AttemptResult {
            start_ms: START as i64 * 1000,
            error: "delivering...".into(),
            ..AttemptResult::default()
        }]
    );
    // Not due while the lease holds, nor before the first backoff (7.5 min > 5 min lease).
    assert_eq!(m.next_attempt, t0() + Duration::from_secs(450));
    assert!(env.store.claim(claim_req("n2")).unwrap().is_empty());
    env.clock.advance(Duration::from_secs(300));
    assert!(env.store.claim(claim_req("n2")).unwrap().is_empty());
    env.clock.advance(Duration::from_secs(150));
    assert_eq!(ids_of(&env.store.claim(claim_req("n2")).unwrap()), ids);
    let again = env.store.begin_attempt("n2", &ids).unwrap();
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].results.len(), 2);
}

#[test]
fn begin_attempt_skips_rows_leased_to_another_node() {
    let env = env();
    let ids = env
        .store
        .enqueue(submission("a", "a@example.org", &["x@example.com"]))
        .unwrap();
    env.store.claim(claim_req("n1")).unwrap();
    assert!(env.store.begin_attempt("n2", &ids).unwrap().is_empty());
    assert_eq!(env.store.get(ids[0]).unwrap().unwrap().attempts, 0);
}

#[test]
fn temporary_failure_fills_placeholder_and_backs_off() {
    let env = env();
    let ids = env
        .store
        .enqueue(submission("a", "a@example.org", &["x@example.com"]))
        .unwrap();
    env.store.claim(claim_req("n")).unwrap();
    env.store.begin_attempt("n", &ids).unwrap();
    env.clock.advance(Duration::from_millis(1500));
    let mut result = reply(451, "4.3.0", "try again later");
    result.tls_version = "TLSv1.3".into();
    result.tls_cipher = "TLS13_AES_128_GCM_SHA256".into();
    result.tls_verification = "pkix".into();
    let dialed = BTreeMap::from([("mx.example.com".to_string(), vec!["192.0.2.1".to_string()])]);
    let done = env
        .store
        .complete(vec![Completion {
            id: ids[0],
            outcome: Outcome::Temporary,
            result,
            dialed_ips: dialed.clone(),
            dsn_msg_id: 0,
        }])
        .unwrap();
    let next = t0() + Duration::from_millis(1500) + Duration::from_secs(450);
    assert_eq!(
        done,
        vec![Completed::Retry {
            next_attempt: next,
            attempts: 1
        }]
    );
    let m = env.store.get(ids[0]).unwrap().unwrap();
    assert_eq!(m.next_attempt, next);
    assert_eq!(m.dialed_ips, dialed);
    assert_eq!((m.lease_owner.as_str(), m.lease_until), ("", None));
    assert_eq!(
        m.results,
        vec![AttemptResult {
            start_ms: START as i64 * 1000,
            duration_ms: 1500,
            success: false,
            mx_host: "mx.example.com".into(),
            ip: "192.0.2.1".into(),
            tls_version: "TLSv1.3".into(),
            tls_cipher: "TLS13_AES_128_GCM_SHA256".into(),
            tls_verification: "pkix".into(),
            code: 451,
            enhanced_code: "4.3.0".into(),
            reply_lines: vec!["try again later".into()],
            failure_class: "other".into(),
            error: "451 try again later".into(),
        }]
    );

    // Second attempt: 15 minutes; the dialed IPs merge.
    env.clock.set(next);
    env.store.claim(claim_req("n")).unwrap();
    env.store.begin_attempt("n", &ids).unwrap();
    let dialed2 = BTreeMap::from([(
        "mx.example.com".to_string(),
        vec!["192.0.2.1".to_string(), "2001:db8::1".to_string()],
    )]);
    let done = env
        .store
        .complete(vec![Completion {
            id: ids[0],
            outcome: Outcome::Temporary,
            result: reply(451, "", "later"),
            dialed_ips: dialed2.clone(),
            dsn_msg_id: 0,
        }])
        .unwrap();
    assert_eq!(
        done,
        vec![Completed::Retry {
            next_attempt: next + Duration::from_secs(900),
            attempts: 2
        }]
    );
    assert_eq!(env.store.get(ids[0]).unwrap().unwrap().dialed_ips, dialed2);
}

#[test]
fn temporary_failures_become_final_after_max_attempts() {
    let env = env();
    let mut sub = submission("a", "a@example.org", &["x@example.com"]);
    sub.max_attempts = 3;
    let ids = env.store.enqueue(sub).unwrap();
    let mut waits = Vec::new();
    for _ in 0..2 {
        match attempt(
            &env,
            ids[0],
            Outcome::Temporary,
            reply(451, "4.0.0", "later"),
        ) {
            Completed::Retry { next_attempt, .. } => {
                waits.push(next_attempt.duration_since(env.clock.now()).unwrap());
                env.clock.set(next_attempt);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        waits,
        vec![Duration::from_secs(450), Duration::from_secs(900)]
    );
    let last = attempt(
        &env,
        ids[0],
        Outcome::Temporary,
        reply(451, "4.0.0", "later"),
    );
    assert_eq!(
        last,
        Completed::Failed {
            suppressed_now: false
        }
    );
    assert_eq!(env.store.get(ids[0]).unwrap(), None);
    let h = env
        .store
        .history(&HistoryFilter::default(), &HistorySort::default())
        .unwrap();
    assert_eq!(
        (h[0].event, h[0].success, h[0].message.attempts),
        (Event::Failed, false, 3)
    );
    assert_eq!(h[0].message.results.len(), 3);
}

#[test]
fn jitter_is_added_to_the_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TestClock::new(t0()));
    let options = Options {
        clock: clock.clone(),
        jitter: Arc::new(|| -5000),
        retention: Retention::default(),
    };
    let store = SqliteStore::open(dir.path().join("q.db"), options).unwrap();
    let ids = store
        .enqueue(submission("a", "a@example.org", &["x@example.com"]))
        .unwrap();
    store.claim(claim_req("n")).unwrap();
    store.begin_attempt("n", &ids).unwrap();
    let done = store
        .complete(vec![completion(
            ids[0],
            Outcome::Temporary,
            reply(421, "", "busy"),
        )])
        .unwrap();
    assert_eq!(
        done,
        vec![Completed::Retry {
            next_attempt: t0() + Duration::from_secs(445),
            attempts: 1
        }]
    );
}

#[test]
fn body_is_deleted_when_its_last_row_retires() {
    let env = env();
    let ids = env
        .store
        .enqueue(submission(
            "a",
            "a@example.org",
            &["x@example.com", "y@example.com"],
        ))
        .unwrap();
    let body_id = env.store.get(ids[0]).unwrap().unwrap().body_id;
    assert_eq!(
        attempt(&env, ids[0], Outcome::Delivered, reply(250, "2.0.0", "ok")),
        Completed::Delivered
    );
    assert!(env.store.body(body_id).is_ok());
    assert_eq!(
        attempt(&env, ids[1], Outcome::Delivered, reply(250, "2.0.0", "ok")),
        Completed::Delivered
    );
    assert!(
        matches!(env.store.body(body_id), Err(StoreError::BodyMissing { body_id: b }) if b == body_id)
    );
}

#[test]
fn completing_a_row_an_admin_removed_reports_gone() {
    let env = env();
    let ids = env
        .store
        .enqueue(submission("a", "a@example.org", &["x@example.com"]))
        .unwrap();
    env.store.claim(claim_req("n")).unwrap();
    env.store.begin_attempt("n", &ids).unwrap();
    env.store
        .drop_messages(&Filter {
            ids: ids.clone(),
            ..Filter::default()
        })
        .unwrap();
    let done = env
        .store
        .complete(vec![completion(
            ids[0],
            Outcome::Delivered,
            reply(250, "", "ok"),
        )])
        .unwrap();
    assert_eq!(done, vec![Completed::Gone]);
}

#[test]
fn scheduling_state_is_rebuilt_from_due_queries() {
    let env = env();
    let a = env
        .store
        .enqueue(submission("a", "a@example.org", &["x@one.example"]))
        .unwrap()[0];
    env.clock.advance(Duration::from_secs(10));
    let b = env
        .store
        .enqueue(submission("a", "a@example.org", &["x@two.example"]))
        .unwrap()[0];
    env.clock.advance(Duration::from_secs(10));
    let c = env
        .store
        .enqueue(submission("a", "a@example.org", &["y@one.example"]))
        .unwrap()[0];
    let held = env
        .store
        .enqueue(submission("a", "a@example.org", &["z@three.example"]))
        .unwrap()[0];
    env.store
        .hold_set(
            &Filter {
                ids: vec![held],
                ..Filter::default()
            },
            true,
        )
        .unwrap();
    env.store
        .next_attempt_set(
            &Filter {
                ids: vec![a],
                ..Filter::default()
            },
            t0() + Duration::from_secs(3600),
        )
        .unwrap();

    assert_eq!(
        env.store.next_due().unwrap(),
        Some(t0() + Duration::from_secs(10))
    );
    assert_eq!(
        env.store.next_due_per_domain().unwrap(),
        vec![
            ("one.example".to_string(), t0() + Duration::from_secs(20)),
            ("two.example".to_string(), t0() + Duration::from_secs(10)),
        ]
    );
    let now = env.clock.now();
    let page1 = env.store.due(now, None, 1).unwrap();
    assert_eq!(
        page1,
        vec![DueEntry {
            id: b,
            base_id: 0,
            domain: "two.example".into(),
            next_attempt: t0() + Duration::from_secs(10)
        }]
    );
    let page2 = env
        .store
        .due(now, Some((page1[0].next_attempt, page1[0].id)), 10)
        .unwrap();
    assert_eq!(page2.iter().map(|e| e.id).collect::<Vec<_>>(), vec![c]);
    let later = env
        .store
        .due(t0() + Duration::from_secs(3600), None, 0)
        .unwrap();
    assert_eq!(
        later.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![b, c, a]
    );
    assert_eq!(
        env.store.counts().unwrap(),
        QueueCounts {
            total: 4,
            held: 1,
            due: 2
        }
    );
}

#[test]
fn restarting_node_releases_its_leases() {
    let env = env();
    let ids = env
        .store
        .enqueue(submission(
            "a",
            "a@example.org",
            &["x@example.com", "y@example.net"],
        ))
        .unwrap();
    env.store
        .claim(ClaimRequest {
            max_batches: 1,
            ..claim_req("n1")
        })
        .unwrap();
    env.store.claim(claim_req("n2")).unwrap();
    let env = env.reopen();
    assert_eq!(env.store.release_all("n1").unwrap(), 1);
    assert_eq!(
        ids_of(&env.store.claim(claim_req("n1")).unwrap()),
        vec![ids[0]]
    );
}

#[test]
fn store_is_usable_as_a_trait_object() {
    let env = env();
    let store: Arc<dyn Store> = Arc::new(env.store);
    let ids = store
        .enqueue(submission("a", "a@example.org", &["x@example.com"]))
        .unwrap();
    assert_eq!(store.get(ids[0]).unwrap().unwrap().id, ids[0]);
}

#[test]
fn claim_and_begin_registers_the_attempt_durably_with_the_lease() {
    let env = env();
    let ids = env
        .store
        .enqueue(submission("a", "a@example.org", &["x@example.com"]))
        .unwrap();
    let batches = env.store.claim_and_begin(claim_req("n1")).unwrap();
    assert_eq!(ids_of(&batches), ids);
    let row = &batches[0].rows[0];
    assert_eq!(row.attempts, 1);
    assert_eq!(row.lease_owner, "n1");
    assert_eq!(row.lease_until, Some(t0() + Duration::from_secs(300)));
    // Crash before the outcome: the attempt is on disk.
    let env = env.reopen();
    let m = env.store.get(ids[0]).unwrap().unwrap();
    assert_eq!(m.attempts, 1);
    assert_eq!(m.last_attempt, Some(t0()));
    assert_eq!(
        m.results,
        vec![AttemptResult {
            start_ms: START as i64 * 1000,
            error: "delivering...".into(),
            ..AttemptResult::default()
        }]
    );
    assert_eq!(m.next_attempt, t0() + Duration::from_secs(450));
    // Not due again before the first backoff, then a second attempt.
    env.clock.advance(Duration::from_secs(449));
    assert!(
        env.store
            .claim_and_begin(claim_req("n2"))
            .unwrap()
            .is_empty()
    );
    env.clock.advance(Duration::from_secs(1));
    let again = env.store.claim_and_begin(claim_req("n2")).unwrap();
    assert_eq!(ids_of(&again), ids);
    assert_eq!(again[0].rows[0].attempts, 2);
    assert_eq!(again[0].rows[0].results.len(), 2);
    assert_eq!(again[0].rows[0].lease_owner, "n2");
}

#[test]
fn claim_and_begin_by_two_claimers_never_hands_out_the_same_row() {
    let (store, all, _dir) =
        claim_200_from_4_threads(|store, req| store.claim_and_begin(req).unwrap());
    let unique: HashSet<i64> = all.iter().map(|m| m.id).collect();
    assert_eq!(all.len(), 200);
    assert_eq!(unique.len(), 200);
    // Each row got exactly one attempt, under the node that got it.
    for m in &all {
        assert_eq!(m.attempts, 1);
        let stored = store.get(m.id).unwrap().unwrap();
        assert_eq!(stored.attempts, 1);
        assert_eq!(stored.results.len(), 1);
        assert_eq!(stored.lease_owner, m.lease_owner);
    }
}

#[test]
fn claim_and_begin_leaves_rows_not_due_untouched() {
    let env = env();
    let due = env
        .store
        .enqueue(submission("a", "a@example.org", &["x@example.com"]))
        .unwrap();
    let mut later = submission("a", "a@example.org", &["y@example.com"]);
    later.future_release = Some(FutureRelease {
        until: t0() + Duration::from_secs(3600),
        request: "for;3600".into(),
    });
    let later = env.store.enqueue(later).unwrap();
    let before = env.store.get(later[0]).unwrap().unwrap();
    let batches = env.store.claim_and_begin(claim_req("n")).unwrap();
    assert_eq!(ids_of(&batches), due);
    let env = env.reopen();
    assert_eq!(env.store.get(later[0]).unwrap().unwrap(), before);
    assert_eq!(before.attempts, 0);
    assert_eq!(before.results, Vec::<AttemptResult>::new());
    assert_eq!(before.lease_owner, "");
}
