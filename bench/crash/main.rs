//! Crash harness for `postel serve`: SIGKILL under submission load, restart
//! on the same data directory, repeat, drain the queue, and leave a record
//! that `bench/crash/check.py` compares with what an `smtp-sink -d` received.
//! Run it through `bench/crash/crash.sh`, which builds everything, starts the
//! sink and runs the check.
//!
//! ```text
//! crash_harness --postel target/release/postel --dir RUN --sink-port 2525 \
//!     [--rounds 50] [--conns 8] [--rate 150] [--min-ms 150] [--max-ms 1500] [--seed N]
//! ```
//!
//! What it writes into RUN:
//! - `postel.toml`, `data/` (the server's), `postel.log` (its stderr, all runs);
//! - `acked.log`: one sequence number per line for every message whose final
//!   DATA reply was 250, appended and fsynced by one thread as replies come in;
//! - `kills.log`: `round kill_ms restart_ms` per SIGKILL (ms since the epoch);
//! - `outcomes.tsv`: `seq status` for every number handed out, status one of
//!   `acked`, `refused` (a non-2xx reply: not queued), `unknown` (the final
//!   dot was sent, the reply never came: the kill fell in between),
//!   `unsent` (the connection broke before the final dot);
//! - `run.json`: the run's parameters and counters.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod acklog;
mod args;
mod load;
mod server;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use args::Args;
use load::Load;
use server::{Server, epoch_ms};

/// xorshift64*: enough randomness for kill points, reproducible from `--seed`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi.saturating_sub(lo) + 1)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let mut rng = Rng(args.seed | 1);
    std::fs::create_dir_all(&args.dir).expect("run dir");
    let submit_port = free_port();
    let config = server::write_config(&args.dir, submit_port, args.sink_port, args.conns);
    let mut server = Server::new(args.postel.clone(), config, submit_port, &args.dir);
    server.start().await;

    let load = Arc::new(Load::new(
        submit_port,
        args.conns,
        args.rate,
        &args.dir.join("acked.log"),
    ));
    let load_tasks = load.clone().spawn();

    let mut kills = std::fs::File::create(args.dir.join("kills.log")).expect("kills.log");
    let started = Instant::now();
    eprintln!(
        "crash: {} rounds, {} connections at {}/s, kill {}..{} ms after each start (seed {})",
        args.rounds, args.conns, args.rate, args.min_ms, args.max_ms, args.seed
    );
    for round in 1..=args.rounds {
        let wait = rng.between(args.min_ms, args.max_ms);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let kill_ms = server.kill().await;
        // Sometimes stay down a little, so clients see refused connections too.
        let down = rng.between(0, 150);
        tokio::time::sleep(Duration::from_millis(down)).await;
        let restart_ms = epoch_ms();
        server.start().await;
        writeln!(kills, "{round} {kill_ms} {restart_ms}").expect("kills.log");
        kills.sync_data().expect("kills.log sync");
        if round % 10 == 0 || round == args.rounds {
            let c = load.counts();
            eprintln!(
                "crash: round {round}/{}: {:.0}s, {} acked, {} unknown, {} refused",
                args.rounds,
                started.elapsed().as_secs_f64(),
                c.acked,
                c.unknown,
                c.refused
            );
        }
    }
    // A little more load on the last incarnation, then stop submitting.
    tokio::time::sleep(Duration::from_millis(args.max_ms)).await;
    load.stop.store(true, Ordering::SeqCst);
    for t in load_tasks {
        let _ = t.await;
    }
    load.finish_log();
    let load_secs = started.elapsed().as_secs_f64();

    // Drain: interrupted attempts wait for their first backoff (7.5 min);
    // `queue schedule --now` makes them due so the run ends in minutes.
    let drain_start = Instant::now();
    let mut last_nudge: Option<Instant> = None;
    let mut remaining;
    loop {
        if last_nudge.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            server.admin(&["queue", "schedule", "--all", "--now"]);
            last_nudge = Some(Instant::now());
        }
        remaining = server.queue_len(1);
        if remaining != 0 && last_nudge.is_some_and(|t| t.elapsed() < Duration::from_millis(500)) {
            eprintln!(
                "crash: draining, {} rows queued after {:.0}s",
                server.queue_len(1_000_000),
                drain_start.elapsed().as_secs_f64()
            );
        }
        if remaining == 0 || drain_start.elapsed() > Duration::from_secs(args.drain_secs) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let drain_secs = drain_start.elapsed().as_secs_f64();
    let remaining = server.queue_len(1_000_000);
    server.stop().await;

    let counts = load.counts();
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(args.dir.join("outcomes.tsv")).expect("outcomes.tsv"),
    );
    for (i, s) in load.statuses().iter().enumerate() {
        writeln!(out, "{} {}", i + 1, s.as_str()).expect("outcomes.tsv");
    }
    out.flush().expect("outcomes.tsv");
    let run = serde_json::json!({
        "rounds": args.rounds,
        "conns": args.conns,
        "rate": args.rate,
        "seed": args.seed,
        "min_ms": args.min_ms,
        "max_ms": args.max_ms,
        "issued": counts.issued,
        "acked": counts.acked,
        "unknown": counts.unknown,
        "refused": counts.refused,
        "unsent": counts.unsent,
        "load_secs": load_secs,
        "drain_secs": drain_secs,
        "queue_left": remaining,
        "submit_port": submit_port,
        "sink_port": args.sink_port,
    });
    std::fs::write(
        args.dir.join("run.json"),
        serde_json::to_string_pretty(&run).expect("json"),
    )
    .expect("run.json");
    eprintln!(
        "crash: load {load_secs:.0}s: {} numbers, {} acked, {} unknown, {} refused, {} unsent; drain {drain_secs:.0}s, {remaining} left in the queue",
        counts.issued, counts.acked, counts.unknown, counts.refused, counts.unsent
    );
    if remaining != 0 {
        eprintln!("crash: FAIL: the queue did not drain");
        std::process::exit(1);
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}
