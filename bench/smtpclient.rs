//! Loopback delivery rate of `smtpclient`, the "ours" column of `bench/smtpclient.sh`.
//!
//! `--conns N` tasks on the multi-thread runtime each open one connection and
//! deliver messages over it until `--messages M` were sent in total (persistent
//! connections, like `smtp-source -d`). Each message has `--rcpts R` recipients and a
//! body of `--size S` bytes in 80-byte lines, like smtp-source's. Every recipient must
//! be accepted, or the program exits non-zero. Prints the rate on stderr.
//!
//! ```text
//! cargo bench --bench smtpclient_bench -- --addr 127.0.0.1:2525 --conns 10 --messages 20000 --size 1024 --rcpts 1
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use smtp::Address;
use smtpclient::dial::{Dialer, TcpDialer};
use smtpclient::{Client, ClientConfig, Envelope, TlsMode};

struct Args {
    addr: SocketAddr,
    conns: usize,
    messages: usize,
    size: usize,
    rcpts: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: "127.0.0.1:2525".parse().unwrap(),
        conns: 1,
        messages: 1000,
        size: 1024,
        rcpts: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue; // added by `cargo bench`
        }
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value.parse().expect("--addr host:port"),
            "--conns" => args.conns = value.parse().expect("--conns number"),
            "--messages" => args.messages = value.parse().expect("--messages number"),
            "--size" => args.size = value.parse().expect("--size bytes"),
            "--rcpts" => args.rcpts = value.parse().expect("--rcpts number"),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(
        args.conns > 0 && args.rcpts > 0,
        "--conns and --rcpts must be positive"
    );
    args
}

/// Headers like smtp-source's, then `size` bytes of 80-byte lines ("1XXX...\r\n").
fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: <src@example.org>\r\nTo: <dst@example.net>\r\nDate: Wed, 25 Nov 2026 12:00:00 +0000\r\nMessage-Id: <bench@example.org>\r\n\r\n".to_vec();
    let mut left = size;
    let mut n = 1usize;
    while left > 0 {
        let line = left.min(80);
        let mut l = if line > 2 {
            let mut s = n.to_string().into_bytes();
            s.truncate(line - 2);
            s.resize(line - 2, b'X');
            s
        } else {
            Vec::new()
        };
        l.extend_from_slice(&b"\r\n"[..line.min(2)]);
        m.extend_from_slice(&l);
        left -= line;
        n += 1;
    }
    if !m.ends_with(b"\r\n") {
        m.extend_from_slice(b"\r\n");
    }
    m
}

fn envelope(rcpts: usize) -> Envelope {
    let from: Address = "src@example.org".parse().unwrap();
    let to = (0..rcpts)
        .map(|i| {
            let local = if i == 0 {
                "dst".to_string()
            } else {
                format!("{}dst", i + 1)
            };
            format!("{local}@example.net").parse::<Address>().unwrap()
        })
        .collect();
    Envelope::new(Some(from), to)
}

async fn worker(
    args: Arc<Args>,
    next: Arc<AtomicUsize>,
    msg: Arc<Vec<u8>>,
    env: Arc<Envelope>,
) -> usize {
    let config = ClientConfig {
        ehlo_name: "bench.postel.test".into(),
        tls: TlsMode::Skip,
        ..ClientConfig::default()
    };
    let stream = TcpDialer::new()
        .dial(args.addr)
        .await
        .expect("connect to sink");
    let mut client = Client::connect(stream, config).await.expect("smtp session");
    let mut sent = 0;
    while next.fetch_add(1, Ordering::Relaxed) < args.messages {
        let d = client.deliver(&env, &msg).await.expect("delivery");
        assert_eq!(
            d.delivered(),
            args.rcpts,
            "not every recipient accepted: {d:?}"
        );
        sent += 1;
    }
    client.quit().await.expect("quit");
    sent
}

fn main() {
    let args = Arc::new(parse_args());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let msg = Arc::new(message(args.size));
    let env = Arc::new(envelope(args.rcpts));
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let sent: usize = rt.block_on(async {
        let tasks: Vec<_> = (0..args.conns)
            .map(|_| tokio::spawn(worker(args.clone(), next.clone(), msg.clone(), env.clone())))
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("worker panicked");
        }
        total
    });
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(sent, args.messages);
    eprintln!(
        "smtpclient: {sent} messages x {} rcpts, {} bytes, {} connections: {:.3}s, {:.0} msgs/s",
        args.rcpts,
        msg.len(),
        args.conns,
        secs,
        sent as f64 / secs
    );
}
