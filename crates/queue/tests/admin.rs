#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Admin operations, filters, pagination and hold rules
//! (reference §8 items 1, 12 and 13).

mod common;

use std::time::Duration;

use common::*;
use queue::*;

fn ids(list: &[QueuedMessage]) -> Vec<i64> {
    list.iter().map(|m| m.id).collect()
}

fn by_ids(v: &[i64]) -> Filter {
    Filter {
        ids: v.to_vec(),
        ..Filter::default()
    }
}

#[test]
fn add_three_set_requiretls_drop_one_fail_one() {
    let env = env();
    let a = env
        .store
        .enqueue(submission("mjl", "mjl@mox.example", &["a@one.example"]))
        .unwrap()[0];
    env.clock.advance(Duration::from_secs(1));
    let b = env
        .store
        .enqueue(submission("mjl", "mjl@mox.example", &["b@two.example"]))
        .unwrap()[0];
    env.clock.advance(Duration::from_secs(1));
    let c = env
        .store
        .enqueue(submission("other", "o@other.example", &["c@one.example"]))
        .unwrap()[0];

    assert_eq!(
        env.store
            .require_tls_set(&by_ids(&[a]), Some(true))
            .unwrap(),
        1
    );
    assert_eq!(env.store.get(a).unwrap().unwrap().require_tls, Some(true));
    assert_eq!(env.store.require_tls_set(&by_ids(&[a]), None).unwrap(), 1);
    assert_eq!(env.store.get(a).unwrap().unwrap().require_tls, None);
    assert_eq!(
        env.store
            .require_tls_set(&by_ids(&[a]), Some(false))
            .unwrap(),
        1
    );
    assert_eq!(env.store.get(a).unwrap().unwrap().require_tls, Some(false));

    env.clock.advance(Duration::from_secs(1));
    assert_eq!(env.store.drop_messages(&by_ids(&[b])).unwrap(), 1);
    let failed = env.store.fail(&by_ids(&[c])).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].message.id, c);
    assert_eq!(failed[0].body, b"From: x\r\nSubject: test\r\n\r\nbody\r\n");
    assert_eq!(
        failed[0].message.last_attempt,
        Some(t0() + Duration::from_secs(3))
    );

    assert_eq!(
        ids(&env
            .store
            .list(&Filter::default(), &Sort::default())
            .unwrap()),
        vec![a]
    );
    let history = env
        .store
        .history(
            &HistoryFilter::default(),
            &HistorySort {
                asc: true,
                ..HistorySort::default()
            },
        )
        .unwrap();
    let events: Vec<(i64, Event, bool)> = history
        .iter()
        .map(|h| (h.message.id, h.event, h.success))
        .collect();
    assert_eq!(
        events,
        vec![(b, Event::Canceled, false), (c, Event::Failed, false)]
    );
    for h in &history {
        assert_eq!(
            h.message.results,
            vec![AttemptResult {
                start_ms: (START as i64 + 3) * 1000,
                error: "delivery canceled by admin".into(),
                ..AttemptResult::default()
            }]
        );
        assert_eq!(h.last_activity, t0() + Duration::from_secs(3));
        assert_eq!(h.keep_until, t0() + Duration::from_secs(3 + 7 * 24 * 3600));
    }
    // The bodies of retired rows are gone.
    assert!(env.store.body(failed[0].message.body_id).is_err());
}

#[test]
fn list_filters_combine_with_and() {
    let env = env();
    let a = env
        .store
        .enqueue(submission("mjl", "mjl@mox.example", &["a@one.example"]))
        .unwrap()[0];
    env.clock.advance(Duration::from_secs(60));
    let mut sub = submission("mjl", "mjl@mox.example", &["b@two.example"]);
    sub.transport = "submit".into();
    let b = env.store.enqueue(sub).unwrap()[0];
    env.clock.advance(Duration::from_secs(60));
    let c = env
        .store
        .enqueue(submission("other", "o@other.example", &["c@one.example"]))
        .unwrap()[0];
    env.store.hold_set(&by_ids(&[c]), true).unwrap();
    let now = env.clock.now();
    let list = |f: Filter| {
        ids(&env
            .store
            .list(
                &f,
                &Sort {
                    asc: true,
                    ..Sort::default()
                },
            )
            .unwrap())
    };

    assert_eq!(list(Filter::default()), vec![a, b, c]);
    assert_eq!(
        list(Filter {
            account: "mjl".into(),
            ..Filter::default()
        }),
        vec![a, b]
    );
    assert_eq!(
        list(Filter {
            from: "mox.example".into(),
            ..Filter::default()
        }),
        vec![a, b]
    );
    assert_eq!(
        list(Filter {
            to: "one.example".into(),
            ..Filter::default()
        }),
        vec![a, c]
    );
    assert_eq!(
        list(Filter {
            from: "mox".into(),
            to: "one".into(),
            ..Filter::default()
        }),
        vec![a]
    );
    assert_eq!(
        list(Filter {
            hold: Some(true),
            ..Filter::default()
        }),
        vec![c]
    );
    assert_eq!(
        list(Filter {
            hold: Some(false),
            ..Filter::default()
        }),
        vec![a, b]
    );
    assert_eq!(
        list(Filter {
            transport: Some("submit".into()),
            ..Filter::default()
        }),
        vec![b]
    );
    assert_eq!(
        list(Filter {
            transport: Some(String::new()),
            ..Filter::default()
        }),
        vec![a, c]
    );
    let before = TimeBound::Before(now - Duration::from_secs(30));
    assert_eq!(
        list(Filter {
            submitted: Some(before),
            ..Filter::default()
        }),
        vec![a, b]
    );
    let after = TimeBound::After(now - Duration::from_secs(90));
    assert_eq!(
        list(Filter {
            submitted: Some(after),
            ..Filter::default()
        }),
        vec![b, c]
    );
    assert_eq!(
        list(Filter {
            next_attempt: Some(TimeBound::After(now)),
            ..Filter::default()
        }),
        Vec::<i64>::new()
    );
    assert_eq!(
        list(Filter {
            ids: vec![c, a],
            ..Filter::default()
        }),
        vec![a, c]
    );
    assert_eq!(
        list(Filter {
            max: 2,
            ..Filter::default()
        }),
        vec![a, b]
    );
    assert_eq!(
        env.store
            .count(&Filter {
                account: "mjl".into(),
                ..Filter::default()
            })
            .unwrap(),
        2
    );
}

#[test]
fn schedule_transport_and_hold_ops_change_matching_rows() {
    let env = env();
    let a = env
        .store
        .enqueue(submission("mjl", "mjl@mox.example", &["a@one.example"]))
        .unwrap()[0];
    let b = env
        .store
        .enqueue(submission("mjl", "mjl@mox.example", &["b@two.example"]))
        .unwrap()[0];
    let only_b = Filter {
        to: "two.example".into(),
        ..Filter::default()
    };
    assert_eq!(env.store.next_attempt_add(&only_b, 60_000).unwrap(), 1);
    assert_eq!(
        env.store.get(b).unwrap().unwrap().next_attempt,
        t0() + Duration::from_secs(60)
    );
    assert_eq!(env.store.next_attempt_add(&only_b, -30_000).unwrap(), 1);
    assert_eq!(
        env.store.get(b).unwrap().unwrap().next_attempt,
        t0() + Duration::from_secs(30)
    );
    let later = t0() + Duration::from_secs(7200);
    assert_eq!(
        env.store
            .next_attempt_set(&Filter::default(), later)
            .unwrap(),
        2
    );
    assert_eq!(env.store.get(a).unwrap().unwrap().next_attempt, later);
    assert_eq!(env.store.transport_set(&only_b, "smarthost").unwrap(), 1);
    assert_eq!(env.store.get(b).unwrap().unwrap().transport, "smarthost");
    assert_eq!(env.store.get(a).unwrap().unwrap().transport, "");
    assert_eq!(
        env.store
            .hold_set(
                &Filter {
                    ids: vec![a],
                    ..Filter::default()
                },
                true
            )
            .unwrap(),
        1
    );
    assert!(env.store.get(a).unwrap().unwrap().hold);
    assert_eq!(
        env.store
            .hold_set(
                &Filter {
                    ids: vec![999],
                    ..Filter::default()
                },
                true
            )
            .unwrap(),
        0
    );
}

#[test]
fn hold_rules_hold_new_and_existing_rows_and_removal_keeps_them_held() {
    let env = env();
    let before = env
        .store
        .enqueue(submission("mjl", "mjl@mox.example", &["x@one.example"]))
        .unwrap()[0];
    let unrelated = env
        .store
        .enqueue(submission("other", "o@other.example", &["x@one.example"]))
        .unwrap()[0];
    let r1 = env
        .store
        .hold_rule_add(HoldRule {
            account: "mjl".into(),
            ..HoldRule::default()
        })
        .unwrap();
    assert!(env.store.get(before).unwrap().unwrap().hold);
    assert!(!env.store.get(unrelated).unwrap().unwrap().hold);
    env.store.release("n", &[]).unwrap();

    // A new message of the account is held and not handed out.
    let new = env
        .store
        .enqueue(submission("mjl", "mjl@mox.example", &["y@two.example"]))
        .unwrap()[0];
    assert!(env.store.get(new).unwrap().unwrap().hold);
    assert_eq!(
        ids_of(&env.store.claim(claim_req("n")).unwrap()),
        vec![unrelated]
    );

    let r2 = env.store.hold_rule_add(HoldRule::default()).unwrap();
    assert_eq!(
        env.store.hold_rules().unwrap(),
        vec![
            HoldRule {
                id: r1,
                account: "mjl".into(),
                ..HoldRule::default()
            },
            HoldRule {
                id: r2,
                ..HoldRule::default()
            },
        ]
    );
    assert!(env.store.get(unrelated).unwrap().unwrap().hold);

    // Releasing makes them claimable.
    assert_eq!(
        env.store
            .hold_set(
                &Filter {
                    ids: vec![new],
                    ..Filter::default()
                },
                false
            )
            .unwrap(),
        1
    );
    assert_eq!(ids_of(&env.store.claim(claim_req("n")).unwrap()), vec![new]);

    // Removing the rules leaves held rows held; only moving them does not release them either.
    env.store.hold_rule_remove(r1).unwrap();
    env.store.hold_rule_remove(r2).unwrap();
    assert!(matches!(
        env.store.hold_rule_remove(r2),
        Err(StoreError::NotFound { .. })
    ));
    assert!(env.store.get(before).unwrap().unwrap().hold);
    env.store
        .next_attempt_set(
            &Filter {
                from: "mox.example".into(),
                ..Filter::default()
            },
            t0(),
        )
        .unwrap();
    assert!(env.store.claim(claim_req("n")).unwrap().is_empty());
    env.store
        .hold_set(
            &Filter {
                from: "mox.example".into(),
                ..Filter::default()
            },
            false,
        )
        .unwrap();
    assert_eq!(
        ids_of(&env.store.claim(claim_req("n")).unwrap()),
        vec![before]
    );

    // Without rules a new message is not held.
    let free = env
        .store
        .enqueue(submission("mjl", "mjl@mox.example", &["z@two.example"]))
        .unwrap()[0];
    assert!(!env.store.get(free).unwrap().unwrap().hold);
}

#[test]
fn hold_rule_fields_are_anded_at_enqueue() {
    let env = env();
    env.store
        .hold_rule_add(HoldRule {
            account: "mjl".into(),
            recipient_domain: "One.Example".into(),
            ..HoldRule::default()
        })
        .unwrap();
    let other_domain = env
        .store
        .enqueue(submission("mjl", "mjl@mox.example", &["x@two.example"]))
        .unwrap()[0];
    let other_account = env
        .store
        .enqueue(submission("o", "o@mox.example", &["x@one.example"]))
        .unwrap()[0];
    let both = env
        .store
        .enqueue(submission("mjl", "mjl@mox.example", &["x@ONE.example"]))
        .unwrap()[0];
    assert!(!env.store.get(other_domain).unwrap().unwrap().hold);
    assert!(!env.store.get(other_account).unwrap().unwrap().hold);
    assert!(env.store.get(both).unwrap().unwrap().hold);
    env.store
        .hold_rule_add(HoldRule {
            sender_domain: "mox.example".into(),
            ..HoldRule::default()
        })
        .unwrap();
    assert!(env.store.get(other_account).unwrap().unwrap().hold);
}

#[test]
fn pagination_one_row_at_a_time_in_both_directions() {
    let env = env();
    let mut all = Vec::new();
    for i in 0..4u64 {
        let to = format!("r{i}@example.com");
        let id = env
            .store
            .enqueue(submission("a", "a@example.org", &[to.as_str()]))
            .unwrap()[0];
        // Due order is the reverse of queue order.
        env.store
            .next_attempt_set(&by_ids(&[id]), t0() + Duration::from_secs(100 - i))
            .unwrap();
        all.push(id);
        env.clock.advance(Duration::from_secs(1));
    }
    // Two rows with the same due time: ties break on id.
    env.store
        .next_attempt_set(&by_ids(&[all[3]]), t0() + Duration::from_secs(98))
        .unwrap();

    let page_through = |field: SortField, asc: bool| {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let sort = Sort { field, asc, after };
            let page = env
                .store
                .list(
                    &Filter {
                        max: 1,
                        ..Filter::default()
                    },
                    &sort,
                )
                .unwrap();
            let Some(m) = page.first() else { break };
            seen.push(m.id);
            let key = match field {
                SortField::NextAttempt => m.next_attempt,
                SortField::Queued => m.queued,
            };
            after = Some((key, m.id));
        }
        seen
    };
    let (a, b, c, d) = (all[0], all[1], all[2], all[3]);
    assert_eq!(page_through(SortField::NextAttempt, true), vec![c, d, b, a]);
    assert_eq!(
        page_through(SortField::NextAttempt, false),
        vec![a, b, d, c]
    );
    assert_eq!(page_through(SortField::Queued, true), vec![a, b, c, d]);
    assert_eq!(page_through(SortField::Queued, false), vec![d, c, b, a]);

    // Filtering on every field selects a single row.
    let one = Filter {
        max: 10,
        ids: vec![b],
        account: "a".into(),
        from: "a@example.org".into(),
        to: "r1@".into(),
        hold: Some(false),
        submitted: Some(TimeBound::Before(env.clock.now())),
        next_attempt: Some(TimeBound::After(t0())),
        transport: Some(String::new()),
    };
    assert_eq!(
        ids(&env.store.list(&one, &Sort::default()).unwrap()),
        vec![b]
    );

    // History pages the same way, by last activity.
    for id in &all {
        env.clock.advance(Duration::from_secs(1));
        env.store.drop_messages(&by_ids(&[*id])).unwrap();
    }
    let page_history = |asc: bool| {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let sort = HistorySort {
                field: HistorySortField::LastActivity,
                asc,
                after,
            };
            let page = env
                .store
                .history(
                    &HistoryFilter {
                        max: 1,
                        ..HistoryFilter::default()
                    },
                    &sort,
                )
                .unwrap();
            let Some(r) = page.first() else { break };
            seen.push(r.message.id);
            after = Some((r.last_activity, r.message.id));
        }
        seen
    };
    assert_eq!(page_history(true), vec![a, b, c, d]);
    assert_eq!(page_history(false), vec![d, c, b, a]);
    let sort = HistorySort {
        field: HistorySortField::Queued,
        asc: false,
        after: Some((t0() + Duration::from_secs(2), c)),
    };
    let rest: Vec<i64> = env
        .store
        .history(&HistoryFilter::default(), &sort)
        .unwrap()
        .iter()
        .map(|r| r.message.id)
        .collect();
    assert_eq!(rest, vec![b, a]);
}
