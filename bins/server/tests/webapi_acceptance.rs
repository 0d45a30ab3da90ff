//! Issue 6 acceptance points that the other web API tests leave open, run
//! against localserve in process (real router, backend, queue, mailbox,
//! poster) over HTTP: a webhook that waits out a restart, WebhookTest to a
//! live receiver, multipart Send read back with MessageGet, MessageList
//! paging, FlagsAdd of a present flag, a broken multipart body, and an
//! idempotent SendBatch repeat.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use mailbox::MailboxStore;
use postel_server::localserve;
use queue::Store;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const PASSWORD: &str = "accept-pass";

/// One localserve run on fresh loopback ports.
struct Local {
    base: String,
    http: reqwest::Client,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

async fn start(dir: &Path, webhook_url: Option<String>) -> Local {
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
        dir: dir.to_path_buf(),
        password: PASSWORD.into(),
        hang: Duration::from_millis(10),
        webhook_url,
    };
    let task = tokio::spawn(localserve::run_with_webapi(opts, listeners, Some(web), rx));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let local = Local {
        base,
        http: reqwest::Client::new(),
        stop,
        task,
    };
    // The listener is bound already; wait until the account exists.
    for _ in 0..500 {
        if local.call("SuppressionList", json!({})).await.0 == 200 {
            return local;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("localserve web API never answered");
}

impl Local {
    async fn call(&self, method: &str, request: Value) -> (u16, Value) {
        self.call_key(method, request, None).await
    }

    async fn call_key(&self, method: &str, request: Value, key: Option<&str>) -> (u16, Value) {
        let mut r = self
            .http
            .post(format!("{}{method}", self.base))
            .basic_auth(localserve::ADDRESS, Some(PASSWORD))
            .header("Content-Type", "application/json")
            .body(request.to_string());
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap();
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        (status, value)
    }

    async fn raw(&self, method: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{method}", self.base))
            .basic_auth(localserve::ADDRESS, Some(PASSWORD))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// Polls MessageStatus until the message reaches `state`.
    async fn wait_state(&self, id: i64, state: &str) -> Value {
        for _ in 0..500 {
            let (_, body) = self.call("MessageStatus", json!({"QueueMsgID": id})).await;
            if body["Messages"][0]["State"] == state {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("message {id} never became {state}");
    }

    async fn shutdown(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// What a receiver saw: headers and raw body per request.
type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn receive(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> &'static str {
    seen.lock().unwrap().push((headers, body));
    "thanks"
}

async fn receiver_at(addr: SocketAddr) -> Seen {
    let seen = Seen::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(seen.clone());
    let listener = TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    seen
}

async fn wait_seen(seen: &Seen, n: usize) -> Vec<(HeaderMap, Bytes)> {
    for _ in 0..1000 {
        let got = seen.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("receiver never saw {n} requests");
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).unwrap().to_str().unwrap()
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn send_to(addr: &str) -> Value {
    json!({"To": [{"Address": addr}], "Subject": "accept", "Text": "hello\n"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_for_a_receiver_that_is_down_survives_a_restart_and_is_delivered_later() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let url = format!("http://{addr}/hook");
    let local = start(dir.path(), Some(url.clone())).await;
    let (status, sent) = local.call("Send", send_to("bob@example.com")).await;
    assert_eq!(status, 200, "{sent}");
    let msg = sent["Submissions"][0]["QueueMsgID"].as_i64().unwrap();
    local.wait_state(msg, "delivered").await;
    // The first post fails: nobody listens yet.
    let hook = loop {
        let (_, list) = local.call("HookList", json!({})).await;
        let h = list["Hooks"][0].clone();
        if h["Results"].as_array().is_some_and(|r| r.len() == 1) {
            break h;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let hook_id = hook["ID"].as_i64().unwrap();
    assert_eq!(hook["Event"], "delivered");
    assert_eq!(hook["QueueMsgID"], msg);
    assert_eq!(hook["Attempts"], 1);
    assert_eq!(hook["Success"], Value::Null);
    assert_eq!(hook["Results"][0]["Success"], false);
    assert_eq!(hook["Results"][0]["Code"], 0);
    assert!(hook["NextAttempt"].is_string(), "{hook}");
    local.shutdown().await;

    // Restart on the same data directory; the receiver is up now.
    let seen = receiver_at(addr).await;
    let local = start(dir.path(), Some(url)).await;
    let (_, list) = local.call("HookList", json!({})).await;
    let pending = list["Hooks"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{list}");
    assert_eq!(pending[0]["ID"], hook_id);
    assert_eq!(pending[0]["Attempts"], 1);
    assert_eq!(pending[0]["NextAttempt"], hook["NextAttempt"]);
    // The schedule says one minute after the failure; make it due now.
    assert_eq!(
        local.call("HookRetry", json!({"ID": hook_id})).await,
        (200, json!({}))
    );
    let got = wait_seen(&seen, 1).await;
    assert_eq!(got.len(), 1);
    let (headers, body) = &got[0];
    assert_eq!(header(headers, "x-postel-webhook-id"), hook_id.to_string());
    assert_eq!(header(headers, "x-postel-webhook-attempt"), "2");
    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["Event"], "delivered");
    assert_eq!(payload["QueueMsgID"], msg);
    assert_eq!(payload["Sequence"], 1);
    // Signed with the secret localserve keeps in its directory.
    let secret = std::fs::read_to_string(dir.path().join("webhook-secret")).unwrap();
    let ts: i64 = header(headers, "webhook-timestamp").parse().unwrap();
    let expected = queue::webhook::sign(
        secret.trim(),
        header(headers, "webhook-id"),
        ts,
        body.as_ref(),
    )
    .unwrap();
    assert_eq!(header(headers, "webhook-signature"), expected);
    for _ in 0..500 {
        let (_, retired) = local.call("HookList", json!({"Retired": true})).await;
        if retired["Hooks"][0]["Success"] == true {
            assert_eq!(retired["Hooks"][0]["ID"], hook_id);
            assert_eq!(retired["Hooks"][0]["Attempts"], 2);
            assert_eq!(retired["Hooks"][0]["Results"][1]["Code"], 200);
            local.shutdown().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("hook {hook_id} never retired as delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_test_posts_a_signed_sample_to_the_live_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let seen = receiver_at(addr).await;
    let local = start(dir.path(), Some(format!("http://{addr}/hook"))).await;
    let (status, body) = local.call("WebhookTest", json!({"Event": "failed"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"StatusCode": 200, "Error": "", "Response": "thanks"})
    );
    let got = wait_seen(&seen, 1).await;
    let payload: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(payload["Event"], "failed");
    assert!(
        header(&got[0].0, "webhook-signature").starts_with("v1,"),
        "{:?}",
        got[0].0
    );
    assert_eq!(
        local.call("WebhookTest", json!({"Event": "nope"})).await.0,
        400
    );
    local.shutdown().await;
}

/// A form part: field name, file name, Content-Type, bytes.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

fn multipart_body(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, filename, ctype, data) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disp = format!("Content-Disposition: form-data; name=\"{name}\"");
        if let Some(f) = filename {
            disp.push_str(&format!("; filename=\"{f}\""));
        }
        out.extend_from_slice(disp.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(t) = ctype {
            out.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

fn content_types(s: &Value) -> Value {
    let parts: Vec<Value> = s["Parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(content_types)
        .collect();
    if parts.is_empty() {
        s["ContentType"].clone()
    } else {
        json!({ s["ContentType"].as_str().unwrap(): parts })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_send_with_alternative_inline_and_attached_files_arrives_with_that_structure() {
    let dir = tempfile::tempdir().unwrap();
    let local = start(dir.path(), None).await;
    let request = json!({
        "To": [{"Address": "bob@example.com"}],
        "Subject": "files",
        "Text": "plain\n",
        "HTML": "<p>html</p>\n",
        "Headers": [["X-Campaign", "spring"]],
    });
    let body = multipart_body(
        "XyZ",
        &[
            ("request", None, None, request.to_string().as_bytes()),
            (
                "alternativefile",
                Some("cal.ics"),
                Some("text/calendar"),
                b"BEGIN:VCALENDAR",
            ),
            (
                "inlinefile",
                Some("logo.png"),
                Some("image/png"),
                b"\x89PNG\r\n\x1a\nrest",
            ),
            (
                "attachedfile",
                Some("notes.txt"),
                Some("text/plain"),
                b"some notes",
            ),
        ],
    );
    let (status, sent) = local
        .raw("Send", "multipart/form-data; boundary=XyZ", body)
        .await;
    assert_eq!(status, 200, "{sent}");
    let id = sent["Submissions"][0]["QueueMsgID"].as_i64().unwrap();
    local.wait_state(id, "delivered").await;
    // localserve delivers ordinary recipients into the sender's Inbox.
    let (_, list) = local.call("MessageList", json!({})).await;
    let msg = list["Messages"][0]["MsgID"].as_i64().unwrap();
    let (status, got) = local.call("MessageGet", json!({"MsgID": msg})).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["Message"]["Subject"], "files");
    assert_eq!(got["Message"]["Text"], "plain\n");
    assert_eq!(got["Message"]["HTML"], "<p>html</p>\n");
    assert_eq!(
        content_types(&got["Structure"]),
        json!({"multipart/mixed": [
            {"multipart/related": [
                {"multipart/alternative": ["text/plain", "text/html", "text/calendar"]},
                "image/png"
            ]},
            "text/plain"
        ]})
    );
    let attached = &got["Structure"]["Parts"][1];
    assert_eq!(attached["Filename"], "notes.txt");
    assert_eq!(attached["ContentDisposition"], "attachment");
    let inline = &got["Structure"]["Parts"][0]["Parts"][1];
    assert_eq!(inline["ContentDisposition"], "inline");
    assert_eq!(inline["DecodedSize"], 12);
    let part = local
        .http
        .post(format!("{}MessagePartGet", local.base))
        .basic_auth(localserve::ADDRESS, Some(PASSWORD))
        .json(&json!({"MsgID": msg, "PartPath": [1]}))
        .send()
        .await
        .unwrap();
    assert_eq!(part.bytes().await.unwrap().as_ref(), b"some notes");
    let raw = local
        .http
        .post(format!("{}MessageRawGet", local.base))
        .basic_auth(localserve::ADDRESS, Some(PASSWORD))
        .json(&json!({"MsgID": msg}))
        .send()
        .await
        .unwrap();
    let raw = String::from_utf8(raw.bytes().await.unwrap().to_vec()).unwrap();
    assert!(raw.contains("\r\nX-Campaign: spring\r\n"), "{raw}");
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_list_pages_with_a_cursor_and_adding_a_present_flag_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let local = start(dir.path(), None).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (_, sent) = local.call("Send", send_to("bob@example.com")).await;
        let id = sent["Submissions"][0]["QueueMsgID"].as_i64().unwrap();
        local.wait_state(id, "delivered").await;
        ids.push(id);
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let (status, page) = local
            .call("MessageList", json!({"Limit": 2, "Cursor": cursor}))
            .await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for m in page["Messages"].as_array().unwrap() {
            seen.push(m["MsgID"].as_i64().unwrap());
        }
        cursor = page["NextCursor"].as_str().unwrap().to_string();
        if cursor.is_empty() {
            break;
        }
        assert!(pages < 5, "paging does not end");
    }
    assert_eq!(pages, 2);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (3, 3), "{seen:?}");

    let msg = seen[0];
    let add = json!({"MsgID": msg, "Flags": ["$Label1"]});
    assert_eq!(
        local.call("MessageFlagsAdd", add.clone()).await,
        (200, json!({}))
    );
    let (_, first) = local.call("MessageGet", json!({"MsgID": msg})).await;
    assert_eq!(local.call("MessageFlagsAdd", add).await, (200, json!({})));
    let (_, second) = local.call("MessageGet", json!({"MsgID": msg})).await;
    assert_eq!(second["Meta"]["Flags"], first["Meta"]["Flags"]);
    let flags: Vec<&str> = second["Meta"]["Flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        flags
            .iter()
            .filter(|f| f.eq_ignore_ascii_case("$label1"))
            .count(),
        1
    );
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_multipart_body_is_a_protocol_error_and_queues_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let local = start(dir.path(), None).await;
    // No closing boundary, and a part header without its blank line.
    let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"request\"\r\n{\"To\"".to_vec();
    let (status, got) = local
        .raw("Send", "multipart/form-data; boundary=XyZ", body)
        .await;
    assert_eq!(
        (status, got["Code"].as_str()),
        (400, Some("protocol")),
        "{got}"
    );
    // A multipart Content-Type without a boundary.
    let (status, got) = local
        .raw("Send", "multipart/form-data", b"request=%7B%7D".to_vec())
        .await;
    assert_eq!(
        (status, got["Code"].as_str()),
        (400, Some("protocol")),
        "{got}"
    );
    let (status, got) = local.call("MessageStatus", json!({"QueueMsgID": 1})).await;
    assert_eq!(
        (status, got["Code"].as_str()),
        (400, Some("messageNotFound"))
    );
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_send_batch_repeat_returns_the_first_results_and_queues_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let local = start(dir.path(), None).await;
    let batch = json!({"Messages": [send_to("bob@example.com"), send_to("carol@example.com")]});
    let (status, first) = local
        .call_key("SendBatch", batch.clone(), Some("batch-7"))
        .await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = local.call_key("SendBatch", batch, Some("batch-7")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first);
    for result in first["Results"].as_array().unwrap() {
        let (_, st) = local
            .call(
                "MessageStatus",
                json!({"MessageID": result["MessageID"].as_str().unwrap()}),
            )
            .await;
        assert_eq!(st["Messages"].as_array().unwrap().len(), 1, "{st}");
    }
    // A failing batch under a fresh key stores nothing: the key works after.
    let bad = json!({"Messages": [send_to("dave@example.com"), {"To": [{"Address": "erin@example.com"}]}]});
    let (status, err) = local.call_key("SendBatch", bad, Some("batch-8")).await;
    assert_eq!((status, err["Code"].as_str()), (400, Some("missingBody")));
    assert_eq!(
        err["Message"].as_str().unwrap().split(':').next(),
        Some("message 1")
    );
    let ok = json!({"Messages": [send_to("dave@example.com")]});
    let (status, body) = local.call_key("SendBatch", ok, Some("batch-8")).await;
    assert_eq!(status, 200, "{body}");
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_basic_login_stops_working_once_the_password_changes() {
    let dir = tempfile::tempdir().unwrap();
    let local = start(dir.path(), None).await;
    // The login above is cached now; a second handle plays `postel account password`.
    let stores =
        postel_server::stores::Stores::open(dir.path(), Some('+'), Default::default()).unwrap();
    stores
        .mailbox
        .set_password(localserve::ACCOUNT, "changed-pass")
        .unwrap();
    let (status, body) = local.call("SuppressionList", json!({})).await;
    assert_eq!((status, body["Code"].as_str()), (401, Some("unauthorized")));
    let resp = local
        .http
        .post(format!("{}SuppressionList", local.base))
        .basic_auth(localserve::ADDRESS, Some("changed-pass"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    local.shutdown().await;
}

/// Runs the `postel` binary; returns success and stdout.
async fn postel(args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_postel"))
            .args(&args)
            .env("POSTEL_LOG", "off")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_hook_commands_retry_cancel_replay_and_test_an_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let seen = receiver_at(addr).await;
    let data = dir.path().join("data");
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let config = format!(
        "hostname = \"mail.example.org\"\ndata_dir = \"{}\"\n\
         [domains.\"example.org\"]\n[accounts.app]\naddresses = [\"app@example.org\"]\n\
         [[accounts.app.webhooks]]\nid = \"main\"\nurl = \"http://{addr}/hook\"\nsecret = \"{secret}\"\n",
        data.display()
    );
    let cfg = dir.path().join("postel.toml");
    std::fs::write(&cfg, config).unwrap();
    let id = {
        let stores = postel_server::stores::Stores::open(&data, None, Default::default()).unwrap();
        let mut settings = queue::webhook::WebhookSettings::default();
        settings.accounts.insert(
            "app".into(),
            vec![queue::webhook::Endpoint::new(
                "main",
                &format!("http://{addr}/hook"),
            )],
        );
        stores.queue.set_webhooks(settings);
        let incoming = webapi::webhook::Incoming {
            subject: "in".into(),
            ..Default::default()
        };
        stores.queue.queue_incoming_hook("app", &incoming).unwrap()[0]
    };
    let run = |args: &[&str]| {
        let mut all = vec!["-c".to_string(), cfg.display().to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        postel(all)
    };
    let ids = id.to_string();
    let ok = |r: (bool, String, String)| {
        assert!(r.0, "{}", r.2);
        r.1
    };
    assert_eq!(
        ok(run(&["hook", "retry", &ids]).await),
        format!("hook {id} is due now\n")
    );
    assert_eq!(
        ok(run(&["hook", "cancel", &ids]).await),
        format!("hook {id} canceled\n")
    );
    // A canceled (failed) hook is queued again by retry.
    assert_eq!(
        ok(run(&["hook", "retry", &ids]).await),
        format!("hook {id} is due now\n")
    );
    let list: Value = serde_json::from_str(&ok(run(&["hook", "list", "--json"]).await)).unwrap();
    let pending = list.as_array().unwrap();
    assert_eq!(pending.len(), 1, "{list}");
    assert_eq!(pending[0]["event"], "incoming");
    assert_eq!(
        ok(run(&["hook", "replay", &ids]).await),
        format!("hook {id} replayed as hook {}\n", id + 1)
    );
    let (success, _, stderr) = run(&["hook", "retry", "9999"]).await;
    assert!(!success);
    assert!(stderr.contains("9999"), "{stderr}");

    assert_eq!(
        ok(run(&["hook", "test", "app", "--event", "failed"]).await),
        format!("main http://{addr}/hook: status 200, response \"thanks\"\n")
    );
    let got = wait_seen(&seen, 1).await;
    let (headers, body) = &got[0];
    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["Event"], "failed");
    let ts: i64 = header(headers, "webhook-timestamp").parse().unwrap();
    let expected =
        queue::webhook::sign(secret, header(headers, "webhook-id"), ts, body.as_ref()).unwrap();
    assert_eq!(header(headers, "webhook-signature"), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_status_by_message_id_lists_every_recipient_with_its_own_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let local = start(dir.path(), None).await;
    let (status, sent) = local
        .call(
            "Send",
            json!({"To": [{"Address": "bob@example.com"}, {"Address": "carol-permerror@example.com"}],
                   "Subject": "two", "Text": "hi\n"}),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let ok_id = sent["Submissions"][0]["QueueMsgID"].as_i64().unwrap();
    let bad_id = sent["Submissions"][1]["QueueMsgID"].as_i64().unwrap();
    local.wait_state(ok_id, "delivered").await;
    local.wait_state(bad_id, "failed").await;
    let (status, st) = local
        .call("MessageStatus", json!({"MessageID": sent["MessageID"]}))
        .await;
    assert_eq!(status, 200, "{st}");
    let mut got: Vec<(i64, String, String, u64)> = st["Messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["QueueMsgID"].as_i64().unwrap(),
                m["Recipient"].as_str().unwrap().to_string(),
                m["State"].as_str().unwrap().to_string(),
                m["Results"][0]["SMTPCode"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (ok_id, "bob@example.com".into(), "delivered".into(), 250),
            (
                bad_id,
                "carol-permerror@example.com".into(),
                "failed".into(),
                550
            ),
        ]
    );
    local.shutdown().await;
}

/// `postel serve` from a config file on free loopback ports: SMTP
/// submission (loopback is a trusted network of `app`) and the web API,
/// over one data directory. `example.org` is enabled, `paused.example`
/// disabled; `app` may send 3 messages a day.
struct Served {
    base: String,
    http: reqwest::Client,
    submission: SocketAddr,
    stores: postel_server::stores::Stores,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

const APP_PASSWORD: &str = "served-pass-1";

async fn serve_start(data: &Path) -> Served {
    let submission = free_addr();
    let web = free_addr();
    let config = format!(
        "hostname = \"mail.example.org\"\ndata_dir = \"{}\"\n\
         [listeners]\nsubmission = {{ address = \"127.0.0.1\", port = {} }}\n\
         webapi = {{ address = \"127.0.0.1\", port = {}, path = \"/webapi/\" }}\n\
         [domains.\"example.org\"]\n\
         [domains.\"paused.example\"]\ndisabled = true\n\
         [accounts.app]\naddresses = [\"app@example.org\", \"app@paused.example\"]\n\
         max_outgoing_messages_per_day = 3\n\
         [[trusted_networks]]\nnetwork = \"127.0.0.1/32\"\naccount = \"app\"\n",
        data.display(),
        submission.port(),
        web.port()
    );
    let path = data.join("postel.toml");
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(&path, config).unwrap();
    let stores = postel_server::stores::Stores::open(data, None, Default::default()).unwrap();
    if stores.mailbox.account("app").is_err() {
        stores
            .mailbox
            .create_account(&mailbox::NewAccount {
                name: "app".into(),
                addresses: vec!["app@example.org".into(), "app@paused.example".into()],
                ..mailbox::NewAccount::default()
            })
            .unwrap();
        stores.mailbox.set_password("app", APP_PASSWORD).unwrap();
        // Hold everything: the rows stay queued, nothing is delivered.
        stores
            .queue
            .hold_rule_add(queue::HoldRule::default())
            .unwrap();
    }
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(async move { postel_server::serve::run(&path, rx).await });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let served = Served {
        base: format!("http://{web}/webapi/v0/"),
        http: reqwest::Client::new(),
        submission,
        stores,
        stop,
        task,
    };
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(web).await.is_ok()
            && tokio::net::TcpStream::connect(submission).await.is_ok()
        {
            return served;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("postel serve never listened");
}

impl Served {
    async fn call(&self, method: &str, request: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{method}", self.base))
            .basic_auth("app@example.org", Some(APP_PASSWORD))
            .header("Content-Type", "application/json")
            .body(request.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// One message over SMTP submission; the reply to MAIL FROM if it is
    /// refused, else the reply after DATA.
    async fn submit(&self, from: &str, to: &str) -> String {
        let mut c = common::Raw::connect(self.submission).await;
        assert!(c.cmd("EHLO client.example").await.starts_with("250"));
        let r = c.cmd(&format!("MAIL FROM:<{from}>")).await;
        if !r.starts_with("250") {
            c.cmd("QUIT").await;
            return r;
        }
        assert_eq!(
            c.cmd(&format!("RCPT TO:<{to}>")).await,
            "250 2.1.5 recipient ok"
        );
        let reply = c
            .data(&format!("From: <{from}>\r\nSubject: s\r\n\r\nbody\r\n"))
            .await;
        c.cmd("QUIT").await;
        reply
    }

    fn queued(&self) -> usize {
        self.stores
            .queue
            .list(&queue::Filter::default(), &queue::Sort::default())
            .unwrap()
            .len()
    }

    async fn shutdown(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_disabled_from_domain_on_the_web_api_and_on_smtp_submission() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve_start(dir.path()).await;
    let mut paused = send_to("bob@example.com");
    paused["From"] = json!([{ "Address": "app@paused.example" }]);
    let (status, body) = s.call("Send", paused.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], "domainDisabled");
    assert_eq!(
        body["Message"],
        "the domain of from address app@paused.example is disabled"
    );
    let (status, body) = s
        .call(
            "SendBatch",
            json!({ "Messages": [send_to("bob@example.com"), paused] }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], "domainDisabled");
    assert_eq!(
        body["Message"],
        "message 1: the domain of from address app@paused.example is disabled"
    );
    assert_eq!(s.queued(), 0, "a refused batch queues nothing");
    assert_eq!(
        s.submit("app@paused.example", "bob@example.com").await,
        "451 4.3.0 sender domain temporarily disabled"
    );
    assert_eq!(s.queued(), 0);
    // The enabled domain of the same account still sends both ways.
    let (status, body) = s.call("Send", send_to("bob@example.com")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        s.submit("app@example.org", "bob@example.com")
            .await
            .starts_with("250 2.0.0 message queued with id ")
    );
    assert_eq!(s.queued(), 2);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_limit_counts_smtp_and_web_api_together_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve_start(dir.path()).await;
    // The web API counts first (its counts are loaded now), then SMTP
    // submission adds two: both must land in the same totals.
    let (status, body) = s.call("Send", send_to("a@example.com")).await;
    assert_eq!(status, 200, "{body}");
    for to in ["b@example.com", "c@example.com"] {
        let reply = s.submit("app@example.org", to).await;
        assert!(reply.starts_with("250 2.0.0 message queued"), "{reply}");
    }
    let limit = "max number of messages (3) over past 24h reached, try increasing per-account setting max_outgoing_messages_per_day";
    let (status, body) = s.call("Send", send_to("a@example.com")).await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], "messageLimitReached");
    assert_eq!(body["Message"], limit);
    assert_eq!(
        s.submit("app@example.org", "d@example.com").await,
        format!("451 4.7.1 {limit}")
    );
    assert_eq!(s.queued(), 3);
    s.shutdown().await;

    // A new process loads the counts from the queue.
    let s = serve_start(dir.path()).await;
    let (status, body) = s.call("Send", send_to("a@example.com")).await;
    assert_eq!(
        (status, body["Code"].clone()),
        (400, json!("messageLimitReached"))
    );
    assert_eq!(
        s.submit("app@example.org", "a@example.com").await,
        format!("451 4.7.1 {limit}")
    );
    assert_eq!(s.queued(), 3);
    s.shutdown().await;
}
