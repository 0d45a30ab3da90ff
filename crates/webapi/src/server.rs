//! The HTTP side of the API: a [`Backend`] trait for whatever stores and
//! queues the mail, and [`router`] that speaks the reference's protocol over
//! it.
//!
//! - `GET <base>` redirects (303) to `v0/`; `GET <base>v0/` is an HTML index,
//!   `GET <base>v0/<Method>` an HTML page with example JSON, and
//!   `GET <base>v0/openapi.json` the OpenAPI document.
//! - `POST <base>v0/<Method>` calls a method. The request is the form field
//!   `request` (URL-encoded or multipart form, as the reference), or the body
//!   itself with `Content-Type: application/json` (Postel). Multipart files
//!   named `alternativefile`, `inlinefile` and `attachedfile` are added to a
//!   Send request.
//! - HTTP Basic authentication on every call; the backend checks the
//!   credentials (and rate limits).
//! - `Idempotency-Key` on Send and SendBatch is passed to the backend with a
//!   fingerprint of the parsed request ([`Idempotency`]).
//! - Success is 200 with JSON (raw bytes for MessageRawGet/MessagePartGet);
//!   an error is `{"Code","Message"}` with [`ErrorCode::http_status`].
//!
//! Serve it with connection info, so the backend sees client addresses:
//!
//! ```no_run
//! # async fn run<B: webapi::server::Backend>(backend: std::sync::Arc<B>) -> std::io::Result<()> {
//! use std::net::SocketAddr;
//! use webapi::server::{router, RouterOptions};
//!
//! let app = router(backend, RouterOptions::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:1080").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
//! # }
//! ```

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::types::*;

mod pages;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The account name.
    pub account: String,
    /// The address used to log in.
    pub login: String,
    /// The client's IP address.
    pub ip: IpAddr,
}

/// The `Idempotency-Key` of a Send or SendBatch call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    /// The key as sent by the client.
    pub key: String,
    /// SHA-256 over the method name, a newline and the canonical JSON of the
    /// parsed request (uploaded files included as base64 `Data`), so form
    /// and JSON encodings of one request agree.
    pub fingerprint: [u8; 32],
}

/// Why authentication failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// Unknown login or wrong password (HTTP 401).
    BadCredentials,
    /// The login is disabled (HTTP 401).
    Disabled,
    /// Too many failures from this address (HTTP 429).
    TooManyAttempts,
    /// The check itself failed (code `server`).
    Internal(String),
}

impl From<AuthFailure> for ApiError {
    fn from(f: AuthFailure) -> ApiError {
        match f {
            AuthFailure::BadCredentials => {
                ApiError::new(ErrorCode::Unauthorized, "bad credentials")
            }
            AuthFailure::Disabled => ApiError::new(
                ErrorCode::Unauthorized,
                "login is disabled for this account",
            ),
            AuthFailure::TooManyAttempts => ApiError::new(
                ErrorCode::TooManyRequests,
                "too many failed login attempts, try again later",
            ),
            AuthFailure::Internal(m) => ApiError::server(format!("checking credentials: {m}")),
        }
    }
}

/// What the API needs from the server: authentication and one function per
/// method. Every method gets the authenticated [`Session`] and a parsed,
/// strictly decoded request.
pub trait Backend: Send + Sync + 'static {
    /// Checks HTTP Basic credentials (`username` is an address of the account).
    fn authenticate(
        &self,
        ip: IpAddr,
        username: &str,
        password: &str,
    ) -> impl Future<Output = Result<Session, AuthFailure>> + Send;
    /// Send.
    fn send(
        &self,
        s: &Session,
        req: SendRequest,
        idem: Option<Idempotency>,
    ) -> impl Future<Output = Result<SendResult, ApiError>> + Send;
    /// SendBatch (at most [`MAX_BATCH`] messages; the router checks).
    fn send_batch(
        &self,
        s: &Session,
        req: SendBatchRequest,
        idem: Option<Idempotency>,
    ) -> impl Future<Output = Result<SendBatchResult, ApiError>> + Send;
    /// SuppressionList.
    fn suppression_list(
        &self,
        s: &Session,
        req: SuppressionListRequest,
    ) -> impl Future<Output = Result<SuppressionListResult, ApiError>> + Send;
    /// SuppressionAdd.
    fn suppression_add(
        &self,
        s: &Session,
        req: SuppressionAddRequest,
    ) -> impl Future<Output = Result<Empty, ApiError>> + Send;
    /// SuppressionRemove.
    fn suppression_remove(
        &self,
        s: &Session,
        req: SuppressionRemoveRequest,
    ) -> impl Future<Output = Result<Empty, ApiError>> + Send;
    /// SuppressionPresent.
    fn suppression_present(
        &self,
        s: &Session,
        req: SuppressionPresentRequest,
    ) -> impl Future<Output = Result<SuppressionPresentResult, ApiError>> + Send;
    /// SuppressionCheck.
    fn suppression_check(
        &self,
        s: &Session,
        req: SuppressionCheckRequest,
    ) -> impl Future<Output = Result<SuppressionCheckResult, ApiError>> + Send;
    /// MessageList.
    fn message_list(
        &self,
        s: &Session,
        req: MessageListRequest,
    ) -> impl Future<Output = Result<MessageListResult, ApiError>> + Send;
    /// MessageGet (see [`crate::mime::parse`]).
    fn message_get(
        &self,
        s: &Session,
        req: MessageGetRequest,
    ) -> impl Future<Output = Result<MessageGetResult, ApiError>> + Send;
    /// MessageRawGet: the raw message.
    fn message_raw_get(
        &self,
        s: &Session,
        req: MessageRawGetRequest,
    ) -> impl Future<Output = Result<Vec<u8>, ApiError>> + Send;
    /// MessagePartGet: decoded part bytes (see [`crate::mime::part`]).
    fn message_part_get(
        &self,
        s: &Session,
        req: MessagePartGetRequest,
    ) -> impl Future<Output = Result<Vec<u8>, ApiError>> + Send;
    /// MessageDelete.
    fn message_delete(
        &self,
        s: &Session,
        req: MessageDeleteRequest,
    ) -> impl Future<Output = Result<Empty, ApiError>> + Send;
    /// MessageFlagsAdd.
    fn message_flags_add(
        &self,
        s: &Session,
        req: MessageFlagsAddRequest,
    ) -> impl Future<Output = Result<Empty, ApiError>> + Send;
    /// MessageFlagsRemove.
    fn message_flags_remove(
        &self,
        s: &Session,
        req: MessageFlagsRemoveRequest,
    ) -> impl Future<Output = Result<Empty, ApiError>> + Send;
    /// MessageMove.
    fn message_move(
        &self,
        s: &Session,
        req: MessageMoveRequest,
    ) -> impl Future<Output = Result<Empty, ApiError>> + Send;
    /// MessageStatus.
    fn message_status(
        &self,
        s: &Session,
        req: MessageStatusRequest,
    ) -> impl Future<Output = Result<MessageStatusResult, ApiError>> + Send;
    /// HookList.
    fn hook_list(
        &self,
        s: &Session,
        req: HookListRequest,
    ) -> impl Future<Output = Result<HookListResult, ApiError>> + Send;
    /// HookRetry.
    fn hook_retry(
        &self,
        s: &Session,
        req: HookRetryRequest,
    ) -> impl Future<Output = Result<Empty, ApiError>> + Send;
    /// HookReplay.
    fn hook_replay(
        &self,
        s: &Session,
        req: HookReplayRequest,
    ) -> impl Future<Output = Result<HookReplayResult, ApiError>> + Send;
    /// HookCancel.
    fn hook_cancel(
        &self,
        s: &Session,
        req: HookCancelRequest,
    ) -> impl Future<Output = Result<Empty, ApiError>> + Send;
    /// WebhookTest.
    fn webhook_test(
        &self,
        s: &Session,
        req: WebhookTestRequest,
    ) -> impl Future<Output = Result<WebhookTestResult, ApiError>> + Send;
}

/// How the router is mounted and limited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterOptions {
    /// Path prefix; the API is served at `<base_path>v0/...`. Default "/webapi/".
    pub base_path: String,
    /// Largest request body accepted, bytes. Default 100 MiB.
    pub max_message_size: u64,
    /// Take the client address from the last `X-Forwarded-For` entry (behind
    /// a reverse proxy); a request without it is then refused.
    pub trust_forwarded: bool,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            base_path: "/webapi/".into(),
            max_message_size: 100 << 20,
            trust_forwarded: false,
        }
    }
}

/// Longest accepted Idempotency-Key.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

struct Inner<B> {
    backend: Arc<B>,
    options: RouterOptions,
}

/// The API's routes over `backend`. Only the paths under
/// `options.base_path` are routed, so the result can be merged into a
/// larger router.
pub fn router<B: Backend>(backend: Arc<B>, options: RouterOptions) -> Router {
    let mut base = options.base_path.clone();
    if !base.starts_with('/') {
        base.insert(0, '/');
    }
    if !base.ends_with('/') {
        base.push('/');
    }
    let limit = usize::try_from(options.max_message_size).unwrap_or(usize::MAX);
    let inner = Arc::new(Inner {
        backend,
        options: RouterOptions {
            base_path: base.clone(),
            ..options
        },
    });
    Router::new()
        .route(&base, any(base_page))
        .route(&format!("{base}v0/"), any(index_page))
        .route(&format!("{base}v0/openapi.json"), any(openapi_json))
        .route(&format!("{base}v0/{{method}}"), any(call::<B>))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(inner)
}

fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "GET, POST")],
        "405 - method not allowed\n",
    )
        .into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 - not found\n").into_response()
}

async fn base_page(method: HttpMethod) -> Response {
    if method != HttpMethod::GET {
        return method_not_allowed();
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, "v0/")]).into_response()
}

async fn index_page(method: HttpMethod) -> Response {
    if method != HttpMethod::GET {
        return method_not_allowed();
    }
    html(pages::index())
}

async fn openapi_json(method: HttpMethod) -> Response {
    if method != HttpMethod::GET {
        return method_not_allowed();
    }
    json_response(&crate::openapi::document())
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn json_response<T: Serialize>(v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => ApiError::server(format!("encoding response: {e}")).into_response(),
    }
}

fn raw_response(content_type: &'static str, body: Vec<u8>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn call<B: Backend>(
    State(st): State<Arc<Inner<B>>>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let Some(method) = Method::parse(&name) else {
        return not_found();
    };
    match *req.method() {
        HttpMethod::GET => return html(pages::method(method)),
        HttpMethod::POST => {}
        _ => return method_not_allowed(),
    }
    let started = std::time::Instant::now();
    let result = handle(&st, method, req).await;
    match result {
        Ok(resp) => {
            tracing::debug!(target: "webapi", method = method.as_str(), took_ms = started.elapsed().as_millis() as u64, "call ok");
            resp
        }
        Err(e) => {
            if e.code == ErrorCode::Server {
                tracing::error!(target: "webapi", method = method.as_str(), error = %e.message, "call failed");
            } else {
                tracing::debug!(target: "webapi", method = method.as_str(), code = e.code.as_str(), error = %e.message, "call failed");
            }
            e.into_response()
        }
    }
}

fn client_ip<B>(st: &Inner<B>, req: &Request) -> Result<IpAddr, ApiError> {
    if st.options.trust_forwarded {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .next_back();
        return forwarded.ok_or_else(|| {
            ApiError::server("behind a reverse proxy but the request has no X-Forwarded-For")
        });
    }
    Ok(req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
}

/// Username and password of an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
        .ok_or_else(|| {
            ApiError::protocol(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
            ))
        })?;
    Ok(Some(key.to_string()))
}

/// The fingerprint of a parsed request: SHA-256 over the method name, a
/// newline and the request's JSON (fields in declaration order, files as
/// base64), so equal requests agree whatever their encoding on the wire.
pub fn fingerprint<T: Serialize>(method: Method, req: &T) -> Result<[u8; 32], ApiError> {
    let json = serde_json::to_vec(req)
        .map_err(|e| ApiError::server(format!("encoding request for fingerprint: {e}")))?;
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b"\n");
    h.update(&json);
    Ok(h.finalize().into())
}

/// The request as it came: the JSON text and any uploaded files.
struct Incoming {
    json: String,
    files: Vec<(FileKind, File)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Alternative,
    Inline,
    Attached,
}

async fn read_request<B>(
    st: &Inner<B>,
    method: Method,
    req: Request,
) -> Result<Incoming, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let limit = usize::try_from(st.options.max_message_size).unwrap_or(usize::MAX);
    match media.as_str() {
        "application/json" => {
            let body = read_body(req, limit).await?;
            let json = String::from_utf8(body.to_vec())
                .map_err(|_| ApiError::protocol("JSON body is not UTF-8"))?;
            Ok(Incoming {
                json,
                files: Vec::new(),
            })
        }
        "application/x-www-form-urlencoded" => {
            let body = read_body(req, limit).await?;
            let mut json = None;
            for (k, v) in parse_urlencoded(&body) {
                match k.as_str() {
                    "request" if json.is_none() => json = Some(v),
                    "request" => return Err(ApiError::protocol("form field request given twice")),
                    // The reference reads only `request` and ignores other fields.
                    other => {
                        tracing::debug!(target: "webapi", field = other, "ignoring form field")
                    }
                }
            }
            Ok(Incoming {
                json: json.unwrap_or_default(),
                files: Vec::new(),
            })
        }
        "multipart/form-data" => read_multipart(method, req).await,
        "" => Err(ApiError::protocol(
            "missing Content-Type; send form field \"request\" or a JSON body",
        )),
        other => Err(ApiError::protocol(format!(
            "unsupported Content-Type {other:?}; use application/x-www-form-urlencoded, multipart/form-data or application/json"
        ))),
    }
}

async fn read_body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|e| body_error(&e.to_string(), limit))
}

fn body_error(e: &str, limit: usize) -> ApiError {
    if e.contains("length limit") || e.contains("too large") {
        ApiError::new(
            ErrorCode::MessageTooLarge,
            format!("request body exceeds the maximum of {limit} bytes"),
        )
    } else {
        ApiError::protocol(format!("reading request body: {e}"))
    }
}

async fn read_multipart(method: Method, req: Request) -> Result<Incoming, ApiError> {
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::protocol(format!("reading multipart form: {}", e.body_text())))?;
    let mut json = None;
    let mut files = Vec::new();
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let text = e.body_text();
                return Err(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        ErrorCode::MessageTooLarge,
                        format!("multipart form: {text}"),
                    )
                } else {
                    ApiError::protocol(format!("reading multipart form: {text}"))
                });
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let kind = match name.as_str() {
            "request" => {
                if json.is_some() {
                    return Err(ApiError::protocol("form field request given twice"));
                }
                let text = field.text().await.map_err(|e| {
                    ApiError::protocol(format!("reading field request: {}", e.body_text()))
                })?;
                json = Some(text);
                continue;
            }
            "alternativefile" => FileKind::Alternative,
            "inlinefile" => FileKind::Inline,
            "attachedfile" => FileKind::Attached,
            other => {
                tracing::debug!(target: "webapi", field = other, "ignoring form field");
                continue;
            }
        };
        if method != Method::Send {
            return Err(ApiError::protocol(format!(
                "file uploads are only accepted by Send, not {method}"
            )));
        }
        let filename = field.file_name().unwrap_or("").to_string();
        let declared = field
            .content_type()
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty() && c != "application/octet-stream");
        let content_id = field
            .headers()
            .get("content-id")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
            .unwrap_or_default();
        let data = field.bytes().await.map_err(|e| {
            ApiError::protocol(format!("reading file {filename:?}: {}", e.body_text()))
        })?;
        let content_type = declared.unwrap_or_else(|| crate::compose::sniff(&data).to_string());
        files.push((
            kind,
            File {
                name: filename,
                content_type,
                content_id,
                data: base64::engine::general_purpose::STANDARD.encode(&data),
            },
        ));
    }
    Ok(Incoming {
        json: json.unwrap_or_default(),
        files,
    })
}

/// Decodes `application/x-www-form-urlencoded` pairs.
fn parse_urlencoded(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &[u8]| -> String {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while let Some(&b) = s.get(i) {
            match b {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = s
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    if let Some(v) = hex {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    out.push(b'%');
                }
                _ => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    body.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(eq) => (
                decode(p.get(..eq).unwrap_or_default()),
                decode(p.get(eq + 1..).unwrap_or_default()),
            ),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn decode<T: DeserializeOwned>(json: &str) -> Result<T, ApiError> {
    if json.trim().is_empty() {
        return Err(ApiError::protocol("missing request"));
    }
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| ApiError::protocol(format!("request is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::protocol("request must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| ApiError::protocol(format!("decoding request: {e}")))
}

async fn handle<B: Backend>(
    st: &Inner<B>,
    method: Method,
    req: Request,
) -> Result<Response, ApiError> {
    let ip = match client_ip(st, &req) {
        Ok(ip) => ip,
        Err(e) => {
            // As the reference: a proxy setup without the header is the
            // server's fault, so 500 (with the usual JSON body).
            tracing::error!(target: "webapi", method = method.as_str(), error = %e.message, "no client address");
            let mut resp = e.into_response();
            *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return Ok(resp);
        }
    };
    let Some((user, pass)) = basic_credentials(req.headers()) else {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "missing HTTP Basic credentials",
        ));
    };
    let session = st
        .backend
        .authenticate(ip, &user, &pass)
        .await
        .map_err(ApiError::from)?;
    let key = idempotency_key(req.headers())?;
    let incoming = read_request(st, method, req).await?;
    // Request contents stay out of the log; sizes say enough to debug.
    tracing::trace!(
        target: "webapi",
        method = method.as_str(),
        account = %session.account,
        ip = %session.ip,
        request_bytes = incoming.json.len(),
        files = incoming.files.len(),
        idempotency_key = key.is_some(),
        "request"
    );
    let b = &st.backend;
    let s = &session;
    let json = incoming.json.as_str();
    macro_rules! json_call {
        ($f:ident) => {
            json_response(&b.$f(s, decode(json)?).await?)
        };
    }
    let resp = match method {
        Method::Send => {
            let mut r: SendRequest = decode(json)?;
            for (kind, f) in incoming.files {
                match kind {
                    FileKind::Alternative => r.alternative_files.push(f),
                    FileKind::Inline => r.inline_files.push(f),
                    FileKind::Attached => r.attached_files.push(f),
                }
            }
            let idem = match key {
                Some(key) => Some(Idempotency {
                    fingerprint: fingerprint(method, &r)?,
                    key,
                }),
                None => None,
            };
            json_response(&b.send(s, r, idem).await?)
        }
        Method::SendBatch => {
            let r: SendBatchRequest = decode(json)?;
            if r.messages.len() > MAX_BATCH {
                return Err(ApiError::new(
                    ErrorCode::BatchTooLarge,
                    format!(
                        "{} messages in one SendBatch, at most {MAX_BATCH} allowed",
                        r.messages.len()
                    ),
                ));
            }
            let idem = match key {
                Some(key) => Some(Idempotency {
                    fingerprint: fingerprint(method, &r)?,
                    key,
                }),
                None => None,
            };
            json_response(&b.send_batch(s, r, idem).await?)
        }
        Method::SuppressionList => json_call!(suppression_list),
        Method::SuppressionAdd => json_call!(suppression_add),
        Method::SuppressionRemove => json_call!(suppression_remove),
        Method::SuppressionPresent => json_call!(suppression_present),
        Method::SuppressionCheck => json_call!(suppression_check),
        Method::MessageList => json_call!(message_list),
        Method::MessageGet => json_call!(message_get),
        Method::MessageRawGet => {
            raw_response("text/plain", b.message_raw_get(s, decode(json)?).await?)
        }
        Method::MessagePartGet => raw_response(
            "application/octet-stream",
            b.message_part_get(s, decode(json)?).await?,
        ),
        Method::MessageDelete => json_call!(message_delete),
        Method::MessageFlagsAdd => json_call!(message_flags_add),
        Method::MessageFlagsRemove => json_call!(message_flags_remove),
        Method::MessageMove => json_call!(message_move),
        Method::MessageStatus => json_call!(message_status),
        Method::HookList => json_call!(hook_list),
        Method::HookRetry => json_call!(hook_retry),
        Method::HookReplay => json_call!(hook_replay),
        Method::HookCancel => json_call!(hook_cancel),
        Method::WebhookTest => json_call!(webhook_test),
    };
    Ok(resp)
}

/// `Content-Type` value of JSON responses.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

#[cfg(test)]
mod tests;
