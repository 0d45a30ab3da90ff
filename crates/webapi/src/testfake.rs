//! A recording backend for the router and client tests.

use std::net::IpAddr;
use std::sync::Mutex;

use serde::Serialize;

use crate::error::{ApiError, ErrorCode};
use crate::server::{AuthFailure, Backend, Idempotency, Session};
use crate::types::*;

pub(crate) type Call = (String, Session, serde_json::Value, Option<Idempotency>);

/// Records what the router hands over and answers with canned values.
#[derive(Default)]
pub(crate) struct Fake {
    pub(crate) calls: Mutex<Vec<Call>>,
}

impl Fake {
    fn record<T: Serialize>(&self, name: &str, s: &Session, req: &T, idem: Option<Idempotency>) {
        let v = serde_json::to_value(req).unwrap();
        self.calls
            .lock()
            .unwrap()
            .push((name.to_string(), s.clone(), v, idem));
    }

    pub(crate) fn last(&self) -> Call {
        self.calls.lock().unwrap().last().cloned().unwrap()
    }
}

pub(crate) const RAW: &[u8] = b"Subject: hi\r\nContent-Type: text/plain\r\n\r\nhello\r\n";

impl Backend for Fake {
    async fn authenticate(
        &self,
        ip: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<Session, AuthFailure> {
        match (username, password) {
            ("ann@example.org", "secret") => Ok(Session {
                account: "ann".into(),
                login: username.into(),
                ip,
            }),
            ("disabled@example.org", _) => Err(AuthFailure::Disabled),
            ("flood@example.org", _) => Err(AuthFailure::TooManyAttempts),
            ("broken@example.org", _) => Err(AuthFailure::Internal("store down".into())),
            _ => Err(AuthFailure::BadCredentials),
        }
    }
    async fn send(
        &self,
        s: &Session,
        req: SendRequest,
        idem: Option<Idempotency>,
    ) -> Result<SendResult, ApiError> {
        self.record("Send", s, &req, idem.clone());
        if idem.as_ref().is_some_and(|i| i.key == "mismatch") {
            return Err(ApiError::new(
                ErrorCode::IdempotencyMismatch,
                "key used for another request",
            ));
        }
        Ok(SendResult {
            message_id: "<m@x>".into(),
            submissions: vec![],
        })
    }
    async fn send_batch(
        &self,
        s: &Session,
        req: SendBatchRequest,
        idem: Option<Idempotency>,
    ) -> Result<SendBatchResult, ApiError> {
        self.record("SendBatch", s, &req, idem);
        Ok(SendBatchResult::default())
    }
    async fn suppression_list(
        &self,
        s: &Session,
        req: SuppressionListRequest,
    ) -> Result<SuppressionListResult, ApiError> {
        self.record("SuppressionList", s, &req, None);
        Ok(SuppressionListResult::default())
    }
    async fn suppression_add(
        &self,
        s: &Session,
        req: SuppressionAddRequest,
    ) -> Result<Empty, ApiError> {
        self.record("SuppressionAdd", s, &req, None);
        Ok(Empty {})
    }
    async fn suppression_remove(
        &self,
        s: &Session,
        req: SuppressionRemoveRequest,
    ) -> Result<Empty, ApiError> {
        self.record("SuppressionRemove", s, &req, None);
        Err(ApiError::new(
            ErrorCode::Error,
            "address not in suppression list",
        ))
    }
    async fn suppression_present(
        &self,
        s: &Session,
        req: SuppressionPresentRequest,
    ) -> Result<SuppressionPresentResult, ApiError> {
        self.record("SuppressionPresent", s, &req, None);
        Ok(SuppressionPresentResult { present: true })
    }
    async fn suppression_check(
        &self,
        s: &Session,
        req: SuppressionCheckRequest,
    ) -> Result<SuppressionCheckResult, ApiError> {
        self.record("SuppressionCheck", s, &req, None);
        Ok(SuppressionCheckResult::default())
    }
    async fn message_list(
        &self,
        s: &Session,
        req: MessageListRequest,
    ) -> Result<MessageListResult, ApiError> {
        self.record("MessageList", s, &req, None);
        Ok(MessageListResult::default())
    }
    async fn message_get(
        &self,
        s: &Session,
        req: MessageGetRequest,
    ) -> Result<MessageGetResult, ApiError> {
        self.record("MessageGet", s, &req, None);
        if req.msg_id != 1 {
            return Err(ApiError::new(
                ErrorCode::MessageNotFound,
                format!("no message {}", req.msg_id),
            ));
        }
        let (message, structure) = crate::mime::parse(RAW);
        Ok(MessageGetResult {
            message,
            structure,
            meta: MessageMeta::default(),
        })
    }
    async fn message_raw_get(
        &self,
        s: &Session,
        req: MessageRawGetRequest,
    ) -> Result<Vec<u8>, ApiError> {
        self.record("MessageRawGet", s, &req, None);
        Ok(RAW.to_vec())
    }
    async fn message_part_get(
        &self,
        s: &Session,
        req: MessagePartGetRequest,
    ) -> Result<Vec<u8>, ApiError> {
        self.record("MessagePartGet", s, &req, None);
        crate::mime::part(RAW, &req.part_path)
    }
    async fn message_delete(
        &self,
        s: &Session,
        req: MessageDeleteRequest,
    ) -> Result<Empty, ApiError> {
        self.record("MessageDelete", s, &req, None);
        Ok(Empty {})
    }
    async fn message_flags_add(
        &self,
        s: &Session,
        req: MessageFlagsAddRequest,
    ) -> Result<Empty, ApiError> {
        self.record("MessageFlagsAdd", s, &req, None);
        Ok(Empty {})
    }
    async fn message_flags_remove(
        &self,
        s: &Session,
        req: MessageFlagsRemoveRequest,
    ) -> Result<Empty, ApiError> {
        self.record("MessageFlagsRemove", s, &req, None);
        Ok(Empty {})
    }
    async fn message_move(&self, s: &Session, req: MessageMoveRequest) -> Result<Empty, ApiError> {
        self.record("MessageMove", s, &req, None);
        Ok(Empty {})
    }
    async fn message_status(
        &self,
        s: &Session,
        req: MessageStatusRequest,
    ) -> Result<MessageStatusResult, ApiError> {
        self.record("MessageStatus", s, &req, None);
        Ok(MessageStatusResult::default())
    }
    async fn hook_list(
        &self,
        s: &Session,
        req: HookListRequest,
    ) -> Result<HookListResult, ApiError> {
        self.record("HookList", s, &req, None);
        Ok(HookListResult::default())
    }
    async fn hook_retry(&self, s: &Session, req: HookRetryRequest) -> Result<Empty, ApiError> {
        self.record("HookRetry", s, &req, None);
        Ok(Empty {})
    }
    async fn hook_replay(
        &self,
        s: &Session,
        req: HookReplayRequest,
    ) -> Result<HookReplayResult, ApiError> {
        self.record("HookReplay", s, &req, None);
        Ok(HookReplayResult { id: req.id + 1 })
    }
    async fn hook_cancel(&self, s: &Session, req: HookCancelRequest) -> Result<Empty, ApiError> {
        self.record("HookCancel", s, &req, None);
        Err(ApiError::new(
            ErrorCode::HookNotFound,
            format!("no webhook {}", req.id),
        ))
    }
    async fn webhook_test(
        &self,
        s: &Session,
        req: WebhookTestRequest,
    ) -> Result<WebhookTestResult, ApiError> {
        self.record("WebhookTest", s, &req, None);
        Ok(WebhookTestResult::default())
    }
}
