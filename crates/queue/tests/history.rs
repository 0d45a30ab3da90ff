#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Retirement, retention, cleanup and the suppression list
//! (reference §8 item 11 without webhooks).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use queue::*;

fn history_events(env: &Env) -> Vec<(String, Event, bool)> {
    env.store
        .history(
            &HistoryFilter::default(),
            &HistorySort {
                asc: true,
                ..HistorySort::default()
            },
        )
        .unwrap()
        .into_iter()
        .map(|h| (h.message.recipient, h.event, h.success))
        .collect()
}

fn enqueue_one(env: &Env, to: &str) -> i64 {
    env.store
        .enqueue(submission("mjl", "mjl@mox.example", &[to]))
        .unwrap()[0]
}

#[test]
fn outcomes_retire_with_their_events_and_550_suppresses_but_554_does_not() {
    let env = env();
    let ok = enqueue_one(&env, "ok@example.com");
    assert_eq!(
        attempt(&env, ok, Outcome::Delivered, reply(250, "2.0.0", "queued")),
        Completed::Delivered
    );
    env.clock.advance(Duration::from_secs(1));
    let f554 = enqueue_one(&env, "policy@example.com");
    assert_eq!(
        attempt(&env, f554, Outcome::Permanent, reply(554, "5.7.0", "no")),
        Completed::Failed {
            suppressed_now: false
        }
    );
    env.clock.advance(Duration::from_secs(1));
    let f550 = enqueue_one(&env, "Gone.User+tag@example.com");
    assert_eq!(
        attempt(
            &env,
            f550,
            Outcome::Permanent,
            reply(550, "5.1.1", "no such user")
        ),
        Completed::Failed {
            suppressed_now: true
        }
    );
    assert_eq!(
        env.store
            .suppression_lookup("mjl", "goneuser@example.com")
            .unwrap(),
        Some(Suppression {
            id: 1,
            created: t0() + Duration::from_secs(2),
            account: "mjl".into(),
            base_address: "goneuser@example.com".into(),
            original_address: "Gone.User+tag@example.com".into(),
            manual: false,
            reason: "delivery failure from queue with smtp code 550, enhanced code \"5.1.1\""
                .into(),
        })
    );
    assert_eq!(
        env.store
            .suppression_lookup("mjl", "policy@example.com")
            .unwrap(),
        None
    );
    // Another account is not affected.
    assert_eq!(
        env.store
            .suppression_lookup("other", "goneuser@example.com")
            .unwrap(),
        None
    );

    // The engine sees the suppression at delivery time and retires the row as suppressed.
    env.clock.advance(Duration::from_secs(1));
    let sup = enqueue_one(&env, "goneuser-x@example.com");
    assert!(
        env.store
            .suppression_lookup("mjl", "goneuser-x@example.com")
            .unwrap()
            .is_some()
    );
    let result = AttemptResult {
        error: "recipient suppressed".into(),
        ..AttemptResult::default()
    };
    assert_eq!(
        attempt(&env, sup, Outcome::Suppressed, result),
        Completed::Suppressed
    );

    env.clock.advance(Duration::from_secs(1));
    let failed = enqueue_one(&env, "admin-fail@example.com");
    env.store
        .fail(&Filter {
            ids: vec![failed],
            ..Filter::default()
        })
        .unwrap();
    let dropped = enqueue_one(&env, "admin-drop@example.com");
    env.store
        .drop_messages(&Filter {
            ids: vec![dropped],
            ..Filter::default()
        })
        .unwrap();

    assert_eq!(
        history_events(&env),
        vec![
            ("ok@example.com".into(), Event::Delivered, true),
            ("policy@example.com".into(), Event::Failed, false),
            ("Gone.User+tag@example.com".into(), Event::Failed, false),
            ("goneuser-x@example.com".into(), Event::Suppressed, false),
            ("admin-fail@example.com".into(), Event::Failed, false),
            ("admin-drop@example.com".into(), Event::Canceled, false),
        ]
    );
    let delivered = &env
        .store
        .history(
            &HistoryFilter {
                success: Some(true),
                ..HistoryFilter::default()
            },
            &HistorySort::default(),
        )
        .unwrap()[0];
    assert_eq!(delivered.message.id, ok);
    assert_eq!(delivered.message.results[0].code, 250);
    assert_eq!(delivered.message.results[0].mx_host, "mx.example.com");

    // Cleanup removes rows whose keep-until passed, and only those.
    env.clock.set(t0() + Duration::from_secs(7 * 24 * 3600));
    assert_eq!(env.store.cleanup_history().unwrap(), 0);
    env.clock.advance(Duration::from_millis(1));
    assert_eq!(env.store.cleanup_history().unwrap(), 1);
    env.clock.advance(Duration::from_secs(10));
    assert_eq!(env.store.cleanup_history().unwrap(), 5);
    assert_eq!(history_events(&env), vec![]);
}

#[test]
fn account_with_zero_retention_keeps_no_history() {
    let retention = Retention {
        accounts: BTreeMap::from([("mjl".to_string(), Duration::ZERO)]),
        ..Retention::default()
    };
    let env = env_with(retention);
    let id = enqueue_one(&env, "ok@example.com");
    attempt(&env, id, Outcome::Delivered, reply(250, "", "ok"));
    let other = env
        .store
        .enqueue(submission("kept", "k@mox.example", &["ok@example.com"]))
        .unwrap()[0];
    attempt(&env, other, Outcome::Delivered, reply(250, "", "ok"));
    let h = env
        .store
        .history(&HistoryFilter::default(), &HistorySort::default())
        .unwrap();
    assert_eq!(
        h.iter().map(|r| r.message.id).collect::<Vec<_>>(),
        vec![other]
    );
    assert_eq!(h[0].keep_until, t0() + Duration::from_secs(7 * 24 * 3600));
}

#[test]
fn three_consecutive_failures_suppress_the_exact_address() {
    let env = env();
    let fail = |to: &str| {
        let id = enqueue_one(&env, to);
        env.clock.advance(Duration::from_secs(1));
        attempt(
            &env,
            id,
            Outcome::Permanent,
            reply(554, "5.0.0", "rejected"),
        )
    };
    assert_eq!(
        fail("x@example.com"),
        Completed::Failed {
            suppressed_now: false
        }
    );
    assert_eq!(
        fail("x@example.com"),
        Completed::Failed {
            suppressed_now: false
        }
    );
    // A cancel does not count, and does not break the run either.
    let dropped = enqueue_one(&env, "x@example.com");
    env.store
        .drop_messages(&Filter {
            ids: vec![dropped],
            ..Filter::default()
        })
        .unwrap();
    // Nor does an admin fail.
    let failed = enqueue_one(&env, "x@example.com");
    env.clock.advance(Duration::from_secs(1));
    let gone = env
        .store
        .fail(&Filter {
            ids: vec![failed],
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(gone.len(), 1);
    let admin = HistoryFilter {
        ids: vec![failed],
        ..HistoryFilter::default()
    };
    let h = env.store.history(&admin, &HistorySort::default()).unwrap();
    assert_eq!((h[0].event, h[0].by_admin), (Event::Failed, true));
    // A failure to a different spelling of the same base address does not count.
    assert_eq!(
        fail("X+1@example.com"),
        Completed::Failed {
            suppressed_now: false
        }
    );
    assert_eq!(
        fail("x@example.com"),
        Completed::Failed {
            suppressed_now: true
        }
    );
    let s = env
        .store
        .suppression_lookup("mjl", "x@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(
        s.reason,
        "delivery failure from queue and three consecutive failures"
    );
    assert!(!s.manual);
}

#[test]
fn a_delivery_between_failures_prevents_suppression() {
    let env = env();
    let run = |outcome: Outcome, code: u16| {
        let id = enqueue_one(&env, "y@example.com");
        env.clock.advance(Duration::from_secs(1));
        attempt(&env, id, outcome, reply(code, "", "x"))
    };
    run(Outcome::Permanent, 554);
    run(Outcome::Permanent, 554);
    run(Outcome::Delivered, 250);
    assert_eq!(
        run(Outcome::Permanent, 554),
        Completed::Failed {
            suppressed_now: false
        }
    );
    assert_eq!(
        run(Outcome::Permanent, 554),
        Completed::Failed {
            suppressed_now: false
        }
    );
    assert_eq!(
        run(Outcome::Permanent, 554),
        Completed::Failed {
            suppressed_now: true
        }
    );
}

#[test]
fn incoming_bounce_marks_history_failed_and_may_suppress() {
    let env = env();
    let id = enqueue_one(&env, "later-bounce@example.com");
    attempt(&env, id, Outcome::Delivered, reply(250, "", "ok"));
    env.clock.advance(Duration::from_secs(60));
    let enhanced = "5.2.1".parse().ok();
    let applied = env
        .store
        .apply_dsn_event("mjl", id, bounce_event(554, enhanced, "mailbox disabled"))
        .unwrap();
    assert!(applied.suppressing);
    let h = &env
        .store
        .history(
            &HistoryFilter {
                ids: vec![id],
                ..HistoryFilter::default()
            },
            &HistorySort::default(),
        )
        .unwrap()[0];
    assert_eq!(
        (h.event, h.success, h.last_activity),
        (Event::Failed, false, t0() + Duration::from_secs(60))
    );
    assert_eq!(
        h.message.results.last().unwrap(),
        &AttemptResult {
            start_ms: (START as i64 + 60) * 1000,
            code: 554,
            enhanced_code: "5.2.1".into(),
            reply_lines: vec!["mailbox disabled".into()],
            error: "incoming message".into(),
            ..AttemptResult::default()
        }
    );
    let by_envid = HistoryFilter {
        account: "mjl".into(),
        envid: h.message.dsn.envid.clone(),
        ..HistoryFilter::default()
    };
    assert_eq!(
        env.store
            .history(&by_envid, &HistorySort::default())
            .unwrap()
            .len(),
        1
    );
    let by_msgid = HistoryFilter {
        account: "other".into(),
        message_id: "<m1@example.org>".into(),
        ..HistoryFilter::default()
    };
    assert_eq!(
        env.store
            .history(&by_msgid, &HistorySort::default())
            .unwrap()
            .len(),
        0
    );
    let s = env
        .store
        .suppression_lookup("mjl", "later-bounce@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(
        s.reason,
        "delivery failure from DSN with smtp code 554, enhanced code \"5.2.1\""
    );
    assert!(matches!(
        env.store
            .apply_dsn_event("mjl", 9999, bounce_event(550, None, "")),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn manual_suppressions_add_lookup_list_remove() {
    let env = env();
    let s = env
        .store
        .suppression_add("mjl", "Mjl.Test+x@Mox.example", "asked to")
        .unwrap();
    assert_eq!(
        s,
        Suppression {
            id: 1,
            created: t0(),
            account: "mjl".into(),
            base_address: "mjltest@mox.example".into(),
            original_address: "Mjl.Test+x@Mox.example".into(),
            manual: true,
            reason: "asked to".into(),
        }
    );
    let dup = env
        .store
        .suppression_add("mjl", "mjltest-y@mox.example", "again")
        .unwrap_err();
    assert_eq!(
        dup.to_string(),
        "\"mjltest@mox.example\" is already suppressed for account \"mjl\""
    );
    env.store
        .suppression_add("other", "mjltest@mox.example", "")
        .unwrap();
    assert_eq!(
        env.store
            .suppression_lookup("mjl", "mjl.test@mox.example")
            .unwrap(),
        Some(s.clone())
    );
    assert_eq!(env.store.suppressions("mjl").unwrap(), vec![s]);
    assert_eq!(env.store.suppressions("").unwrap().len(), 2);
    // An existing entry is not replaced by the automatic rule.
    assert!(
        !env.store
            .suppress_after_failure(
                "mjl",
                "mjltest@mox.example",
                550,
                None,
                FailureSource::Queue
            )
            .unwrap()
    );
    env.store
        .suppression_remove("mjl", "MJLTEST+z@mox.example")
        .unwrap();
    assert_eq!(
        env.store
            .suppression_lookup("mjl", "mjltest@mox.example")
            .unwrap(),
        None
    );
    assert!(matches!(
        env.store.suppression_remove("mjl", "mjltest@mox.example"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        env.store
            .suppress_after_failure(
                "mjl",
                "mjltest@mox.example",
                550,
                None,
                FailureSource::Queue
            )
            .unwrap()
    );
    assert!(
        !env.store
            .suppress_after_failure("mjl", "new@mox.example", 554, None, FailureSource::Dsn)
            .unwrap()
    );
}

/// An incoming DSN's "failed" action for one recipient.
fn bounce_event(code: u16, enhanced: Option<smtp::EnhancedCode>, text: &str) -> DsnEvent {
    DsnEvent {
        action: dsn::Action::Failed,
        code,
        enhanced,
        lines: if text.is_empty() {
            vec![]
        } else {
            vec![text.into()]
        },
        reason: None,
        hard: false,
        dsn_msg_id: 0,
    }
}
