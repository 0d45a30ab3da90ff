#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Matching incoming bounces to retired messages and recording what they
//! say (reference §8 item 14 with Postel's per-recipient matching).

mod common;

use std::time::Duration;

use common::*;
use queue::*;

/// Enqueues and delivers a message of `account`; returns the row ids in
/// recipient order.
fn sent(env: &Env, account: &str, to: &[&str], envid: &str, message_id: &str) -> Vec<i64> {
    let mut s = submission(account, &format!("{account}@mox.example"), to);
    s.envid = Some(envid.into());
    s.message_id = message_id.into();
    let ids = env.store.enqueue(s).unwrap();
    for id in &ids {
        attempt(env, *id, Outcome::Delivered, reply(250, "2.0.0", "ok"));
    }
    ids
}

/// A fromid message of `account` to one recipient, delivered.
fn sent_fromid(env: &Env, account: &str, to: &str, from_id: &str) -> i64 {
    let mut s = submission(account, &format!("{account}@mox.example"), &[to]);
    s.recipients[0].from_id = Some(from_id.into());
    s.recipients[0].mail_from = Some(addr(&format!("{account}+{from_id}@mox.example")));
    s.message_id = format!("<{from_id}@mox.example>");
    let id = env.store.enqueue(s).unwrap()[0];
    attempt(env, id, Outcome::Delivered, reply(250, "2.0.0", "ok"));
    id
}

fn key(final_recipient: &str) -> BounceRecipientKey {
    BounceRecipientKey {
        original: None,
        final_recipient: Some(final_recipient.into()),
    }
}

fn matched(env: &Env, account: &str, q: &BounceQuery) -> Vec<(i64, usize)> {
    env.store
        .match_bounce(account, q)
        .unwrap()
        .into_iter()
        .map(|m| (m.message.message.id, m.recipient))
        .collect()
}

fn history_row(env: &Env, id: i64) -> RetiredMessage {
    env.store
        .history(
            &HistoryFilter {
                ids: vec![id],
                ..HistoryFilter::default()
            },
            &HistorySort::default(),
        )
        .unwrap()
        .remove(0)
}

fn event(action: dsn::Action, code: u16, enhanced: &str) -> DsnEvent {
    DsnEvent {
        action,
        code,
        enhanced: enhanced.parse().ok(),
        lines: vec![format!("{code} {enhanced} from the bounce")],
        reason: None,
        hard: false,
        dsn_msg_id: 42,
    }
}

#[test]
fn fromid_address_matches_its_message_only_within_the_receiving_account() {
    let env = env();
    let id = sent_fromid(&env, "mjl", "bob@example.com", "fid111");
    let _other = sent_fromid(&env, "other", "bob@example.com", "fid222");
    let q = BounceQuery {
        from_id: "fid111".into(),
        recipients: vec![key("bob@example.com")],
        ..BounceQuery::default()
    };
    assert_eq!(matched(&env, "mjl", &q), vec![(id, 0)]);
    // The fromid of another account's message does not match here.
    assert_eq!(matched(&env, "other", &q), vec![]);
    // One recipient naming another address (forwarding) still matches the
    // fromid's only recipient.
    let forwarded = BounceQuery {
        recipients: vec![key("bob@forward.example")],
        ..q.clone()
    };
    assert_eq!(matched(&env, "mjl", &forwarded), vec![(id, 0)]);
    // Several recipients: only the one naming the row's recipient.
    let several = BounceQuery {
        recipients: vec![key("x@example.com"), key("Bob@Example.com")],
        ..q.clone()
    };
    assert_eq!(matched(&env, "mjl", &several), vec![(id, 1)]);
    let unknown = BounceQuery {
        from_id: "nope".into(),
        ..q
    };
    assert_eq!(matched(&env, "mjl", &unknown), vec![]);
}

#[test]
fn envid_with_recipient_matches_at_the_plain_address() {
    let env = env();
    let ids = sent(
        &env,
        "mjl",
        &["a@example.com", "b@example.com"],
        "env-1",
        "<m1@mox.example>",
    );
    let q = BounceQuery {
        envid: "env-1".into(),
        recipients: vec![key("b@example.com")],
        ..BounceQuery::default()
    };
    assert_eq!(matched(&env, "mjl", &q), vec![(ids[1], 0)]);
    // Original-Recipient (our ORCPT) counts as well as Final-Recipient.
    let by_orcpt = BounceQuery {
        recipients: vec![BounceRecipientKey {
            original: Some("a@example.com".into()),
            final_recipient: Some("a@forwarded.example".into()),
        }],
        ..q.clone()
    };
    assert_eq!(matched(&env, "mjl", &by_orcpt), vec![(ids[0], 0)]);
    // A recipient the message did not have is not matched.
    let stranger = BounceQuery {
        recipients: vec![key("c@example.com")],
        ..q
    };
    assert_eq!(matched(&env, "mjl", &stranger), vec![]);
}

#[test]
fn returned_message_id_matches_when_the_envid_is_missing() {
    let env = env();
    let ids = sent(
        &env,
        "mjl",
        &["a@example.com", "b@example.com"],
        "env-2",
        "<m2@mox.example>",
    );
    let q = BounceQuery {
        envid: "unknown-envid".into(),
        recipients: vec![key("a@example.com")],
        returned_message_id: "m2@mox.example".into(),
        ..BounceQuery::default()
    };
    assert_eq!(matched(&env, "mjl", &q), vec![(ids[0], 0)]);
    let bracketed = BounceQuery {
        envid: String::new(),
        returned_message_id: "<m2@mox.example>".into(),
        recipients: vec![key("b@example.com")],
        ..BounceQuery::default()
    };
    assert_eq!(matched(&env, "mjl", &bracketed), vec![(ids[1], 0)]);
}

#[test]
fn single_message_single_recipient_matches_a_forwarded_address() {
    let env = env();
    let ids = sent(&env, "mjl", &["a@example.com"], "env-3", "<m3@mox.example>");
    let q = BounceQuery {
        envid: "env-3".into(),
        recipients: vec![key("someone@forward.example")],
        ..BounceQuery::default()
    };
    assert_eq!(matched(&env, "mjl", &q), vec![(ids[0], 0)]);
}

#[test]
fn forged_bounce_naming_another_accounts_message_is_not_matched() {
    let env = env();
    let victim = sent(
        &env,
        "victim",
        &["bob@example.com"],
        "env-victim",
        "<victim@mox.example>",
    );
    let q = BounceQuery {
        envid: "env-victim".into(),
        recipients: vec![key("bob@example.com")],
        returned_message_id: "<victim@mox.example>".into(),
        ..BounceQuery::default()
    };
    assert_eq!(matched(&env, "mjl", &q), vec![]);
    assert_eq!(matched(&env, "victim", &q), vec![(victim[0], 0)]);
    // Recording against another account's row is refused too.
    assert!(matches!(
        env.store
            .apply_dsn_event("mjl", victim[0], event(dsn::Action::Failed, 550, "5.1.1")),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        env.store.record_unrecognized("mjl", victim[0], false, 1),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(history_row(&env, victim[0]).message.results.len(), 1);
}

#[test]
fn dsn_with_several_recipients_is_matched_recipient_by_recipient() {
    let env = env();
    let ids = sent(
        &env,
        "mjl",
        &["a@example.com", "b@example.com", "c@example.com"],
        "env-4",
        "<m4@mox.example>",
    );
    let q = BounceQuery {
        envid: "env-4".into(),
        recipients: vec![
            key("c@example.com"),
            key("stranger@example.com"),
            key("a@example.com"),
            key("C@example.com"),
        ],
        ..BounceQuery::default()
    };
    assert_eq!(matched(&env, "mjl", &q), vec![(ids[2], 0), (ids[0], 2)]);
}

#[test]
fn rows_past_their_retention_are_not_matched() {
    let env = env();
    let id = sent_fromid(&env, "mjl", "bob@example.com", "fid333");
    let ids = sent(&env, "mjl", &["a@example.com"], "env-5", "<m5@mox.example>");
    env.clock
        .advance(Duration::from_secs(7 * 24 * 3600) + Duration::from_secs(1));
    let q = BounceQuery {
        from_id: "fid333".into(),
        recipients: vec![key("bob@example.com")],
        ..BounceQuery::default()
    };
    assert_eq!(matched(&env, "mjl", &q), vec![]);
    let q = BounceQuery {
        envid: "env-5".into(),
        returned_message_id: "<m5@mox.example>".into(),
        recipients: vec![key("a@example.com")],
        ..BounceQuery::default()
    };
    assert_eq!(matched(&env, "mjl", &q), vec![]);
    assert!(id > 0 && ids[0] > 0);
}

#[test]
fn failed_dsn_marks_the_row_failed_and_suppresses_at_once_for_550() {
    let env = env();
    let ids = sent(
        &env,
        "mjl",
        &["gone@example.com"],
        "env-6",
        "<m6@mox.example>",
    );
    env.clock.advance(Duration::from_secs(3600));
    let mut ev = event(dsn::Action::Failed, 550, "5.1.1");
    ev.reason = Some(dsn::Reason::UserUnknown);
    ev.hard = true;
    let applied = env.store.apply_dsn_event("mjl", ids[0], ev).unwrap();
    assert!(applied.suppressing);
    let h = history_row(&env, ids[0]);
    assert_eq!(
        (h.event, h.success, h.last_activity),
        (Event::Failed, false, t0() + Duration::from_secs(3600))
    );
    assert_eq!(
        h.message.results.last().unwrap(),
        &AttemptResult {
            start_ms: (START as i64 + 3600) * 1000,
            success: false,
            code: 550,
            enhanced_code: "5.1.1".into(),
            reply_lines: vec!["550 5.1.1 from the bounce".into()],
            failure_class: "userUnknown".into(),
            error: "incoming message".into(),
            ..AttemptResult::default()
        }
    );
    let s = env
        .store
        .suppression_lookup("mjl", "gone@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(
        s.reason,
        "delivery failure from DSN with smtp code 550, enhanced code \"5.1.1\""
    );
    // Already listed: a second bounce does not suppress again.
    let again = env
        .store
        .apply_dsn_event("mjl", ids[0], event(dsn::Action::Failed, 550, "5.1.1"))
        .unwrap();
    assert!(!again.suppressing);
    // Another account's list is untouched.
    assert_eq!(
        env.store
            .suppression_lookup("other", "gone@example.com")
            .unwrap(),
        None
    );
}

#[test]
fn third_consecutive_failure_from_a_bounce_suppresses() {
    let env = env();
    let mut last = 0;
    for n in 0..3 {
        env.clock.advance(Duration::from_secs(60));
        let ids = sent(
            &env,
            "mjl",
            &["flaky@example.com"],
            &format!("env-r{n}"),
            "<r@mox.example>",
        );
        env.clock.advance(Duration::from_secs(60));
        let applied = env
            .store
            .apply_dsn_event("mjl", ids[0], event(dsn::Action::Failed, 554, "5.0.0"))
            .unwrap();
        assert_eq!(applied.suppressing, n == 2, "bounce {n}");
        last = ids[0];
    }
    assert_eq!(history_row(&env, last).event, Event::Failed);
    let s = env
        .store
        .suppression_lookup("mjl", "flaky@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(
        s.reason,
        "delivery failure from DSN and three consecutive failures"
    );
}

#[test]
fn delayed_relayed_expanded_append_results_without_failing_the_row() {
    let env = env();
    let ids = sent(
        &env,
        "mjl",
        &["slow@example.com"],
        "env-7",
        "<m7@mox.example>",
    );
    for (n, (action, code, enhanced, success)) in [
        (dsn::Action::Delayed, 450, "4.2.0", false),
        (dsn::Action::Relayed, 0, "", true),
        (dsn::Action::Expanded, 0, "", true),
        (dsn::Action::Delivered, 0, "", true),
    ]
    .into_iter()
    .enumerate()
    {
        env.clock.advance(Duration::from_secs(10));
        let applied = env
            .store
            .apply_dsn_event("mjl", ids[0], event(action, code, enhanced))
            .unwrap();
        assert_eq!(applied, DsnApplied::default(), "{action}");
        let h = history_row(&env, ids[0]);
        assert_eq!(
            (h.event, h.success, h.last_activity),
            (
                Event::Delivered,
                true,
                t0() + Duration::from_secs(10 * (n as u64 + 1))
            ),
            "{action}"
        );
        let r = h.message.results.last().unwrap();
        assert_eq!(
            (
                r.success,
                r.code,
                r.enhanced_code.as_str(),
                r.error.as_str()
            ),
            (success, code, enhanced, RESULT_INCOMING),
            "{action}"
        );
    }
    assert_eq!(history_row(&env, ids[0]).message.results.len(), 5);
    assert_eq!(
        env.store
            .suppression_lookup("mjl", "slow@example.com")
            .unwrap(),
        None
    );
}

#[test]
fn unrecognized_mail_for_a_known_row_changes_nothing_in_the_history() {
    let env = env();
    let id = sent_fromid(&env, "mjl", "bob@example.com", "fid444");
    let before = history_row(&env, id);
    env.clock.advance(Duration::from_secs(5));
    env.store.record_unrecognized("mjl", id, false, 9).unwrap();
    assert_eq!(history_row(&env, id), before);
}

const RFC3464: &[u8] = b"From: MAILER-DAEMON@mx.example.com\r\n\
Subject: Delivery Status Notification\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nTwo recipients failed.\r\n\
--b\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns; mx.example.com\r\nOriginal-Envelope-ID: env-8\r\n\r\n\
Original-Recipient: rfc822;b@example.com\r\nFinal-Recipient: rfc822; b@example.com\r\nAction: failed\r\n\
Status: 5.1.1\r\nDiagnostic-Code: smtp; 554 5.0.0 mailbox gone\r\n\r\n\
Final-Recipient: rfc822; a@example.com\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n\
--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <m8@mox.example>\r\nSubject: hi\r\n\r\n\
--b--\r\n";

#[test]
fn analysed_rfc3464_report_matches_and_gives_codes_per_recipient() {
    let env = env();
    let ids = sent(
        &env,
        "mjl",
        &["a@example.com", "b@example.com"],
        "env-8",
        "<m8@mox.example>",
    );
    let analysis = dsn::analyze(RFC3464);
    let q = BounceQuery::from_analysis(&analysis, "");
    assert_eq!(q.envid, "env-8");
    assert_eq!(q.returned_message_id, "<m8@mox.example>");
    assert_eq!(matched(&env, "mjl", &q), vec![(ids[1], 0), (ids[0], 1)]);
    let failed = DsnEvent::from_recipient(&analysis.recipients[0], 5);
    assert_eq!(
        (
            failed.action,
            failed.code,
            failed.enhanced.map(|e| e.to_string())
        ),
        (dsn::Action::Failed, 554, Some("5.0.0".to_string()))
    );
    let delayed = DsnEvent::from_recipient(&analysis.recipients[1], 5);
    assert_eq!(
        (
            delayed.action,
            delayed.code,
            delayed.enhanced.map(|e| e.to_string())
        ),
        (dsn::Action::Delayed, 400, Some("4.4.1".to_string()))
    );
    assert!(!delayed.hard);
}

fn with_webhooks(env: &Env, account: &str) {
    let mut settings = queue::webhook::WebhookSettings::default();
    settings.accounts.insert(
        account.into(),
        vec![queue::webhook::Endpoint::new(
            "ep1",
            "http://127.0.0.1:9/hook",
        )],
    );
    env.store.set_webhooks(settings);
}

fn payload(env: &Env, hook_id: i64) -> serde_json::Value {
    let hook = env.store.hook_get(hook_id).unwrap().unwrap();
    serde_json::from_str(&hook.payload).unwrap()
}

#[test]
fn failed_dsn_queues_a_failed_webhook_with_the_dsn_fields_in_the_same_commit() {
    let env = env();
    with_webhooks(&env, "mjl");
    let ids = sent(
        &env,
        "mjl",
        &["gone@example.com"],
        "env-9",
        "<m9@mox.example>",
    );
    let delivered_hooks = env.store.hooks_for_message(ids[0]).unwrap();
    assert_eq!(delivered_hooks.len(), 1, "the delivery's own event");
    let mut ev = event(dsn::Action::Failed, 550, "5.1.1");
    ev.reason = Some(dsn::Reason::UserUnknown);
    ev.hard = true;
    let applied = env.store.apply_dsn_event("mjl", ids[0], ev).unwrap();
    assert!(applied.suppressing);
    assert_eq!(applied.hook_ids.len(), 1);
    let hook = env.store.hook_get(applied.hook_ids[0]).unwrap().unwrap();
    assert_eq!(
        (hook.event.as_str(), hook.queue_msg_id, hook.sequence),
        ("failed", ids[0], 2)
    );
    let p = payload(&env, applied.hook_ids[0]);
    assert_eq!(p["Event"], "failed");
    assert_eq!(p["DSN"], true);
    assert_eq!(p["Suppressing"], true);
    assert_eq!(p["QueueMsgID"], ids[0]);
    assert_eq!(p["MessageID"], "<m9@mox.example>");
    assert_eq!(p["SMTPCode"], 550);
    assert_eq!(p["SMTPEnhancedCode"], "5.1.1");
    assert_eq!(p["Error"], "");
    assert_eq!(p["BounceReason"], "userUnknown");
    assert_eq!(p["HardBounce"], true);
    assert_eq!(p["DSNMsgID"], 42);
    assert_eq!(p["Sequence"], 2);
}

#[test]
fn delayed_relayed_expanded_dsns_queue_events_of_the_same_name() {
    let env = env();
    with_webhooks(&env, "mjl");
    let ids = sent(
        &env,
        "mjl",
        &["slow@example.com"],
        "env-10",
        "<m10@mox.example>",
    );
    for (action, code, enhanced, reason) in [
        (dsn::Action::Delayed, 450, "4.2.2", "mailboxFull"),
        (dsn::Action::Relayed, 0, "", ""),
        (dsn::Action::Expanded, 0, "", ""),
        (dsn::Action::Delivered, 0, "", ""),
    ] {
        let mut ev = event(action, code, enhanced);
        ev.reason = (action == dsn::Action::Delayed).then_some(dsn::Reason::MailboxFull);
        let applied = env.store.apply_dsn_event("mjl", ids[0], ev).unwrap();
        assert!(!applied.suppressing);
        let p = payload(&env, applied.hook_ids[0]);
        assert_eq!(p["Event"], action.as_str());
        assert_eq!(p["DSN"], true);
        assert_eq!(p["SMTPCode"], code);
        assert_eq!(p["SMTPEnhancedCode"], enhanced);
        assert_eq!(p["BounceReason"], reason);
        assert_eq!(p["HardBounce"], false);
    }
}

#[test]
fn unrecognized_mail_at_a_fromid_address_queues_an_unrecognized_webhook() {
    let env = env();
    with_webhooks(&env, "mjl");
    let id = sent_fromid(&env, "mjl", "bob@example.com", "fid555");
    let hooks = env.store.record_unrecognized("mjl", id, false, 17).unwrap();
    assert_eq!(hooks.len(), 1);
    let p = payload(&env, hooks[0]);
    assert_eq!(p["Event"], "unrecognized");
    assert_eq!(p["DSN"], false);
    assert_eq!(p["FromID"], "fid555");
    assert_eq!(p["SMTPCode"], 0);
    assert_eq!(p["DSNMsgID"], 17);
}
