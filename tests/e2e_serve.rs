//! End to end: `postel serve` from a generated config file, between real peers.
//!
//! Clients are `swaks` and Python's `smtplib` (STARTTLS + AUTH PLAIN on the
//! submission listener); next hops are Postfix `smtp-sink` instances, with their
//! fault injection for the retry, DSN and suppression paths; direct delivery
//! looks up MX hosts through the Knot + Unbound test zone `postel.test`.
//!
//! The server runs in this process (`postel_server::serve::run`, the function
//! `postel serve` calls) on its own thread and runtime, and admin commands go
//! through `postel_server::cli::run` with the same argument parser as the
//! binary. A `postel` executable under target/ belongs to another package and
//! may be stale or missing when only this package is built; in-process it is
//! always the code under test, and a failed start shows its error here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use clap::Parser as _;
use mailbox::{INBOX, MailboxStore, NewAccount};
use postel_server::stores::Stores;
use queue::{Event, Filter, HistoryFilter, QueuedMessage, RetiredMessage, Sort, Store};
use support::{SmtpSink, TestDns, free_port, wait_for};
use tempfile::TempDir;
use tokio::sync::watch;

const PASSWORD: &str = "e2e-secret";
const SENDER: &str = "app@example.org";

/// `postel serve` on a free loopback port with a self-signed certificate,
/// account `app` (app@example.org, password [`PASSWORD`]) and `extra` appended
/// to its config file. Stopped (gracefully) on drop.
struct Postel {
    /// Config, certificate and data; removed on drop.
    _dir: TempDir,
    config: PathBuf,
    port: u16,
    stores: Stores,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Postel {
    fn start(extra: &str) -> Postel {
        let dir = tempfile::Builder::new()
            .prefix("postel-e2e-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let cert = rcgen::generate_simple_self_signed(vec!["mail.example.org".to_string()])
            .expect("self-signed certificate");
        std::fs::write(d.join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(d.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
        let port = free_port();
        let data = d.join("data");
        let config = format!(
            r#"hostname = "mail.example.org"
data_dir = "{data}"
{extra}
[listeners]
submission = {{ address = "127.0.0.1", port = {port} }}
[tls]
cert = "{cert}"
key = "{key}"
[domains."example.org"]
[accounts.app]
addresses = ["{SENDER}"]
"#,
            data = data.display(),
            cert = d.join("cert.pem").display(),
            key = d.join("key.pem").display(),
        );
        let path = d.join("postel.toml");
        std::fs::write(&path, config).unwrap();

        let stores = Stores::open(&data, None, Default::default()).unwrap();
        stores
            .mailbox
            .create_account(&NewAccount {
                name: "app".into(),
                addresses: vec![SENDER.into()],
                ..NewAccount::default()
            })
            .unwrap();
        stores.mailbox.set_password("app", PASSWORD).unwrap();

        let (stop, rx) = watch::channel(false);
        let p = path.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(postel_server::serve::run(&p, rx))
        });
        let mut postel = Postel {
            _dir: dir,
            config: path,
            port,
            stores,
            stop,
            thread: Some(thread),
        };
        postel.wait_listening();
        postel
    }

    fn wait_listening(&mut self) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                let r = self.thread.take().unwrap().join().unwrap();
                panic!("postel serve stopped before listening: {r:?}");
            }
            assert!(Instant::now() < deadline, "postel serve did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `postel -c CONFIG args...` and returns its output.
    fn cli(&self, args: &[&str]) -> String {
        let mut argv = vec!["postel", "-c", self.config.to_str().unwrap()];
        argv.extend_from_slice(args);
        let cli = postel_server::cli::Cli::try_parse_from(&argv).unwrap();
        // The CLI uses block_in_place, which needs the multi-threaded runtime.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut out = Vec::new();
        rt.block_on(postel_server::cli::run(cli, &mut out))
            .unwrap_or_else(|e| panic!("postel {args:?}: {e:#}"));
        String::from_utf8(out).unwrap()
    }

    /// swaks with STARTTLS and AUTH PLAIN as app@example.org; panics unless it exits 0.
    fn swaks(&self, to: &str, subject: &str, body: &str) -> String {
        let out = Command::new(support::require("/usr/bin/swaks"))
            .args(["-s", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["--ehlo", "client.example", "--tls", "--auth", "PLAIN"])
            .args(["--auth-user", SENDER, "--auth-password", PASSWORD])
            .args(["--from", SENDER, "--to", to])
            .args(["--header", &format!("Subject: {subject}")])
            .args(["--header", &format!("Message-Id: <{subject}@example.org>")])
            .args(["--body", body])
            .stdin(Stdio::null())
            .output()
            .expect("run swaks");
        let transcript = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "swaks failed ({}):\n{transcript}",
            out.status
        );
        transcript
    }

    /// The queued row for `recipient`, if it is still queued.
    fn queued(&self, recipient: &str) -> Option<QueuedMessage> {
        self.stores
            .queue
            .list(&Filter::default(), &Sort::default())
            .unwrap()
            .into_iter()
            .find(|m| m.recipient == recipient)
    }

    /// The history rows for `recipient`, oldest first.
    fn retired(&self, recipient: &str) -> Vec<RetiredMessage> {
        let mut v: Vec<RetiredMessage> = self
            .stores
            .queue
            .history(&HistoryFilter::default(), &Default::default())
            .unwrap()
            .into_iter()
            .filter(|m| m.message.recipient == recipient)
            .collect();
        v.sort_by_key(|m| m.message.id);
        v
    }

    fn wait_retired(&self, recipient: &str, n: usize) -> Vec<RetiredMessage> {
        wait_for(&format!("{n} history rows for {recipient}"), || {
            let v = self.retired(recipient);
            (v.len() >= n).then_some(v)
        })
    }

    /// The DSNs in app's Inbox, oldest first, as text.
    fn dsns(&self) -> Vec<String> {
        let page = self.stores.mailbox.list("app", INBOX, None, 100).unwrap();
        let mut metas: Vec<_> = page
            .messages
            .into_iter()
            .filter(|m| m.envelope.is_dsn)
            .collect();
        metas.sort_by_key(|m| m.id);
        metas
            .into_iter()
            .map(|m| String::from_utf8(self.stores.mailbox.raw("app", m.id).unwrap()).unwrap())
            .collect()
    }

    fn wait_dsns(&self, n: usize) -> Vec<String> {
        wait_for(&format!("{n} DSNs in app's Inbox"), || {
            let v = self.dsns();
            (v.len() >= n).then_some(v)
        })
    }
}

impl Drop for Postel {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let r = t.join();
            if !std::thread::panicking() {
                r.expect("serve thread panicked")
                    .expect("postel serve ended with an error");
            }
        }
    }
}

/// A config snippet routing every recipient domain through `sink` as a smarthost.
fn smarthost_route(sink: &SmtpSink) -> String {
    format!(
        r#"[queue]
shutdown_grace = "1s"
idle_timeout = "1s"
[[routes]]
transport = "sink"
[transports.sink.smtp]
host = "127.0.0.1"
port = {}
no_starttls = true
"#,
        sink.port
    )
}

/// Python's smtplib as an independent client for what swaks cannot send: DSN
/// parameters. STARTTLS, AUTH PLAIN, one message.
fn smtplib_submit(port: u16, to: &str, mail_options: &[&str], rcpt_options: &[&str], msg: &str) {
    let script = r#"
import json, smtplib, ssl, sys
port, to, mo, ro, msg = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5]
s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=20)
s.starttls(context=ssl._create_unverified_context())
s.ehlo("client.example")
s.user, s.password = sys.argv[6], sys.argv[7]
s.auth("PLAIN", s.auth_plain)
refused = s.sendmail(sys.argv[6], [to], msg.encode(), mail_options=mo, rcpt_options=ro)
assert not refused, refused
s.quit()
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(port.to_string())
        .arg(to)
        .arg(serde_json::to_string(mail_options).unwrap())
        .arg(serde_json::to_string(rcpt_options).unwrap())
        .arg(msg)
        .arg(SENDER)
        .arg(PASSWORD)
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "smtplib submission failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn secs_between(a: SystemTime, b: SystemTime) -> f64 {
    b.duration_since(a).unwrap().as_secs_f64()
}

#[test]
#[ignore = "needs swaks, python3, smtp-sink; run by .ci/run"]
fn swaks_and_smtplib_submit_over_starttls_auth_and_smarthost_delivers_to_smtp_sink() {
    let sink = SmtpSink::start(&[]);
    let postel = Postel::start(&smarthost_route(&sink));

    let transcript = postel.swaks("first@example.net", "e2e-swaks", "hello from swaks");
    // PLAIN is offered only inside TLS; swaks used both.
    for line in [
        "<-  250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5\n",
        "<-  220 2.0.0 ready to start TLS\n",
        "<~  235 2.7.0 authentication successful\n",
        "<~  250 2.0.0 message queued with id ",
    ] {
        assert!(transcript.contains(line), "no {line:?} in:\n{transcript}");
    }
    smtplib_submit(
        postel.port,
        "second@example.net",
        &["RET=HDRS", "ENVID=e2e-envid-1"],
        &["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;orig@example.net"],
        "Subject: e2e-dsn\r\nMessage-Id: <e2e-dsn@example.org>\r\n\r\nhello with DSN parameters\r\n",
    );

    let dumps = sink.wait_dumps(2);
    let first = dumps
        .iter()
        .find(|d| d.rcpt_args[0].starts_with("<first@"))
        .unwrap();
    let second = dumps
        .iter()
        .find(|d| d.rcpt_args[0].starts_with("<second@"))
        .unwrap();
    let first_row = postel.wait_retired("first@example.net", 1);
    let second_row = postel.wait_retired("second@example.net", 1);

    // Without DSN parameters: a generated ENVID (the one stored), NOTIFY=FAILURE,DELAY
    // and an ORCPT of the recipient itself.
    let envid = &first_row[0].message.dsn.envid;
    assert_eq!(first.proto, "ESMTP");
    assert_eq!(first.helo, "mail.example.org");
    assert_eq!(
        first.mail_args,
        format!("<app@example.org> BODY=7BIT ENVID={envid}")
    );
    assert_eq!(
        first.rcpt_args,
        vec!["<first@example.net> NOTIFY=FAILURE,DELAY ORCPT=rfc822;first@example.net"]
    );
    // The submitter's parameters go on as given.
    assert_eq!(
        second.mail_args,
        "<app@example.org> BODY=7BIT RET=HDRS ENVID=e2e-envid-1"
    );
    assert_eq!(
        second.rcpt_args,
        vec!["<second@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@example.net"]
    );

    // Our Received header on top, then the message as submitted.
    let (received, rest) = split_received(&second.message);
    assert_received(&received, "second@example.net");
    assert_eq!(
        rest,
        "Subject: e2e-dsn\nMessage-Id: <e2e-dsn@example.org>\n\nhello with DSN parameters\n"
    );
    let (received, rest) = split_received(&first.message);
    assert_received(&received, "first@example.net");
    let rest: Vec<&str> = rest.lines().filter(|l| !l.starts_with("Date: ")).collect();
    assert_eq!(
        rest,
        vec![
            "To: first@example.net",
            "From: app@example.org",
            "Subject: e2e-swaks",
            "Message-Id: <e2e-swaks@example.org>",
            "X-Mailer: swaks v20201014.0 jetmore.org/john/code/swaks/",
            "",
            "hello from swaks",
            "",
            "",
        ]
    );

    // Both rows retired as delivered, with the sink's reply recorded.
    for (rows, rcpt) in [
        (&first_row, "first@example.net"),
        (&second_row, "second@example.net"),
    ] {
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.event, Event::Delivered, "{rcpt}");
        assert!(r.success);
        assert_eq!(r.message.attempts, 1);
        assert_eq!(r.message.results.len(), 1);
        let a = &r.message.results[0];
        assert!(a.success);
        assert_eq!((a.code, a.enhanced_code.as_str()), (250, "2.0.0"));
        assert_eq!(a.reply_lines, vec!["2.0.0 Ok"]);
        assert_eq!(a.ip, "127.0.0.1");
        assert_eq!(a.tls_version, "");
    }
    assert_eq!(second_row[0].message.dsn.envid, "e2e-envid-1");
    // The admin CLI sees the same history.
    let json = postel.cli(&["queue", "history", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows: Vec<(String, String, String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let f = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (
                f("recipient"),
                f("event"),
                f("message_id"),
                r["dsn"]["envid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "second@example.net".into(),
                "delivered".into(),
                "<e2e-dsn@example.org>".into(),
                "e2e-envid-1".into()
            ),
            (
                "first@example.net".into(),
                "delivered".into(),
                "<e2e-swaks@example.org>".into(),
                envid.clone()
            ),
        ]
    );
}

/// Splits a dumped message into its first header (with continuation lines)
/// and the rest.
fn split_received(message: &str) -> (String, String) {
    let mut end = 0;
    for (n, line) in message.split_inclusive('\n').enumerate() {
        if n > 0 && !line.starts_with('\t') {
            break;
        }
        end += line.len();
    }
    (message[..end].to_string(), message[end..].to_string())
}

/// Our Received header for a STARTTLS + AUTH submission from 127.0.0.1, with its
/// id and date left out.
fn assert_received(received: &str, rcpt: &str) {
    let head = "Received: from client.example ([127.0.0.1]) by mail.example.org ([127.0.0.1])\n\tvia tcp with ESMTPSA id ";
    assert!(received.starts_with(head), "{received:?}");
    let after_id = received[head.len()..]
        .split_once(' ')
        .map(|(_, r)| r)
        .unwrap_or("");
    let (mid, date) = after_id.rsplit_once("; ").unwrap();
    assert_eq!(
        mid,
        format!("(TLS1.3 TLS_AES_256_GCM_SHA384) for\n\t<{rcpt}>")
    );
    assert!(date.ends_with(" +0000\n"), "{received:?}");
}

#[test]
#[ignore = "needs swaks, smtp-sink; run by .ci/run"]
fn rcpt_450_keeps_the_row_queued_with_its_result_and_schedule_now_retries_it() {
    let sink = SmtpSink::start(&["-r", "RCPT"]);
    let postel = Postel::start(&smarthost_route(&sink));
    postel.swaks("later@example.net", "e2e-soft", "try again later");

    let row = wait_for("the first attempt's result", || {
        postel
            .queued("later@example.net")
            .filter(|m| m.attempts == 1 && m.results.len() == 1 && m.results[0].code != 0)
    });
    let a = &row.results[0];
    assert!(!a.success);
    assert_eq!((a.code, a.enhanced_code.as_str()), (450, "4.3.0"));
    assert_eq!(a.reply_lines, vec!["4.3.0 Error: command failed"]);
    assert_eq!(
        (a.mx_host.as_str(), a.ip.as_str()),
        ("[127.0.0.1]", "127.0.0.1")
    );
    assert_eq!(a.failure_class, "other");
    assert_eq!(a.error, "rcptto rejected: 450 4.3.0 Error: command failed");
    // The first backoff is 7.5 minutes (±5 s jitter) from the attempt.
    let wait = secs_between(row.last_attempt.unwrap(), row.next_attempt);
    assert!(
        (444.0..=456.0).contains(&wait),
        "next attempt after {wait} s"
    );
    assert!(postel.retired("later@example.net").is_empty());

    // Due now: the engine picks it up again, and again it gets 450.
    for attempt in 2..=3u32 {
        let out = postel.cli(&["queue", "schedule", "--now", "--to", "later@example.net"]);
        assert_eq!(out, "1 message rescheduled\n");
        let row = wait_for(&format!("attempt {attempt}'s result"), || {
            postel.queued("later@example.net").filter(|m| {
                m.attempts == attempt
                    && m.results.len() == attempt as usize
                    && m.results.iter().all(|r| r.code != 0)
            })
        });
        assert!(
            row.results
                .iter()
                .all(|r| r.code == 450 && r.enhanced_code == "4.3.0")
        );
        // 15 minutes after the second, 30 after the third.
        let wait = secs_between(row.last_attempt.unwrap(), row.next_attempt);
        let base = 450.0 * f64::from(1u32 << (attempt - 1));
        assert!(
            (base - 6.0..=base + 6.0).contains(&wait),
            "attempt {attempt}: next after {wait} s"
        );
    }
    assert_eq!(
        postel.dsns().len(),
        0,
        "no delayed DSN before the 5th attempt"
    );
}

#[test]
#[ignore = "needs swaks, smtp-sink; run by .ci/run"]
fn rcpt_550_fails_with_a_dsn_suppresses_the_address_and_the_next_message_is_not_dialed() {
    let sink = SmtpSink::start(&["-f", "RCPT", "-B", "550 5.1.1 no such user"]);
    let postel = Postel::start(&smarthost_route(&sink));
    postel.swaks("gone@example.net", "e2e-hard", "nobody home");

    let retired = postel.wait_retired("gone@example.net", 1);
    let r = &retired[0];
    assert_eq!(r.event, Event::Failed);
    assert!(!r.success);
    assert_eq!(r.message.attempts, 1);
    let a = &r.message.results[0];
    assert_eq!((a.code, a.enhanced_code.as_str()), (550, "5.1.1"));
    assert_eq!(a.reply_lines, vec!["5.1.1 no such user"]);
    assert_eq!(a.failure_class, "userUnknown");
    assert_eq!(a.error, "rcptto rejected: 550 5.1.1 no such user");

    let dsns = postel.wait_dsns(1);
    assert_eq!(
        dsn_recipient_fields(&dsns[0]),
        vec![
            "Original-Recipient: rfc822;gone@example.net",
            "Final-Recipient: rfc822;gone@example.net",
            "Action: failed",
            "Status: 5.1.1 (rcptto rejected: 550 5.1.1 no such user)",
            "Remote-MTA: dns;[127.0.0.1] (127.0.0.1)",
            "Diagnostic-Code: smtp; 550 5.1.1 no such user",
        ]
    );
    let head = dsn_head(&dsns[0]);
    assert!(
        head.contains(&"Subject: mail delivery failed".to_string()),
        "{head:?}"
    );
    assert!(
        head.contains(&"References: <e2e-hard@example.org>".to_string()),
        "{head:?}"
    );
    assert!(
        dsns[0].contains(&format!(
            "\nOriginal-Envelope-ID: {}\r\n",
            r.message.dsn.envid
        )),
        "{}",
        dsns[0]
    );

    // A 5.1.1 on RCPT puts the address on the account's suppression list.
    assert_eq!(
        postel.cli(&["suppression", "lookup", "app", "gone@example.net"]),
        "app gone@example.net gone@example.net (automatic: delivery failure from queue with smtp code 550, enhanced code \"5.1.1\")\n"
    );
    let sessions = sink_sessions(&sink);
    assert_eq!(sessions, 1);
    let dumped = sink.dumps().len();

    // The next message to it is retired as suppressed without dialing, with a DSN.
    postel.swaks("gone@example.net", "e2e-again", "still nobody");
    let retired = postel.wait_retired("gone@example.net", 2);
    let r = &retired[1];
    assert_eq!(r.message.message_id, "<e2e-again@example.org>");
    assert_eq!(r.event, Event::Suppressed);
    assert!(!r.success);
    let a = &r.message.results[0];
    assert_eq!(
        (a.code, a.ip.as_str(), a.mx_host.as_str(), a.error.as_str()),
        (0, "", "", "address is on suppression list")
    );
    let dsns = postel.wait_dsns(2);
    assert_eq!(
        dsn_recipient_fields(&dsns[1]),
        vec![
            "Original-Recipient: rfc822;gone@example.net",
            "Final-Recipient: rfc822;gone@example.net",
            "Action: failed",
            "Status: 5.0.0 (address is on suppression list)",
        ]
    );
    assert!(dsn_head(&dsns[1]).contains(&"References: <e2e-again@example.org>".to_string()));
    assert_eq!(sink_sessions(&sink), sessions, "the sink was dialed again");
    assert_eq!(sink.dumps().len(), dumped);
}

/// The sessions an `smtp-sink -c` counted (`sess=N`).
fn sink_sessions(sink: &SmtpSink) -> u32 {
    let c = sink.counters();
    c.split_whitespace()
        .find_map(|f| f.strip_prefix("sess="))
        .unwrap_or_else(|| panic!("no sess= in {c:?}"))
        .parse()
        .unwrap()
}

/// The header lines of a DSN (unfolded lines as they are).
fn dsn_head(dsn: &str) -> Vec<String> {
    dsn.lines()
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The per-recipient fields of a DSN's message/delivery-status part, without
/// Last-Attempt-Date (a time).
fn dsn_recipient_fields(dsn: &str) -> Vec<String> {
    dsn.lines()
        .skip_while(|l| {
            !l.starts_with("Original-Recipient: ") && !l.starts_with("Final-Recipient: ")
        })
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with("Last-Attempt-Date: "))
        .map(str::to_string)
        .collect()
}

/// The port the MX sinks listen on: 25 when it is free on 127.0.0.1, 127.0.0.2
/// and ::1 (as root in CI), else one free on all three, which the config then
/// gives as `queue.direct_port`.
fn mx_port() -> (u16, Option<u16>) {
    let ips = [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    let free = |port: u16| {
        ips.iter().all(|ip| match TcpListener::bind((*ip, port)) {
            Ok(_) => true,
            // No IPv6 on the machine: nothing can listen on ::1 either.
            Err(e) => ip.is_ipv6() && e.kind() == std::io::ErrorKind::AddrNotAvailable,
        })
    };
    if free(25) {
        return (25, None);
    }
    for _ in 0..100 {
        let p = support::free_port_on(ips[1]);
        if free(p) {
            return (p, Some(p));
        }
    }
    panic!("no port free on 127.0.0.1, 127.0.0.2 and ::1");
}

#[test]
#[ignore = "needs swaks, smtp-sink, knot, unbound; run by .ci/run"]
fn direct_delivery_follows_postel_test_mx_preference_through_unbound_to_smtp_sinks() {
    let dns = TestDns::get();
    let (port, direct_port) = mx_port();
    // postel.test: MX 10 mx1 (127.0.0.1, ::1), MX 20 mx2 (127.0.0.2).
    let mx1 = SmtpSink::start_at(SocketAddr::from(([127, 0, 0, 1], port)), &[]);
    let mx2 = SmtpSink::start_at(SocketAddr::from(([127, 0, 0, 2], port)), &[]);
    let direct_port = direct_port
        .map(|p| format!("direct_port = {p}\n"))
        .unwrap_or_default();
    let postel = Postel::start(&format!(
        "resolvers = [\"{}\"]\n[queue]\nshutdown_grace = \"1s\"\nidle_timeout = \"1s\"\n{direct_port}",
        dns.addr
    ));

    // Both up: the preferred MX gets it.
    postel.swaks("first@postel.test", "e2e-mx1", "to the best MX");
    let r = &postel.wait_retired("first@postel.test", 1)[0];
    assert_eq!(r.event, Event::Delivered);
    let a = r.message.results.last().unwrap();
    assert_eq!(
        (a.mx_host.as_str(), a.ip.as_str(), a.code),
        ("mx1.postel.test", "127.0.0.1", 250)
    );
    assert_eq!(
        (a.tls_version.as_str(), a.tls_verification.as_str()),
        ("", "")
    );
    let d = mx1.wait_dumps(1);
    assert_eq!(d[0].helo, "mail.example.org");
    assert_eq!(
        d[0].rcpt_args[0].split(' ').next(),
        Some("<first@postel.test>")
    );
    assert!(
        d[0].message.contains("\nSubject: e2e-mx1\n"),
        "{}",
        d[0].message
    );
    assert_eq!(mx2.dumps().len(), 0);

    // smtp-sink announces no STARTTLS (and no REQUIRETLS): recorded per domain.
    let tls = postel
        .stores
        .queue
        .domain_tls("postel.test")
        .unwrap()
        .unwrap();
    assert_eq!(
        (tls.domain.as_str(), tls.starttls, tls.requiretls),
        ("postel.test", false, false)
    );

    // mx1 down: the next MX in preference order takes it, in the same attempt.
    drop(mx1);
    postel.swaks("second@postel.test", "e2e-mx2", "to the backup MX");
    let r = &postel.wait_retired("second@postel.test", 1)[0];
    assert_eq!(r.event, Event::Delivered);
    assert_eq!(r.message.attempts, 1);
    let a = r.message.results.last().unwrap();
    assert_eq!(
        (a.mx_host.as_str(), a.ip.as_str(), a.code),
        ("mx2.postel.test", "127.0.0.2", 250)
    );
    let d = mx2.wait_dumps(1);
    assert_eq!(
        d[0].rcpt_args[0].split(' ').next(),
        Some("<second@postel.test>")
    );
    assert!(
        d[0].message.contains("\nSubject: e2e-mx2\n"),
        "{}",
        d[0].message
    );
}
