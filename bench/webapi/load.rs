//! Web API load generator for bench/webapi/webapi.sh: CONNS keep-alive
//! HTTP/1.1 connections, each sending Send calls back to back (JSON body,
//! HTTP Basic), one recipient per message spread over DOMAINS domains, a
//! text body of SIZE bytes. Prints one `key=value` line: calls, failed,
//! rate (calls/s), p50_ms, p99_ms, elapsed.
//!
//! A minimal HTTP/1.1 client on purpose: the figure should be the server's,
//! not a client library's.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Args {
    addr: String,
    path: String,
    /// base64 of "user:password" (the script computes it).
    auth: String,
    conns: usize,
    messages: u64,
    domains: u64,
    size: usize,
    tag: String,
}

fn args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:1080".into(),
        path: "/webapi/v0/Send".into(),
        auth: String::new(),
        conns: 16,
        messages: 10_000,
        domains: 10,
        size: 1024,
        tag: "w".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--bench" {
            continue;
        }
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--addr" => a.addr = v,
            "--path" => a.path = v,
            "--auth" => a.auth = v,
            "--conns" => a.conns = v.parse().expect("--conns"),
            "--messages" => a.messages = v.parse().expect("--messages"),
            "--domains" => a.domains = v.parse().expect("--domains"),
            "--size" => a.size = v.parse().expect("--size"),
            "--tag" => a.tag = v,
            _ => panic!("unknown argument {k}"),
        }
    }
    a
}

/// Reads one response; returns its status.
async fn response(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<u16> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':')
            && n.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).await?;
    if status != 200 {
        eprintln!("HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(status)
}

#[tokio::main]
async fn main() {
    let a = Arc::new(args());
    let auth = a.auth.clone();
    let text: String = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\n"
        .repeat(a.size / 64 + 1)
        .chars()
        .take(a.size)
        .collect();
    let text = Arc::new(serde_json::to_string(&text).unwrap());
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.conns {
        let (a, next, failed, text) = (a.clone(), next.clone(), failed.clone(), text.clone());
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let stream = TcpStream::connect(&a.addr).await.expect("connect");
            stream.set_nodelay(true).ok();
            let (r, mut w) = stream.into_split();
            let mut r = BufReader::new(r);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= a.messages {
                    break;
                }
                let body = format!(
                    "{{\"To\":[{{\"Address\":\"rcpt{i}@d{}.bench.test\"}}],\"Subject\":\"bench {} {i}\",\"Text\":{text}}}",
                    i % a.domains,
                    a.tag
                );
                let req = format!(
                    "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    a.path,
                    a.addr,
                    body.len()
                );
                let t = Instant::now();
                w.write_all(req.as_bytes()).await.expect("write");
                match response(&mut r).await {
                    Ok(200) => lat.push(t.elapsed()),
                    Ok(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("connection: {e}");
                        failed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            lat
        }));
    }
    let mut lat: Vec<Duration> = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    println!(
        "calls={} failed={} rate={:.0} p50_ms={:.2} p99_ms={:.2} elapsed={:.3}",
        lat.len(),
        failed.load(Ordering::Relaxed),
        lat.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        elapsed
    );
}
