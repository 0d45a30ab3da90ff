#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Enqueue: stored values, base ids, DSN defaults, fromid, FUTURERELEASE,
//! migrations.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use queue::*;
use smtp::{Notify, OriginalRecipient, Ret};

#[test]
fn submission_with_two_recipients_stores_two_rows_sharing_body_and_base_id() {
    let env = env();
    let mut sub = submission(
        "alice",
        "alice@example.org",
        &["bob@example.com", "carol@Example.NET"],
    );
    sub.has_8bit = true;
    sub.require_tls = Some(false);
    sub.transport = "smarthost".into();
    sub.extra = BTreeMap::from([("Campaign".to_string(), "42".to_string())]);
    sub.ret = Some(Ret::Full);
    sub.envid = Some("env-1".into());
    sub.recipients[1].notify = Some(Notify::NEVER);
    let ids = env.store.enqueue(sub).unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[1], ids[0] + 1);

    let a = env.store.get(ids[0]).unwrap().unwrap();
    let b = env.store.get(ids[1]).unwrap().unwrap();
    assert_eq!(a.base_id, ids[0]);
    assert_eq!(b.base_id, ids[0]);
    assert_eq!(a.body_id, b.body_id);
    assert_eq!(
        env.store.body(a.body_id).unwrap(),
        b"From: x\r\nSubject: test\r\n\r\nbody\r\n"
    );
    let expected = QueuedMessage {
        id: ids[0],
        base_id: ids[0],
        body_id: a.body_id,
        queued: t0(),
        hold: false,
        account: "alice".into(),
        sender: "alice@example.org".into(),
        sender_domain: "example.org".into(),
        from_id: String::new(),
        recipient: "bob@example.com".into(),
        recipient_domain: "example.com".into(),
        attempts: 0,
        max_attempts: 0,
        dialed_ips: BTreeMap::new(),
        next_attempt: t0(),
        last_attempt: None,
        results: vec![],
        has_8bit: true,
        smtputf8: false,
        size: 32,
        message_id: "<m1@example.org>".into(),
        subject: "test".into(),
        transport: "smarthost".into(),
        require_tls: Some(false),
        future_release: String::new(),
        extra: BTreeMap::from([("Campaign".to_string(), "42".to_string())]),
        dsn: DsnParams {
            notify: Notify::new(false, true, true),
            ret: Some(Ret::Full),
            envid: "env-1".into(),
            orcpt: OriginalRecipient {
                addr_type: "rfc822".into(),
                address: "bob@example.com".into(),
            },
        },
        lease_owner: String::new(),
        lease_until: None,
    };
    assert_eq!(a, expected);
    assert_eq!(b.recipient, "carol@example.net");
    assert_eq!(b.recipient_domain, "example.net");
    assert_eq!(b.dsn.notify, Notify::NEVER);
    assert_eq!(b.dsn.orcpt.address, "carol@example.net");
}

#[test]
fn single_recipient_gets_base_id_zero_and_a_generated_envid() {
    let env = env();
    let ids = env
        .store
        .enqueue(submission(
            "alice",
            "alice@example.org",
            &["bob@example.com"],
        ))
        .unwrap();
    let m = env.store.get(ids[0]).unwrap().unwrap();
    assert_eq!(m.base_id, 0);
    assert_eq!(m.dsn.envid.len(), 22);
    assert!(
        m.dsn
            .envid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(m.dsn.ret, None);
}

#[test]
fn generated_envid_is_shared_by_the_rows_of_one_submission_only() {
    let env = env();
    let ids = env
        .store
        .enqueue(submission(
            "a",
            "a@example.org",
            &["x@example.com", "y@example.com"],
        ))
        .unwrap();
    let other = env
        .store
        .enqueue(submission("a", "a@example.org", &["z@example.com"]))
        .unwrap();
    let e0 = env.store.get(ids[0]).unwrap().unwrap().dsn.envid;
    let e1 = env.store.get(ids[1]).unwrap().unwrap().dsn.envid;
    let e2 = env.store.get(other[0]).unwrap().unwrap().dsn.envid;
    assert_eq!(e0, e1);
    assert_ne!(e0, e2);
}

#[test]
fn utf8_recipient_gets_utf8_orcpt() {
    let env = env();
    let mut sub = submission("a", "a@example.org", &["jörg@bücher.example"]);
    sub.smtputf8 = true;
    let ids = env.store.enqueue(sub).unwrap();
    let m = env.store.get(ids[0]).unwrap().unwrap();
    assert_eq!(m.recipient, "jörg@bücher.example");
    assert_eq!(m.recipient_domain, "bücher.example");
    assert_eq!(
        m.dsn.orcpt,
        OriginalRecipient {
            addr_type: "utf-8".into(),
            address: "jörg@bücher.example".into()
        }
    );
    assert!(m.smtputf8);
    assert_eq!(m.recipient_address().unwrap(), addr("jörg@bücher.example"));
}

#[test]
fn rows_with_per_recipient_mail_from_get_no_base_id() {
    let env = env();
    let mut sub = submission("a", "a@example.org", &["x@example.com", "y@example.com"]);
    sub.recipients[0].from_id = Some("fid1".into());
    sub.recipients[0].mail_from = Some(addr("a+fid1@example.org"));
    sub.recipients[1].from_id = Some("fid2".into());
    sub.recipients[1].mail_from = Some(addr("a+fid2@example.org"));
    let ids = env.store.enqueue(sub).unwrap();
    let a = env.store.get(ids[0]).unwrap().unwrap();
    let b = env.store.get(ids[1]).unwrap().unwrap();
    assert_eq!((a.base_id, b.base_id), (0, 0));
    assert_eq!(
        (a.sender.as_str(), a.from_id.as_str()),
        ("a+fid1@example.org", "fid1")
    );
    assert_eq!(
        (b.sender.as_str(), b.from_id.as_str()),
        ("a+fid2@example.org", "fid2")
    );
}

#[test]
fn fromid_must_be_unique_across_queue_and_history() {
    let env = env();
    let with_fromid = |id: &str| {
        let mut sub = submission("a", "a@example.org", &["x@example.com"]);
        sub.recipients[0].from_id = Some(id.into());
        sub
    };
    let ids = env.store.enqueue(with_fromid("abc")).unwrap();
    let err = env.store.enqueue(with_fromid("abc")).unwrap_err();
    assert!(
        matches!(err, StoreError::FromIdNotUnique { ref from_id } if from_id == "abc"),
        "{err}"
    );
    assert_eq!(err.to_string(), "fromid \"abc\" not unique");

    env.store
        .drop_messages(&Filter {
            ids: ids.clone(),
            ..Filter::default()
        })
        .unwrap();
    assert!(matches!(
        env.store.enqueue(with_fromid("abc")),
        Err(StoreError::FromIdNotUnique { .. })
    ));
    assert_eq!(
        env.store
            .history_by_from_id("abc")
            .unwrap()
            .unwrap()
            .message
            .id,
        ids[0]
    );
    env.store.enqueue(with_fromid("abd")).unwrap();

    // The same fromid twice in one submission.
    let mut sub = submission("a", "a@example.org", &["x@example.com", "y@example.com"]);
    sub.recipients[0].from_id = Some("dup".into());
    sub.recipients[1].from_id = Some("dup".into());
    assert!(matches!(
        env.store.enqueue(sub),
        Err(StoreError::FromIdNotUnique { .. })
    ));
    assert_eq!(env.store.counts().unwrap().total, 1);
}

#[test]
fn empty_recipient_list_is_refused() {
    let env = env();
    let sub = submission("a", "a@example.org", &[]);
    assert!(matches!(
        env.store.enqueue(sub),
        Err(StoreError::NoRecipients { .. })
    ));
}

#[test]
fn null_reverse_path_is_stored_as_empty_sender() {
    let env = env();
    let mut sub = submission("postmaster", "p@example.org", &["x@example.com"]);
    sub.sender = None;
    let ids = env.store.enqueue(sub).unwrap();
    let m = env.store.get(ids[0]).unwrap().unwrap();
    assert_eq!((m.sender.as_str(), m.sender_domain.as_str()), ("", ""));
    assert_eq!(m.sender_address().unwrap(), None);
}

#[test]
fn future_release_sets_due_time_and_is_limited_to_60_days() {
    let env = env();
    let mut sub = submission("a", "a@example.org", &["x@example.com"]);
    let until = t0() + Duration::from_secs(3600);
    sub.future_release = Some(FutureRelease {
        until,
        request: "for;3600".into(),
    });
    let ids = env.store.enqueue(sub).unwrap();
    let m = env.store.get(ids[0]).unwrap().unwrap();
    assert_eq!(m.next_attempt, until);
    assert_eq!(m.future_release, "for;3600");
    assert!(env.store.claim(claim_req("n")).unwrap().is_empty());
    env.clock.advance(Duration::from_secs(3600));
    assert_eq!(ids_of(&env.store.claim(claim_req("n")).unwrap()), ids);

    let mut sub = submission("a", "a@example.org", &["x@example.com"]);
    let too_far = env.clock.now() + FUTURE_RELEASE_MAX + Duration::from_secs(1);
    sub.future_release = Some(FutureRelease {
        until: too_far,
        request: "for;5184001".into(),
    });
    assert!(matches!(
        env.store.enqueue(sub),
        Err(StoreError::FutureReleaseTooFar { .. })
    ));
    let mut sub = submission("a", "a@example.org", &["x@example.com"]);
    let at_max = env.clock.now() + FUTURE_RELEASE_MAX;
    sub.future_release = Some(FutureRelease {
        until: at_max,
        request: "for;5184000".into(),
    });
    env.store.enqueue(sub).unwrap();
}

#[test]
fn older_schema_is_migrated_keeping_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    let opts = || Options {
        jitter: std::sync::Arc::new(|| 0),
        ..Options::default()
    };
    let id = {
        let old = SqliteStore::open_at_version(&path, opts(), 1).unwrap();
        assert_eq!(old.schema_version().unwrap(), 1);
        assert!(old.domain_tls_record("example.com", true, false).is_err());
        old.enqueue(submission("a", "a@example.org", &["x@example.com"]))
            .unwrap()[0]
    };
    let store = SqliteStore::open(&path, opts()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 6);
    assert_eq!(store.get(id).unwrap().unwrap().recipient, "x@example.com");
    store.domain_tls_record("example.com", true, false).unwrap();
    assert!(store.domain_tls("example.com").unwrap().unwrap().starttls);
}

#[test]
fn writer_connection_is_wal_with_full_sync() {
    let env = env();
    assert_eq!(env.store.durability().unwrap(), ("wal".to_string(), 2));
    // Lease-only batches commit without waiting for the disk, then the
    // connection is back to FULL.
    env.store.claim(claim_req("n")).unwrap();
    env.store.release("n", &[1]).unwrap();
    assert_eq!(env.store.durability().unwrap(), ("wal".to_string(), 2));
}

#[test]
fn domain_tls_record_is_updated_in_place() {
    let env = env();
    assert_eq!(env.store.domain_tls("example.com").unwrap(), None);
    env.store
        .domain_tls_record("Example.COM", true, false)
        .unwrap();
    env.clock.advance(Duration::from_secs(10));
    env.store
        .domain_tls_record("example.com", true, true)
        .unwrap();
    assert_eq!(
        env.store.domain_tls("example.com").unwrap(),
        Some(DomainTls {
            domain: "example.com".into(),
            starttls: true,
            requiretls: true,
            updated: t0() + Duration::from_secs(10),
        })
    );
}

#[test]
fn address_literal_recipient_is_keyed_by_its_bracketed_form() {
    let env = env();
    let ids = env
        .store
        .enqueue(submission("a", "a@example.org", &["x@[192.0.2.7]"]))
        .unwrap();
    let m = env.store.get(ids[0]).unwrap().unwrap();
    assert_eq!(m.recipient, "x@[192.0.2.7]");
    assert_eq!(m.recipient_domain, "[192.0.2.7]");
    assert_eq!(m.recipient_address().unwrap(), addr("x@[192.0.2.7]"));
}
