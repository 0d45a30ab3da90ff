//! Insert rate of `deliver` on a real file: each delivery is one committed,
//! fsynced SQLite transaction holding the metadata row and the message BLOB;
//! `deliver_many` shares one commit among a batch.
//!
//! Run: `cargo bench -p mailbox --bench insert`. The database lives under
//! Cargo's target tmp dir (on disk, not tmpfs) unless `MAILBOX_BENCH_DIR` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::Write;
use std::path::Path;
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

fn new_message(size: usize) -> NewMessage {
    NewMessage {
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
        raw: message(size),
    }
}

/// Delivers batches of `batch` messages (1 = `deliver`, more =
/// `deliver_many`) until `max` messages or the time budget is used.
fn run(store: &SqliteMailboxStore, size: usize, batch: usize, max: usize) -> (usize, Duration) {
    let budget = Duration::from_secs(5);
    let new = new_message(size);
    let many = vec![new.clone(); batch];
    // Warm up the page and statement caches.
    for _ in 0..10 {
        store.deliver(&new).unwrap();
    }
    let start = Instant::now();
    let mut n = 0;
    while n < max && start.elapsed() < budget {
        if batch == 1 {
            store.deliver(&new).unwrap();
        } else {
            for r in store.deliver_many(&many).unwrap() {
                r.unwrap();
            }
        }
        n += batch;
    }
    (n, start.elapsed())
}

/// Syncs per second the disk sustains for small appends, for comparison.
fn fsync_rate(dir: &Path) -> f64 {
    let mut file = std::fs::File::create(dir.join("fsync-probe")).unwrap();
    let block = [0u8; 4096];
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(2) {
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
        n += 1;
    }
    f64::from(n) / start.elapsed().as_secs_f64()
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
    println!("mailbox deliver: WAL, synchronous=FULL, one commit per call");
    println!("database in {}", dir.path().display());
    println!(
        "disk: {:.0} fsync/s (4 KiB write + fdatasync, same directory)",
        fsync_rate(dir.path())
    );
    println!(
        "{:>8} {:>6} {:>9} {:>10} {:>10} {:>10}",
        "size", "batch", "messages", "msgs/s", "MiB/s", "us/msg"
    );
    for (size, batch, max) in [
        (1024usize, 1usize, 5000usize),
        (100 * 1024, 1, 1000),
        (1024, 32, 20_000),
        (100 * 1024, 32, 3200),
    ] {
        let (n, took) = run(&store, size, batch, max);
        let secs = took.as_secs_f64();
        println!(
            "{:>8} {:>6} {:>9} {:>10.0} {:>10.2} {:>10.0}",
            format!("{} KiB", size / 1024),
            batch,
            n,
            n as f64 / secs,
            (n * size) as f64 / secs / (1024.0 * 1024.0),
            secs * 1e6 / n as f64,
        );
    }
}
