//! A scripted fake SMTP server over an in-memory pipe.
//!
//! A test lists what the server sends and what it expects to receive; the
//! script runs on a tokio task against one end of a [`tokio::io::duplex`]
//! pipe and hands the other end to the client under test. Every byte the
//! client sends is recorded, so tests can assert the exact wire bytes; a step
//! that sees something else fails the script with a message naming the step.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use testkit::script::Script;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let (mut client, server) = Script::new()
//!     .send("220 mx.example ESMTP")
//!     .expect("QUIT")
//!     .send("221 bye")
//!     .start();
//! let mut greeting = [0u8; 22];
//! client.read_exact(&mut greeting).await.unwrap();
//! client.write_all(b"QUIT\r\n").await.unwrap();
//! let transcript = server.finish().await;
//! assert_eq!(transcript.client_text(), "QUIT\r\n");
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

/// Size of each direction's buffer in the in-memory pipe: large enough that a
/// pipelined batch or a whole test message is one write.
pub const PIPE_BUFFER: usize = 1 << 20;

/// How long a step waits for client input before failing the script.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A byte stream the script can run over (plain pipe or TLS on top of it).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed future returned by custom steps.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

type CustomFn = Box<dyn for<'a> FnOnce(&'a mut ServerIo) -> StepFuture<'a> + Send>;

/// One thing the server does.
pub enum Step {
    /// Write these bytes.
    Send(Vec<u8>),
    /// Read one line and compare it (without CRLF) exactly.
    Expect(String),
    /// Read one line and check that it starts with the prefix.
    ExpectPrefix(String),
    /// Read lines the client must have written together: after the first
    /// line arrives, the others must be available without waiting.
    ExpectPipelined(Vec<String>),
    /// Read message data up to and including the terminating ".\r\n" line and
    /// compare all of it (dot-stuffed, as on the wire).
    ReadData(Vec<u8>),
    /// Read a BDAT command line (compared exactly) and then its chunk,
    /// whose size comes from the line, and compare the chunk.
    ReadBdat {
        /// The expected command line, e.g. "BDAT 5 LAST".
        line: String,
        /// The expected chunk.
        chunk: Vec<u8>,
    },
    /// Do the server side of a TLS handshake.
    StartTls(Arc<rustls::ServerConfig>),
    /// Run arbitrary server logic, e.g. a SASL exchange.
    Custom(CustomFn),
    /// Wait this long (tokio time; use with paused time in timeout tests).
    Sleep(Duration),
    /// Close the connection.
    Close,
    /// Expect the client to close the connection (end of input).
    ExpectClosed,
    /// Send nothing more; wait until the client closes its end.
    Hang,
}

impl Step {
    fn describe(&self) -> String {
        match self {
            Step::Send(bytes) => format!("send {:?}", String::from_utf8_lossy(bytes)),
            Step::Expect(line) => format!("expect {line:?}"),
            Step::ExpectPrefix(prefix) => format!("expect prefix {prefix:?}"),
            Step::ExpectPipelined(lines) => format!("expect pipelined {lines:?}"),
            Step::ReadData(_) => "read DATA".to_string(),
            Step::ReadBdat { line, .. } => format!("read {line:?} and its chunk"),
            Step::StartTls(_) => "TLS handshake".to_string(),
            Step::Custom(_) => "custom step".to_string(),
            Step::Sleep(d) => format!("sleep {d:?}"),
            Step::Close => "close".to_string(),
            Step::ExpectClosed => "expect the client to close".to_string(),
            Step::Hang => "hang".to_string(),
        }
    }
}

/// What passed over the connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    /// Every byte the client sent (decrypted, after STARTTLS).
    pub client: Vec<u8>,
    /// Every byte the server sent.
    pub server: Vec<u8>,
    /// The AUTH exchanges run by [`Script::serve_auth`] steps.
    pub auth: Vec<crate::auth::AuthRecord>,
}

impl Transcript {
    /// The client's bytes as text (lossy).
    pub fn client_text(&self) -> String {
        String::from_utf8_lossy(&self.client).into_owned()
    }

    /// The server's bytes as text (lossy).
    pub fn server_text(&self) -> String {
        String::from_utf8_lossy(&self.server).into_owned()
    }
}

/// The server's end of the connection, given to custom steps.
pub struct ServerIo {
    stream: Option<Box<dyn Io>>,
    buf: Vec<u8>,
    transcript: Transcript,
    tls_exporter: Option<Vec<u8>>,
    tls: bool,
}

impl ServerIo {
    fn stream(&mut self) -> Result<&mut Box<dyn Io>, String> {
        self.stream
            .as_mut()
            .ok_or_else(|| "the connection is gone after a failed TLS handshake".to_string())
    }

    /// Reads more input; Ok(false) at end of input.
    async fn fill(&mut self) -> Result<bool, String> {
        let mut chunk = vec![0u8; 64 * 1024];
        let stream = self.stream()?;
        let n = match tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk)).await {
            Err(_) => return Err(format!("no input from the client for {READ_TIMEOUT:?}")),
            // A TLS peer that just drops the connection: end of input too.
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Ok(Err(err)) => return Err(format!("reading from the client: {err}")),
            Ok(Ok(n)) => n,
        };
        let got = chunk.get(..n).unwrap_or_default();
        self.buf.extend_from_slice(got);
        self.transcript.client.extend_from_slice(got);
        Ok(n > 0)
    }

    /// Reads one line and returns it without its line ending (CRLF or LF).
    pub async fn read_line(&mut self) -> Result<String, String> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return String::from_utf8(line)
                    .map_err(|err| format!("client sent a line that is not UTF-8: {err}"));
            }
            if !self.fill().await? {
                return Err(format!(
                    "client closed the connection (unterminated input: {:?})",
                    String::from_utf8_lossy(&self.buf)
                ));
            }
        }
    }

    /// Takes a complete line from the buffer, reading only what is already
    /// available from the client (no waiting).
    async fn read_line_now(&mut self) -> Result<Option<String>, String> {
        loop {
            if self.buf.contains(&b'\n') {
                return self.read_line().await.map(Some);
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let Some(stream) = self.stream.as_mut() else {
                return Ok(None);
            };
            // A zero timeout still polls the read once.
            match tokio::time::timeout(Duration::ZERO, stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => {
                    let got = chunk.get(..n).unwrap_or_default();
                    self.buf.extend_from_slice(got);
                    self.transcript.client.extend_from_slice(got);
                }
                _ => return Ok(None),
            }
        }
    }

    /// Reads exactly `n` bytes.
    pub async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, String> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(format!(
                    "client closed the connection after {} of {n} bytes",
                    self.buf.len()
                ));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads message data up to and including the line holding a lone ".".
    pub async fn read_data(&mut self) -> Result<Vec<u8>, String> {
        loop {
            let end = if self.buf.starts_with(b".\r\n") {
                Some(3)
            } else {
                find(&self.buf, b"\r\n.\r\n").map(|pos| pos + 5)
            };
            if let Some(end) = end {
                return Ok(self.buf.drain(..end).collect());
            }
            if !self.fill().await? {
                return Err(format!(
                    "client closed the connection during DATA after {:?}",
                    String::from_utf8_lossy(&self.buf)
                ));
            }
        }
    }

    /// Writes bytes to the client.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.transcript.server.extend_from_slice(bytes);
        let stream = self.stream()?;
        stream
            .write_all(bytes)
            .await
            .map_err(|err| format!("writing to the client: {err}"))?;
        stream
            .flush()
            .await
            .map_err(|err| format!("flushing to the client: {err}"))
    }

    /// Writes reply lines, each followed by CRLF.
    pub async fn reply(&mut self, text: &str) -> Result<(), String> {
        self.write(lines_to_wire(text).as_slice()).await
    }

    /// Does the server side of a TLS handshake on the connection.
    pub async fn starttls(&mut self, config: Arc<rustls::ServerConfig>) -> Result<(), String> {
        if !self.buf.is_empty() {
            return Err(format!(
                "client sent data before the TLS handshake: {:?}",
                String::from_utf8_lossy(&self.buf)
            ));
        }
        let stream = self
            .stream
            .take()
            .ok_or_else(|| "no connection for the TLS handshake".to_string())?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let tls = acceptor
            .accept(stream)
            .await
            .map_err(|err| format!("server TLS handshake: {err}"))?;
        let (_, conn) = tls.get_ref();
        self.tls_exporter = if conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
            conn.export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
                .ok()
        } else {
            None
        };
        self.stream = Some(Box::new(tls));
        self.tls = true;
        Ok(())
    }

    /// Whether a TLS handshake was done on this connection.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The tls-exporter channel binding (RFC 9266) of the TLS session, when it is TLS 1.3.
    pub fn tls_exporter(&self) -> Option<&[u8]> {
        self.tls_exporter.as_deref()
    }

    /// Closes the connection.
    pub async fn close(&mut self) {
        if let Some(mut stream) = self.stream.take() {
            let _ = stream.shutdown().await;
        }
    }

    /// Waits until the client closes its end (or the read timeout passes in
    /// real time, which fails).
    pub async fn expect_closed(&mut self) -> Result<(), String> {
        if !self.buf.is_empty() {
            return Err(format!(
                "expected the client to close, got {:?}",
                String::from_utf8_lossy(&self.buf)
            ));
        }
        if self.fill().await? {
            return Err(format!(
                "expected the client to close, got {:?}",
                String::from_utf8_lossy(&self.buf)
            ));
        }
        Ok(())
    }

    async fn hang(&mut self) -> Result<(), String> {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(());
            };
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => {
                    let got = chunk.get(..n).unwrap_or_default();
                    self.transcript.client.extend_from_slice(got);
                }
            }
        }
    }

    async fn run(&mut self, step: Step) -> Result<(), String> {
        match step {
            Step::Send(bytes) => self.write(&bytes).await,
            Step::Expect(want) => {
                let got = self.read_line().await?;
                if got != want {
                    return Err(format!("expected line {want:?}, got {got:?}"));
                }
                Ok(())
            }
            Step::ExpectPrefix(prefix) => {
                let got = self.read_line().await?;
                if !got.starts_with(&prefix) {
                    return Err(format!(
                        "expected a line starting with {prefix:?}, got {got:?}"
                    ));
                }
                Ok(())
            }
            Step::ExpectPipelined(lines) => {
                for (index, want) in lines.iter().enumerate() {
                    let got = if index == 0 {
                        self.read_line().await?
                    } else {
                        self.read_line_now().await?.ok_or_else(|| {
                            format!(
                                "pipelined line {} ({want:?}) was not sent with the first one",
                                index + 1
                            )
                        })?
                    };
                    if &got != want {
                        return Err(format!(
                            "pipelined line {}: expected {want:?}, got {got:?}",
                            index + 1
                        ));
                    }
                }
                Ok(())
            }
            Step::ReadData(want) => {
                let got = self.read_data().await?;
                if got != want {
                    return Err(format!(
                        "DATA differs:\n  expected {:?}\n  got      {:?}",
                        String::from_utf8_lossy(&want),
                        String::from_utf8_lossy(&got)
                    ));
                }
                Ok(())
            }
            Step::ReadBdat { line, chunk } => {
                let got = self.read_line().await?;
                if got != line {
                    return Err(format!("expected BDAT line {line:?}, got {got:?}"));
                }
                let size: usize = got
                    .split(' ')
                    .nth(1)
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("no chunk size in {got:?}"))?;
                let data = self.read_exact(size).await?;
                if data != chunk {
                    return Err(format!(
                        "BDAT chunk differs:\n  expected {:?}\n  got      {:?}",
                        String::from_utf8_lossy(&chunk),
                        String::from_utf8_lossy(&data)
                    ));
                }
                Ok(())
            }
            Step::StartTls(config) => self.starttls(config).await,
            Step::Custom(f) => f(self).await,
            Step::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Step::Close => {
                self.close().await;
                Ok(())
            }
            Step::ExpectClosed => self.expect_closed().await,
            Step::Hang => self.hang().await,
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// "a\nb" → "a\r\nb\r\n".
fn lines_to_wire(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 4);
    for line in text.split('\n') {
        out.extend_from_slice(line.strip_suffix('\r').unwrap_or(line).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A list of steps for the fake server.
#[derive(Default)]
pub struct Script {
    steps: Vec<Step>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Script {
        Script::default()
    }

    /// Adds a step.
    pub fn step(mut self, step: Step) -> Script {
        self.steps.push(step);
        self
    }

    /// Sends reply lines: "250-a\n250 b" is sent as "250-a\r\n250 b\r\n".
    pub fn send(self, text: &str) -> Script {
        self.step(Step::Send(lines_to_wire(text)))
    }

    /// Sends bytes exactly as given.
    pub fn send_raw(self, bytes: &[u8]) -> Script {
        self.step(Step::Send(bytes.to_vec()))
    }

    /// Expects one line (without CRLF), exactly.
    pub fn expect(self, line: &str) -> Script {
        self.step(Step::Expect(line.to_string()))
    }

    /// Expects one line starting with `prefix`.
    pub fn expect_prefix(self, prefix: &str) -> Script {
        self.step(Step::ExpectPrefix(prefix.to_string()))
    }

    /// Expects several lines the client pipelined, in order: once the first
    /// arrives, the rest must be there without waiting (a client that waits
    /// for a reply or writes later lines separately fails the step).
    pub fn expect_pipelined(self, lines: &[&str]) -> Script {
        self.step(Step::ExpectPipelined(
            lines.iter().map(|l| (*l).to_string()).collect(),
        ))
    }

    /// Reads DATA content through the final ".\r\n" and compares it.
    pub fn read_data(self, wire: &[u8]) -> Script {
        self.step(Step::ReadData(wire.to_vec()))
    }

    /// Reads a BDAT line and its chunk and compares both.
    pub fn read_bdat(self, line: &str, chunk: &[u8]) -> Script {
        self.step(Step::ReadBdat {
            line: line.to_string(),
            chunk: chunk.to_vec(),
        })
    }

    /// Does a server-side TLS handshake.
    pub fn starttls(self, config: Arc<rustls::ServerConfig>) -> Script {
        self.step(Step::StartTls(config))
    }

    /// Runs custom server logic, e.g. a SASL exchange:
    /// `.custom(|io| Box::pin(async move { io.read_line().await.map(drop) }))`.
    pub fn custom<F>(self, f: F) -> Script
    where
        F: for<'a> FnOnce(&'a mut ServerIo) -> StepFuture<'a> + Send + 'static,
    {
        self.step(Step::Custom(Box::new(f)))
    }

    /// Runs the server side of AUTH (see [`crate::auth::serve_auth`]) and
    /// records the outcome in [`Transcript::auth`].
    pub fn serve_auth(self, server: crate::auth::AuthServer) -> Script {
        self.custom(move |io| {
            Box::pin(async move {
                let record = crate::auth::serve_auth(io, &server).await?;
                io.transcript.auth.push(record);
                Ok(())
            })
        })
    }

    /// Waits (tokio time).
    pub fn sleep(self, d: Duration) -> Script {
        self.step(Step::Sleep(d))
    }

    /// Closes the connection.
    pub fn close(self) -> Script {
        self.step(Step::Close)
    }

    /// Expects the client to close the connection.
    pub fn expect_closed(self) -> Script {
        self.step(Step::ExpectClosed)
    }

    /// Sends nothing more and waits for the client to go away.
    pub fn hang(self) -> Script {
        self.step(Step::Hang)
    }

    /// Starts the server on a tokio task; returns the client's end of the pipe.
    pub fn start(self) -> (DuplexStream, ScriptHandle) {
        let (client, server) = tokio::io::duplex(PIPE_BUFFER);
        let handle = self.start_on(Box::new(server));
        (client, handle)
    }

    /// Runs the script over a given stream (e.g. an accepted TCP connection).
    pub fn start_on(self, stream: Box<dyn Io>) -> ScriptHandle {
        let task = tokio::spawn(async move {
            let mut io = ServerIo {
                stream: Some(stream),
                buf: Vec::new(),
                transcript: Transcript::default(),
                tls_exporter: None,
                tls: false,
            };
            let count = self.steps.len();
            for (index, step) in self.steps.into_iter().enumerate() {
                let what = step.describe();
                if let Err(message) = io.run(step).await {
                    return Err(ScriptFailure {
                        message: format!("script step {}/{count} ({what}): {message}", index + 1),
                        transcript: io.transcript,
                    });
                }
            }
            io.close().await;
            Ok(io.transcript)
        });
        ScriptHandle { task }
    }
}

/// Why a script failed, with what was exchanged until then.
#[derive(Debug)]
pub struct ScriptFailure {
    /// Which step failed and how.
    pub message: String,
    /// What passed over the connection until the failure.
    pub transcript: Transcript,
}

/// The running script.
pub struct ScriptHandle {
    task: JoinHandle<Result<Transcript, ScriptFailure>>,
}

impl ScriptHandle {
    /// Waits for the script to end; panics with the failing step and the
    /// transcript when it did not run as written.
    pub async fn finish(self) -> Transcript {
        match self.result().await {
            Ok(transcript) => transcript,
            Err(failure) => panic!(
                "{}\n--- client sent:\n{}\n--- server sent:\n{}",
                failure.message,
                failure.transcript.client_text(),
                failure.transcript.server_text()
            ),
        }
    }

    /// Waits for the script to end and returns its outcome.
    pub async fn result(self) -> Result<Transcript, ScriptFailure> {
        match self.task.await {
            Ok(outcome) => outcome,
            Err(err) => Err(ScriptFailure {
                message: format!("script task failed: {err}"),
                transcript: Transcript::default(),
            }),
        }
    }
}
