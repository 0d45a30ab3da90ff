#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Idempotency keys: begin, complete with the queue rows in one
//! transaction, abort, expiry; and enqueue_many's all-or-nothing.

mod common;

use std::time::Duration;

use common::*;
use queue::*;

const RUNNING: Duration = Duration::from_secs(600);
const FP1: [u8; 32] = [1; 32];
const FP2: [u8; 32] = [2; 32];

fn done(account: &str, key: &str, fp: [u8; 32]) -> IdempotencyDone {
    IdempotencyDone {
        account: account.into(),
        key: key.into(),
        fingerprint: fp,
        result: Box::new(|ids: &[Vec<i64>]| Ok(format!("{ids:?}"))),
    }
}

fn queued(env: &Env) -> u64 {
    env.store.count(&Filter::default()).unwrap()
}

#[test]
fn repeat_with_same_fingerprint_returns_first_result_and_queues_nothing() {
    let env = env();
    let s = &env.store;
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap(),
        Begun::Started
    );
    let ids = s
        .enqueue_many(
            vec![submission(
                "alice",
                "alice@example.org",
                &["bob@example.com", "carol@example.net"],
            )],
            Some(done("alice", "k1", FP1)),
        )
        .unwrap();
    assert_eq!(ids, vec![vec![1, 2]]);
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap(),
        Begun::Done("[[1, 2]]".into())
    );
    assert_eq!(queued(&env), 2);
    // Still there after a restart: the completion was durable with the rows.
    let env = env.reopen();
    assert_eq!(
        env.store
            .idempotency_begin("alice", "k1", &FP1, RUNNING)
            .unwrap(),
        Begun::Done("[[1, 2]]".into())
    );
}

#[test]
fn same_key_with_different_fingerprint_is_a_mismatch() {
    let env = env();
    let s = &env.store;
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap(),
        Begun::Started
    );
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP2, RUNNING).unwrap(),
        Begun::Mismatch
    );
    s.enqueue_many(
        vec![submission(
            "alice",
            "alice@example.org",
            &["bob@example.com"],
        )],
        Some(done("alice", "k1", FP1)),
    )
    .unwrap();
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP2, RUNNING).unwrap(),
        Begun::Mismatch
    );
}

#[test]
fn keys_are_scoped_to_the_account() {
    let env = env();
    let s = &env.store;
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap(),
        Begun::Started
    );
    assert_eq!(
        s.idempotency_begin("bob", "k1", &FP2, RUNNING).unwrap(),
        Begun::Started
    );
}

#[test]
fn repeat_while_running_is_in_progress() {
    let env = env();
    let s = &env.store;
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap(),
        Begun::Started
    );
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap(),
        Begun::InProgress
    );
    env.clock.advance(RUNNING - Duration::from_millis(1));
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap(),
        Begun::InProgress
    );
}

#[test]
fn aborted_key_is_free_again() {
    let env = env();
    let s = &env.store;
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap(),
        Begun::Started
    );
    s.idempotency_abort("alice", "k1").unwrap();
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP2, RUNNING).unwrap(),
        Begun::Started
    );
    assert_eq!(queued(&env), 0);
}

#[test]
fn abort_leaves_a_completed_key_alone() {
    let env = env();
    let s = &env.store;
    s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap();
    s.enqueue_many(
        vec![submission(
            "alice",
            "alice@example.org",
            &["bob@example.com"],
        )],
        Some(done("alice", "k1", FP1)),
    )
    .unwrap();
    s.idempotency_abort("alice", "k1").unwrap();
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap(),
        Begun::Done("[[1]]".into())
    );
}

#[test]
fn expired_running_record_of_a_crashed_request_starts_again() {
    let env = env();
    assert_eq!(
        env.store
            .idempotency_begin("alice", "k1", &FP1, RUNNING)
            .unwrap(),
        Begun::Started
    );
    // The process dies here; the key must not stay blocked.
    let env = env.reopen();
    env.clock.advance(RUNNING);
    assert_eq!(
        env.store
            .idempotency_begin("alice", "k1", &FP2, RUNNING)
            .unwrap(),
        Begun::Started
    );
}

#[test]
fn completed_key_expires_after_24_hours() {
    let env = env();
    let s = &env.store;
    s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap();
    s.enqueue_many(
        vec![submission(
            "alice",
            "alice@example.org",
            &["bob@example.com"],
        )],
        Some(done("alice", "k1", FP1)),
    )
    .unwrap();
    env.clock
        .advance(IDEMPOTENCY_KEEP - Duration::from_millis(1));
    assert_eq!(s.cleanup_idempotency().unwrap(), 0);
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap(),
        Begun::Done("[[1]]".into())
    );
    env.clock.advance(Duration::from_millis(1));
    assert_eq!(s.cleanup_idempotency().unwrap(), 1);
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap(),
        Begun::Started
    );
}

#[test]
fn one_bad_submission_in_enqueue_many_queues_nothing_and_keeps_the_key_running() {
    let env = env();
    let s = &env.store;
    s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap();
    let mut bad = submission("alice", "alice@example.org", &["dave@example.com"]);
    bad.future_release = Some(FutureRelease {
        until: t0() + FUTURE_RELEASE_MAX + Duration::from_secs(1),
        request: "for;5184001".into(),
    });
    let err = s
        .enqueue_many(
            vec![
                submission("alice", "alice@example.org", &["bob@example.com"]),
                bad,
            ],
            Some(done("alice", "k1", FP1)),
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::FutureReleaseTooFar { .. }),
        "{err}"
    );
    assert_eq!(queued(&env), 0);
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap(),
        Begun::InProgress
    );
}

#[test]
fn duplicate_fromid_across_submissions_of_one_batch_queues_nothing() {
    let env = env();
    let mut a = submission("alice", "alice@example.org", &["bob@example.com"]);
    a.recipients[0].from_id = Some("same".into());
    let mut b = submission("alice", "alice@example.org", &["carol@example.com"]);
    b.recipients[0].from_id = Some("same".into());
    let err = env.store.enqueue_many(vec![a, b], None).unwrap_err();
    assert!(
        matches!(err, StoreError::FromIdNotUnique { ref from_id } if from_id == "same"),
        "{err}"
    );
    assert_eq!(queued(&env), 0);
}

#[test]
fn enqueue_many_without_a_key_returns_ids_per_submission() {
    let env = env();
    let ids = env
        .store
        .enqueue_many(
            vec![
                submission("alice", "alice@example.org", &["bob@example.com"]),
                submission(
                    "alice",
                    "alice@example.org",
                    &["carol@example.com", "dave@example.com"],
                ),
            ],
            None,
        )
        .unwrap();
    assert_eq!(ids, vec![vec![1], vec![2, 3]]);
    assert_eq!(
        env.store.get(3).unwrap().unwrap().recipient,
        "dave@example.com"
    );
}

#[test]
fn completion_after_another_request_took_the_expired_key_fails_and_queues_nothing() {
    let env = env();
    let s = &env.store;
    s.idempotency_begin("alice", "k1", &FP1, RUNNING).unwrap();
    env.clock.advance(RUNNING);
    assert_eq!(
        s.idempotency_begin("alice", "k1", &FP2, RUNNING).unwrap(),
        Begun::Started
    );
    let err = s
        .enqueue_many(
            vec![submission(
                "alice",
                "alice@example.org",
                &["bob@example.com"],
            )],
            Some(done("alice", "k1", FP1)),
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyTaken { ref key } if key == "k1"),
        "{err}"
    );
    assert_eq!(queued(&env), 0);
}
