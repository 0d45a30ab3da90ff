//! Insert rate of `deliver` on a real file: each delivery is one committed,
//! fsynced SQLite transaction holding the metadata row and the message BLOB.
//!
//! Run: `cargo bench -p mailbox --bench insert`. The database lives under
//! Cargo's target tmp dir (on disk, not tmpfs) unless `MAILBOX_BENCH_DIR` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant, SystemTime};

use mailbox::{
    Envelope, Flags, INBOX, MailboxStore, NewAccount, NewMessage, SqliteMailboxStore, StoreOptions,
};

fn message(size: usize) -> Vec<u8> {
    let mut raw = b"From: bench@example.org\r\nTo: alice@example.org\r\nSubject: bench\r\nMessage-ID: <bench@example.org>\r\n\r\n".to_vec();
    while raw.len() < size {
        raw.extend_from_slice(
            b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab\r\n",
        );
    }
    raw.truncate(size);
    raw
}

fn run(store: &SqliteMailboxStore, size: usize, budget: Duration, max: usize) -> (usize, Duration) {
    let raw = message(size);
    let new = NewMessage {
        account: "bench".into(),
        mailbox: INBOX.into(),
        received: SystemTime::now(),
        flags: Flags::default(),
        envelope: Envelope {
            mail_from: None,
            rcpt_to: None,
            remote_ip: None,
            is_dsn: true,
        },
        raw,
    };
    // Warm up the page cache and statement cache.
    for _ in 0..10 {
        store.deliver(&new).unwrap();
    }
    let start = Instant::now();
    let mut n = 0;
    while n < max && start.elapsed() < budget {
        store.deliver(&new).unwrap();
        n += 1;
    }
    (n, start.elapsed())
}

fn main() {
    let base = std::env::var_os("MAILBOX_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&base).unwrap();
    let dir = tempfile::tempdir_in(&base).unwrap();
    let store =
        SqliteMailboxStore::open(dir.path().join("bench.db"), StoreOptions::default()).unwrap();
    store
        .create_account(&NewAccount {
            name: "bench".into(),
            addresses: vec!["bench@example.org".into()],
            ..Default::default()
        })
        .unwrap();
    println!("mailbox deliver: one fsynced transaction per message (WAL, synchronous=FULL)");
    println!("database in {}", dir.path().display());
    println!(
        "{:>10} {:>10} {:>12} {:>12} {:>12}",
        "size", "messages", "msgs/s", "MiB/s", "us/msg"
    );
    for (size, max) in [(1024usize, 5000usize), (100 * 1024, 1000)] {
        let (n, took) = run(&store, size, Duration::from_secs(5), max);
        let secs = took.as_secs_f64();
        println!(
            "{:>10} {:>10} {:>12.0} {:>12.2} {:>12.0}",
            format!("{} KiB", size / 1024),
            n,
            n as f64 / secs,
            (n * size) as f64 / secs / (1024.0 * 1024.0),
            secs * 1e6 / n as f64,
        );
    }
}
