//! The `postel serve` process under test: its config, start, SIGKILL,
//! admin commands and a graceful stop at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Writes RUN/postel.toml: plaintext submission for 127.0.0.0/8 as a
/// trusted network, no daily limits, every recipient routed to the sink.
pub fn write_config(dir: &Path, submit_port: u16, sink_port: u16, conns: usize) -> PathBuf {
    let data = dir.join("data");
    let text = format!(
        r#"hostname = "crash.example.org"
data_dir = "{data}"

[listeners]
submission = {{ address = "127.0.0.1", port = {submit_port} }}

[queue]
concurrency = {concurrency}
per_domain_concurrency = {per_domain}

[domains."example.org"]

[accounts.app]
addresses = ["app@example.org"]
max_outgoing_messages_per_day = 0
max_first_time_recipients_per_day = 0

[[trusted_networks]]
network = "127.0.0.0/8"
account = "app"

[[routes]]
transport = "sink"

[transports.sink.smtp]
host = "127.0.0.1"
port = {sink_port}
no_starttls = true
"#,
        data = data.display(),
        concurrency = conns.max(4),
        per_domain = conns.max(4) / crate::load::DOMAINS as usize,
    );
    let path = dir.join("postel.toml");
    std::fs::write(&path, text).expect("write postel.toml");
    path
}

pub struct Server {
    bin: PathBuf,
    config: PathBuf,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl Server {
    pub fn new(bin: PathBuf, config: PathBuf, port: u16, dir: &Path) -> Server {
        Server {
            bin,
            config,
            port,
            log: dir.join("postel.log"),
            child: None,
        }
    }

    /// Starts `postel -c CONFIG serve` and waits until it accepts connections.
    pub async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("postel.log");
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.config)
            .arg("serve")
            .env(
                "RUST_LOG",
                std::env::var("POSTEL_LOG").unwrap_or("warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!(
                    "postel exited at start: {status}; see {}",
                    self.log.display()
                );
            }
            assert!(Instant::now() < deadline, "postel did not start listening");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// SIGKILL; returns the time it was sent (ms since the epoch).
    pub async fn kill(&mut self) -> u64 {
        let mut child = self.child.take().expect("server running");
        let at = epoch_ms();
        child.kill().expect("SIGKILL postel");
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .expect("join")
            .expect("wait postel");
        // Killed by us, not exited on its own before.
        if status.code().is_some() {
            panic!("postel had exited by itself ({status}) before the kill");
        }
        at
    }

    /// SIGTERM (graceful shutdown) and wait.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let waited = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(40);
            loop {
                if let Ok(Some(s)) = child.try_wait() {
                    return Some(s);
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
        .await
        .expect("join");
        if waited.is_none() {
            eprintln!("crash: postel did not stop within 40 s of SIGTERM; killed");
        }
    }

    /// Runs `postel -c CONFIG ARGS...` and returns its stdout.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running postel {args:?}: {e}"));
        if !out.status.success() {
            eprintln!(
                "crash: postel {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Rows in the queue per `postel queue list --json`, counting at most `max`.
    pub fn queue_len(&self, max: usize) -> usize {
        let max = max.to_string();
        let out = self.admin(&["queue", "list", "--json", "--max", &max]);
        match serde_json::from_str::<serde_json::Value>(&out) {
            Ok(serde_json::Value::Array(rows)) => rows.len(),
            _ => usize::MAX,
        }
    }
}
