//! Tests of the SQLite store on a real file in a temporary directory.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sasl::{
    ChannelBindings, Client, ClientOptions, CredentialStore, Credentials, Mechanism, ScramHash,
    Server, ServerOptions, ServerStep, SessionInfo,
};

use super::*;
use crate::{Envelope, INBOX, ManualClock, POSTMASTER, SENT, SystemFlags};

const PW: &str = "correct horse";

struct Fixture {
    dir: tempfile::TempDir,
    store: SqliteMailboxStore,
}

impl Fixture {
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("mailbox.db")
    }
}

fn options() -> StoreOptions {
    StoreOptions {
        catchall_separator: Some('+'),
        ..StoreOptions::default()
    }
}

fn fixture() -> Fixture {
    fixture_with(options())
}

fn fixture_with(options: StoreOptions) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMailboxStore::open(dir.path().join("mailbox.db"), options).unwrap();
    Fixture { dir, store }
}

fn new_account(name: &str, address: &str) -> NewAccount {
    NewAccount {
        name: name.into(),
        addresses: vec![address.into()],
        display_name: format!("{name} user"),
        ..Default::default()
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn message(account: &str, mailbox: &str, received: SystemTime, raw: &str) -> NewMessage {
    NewMessage {
        account: account.into(),
        mailbox: mailbox.into(),
        received,
        flags: Flags::default(),
        envelope: Envelope {
            mail_from: Some(smtp::Address::parse("sender@example.net").unwrap()),
            rcpt_to: Some(smtp::Address::parse("alice@example.org").unwrap()),
            remote_ip: Some("192.0.2.10".parse().unwrap()),
            is_dsn: false,
        },
        raw: raw.as_bytes().to_vec(),
    }
}

const RAW: &str = "From: Sender <sender@example.net>\r\nTo: alice@example.org\r\nSubject: Hello\r\nMessage-ID: <m1@example.net>\r\n\r\nHi!\r\n";

fn with_alice() -> Fixture {
    let f = fixture();
    f.store
        .create_account(&new_account("alice", "Alice@Example.org"))
        .unwrap();
    f
}

// ---- opening and schema ----

#[test]
fn open_uses_wal_full_sync_and_foreign_keys() {
    let f = fixture();
    let conn = f.store.write();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    let fk: i64 = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    let limit: i64 = conn
        .query_row("PRAGMA journal_size_limit", [], |r| r.get(0))
        .unwrap();
    assert_eq!((mode.as_str(), sync, fk, limit), ("wal", 2, 1, 64 << 20));
    drop(conn);
    assert_eq!(f.store.schema_version().unwrap(), schema::CURRENT_VERSION);
}

#[test]
fn version_1_file_is_migrated_and_its_messages_get_their_from_address() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        schema::create_v1(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO accounts (id, name) VALUES (1, 'old');
             INSERT INTO addresses VALUES ('old@example.org', 1, 0);
             INSERT INTO mailboxes (id, account_id, name, role) VALUES (1, 1, 'Inbox', 1);
             INSERT INTO messages (id, account_id, mailbox_id, received_ms, size, subject)
                 VALUES (7, 1, 1, 1000, 44, 'Old');
             INSERT INTO message_data VALUES (7, CAST('From: Bob <bob@example.com>\r\nSubject: Old\r\n\r\n' AS BLOB));",
        )
        .unwrap();
        assert_eq!(schema::version(&conn).unwrap(), 1);
    }
    let store = SqliteMailboxStore::open(&path, options()).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
    let meta = store.message("old", MessageId(7)).unwrap();
    assert_eq!(meta.msg_from, "bob@example.com");
    assert_eq!(meta.subject, "Old");
    assert_eq!(meta.received, UNIX_EPOCH + Duration::from_millis(1000));
    // A second open finds nothing to do.
    drop(store);
    let store = SqliteMailboxStore::open(&path, options()).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
}

#[test]
fn file_from_a_newer_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        schema::version(&conn).unwrap();
        conn.execute("INSERT INTO schema_version VALUES (99)", [])
            .unwrap();
    }
    let err = SqliteMailboxStore::open(&path, options()).unwrap_err();
    assert!(
        matches!(
            err,
            MailboxError::SchemaTooNew {
                found: 99,
                supported: 2
            }
        ),
        "{err}"
    );
}

// ---- accounts ----

#[test]
fn new_account_has_normalised_addresses_and_three_mailboxes() {
    let f = with_alice();
    let account = f.store.account("alice").unwrap();
    assert_eq!(
        account,
        Account {
            name: "alice".into(),
            addresses: vec!["alice@example.org".into()],
            display_name: "alice user".into(),
            quota: 0,
            used: 0,
            cram_md5: false,
            disabled: false,
            has_password: false,
        }
    );
    let boxes = f.store.mailboxes("alice").unwrap();
    let names: Vec<(&str, MailboxRole, u64)> = boxes
        .iter()
        .map(|b| (b.name.as_str(), b.role, b.messages))
        .collect();
    assert_eq!(
        names,
        vec![
            (INBOX, MailboxRole::Inbox, 0),
            (POSTMASTER, MailboxRole::Postmaster, 0),
            (SENT, MailboxRole::Sent, 0),
        ]
    );
    assert_eq!(
        f.store
            .mailbox_by_role("alice", MailboxRole::Sent)
            .unwrap()
            .name,
        SENT
    );
}

#[test]
fn duplicate_account_name_or_address_is_refused() {
    let f = with_alice();
    assert!(matches!(
        f.store.create_account(&new_account("alice", "other@example.org")),
        Err(MailboxError::AccountExists { account }) if account == "alice"
    ));
    assert!(matches!(
        f.store.create_account(&new_account("bob", "ALICE@example.org")),
        Err(MailboxError::AddressTaken { address, account })
            if address == "alice@example.org" && account == "alice"
    ));
    // Nothing of the refused account was left behind.
    assert!(matches!(
        f.store.account("bob"),
        Err(MailboxError::AccountNotFound { .. })
    ));
    assert!(matches!(
        f.store.create_account(&NewAccount {
            name: "x".into(),
            ..Default::default()
        }),
        Err(MailboxError::Invalid {
            what: "address list",
            ..
        })
    ));
}

#[test]
fn address_lookup_is_case_insensitive_and_understands_catchall() {
    let f = with_alice();
    assert_eq!(
        f.store
            .account_for_address("ALICE@EXAMPLE.ORG")
            .unwrap()
            .name,
        "alice"
    );
    assert_eq!(
        f.store
            .account_for_address("alice+news@example.org")
            .unwrap()
            .name,
        "alice"
    );
    assert!(matches!(
        f.store.account_for_address("alicia@example.org"),
        Err(MailboxError::AccountNotFound { account }) if account == "alicia@example.org"
    ));
    assert!(f.store.account_for_address("+x@example.org").is_err());
    assert!(f.store.account_for_address("not an address").is_err());
}

#[test]
fn without_separator_catchall_addresses_are_unknown() {
    let f = fixture_with(StoreOptions::default());
    f.store
        .create_account(&new_account("alice", "alice@example.org"))
        .unwrap();
    assert!(f.store.account_for_address("alice+x@example.org").is_err());
}

#[test]
fn update_account_changes_only_given_fields() {
    let f = with_alice();
    let updated = f
        .store
        .update_account(
            "alice",
            &AccountUpdate {
                quota: Some(5000),
                disabled: Some(true),
                addresses: Some(vec!["a@example.org".into(), "alice@example.org".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(updated.quota, 5000);
    assert!(updated.disabled);
    assert_eq!(updated.display_name, "alice user");
    assert_eq!(
        updated.addresses,
        vec!["a@example.org", "alice@example.org"]
    );
    assert_eq!(
        f.store.account_for_address("a@example.org").unwrap().name,
        "alice"
    );
    assert_eq!(f.store.accounts().unwrap(), vec![updated]);
}

#[test]
fn deleting_an_account_removes_its_messages_and_addresses() {
    let f = with_alice();
    let id = f
        .store
        .deliver(&message("alice", INBOX, at(10), RAW))
        .unwrap()
        .id;
    f.store.delete_account("alice").unwrap();
    assert!(matches!(
        f.store.account("alice"),
        Err(MailboxError::AccountNotFound { .. })
    ));
    assert!(f.store.account_for_address("alice@example.org").is_err());
    let conn = f.store.read();
    let left: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM message_data)
                  + (SELECT count(*) FROM mailboxes) + (SELECT count(*) FROM addresses)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "message {id} left rows behind");
    drop(conn);
    // The address is free again.
    f.store
        .create_account(&new_account("alice2", "alice@example.org"))
        .unwrap();
}

// ---- credentials ----

#[test]
fn password_is_stored_only_as_scram_keys_that_verify() {
    let f = with_alice();
    f.store.set_password("alice", PW).unwrap();
    assert!(f.store.account("alice").unwrap().has_password);
    for hash in [ScramHash::Sha1, ScramHash::Sha256] {
        let c = CredentialStore::scram(&f.store, "alice@example.org", hash).unwrap();
        assert_eq!(c.iterations, sasl::DEFAULT_ITERATIONS);
        assert_eq!(c.salt.len(), sasl::DEFAULT_SALT_LEN);
        assert_eq!(c.stored_key.len(), hash.output_len());
        assert!(c.verify_password(PW, hash));
        assert!(!c.verify_password("wrong", hash));
    }
    // CRAM-MD5 is off for this account: no state stored.
    assert_eq!(
        CredentialStore::cram_md5(&f.store, "alice@example.org"),
        None
    );
    let cram: Option<Vec<u8>> = f
        .store
        .read()
        .query_row("SELECT cram_md5 FROM credentials", [], |r| r.get(0))
        .unwrap();
    assert_eq!(cram, None);
    // The password itself appears nowhere on disk (database and WAL).
    for entry in std::fs::read_dir(f.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(PW.len()).any(|w| w == PW.as_bytes()));
    }
}

#[test]
fn unknown_and_passwordless_logins_have_no_credentials() {
    let f = with_alice();
    assert_eq!(
        CredentialStore::scram(&f.store, "alice@example.org", ScramHash::Sha256),
        None
    );
    assert_eq!(
        CredentialStore::scram(&f.store, "nobody@example.org", ScramHash::Sha256),
        None
    );
    assert!(matches!(
        f.store.check_login("alice@example.org", PW),
        Err(AuthError::BadCredentials { .. })
    ));
    assert!(matches!(
        f.store.set_password("nobody", PW),
        Err(MailboxError::AccountNotFound { .. })
    ));
}

/// Runs one SASL exchange between the crate's client and server over the store.
fn exchange(
    store: &dyn CredentialStore,
    mechanism: Mechanism,
    user: &str,
    password: &str,
) -> Result<String, String> {
    let session = SessionInfo::tls(ChannelBindings::default());
    let offered = vec![mechanism.name().to_string()];
    let mut client = Client::new(
        mechanism,
        Credentials::new(user, password),
        &ClientOptions::default(),
        &session,
        &offered,
    )
    .map_err(|e| e.to_string())?;
    let mut server =
        Server::new(mechanism, &ServerOptions::default(), &session).map_err(|e| e.to_string())?;
    let mut step = server.start(client.initial_response().as_deref(), store);
    for _ in 0..8 {
        match step {
            ServerStep::Challenge(c) => {
                let answer = client.step(&c).map_err(|e| e.to_string())?;
                step = server.step(answer.response(), store);
            }
            ServerStep::Success { authcid, .. } => return Ok(authcid),
            ServerStep::Failure(e) => return Err(e.to_string()),
        }
    }
    Err("exchange did not end".into())
}

#[test]
fn sasl_exchanges_against_the_store_accept_only_the_right_password() {
    let f = with_alice();
    f.store.set_password("alice", PW).unwrap();
    for mechanism in [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
        Mechanism::Login,
    ] {
        assert_eq!(
            exchange(&f.store, mechanism, "alice@example.org", PW),
            Ok("alice@example.org".to_string()),
            "{mechanism:?}"
        );
        assert!(
            exchange(&f.store, mechanism, "alice@example.org", "wrong").is_err(),
            "{mechanism:?}"
        );
        assert!(
            exchange(&f.store, mechanism, "bob@example.org", PW).is_err(),
            "{mechanism:?}"
        );
    }
    // CRAM-MD5 is not enabled for alice.
    assert!(exchange(&f.store, Mechanism::CramMd5, "alice@example.org", PW).is_err());
}

#[test]
fn cram_md5_works_only_once_enabled_and_password_set_again() {
    let f = with_alice();
    f.store.set_password("alice", PW).unwrap();
    f.store
        .update_account(
            "alice",
            &AccountUpdate {
                cram_md5: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    // Enabled, but the state is derived from the password at the next set_password.
    assert_eq!(
        CredentialStore::cram_md5(&f.store, "alice@example.org"),
        None
    );
    f.store.set_password("alice", PW).unwrap();
    assert_eq!(
        CredentialStore::cram_md5(&f.store, "alice@example.org"),
        Some(sasl::CramMd5Credentials::derive(PW))
    );
    assert_eq!(
        exchange(&f.store, Mechanism::CramMd5, "alice@example.org", PW),
        Ok("alice@example.org".to_string())
    );
    assert!(exchange(&f.store, Mechanism::CramMd5, "alice@example.org", "wrong").is_err());
    // Disabling drops the stored state at once.
    f.store
        .update_account(
            "alice",
            &AccountUpdate {
                cram_md5: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        CredentialStore::cram_md5(&f.store, "alice@example.org"),
        None
    );
    assert!(exchange(&f.store, Mechanism::CramMd5, "alice@example.org", PW).is_err());
}

#[test]
fn disabled_account_cannot_log_in_even_with_the_right_password() {
    let f = with_alice();
    f.store.set_password("alice", PW).unwrap();
    f.store
        .update_account(
            "alice",
            &AccountUpdate {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(matches!(
        f.store.check_login("alice@example.org", PW),
        Err(AuthError::Disabled { account }) if account == "alice"
    ));
    assert!(matches!(
        f.store.check_login("alice@example.org", "wrong"),
        Err(AuthError::BadCredentials { .. })
    ));
    assert!(exchange(&f.store, Mechanism::ScramSha256, "alice@example.org", PW).is_err());
}

#[test]
fn successful_check_is_cached_until_the_password_changes() {
    let f = with_alice();
    f.store.set_password("alice", PW).unwrap();
    assert_eq!(
        f.store
            .check_login("alice+web@example.org", PW)
            .unwrap()
            .name,
        "alice"
    );
    assert_eq!(f.store.cached_checks(), 1);
    // Spoil the stored keys: only a cache hit can still succeed.
    f.store
        .write()
        .execute(
            "UPDATE credentials SET sha256_stored_key = zeroblob(32)",
            [],
        )
        .unwrap();
    assert_eq!(
        f.store
            .check_login("alice+web@example.org", PW)
            .unwrap()
            .name,
        "alice"
    );
    assert_eq!(f.store.cached_checks(), 1);
    // A wrong password is not a hit.
    assert!(
        f.store
            .check_login("alice+web@example.org", "wrong")
            .is_err()
    );
    // A new password drops the cache entry, and the old password fails.
    f.store.set_password("alice", "new password").unwrap();
    assert_eq!(f.store.cached_checks(), 0);
    assert!(matches!(
        f.store.check_login("alice+web@example.org", PW),
        Err(AuthError::BadCredentials { login }) if login == "alice+web@example.org"
    ));
    assert_eq!(
        f.store
            .check_login("alice@example.org", "new password")
            .unwrap()
            .name,
        "alice"
    );
}

#[test]
fn password_changed_by_another_process_invalidates_the_cache() {
    let f = with_alice();
    f.store.set_password("alice", PW).unwrap();
    f.store.check_login("alice@example.org", PW).unwrap();
    // A second store on the same file (another process) changes the password.
    let other = SqliteMailboxStore::open(f.path(), options()).unwrap();
    other.set_password("alice", "changed").unwrap();
    assert!(f.store.check_login("alice@example.org", PW).is_err());
    assert!(f.store.check_login("alice@example.org", "changed").is_ok());
}

#[test]
fn repeated_failures_from_one_ip_are_refused_until_the_window_passes() {
    let clock = Arc::new(ManualClock::new());
    let f = fixture_with(StoreOptions {
        limiter: LimiterConfig {
            max_failures: 3,
            window: Duration::from_secs(60),
            max_networks: 100,
        },
        clock: clock.clone(),
        ..options()
    });
    f.store
        .create_account(&new_account("alice", "alice@example.org"))
        .unwrap();
    f.store.set_password("alice", PW).unwrap();
    let ip: IpAddr = "203.0.113.5".parse().unwrap();
    let other: IpAddr = "203.0.113.6".parse().unwrap();
    for _ in 0..3 {
        assert!(matches!(
            f.store.authenticate(ip, "alice@example.org", "guess"),
            Err(AuthError::BadCredentials { .. })
        ));
        clock.advance(Duration::from_secs(1));
    }
    // Even the right password is refused now, without being checked.
    match f.store.authenticate(ip, "alice@example.org", PW) {
        Err(AuthError::RateLimited {
            ip: got,
            retry_after,
        }) => {
            assert_eq!(got, ip);
            assert_eq!(retry_after, Duration::from_secs(57));
        }
        other => panic!("expected rate limiting, got {other:?}"),
    }
    assert_eq!(f.store.auth_limiter().failures(ip), 3);
    // Other clients are unaffected; a disabled login is not counted as a failure.
    assert_eq!(
        f.store
            .authenticate(other, "alice@example.org", PW)
            .unwrap()
            .name,
        "alice"
    );
    clock.advance(Duration::from_secs(57));
    assert_eq!(
        f.store
            .authenticate(ip, "alice@example.org", PW)
            .unwrap()
            .name,
        "alice"
    );
}

// ---- mailboxes ----

#[test]
fn mailboxes_are_created_renamed_and_deleted_with_checks() {
    let f = with_alice();
    let created = f.store.create_mailbox("alice", "Archive").unwrap();
    assert_eq!(
        created,
        Mailbox {
            name: "Archive".into(),
            role: MailboxRole::None,
            messages: 0,
            size: 0
        }
    );
    assert!(matches!(
        f.store.create_mailbox("alice", "archive"),
        Err(MailboxError::MailboxExists { mailbox, .. }) if mailbox == "archive"
    ));
    assert!(matches!(
        f.store.create_mailbox("alice", "bad\nname"),
        Err(MailboxError::Invalid {
            what: "mailbox name",
            ..
        })
    ));
    // Another account may use the same name.
    f.store
        .create_account(&new_account("bob", "bob@example.org"))
        .unwrap();
    f.store.create_mailbox("bob", "Archive").unwrap();

    f.store
        .rename_mailbox("alice", "Archive", "archive")
        .unwrap();
    f.store.rename_mailbox("alice", "archive", "Old").unwrap();
    assert!(matches!(
        f.store.rename_mailbox("alice", "Old", "sent"),
        Err(MailboxError::MailboxExists { .. })
    ));
    assert!(matches!(
        f.store.rename_mailbox("alice", INBOX, "In"),
        Err(MailboxError::MailboxProtected {
            action: "renamed",
            ..
        })
    ));
    // Sent keeps its role under a new name.
    f.store.rename_mailbox("alice", SENT, "Sent Items").unwrap();
    assert_eq!(
        f.store
            .mailbox_by_role("alice", MailboxRole::Sent)
            .unwrap()
            .name,
        "Sent Items"
    );

    let id = f
        .store
        .deliver(&message("alice", "Old", at(1), RAW))
        .unwrap()
        .id;
    assert!(matches!(
        f.store.delete_mailbox("alice", "Old"),
        Err(MailboxError::MailboxNotEmpty { count: 1, .. })
    ));
    f.store.delete_message("alice", id).unwrap();
    f.store.delete_mailbox("alice", "Old").unwrap();
    assert!(matches!(
        f.store.delete_mailbox("alice", "Old"),
        Err(MailboxError::MailboxNotFound { mailbox, .. }) if mailbox == "Old"
    ));
    for protected in [INBOX, "Sent Items", POSTMASTER] {
        assert!(matches!(
            f.store.delete_mailbox("alice", protected),
            Err(MailboxError::MailboxProtected {
                action: "deleted",
                ..
            })
        ));
    }
}

// ---- messages ----

#[test]
fn delivered_message_has_exact_metadata_and_bytes() {
    let f = with_alice();
    let mut new = message("alice", INBOX, at(1_700_000_000), RAW);
    new.flags = Flags::parse(["\\Seen", "$Junk", "$junk"]).unwrap();
    let meta = f.store.deliver(&new).unwrap();
    let expected = MessageMeta {
        id: meta.id,
        account: "alice".into(),
        mailbox: INBOX.into(),
        received: at(1_700_000_000),
        flags: Flags {
            system: SystemFlags::SEEN,
            keywords: vec!["$Junk".into()],
        },
        envelope: new.envelope.clone(),
        size: RAW.len() as u64,
        message_id: "m1@example.net".into(),
        subject: "Hello".into(),
        msg_from: "sender@example.net".into(),
    };
    assert_eq!(meta, expected);
    assert_eq!(f.store.message("alice", meta.id).unwrap(), expected);
    assert_eq!(f.store.raw("alice", meta.id).unwrap(), RAW.as_bytes());
    assert_eq!(f.store.account("alice").unwrap().used, RAW.len() as u64);
    let inbox = f
        .store
        .mailbox_by_role("alice", MailboxRole::Inbox)
        .unwrap();
    assert_eq!((inbox.messages, inbox.size), (1, RAW.len() as u64));
}

#[test]
fn dsn_with_null_sender_and_no_ip_round_trips() {
    let f = with_alice();
    let mut new = message("alice", INBOX, at(5), "Subject: Undeliverable\r\n\r\nx\r\n");
    new.envelope = Envelope {
        mail_from: None,
        rcpt_to: None,
        remote_ip: None,
        is_dsn: true,
    };
    let meta = f.store.deliver(&new).unwrap();
    assert_eq!(meta.envelope, new.envelope);
    assert_eq!((meta.message_id.as_str(), meta.msg_from.as_str()), ("", ""));
}

#[test]
fn delivery_to_unknown_account_or_mailbox_is_a_typed_error() {
    let f = with_alice();
    assert!(matches!(
        f.store.deliver(&message("zed", INBOX, at(1), RAW)),
        Err(MailboxError::AccountNotFound { account }) if account == "zed"
    ));
    assert!(matches!(
        f.store.deliver(&message("alice", "Nope", at(1), RAW)),
        Err(MailboxError::MailboxNotFound { account, mailbox }) if account == "alice" && mailbox == "Nope"
    ));
}

#[test]
fn quota_refuses_the_message_that_would_exceed_it_and_delete_frees_space() {
    let f = with_alice();
    let size = RAW.len() as u64;
    f.store
        .update_account(
            "alice",
            &AccountUpdate {
                quota: Some(2 * size + 1),
                ..Default::default()
            },
        )
        .unwrap();
    let first = f
        .store
        .deliver(&message("alice", INBOX, at(1), RAW))
        .unwrap()
        .id;
    f.store
        .deliver(&message("alice", INBOX, at(2), RAW))
        .unwrap();
    let err = f
        .store
        .deliver(&message("alice", INBOX, at(3), RAW))
        .unwrap_err();
    match err {
        MailboxError::QuotaExceeded {
            account,
            quota,
            used,
            size: s,
        } => {
            assert_eq!(
                (account.as_str(), quota, used, s),
                ("alice", 2 * size + 1, 2 * size, size)
            );
        }
        other => panic!("expected QuotaExceeded, got {other}"),
    }
    assert_eq!(
        f.store
            .list("alice", INBOX, None, 10)
            .unwrap()
            .messages
            .len(),
        2
    );
    f.store.delete_message("alice", first).unwrap();
    assert_eq!(f.store.account("alice").unwrap().used, size);
    f.store
        .deliver(&message("alice", INBOX, at(3), RAW))
        .unwrap();
    // Unlimited again.
    f.store
        .update_account(
            "alice",
            &AccountUpdate {
                quota: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
    f.store
        .deliver(&message("alice", INBOX, at(4), RAW))
        .unwrap();
}

#[test]
fn deliver_many_commits_together_and_skips_only_refused_messages() {
    let f = with_alice();
    let size = RAW.len() as u64;
    f.store
        .update_account(
            "alice",
            &AccountUpdate {
                quota: Some(2 * size),
                ..Default::default()
            },
        )
        .unwrap();
    let mut changes = f.store.subscribe();
    let batch = vec![
        message("alice", INBOX, at(1), RAW),
        message("alice", "Nope", at(2), RAW),
        message("alice", SENT, at(3), RAW),
        message("alice", INBOX, at(4), RAW),
    ];
    let results = f.store.deliver_many(&batch).unwrap();
    assert_eq!(results.len(), 4);
    let first = results[0].as_ref().unwrap();
    assert_eq!((first.mailbox.as_str(), first.received), (INBOX, at(1)));
    assert!(
        matches!(&results[1], Err(MailboxError::MailboxNotFound { mailbox, .. }) if mailbox == "Nope")
    );
    let third = results[2].as_ref().unwrap();
    assert_eq!((third.mailbox.as_str(), third.id.0), (SENT, first.id.0 + 1));
    assert!(
        matches!(&results[3], Err(MailboxError::QuotaExceeded { used, .. }) if *used == 2 * size)
    );
    assert_eq!(f.store.account("alice").unwrap().used, 2 * size);
    assert_eq!(f.store.raw("alice", third.id).unwrap(), RAW.as_bytes());
    let mut notified = Vec::new();
    while let Ok(Change::Delivered { id, .. }) = changes.try_recv() {
        notified.push(id);
    }
    assert_eq!(notified, vec![first.id, third.id]);
}

#[test]
fn listing_pages_newest_first_with_a_cursor() {
    let f = with_alice();
    // Two messages share a received time: the higher id counts as newer.
    let times = [10, 30, 20, 30, 5];
    let ids: Vec<MessageId> = times
        .iter()
        .map(|t| {
            f.store
                .deliver(&message("alice", INBOX, at(*t), RAW))
                .unwrap()
                .id
        })
        .collect();
    f.store
        .deliver(&message("alice", SENT, at(99), RAW))
        .unwrap();
    let expected = vec![ids[3], ids[1], ids[2], ids[0], ids[4]];

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = f.store.list("alice", INBOX, cursor, 2).unwrap();
        pages += 1;
        seen.extend(page.messages.iter().map(|m| m.id));
        match page.next {
            Some(next) => {
                let last = page.messages.last().unwrap();
                assert_eq!(
                    next,
                    Cursor {
                        received_ms: to_ms(last.received),
                        id: last.id.0
                    }
                );
                // Through the text form, as an API client would.
                cursor = Some(next.to_string().parse().unwrap());
            }
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
    // A page that ends exactly at the end has no next cursor.
    let all = f.store.list("alice", INBOX, None, 5).unwrap();
    assert_eq!((all.messages.len(), all.next), (5, None));
    // Limit 0 is taken as 1.
    assert_eq!(
        f.store
            .list("alice", INBOX, None, 0)
            .unwrap()
            .messages
            .len(),
        1
    );
}

fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn flags_add_and_remove_are_idempotent_and_keywords_case_insensitive() {
    let f = with_alice();
    let id = f
        .store
        .deliver(&message("alice", INBOX, at(1), RAW))
        .unwrap()
        .id;
    let mut changes = f.store.subscribe();
    let after = f
        .store
        .add_flags(
            "alice",
            id,
            &Flags::parse(["\\Seen", "\\flagged", "Work", "$Label1"]).unwrap(),
        )
        .unwrap();
    assert_eq!(
        after.to_strings(),
        vec!["\\Seen", "\\Flagged", "Work", "$Label1"]
    );
    assert_eq!(
        changes.try_recv().unwrap(),
        Change::FlagsChanged {
            account: "alice".into(),
            id
        }
    );
    // Adding again (other case) changes nothing and notifies nobody.
    let again = f
        .store
        .add_flags("alice", id, &Flags::parse(["\\SEEN", "work"]).unwrap())
        .unwrap();
    assert_eq!(again, after);
    assert!(changes.try_recv().is_err());
    let removed = f
        .store
        .remove_flags(
            "alice",
            id,
            &Flags::parse(["\\Seen", "WORK", "absent"]).unwrap(),
        )
        .unwrap();
    assert_eq!(removed.to_strings(), vec!["\\Flagged", "$Label1"]);
    assert_eq!(f.store.message("alice", id).unwrap().flags, removed);
    assert!(matches!(
        f.store
            .add_flags("alice", MessageId(id.0 + 100), &Flags::default()),
        Err(MailboxError::MessageNotFound { .. })
    ));
}

#[test]
fn move_keeps_the_id_and_needs_an_existing_mailbox_of_the_same_account() {
    let f = with_alice();
    let id = f
        .store
        .deliver(&message("alice", INBOX, at(1), RAW))
        .unwrap()
        .id;
    f.store.create_mailbox("alice", "Archive").unwrap();
    let moved = f.store.move_message("alice", id, "archive").unwrap();
    assert_eq!((moved.id, moved.mailbox.as_str()), (id, "Archive"));
    assert!(
        f.store
            .list("alice", INBOX, None, 10)
            .unwrap()
            .messages
            .is_empty()
    );
    assert_eq!(
        f.store.list("alice", "Archive", None, 10).unwrap().messages[0].id,
        id
    );
    assert!(matches!(
        f.store.move_message("alice", id, "Nowhere"),
        Err(MailboxError::MailboxNotFound { .. })
    ));
    // Bob has an "Archive" too, but cannot reach alice's message.
    f.store
        .create_account(&new_account("bob", "bob@example.org"))
        .unwrap();
    f.store.create_mailbox("bob", "Archive").unwrap();
    assert!(matches!(
        f.store.move_message("bob", id, "Archive"),
        Err(MailboxError::MessageNotFound { account, id: got }) if account == "bob" && got == id.0
    ));
    // Moving to where it already is changes nothing.
    assert_eq!(f.store.move_message("alice", id, "Archive").unwrap(), moved);
}

#[test]
fn other_accounts_messages_are_not_found() {
    let f = with_alice();
    f.store
        .create_account(&new_account("bob", "bob@example.org"))
        .unwrap();
    let id = f
        .store
        .deliver(&message("alice", INBOX, at(1), RAW))
        .unwrap()
        .id;
    for result in [
        f.store.message("bob", id).map(|_| ()),
        f.store.raw("bob", id).map(|_| ()),
        f.store.delete_message("bob", id),
        f.store
            .remove_flags("bob", id, &Flags::default())
            .map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(MailboxError::MessageNotFound { .. })),
            "{result:?}"
        );
    }
    assert_eq!(f.store.raw("alice", id).unwrap(), RAW.as_bytes());
}

#[test]
fn deleted_message_is_gone_and_its_id_never_reused() {
    let f = with_alice();
    let first = f
        .store
        .deliver(&message("alice", INBOX, at(1), RAW))
        .unwrap()
        .id;
    f.store.delete_message("alice", first).unwrap();
    assert!(matches!(
        f.store.raw("alice", first),
        Err(MailboxError::MessageNotFound { id, .. }) if id == first.0
    ));
    assert!(matches!(
        f.store.delete_message("alice", first),
        Err(MailboxError::MessageNotFound { .. })
    ));
    let second = f
        .store
        .deliver(&message("alice", INBOX, at(2), RAW))
        .unwrap()
        .id;
    assert!(second.0 > first.0);
    assert_eq!(f.store.account("alice").unwrap().used, RAW.len() as u64);
}

#[test]
fn everything_survives_reopening_the_file() {
    let f = with_alice();
    f.store.set_password("alice", PW).unwrap();
    f.store.create_mailbox("alice", "Archive").unwrap();
    let id = f
        .store
        .deliver(&message("alice", "Archive", at(7), RAW))
        .unwrap()
        .id;
    f.store
        .add_flags("alice", id, &Flags::parse(["\\Answered", "Kw"]).unwrap())
        .unwrap();
    let before = f.store.message("alice", id).unwrap();
    let account = f.store.account("alice").unwrap();
    let path = f.path();
    let Fixture { dir, store } = f;
    drop(store);
    let store = SqliteMailboxStore::open(&path, options()).unwrap();
    assert_eq!(store.message("alice", id).unwrap(), before);
    assert_eq!(store.raw("alice", id).unwrap(), RAW.as_bytes());
    assert_eq!(store.account("alice").unwrap(), account);
    assert_eq!(
        store.check_login("alice@example.org", PW).unwrap().name,
        "alice"
    );
    drop(dir);
}

#[tokio::test]
async fn waiting_for_a_dsn_sees_it_after_commit() {
    let f = with_alice();
    let store = Arc::new(f.store);
    let mut changes = store.subscribe();
    let writer = store.clone();
    let delivered = tokio::task::spawn_blocking(move || {
        writer
            .deliver(&message("alice", INBOX, at(1), RAW))
            .unwrap();
        let mut dsn = message("alice", INBOX, at(2), "Subject: failed\r\n\r\n");
        dsn.envelope = Envelope {
            mail_from: None,
            rcpt_to: None,
            remote_ip: None,
            is_dsn: true,
        };
        writer.deliver(&dsn).unwrap().id
    });
    let dsn_id = loop {
        match changes.recv().await.unwrap() {
            Change::Delivered {
                is_dsn: true,
                id,
                account,
                mailbox,
            } => {
                assert_eq!((account.as_str(), mailbox.as_str()), ("alice", INBOX));
                break id;
            }
            _ => continue,
        }
    };
    assert_eq!(dsn_id, delivered.await.unwrap());
    // Committed before the notification: a reader sees it.
    assert!(store.message("alice", dsn_id).unwrap().envelope.is_dsn);
    drop(f.dir);
}

#[test]
fn a_returned_delivery_is_committed_for_any_other_connection() {
    let f = with_alice();
    let id = f
        .store
        .deliver(&message("alice", INBOX, at(1), RAW))
        .unwrap()
        .id;
    // A plain connection, as another process would open, sees row and bytes.
    let other = rusqlite::Connection::open(f.path()).unwrap();
    let (size, raw): (i64, Vec<u8>) = other
        .query_row(
            "SELECT m.size, d.raw FROM messages m JOIN message_data d ON d.message_id = m.id WHERE m.id = ?1",
            [id.0],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((size as usize, raw.as_slice()), (RAW.len(), RAW.as_bytes()));
}

#[test]
fn unknown_login_and_wrong_password_give_the_same_error() {
    let f = with_alice();
    f.store.set_password("alice", PW).unwrap();
    let unknown = f.store.check_login("nobody@example.org", PW).unwrap_err();
    let wrong = f
        .store
        .check_login("alice@example.org", "nope")
        .unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "bad credentials for login \"nobody@example.org\""
    );
    assert_eq!(
        wrong.to_string(),
        "bad credentials for login \"alice@example.org\""
    );
    assert_eq!(f.store.cached_checks(), 0);
}

#[test]
fn hand_built_bad_keywords_and_too_many_keywords_are_refused() {
    let f = with_alice();
    let mut new = message("alice", INBOX, at(1), RAW);
    new.flags.keywords = vec!["two words".into()];
    assert!(matches!(
        f.store.deliver(&new),
        Err(MailboxError::Invalid {
            what: "keyword",
            ..
        })
    ));
    let id = f
        .store
        .deliver(&message("alice", INBOX, at(1), RAW))
        .unwrap()
        .id;
    let first: Vec<String> = (0..64).map(|i| format!("k{i}")).collect();
    f.store
        .add_flags("alice", id, &Flags::parse(&first).unwrap())
        .unwrap();
    assert!(matches!(
        f.store
            .add_flags("alice", id, &Flags::parse(["k64"]).unwrap()),
        Err(MailboxError::Invalid {
            what: "keyword",
            ..
        })
    ));
    assert_eq!(f.store.message("alice", id).unwrap().flags.keywords, first);
}

#[test]
fn two_stores_on_one_file_deliver_concurrently() {
    let f = with_alice();
    let second = Arc::new(SqliteMailboxStore::open(f.path(), options()).unwrap());
    let first = Arc::new(f.store);
    let threads: Vec<_> = [first.clone(), second.clone(), first.clone(), second]
        .into_iter()
        .enumerate()
        .map(|(t, store)| {
            std::thread::spawn(move || {
                for i in 0..10u64 {
                    store
                        .deliver(&message("alice", INBOX, at(t as u64 * 100 + i), RAW))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let page = first.list("alice", INBOX, None, 100).unwrap();
    assert_eq!(page.messages.len(), 40);
    assert_eq!(first.account("alice").unwrap().used, 40 * RAW.len() as u64);
    drop(f.dir);
}
