//! End to end with a real HTTP client: `postel localserve` in process on
//! free ports, curl calling the web API, and a local webhook receiver.
//! Send to a `...permerror` address → a `failed` webhook with
//! `Suppressing: true`; its DSNMsgID opens the DSN with MessageGet;
//! SuppressionPresent is true; a second Send gives a `suppressed` webhook.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use postel_server::localserve;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// A tiny HTTP/1.1 server that answers 200 to every POST and hands the
/// JSON bodies over (keep-alive connections, Content-Length bodies only).
async fn receiver() -> (String, mpsc::UnboundedReceiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                loop {
                    let mut length = 0usize;
                    let mut first = true;
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end();
                        if line.is_empty() && !first {
                            break;
                        }
                        first = false;
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; length];
                    if r.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        let _ = tx.send(v);
                    }
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                    if w.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, rx)
}

fn curl(base: &str, method: &str, request: &Value) -> Value {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--fail-with-body",
            "-u",
            "postel@localhost:postelpostel",
        ])
        .args(["-H", "Content-Type: application/json"])
        .args(["--data-binary", &request.to_string()])
        .arg(format!("{base}{method}"))
        .output()
        .expect("running curl");
    assert!(
        out.status.success(),
        "curl {method}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<Value>, event: &str) -> Value {
    loop {
        let v = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {event} webhook within 60 s"))
            .unwrap();
        if v["Event"] == event {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs curl; run by .ci/run"]
async fn permerror_send_gives_failed_webhook_dsn_suppression_then_suppressed_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let (hook_url, mut hooks) = receiver().await;
    let bind = || async { TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let listeners = localserve::Listeners {
        smtp: bind().await,
        submission: bind().await,
        submissions: bind().await,
    };
    let web = bind().await;
    let base = format!("http://{}/webapi/v0/", web.local_addr().unwrap());
    let (stop, rx) = watch::channel(false);
    let opts = localserve::Options {
        dir: dir.path().to_path_buf(),
        password: localserve::DEFAULT_PASSWORD.into(),
        hang: Duration::from_millis(10),
        webhook_url: Some(hook_url),
    };
    let server = tokio::spawn(localserve::run_with_webapi(opts, listeners, Some(web), rx));

    let sent = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            curl(
                &base,
                "Send",
                &json!({"To": [{"Address": "bob-permerror@example.com"}], "Subject": "first", "Text": "hi\n"}),
            )
        }
    })
    .await
    .unwrap();
    let queue_id = sent["Submissions"][0]["QueueMsgID"].as_i64().unwrap();
    assert_eq!(sent["Submissions"][0]["FromID"].as_str().unwrap().len(), 22);

    let failed = next_event(&mut hooks, "failed").await;
    assert_eq!(failed["QueueMsgID"], queue_id);
    assert_eq!(failed["Suppressing"], true);
    assert_eq!(failed["SMTPCode"], 550);
    assert_eq!(failed["FromID"], sent["Submissions"][0]["FromID"]);
    let dsn_id = failed["DSNMsgID"].as_i64().unwrap();
    assert!(dsn_id > 0, "{failed}");

    let b = base.clone();
    let (dsn, present) = tokio::task::spawn_blocking(move || {
        (
            curl(&b, "MessageGet", &json!({"MsgID": dsn_id})),
            curl(
                &b,
                "SuppressionPresent",
                &json!({"EmailAddress": "bob-permerror@example.com"}),
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(dsn["Meta"]["DSN"], true, "{dsn}");
    assert_eq!(present, json!({"Present": true}));

    let b = base.clone();
    let second = tokio::task::spawn_blocking(move || {
        curl(
            &b,
            "Send",
            &json!({"To": [{"Address": "bob-permerror@example.com"}], "Subject": "second", "Text": "hi\n"}),
        )
    })
    .await
    .unwrap();
    let suppressed = next_event(&mut hooks, "suppressed").await;
    assert_eq!(
        suppressed["QueueMsgID"],
        second["Submissions"][0]["QueueMsgID"]
    );

    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
}
