//! HTTP requests to the web API router, driven in-process through
//! `tower::ServiceExt::oneshot` on a current-thread runtime: the API method,
//! HTTP method, Content-Type (JSON, URL-encoded form, multipart form, or
//! fuzzed), Authorization, Idempotency-Key, X-Forwarded-For and the body all
//! come from the input. The fake backend composes Send requests for real
//! (`webapi::compose`), so the composer sees requests as the router decodes
//! them, and answers MessageGet/MessagePartGet from `webapi::mime`.
//!
//! Layout: byte 0 picks the API method (or takes the name from the input),
//! byte 1 holds flags (see `Flags`), the rest is split at 0xFF into the
//! Content-Type/boundary text, Authorization, Idempotency-Key,
//! X-Forwarded-For and the body.
//!
//! Beyond "no panic": every answer to a POST of a known method is 200 or a
//! JSON `{"Code","Message"}` body whose HTTP status is the code's; a request
//! without valid credentials never reaches the backend.
#![no_main]

use std::net::IpAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;
use webapi::compose::{ComposeContext, compose};
use webapi::server::{AuthFailure, Backend, Idempotency, RouterOptions, Session, router};
use webapi::types::*;
use webapi::{ApiError, ErrorCode};

const USER: &str = "ann@example.org";
const PASS: &str = "secret";
const RAW: &[u8] = b"From: a@example.org\r\nSubject: hi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n";

/// Set when the backend sees a call; the target checks it after requests
/// without valid credentials.
static CALLED: AtomicBool = AtomicBool::new(false);

struct Fake;

fn ctx() -> ComposeContext {
    ComposeContext {
        hostname: "mail.example.org".into(),
        now: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        default_from: NameAddress::new("Ann", USER),
        user_agent: "postel/fuzz".into(),
        random: [7; 16],
    }
}

fn sent(req: &SendRequest) -> Result<SendResult, ApiError> {
    let c = compose(req, &ctx())?;
    // What the queue would store must be a message mail-parser reads back.
    let _ = webapi::mime::parse(&c.data);
    Ok(SendResult {
        message_id: c.message_id,
        submissions: Vec::new(),
    })
}

fn called() {
    CALLED.store(true, Ordering::Relaxed);
}

impl Backend for Fake {
    async fn authenticate(
        &self,
        ip: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<Session, AuthFailure> {
        match (username, password) {
            (USER, PASS) => Ok(Session {
                account: "ann".into(),
                login: username.into(),
                ip,
            }),
            ("flood@example.org", _) => Err(AuthFailure::TooManyAttempts),
            ("broken@example.org", _) => Err(AuthFailure::Internal("store down".into())),
            _ => Err(AuthFailure::BadCredentials),
        }
    }
    async fn send(
        &self,
        _: &Session,
        req: SendRequest,
        idem: Option<Idempotency>,
    ) -> Result<SendResult, ApiError> {
        called();
        if let Some(i) = idem {
            assert!(!i.key.is_empty() && i.key.len() <= webapi::server::MAX_IDEMPOTENCY_KEY);
        }
        sent(&req)
    }
    async fn send_batch(
        &self,
        _: &Session,
        req: SendBatchRequest,
        _: Option<Idempotency>,
    ) -> Result<SendBatchResult, ApiError> {
        called();
        assert!(req.messages.len() <= MAX_BATCH);
        let results = req.messages.iter().map(sent).collect::<Result<_, _>>()?;
        Ok(SendBatchResult { results })
    }
    async fn suppression_list(
        &self,
        _: &Session,
        _: SuppressionListRequest,
    ) -> Result<SuppressionListResult, ApiError> {
        called();
        Ok(SuppressionListResult::default())
    }
    async fn suppression_add(&self, _: &Session, _: SuppressionAddRequest) -> Result<Empty, ApiError> {
        called();
        Ok(Empty {})
    }
    async fn suppression_remove(
        &self,
        _: &Session,
        _: SuppressionRemoveRequest,
    ) -> Result<Empty, ApiError> {
        called();
        Err(ApiError::new(ErrorCode::Error, "not suppressed"))
    }
    async fn suppression_present(
        &self,
        _: &Session,
        _: SuppressionPresentRequest,
    ) -> Result<SuppressionPresentResult, ApiError> {
        called();
        Ok(SuppressionPresentResult::default())
    }
    async fn suppression_check(
        &self,
        _: &Session,
        req: SuppressionCheckRequest,
    ) -> Result<SuppressionCheckResult, ApiError> {
        called();
        Ok(SuppressionCheckResult {
            results: req
                .addresses
                .into_iter()
                .map(|address| SuppressionCheckItem {
                    address,
                    ..SuppressionCheckItem::default()
                })
                .collect(),
        })
    }
    async fn message_list(
        &self,
        _: &Session,
        _: MessageListRequest,
    ) -> Result<MessageListResult, ApiError> {
        called();
        Ok(MessageListResult::default())
    }
    async fn message_get(
        &self,
        _: &Session,
        _: MessageGetRequest,
    ) -> Result<MessageGetResult, ApiError> {
        called();
        let (message, structure) = webapi::mime::parse(RAW);
        Ok(MessageGetResult {
            message,
            structure,
            meta: MessageMeta::default(),
        })
    }
    async fn message_raw_get(&self, _: &Session, _: MessageRawGetRequest) -> Result<Vec<u8>, ApiError> {
        called();
        Ok(RAW.to_vec())
    }
    async fn message_part_get(
        &self,
        _: &Session,
        req: MessagePartGetRequest,
    ) -> Result<Vec<u8>, ApiError> {
        called();
        webapi::mime::part(RAW, &req.part_path)
    }
    async fn message_delete(&self, _: &Session, _: MessageDeleteRequest) -> Result<Empty, ApiError> {
        called();
        Err(ApiError::new(ErrorCode::MessageNotFound, "no such message"))
    }
    async fn message_flags_add(
        &self,
        _: &Session,
        _: MessageFlagsAddRequest,
    ) -> Result<Empty, ApiError> {
        called();
        Ok(Empty {})
    }
    async fn message_flags_remove(
        &self,
        _: &Session,
        _: MessageFlagsRemoveRequest,
    ) -> Result<Empty, ApiError> {
        called();
        Ok(Empty {})
    }
    async fn message_move(&self, _: &Session, _: MessageMoveRequest) -> Result<Empty, ApiError> {
        called();
        Ok(Empty {})
    }
    async fn message_status(
        &self,
        _: &Session,
        _: MessageStatusRequest,
    ) -> Result<MessageStatusResult, ApiError> {
        called();
        Ok(MessageStatusResult::default())
    }
    async fn hook_list(&self, _: &Session, _: HookListRequest) -> Result<HookListResult, ApiError> {
        called();
        Ok(HookListResult::default())
    }
    async fn hook_retry(&self, _: &Session, _: HookRetryRequest) -> Result<Empty, ApiError> {
        called();
        Err(ApiError::new(ErrorCode::HookNotFound, "no such hook"))
    }
    async fn hook_replay(
        &self,
        _: &Session,
        req: HookReplayRequest,
    ) -> Result<HookReplayResult, ApiError> {
        called();
        Ok(HookReplayResult { id: req.id.wrapping_add(1) })
    }
    async fn hook_cancel(&self, _: &Session, _: HookCancelRequest) -> Result<Empty, ApiError> {
        called();
        Ok(Empty {})
    }
    async fn webhook_test(
        &self,
        _: &Session,
        _: WebhookTestRequest,
    ) -> Result<WebhookTestResult, ApiError> {
        called();
        Ok(WebhookTestResult::default())
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    /// Default options.
    direct: Router,
    /// Behind a proxy, with a 4 KiB body limit.
    proxied: Router,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let backend = std::sync::Arc::new(Fake);
        World {
            rt: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime"),
            direct: router(backend.clone(), RouterOptions::default()),
            proxied: router(
                backend,
                RouterOptions {
                    base_path: "api".into(),
                    max_message_size: 4096,
                    trust_forwarded: true,
                },
            ),
        }
    })
}

/// Bits of byte 1.
struct Flags(u8);

impl Flags {
    /// 0..=3: POST, POST, GET, PUT.
    fn http_method(&self) -> &'static str {
        ["POST", "POST", "GET", "PUT"][usize::from(self.0 & 3)]
    }
    /// 0..=7, see `content_type`.
    fn content_type(&self) -> u8 {
        (self.0 >> 2) & 7
    }
    /// Valid credentials instead of the fuzzed Authorization value.
    fn good_auth(&self) -> bool {
        self.0 & 0x20 != 0
    }
    fn idempotency_key(&self) -> bool {
        self.0 & 0x40 != 0
    }
    fn proxied(&self) -> bool {
        self.0 & 0x80 != 0
    }
}

fn content_type(choice: u8, text: &str) -> Option<String> {
    Some(match choice {
        0 => "application/json".into(),
        1 => "application/x-www-form-urlencoded".into(),
        2 => "multipart/form-data; boundary=B".into(),
        3 => format!("multipart/form-data; boundary={text}"),
        4 => text.into(),
        5 => return None,
        6 => "Application/JSON; charset=utf-8".into(),
        _ => "application/x-www-form-urlencoded; charset=utf-8".into(),
    })
}

fuzz_target!(|data: &[u8]| {
    let [selector, flags, rest @ ..] = data else {
        return;
    };
    let flags = Flags(*flags);
    let mut parts = rest.splitn(5, |&b| b == 0xFF);
    let ct_text = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let auth = parts.next().unwrap_or_default();
    let key = parts.next().unwrap_or_default();
    let forwarded = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();

    let methods = Method::all();
    let name = match methods.get(usize::from(*selector) % (methods.len() + 1)) {
        Some(m) => m.as_str().to_string(),
        None => String::from_utf8_lossy(&ct_text.as_bytes()[..ct_text.len().min(16)]).into_owned(),
    };
    let known = Method::parse(&name).is_some();
    let base = if flags.proxied() { "/api/" } else { "/webapi/" };
    let mut req = Request::builder()
        .method(flags.http_method())
        .uri(format!("{base}v0/{name}"));
    if let Some(ct) = content_type(flags.content_type(), &ct_text) {
        req = req.header("content-type", ct);
    }
    let good_auth = flags.good_auth();
    if good_auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
        req = req.header("authorization", format!("Basic {token}"));
    } else if !auth.is_empty() {
        req = req.header("authorization", auth);
    }
    if flags.idempotency_key() {
        req = req.header("idempotency-key", key);
    }
    if !forwarded.is_empty() {
        req = req.header("x-forwarded-for", forwarded);
    }
    // A method name, header value or URI the http crate refuses never
    // reaches the router.
    let Ok(req) = req.body(Body::from(body.to_vec())) else {
        return;
    };
    let w = world();
    let app = if flags.proxied() { w.proxied.clone() } else { w.direct.clone() };
    CALLED.store(false, Ordering::Relaxed);
    let (status, body) = w.rt.block_on(async move {
        let resp = app.oneshot(req).await.expect("router is infallible");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("response body reads");
        (status, body)
    });
    let called = CALLED.load(Ordering::Relaxed);
    if !known || flags.http_method() != "POST" {
        assert!(!called, "backend called for {} {name}", flags.http_method());
        return;
    }
    if status == StatusCode::OK {
        return;
    }
    let err: ApiError = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "status {status} without an API error body ({e}): {:?}",
            String::from_utf8_lossy(&body)
        )
    });
    let behind_proxy_without_address = flags.proxied() && err.code == ErrorCode::Server && status == 500;
    if !behind_proxy_without_address {
        assert_eq!(status.as_u16(), err.code.http_status(), "{err:?}");
    }
    if err.code == ErrorCode::Unauthorized || err.code == ErrorCode::TooManyRequests {
        assert!(!called, "backend called after {err:?}");
    }
});
