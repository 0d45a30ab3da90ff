//! Parsing speed over the vendored bounce corpus on one thread:
//! `cargo bench -p dsn --bench parse`. Prints messages per second for
//! `dsn::analyze` (every file) and `dsn::parse` (every file, most of which
//! are not strict DSNs and are refused early).

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn corpus() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/eml");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect()
}

fn run(name: &str, messages: &[Vec<u8>], f: impl Fn(&[u8])) {
    // warm up, then run whole passes for at least two seconds
    for m in messages {
        f(m);
    }
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        for m in messages {
            f(m);
        }
        count += messages.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    println!(
        "{name}: {count} messages in {secs:.2} s = {:.0} messages/s ({:.1} MB/s, {} files, one thread)",
        count as f64 / secs,
        (bytes as f64 * count as f64 / messages.len() as f64) / secs / 1e6,
        messages.len()
    );
}

fn main() {
    let messages = corpus();
    run("analyze (tolerant)", &messages, |m| {
        black_box(dsn::analyze(black_box(m)));
    });
    run("parse (strict)", &messages, |m| {
        let _ = black_box(dsn::parse(black_box(m)));
    });
}
