//! The web API in process: the real router over the real backend and a
//! temporary data directory, called over HTTP with the JSON names on the
//! wire.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mailbox::{
    AccountUpdate, Envelope as MailEnvelope, Flags, INBOX, MailboxStore, NewAccount, NewMessage,
};
use postel_server::policy::{AccountPolicy, Policy};
use postel_server::stores::Stores;
use postel_server::webapi::{Settings, WebApi};
use queue::{
    AttemptResult, ClaimRequest, Completion, Filter, HistoryFilter, HistorySort, Outcome, Sort,
    Store,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use webapi::server::RouterOptions;

const PASSWORD: &str = "test-password-1";

struct Api {
    base: String,
    http: reqwest::Client,
    stores: Stores,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

struct Limits {
    messages_per_day: u64,
    first_time_per_day: u64,
    max_size: u64,
    quota: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            messages_per_day: 1000,
            first_time_per_day: 200,
            max_size: 1024 * 1024,
            quota: 0,
        }
    }
}

async fn start() -> Api {
    start_with(Limits::default()).await
}

async fn start_with(limits: Limits) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = Policy::default();
    policy.accounts.insert(
        "alice".into(),
        AccountPolicy {
            separator: Some('+'),
            fromid_logins: vec!["alice@example.org".into()],
            messages_per_day: limits.messages_per_day,
            first_time_per_day: limits.first_time_per_day,
            ..AccountPolicy::default()
        },
    );
    let stores = Stores::open(dir.path(), Some('+'), policy.retention()).unwrap();
    stores
        .mailbox
        .create_account(&NewAccount {
            name: "alice".into(),
            addresses: vec!["alice@example.org".into(), "sales@example.org".into()],
            display_name: "Alice Example".into(),
            quota: limits.quota,
            ..NewAccount::default()
        })
        .unwrap();
    stores.mailbox.set_password("alice", PASSWORD).unwrap();
    stores
        .mailbox
        .create_account(&NewAccount {
            name: "off".into(),
            addresses: vec!["off@example.org".into()],
            disabled: true,
            ..NewAccount::default()
        })
        .unwrap();
    stores.mailbox.set_password("off", PASSWORD).unwrap();
    let backend = Arc::new(WebApi::new(
        &stores,
        Arc::new(policy),
        Arc::new(Notify::new()),
        Settings {
            hostname: "mail.example.org".into(),
            max_message_size: limits.max_size,
        },
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, rx) = watch::channel(false);
    let options = RouterOptions {
        max_message_size: limits.max_size,
        ..RouterOptions::default()
    };
    tokio::spawn(postel_server::webapi::serve(listener, backend, options, rx));
    Api {
        base: format!("http://{addr}/webapi/v0/"),
        http: http_client(),
        stores,
        _stop: stop,
        _dir: dir,
    }
}

/// reqwest comes without a TLS provider here; the tests speak plain HTTP,
/// but building a client needs one installed.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

impl Api {
    /// A JSON call as alice; returns the HTTP status and the JSON body.
    async fn call(&self, method: &str, request: Value) -> (u16, Value) {
        self.call_as("alice@example.org", PASSWORD, method, request, None)
            .await
    }

    async fn call_as(
        &self,
        user: &str,
        password: &str,
        method: &str,
        request: Value,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .post(format!("{}{method}", self.base))
            .basic_auth(user, Some(password))
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

    /// The request as the reference's form field.
    async fn call_form(&self, method: &str, request: &Value, key: &str) -> (u16, Value) {
        let body = format!("request={}", urlencode(&request.to_string()));
        let resp = self
            .http
            .post(format!("{}{method}", self.base))
            .basic_auth("alice@example.org", Some(PASSWORD))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Idempotency-Key", key)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    async fn error(&self, method: &str, request: Value) -> (u16, String) {
        let (status, body) = self.call(method, request).await;
        (status, body["Code"].as_str().unwrap_or("").to_string())
    }

    fn queued(&self) -> Vec<queue::QueuedMessage> {
        self.stores
            .queue
            .list(&Filter::default(), &Sort::default())
            .unwrap()
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn to(addr: &str) -> Value {
    json!([{ "Address": addr }])
}

fn simple(rcpt: &str) -> Value {
    json!({ "To": to(rcpt), "Subject": "hi", "Text": "hello\n" })
}

#[tokio::test]
async fn send_queues_a_row_per_recipient_in_to_cc_bcc_order_with_fromids() {
    let api = start().await;
    let (status, body) = api
        .call(
            "Send",
            json!({
                "To": [{"Address": "bob@example.com"}, {"Name": "Carol", "Address": "carol@example.net"}],
                "CC": [{"Address": "dave@example.com"}],
                "BCC": [{"Address": "erin@example.com"}],
                "Subject": "four",
                "Text": "hello\n",
                "Extra": {"campaign": "7"},
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let subs = body["Submissions"].as_array().unwrap();
    let addresses: Vec<&str> = subs
        .iter()
        .map(|s| s["Address"].as_str().unwrap())
        .collect();
    assert_eq!(
        addresses,
        [
            "bob@example.com",
            "carol@example.net",
            "dave@example.com",
            "erin@example.com"
        ]
    );
    let rows = api.queued();
    assert_eq!(rows.len(), 4);
    for (sub, row) in subs.iter().zip(&rows) {
        let from_id = sub["FromID"].as_str().unwrap();
        assert_eq!(from_id.len(), 22, "{sub}");
        assert_eq!(sub["QueueMsgID"].as_i64().unwrap(), row.id);
        assert_eq!(row.from_id, from_id);
        assert_eq!(row.sender, format!("alice+{from_id}@example.org"));
        assert_eq!(row.account, "alice");
        assert_eq!(row.subject, "four");
        assert_eq!(row.extra.get("campaign").map(String::as_str), Some("7"));
        assert_eq!(row.message_id, body["MessageID"].as_str().unwrap());
    }
    assert_eq!(
        rows.iter()
            .map(|r| r.recipient.as_str())
            .collect::<Vec<_>>(),
        addresses
    );
    let raw = api.stores.queue.body(rows[0].body_id).unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(
        text.starts_with("Received: from [127.0.0.1] by mail.example.org via HTTP with HTTPA id "),
        "{text}"
    );
    assert!(!text.to_ascii_lowercase().contains("\nbcc:"), "{text}");
    assert!(
        text.contains("From: Alice Example <alice@example.org>\r\n"),
        "{text}"
    );
}

#[tokio::test]
async fn send_from_another_address_of_the_account_is_allowed_and_a_foreign_one_is_bad_from() {
    let api = start().await;
    let mut req = simple("bob@example.com");
    req["From"] = json!([{ "Address": "sales@example.org" }]);
    let (status, body) = api.call("Send", req.clone()).await;
    assert_eq!(status, 200, "{body}");
    req["From"] = json!([{ "Address": "mallory@example.org" }]);
    assert_eq!(api.error("Send", req).await, (400, "badFrom".into()));
}

#[tokio::test]
async fn send_request_errors_have_the_reference_codes() {
    let api = start().await;
    let cases = [
        (
            json!({ "To": to("bob@example.com"), "Subject": "x" }),
            "missingBody",
        ),
        (
            json!({ "From": [{"Address": "alice@example.org"}, {"Address": "sales@example.org"}],
                    "To": to("bob@example.com"), "Text": "x" }),
            "multipleFrom",
        ),
        (json!({ "Text": "x" }), "noRecipients"),
        (
            json!({ "To": to("bob@example.com"), "Text": "x", "MessageID": "no-brackets@x" }),
            "malformedMessageID",
        ),
        (
            json!({ "To": to("bob@example.com"), "Text": "x", "MessageID": "<a b@x>" }),
            "malformedMessageID",
        ),
        (
            json!({ "To": to("not an address"), "Text": "x" }),
            "badAddress",
        ),
    ];
    for (req, code) in cases {
        assert_eq!(
            api.error("Send", req.clone()).await,
            (400, code.into()),
            "{req}"
        );
    }
    assert!(api.queued().is_empty());
}

#[tokio::test]
async fn future_release_more_than_60_days_ahead_is_a_user_error() {
    let api = start().await;
    let at = |days: u64| {
        let t = SystemTime::now() + Duration::from_secs(days * 86_400);
        smtpserver::format_rfc3339(t)
    };
    let mut req = simple("bob@example.com");
    req["FutureRelease"] = json!(at(61));
    assert_eq!(api.error("Send", req.clone()).await, (400, "user".into()));
    req["FutureRelease"] = json!(at(2));
    let (status, body) = api.call("Send", req).await;
    assert_eq!(status, 200, "{body}");
    let row = &api.queued()[0];
    assert!(
        row.future_release.starts_with("until;"),
        "{}",
        row.future_release
    );
    assert!(row.next_attempt > SystemTime::now() + Duration::from_secs(86_400));
}

#[tokio::test]
async fn require_tls_is_stored_as_the_tri_state() {
    let api = start().await;
    let mut req = simple("bob@example.com");
    req["RequireTLS"] = json!(true);
    assert_eq!(api.call("Send", req.clone()).await.0, 200);
    req["RequireTLS"] = json!(false);
    assert_eq!(api.call("Send", req).await.0, 200);
    assert_eq!(api.call("Send", simple("bob@example.com")).await.0, 200);
    let got: Vec<Option<bool>> = api.queued().iter().map(|r| r.require_tls).collect();
    assert_eq!(got, [Some(true), Some(false), None]);
}

#[tokio::test]
async fn too_large_message_is_refused() {
    let api = start_with(Limits {
        max_size: 2000,
        ..Limits::default()
    })
    .await;
    let mut req = simple("bob@example.com");
    req["Text"] = json!("x".repeat(3000));
    assert_eq!(
        api.error("Send", req).await,
        (400, "messageTooLarge".into())
    );
    assert!(api.queued().is_empty());
}

#[tokio::test]
async fn daily_limits_give_message_and_recipient_limit_codes() {
    let api = start_with(Limits {
        messages_per_day: 2,
        ..Limits::default()
    })
    .await;
    assert_eq!(api.call("Send", simple("bob@example.com")).await.0, 200);
    assert_eq!(api.call("Send", simple("bob@example.com")).await.0, 200);
    assert_eq!(
        api.error("Send", simple("bob@example.com")).await,
        (400, "messageLimitReached".into())
    );

    let api = start_with(Limits {
        first_time_per_day: 1,
        ..Limits::default()
    })
    .await;
    assert_eq!(api.call("Send", simple("bob@example.com")).await.0, 200);
    assert_eq!(api.call("Send", simple("bob@example.com")).await.0, 200);
    assert_eq!(
        api.error("Send", simple("carol@example.com")).await,
        (400, "recipientLimitReached".into())
    );
}

#[tokio::test]
async fn refuse_suppressed_names_the_suppressed_recipients_and_queues_nothing() {
    let api = start().await;
    api.stores
        .queue
        .suppression_add("alice", "Bob@example.com", "test")
        .unwrap();
    let mut req = json!({
        "To": [{"Address": "bob@example.com"}, {"Address": "carol@example.com"}],
        "Text": "x",
        "RefuseSuppressed": true,
    });
    let (status, body) = api.call("Send", req.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], "recipientSuppressed");
    assert_eq!(
        body["Message"],
        "recipients on the suppression list: bob@example.com"
    );
    assert!(api.queued().is_empty());
    // Without the option the message is queued; delivery suppresses it.
    req["RefuseSuppressed"] = json!(false);
    assert_eq!(api.call("Send", req).await.0, 200);
    assert_eq!(api.queued().len(), 2);
}

#[tokio::test]
async fn save_sent_stores_a_copy_with_bcc_in_the_sent_mailbox() {
    let api = start().await;
    let req = json!({
        "To": to("bob@example.com"),
        "BCC": to("hidden@example.com"),
        "Subject": "copy",
        "Text": "x\n",
        "SaveSent": true,
    });
    let (status, body) = api.call("Send", req).await;
    assert_eq!(status, 200, "{body}");
    let page = api.stores.mailbox.list("alice", "Sent", None, 10).unwrap();
    assert_eq!(page.messages.len(), 1);
    let m = &page.messages[0];
    assert_eq!(m.subject, "copy");
    assert_eq!(m.flags.to_strings(), ["\\Seen", "$NotJunk"]);
    let raw = api.stores.mailbox.raw("alice", m.id).unwrap();
    assert!(
        raw.starts_with(b"Bcc: hidden@example.com\r\nFrom: "),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

#[tokio::test]
async fn save_sent_over_quota_is_sent_over_quota_but_the_message_is_queued() {
    let api = start_with(Limits {
        quota: 10,
        ..Limits::default()
    })
    .await;
    let mut req = simple("bob@example.com");
    req["SaveSent"] = json!(true);
    assert_eq!(api.error("Send", req).await, (400, "sentOverQuota".into()));
    assert_eq!(api.queued().len(), 1);
}

#[tokio::test]
async fn logins_missing_bad_disabled_and_rate_limited() {
    let api = start().await;
    let resp = api
        .http
        .post(format!("{}Send", api.base))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let (status, _) = api
        .call_as(
            "off@example.org",
            PASSWORD,
            "SuppressionList",
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (status, _) = api
            .call_as(
                "alice@example.org",
                "wrong",
                "SuppressionList",
                json!({}),
                None,
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(statuses.first(), Some(&401));
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[tokio::test]
async fn idempotent_send_in_form_and_json_is_one_request_and_queues_once() {
    let api = start().await;
    let req = simple("bob@example.com");
    let (status, first) = api
        .call_as(
            "alice@example.org",
            PASSWORD,
            "Send",
            req.clone(),
            Some("key-1"),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = api.call_form("Send", &req, "key-1").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first);
    assert_eq!(api.queued().len(), 1);

    let (status, body) = api
        .call_as(
            "alice@example.org",
            PASSWORD,
            "Send",
            simple("carol@example.com"),
            Some("key-1"),
        )
        .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (422, Some("idempotencyMismatch"))
    );
    // Another method with the same body is another request too.
    let (status, body) = api
        .call_as(
            "alice@example.org",
            PASSWORD,
            "SendBatch",
            json!({"Messages": [req]}),
            Some("key-1"),
        )
        .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (422, Some("idempotencyMismatch"))
    );
    assert_eq!(api.queued().len(), 1);
}

#[tokio::test]
async fn failed_idempotent_request_stores_nothing_and_the_key_can_be_used_again() {
    let api = start().await;
    let bad = json!({ "To": to("bob@example.com") });
    let (status, body) = api
        .call_as("alice@example.org", PASSWORD, "Send", bad, Some("key-2"))
        .await;
    assert_eq!((status, body["Code"].as_str()), (400, Some("missingBody")));
    let (status, body) = api
        .call_as(
            "alice@example.org",
            PASSWORD,
            "Send",
            simple("bob@example.com"),
            Some("key-2"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn idempotent_repeat_while_the_first_runs_is_in_progress() {
    let api = start().await;
    let req = simple("bob@example.com");
    let parsed: webapi::types::SendRequest = serde_json::from_value(req.clone()).unwrap();
    let fp = webapi::server::fingerprint(webapi::types::Method::Send, &parsed).unwrap();
    assert_eq!(
        api.stores
            .queue
            .idempotency_begin("alice", "key-3", &fp, Duration::from_secs(600))
            .unwrap(),
        queue::Begun::Started
    );
    let (status, body) = api
        .call_as("alice@example.org", PASSWORD, "Send", req, Some("key-3"))
        .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (409, Some("idempotencyInProgress"))
    );
    assert!(api.queued().is_empty());
}

#[tokio::test]
async fn send_batch_is_all_or_nothing_with_a_result_per_item() {
    let api = start().await;
    let (status, body) = api
        .call(
            "SendBatch",
            json!({"Messages": [simple("bob@example.com"), simple("carol@example.com"), {"To": to("dave@example.com")}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], "missingBody");
    assert!(
        body["Message"].as_str().unwrap().starts_with("message 2: "),
        "{body}"
    );
    assert!(api.queued().is_empty());

    let (status, body) = api
        .call(
            "SendBatch",
            json!({"Messages": [simple("bob@example.com"), simple("carol@example.com")]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let results = body["Results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[1]["Submissions"][0]["Address"], "carol@example.com");
    assert_ne!(results[0]["MessageID"], results[1]["MessageID"]);
    assert_eq!(api.queued().len(), 2);

    let many: Vec<Value> = (0..501).map(|_| simple("bob@example.com")).collect();
    assert_eq!(
        api.error("SendBatch", json!({ "Messages": many })).await,
        (400, "batchTooLarge".into())
    );
}

#[tokio::test]
async fn suppression_methods_add_list_check_present_and_remove() {
    let api = start().await;
    let add = |addr: &str| json!({"EmailAddress": addr, "Manual": true, "Reason": "asked"});
    assert_eq!(
        api.call("SuppressionAdd", add("Bob+tag@example.com")).await,
        (200, json!({}))
    );
    assert_eq!(
        api.error("SuppressionAdd", add("bob@example.com")).await,
        (400, "error".into())
    );
    assert_eq!(
        api.error("SuppressionAdd", add("no at sign")).await,
        (400, "badAddress".into())
    );
    let (_, list) = api.call("SuppressionList", json!({})).await;
    let list = list["Suppressions"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["BaseAddress"], "bob@example.com");
    assert_eq!(list[0]["Reason"], "asked");
    assert_eq!(
        api.call(
            "SuppressionPresent",
            json!({"EmailAddress": "bob@example.com"})
        )
        .await,
        (200, json!({"Present": true}))
    );
    let (status, check) = api
        .call(
            "SuppressionCheck",
            json!({"Addresses": ["bob+x@example.com", "carol@example.com"]}),
        )
        .await;
    assert_eq!(status, 200, "{check}");
    let r = check["Results"].as_array().unwrap();
    assert_eq!(
        (r[0]["Suppressed"].as_bool(), r[0]["Reason"].as_str()),
        (Some(true), Some("asked"))
    );
    assert_eq!(
        (r[1]["Suppressed"].as_bool(), r[1]["Created"].is_null()),
        (Some(false), true)
    );
    assert_eq!(
        api.call(
            "SuppressionRemove",
            json!({"EmailAddress": "bob@example.com"})
        )
        .await,
        (200, json!({}))
    );
    assert_eq!(
        api.error(
            "SuppressionRemove",
            json!({"EmailAddress": "bob@example.com"})
        )
        .await,
        (400, "error".into())
    );
    assert_eq!(
        api.call(
            "SuppressionPresent",
            json!({"EmailAddress": "bob@example.com"})
        )
        .await,
        (200, json!({"Present": false}))
    );
}

#[tokio::test]
async fn message_status_shows_the_timeline_after_a_delivery() {
    let api = start().await;
    let (_, sent) = api.call("Send", simple("bob@example.com")).await;
    let id = sent["Submissions"][0]["QueueMsgID"].as_i64().unwrap();
    let (status, queued) = api.call("MessageStatus", json!({"QueueMsgID": id})).await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(queued["Messages"][0]["State"], "queued");
    assert_eq!(queued["Messages"][0]["Attempts"], 0);

    let q = &api.stores.queue;
    let batches = q
        .claim_and_begin(ClaimRequest {
            node: "test".into(),
            lease: Duration::from_secs(60),
            max_batches: 10,
            domain: None,
            skip_domains: vec![],
        })
        .unwrap();
    assert_eq!(batches[0].rows[0].id, id);
    q.complete(vec![Completion {
        id,
        outcome: Outcome::Delivered,
        result: AttemptResult {
            success: true,
            mx_host: "mx.example.com".into(),
            ip: "192.0.2.1".into(),
            tls_version: "TLSv1.3".into(),
            code: 250,
            enhanced_code: "2.0.0".into(),
            reply_lines: vec!["2.0.0 queued as X1".into()],
            ..AttemptResult::default()
        },
        dialed_ips: Default::default(),
        dsn_msg_id: 0,
    }])
    .unwrap();
    let message_id = sent["MessageID"].as_str().unwrap();
    for req in [json!({"QueueMsgID": id}), json!({"MessageID": message_id})] {
        let (status, body) = api.call("MessageStatus", req).await;
        assert_eq!(status, 200, "{body}");
        let msgs = body["Messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert_eq!(m["QueueMsgID"], id);
        assert_eq!(m["State"], "delivered");
        assert_eq!(m["Recipient"], "bob@example.com");
        assert_eq!(m["MessageID"], message_id);
        assert_eq!(m["FromID"], sent["Submissions"][0]["FromID"]);
        assert_eq!(m["Attempts"], 1);
        let r = &m["Results"][0];
        assert_eq!(r["Success"], true);
        assert_eq!(r["MXHost"], "mx.example.com");
        assert_eq!(r["IP"], "192.0.2.1");
        assert_eq!(r["TLSVersion"], "TLSv1.3");
        assert_eq!(r["SMTPCode"], 250);
        assert_eq!(r["SMTPEnhancedCode"], "2.0.0");
        assert_eq!(r["Lines"], json!(["2.0.0 queued as X1"]));
    }
    let retired = q
        .history(&HistoryFilter::default(), &HistorySort::default())
        .unwrap();
    assert_eq!(retired.len(), 1);
    assert_eq!(
        api.error("MessageStatus", json!({"QueueMsgID": id + 100}))
            .await,
        (400, "messageNotFound".into())
    );
}

const DSN: &str = "From: Mail Delivery Subsystem <postmaster@mail.example.org>\r\n\
To: alice@example.org\r\n\
Subject: Delivery failure\r\n\
Message-ID: <dsn-1@mail.example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Delivery to bob@example.com failed.\r\n\
--b1\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mail.example.org\r\n\
\r\n\
Final-Recipient: rfc822; bob@example.com\r\n\
Action: failed\r\n\
Status: 5.1.1\r\n\
--b1--\r\n";

fn deliver_dsn(api: &Api) -> i64 {
    api.stores
        .mailbox
        .deliver(&NewMessage {
            account: "alice".into(),
            mailbox: INBOX.into(),
            received: SystemTime::now(),
            flags: Flags::default(),
            envelope: MailEnvelope {
                mail_from: None,
                rcpt_to: Some(smtp::Address::parse("alice@example.org").unwrap()),
                remote_ip: None,
                is_dsn: true,
            },
            raw: DSN.as_bytes().to_vec(),
        })
        .unwrap()
        .id
        .0
}

#[tokio::test]
async fn message_methods_work_on_a_dsn_in_the_mailbox() {
    let api = start().await;
    let id = deliver_dsn(&api);

    let (status, list) = api
        .call("MessageList", json!({"MailboxName": "Inbox"}))
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["Messages"][0]["MsgID"], id, "{list}");

    let (status, got) = api.call("MessageGet", json!({"MsgID": id})).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["Message"]["Subject"], "Delivery failure");
    // The CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1).
    assert_eq!(
        got["Message"]["Text"],
        "Delivery to bob@example.com failed."
    );
    assert_eq!(got["Meta"]["DSN"], true);
    assert_eq!(got["Meta"]["MailboxName"], "Inbox");
    assert_eq!(got["Meta"]["Size"], DSN.len());
    assert_eq!(got["Structure"]["ContentType"], "multipart/report");
    assert_eq!(
        got["Structure"]["Parts"][1]["ContentType"],
        "message/delivery-status"
    );

    let raw = api
        .http
        .post(format!("{}MessageRawGet", api.base))
        .basic_auth("alice@example.org", Some(PASSWORD))
        .header("Content-Type", "application/json")
        .body(json!({"MsgID": id}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 200);
    assert_eq!(raw.bytes().await.unwrap().as_ref(), DSN.as_bytes());

    let part = api
        .http
        .post(format!("{}MessagePartGet", api.base))
        .basic_auth("alice@example.org", Some(PASSWORD))
        .header("Content-Type", "application/json")
        .body(json!({"MsgID": id, "PartPath": [0]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(part.status().as_u16(), 200);
    assert_eq!(
        part.bytes().await.unwrap().as_ref(),
        b"Delivery to bob@example.com failed."
    );
    assert_eq!(
        api.error("MessagePartGet", json!({"MsgID": id, "PartPath": [5]}))
            .await,
        (400, "partNotFound".into())
    );

    assert_eq!(
        api.call(
            "MessageFlagsAdd",
            json!({"MsgID": id, "Flags": ["\\Seen", "done"]})
        )
        .await,
        (200, json!({}))
    );
    assert_eq!(
        api.call(
            "MessageFlagsRemove",
            json!({"MsgID": id, "Flags": ["done"]})
        )
        .await,
        (200, json!({}))
    );
    let (_, got) = api.call("MessageGet", json!({"MsgID": id})).await;
    assert_eq!(got["Meta"]["Flags"], json!(["\\seen"]));

    assert_eq!(
        api.call(
            "MessageMove",
            json!({"MsgID": id, "DestMailboxName": "Sent"})
        )
        .await,
        (200, json!({}))
    );
    assert_eq!(
        api.error(
            "MessageMove",
            json!({"MsgID": id, "DestMailboxName": "Nope"})
        )
        .await
        .0,
        400
    );
    let (_, got) = api.call("MessageGet", json!({"MsgID": id})).await;
    assert_eq!(got["Meta"]["MailboxName"], "Sent");

    assert_eq!(
        api.call("MessageDelete", json!({"MsgID": id})).await,
        (200, json!({}))
    );
    for method in ["MessageGet", "MessageRawGet", "MessageDelete"] {
        assert_eq!(
            api.error(method, json!({"MsgID": id})).await,
            (400, "messageNotFound".into()),
            "{method}"
        );
    }
}

#[tokio::test]
async fn messages_of_another_account_are_not_found() {
    let api = start().await;
    api.stores
        .mailbox
        .update_account(
            "off",
            &AccountUpdate {
                disabled: Some(false),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    let id = deliver_dsn(&api);
    let (status, body) = api
        .call_as(
            "off@example.org",
            PASSWORD,
            "MessageGet",
            json!({"MsgID": id}),
            None,
        )
        .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("messageNotFound"))
    );
}

fn deliver_all(api: &Api) -> Vec<i64> {
    let q = &api.stores.queue;
    let batches = q
        .claim_and_begin(ClaimRequest {
            node: "test".into(),
            lease: Duration::from_secs(60),
            max_batches: 10,
            domain: None,
            skip_domains: vec![],
        })
        .unwrap();
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.rows.iter().map(|r| r.id))
        .collect();
    q.complete(
        ids.iter()
            .map(|id| Completion {
                id: *id,
                outcome: Outcome::Delivered,
                result: AttemptResult {
                    success: true,
                    code: 250,
                    ..AttemptResult::default()
                },
                dialed_ips: Default::default(),
                dsn_msg_id: 0,
            })
            .collect(),
    )
    .unwrap();
    ids
}

#[tokio::test]
async fn hooks_of_the_account_are_listed_replayed_canceled_and_retried() {
    let api = start().await;
    // No poster runs: hooks stay pending for inspection.
    api.stores
        .queue
        .set_webhooks(queue::webhook::WebhookSettings {
            accounts: [(
                "alice".to_string(),
                vec![queue::webhook::Endpoint::new(
                    "main",
                    "http://127.0.0.1:9/hook",
                )],
            )]
            .into(),
            ..Default::default()
        });
    let (_, sent) = api.call("Send", simple("bob@example.com")).await;
    let msg = sent["Submissions"][0]["QueueMsgID"].as_i64().unwrap();
    assert_eq!(deliver_all(&api), [msg]);

    let (status, st) = api.call("MessageStatus", json!({"QueueMsgID": msg})).await;
    assert_eq!(status, 200, "{st}");
    let events = st["Messages"][0]["Events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{st}");
    assert_eq!(events[0]["Event"], "delivered");
    assert_eq!(events[0]["EndpointID"], "main");
    assert_eq!(events[0]["QueueMsgID"], msg);
    let hook = events[0]["ID"].as_i64().unwrap();

    let (_, list) = api.call("HookList", json!({})).await;
    let ids: Vec<i64> = list["Hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["ID"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [hook]);

    let (status, replay) = api.call("HookReplay", json!({"ID": hook})).await;
    assert_eq!(status, 200, "{replay}");
    let new = replay["ID"].as_i64().unwrap();
    assert_ne!(new, hook);
    let (_, list) = api.call("HookList", json!({})).await;
    let hooks = list["Hooks"].as_array().unwrap();
    let replayed = hooks.iter().find(|h| h["ID"] == new).unwrap();
    assert_eq!(replayed["ReplayOfID"], hook);

    assert_eq!(
        api.call("HookCancel", json!({"ID": hook})).await,
        (200, json!({}))
    );
    let (_, retired) = api.call("HookList", json!({"Retired": true})).await;
    let h = &retired["Hooks"][0];
    assert_eq!(
        (h["ID"].as_i64(), h["Success"].as_bool()),
        (Some(hook), Some(false)),
        "{retired}"
    );
    assert_eq!(
        api.call("HookRetry", json!({"ID": hook})).await,
        (200, json!({}))
    );
    let (_, list) = api.call("HookList", json!({})).await;
    assert_eq!(list["Hooks"].as_array().unwrap().len(), 2, "{list}");

    for method in ["HookRetry", "HookCancel", "HookReplay"] {
        let (_, body) = api.call(method, json!({"ID": hook + 1000})).await;
        assert_eq!(body["Code"], "hookNotFound", "{method}");
    }
    assert_eq!(
        api.error("WebhookTest", json!({"EndpointID": "nope"}))
            .await,
        (400, "user".into())
    );
}

#[tokio::test]
async fn hooks_of_another_account_are_not_found() {
    let api = start().await;
    api.stores
        .queue
        .set_webhooks(queue::webhook::WebhookSettings {
            accounts: [(
                "alice".to_string(),
                vec![queue::webhook::Endpoint::new(
                    "main",
                    "http://127.0.0.1:9/hook",
                )],
            )]
            .into(),
            ..Default::default()
        });
    api.call("Send", simple("bob@example.com")).await;
    deliver_all(&api);
    let (_, list) = api.call("HookList", json!({})).await;
    let hook = list["Hooks"][0]["ID"].as_i64().unwrap();
    api.stores
        .mailbox
        .update_account(
            "off",
            &AccountUpdate {
                disabled: Some(false),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    let (_, body) = api
        .call_as(
            "off@example.org",
            PASSWORD,
            "HookCancel",
            json!({"ID": hook}),
            None,
        )
        .await;
    assert_eq!(body["Code"], "hookNotFound");
    let (_, list) = api
        .call_as("off@example.org", PASSWORD, "HookList", json!({}), None)
        .await;
    assert_eq!(list["Hooks"], json!([]));
}

/// Polls MessageStatus until the message reaches `state`.
async fn wait_state(http: &reqwest::Client, base: &str, id: i64, state: &str) -> Value {
    for _ in 0..500 {
        let resp = http
            .post(format!("{base}MessageStatus"))
            .basic_auth(postel_server::localserve::ADDRESS, Some("web-pass"))
            .json(&json!({"QueueMsgID": id}))
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        if body["Messages"][0]["State"] == state {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("message {id} never became {state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localserve_serves_the_web_api_and_message_status_follows_real_deliveries() {
    use postel_server::localserve;
    let dir = tempfile::tempdir().unwrap();
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
        password: "web-pass".into(),
        hang: Duration::from_millis(10),
        webhook_url: None,
    };
    let server = tokio::spawn(localserve::run_with_webapi(opts, listeners, Some(web), rx));
    let http = http_client();
    let send = |to: &str| {
        http.post(format!("{base}Send"))
            .basic_auth(localserve::ADDRESS, Some("web-pass"))
            .json(&json!({"To": [{"Address": to}], "Subject": "via http", "Text": "hi\n"}))
            .send()
    };
    let sent: Value = loop {
        if let Ok(resp) = send("bob@example.com").await {
            break resp.json().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let ok_id = sent["Submissions"][0]["QueueMsgID"].as_i64().unwrap();
    let failed: Value = send("bob-permerror@example.com")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failed_id = failed["Submissions"][0]["QueueMsgID"].as_i64().unwrap();

    let delivered = wait_state(&http, &base, ok_id, "delivered").await;
    let m = &delivered["Messages"][0];
    assert_eq!(m["Attempts"], 1);
    assert_eq!(m["Results"][0]["Success"], true);
    assert_eq!(m["Results"][0]["SMTPCode"], 250);
    assert!(
        m["Results"][0]["Lines"][0]
            .as_str()
            .unwrap()
            .starts_with("2.0.0 delivered as message "),
        "{m}"
    );
    let failed = wait_state(&http, &base, failed_id, "failed").await;
    let r = &failed["Messages"][0]["Results"][0];
    assert_eq!(
        (r["Success"].as_bool(), r["SMTPCode"].as_u64()),
        (Some(false), Some(550))
    );
    assert_eq!(r["Lines"], json!(["5.0.0 error simulated by localserve"]));

    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_configured_web_api_listener_at_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let data = dir.path().join("data");
    let config = format!(
        "hostname = \"mail.example.org\"\ndata_dir = \"{}\"\n\
         [listeners]\nwebapi = {{ address = \"127.0.0.1\", port = {port}, path = \"/api/\" }}\n\
         [domains.\"example.org\"]\n[accounts.app]\naddresses = [\"app@example.org\"]\n\
         fromid_login_addresses = [\"app@example.org\"]\ncatchall_separator = \"+\"\n",
        data.display()
    );
    let path = dir.path().join("postel.toml");
    std::fs::write(&path, config).unwrap();
    let stores = Stores::open(&data, Some('+'), Default::default()).unwrap();
    stores
        .mailbox
        .create_account(&NewAccount {
            name: "app".into(),
            addresses: vec!["app@example.org".into()],
            ..NewAccount::default()
        })
        .unwrap();
    stores.mailbox.set_password("app", PASSWORD).unwrap();
    // Hold everything: no delivery is attempted.
    stores
        .queue
        .hold_rule_add(queue::HoldRule::default())
        .unwrap();
    let (stop, rx) = watch::channel(false);
    let server = tokio::spawn(async move { postel_server::serve::run(&path, rx).await });
    let http = http_client();
    let url = format!("http://127.0.0.1:{port}/api/v0/Send");
    let resp = loop {
        let r = http
            .post(&url)
            .basic_auth("app@example.org", Some(PASSWORD))
            .json(&simple("bob@example.com"))
            .send()
            .await;
        if let Ok(r) = r {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    let from_id = body["Submissions"][0]["FromID"].as_str().unwrap();
    let rows = stores
        .queue
        .list(&Filter::default(), &Sort::default())
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].sender, format!("app+{from_id}@example.org"));
    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
}
