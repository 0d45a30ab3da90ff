//! Command-line arguments (`--name value` pairs; `--bench` from cargo is ignored).

use std::path::PathBuf;

pub struct Args {
    /// The `postel` binary (release build).
    pub postel: PathBuf,
    /// Run directory for the config, data and records.
    pub dir: PathBuf,
    /// Port of the smtp-sink the smarthost route points at.
    pub sink_port: u16,
    /// SIGKILL rounds.
    pub rounds: u32,
    /// Submitting connections.
    pub conns: usize,
    /// Submissions per second over all connections.
    pub rate: u64,
    /// Shortest and longest time from a start to the next kill.
    pub min_ms: u64,
    pub max_ms: u64,
    /// Seed of the kill points.
    pub seed: u64,
    /// Give up waiting for the queue to drain after this long.
    pub drain_secs: u64,
}

impl Args {
    pub fn parse() -> Args {
        let mut a = Args {
            postel: PathBuf::from("target/release/postel"),
            dir: PathBuf::new(),
            sink_port: 0,
            rounds: 50,
            conns: 8,
            rate: 150,
            min_ms: 150,
            max_ms: 1500,
            seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1),
            drain_secs: 300,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            if flag == "--bench" {
                continue;
            }
            let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
            let num = |what: &str| -> u64 {
                v.parse()
                    .unwrap_or_else(|_| panic!("{what}: {v:?} is not a number"))
            };
            match flag.as_str() {
                "--postel" => a.postel = PathBuf::from(&v),
                "--dir" => a.dir = PathBuf::from(&v),
                "--sink-port" => a.sink_port = num("--sink-port") as u16,
                "--rounds" => a.rounds = num("--rounds") as u32,
                "--conns" => a.conns = num("--conns") as usize,
                "--rate" => a.rate = num("--rate"),
                "--min-ms" => a.min_ms = num("--min-ms"),
                "--max-ms" => a.max_ms = num("--max-ms"),
                "--seed" => a.seed = num("--seed"),
                "--drain-secs" => a.drain_secs = num("--drain-secs"),
                other => panic!("unknown argument {other}"),
            }
        }
        assert!(!a.dir.as_os_str().is_empty(), "--dir is required");
        assert!(a.sink_port != 0, "--sink-port is required");
        assert!(
            a.conns > 0 && a.rate > 0,
            "--conns and --rate must be positive"
        );
        assert!(a.min_ms <= a.max_ms, "--min-ms must not exceed --max-ms");
        a
    }
}
