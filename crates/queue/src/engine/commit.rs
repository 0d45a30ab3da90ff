//! Group completion: the outcomes of deliveries that end while an earlier
//! outcome is being recorded go to the store together in one
//! [`Store::complete`] call, so a burst of finished deliveries costs one
//! blocking hop and one request in the writer's transaction instead of one
//! each. Each delivery still waits until its own outcome is durable.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::blocking;
use crate::model::{Completed, Completion};
use crate::store::{Store, StoreError};

/// The most completions one store call takes.
const MAX_JOBS: usize = 1024;

struct Job {
    completions: Vec<Completion>,
    answer: oneshot::Sender<Result<Vec<Completed>, StoreError>>,
}

/// Collects completions from delivery tasks for the recording task.
pub(crate) struct Completer {
    tx: mpsc::UnboundedSender<Job>,
    /// Until [`Completer::start`] takes it.
    rx: Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
}

impl Completer {
    pub fn new() -> Completer {
        let (tx, rx) = mpsc::unbounded_channel();
        Completer {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }

    /// Starts the recording task (once; later calls return `None`).
    pub fn start(&self, store: Arc<dyn Store>) -> Option<JoinHandle<()>> {
        let rx = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        Some(tokio::spawn(record(store, rx)))
    }

    /// Records `completions` and returns their results in order, once
    /// durable. Without a running recording task (not started, or its
    /// engine stopped) the store is called directly.
    pub async fn complete(
        &self,
        store: &Arc<dyn Store>,
        completions: Vec<Completion>,
    ) -> Result<Vec<Completed>, StoreError> {
        let started = self.rx.lock().unwrap_or_else(|e| e.into_inner()).is_none();
        let completions = if started {
            let (answer, done) = oneshot::channel();
            match self.tx.send(Job {
                completions,
                answer,
            }) {
                Ok(()) => {
                    return done.await.unwrap_or_else(|_| {
                        Err(StoreError::Commit(
                            "the engine stopped before the outcome was recorded".into(),
                        ))
                    });
                }
                Err(mpsc::error::SendError(job)) => job.completions,
            }
        } else {
            completions
        };
        let store = store.clone();
        blocking(move || store.complete(completions)).await
    }
}

async fn record(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut jobs = Vec::new();
    while rx.recv_many(&mut jobs, MAX_JOBS).await > 0 {
        let taken = std::mem::take(&mut jobs);
        let (mut all, mut answers) = (Vec::new(), Vec::with_capacity(taken.len()));
        for job in taken {
            answers.push((job.completions.len(), job.answer));
            all.extend(job.completions);
        }
        let store = store.clone();
        match blocking(move || store.complete(all)).await {
            Ok(done) => {
                let mut done = done.into_iter();
                for (n, answer) in answers {
                    let _ = answer.send(Ok(done.by_ref().take(n).collect()));
                }
            }
            Err(err) => {
                let reason = err.to_string();
                for (_, answer) in answers {
                    let _ = answer.send(Err(StoreError::Commit(reason.clone())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::model::{AttemptResult, ClaimRequest, Outcome, Submission};
    use crate::{Options, SqliteStore};

    fn delivered(id: i64) -> Completion {
        Completion {
            id,
            outcome: Outcome::Delivered,
            result: AttemptResult {
                success: true,
                code: 250,
                ..AttemptResult::default()
            },
            dialed_ips: BTreeMap::new(),
            dsn_msg_id: 0,
        }
    }

    #[tokio::test]
    async fn completions_waiting_together_are_recorded_in_one_store_request() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(SqliteStore::open(dir.path().join("q.db"), Options::default()).unwrap());
        let mut ids = Vec::new();
        for to in ["a@one.example", "b@two.example", "c@three.example"] {
            let sub = Submission::new(
                "acct",
                smtp::Address::parse("s@example.org").ok(),
                vec![smtp::Address::parse(to).unwrap()],
                b"Subject: t\r\n\r\nx\r\n".to_vec(),
            );
            ids.extend(store.enqueue(sub).unwrap());
        }
        let claimed = store
            .claim_and_begin(ClaimRequest {
                node: "n".into(),
                lease: Duration::from_secs(300),
                max_batches: 10,
                domain: None,
                skip_domains: vec![],
            })
            .unwrap();
        assert_eq!(claimed.len(), 3);

        // Three deliveries hand in their outcomes before the recording
        // task runs: it takes them all at once.
        let completer = Completer::new();
        let mut answers = Vec::new();
        for id in &ids {
            let (answer, done) = oneshot::channel();
            let job = Job {
                completions: vec![delivered(*id)],
                answer,
            };
            assert!(completer.tx.send(job).is_ok());
            answers.push(done);
        }
        let before = store.writer_stats();
        let task = completer.start(store.clone()).unwrap();
        for done in answers {
            assert_eq!(done.await.unwrap().unwrap(), vec![Completed::Delivered]);
        }
        let after = store.writer_stats();
        assert_eq!(after.requests - before.requests, 1);
        assert_eq!(after.commits - before.commits, 1);
        assert_eq!(store.get(ids[0]).unwrap(), None);
        task.abort();
    }
}
