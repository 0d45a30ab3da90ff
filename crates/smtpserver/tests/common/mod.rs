//! Shared fixtures: a recording handler, test accounts, and a wire client
//! that checks exact server bytes.
#![allow(dead_code)]

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sasl::{CramMd5Credentials, CredentialStore, ScramCredentials, ScramHash};
use smtp::{Address, Reply};
use smtpserver::{
    FixedClock, Handler, Identity, Message, Mode, Peer, SequentialIds, ServeError, Server,
    ServerConfig, Session, SharedCredentials, TlsSettings, extra_metadata, replies,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::task::JoinHandle;

/// 2026-11-25T11:56:40Z.
pub fn fixed_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_607_800)
}

pub const PASSWORD: &str = "correct horse";

/// One account, "alice", with every credential form.
pub struct Accounts {
    sha1: ScramCredentials,
    sha256: ScramCredentials,
    cram: CramMd5Credentials,
}

impl Accounts {
    pub fn new() -> Accounts {
        Accounts {
            sha1: ScramCredentials::generate(PASSWORD, 4096, ScramHash::Sha1).unwrap(),
            sha256: ScramCredentials::generate(PASSWORD, 4096, ScramHash::Sha256).unwrap(),
            cram: CramMd5Credentials::derive(PASSWORD),
        }
    }
}

impl CredentialStore for Accounts {
    fn scram(&self, user: &str, hash: ScramHash) -> Option<ScramCredentials> {
        if user != "alice" {
            return None;
        }
        Some(match hash {
            ScramHash::Sha1 => self.sha1.clone(),
            _ => self.sha256.clone(),
        })
    }

    fn cram_md5(&self, user: &str) -> Option<CramMd5Credentials> {
        (user == "alice").then(|| self.cram.clone())
    }
}

#[derive(Default)]
pub struct Seen {
    pub messages: Vec<(Session, Message)>,
    pub auth_failures: Vec<(String, Option<String>)>,
}

/// Accepts everything it is not told to refuse, and records what it saw.
#[derive(Default)]
pub struct TestHandler {
    pub seen: Mutex<Seen>,
    pub credentials: Option<SharedCredentials>,
    /// Returned by `connect` (trusted networks).
    pub trusted: Option<Identity>,
    /// Inbound: only this recipient domain is local; others are relaying.
    pub local_domain: Option<String>,
    /// Refuse duplicate extra-metadata headers at DATA.
    pub check_extra: bool,
}

impl TestHandler {
    pub fn messages(&self) -> Vec<(Session, Message)> {
        self.seen.lock().unwrap().messages.clone()
    }

    pub fn auth_failures(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().auth_failures.clone()
    }
}

impl Handler for TestHandler {
    async fn connect(&self, _session: &Session) -> Result<Option<Identity>, Reply> {
        Ok(self.trusted.clone())
    }

    async fn credentials(&self, _session: &Session) -> Result<SharedCredentials, Reply> {
        self.credentials
            .clone()
            .ok_or_else(|| replies::reply(454, replies::code(4, 7, 0), "no credentials"))
    }

    async fn auth_failed(&self, _session: &Session, mechanism: &str, username: Option<&str>) {
        self.seen
            .lock()
            .unwrap()
            .auth_failures
            .push((mechanism.to_string(), username.map(str::to_string)));
    }

    async fn rcpt_to(
        &self,
        _session: &Session,
        _envelope: &smtpserver::Envelope,
        to: &Address,
        _params: &smtp::RcptParams,
    ) -> Result<(), Reply> {
        match &self.local_domain {
            Some(local) if to.domain().map(|d| d.ascii()) != Some(local.as_str()) => {
                Err(replies::relay_denied())
            }
            _ => Ok(()),
        }
    }

    async fn data(&self, session: &Session, message: Message) -> Reply {
        if self.check_extra
            && let Err(e) = extra_metadata(&message.data)
        {
            return e.reply();
        }
        let mut seen = self.seen.lock().unwrap();
        seen.messages.push((session.clone(), message));
        replies::ok(&format!("queued as {}", seen.messages.len()))
    }
}

pub fn config(mode: Mode) -> ServerConfig {
    ServerConfig::new("mail.example.org".parse().unwrap(), mode)
}

pub fn peer() -> Peer {
    Peer {
        remote_ip: "192.0.2.10".parse().unwrap(),
        local_ip: Some("192.0.2.1".parse().unwrap()),
    }
}

/// A server with a fixed clock and ids "id1", "id2", ...
pub fn server(config: ServerConfig, handler: Arc<TestHandler>) -> Server<TestHandler> {
    Server::new(config, handler)
        .with_clock(Arc::new(FixedClock(fixed_time())))
        .with_ids(Arc::new(SequentialIds::new("id")))
}

/// TLS settings with a certificate from `ca` for mail.example.org.
pub fn tls_settings(ca: &testkit::tls::TestCa) -> TlsSettings {
    let leaf = ca.leaf(&["mail.example.org"]);
    TlsSettings {
        config: leaf.server_config(),
        end_entity_cert: Some(leaf.cert().to_vec()),
    }
}

pub fn client_tls(ca: &testkit::tls::TestCa) -> tokio_rustls::TlsConnector {
    let config = rustls::ClientConfig::builder_with_provider(testkit::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(ca.root_store())
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The client end, checking exact bytes.
pub struct Wire {
    pub stream: Box<dyn Stream>,
}

const WAIT: Duration = Duration::from_secs(20);

impl Wire {
    pub async fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).await.unwrap();
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads exactly as many bytes as `expected` has and compares.
    pub async fn expect(&mut self, expected: &str) {
        let mut buf = vec![0u8; expected.len()];
        tokio::time::timeout(WAIT, self.stream.read_exact(&mut buf))
            .await
            .expect("timeout waiting for server")
            .unwrap_or_else(|e| panic!("reading {expected:?}: {e}"));
        assert_eq!(String::from_utf8_lossy(&buf), expected);
    }

    /// Reads one line.
    pub async fn line(&mut self) -> String {
        let mut out = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            let n = tokio::time::timeout(WAIT, self.stream.read(&mut byte))
                .await
                .expect("timeout")
                .unwrap();
            assert!(n == 1, "eof after {:?}", String::from_utf8_lossy(&out));
            out.push(byte[0]);
            if out.ends_with(b"\r\n") {
                return String::from_utf8(out).unwrap();
            }
        }
    }

    /// Reads a whole (multi-line) reply.
    pub async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let line = self.line().await;
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    pub async fn expect_closed(&mut self) {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(WAIT, self.stream.read(&mut buf))
            .await
            .expect("timeout")
            .unwrap_or(0);
        assert_eq!(n, 0, "unexpected {:?}", String::from_utf8_lossy(&buf[..n]));
    }

    pub async fn starttls(self, connector: &tokio_rustls::TlsConnector) -> TlsWire {
        let name = rustls_pki_types::ServerName::try_from("mail.example.org").unwrap();
        let stream = connector.connect(name, self.stream).await.unwrap();
        TlsWire { stream }
    }
}

/// A wire after the client side of the TLS handshake, keeping access to
/// the connection for channel binding data.
pub struct TlsWire {
    pub stream: tokio_rustls::client::TlsStream<Box<dyn Stream>>,
}

impl TlsWire {
    pub fn into_wire(self) -> Wire {
        Wire {
            stream: Box::new(self.stream),
        }
    }

    pub fn exporter(&self) -> Vec<u8> {
        let (_, conn) = self.stream.get_ref();
        conn.export_keying_material(vec![0u8; 32], sasl::TLS_EXPORTER_LABEL, None)
            .unwrap()
    }
}

/// Starts `server` on one end of a pipe.
pub fn start(server: Server<TestHandler>) -> (Wire, JoinHandle<Result<(), ServeError>>) {
    let (client, stream) = tokio::io::duplex(1 << 20);
    let task = tokio::spawn(async move { server.serve(stream, peer()).await });
    (
        Wire {
            stream: Box::new(client),
        },
        task,
    )
}

/// Each write call's bytes, in order.
pub type Writes = Arc<Mutex<Vec<Vec<u8>>>>;

/// Like `start`, with every server write recorded separately.
pub fn start_recorded(
    server: Server<TestHandler>,
) -> (Wire, JoinHandle<Result<(), ServeError>>, Writes) {
    let (client, stream) = tokio::io::duplex(1 << 20);
    let writes = Arc::new(Mutex::new(Vec::new()));
    let recorded = Recording {
        inner: stream,
        writes: writes.clone(),
    };
    let task = tokio::spawn(async move { server.serve(recorded, peer()).await });
    (
        Wire {
            stream: Box::new(client),
        },
        task,
        writes,
    )
}

/// A stream that keeps each write call's bytes.
pub struct Recording<S> {
    inner: S,
    writes: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &result {
            let written = buf[..*n].to_vec();
            self.writes.lock().unwrap().push(written);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

pub const GREETING: &str = "220 mail.example.org ESMTP\r\n";

/// The EHLO reply of a default submission server without TLS.
pub const EHLO_PLAIN_SUBMISSION: &str = "250-mail.example.org\r\n\
250-PIPELINING\r\n\
250-SIZE 104857600\r\n\
250-8BITMIME\r\n\
250-SMTPUTF8\r\n\
250-ENHANCEDSTATUSCODES\r\n\
250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5\r\n\
250-FUTURERELEASE 5184000 2027-01-24T11:56:40Z\r\n\
250-LIMITS RCPTMAX=1000\r\n\
250-DSN\r\n\
250 CHUNKING\r\n";

/// A trusted-network identity.
pub fn trusted() -> Option<Identity> {
    Some(Identity {
        account: "app".into(),
        login: None,
    })
}
