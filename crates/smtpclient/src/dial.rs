//! Connecting to SMTP servers: the pluggable dialer and IP ordering.
//!
//! A [`Dialer`] opens a byte stream to an address: [`TcpDialer`] directly,
//! [`Socks5Dialer`] through a SOCKS5 proxy, or an in-memory pipe in tests.
//! [`dial_host`] tries a host's IPs in order within one connect budget and
//! records the IP that worked in [`DialedIps`], which
//! [`gather_ips`](crate::gather::gather_ips) uses to order the next attempt.
//!
//! ```
//! use std::time::Duration;
//! use smtpclient::dial::{dial_host, DialedIps, TcpDialer};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let port = listener.local_addr().unwrap().port();
//! let host: smtp::Host = "mx.example.com".parse().unwrap();
//! let mut dialed = DialedIps::new();
//! let ips = ["127.0.0.1".parse().unwrap()];
//! let (_stream, ip) = dial_host(&TcpDialer::new(), &host, &ips, port, &mut dialed, Duration::from_secs(5))
//!     .await
//!     .unwrap();
//! assert_eq!(dialed.get(&host), &[ip]);
//! # });
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use dns::BoxFuture;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout_at};

use crate::stream::BoxStream;

/// The reference's connect budget for all IPs of one host together.
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens byte streams to SMTP servers.
pub trait Dialer: Send + Sync {
    /// Connects to `addr`. Timeouts are the caller's business.
    fn dial(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxStream>>;

    /// Connects to a host name, for dialers whose other end resolves names
    /// (a SOCKS5 proxy). The default refuses: direct connections go to IPs
    /// gathered through the DNS resolver, which knows about DNSSEC.
    fn dial_name<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<BoxStream>> {
        Box::pin(async move {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("this dialer cannot resolve {host}:{port}; dial an ip address"),
            ))
        })
    }
}

impl<D: Dialer + ?Sized> Dialer for std::sync::Arc<D> {
    fn dial(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxStream>> {
        (**self).dial(addr)
    }
    fn dial_name<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<BoxStream>> {
        (**self).dial_name(host, port)
    }
}

/// Plain TCP connections with TCP_NODELAY (SMTP is request/response; Nagle
/// only adds latency to pipelined commands), optionally from fixed local
/// addresses, e.g. the IPs published in SPF.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpDialer {
    /// Source address for connections to IPv4 servers.
    pub local_v4: Option<Ipv4Addr>,
    /// Source address for connections to IPv6 servers.
    pub local_v6: Option<Ipv6Addr>,
}

impl TcpDialer {
    /// A dialer using the system's choice of source address.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `ips` as source addresses: the first of each family counts.
    pub fn with_local_ips(ips: &[IpAddr]) -> Self {
        Self {
            local_v4: ips.iter().find_map(|ip| match ip {
                IpAddr::V4(v4) => Some(*v4),
                IpAddr::V6(_) => None,
            }),
            local_v6: ips.iter().find_map(|ip| match ip {
                IpAddr::V6(v6) => Some(*v6),
                IpAddr::V4(_) => None,
            }),
        }
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let (socket, local) = match addr {
            SocketAddr::V4(_) => (TcpSocket::new_v4()?, self.local_v4.map(IpAddr::V4)),
            SocketAddr::V6(_) => (TcpSocket::new_v6()?, self.local_v6.map(IpAddr::V6)),
        };
        if let Some(local) = local {
            socket.bind(SocketAddr::new(local, 0))?;
        }
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

impl Dialer for TcpDialer {
    fn dial(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxStream>> {
        Box::pin(async move {
            let stream = self.connect(addr).await?;
            Ok(Box::new(stream) as BoxStream)
        })
    }
}

/// Connections through a SOCKS5 proxy (RFC 1928), optionally with
/// username/password authentication (RFC 1929).
#[derive(Clone, PartialEq, Eq)]
pub struct Socks5Dialer {
    proxy: SocketAddr,
    credentials: Option<(String, String)>,
}

impl fmt::Debug for Socks5Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socks5Dialer")
            .field("proxy", &self.proxy)
            .field("username", &self.credentials.as_ref().map(|(user, _)| user))
            .finish_non_exhaustive()
    }
}

impl Socks5Dialer {
    /// A dialer through the proxy at `proxy`, without authentication.
    pub fn new(proxy: SocketAddr) -> Self {
        Self {
            proxy,
            credentials: None,
        }
    }

    /// Authenticates to the proxy with a username and password.
    pub fn with_credentials(mut self, username: &str, password: &str) -> Self {
        self.credentials = Some((username.to_owned(), password.to_owned()));
        self
    }

    /// The proxy's address.
    pub fn proxy(&self) -> SocketAddr {
        self.proxy
    }

    async fn connect<'t>(
        &self,
        target: impl tokio_socks::IntoTargetAddr<'t> + Send + 't,
    ) -> io::Result<BoxStream> {
        let socket = TcpStream::connect(self.proxy).await?;
        socket.set_nodelay(true)?;
        let result = match &self.credentials {
            None => tokio_socks::tcp::Socks5Stream::connect_with_socket(socket, target).await,
            Some((user, pass)) => {
                tokio_socks::tcp::Socks5Stream::connect_with_password_and_socket(
                    socket, target, user, pass,
                )
                .await
            }
        };
        let stream = result.map_err(|e| socks_error(self.proxy, e))?;
        Ok(Box::new(stream) as BoxStream)
    }
}

fn socks_error(proxy: SocketAddr, err: tokio_socks::Error) -> io::Error {
    match err {
        tokio_socks::Error::Io(e) => e,
        other => io::Error::other(format!("socks5 proxy {proxy}: {other}")),
    }
}

impl Dialer for Socks5Dialer {
    fn dial(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxStream>> {
        Box::pin(self.connect(addr))
    }

    fn dial_name<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<BoxStream>> {
        Box::pin(self.connect((host, port)))
    }
}

/// Which IPs were dialed successfully for each host, oldest first, so later
/// attempts can switch address family or stick to a greylisted IP. Keyed by
/// the host as given (not a CNAME target). The queue stores it per message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DialedIps {
    by_host: HashMap<String, Vec<IpAddr>>,
}

impl DialedIps {
    /// No attempts yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the record from stored `(host, ips)` pairs.
    pub fn from_map(by_host: HashMap<String, Vec<IpAddr>>) -> Self {
        Self { by_host }
    }

    /// The stored form: host (as displayed, ASCII) to IPs, oldest first.
    pub fn as_map(&self) -> &HashMap<String, Vec<IpAddr>> {
        &self.by_host
    }

    /// The IPs dialed for `host`, oldest first.
    pub fn get(&self, host: &smtp::Host) -> &[IpAddr] {
        self.by_host
            .get(&host.to_string())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Notes a successful connection to `ip` for `host`.
    pub fn record(&mut self, host: &smtp::Host, ip: IpAddr) {
        self.by_host.entry(host.to_string()).or_default().push(ip);
    }
}

/// One IP that could not be connected to.
#[derive(Debug)]
pub struct IpFailure {
    /// The address dialed.
    pub addr: SocketAddr,
    /// Why it failed; a timeout has kind [`io::ErrorKind::TimedOut`].
    pub error: io::Error,
}

impl fmt::Display for IpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.addr, self.error)
    }
}

/// Failures of [`dial_host`] and [`dial_name`].
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// There was nothing to dial.
    #[error("connecting to {host}: no ip addresses")]
    NoAddresses {
        /// The host.
        host: String,
    },
    /// Every IP failed; one entry per IP, in dialing order.
    #[error("connecting to {host}: {}", join(.failures))]
    AllFailed {
        /// The host.
        host: String,
        /// What happened at each IP.
        failures: Vec<IpFailure>,
    },
    /// Connecting by name (through a proxy) failed.
    #[error("connecting to {host}:{port}: {error}")]
    Name {
        /// The host name.
        host: String,
        /// The port.
        port: u16,
        /// What went wrong.
        #[source]
        error: io::Error,
    },
}

fn join(failures: &[IpFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Connects to `host` by trying `ips` in order on `port`.
///
/// All IPs share `timeout` (the reference uses [`DEFAULT_DIAL_TIMEOUT`]):
/// each gets the remaining budget divided by the number of IPs still to
/// try, so when every IP hangs the budget is split evenly, as the reference
/// does, and time left by a fast failure goes to the next IPs. The IP that
/// connected is recorded in `dialed` and returned with the stream.
pub async fn dial_host(
    dialer: &dyn Dialer,
    host: &smtp::Host,
    ips: &[IpAddr],
    port: u16,
    dialed: &mut DialedIps,
    timeout: Duration,
) -> Result<(BoxStream, IpAddr), DialError> {
    if ips.is_empty() {
        return Err(DialError::NoAddresses {
            host: host.to_string(),
        });
    }
    let deadline = Instant::now() + timeout;
    let mut failures = Vec::new();
    for (i, &ip) in ips.iter().enumerate() {
        let addr = SocketAddr::new(ip, port);
        let left = u32::try_from(ips.len() - i).unwrap_or(u32::MAX);
        let share = deadline.saturating_duration_since(Instant::now()) / left;
        tracing::debug!(target: "smtpclient", %host, %addr, timeout_ms = share.as_millis() as u64, "dialing");
        let result = match timeout_at(Instant::now() + share, dialer.dial(addr)).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect timed out after {share:?}"),
            )),
        };
        match result {
            Ok(stream) => {
                tracing::debug!(target: "smtpclient", %host, %addr, "connected");
                dialed.record(host, ip);
                return Ok((stream, ip));
            }
            Err(error) => {
                tracing::debug!(target: "smtpclient", %host, %addr, %error, "connect failed");
                failures.push(IpFailure { addr, error });
            }
        }
    }
    Err(DialError::AllFailed {
        host: host.to_string(),
        failures,
    })
}

/// Connects to `host:port` by name through a dialer that resolves names
/// (a SOCKS5 proxy), within `timeout`.
pub async fn dial_name(
    dialer: &dyn Dialer,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<BoxStream, DialError> {
    let fail = |error| DialError::Name {
        host: host.to_owned(),
        port,
        error,
    };
    match tokio::time::timeout(timeout, dialer.dial_name(host, port)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(error)) => Err(fail(error)),
        Err(_) => Err(fail(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connect timed out after {timeout:?}"),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
    use tokio::net::TcpListener;

    use super::*;

    #[derive(Clone, Copy)]
    enum Behaviour {
        Refuse,
        Hang,
        Accept,
    }

    /// Fails, hangs or connects an in-memory pipe per IP, and remembers
    /// what was dialed.
    struct FakeDialer {
        behaviour: HashMap<IpAddr, Behaviour>,
        calls: Mutex<Vec<SocketAddr>>,
        servers: Mutex<Vec<DuplexStream>>,
    }

    impl FakeDialer {
        fn new(behaviour: &[(&str, Behaviour)]) -> Self {
            Self {
                behaviour: behaviour
                    .iter()
                    .map(|(ip, b)| (ip.parse().unwrap(), *b))
                    .collect(),
                calls: Mutex::new(Vec::new()),
                servers: Mutex::new(Vec::new()),
            }
        }
    }

    impl Dialer for FakeDialer {
        fn dial(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxStream>> {
            self.calls.lock().unwrap().push(addr);
            let behaviour = self.behaviour.get(&addr.ip()).copied();
            Box::pin(async move {
                match behaviour {
                    Some(Behaviour::Accept) => {
                        let (client, server) = duplex(1024);
                        self.servers.lock().unwrap().push(server);
                        Ok(Box::new(client) as BoxStream)
                    }
                    Some(Behaviour::Hang) => std::future::pending().await,
                    Some(Behaviour::Refuse) | None => Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        "connection refused",
                    )),
                }
            })
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn host() -> smtp::Host {
        "mx.example.com".parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn ips_are_tried_in_order_until_one_connects_and_it_is_recorded() {
        let dialer = FakeDialer::new(&[
            ("192.0.2.1", Behaviour::Refuse),
            ("2001:db8::1", Behaviour::Accept),
            ("192.0.2.3", Behaviour::Accept),
        ]);
        let mut dialed = DialedIps::new();
        let (mut stream, ip) = dial_host(
            &dialer,
            &host(),
            &ips(&["192.0.2.1", "2001:db8::1", "192.0.2.3"]),
            25,
            &mut dialed,
            DEFAULT_DIAL_TIMEOUT,
        )
        .await
        .unwrap();
        assert_eq!(ip, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(
            *dialer.calls.lock().unwrap(),
            vec![
                "192.0.2.1:25".parse::<SocketAddr>().unwrap(),
                "[2001:db8::1]:25".parse().unwrap()
            ]
        );
        assert_eq!(dialed.get(&host()), &[ip]);
        assert_eq!(dialed.as_map().get("mx.example.com"), Some(&vec![ip]));

        // The stream is the pipe to the fake server.
        let mut server = dialer.servers.lock().unwrap().pop().unwrap();
        server.write_all(b"220 hi\r\n").await.unwrap();
        let mut buf = [0u8; 8];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"220 hi\r\n");
    }

    #[tokio::test(start_paused = true)]
    async fn budget_is_split_over_remaining_ips_and_every_failure_is_listed() {
        let dialer = FakeDialer::new(&[
            ("192.0.2.1", Behaviour::Hang),
            ("192.0.2.2", Behaviour::Refuse),
            ("192.0.2.3", Behaviour::Hang),
        ]);
        let mut dialed = DialedIps::new();
        let err = dial_host(
            &dialer,
            &host(),
            &ips(&["192.0.2.1", "192.0.2.2", "192.0.2.3"]),
            25,
            &mut dialed,
            Duration::from_secs(30),
        )
        .await
        .err()
        .unwrap();
        // 30 s over three IPs gives 10 s to the first; the refusal takes no
        // time, so the last one gets all of the 20 s left.
        assert_eq!(
            err.to_string(),
            "connecting to mx.example.com: 192.0.2.1:25: connect timed out after 10s; \
             192.0.2.2:25: connection refused; 192.0.2.3:25: connect timed out after 20s"
        );
        let DialError::AllFailed { failures, .. } = err else {
            panic!("expected AllFailed")
        };
        let kinds: Vec<_> = failures.iter().map(|f| f.error.kind()).collect();
        assert_eq!(
            kinds,
            [
                io::ErrorKind::TimedOut,
                io::ErrorKind::ConnectionRefused,
                io::ErrorKind::TimedOut
            ]
        );
        assert!(dialed.as_map().is_empty());
    }

    #[tokio::test]
    async fn no_ips_is_an_error() {
        let dialer = FakeDialer::new(&[]);
        let err = dial_host(
            &dialer,
            &host(),
            &[],
            25,
            &mut DialedIps::new(),
            DEFAULT_DIAL_TIMEOUT,
        )
        .await
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "connecting to mx.example.com: no ip addresses"
        );
    }

    #[tokio::test]
    async fn tcp_dialer_skips_refused_ip_and_uses_local_source_address() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let dialer = TcpDialer::with_local_ips(&ips(&["::1", "127.0.0.3"]));
        assert_eq!(dialer.local_v4, Some(Ipv4Addr::new(127, 0, 0, 3)));
        let mut dialed = DialedIps::new();
        let (mx, targets) = (host(), ips(&["127.0.0.2", "127.0.0.1"]));
        // Nothing listens on 127.0.0.2 (the listener is bound to 127.0.0.1 only).
        let dial = dial_host(
            &dialer,
            &mx,
            &targets,
            port,
            &mut dialed,
            Duration::from_secs(10),
        );
        let (dialed_result, accepted) = tokio::join!(dial, listener.accept());
        let (mut stream, ip) = dialed_result.unwrap();
        let (mut conn, peer) = accepted.unwrap();
        assert_eq!(ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(peer.ip(), "127.0.0.3".parse::<IpAddr>().unwrap());
        assert_eq!(dialed.get(&host()), &[ip]);
        conn.write_all(b"220 ok\r\n").await.unwrap();
        let mut buf = [0u8; 8];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"220 ok\r\n");
    }

    #[tokio::test]
    async fn tcp_dialer_does_not_resolve_names() {
        let err = dial_name(
            &TcpDialer::new(),
            "mx.example.com",
            25,
            DEFAULT_DIAL_TIMEOUT,
        )
        .await
        .err()
        .unwrap();
        let DialError::Name { error, .. } = &err else {
            panic!("expected Name error")
        };
        assert_eq!(error.kind(), io::ErrorKind::Unsupported);
    }

    /// What the test SOCKS5 server saw.
    #[derive(Debug, PartialEq)]
    struct SocksRequest {
        credentials: Option<(String, String)>,
        /// Address type and target, e.g. (1, "192.0.2.1:25") or (3, "mx.example.com:25").
        target: (u8, String),
    }

    /// A one-connection SOCKS5 server (RFC 1928/1929): handshakes, reports
    /// the request and then greets as an SMTP server would.
    async fn socks5_server(listener: TcpListener, want_auth: bool) -> SocksRequest {
        let (mut c, _) = listener.accept().await.unwrap();
        let mut head = [0u8; 2];
        c.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0], 5);
        let mut methods = vec![0u8; usize::from(head[1])];
        c.read_exact(&mut methods).await.unwrap();
        let mut credentials = None;
        if want_auth {
            assert!(methods.contains(&2));
            c.write_all(&[5, 2]).await.unwrap();
            let mut ver_len = [0u8; 2];
            c.read_exact(&mut ver_len).await.unwrap();
            let mut user = vec![0u8; usize::from(ver_len[1])];
            c.read_exact(&mut user).await.unwrap();
            let mut plen = [0u8; 1];
            c.read_exact(&mut plen).await.unwrap();
            let mut pass = vec![0u8; usize::from(plen[0])];
            c.read_exact(&mut pass).await.unwrap();
            credentials = Some((
                String::from_utf8(user).unwrap(),
                String::from_utf8(pass).unwrap(),
            ));
            c.write_all(&[1, 0]).await.unwrap();
        } else {
            assert!(methods.contains(&0));
            c.write_all(&[5, 0]).await.unwrap();
        }
        let mut req = [0u8; 4];
        c.read_exact(&mut req).await.unwrap();
        assert_eq!(&req[..3], &[5, 1, 0]);
        let host = match req[3] {
            1 => {
                let mut a = [0u8; 4];
                c.read_exact(&mut a).await.unwrap();
                Ipv4Addr::from(a).to_string()
            }
            4 => {
                let mut a = [0u8; 16];
                c.read_exact(&mut a).await.unwrap();
                format!("[{}]", Ipv6Addr::from(a))
            }
            3 => {
                let mut len = [0u8; 1];
                c.read_exact(&mut len).await.unwrap();
                let mut name = vec![0u8; usize::from(len[0])];
                c.read_exact(&mut name).await.unwrap();
                String::from_utf8(name).unwrap()
            }
            other => panic!("address type {other}"),
        };
        let mut port = [0u8; 2];
        c.read_exact(&mut port).await.unwrap();
        c.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 25])
            .await
            .unwrap();
        c.write_all(b"220 via proxy\r\n").await.unwrap();
        SocksRequest {
            credentials,
            target: (req[3], format!("{host}:{}", u16::from_be_bytes(port))),
        }
    }

    async fn read_greeting(stream: &mut BoxStream) -> String {
        let mut buf = [0u8; 15];
        stream.read_exact(&mut buf).await.unwrap();
        String::from_utf8(buf.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn socks5_dialer_connects_to_ip_through_proxy() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap();
        let server = tokio::spawn(socks5_server(listener, false));
        let dialer = Socks5Dialer::new(proxy);
        let mut dialed = DialedIps::new();
        let (mut stream, _) = dial_host(
            &dialer,
            &host(),
            &ips(&["192.0.2.1"]),
            25,
            &mut dialed,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!(read_greeting(&mut stream).await, "220 via proxy\r\n");
        assert_eq!(
            server.await.unwrap(),
            SocksRequest {
                credentials: None,
                target: (1, "192.0.2.1:25".into())
            }
        );
    }

    #[tokio::test]
    async fn socks5_dialer_sends_name_and_credentials() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap();
        let server = tokio::spawn(socks5_server(listener, true));
        let dialer = Socks5Dialer::new(proxy).with_credentials("alice", "s3cret");
        assert!(!format!("{dialer:?}").contains("s3cret"));
        let mut stream = dial_name(&dialer, "mx.example.com", 587, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(read_greeting(&mut stream).await, "220 via proxy\r\n");
        assert_eq!(
            server.await.unwrap(),
            SocksRequest {
                credentials: Some(("alice".into(), "s3cret".into())),
                target: (3, "mx.example.com:587".into())
            }
        );
    }
}
