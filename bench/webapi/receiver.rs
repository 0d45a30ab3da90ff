//! Fast webhook receiver for bench/webapi/webapi.sh: answers every POST
//! with 204 at once over keep-alive connections and keeps a count. Every
//! 50 ms it rewrites `--out FILE` with `count=N first=T last=T` (Unix
//! seconds of the first and the latest request).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let mut listen = "127.0.0.1:0".to_string();
    let mut out = "receiver.count".to_string();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--bench" => {}
            "--listen" => listen = it.next().expect("--listen"),
            "--out" => out = it.next().expect("--out"),
            _ => panic!("unknown argument {k}"),
        }
    }
    let listener = TcpListener::bind(&listen).await.expect("bind");
    println!("listening {}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicU64::new(0));
    let first = Arc::new(AtomicU64::new(0));
    let last = Arc::new(AtomicU64::new(0));
    {
        let (count, first, last) = (count.clone(), first.clone(), last.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let line = format!(
                    "count={} first={:.6} last={:.6}\n",
                    count.load(Ordering::Relaxed),
                    first.load(Ordering::Relaxed) as f64 / 1e6,
                    last.load(Ordering::Relaxed) as f64 / 1e6
                );
                let tmp = format!("{out}.tmp");
                if std::fs::write(&tmp, line).is_ok() {
                    let _ = std::fs::rename(&tmp, &out);
                }
            }
        });
    }
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (count, first, last) = (count.clone(), first.clone(), last.clone());
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut r = BufReader::new(r);
            let mut line = String::new();
            loop {
                let mut length = 0usize;
                let mut head = true;
                loop {
                    line.clear();
                    match r.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        if head {
                            continue;
                        }
                        break;
                    }
                    head = false;
                    if let Some((n, v)) = l.split_once(':')
                        && n.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                if r.read_exact(&mut body).await.is_err() {
                    return;
                }
                let t = now_us();
                let _ = first.compare_exchange(0, t, Ordering::Relaxed, Ordering::Relaxed);
                last.store(t, Ordering::Relaxed);
                count.fetch_add(1, Ordering::Relaxed);
                if w.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}
