//! Submission load generator for `bench/queue.sh`: behaves like Postfix's
//! `smtp-source -d` against Postel's submission listener.
//!
//! `--conns N` tasks each hold one persistent connection and submit messages
//! until `--messages M` were attempted in total. Strictly lock-step: one
//! command, then its reply (no PIPELINING even when offered), written
//! directly over TCP with `smtp::parse_reply`, because `smtpclient` pipelines
//! whenever the server announces it and Postel's submission listener does.
//! Each message has `--rcpts R` recipients spread round-robin over
//! `--domains D` domains (`rcptK@dJ.bench.test`, or `--rcpt-domain` for all)
//! and a body of `--size S` bytes in 80-byte lines. Optional `AUTH PLAIN`
//! (`--auth user:pass`); the bench config uses the trusted-networks option
//! instead. `--holdfor SECS[:SPREAD]` adds FUTURERELEASE `HOLDFOR=`, spread
//! evenly over SECS..SECS+SPREAD across messages.
//!
//! The latency of a message runs from writing MAIL FROM to reading the final
//! reply after the dot. Prints one `key=value` line on stdout:
//! `accepted failed secs rate p50_ms p99_ms max_ms transactions`, where
//! `transactions` is what a sink should count if the queue combines each
//! message's recipients per destination domain.
//!
//! ```text
//! cargo bench --bench queue_loadgen -- --addr 127.0.0.1:2587 --conns 8 --messages 2000
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone)]
struct Args {
    addr: SocketAddr,
    conns: usize,
    messages: usize,
    size: usize,
    rcpts: usize,
    domains: usize,
    rcpt_domain: Option<String>,
    from: String,
    auth: Option<(String, String)>,
    holdfor: Option<(u64, u64)>,
    timeout: Duration,
    tag: String,
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:2587".parse().unwrap(),
        conns: 8,
        messages: 1000,
        size: 1024,
        rcpts: 1,
        domains: 1,
        rcpt_domain: None,
        from: "bench@example.org".into(),
        auth: None,
        holdfor: None,
        timeout: Duration::from_secs(60),
        tag: "m".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--bench" {
            continue;
        }
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--addr" => a.addr = v.parse().expect("--addr ip:port"),
            "--conns" => a.conns = v.parse().expect("--conns N"),
            "--messages" => a.messages = v.parse().expect("--messages N"),
            "--size" => a.size = v.parse().expect("--size BYTES"),
            "--rcpts" => a.rcpts = v.parse().expect("--rcpts N"),
            "--domains" => a.domains = v.parse().expect("--domains N"),
            "--rcpt-domain" => a.rcpt_domain = Some(v),
            "--from" => a.from = v,
            "--tag" => a.tag = v,
            "--timeout" => a.timeout = Duration::from_secs(v.parse().expect("--timeout SECS")),
            "--auth" => {
                let (u, p) = v.split_once(':').expect("--auth user:pass");
                a.auth = Some((u.into(), p.into()));
            }
            "--holdfor" => {
                let (s, spread) = v.split_once(':').unwrap_or((v.as_str(), "0"));
                a.holdfor = Some((
                    s.parse().expect("--holdfor SECS"),
                    spread.parse().expect("SPREAD"),
                ));
            }
            _ => panic!("unknown option {k}"),
        }
    }
    assert!(a.conns > 0 && a.rcpts > 0 && a.domains > 0);
    a
}

fn domain_of(a: &Args, msg: usize, k: usize) -> String {
    match &a.rcpt_domain {
        Some(d) => d.clone(),
        None => format!("d{}.bench.test", (msg * a.rcpts + k) % a.domains),
    }
}

/// 80-byte lines (78 characters + CRLF) up to `size` bytes, like smtp-source.
fn body_lines(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 80);
    let line: Vec<u8> = (0..78u8).map(|i| b'a' + i % 26).chain(*b"\r\n").collect();
    while out.len() + line.len() <= size {
        out.extend_from_slice(&line);
    }
    if out.len() < size {
        let rest = size - out.len();
        out.extend(std::iter::repeat_n(b'x', rest.saturating_sub(2)));
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Conn {
    async fn reply(&mut self) -> anyhow::Result<smtp::Reply> {
        loop {
            if let Some((r, used)) = smtp::parse_reply(&self.buf)? {
                self.buf.drain(..used);
                return Ok(r);
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(self.timeout, self.stream.read(&mut chunk)).await??;
            anyhow::ensure!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
    async fn cmd(&mut self, line: &str) -> anyhow::Result<smtp::Reply> {
        self.stream.write_all(line.as_bytes()).await?;
        self.reply().await
    }
}

fn expect(r: &smtp::Reply, code: u16, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(r.code == code, "{what}: {} {}", r.code, r.lines.join(" / "));
    Ok(())
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    failed: usize,
    transactions: usize,
    last_error: Option<String>,
}

async fn worker(a: Arc<Args>, next: Arc<AtomicUsize>, body: Arc<Vec<u8>>) -> anyhow::Result<Tally> {
    let stream = TcpStream::connect(a.addr).await?;
    stream.set_nodelay(true)?;
    let mut c = Conn {
        stream,
        buf: Vec::new(),
        timeout: a.timeout,
    };
    expect(&c.reply().await?, 220, "greeting")?;
    expect(&c.cmd("EHLO loadgen.bench.test\r\n").await?, 250, "EHLO")?;
    if let Some((u, p)) = &a.auth {
        let creds = base64(format!("\0{u}\0{p}").as_bytes());
        expect(
            &c.cmd(&format!("AUTH PLAIN {creds}\r\n")).await?,
            235,
            "AUTH",
        )?;
    }
    let mut t = Tally::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= a.messages {
            break;
        }
        let mut mail = format!("MAIL FROM:<{}>", a.from);
        if let Some((s, spread)) = a.holdfor {
            let extra = if a.messages > 1 {
                spread * i as u64 / (a.messages as u64 - 1)
            } else {
                0
            };
            mail.push_str(&format!(" HOLDFOR={}", s + extra));
        }
        mail.push_str("\r\n");
        let start = Instant::now();
        let r = c.cmd(&mail).await?;
        if r.code != 250 {
            t.failed += 1;
            t.last_error = Some(format!("MAIL: {} {}", r.code, r.lines.join(" ")));
            expect(&c.cmd("RSET\r\n").await?, 250, "RSET")?;
            continue;
        }
        let mut ok = 0;
        let mut domains = BTreeSet::new();
        for k in 0..a.rcpts {
            let d = domain_of(&a, i, k);
            let r = c.cmd(&format!("RCPT TO:<rcpt{k}@{d}>\r\n")).await?;
            if r.code == 250 {
                ok += 1;
                domains.insert(d);
            } else {
                t.last_error = Some(format!("RCPT: {} {}", r.code, r.lines.join(" ")));
            }
        }
        if ok == 0 {
            t.failed += 1;
            expect(&c.cmd("RSET\r\n").await?, 250, "RSET")?;
            continue;
        }
        expect(&c.cmd("DATA\r\n").await?, 354, "DATA")?;
        let head = format!(
            "From: <{}>\r\nTo: <rcpt0@{}>\r\nSubject: bench {i}\r\nMessage-ID: <{}.{i}@loadgen.bench.test>\r\n\r\n",
            a.from,
            domain_of(&a, i, 0),
            a.tag
        );
        c.stream.write_all(head.as_bytes()).await?;
        c.stream.write_all(&body).await?;
        c.stream.write_all(b".\r\n").await?;
        let r = c.reply().await?;
        if r.code == 250 {
            t.latencies_us.push(start.elapsed().as_micros() as u64);
            t.transactions += domains.len();
        } else {
            t.failed += 1;
            t.last_error = Some(format!("DATA end: {} {}", r.code, r.lines.join(" ")));
        }
    }
    let _ = c.cmd("QUIT\r\n").await;
    Ok(t)
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = Arc::new(parse_args());
    // The body is dot-safe: lines start with letters.
    let body = Arc::new(body_lines(a.size));
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..a.conns {
        tasks.spawn(worker(a.clone(), next.clone(), body.clone()));
    }
    let mut all = Tally::default();
    let mut conn_errors = 0;
    while let Some(r) = tasks.join_next().await {
        match r.expect("worker panicked") {
            Ok(t) => {
                all.latencies_us.extend(t.latencies_us);
                all.failed += t.failed;
                all.transactions += t.transactions;
                if t.last_error.is_some() {
                    all.last_error = t.last_error;
                }
            }
            Err(e) => {
                conn_errors += 1;
                all.last_error = Some(format!("connection: {e:#}"));
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let accepted = all.latencies_us.len();
    if let Some(e) = &all.last_error {
        eprintln!("loadgen: last error: {e}");
    }
    println!(
        "accepted={accepted} failed={} conn_errors={conn_errors} secs={secs:.3} rate={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} transactions={}",
        all.failed,
        accepted as f64 / secs,
        pct(&all.latencies_us, 0.5),
        pct(&all.latencies_us, 0.99),
        pct(&all.latencies_us, 1.0),
        all.transactions
    );
}
