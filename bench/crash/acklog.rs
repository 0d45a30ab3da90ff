//! The harness's own record of acknowledged numbers: appended by one thread
//! and fsynced after every batch, so what it says survives the harness too.

use std::io::Write as _;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

pub struct AckLog {
    tx: Option<Sender<u64>>,
    thread: Option<JoinHandle<()>>,
}

impl AckLog {
    pub fn create(path: &Path) -> AckLog {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("acklog".into())
            .spawn(move || run(file, rx))
            .expect("acklog thread");
        AckLog {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Records `seq`; written and synced shortly after.
    pub fn record(&self, seq: u64) {
        if let Some(tx) = &self.tx {
            tx.send(seq).expect("acklog thread gone");
        }
    }

    /// Writes and syncs what is pending and stops the thread.
    pub fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            t.join().expect("acklog thread panicked");
        }
    }
}

fn run(mut file: std::fs::File, rx: Receiver<u64>) {
    let mut buf = String::new();
    while let Ok(first) = rx.recv() {
        buf.clear();
        buf.push_str(&format!("{first}\n"));
        while let Ok(seq) = rx.try_recv() {
            buf.push_str(&format!("{seq}\n"));
        }
        file.write_all(buf.as_bytes()).expect("acked.log write");
        file.sync_data().expect("acked.log fdatasync");
    }
}
