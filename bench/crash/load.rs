//! The load generator: `conns` connections, each a lock-step SMTP loop
//! (no pipelining) submitting uniquely numbered messages at an even pace,
//! reconnecting whenever the server goes away. Every number handed out gets
//! a status; the 250s also go to the fsynced ack log.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::acklog::AckLog;

/// Recipient domains; the config routes them all to the sink.
pub const DOMAINS: u64 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The connection broke before the final dot was sent: cannot be queued.
    Unsent,
    /// The final dot was sent, no reply came: may or may not be queued.
    Unknown,
    /// 250 to the final dot.
    Acked,
    /// A non-2xx reply: not queued.
    Refused,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unsent => "unsent",
            Status::Unknown => "unknown",
            Status::Acked => "acked",
            Status::Refused => "refused",
        }
    }
}

#[derive(Debug, Default)]
pub struct Counts {
    pub issued: usize,
    pub acked: usize,
    pub unknown: usize,
    pub refused: usize,
    pub unsent: usize,
}

pub struct Load {
    port: u16,
    conns: usize,
    rate: u64,
    pub stop: AtomicBool,
    statuses: Mutex<Vec<Status>>,
    acklog: Mutex<AckLog>,
    refusals: Mutex<Vec<String>>,
}

type Conn = BufReader<TcpStream>;

/// Why a session ended.
enum Broken {
    Io,
    Closing(String),
}

impl Load {
    pub fn new(port: u16, conns: usize, rate: u64, acked: &std::path::Path) -> Load {
        Load {
            port,
            conns,
            rate,
            stop: AtomicBool::new(false),
            statuses: Mutex::new(Vec::new()),
            acklog: Mutex::new(AckLog::create(acked)),
            refusals: Mutex::new(Vec::new()),
        }
    }

    pub fn spawn(self: std::sync::Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        (0..self.conns)
            .map(|i| {
                let me = self.clone();
                tokio::spawn(async move { me.connection(i).await })
            })
            .collect()
    }

    pub fn statuses(&self) -> Vec<Status> {
        self.statuses.lock().unwrap().clone()
    }

    pub fn counts(&self) -> Counts {
        let s = self.statuses.lock().unwrap();
        let mut c = Counts {
            issued: s.len(),
            ..Counts::default()
        };
        for st in s.iter() {
            match st {
                Status::Acked => c.acked += 1,
                Status::Unknown => c.unknown += 1,
                Status::Refused => c.refused += 1,
                Status::Unsent => c.unsent += 1,
            }
        }
        c
    }

    pub fn finish_log(&self) {
        self.acklog.lock().unwrap().finish();
        let r = self.refusals.lock().unwrap();
        if !r.is_empty() {
            eprintln!("crash: {} refusals, first: {}", r.len(), r[0]);
        }
    }

    fn issue(&self) -> u64 {
        let mut s = self.statuses.lock().unwrap();
        s.push(Status::Unsent);
        s.len() as u64
    }

    fn set(&self, seq: u64, status: Status) {
        let mut s = self.statuses.lock().unwrap();
        s[(seq - 1) as usize] = status;
    }

    async fn connection(&self, index: usize) {
        let every = Duration::from_micros(1_000_000 * self.conns as u64 / self.rate);
        // Spread the connections over one interval.
        tokio::time::sleep(every * index as u32 / self.conns as u32).await;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.stop.load(Ordering::SeqCst) {
            let mut conn = match self.open().await {
                Ok(c) => c,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            loop {
                if self.stop.load(Ordering::SeqCst) {
                    let _ = conn.get_mut().write_all(b"QUIT\r\n").await;
                    return;
                }
                tick.tick().await;
                match self.submit(&mut conn, index).await {
                    Ok(()) => {}
                    Err(Broken::Io) => break,
                    Err(Broken::Closing(reply)) => {
                        self.refusals.lock().unwrap().push(reply);
                        break;
                    }
                }
            }
        }
    }

    async fn open(&self) -> Result<Conn, String> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut conn = BufReader::new(stream);
        let greeting = reply(&mut conn).await?;
        if !greeting.starts_with('2') {
            return Err(greeting);
        }
        let ehlo = command(&mut conn, b"EHLO crash-load.example\r\n").await?;
        if !ehlo.starts_with('2') {
            return Err(ehlo);
        }
        Ok(conn)
    }

    /// One transaction; `Ok` when it ended with a reply (250 or not). A
    /// number is handed out once MAIL FROM got its 250, so a connection that
    /// died while idle (the kill came between two messages) uses none.
    async fn submit(&self, conn: &mut Conn, index: usize) -> Result<(), Broken> {
        let r = command(conn, b"MAIL FROM:<app@example.org>\r\n")
            .await
            .map_err(|_| Broken::Io)?;
        if !r.starts_with('2') {
            return self.refused(conn, None, r).await;
        }
        let seq = self.issue();
        let domain = seq % DOMAINS;
        let rcpt = format!("RCPT TO:<r{index}@d{domain}.example>\r\n");
        for cmd in [rcpt.as_bytes(), b"DATA\r\n".as_slice()] {
            let r = command(conn, cmd).await.map_err(|_| Broken::Io)?;
            let want = if cmd == b"DATA\r\n" { '3' } else { '2' };
            if !r.starts_with(want) {
                return self.refused(conn, Some(seq), r).await;
            }
        }
        let message = message(seq, index, domain);
        self.set(seq, Status::Unknown);
        let r = command(conn, message.as_bytes())
            .await
            .map_err(|_| Broken::Io)?;
        if r.starts_with("250") {
            self.set(seq, Status::Acked);
            self.acklog.lock().unwrap().record(seq);
            Ok(())
        } else {
            self.set(seq, Status::Refused);
            if r.starts_with("421") {
                return Err(Broken::Closing(r));
            }
            self.refusals.lock().unwrap().push(r);
            Ok(())
        }
    }

    /// A refusal before the message was sent: not queued; reset and go on,
    /// unless the server is closing the connection.
    async fn refused(
        &self,
        conn: &mut Conn,
        seq: Option<u64>,
        reply: String,
    ) -> Result<(), Broken> {
        if let Some(seq) = seq {
            self.set(seq, Status::Refused);
        }
        if reply.starts_with("421") {
            return Err(Broken::Closing(reply));
        }
        self.refusals.lock().unwrap().push(reply);
        command(conn, b"RSET\r\n").await.map_err(|_| Broken::Io)?;
        Ok(())
    }
}

/// The message with its final dot; the number is in a header and the subject.
pub fn message(seq: u64, index: usize, domain: u64) -> String {
    let mut m = format!(
        "From: <app@example.org>\r\nTo: <r{index}@d{domain}.example>\r\nSubject: crash seq {seq}\r\nMessage-ID: <crash-{seq}@example.org>\r\nX-Crash-Seq: {seq}\r\n\r\n"
    );
    for i in 0..8 {
        m.push_str(&format!(
            "line {i} of message {seq}: the quick brown fox jumps over the lazy dog\r\n"
        ));
    }
    m.push_str(".\r\n");
    m
}

async fn command(conn: &mut Conn, bytes: &[u8]) -> Result<String, String> {
    conn.get_mut()
        .write_all(bytes)
        .await
        .map_err(|e| e.to_string())?;
    reply(conn).await
}

/// Reads one (possibly multiline) reply; returns its last line.
async fn reply(conn: &mut Conn) -> Result<String, String> {
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(30), conn.read_line(&mut line))
            .await
            .map_err(|_| "reply timeout".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return Ok(line.trim_end().to_string());
        }
    }
}
