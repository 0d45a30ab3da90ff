//! An in-process SMTP sink for examples and tests.
//!
//! [`Sink`] listens on a loopback port, accepts every message and keeps it in
//! memory. It speaks enough ESMTP for a real client: PIPELINING (replies are
//! buffered and flushed only when no more pipelined input is waiting),
//! 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, DSN, SIZE and CHUNKING (BDAT).
//! It has no TLS and no AUTH; the scripted server in this crate covers those.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use testkit::sink::Sink;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let sink = Sink::start().await?;
//! let mut conn = tokio::net::TcpStream::connect(sink.addr()).await?;
//! conn.write_all(b"EHLO client\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n").await?;
//! conn.write_all(b"Subject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n").await?;
//! let mut transcript = String::new();
//! conn.read_to_string(&mut transcript).await?;
//! assert!(transcript.contains("250 2.0.0 message 1 accepted"));
//!
//! let messages = sink.messages();
//! assert_eq!(messages[0].mail_from, "<a@example.org>");
//! assert_eq!(messages[0].rcpt_to, vec!["<b@example.net>".to_string()]);
//! assert_eq!(messages[0].data, b"Subject: hi\r\n\r\n.dot\r\n");
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Largest message the sink announces and accepts (SIZE).
pub const MAX_MESSAGE_SIZE: usize = 100 * 1024 * 1024;

/// Longest command line the sink accepts before giving up on a connection.
const MAX_LINE: usize = 4096;

/// One message as the sink received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The argument of EHLO or HELO.
    pub helo: String,
    /// Everything after `MAIL FROM:`, parameters included, e.g. `<a@b> SIZE=10`.
    pub mail_from: String,
    /// Everything after `RCPT TO:` for each recipient, in order.
    pub rcpt_to: Vec<String>,
    /// The message with dot-stuffing removed (DATA) or as sent (BDAT).
    pub data: Vec<u8>,
    /// Whether the message came with BDAT rather than DATA.
    pub chunked: bool,
}

/// Options for [`Sink::start_with`].
#[derive(Clone, Debug)]
pub struct SinkOptions {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Host name in the greeting and the EHLO reply.
    pub hostname: String,
    /// Announce CHUNKING, so clients may use BDAT.
    pub chunking: bool,
    /// Announce PIPELINING.
    pub pipelining: bool,
    /// Keep received messages in memory. Turn off for load tests; the count is
    /// kept either way.
    pub keep_messages: bool,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            hostname: "sink.localhost".to_string(),
            chunking: true,
            pipelining: true,
            keep_messages: true,
        }
    }
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<ReceivedMessage>>,
    count: Mutex<usize>,
    arrived: Notify,
}

/// A running sink. Dropping it stops accepting connections.
pub struct Sink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: JoinHandle<()>,
}

impl Sink {
    /// Starts a sink with default options on a free loopback port.
    pub async fn start() -> std::io::Result<Sink> {
        Sink::start_with(SinkOptions::default()).await
    }

    /// Starts a sink with the given options.
    pub async fn start_with(options: SinkOptions) -> std::io::Result<Sink> {
        let listener = TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let options = Arc::new(options);
        let acceptor = tokio::spawn({
            let shared = shared.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(stream, options.clone(), shared.clone()));
                }
            }
        });
        Ok(Sink {
            addr,
            shared,
            acceptor,
        })
    }

    /// The address the sink listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The messages received so far, in order of arrival.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.shared.messages.lock().expect("sink lock").clone()
    }

    /// How many messages were accepted so far.
    pub fn count(&self) -> usize {
        *self.shared.count.lock().expect("sink lock")
    }

    /// Waits until at least `n` messages have arrived or `timeout` passes, and
    /// returns the count reached.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            let count = self.count();
            if count >= n {
                return count;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.count();
            }
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// Per-connection state of an SMTP transaction.
#[derive(Default)]
struct Transaction {
    helo: String,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    chunks: Vec<u8>,
    /// DATA was answered with 354; the input is message text up to ".".
    in_data: bool,
}

async fn serve(mut stream: TcpStream, options: Arc<SinkOptions>, shared: Arc<Shared>) {
    let mut input = Vec::with_capacity(64 * 1024);
    let mut output = Vec::with_capacity(4096);
    let mut tx = Transaction::default();
    output.extend_from_slice(format!("220 {} ESMTP test sink\r\n", options.hostname).as_bytes());
    let mut read_buf = vec![0u8; 64 * 1024];
    'connection: loop {
        // Answer everything that is complete in the input; flush only when the
        // client has nothing more queued, so pipelined commands get one write.
        loop {
            match next_step(&mut input, &mut tx, &options, &shared, &mut output) {
                Step::NeedInput => break,
                Step::Continue => continue,
                Step::Close => {
                    let _ = stream.write_all(&output).await;
                    break 'connection;
                }
            }
        }
        if !output.is_empty() {
            if stream.write_all(&output).await.is_err() {
                break;
            }
            output.clear();
        }
        match stream.read(&mut read_buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => input.extend_from_slice(&read_buf[..n]),
        }
    }
}

enum Step {
    NeedInput,
    Continue,
    Close,
}

fn next_step(
    input: &mut Vec<u8>,
    tx: &mut Transaction,
    options: &SinkOptions,
    shared: &Shared,
    out: &mut Vec<u8>,
) -> Step {
    if tx.in_data {
        let Some(body_len) = find_data_end(input) else {
            if input.len() > MAX_MESSAGE_SIZE + MAX_LINE {
                out.extend_from_slice(b"552 5.3.4 message too big\r\n");
                return Step::Close;
            }
            return Step::NeedInput;
        };
        let data = unstuff(&input[..body_len]);
        input.drain(..body_len + 3);
        tx.in_data = false;
        accept(tx, data, false, options, shared, out);
        return Step::Continue;
    }
    let Some(end) = input.windows(2).position(|w| w == b"\r\n") else {
        if input.len() > MAX_LINE {
            out.extend_from_slice(b"500 5.5.2 line too long\r\n");
            return Step::Close;
        }
        return Step::NeedInput;
    };
    let line = String::from_utf8_lossy(&input[..end]).into_owned();
    let verb = line
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let arg = line.get(verb.len()..).unwrap_or_default().trim_start();

    // BDAT consumes more than the command line; handle it first.
    if verb == "BDAT" {
        let mut words = arg.split_ascii_whitespace();
        let size = words.next().and_then(|s| s.parse::<usize>().ok());
        let last = words.next().is_some_and(|w| w.eq_ignore_ascii_case("LAST"));
        let Some(size) = size.filter(|s| *s <= MAX_MESSAGE_SIZE) else {
            input.drain(..end + 2);
            out.extend_from_slice(b"501 5.5.4 bad BDAT size\r\n");
            return Step::Close;
        };
        if input.len() < end + 2 + size {
            return Step::NeedInput;
        }
        let chunk: Vec<u8> = input.drain(..end + 2 + size).skip(end + 2).collect();
        if tx.mail_from.is_none() || tx.rcpt_to.is_empty() {
            out.extend_from_slice(b"503 5.5.1 no valid recipients\r\n");
            return Step::Continue;
        }
        tx.chunks.extend_from_slice(&chunk);
        if last {
            let data = std::mem::take(&mut tx.chunks);
            accept(tx, data, true, options, shared, out);
        } else {
            out.extend_from_slice(format!("250 2.0.0 {size} octets received\r\n").as_bytes());
        }
        return Step::Continue;
    }

    input.drain(..end + 2);
    match verb.as_str() {
        "EHLO" => {
            tx.helo = arg.to_string();
            tx.mail_from = None;
            tx.rcpt_to.clear();
            let mut lines = vec![options.hostname.clone()];
            if options.pipelining {
                lines.push("PIPELINING".into());
            }
            lines.push(format!("SIZE {MAX_MESSAGE_SIZE}"));
            lines.extend(["8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN"].map(String::from));
            if options.chunking {
                lines.push("CHUNKING".into());
            }
            let last = lines.len() - 1;
            for (i, l) in lines.iter().enumerate() {
                let sep = if i == last { ' ' } else { '-' };
                out.extend_from_slice(format!("250{sep}{l}\r\n").as_bytes());
            }
        }
        "HELO" => {
            tx.helo = arg.to_string();
            out.extend_from_slice(format!("250 {}\r\n", options.hostname).as_bytes());
        }
        "MAIL" if arg.len() >= 5 && arg[..5].eq_ignore_ascii_case("FROM:") => {
            if tx.mail_from.is_some() {
                out.extend_from_slice(b"503 5.5.1 nested MAIL command\r\n");
            } else {
                tx.mail_from = Some(arg[5..].trim_start().to_string());
                out.extend_from_slice(b"250 2.1.0 sender ok\r\n");
            }
        }
        "RCPT" if arg.len() >= 3 && arg[..3].eq_ignore_ascii_case("TO:") => {
            if tx.mail_from.is_none() {
                out.extend_from_slice(b"503 5.5.1 need MAIL first\r\n");
            } else {
                tx.rcpt_to.push(arg[3..].trim_start().to_string());
                out.extend_from_slice(b"250 2.1.5 recipient ok\r\n");
            }
        }
        "RSET" => {
            tx.mail_from = None;
            tx.rcpt_to.clear();
            tx.chunks.clear();
            out.extend_from_slice(b"250 2.0.0 reset\r\n");
        }
        "DATA" if tx.mail_from.is_none() || tx.rcpt_to.is_empty() => {
            out.extend_from_slice(b"503 5.5.1 no valid recipients\r\n");
        }
        "DATA" => {
            tx.in_data = true;
            out.extend_from_slice(b"354 2.0.0 go ahead\r\n");
        }
        "NOOP" => out.extend_from_slice(b"250 2.0.0 ok\r\n"),
        "QUIT" => {
            out.extend_from_slice(b"221 2.0.0 bye\r\n");
            return Step::Close;
        }
        _ => out.extend_from_slice(b"500 5.5.2 command not recognized\r\n"),
    }
    Step::Continue
}

/// Records a complete message and writes the final reply.
fn accept(
    tx: &mut Transaction,
    data: Vec<u8>,
    chunked: bool,
    options: &SinkOptions,
    shared: &Shared,
    out: &mut Vec<u8>,
) {
    let message = ReceivedMessage {
        helo: tx.helo.clone(),
        mail_from: tx.mail_from.take().unwrap_or_default(),
        rcpt_to: std::mem::take(&mut tx.rcpt_to),
        data,
        chunked,
    };
    let number = {
        let mut count = shared.count.lock().expect("sink lock");
        *count += 1;
        *count
    };
    if options.keep_messages {
        shared.messages.lock().expect("sink lock").push(message);
    }
    shared.arrived.notify_waiters();
    out.extend_from_slice(format!("250 2.0.0 message {number} accepted\r\n").as_bytes());
}

/// Length of the message body before the terminating `.\r\n` line, if complete.
fn find_data_end(body: &[u8]) -> Option<usize> {
    if body.starts_with(b".\r\n") {
        return Some(0);
    }
    body.windows(5)
        .position(|w| w == b"\r\n.\r\n")
        .map(|pos| pos + 2)
}

/// Removes dot-stuffing: a line starting with ".." loses its first dot.
fn unstuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut at_line_start = true;
    for (i, &b) in body.iter().enumerate() {
        if at_line_start && b == b'.' && body.get(i + 1) == Some(&b'.') {
            at_line_start = false;
            continue;
        }
        at_line_start = b == b'\n';
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn converse(sink: &Sink, input: &[u8]) -> String {
        let mut conn = TcpStream::connect(sink.addr()).await.unwrap();
        conn.write_all(input).await.unwrap();
        let mut transcript = String::new();
        conn.read_to_string(&mut transcript).await.unwrap();
        transcript
    }

    #[tokio::test]
    async fn pipelined_transaction_gets_replies_in_order() {
        let sink = Sink::start().await.unwrap();
        let transcript = converse(
            &sink,
            b"EHLO c\r\nMAIL FROM:<> SIZE=5\r\nRCPT TO:<x@y> NOTIFY=NEVER\r\nDATA\r\nab\r\n.\r\nQUIT\r\n",
        )
        .await;
        let codes: Vec<&str> = transcript
            .lines()
            .filter(|l| l.as_bytes().get(3) == Some(&b' '))
            .map(|l| &l[..3])
            .collect();
        assert_eq!(codes, ["220", "250", "250", "250", "354", "250", "221"]);
        let m = &sink.messages()[0];
        assert_eq!(m.mail_from, "<> SIZE=5");
        assert_eq!(m.rcpt_to, ["<x@y> NOTIFY=NEVER"]);
        assert_eq!(m.data, b"ab\r\n");
        assert!(!m.chunked);
    }

    #[tokio::test]
    async fn bdat_chunks_are_joined() {
        let sink = Sink::start().await.unwrap();
        let transcript = converse(
            &sink,
            b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3\r\n.a\nBDAT 2 LAST\r\nb\n\r\nQUIT\r\n",
        )
        .await;
        assert!(transcript.contains("250 2.0.0 3 octets received\r\n"));
        assert!(transcript.contains("250 2.0.0 message 1 accepted\r\n"));
        let m = &sink.messages()[0];
        assert_eq!(m.data, b".a\nb\n");
        assert!(m.chunked);
    }

    #[tokio::test]
    async fn data_without_recipients_is_refused() {
        let sink = Sink::start().await.unwrap();
        let transcript = converse(&sink, b"HELO c\r\nMAIL FROM:<a@b>\r\nDATA\r\nQUIT\r\n").await;
        assert!(transcript.contains("503 5.5.1 no valid recipients\r\n"));
        assert_eq!(sink.count(), 0);
    }

    #[test]
    fn unstuff_removes_one_leading_dot_per_line() {
        assert_eq!(unstuff(b"..a\r\n...b\r\nc.\r\n"), b".a\r\n..b\r\nc.\r\n");
    }

    #[test]
    fn data_end_is_found_at_start_or_after_a_line() {
        assert_eq!(find_data_end(b".\r\n"), Some(0));
        assert_eq!(find_data_end(b"x\r\n.\r\n"), Some(3));
        assert_eq!(find_data_end(b"x\r\n.y\r\n"), None);
    }
}
