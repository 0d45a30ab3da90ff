//! Group commit: one thread owns the write connection, takes every request
//! waiting in its channel, runs them in one transaction (each inside its own
//! savepoint, so a failing request is rolled back alone), commits once, and
//! only then answers each request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rusqlite::Connection;

use crate::store::StoreError;

/// Called after the commit with the commit's error, if any.
type Reply = Box<dyn FnOnce(Option<&str>) + Send>;

/// One write request waiting for the writer thread.
trait Request: Send {
    /// Runs inside the batch; says whether it succeeded and how to answer
    /// once the batch is committed.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Reply);
    /// Answers without running (the transaction could not begin).
    fn refuse(self: Box<Self>, reason: &str);
    /// Whether losing this write in a power failure is harmless (leases).
    fn relaxed(&self) -> bool;
}

type Job = Box<dyn Request>;

struct Pending<T, F> {
    f: F,
    relaxed: bool,
    answer: SyncSender<Result<T, StoreError>>,
}

impl<T, F> Request for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Reply) {
        let Pending { f, answer, .. } = *self;
        let result = f(conn);
        let ok = result.is_ok();
        let reply: Reply = Box::new(move |commit_error| {
            let out = match commit_error {
                Some(reason) => Err(StoreError::Commit(reason.to_string())),
                None => result,
            };
            // The caller may have given up; nothing to do then.
            let _ = answer.send(out);
        });
        (ok, reply)
    }

    fn refuse(self: Box<Self>, reason: &str) {
        let _ = self
            .answer
            .send(Err(StoreError::Commit(reason.to_string())));
    }

    fn relaxed(&self) -> bool {
        self.relaxed
    }
}

/// The most requests one transaction takes, so one commit does not delay
/// its first request without bound.
const MAX_BATCH: usize = 512;

/// Prepared statements kept by the writer connection.
const STATEMENT_CACHE: usize = 128;

/// Counters of the writer, for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: u64,
    /// Requests run.
    pub requests: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    requests: AtomicU64,
    sent: AtomicU64,
}

pub(crate) struct Writer {
    sender: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl Writer {
    pub(crate) fn start(conn: Connection) -> Result<Writer, std::io::Error> {
        // Every store operation's statements stay prepared: the default
        // cache (16) is smaller than the set one busy writer cycles through.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let (sender, receiver) = sync_channel::<Job>(4096);
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("queue-writer".into())
            .spawn(move || run(conn, receiver, &thread_counters))?;
        Ok(Writer {
            sender: Some(sender),
            thread: Some(thread),
            counters,
        })
    }

    pub(crate) fn stats(&self) -> WriterStats {
        WriterStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` in the next group transaction and returns its result once
    /// the transaction is committed durably.
    pub(crate) fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(f, false)
    }

    /// Like `write`, for writes whose loss in a power failure is harmless
    /// (leases: the node that held them is gone too). A batch made only of
    /// such writes is committed without waiting for the disk; the next
    /// durable commit syncs it along, since the WAL is written in order.
    pub(crate) fn write_relaxed<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(f, true)
    }

    fn submit<T, F>(&self, f: F, relaxed: bool) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, rx) = sync_channel::<Result<T, StoreError>>(1);
        let job: Job = Box::new(Pending { f, answer, relaxed });
        let sender = self.sender.as_ref().ok_or(StoreError::WriterGone)?;
        sender.send(job).map_err(|_| StoreError::WriterGone)?;
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the thread after it finishes its batch.
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(conn: Connection, receiver: Receiver<Job>, counters: &Counters) {
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let count = jobs.len();
        let relaxed = jobs.iter().all(|j| j.relaxed());
        if relaxed {
            set_synchronous(&conn, "NORMAL");
        }
        let mut replies = Vec::with_capacity(count);
        if let Err(e) = exec(&conn, "BEGIN IMMEDIATE") {
            let reason = format!("begin: {e}");
            for job in jobs {
                job.refuse(&reason);
            }
            if relaxed {
                set_synchronous(&conn, "FULL");
            }
            continue;
        }
        for job in jobs {
            if let Err(e) = exec(&conn, "SAVEPOINT req") {
                tracing::error!(target: "queue", error = %e, "savepoint failed");
            }
            // A request that panics is rolled back alone; dropping its reply
            // channel tells its caller, and the batch goes on.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&conn)));
            let (ok, reply) = match outcome {
                Ok((ok, reply)) => (ok, Some(reply)),
                Err(_) => {
                    tracing::error!(target: "queue", "a store request panicked; rolled back");
                    (false, None)
                }
            };
            let end = if ok {
                exec(&conn, "RELEASE req")
            } else {
                exec(&conn, "ROLLBACK TO req").and_then(|()| exec(&conn, "RELEASE req"))
            };
            if let Err(e) = end {
                tracing::error!(target: "queue", error = %e, "ending savepoint failed");
            }
            replies.extend(reply);
        }
        let commit_error = exec(&conn, "COMMIT").err().map(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            format!("{e}")
        });
        if relaxed {
            set_synchronous(&conn, "FULL");
        }
        counters
            .commits
            .fetch_add(u64::from(commit_error.is_none()), Ordering::Relaxed);
        counters.requests.fetch_add(count as u64, Ordering::Relaxed);
        tracing::trace!(target: "queue", requests = count, "group commit");
        for reply in replies {
            reply(commit_error.as_deref());
        }
    }
}

/// Runs one statement from the cache (not parsed again per request).
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn set_synchronous(conn: &Connection, level: &str) {
    if let Err(e) = conn.execute_batch(&format!("PRAGMA synchronous = {level}")) {
        tracing::error!(target: "queue", error = %e, level, "setting synchronous failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    fn writer() -> (tempfile::TempDir, Writer, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER)")
            .unwrap();
        (dir, Writer::start(conn).unwrap(), path)
    }

    fn insert(w: &Writer, x: i64, fail: bool) -> Result<(), StoreError> {
        w.write(move |c| {
            c.execute("INSERT INTO t (x) VALUES (?1)", [x]).unwrap();
            if fail {
                Err(StoreError::NotFound {
                    what: format!("row {x}"),
                })
            } else {
                Ok(())
            }
        })
    }

    #[test]
    fn failing_request_in_a_batch_is_rolled_back_alone() {
        let (_dir, w, path) = writer();
        let w = Arc::new(w);
        let (go, wait) = channel::<()>();
        let (started_tx, started) = channel::<()>();
        // The first request holds the writer until the others are queued,
        // so they all land in the second transaction.
        let first = {
            let w = Arc::clone(&w);
            std::thread::spawn(move || {
                w.write(move |c| {
                    started_tx.send(()).unwrap();
                    wait.recv().unwrap();
                    c.execute("INSERT INTO t (x) VALUES (0)", [])
                        .map(|_| ())
                        .map_err(|e| StoreError::Commit(e.to_string()))
                })
            })
        };
        started.recv().unwrap();
        let others: Vec<_> = [(1, false), (2, true), (3, false)]
            .into_iter()
            .map(|(x, fail)| {
                let w = Arc::clone(&w);
                std::thread::spawn(move || insert(&w, x, fail))
            })
            .collect();
        while w.counters.sent.load(Ordering::SeqCst) < 4 {
            std::thread::yield_now();
        }
        go.send(()).unwrap();
        first.join().unwrap().unwrap();
        let results: Vec<bool> = others
            .into_iter()
            .map(|h| h.join().unwrap().is_ok())
            .collect();
        assert_eq!(results, vec![true, false, true]);
        assert_eq!(
            w.stats(),
            WriterStats {
                commits: 2,
                requests: 4
            }
        );
        let conn = Connection::open(&path).unwrap();
        let mut st = conn.prepare("SELECT x FROM t ORDER BY x").unwrap();
        let xs: Vec<i64> = st
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(xs, vec![0, 1, 3]);
    }

    #[test]
    fn panicking_request_fails_alone_and_the_writer_keeps_going() {
        let (_dir, w, _path) = writer();
        let r: Result<(), StoreError> = w.write(|_| panic!("boom"));
        assert!(matches!(r, Err(StoreError::WriterGone)));
        insert(&w, 1, false).unwrap();
        assert_eq!(w.stats().requests, 2);
    }

    #[test]
    fn writer_answers_in_one_commit_per_idle_request() {
        let (_dir, w, _path) = writer();
        insert(&w, 1, false).unwrap();
        insert(&w, 2, true).unwrap_err();
        assert_eq!(
            w.stats(),
            WriterStats {
                commits: 2,
                requests: 2
            }
        );
    }
}
