//! Queue store figures on this machine: group-committed enqueues, claim +
//! complete, and the disk baselines they compare with (raw fsync, a file
//! per message). A benchmark, not a test: it prints a table.
//!
//! `cargo bench -p queue` runs everything; `cargo bench -p queue -- enqueue N C`
//! runs only N enqueues from C submitters (for counting syncs with
//! `strace -f -c -e trace=fsync,fdatasync,sync_file_range,syncfs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use queue::*;
use smtp::Address;

fn body() -> Vec<u8> {
    let mut b = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: bench\r\n\r\n".to_vec();
    while b.len() < 1024 {
        b.extend_from_slice(b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n");
    }
    b.truncate(1024);
    b
}

fn submission(i: usize, domains: usize) -> Submission {
    let to = Address::parse(&format!("r{i}@d{}.example", i % domains)).unwrap();
    Submission::new(
        "bench",
        Some(Address::parse("a@example.org").unwrap()),
        vec![to],
        body(),
    )
}

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("queue.db"), Options::default()).unwrap()
}

/// Enqueues `total` messages from `submitters` threads; returns (msgs/s, commits, elapsed).
fn enqueue(store: &Arc<SqliteStore>, total: usize, submitters: usize) -> (f64, u64, Duration) {
    let before = store.writer_stats();
    let start = Instant::now();
    let per = total / submitters;
    let threads: Vec<_> = (0..submitters)
        .map(|t| {
            let store = Arc::clone(store);
            std::thread::spawn(move || {
                for i in 0..per {
                    store.enqueue(submission(t * per + i, 10)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = start.elapsed();
    let commits = store.writer_stats().commits - before.commits;
    (
        (per * submitters) as f64 / elapsed.as_secs_f64(),
        commits,
        elapsed,
    )
}

/// The alternative design: the body in a file of its own (written and
/// synced with its directory) and only the row in the database.
fn enqueue_with_files(
    store: &Arc<SqliteStore>,
    dir: &std::path::Path,
    total: usize,
    submitters: usize,
) -> f64 {
    let files = dir.join("bodies");
    std::fs::create_dir_all(&files).unwrap();
    let start = Instant::now();
    let per = total / submitters;
    std::thread::scope(|s| {
        for t in 0..submitters {
            let (store, files) = (Arc::clone(store), &files);
            s.spawn(move || {
                let d = std::fs::File::open(files).unwrap();
                for i in 0..per {
                    let mut f = std::fs::File::create(files.join(format!("{t}-{i}"))).unwrap();
                    f.write_all(&body()).unwrap();
                    f.sync_all().unwrap();
                    d.sync_all().unwrap();
                    let mut sub = submission(t * per + i, 10);
                    sub.body.clear();
                    store.enqueue(sub).unwrap();
                }
            });
        }
    });
    (per * submitters) as f64 / start.elapsed().as_secs_f64()
}

/// Claims, begins and completes (delivered) everything due; returns rows/s.
fn drain(store: &SqliteStore, workers: usize) -> (f64, usize) {
    let start = Instant::now();
    let done = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for w in 0..workers {
            let done = &done;
            s.spawn(move || {
                let node = format!("w{w}");
                loop {
                    let batches = store
                        .claim(ClaimRequest {
                            node: node.clone(),
                            lease: Duration::from_secs(300),
                            max_batches: 32,
                            domain: None,
                            skip_domains: vec![],
                        })
                        .unwrap();
                    if batches.is_empty() {
                        return;
                    }
                    let ids: Vec<i64> = batches
                        .iter()
                        .flat_map(|b| b.rows.iter().map(|r| r.id))
                        .collect();
                    store.begin_attempt(&node, &ids).unwrap();
                    let completions = ids
                        .iter()
                        .map(|id| Completion {
                            id: *id,
                            outcome: Outcome::Delivered,
                            result: AttemptResult {
                                code: 250,
                                ..AttemptResult::default()
                            },
                            dialed_ips: Default::default(),
                            dsn_msg_id: 0,
                        })
                        .collect();
                    store.complete(completions).unwrap();
                    done.fetch_add(ids.len(), std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    let n = done.into_inner();
    (n as f64 / start.elapsed().as_secs_f64(), n)
}

fn fsync_rate(dir: &std::path::Path) -> f64 {
    let mut f = std::fs::File::create(dir.join("fsync")).unwrap();
    let block = [7u8; 4096];
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(1) {
        f.write_all(&block).unwrap();
        f.sync_all().unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// A file per message: create, write 1 KiB, fsync the file and the directory.
fn file_per_message(dir: &std::path::Path, total: usize, writers: usize) -> f64 {
    let sub = dir.join("files");
    std::fs::create_dir_all(&sub).unwrap();
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..writers {
            let sub = &sub;
            s.spawn(move || {
                let d = std::fs::File::open(sub).unwrap();
                for i in 0..total / writers {
                    let mut f = std::fs::File::create(sub.join(format!("{w}-{i}"))).unwrap();
                    f.write_all(&body()).unwrap();
                    f.sync_all().unwrap();
                    d.sync_all().unwrap();
                }
            });
        }
    });
    total as f64 / start.elapsed().as_secs_f64()
}

/// Runs this program under strace for `total` enqueues from `submitters`
/// and returns the number of sync calls, or `None` without strace.
fn sync_calls(total: usize, submitters: usize) -> Option<u64> {
    let exe = std::env::current_exe().ok()?;
    let out = tempfile::NamedTempFile::new().ok()?;
    let status = std::process::Command::new("strace")
        .args([
            "-f",
            "-c",
            "-e",
            "trace=fsync,fdatasync,sync_file_range,syncfs",
            "-o",
        ])
        .arg(out.path())
        .arg(&exe)
        .args(["enqueue", &total.to_string(), &submitters.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let text = std::fs::read_to_string(out.path()).ok()?;
    let total_line = text.lines().find(|l| l.trim_end().ends_with("total"))?;
    total_line.split_whitespace().nth(3)?.parse().ok()
}

/// Files opened with O_SYNC or O_DSYNC during a short enqueue run.
fn sync_opens() -> Option<usize> {
    let exe = std::env::current_exe().ok()?;
    let out = tempfile::NamedTempFile::new().ok()?;
    std::process::Command::new("strace")
        .args(["-f", "-e", "trace=open,openat", "-o"])
        .arg(out.path())
        .arg(&exe)
        .args(["enqueue", "256", "8"])
        .stdout(std::process::Stdio::null())
        .status()
        .ok()?;
    let text = std::fs::read_to_string(out.path()).ok()?;
    Some(
        text.lines()
            .filter(|l| l.contains("O_SYNC") || l.contains("O_DSYNC"))
            .count(),
    )
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.first().map(String::as_str) == Some("enqueue") {
        let total = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
        let submitters = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(&dir));
        let (rate, commits, _) = enqueue(&store, total, submitters);
        println!(
            "enqueued {total} from {submitters} submitters: {rate:.0} msgs/s, {commits} commits"
        );
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    println!("queue store benchmark, {:?}", SystemTime::now());
    println!(
        "disk ceiling: append 4 KiB + fsync: {:.0}/s",
        fsync_rate(dir.path())
    );
    for writers in [1, 8] {
        println!(
            "file per message (1 KiB, file + dir fsync), {writers} writers: {:.0} msgs/s",
            file_per_message(dir.path(), 1000, writers)
        );
    }
    println!();
    println!("| submitters | messages | msgs/s | commits | commits/s | rows/commit |");
    println!("|---|---|---|---|---|---|");
    for (submitters, total) in [(1, 2_000), (8, 8_000), (64, 32_000)] {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(&dir));
        let (rate, commits, elapsed) = enqueue(&store, total, submitters);
        println!(
            "| {submitters} | {total} | {rate:.0} | {commits} | {:.0} | {:.1} |",
            commits as f64 / elapsed.as_secs_f64(),
            total as f64 / commits.max(1) as f64
        );
    }
    for submitters in [1, 8, 64] {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(&dir));
        let total = 500 * submitters.min(16);
        let files = enqueue_with_files(&store, dir.path(), total, submitters);
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(&dir));
        let (blobs, _, _) = enqueue(&store, total, submitters);
        println!(
            "{submitters} submitters, same run: body in a file + row {files:.0} msgs/s, body as BLOB {blobs:.0} msgs/s"
        );
    }
    println!();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    enqueue(&store, 20_000, 64);
    for workers in [1, 4] {
        let before = store.writer_stats().commits;
        let (rate, n) = drain(&store, workers);
        let commits = store.writer_stats().commits - before;
        println!(
            "claim+begin+complete, {workers} workers: {rate:.0} rows/s ({n} rows, {commits} commits)"
        );
        if workers == 1 {
            enqueue(&store, 20_000, 64);
        }
    }
    // The same with a backlog of 100,000 rows due in the next hour.
    enqueue(&store, 100_000, 64);
    let in_an_hour = SystemTime::now() + Duration::from_secs(3600);
    store
        .next_attempt_set(&Filter::default(), in_an_hour)
        .unwrap();
    enqueue(&store, 20_000, 64);
    let start = Instant::now();
    let (rate, n) = drain(&store, 4);
    println!(
        "claim+begin+complete, 4 workers, 100,000 rows due later: {rate:.0} rows/s ({n} rows in {:.1}s)",
        start.elapsed().as_secs_f64()
    );
    let (rate, _, _) = enqueue(&store, 8_000, 8);
    println!("enqueue, 8 submitters, 100,000 rows queued: {rate:.0} msgs/s");

    println!();
    for submitters in [1, 8, 64] {
        match sync_calls(4096, submitters) {
            Some(n) => println!(
                "sync calls (fsync, fdatasync, sync_file_range, syncfs), 4096 enqueues, {submitters} submitters: {n} = {:.3} per message",
                n as f64 / 4096.0
            ),
            None => println!("sync calls: strace not available"),
        }
    }
    if let Some(n) = sync_opens() {
        println!("files opened O_SYNC/O_DSYNC: {n}");
    }
}
