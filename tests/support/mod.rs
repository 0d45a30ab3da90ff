//! Real peer programs for the interop tests: start them on free loopback ports in
//! private directories and stop them on drop.
//!
//! Every peer here is installed by `.ci/peers/install.sh` (run by `.ci/run`). A test
//! whose peer is missing panics with a message naming the program and the install
//! command; those tests are marked ignored, so plain `cargo test` never gets here.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a peer gets to start listening, and a test to see its side effects.
const PATIENCE: Duration = Duration::from_secs(20);

/// The repository root (where `.ci/peers` lives).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `.ci/peers` directory with the peer scripts and configs.
pub fn peers_dir() -> PathBuf {
    root().join(".ci").join("peers")
}

/// A loopback TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    free_port_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// A TCP port nobody listens on right now at `ip`.
pub fn free_port_on(ip: IpAddr) -> u16 {
    let l = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
    l.local_addr().expect("local_addr").port()
}

/// Panics with an install hint unless `path` exists.
pub fn require(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "peer program {path} is not installed; run `bash .ci/peers/install.sh` as root (see .ci/run)"
    );
    p
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_listening(port: u16, what: &str) {
    wait_listening_on(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), what);
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_listening_on(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{what} did not listen on {addr} within {PATIENCE:?}");
}

/// Polls `f` until it returns `Some`, or panics after [`PATIENCE`] with `what`.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_script(script: &Path, args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} {:?} failed ({}): {}{}",
        script.display(),
        args,
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------
// smtp-sink

/// One transaction as `smtp-sink -d` dumped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkDump {
    /// The `X-Client-Proto` value: `ESMTP` after EHLO, `SMTP` after HELO.
    pub proto: String,
    /// The `X-Helo-Args` value.
    pub helo: String,
    /// The `X-Mail-Args` value: `<sender>` and the MAIL parameters as sent.
    pub mail_args: String,
    /// The `X-Rcpt-Args` values in order: `<recipient>` and the RCPT parameters.
    pub rcpt_args: Vec<String>,
    /// The message as received, after the sink's own `Received:` header, with LF line ends
    /// (dot-unstuffed).
    pub message: String,
}

impl SinkDump {
    fn parse(text: &str) -> SinkDump {
        let mut proto = String::new();
        let mut helo = String::new();
        let mut mail_args = String::new();
        let mut rcpt_args = Vec::new();
        let mut lines = text.split_inclusive('\n').peekable();
        // Headers of the sink itself, up to and including its Received: header.
        while let Some(line) = lines.next() {
            let l = line.trim_end_matches('\n');
            if let Some(v) = l.strip_prefix("X-Client-Proto: ") {
                proto = v.to_string();
            } else if let Some(v) = l.strip_prefix("X-Helo-Args: ") {
                helo = v.to_string();
            } else if let Some(v) = l.strip_prefix("X-Mail-Args: ") {
                mail_args = v.to_string();
            } else if let Some(v) = l.strip_prefix("X-Rcpt-Args: ") {
                rcpt_args.push(v.to_string());
            } else if l.starts_with("Received: from ") {
                while lines.peek().is_some_and(|n| n.starts_with('\t')) {
                    lines.next();
                }
                break;
            }
        }
        let mut message: String = lines.collect();
        // The sink ends each dump with one empty line of its own.
        if message.ends_with("\n\n") {
            message.pop();
        }
        SinkDump {
            proto,
            helo,
            mail_args,
            rcpt_args,
            message,
        }
    }
}

/// A running `smtp-sink` on loopback, dumping every transaction to its own file.
pub struct SmtpSink {
    ip: IpAddr,
    /// The port it listens on.
    pub port: u16,
    dir: TempDir,
    child: Child,
}

impl SmtpSink {
    /// Starts `smtp-sink -c -d DIR/... [options] 127.0.0.1:PORT 64` (with `-u nobody` as root).
    /// `options` are smtp-sink's own, e.g. `["-r", "RCPT"]` or `["-f", "MAIL", "-B", "550 5.7.1 No"]`.
    pub fn start(options: &[&str]) -> SmtpSink {
        SmtpSink::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), options)
    }

    /// Like [`SmtpSink::start`], listening on `ip` (127.0.0.1 or ::1) only.
    pub fn start_on(ip: IpAddr, options: &[&str]) -> SmtpSink {
        SmtpSink::start_at(SocketAddr::new(ip, free_port_on(ip)), options)
    }

    /// Like [`SmtpSink::start`], listening on exactly `addr` (e.g. `127.0.0.2:25` for
    /// an MX host of the test zone).
    pub fn start_at(addr: SocketAddr, options: &[&str]) -> SmtpSink {
        let (ip, port) = (addr.ip(), addr.port());
        let bin = require("/usr/sbin/smtp-sink");
        let dir = tempfile::Builder::new()
            .prefix("postel-sink-")
            .tempdir()
            .expect("tempdir");
        let dumps = dir.path().join("dumps");
        std::fs::create_dir(&dumps).expect("mkdir dumps");
        let mut cmd = Command::new(bin);
        if running_as_root() {
            let st = Command::new("chown")
                .arg("nobody")
                .arg(&dumps)
                .status()
                .expect("chown");
            assert!(st.success(), "chown nobody {}", dumps.display());
            cmd.args(["-u", "nobody"]);
        }
        let counters = std::fs::File::create(dir.path().join("counters")).expect("counters file");
        let template = format!("{}/%Y%m%d%H%M%S.", dumps.display());
        cmd.arg("-c")
            .arg("-d")
            .arg(template)
            .args(options)
            .arg(SocketAddr::new(ip, port).to_string())
            .arg("64")
            .stdin(Stdio::null())
            .stdout(counters.try_clone().expect("dup"))
            .stderr(counters);
        let child = cmd.spawn().expect("spawn smtp-sink");
        let sink = SmtpSink {
            ip,
            port,
            dir,
            child,
        };
        wait_listening_on(sink.addr(), "smtp-sink");
        sink
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// Every transaction dumped so far, sorted by sender and then recipients (the
    /// file names only have one-second resolution, so arrival order is not kept).
    pub fn dumps(&self) -> Vec<SinkDump> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(self.dir.path().join("dumps")).expect("read dump dir");
        for e in entries {
            let path = e.expect("dir entry").path();
            let bytes = std::fs::read(&path).expect("read dump");
            out.push(SinkDump::parse(&String::from_utf8_lossy(&bytes)));
        }
        out.sort_by(|a, b| (&a.mail_args, &a.rcpt_args).cmp(&(&b.mail_args, &b.rcpt_args)));
        out
    }

    /// Waits until `n` transactions were dumped and returns them (see [`SmtpSink::dumps`]).
    pub fn wait_dumps(&self, n: usize) -> Vec<SinkDump> {
        wait_for(&format!("{n} smtp-sink dumps"), || {
            let d = self.dumps();
            (d.len() >= n).then_some(d)
        })
    }

    /// The last `sess=N quit=N mesg=N` counter line the sink printed.
    pub fn counters(&self) -> String {
        let raw = std::fs::read_to_string(self.dir.path().join("counters")).unwrap_or_default();
        raw.split(['\r', '\n'])
            .rfind(|l| l.starts_with("sess="))
            .unwrap_or("")
            .to_string()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Postfix smtpd + Dovecot SASL

/// A private Postfix instance (`.ci/peers/postfix/start.sh`) with Dovecot SASL:
/// users `alice`/`secret` and `bob`/`hunter2`; every message is discarded (or relayed
/// to one next hop) and logged.
pub struct Postfix {
    /// SMTP port: STARTTLS optional, AUTH after STARTTLS, loopback may relay.
    pub port: u16,
    /// Submission port: STARTTLS and AUTH required.
    pub submission: u16,
    /// Submissions port: TLS from the first byte (RFC 8314), AUTH required.
    pub submissions: u16,
    dir: TempDir,
}

impl Postfix {
    /// Starts the instance on two free ports; it discards every message.
    pub fn start() -> Postfix {
        Postfix::start_with("discard:")
    }

    /// Starts the instance handing every message on to 127.0.0.1:`port` over SMTP
    /// (an [`SmtpSink`] whose dumps show what Postfix relayed).
    pub fn start_relaying_to(port: u16) -> Postfix {
        Postfix::start_with(&format!("smtp:[127.0.0.1]:{port}"))
    }

    fn start_with(transport: &str) -> Postfix {
        require("/usr/sbin/postfix");
        require("/usr/sbin/dovecot");
        let dir = tempfile::Builder::new()
            .prefix("postel-postfix-")
            .tempdir()
            .expect("tempdir");
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 3 {
            let p = free_port();
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        let (port, submission, submissions) = (ports[0], ports[1], ports[2]);
        let d = dir.path().to_str().expect("utf-8 temp path").to_string();
        let pf = Postfix {
            port,
            submission,
            submissions,
            dir,
        };
        run_script(
            &peers_dir().join("postfix/start.sh"),
            &[
                &d,
                &port.to_string(),
                &submission.to_string(),
                transport,
                &submissions.to_string(),
            ],
        );
        wait_listening(port, "postfix smtpd");
        wait_listening(submission, "postfix submission");
        wait_listening(submissions, "postfix submissions");
        pf
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `127.0.0.1:submission`.
    pub fn submission_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.submission))
    }

    /// `127.0.0.1:submissions`.
    pub fn submissions_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.submissions))
    }

    /// The PEM file of the self-signed certificate its smtpd presents.
    pub fn cert_pem(&self) -> PathBuf {
        self.dir.path().join("etc").join("cert.pem")
    }

    /// The instance's log so far.
    pub fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// The queue id Postfix gave a message, taken from its `250 2.0.0 Ok: queued as ID` text.
    pub fn queue_id(reply_text: &str) -> String {
        reply_text
            .rsplit("queued as ")
            .next()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| panic!("no queue id in {reply_text:?}"))
    }

    /// Waits for the log lines about queue id `id` to include `status=sent` and
    /// returns all of them.
    pub fn wait_delivered(&self, id: &str) -> Vec<String> {
        self.wait_log(id, "status=sent")
    }

    /// Waits until a log line about queue id `id` contains `what`; returns the
    /// lines about `id` so far.
    pub fn wait_log(&self, id: &str, what: &str) -> Vec<String> {
        let needle = format!(" {id}: ");
        wait_for(&format!("postfix to log {what:?} for {id}"), || {
            let lines: Vec<String> = self
                .maillog()
                .lines()
                .filter(|l| l.contains(&needle))
                .map(str::to_string)
                .collect();
            lines.iter().any(|l| l.contains(what)).then_some(lines)
        })
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let d = self.dir.path().to_string_lossy().into_owned();
        let _ = Command::new("bash")
            .arg(peers_dir().join("postfix/stop.sh"))
            .arg(d)
            .stdin(Stdio::null())
            .status();
    }
}

// ---------------------------------------------------------------------------
// aiosmtpd + scramp

/// The Python venv with aiosmtpd and scramp: `$POSTEL_PEERS_VENV`, else `.peers-venv`.
pub fn venv_python() -> PathBuf {
    let venv = std::env::var_os("POSTEL_PEERS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".peers-venv"));
    let py = venv.join("bin").join("python");
    assert!(
        py.exists(),
        "python venv {} is missing; run `bash .ci/peers/install.sh` (see .ci/run) or set POSTEL_PEERS_VENV",
        venv.display()
    );
    py
}

/// `.ci/peers/aiosmtpd_scram.py`: STARTTLS with a self-signed certificate, AUTH after
/// STARTTLS with SCRAM-SHA-1/256 and their -PLUS forms (tls-server-end-point), PLAIN,
/// LOGIN, CRAM-MD5; user `alice`/`secret`; no DSN, no CHUNKING.
pub struct Aiosmtpd {
    /// The port it listens on.
    pub port: u16,
    dir: TempDir,
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Aiosmtpd {
    /// Starts it with `--user alice:secret` and `extra` arguments, waiting for `READY`.
    pub fn start(extra: &[&str]) -> Aiosmtpd {
        let py = venv_python();
        let dir = tempfile::Builder::new()
            .prefix("postel-aiosmtpd-")
            .tempdir()
            .expect("tempdir");
        let port = free_port();
        let log_path = dir.path().join("aiosmtpd.log");
        let log = std::fs::File::create(&log_path).expect("aiosmtpd log file");
        let mut child = Command::new(py)
            .arg(peers_dir().join("aiosmtpd_scram.py"))
            .args(["--port", &port.to_string(), "--user", "alice:secret"])
            .arg("--maildir")
            .arg(dir.path().join("mail"))
            .args(extra)
            .env("PYTHONWARNINGS", "ignore")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn aiosmtpd_scram.py");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = rx.recv_timeout(PATIENCE).unwrap_or_else(|e| {
            let _ = child.kill();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("aiosmtpd_scram.py printed no READY line ({e}); its stderr:\n{log}")
        });
        assert_eq!(ready, format!("READY {port}"));
        Aiosmtpd {
            port,
            dir,
            child,
            lines: rx,
        }
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The next JSON line it printed (one per accepted message, or an `auth-fail` event).
    pub fn next_event(&self) -> serde_json::Value {
        let line = self
            .lines
            .recv_timeout(PATIENCE)
            .expect("aiosmtpd printed no line in time");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}"))
    }

    /// The bytes of stored message number `n` (1-based).
    pub fn message(&self, n: u32) -> Vec<u8> {
        std::fs::read(self.dir.path().join("mail").join(format!("{n:06}.eml"))).expect("read .eml")
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Knot + Unbound

/// The validating resolver for the signed test zone `postel.test`: the one in
/// `$POSTEL_TEST_DNS` (started by `.ci/run`), else a private Knot + Unbound pair.
pub struct TestDns {
    /// Unbound's address.
    pub addr: SocketAddr,
    own: Option<TempDir>,
}

impl TestDns {
    /// Uses `$POSTEL_TEST_DNS` or starts `.ci/peers/dns/start.sh` on free ports.
    pub fn get() -> TestDns {
        if let Ok(v) = std::env::var("POSTEL_TEST_DNS") {
            let addr = v
                .parse()
                .unwrap_or_else(|e| panic!("POSTEL_TEST_DNS={v:?} is not host:port: {e}"));
            return TestDns { addr, own: None };
        }
        require("/usr/sbin/knotd");
        require("/usr/sbin/unbound");
        let dir = tempfile::Builder::new()
            .prefix("postel-dns-")
            .tempdir()
            .expect("tempdir");
        let out = Command::new("python3")
            .arg(peers_dir().join("freeport.py"))
            .arg("2")
            .output()
            .expect("freeport.py");
        let ports = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut it = ports.split_whitespace();
        let (auth, res) = (it.next().expect("port"), it.next().expect("port"));
        let d = dir.path().to_str().expect("utf-8 temp path").to_string();
        let dns = TestDns {
            addr: format!("127.0.0.1:{res}").parse().expect("addr"),
            own: Some(dir),
        };
        run_script(&peers_dir().join("dns/start.sh"), &[&d, auth, res]);
        dns
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        if let Some(dir) = &self.own {
            let _ = Command::new("bash")
                .arg(peers_dir().join("dns/stop.sh"))
                .arg(dir.path())
                .stdin(Stdio::null())
                .status();
        }
    }
}
