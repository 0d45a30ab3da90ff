//! An async client for the API, compatible with the reference server: it
//! posts the form field `request` and decodes JSON results and error bodies.
//!
//! ```no_run
//! # async fn run() -> Result<(), webapi::client::ClientError> {
//! use webapi::client::Client;
//! use webapi::types::{NameAddress, SendRequest};
//!
//! let client = Client::new(
//!     "http://localhost:1080/webapi/v0/",
//!     Some(("ann@example.org".into(), "secret".into())),
//! )?;
//! let result = client
//!     .send(&SendRequest {
//!         to: vec![NameAddress::new("", "bob@example.net")],
//!         subject: "hi".into(),
//!         text: "hello\n".into(),
//!         ..SendRequest::default()
//!     })
//!     .await?;
//! assert_eq!(result.submissions.len(), 1);
//! # Ok(()) }
//! ```

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::types::*;

/// Largest JSON result read.
pub const MAX_JSON_RESPONSE: usize = 32 << 20;
/// Largest raw message or part read.
pub const MAX_RAW_RESPONSE: usize = 256 << 20;
/// Largest error body read.
pub const MAX_ERROR_RESPONSE: usize = 10 << 10;

/// What can go wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an API error.
    #[error("{method}: {error}")]
    Api {
        /// The method called.
        method: Method,
        /// The error body.
        error: ApiError,
    },
    /// The server answered with a status and body that are not an API error.
    #[error("{method}: HTTP status {status}: {body}")]
    Http {
        /// The method called.
        method: Method,
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The request could not be sent or the response not read.
    #[error("{method}: request to {url}: {source}")]
    Transport {
        /// The method called.
        method: Method,
        /// The URL.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The response body is not what the method returns.
    #[error("{method}: decoding response: {reason}")]
    Decode {
        /// The method called.
        method: Method,
        /// What did not decode.
        reason: String,
    },
    /// The response was larger than allowed.
    #[error("{method}: response larger than {limit} bytes")]
    TooLarge {
        /// The method called.
        method: Method,
        /// The limit.
        limit: usize,
    },
    /// The client could not be built (base URL, TLS setup).
    #[error("setting up web API client: {0}")]
    Setup(String),
}

impl ClientError {
    /// The API error, if the server answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A web API client for one account.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: Option<(String, String)>,
}

impl Client {
    /// A client for `base_url` (e.g. `"http://localhost:1080/webapi/v0/"`)
    /// with optional HTTP Basic credentials. HTTPS is verified against the
    /// Mozilla roots (webpki-roots), TLS by rustls with the ring provider.
    ///
    /// # Errors
    /// [`ClientError::Setup`] for a base URL that is not http(s) or a TLS
    /// setup failure.
    pub fn new(base_url: &str, auth: Option<(String, String)>) -> Result<Client, ClientError> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Setup(format!("TLS versions: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .user_agent(concat!("postel-webapi-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Setup(format!("HTTP client: {e}")))?;
        Client::with_http_client(base_url, auth, http)
    }

    /// A client using a prepared `reqwest::Client` (own TLS roots, timeouts, proxies).
    ///
    /// # Errors
    /// [`ClientError::Setup`] for a base URL that is not http(s).
    pub fn with_http_client(
        base_url: &str,
        auth: Option<(String, String)>,
        http: reqwest::Client,
    ) -> Result<Client, ClientError> {
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ClientError::Setup(format!(
                "base URL {base_url:?} is not http:// or https://"
            )));
        }
        let mut base = base_url.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(Client { http, base, auth })
    }

    async fn post(
        &self,
        method: Method,
        req: &impl Serialize,
        idempotency_key: Option<&str>,
    ) -> Result<reqwest::Response, ClientError> {
        let json = serde_json::to_string(req).map_err(|e| ClientError::Decode {
            method,
            reason: format!("encoding request: {e}"),
        })?;
        let url = format!("{}{}", self.base, method.as_str());
        let mut b = self
            .http
            .post(&url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(format!("request={}", form_escape(&json)));
        if let Some((user, pass)) = &self.auth {
            b = b.basic_auth(user, Some(pass));
        }
        if let Some(key) = idempotency_key {
            b = b.header("Idempotency-Key", key);
        }
        let resp = b.send().await.map_err(|source| ClientError::Transport {
            method,
            url: url.clone(),
            source,
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body = read_limited(method, resp, MAX_ERROR_RESPONSE).await?;
        match serde_json::from_slice::<ApiError>(&body) {
            Ok(error) => Err(ClientError::Api { method, error }),
            Err(_) => Err(ClientError::Http {
                method,
                status,
                body: String::from_utf8_lossy(&body).chars().take(512).collect(),
            }),
        }
    }

    /// Calls `method` with `req` and decodes the JSON result. The typed
    /// methods below use this; it is public for methods a newer server has.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: Method,
        req: &Req,
        idempotency_key: Option<&str>,
    ) -> Result<Resp, ClientError> {
        let resp = self.post(method, req, idempotency_key).await?;
        let body = read_limited(method, resp, MAX_JSON_RESPONSE).await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Decode {
            method,
            reason: e.to_string(),
        })
    }

    async fn call_raw<Req: Serialize>(
        &self,
        method: Method,
        req: &Req,
    ) -> Result<Vec<u8>, ClientError> {
        let resp = self.post(method, req, None).await?;
        read_limited(method, resp, MAX_RAW_RESPONSE).await
    }

    /// Send: compose and queue a message.
    ///
    /// # Errors
    /// See [`ClientError`]; API errors such as `badAddress` or `missingBody`
    /// come as [`ClientError::Api`].
    pub async fn send(&self, req: &SendRequest) -> Result<SendResult, ClientError> {
        self.call(Method::Send, req, None).await
    }

    /// Send with an `Idempotency-Key`: a retry with the same key and request
    /// returns the first result without sending again.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn send_idempotent(
        &self,
        req: &SendRequest,
        key: &str,
    ) -> Result<SendResult, ClientError> {
        self.call(Method::Send, req, Some(key)).await
    }

    /// SendBatch, optionally with an `Idempotency-Key`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn send_batch(
        &self,
        req: &SendBatchRequest,
        key: Option<&str>,
    ) -> Result<SendBatchResult, ClientError> {
        self.call(Method::SendBatch, req, key).await
    }

    /// SuppressionList.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn suppression_list(&self) -> Result<SuppressionListResult, ClientError> {
        self.call(Method::SuppressionList, &SuppressionListRequest {}, None)
            .await
    }

    /// SuppressionAdd.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn suppression_add(&self, req: &SuppressionAddRequest) -> Result<(), ClientError> {
        self.call::<_, Empty>(Method::SuppressionAdd, req, None)
            .await
            .map(drop)
    }

    /// SuppressionRemove.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn suppression_remove(
        &self,
        req: &SuppressionRemoveRequest,
    ) -> Result<(), ClientError> {
        self.call::<_, Empty>(Method::SuppressionRemove, req, None)
            .await
            .map(drop)
    }

    /// SuppressionPresent.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn suppression_present(
        &self,
        req: &SuppressionPresentRequest,
    ) -> Result<SuppressionPresentResult, ClientError> {
        self.call(Method::SuppressionPresent, req, None).await
    }

    /// SuppressionCheck.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn suppression_check(
        &self,
        req: &SuppressionCheckRequest,
    ) -> Result<SuppressionCheckResult, ClientError> {
        self.call(Method::SuppressionCheck, req, None).await
    }

    /// MessageList.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn message_list(
        &self,
        req: &MessageListRequest,
    ) -> Result<MessageListResult, ClientError> {
        self.call(Method::MessageList, req, None).await
    }

    /// MessageGet.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn message_get(
        &self,
        req: &MessageGetRequest,
    ) -> Result<MessageGetResult, ClientError> {
        self.call(Method::MessageGet, req, None).await
    }

    /// MessageRawGet: the raw message bytes.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn message_raw_get(
        &self,
        req: &MessageRawGetRequest,
    ) -> Result<Vec<u8>, ClientError> {
        self.call_raw(Method::MessageRawGet, req).await
    }

    /// MessagePartGet: the decoded bytes of one part.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn message_part_get(
        &self,
        req: &MessagePartGetRequest,
    ) -> Result<Vec<u8>, ClientError> {
        self.call_raw(Method::MessagePartGet, req).await
    }

    /// MessageDelete.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn message_delete(&self, req: &MessageDeleteRequest) -> Result<(), ClientError> {
        self.call::<_, Empty>(Method::MessageDelete, req, None)
            .await
            .map(drop)
    }

    /// MessageFlagsAdd.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn message_flags_add(&self, req: &MessageFlagsAddRequest) -> Result<(), ClientError> {
        self.call::<_, Empty>(Method::MessageFlagsAdd, req, None)
            .await
            .map(drop)
    }

    /// MessageFlagsRemove.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn message_flags_remove(
        &self,
        req: &MessageFlagsRemoveRequest,
    ) -> Result<(), ClientError> {
        self.call::<_, Empty>(Method::MessageFlagsRemove, req, None)
            .await
            .map(drop)
    }

    /// MessageMove.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn message_move(&self, req: &MessageMoveRequest) -> Result<(), ClientError> {
        self.call::<_, Empty>(Method::MessageMove, req, None)
            .await
            .map(drop)
    }

    /// MessageStatus.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn message_status(
        &self,
        req: &MessageStatusRequest,
    ) -> Result<MessageStatusResult, ClientError> {
        self.call(Method::MessageStatus, req, None).await
    }

    /// HookList.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn hook_list(&self, req: &HookListRequest) -> Result<HookListResult, ClientError> {
        self.call(Method::HookList, req, None).await
    }

    /// HookRetry.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn hook_retry(&self, req: &HookRetryRequest) -> Result<(), ClientError> {
        self.call::<_, Empty>(Method::HookRetry, req, None)
            .await
            .map(drop)
    }

    /// HookReplay: returns the new webhook's id.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn hook_replay(
        &self,
        req: &HookReplayRequest,
    ) -> Result<HookReplayResult, ClientError> {
        self.call(Method::HookReplay, req, None).await
    }

    /// HookCancel.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn hook_cancel(&self, req: &HookCancelRequest) -> Result<(), ClientError> {
        self.call::<_, Empty>(Method::HookCancel, req, None)
            .await
            .map(drop)
    }

    /// WebhookTest.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn webhook_test(
        &self,
        req: &WebhookTestRequest,
    ) -> Result<WebhookTestResult, ClientError> {
        self.call(Method::WebhookTest, req, None).await
    }
}

async fn read_limited(
    method: Method,
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ClientError> {
    let url = resp.url().to_string();
    let mut out = Vec::new();
    loop {
        let chunk = resp
            .chunk()
            .await
            .map_err(|source| ClientError::Transport {
                method,
                url: url.clone(),
                source,
            })?;
        let Some(chunk) = chunk else {
            return Ok(out);
        };
        if out.len() + chunk.len() > limit {
            return Err(ClientError::TooLarge { method, limit });
        }
        out.extend_from_slice(&chunk);
    }
}

/// Percent-encodes a form value (application/x-www-form-urlencoded).
fn form_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests;
