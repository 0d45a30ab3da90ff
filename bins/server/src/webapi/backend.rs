//! [`webapi::server::Backend`] for [`WebApi`]: each method delegates to
//! the module that implements it.

use std::net::IpAddr;

use webapi::ApiError;
use webapi::server::{AuthFailure, Backend, Idempotency, Session};
use webapi::types::*;

use super::WebApi;

impl Backend for WebApi {
    async fn authenticate(
        &self,
        ip: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<Session, AuthFailure> {
        self.login(ip, username, password).await
    }

    async fn send(
        &self,
        s: &Session,
        req: SendRequest,
        idem: Option<Idempotency>,
    ) -> Result<SendResult, ApiError> {
        let mut results = self.submit(s, vec![req], idem, false).await?;
        results
            .pop()
            .ok_or_else(|| super::internal("send", "no result for the message"))
    }

    async fn send_batch(
        &self,
        s: &Session,
        req: SendBatchRequest,
        idem: Option<Idempotency>,
    ) -> Result<SendBatchResult, ApiError> {
        if req.messages.len() > MAX_BATCH {
            return Err(ApiError::new(
                webapi::ErrorCode::BatchTooLarge,
                format!(
                    "{} messages; at most {MAX_BATCH} per SendBatch",
                    req.messages.len()
                ),
            ));
        }
        let results = self.submit(s, req.messages, idem, true).await?;
        Ok(SendBatchResult { results })
    }

    async fn suppression_list(
        &self,
        s: &Session,
        _req: SuppressionListRequest,
    ) -> Result<SuppressionListResult, ApiError> {
        self.suppressions_list(s).await
    }

    async fn suppression_add(
        &self,
        s: &Session,
        req: SuppressionAddRequest,
    ) -> Result<Empty, ApiError> {
        self.suppressions_add(s, req).await.map(|()| Empty {})
    }

    async fn suppression_remove(
        &self,
        s: &Session,
        req: SuppressionRemoveRequest,
    ) -> Result<Empty, ApiError> {
        self.suppressions_remove(s, req).await.map(|()| Empty {})
    }

    async fn suppression_present(
        &self,
        s: &Session,
        req: SuppressionPresentRequest,
    ) -> Result<SuppressionPresentResult, ApiError> {
        self.suppressions_present(s, req).await
    }

    async fn suppression_check(
        &self,
        s: &Session,
        req: SuppressionCheckRequest,
    ) -> Result<SuppressionCheckResult, ApiError> {
        self.suppressions_check(s, req).await
    }

    async fn message_list(
        &self,
        s: &Session,
        req: MessageListRequest,
    ) -> Result<MessageListResult, ApiError> {
        self.messages_list(s, req).await
    }

    async fn message_get(
        &self,
        s: &Session,
        req: MessageGetRequest,
    ) -> Result<MessageGetResult, ApiError> {
        self.messages_get(s, req).await
    }

    async fn message_raw_get(
        &self,
        s: &Session,
        req: MessageRawGetRequest,
    ) -> Result<Vec<u8>, ApiError> {
        self.messages_raw(s, req).await
    }

    async fn message_part_get(
        &self,
        s: &Session,
        req: MessagePartGetRequest,
    ) -> Result<Vec<u8>, ApiError> {
        self.messages_part(s, req).await
    }

    async fn message_delete(
        &self,
        s: &Session,
        req: MessageDeleteRequest,
    ) -> Result<Empty, ApiError> {
        self.messages_delete(s, req).await.map(|()| Empty {})
    }

    async fn message_flags_add(
        &self,
        s: &Session,
        req: MessageFlagsAddRequest,
    ) -> Result<Empty, ApiError> {
        self.messages_flags(s, req, true).await.map(|()| Empty {})
    }

    async fn message_flags_remove(
        &self,
        s: &Session,
        req: MessageFlagsRemoveRequest,
    ) -> Result<Empty, ApiError> {
        self.messages_flags(s, req, false).await.map(|()| Empty {})
    }

    async fn message_move(&self, s: &Session, req: MessageMoveRequest) -> Result<Empty, ApiError> {
        self.messages_move(s, req).await.map(|()| Empty {})
    }

    async fn message_status(
        &self,
        s: &Session,
        req: MessageStatusRequest,
    ) -> Result<MessageStatusResult, ApiError> {
        self.status(s, req).await
    }

    async fn hook_list(
        &self,
        s: &Session,
        req: HookListRequest,
    ) -> Result<HookListResult, ApiError> {
        self.hooks_list(s, req).await
    }

    async fn hook_retry(&self, s: &Session, req: HookRetryRequest) -> Result<Empty, ApiError> {
        self.hooks_retry(s, req).await.map(|()| Empty {})
    }

    async fn hook_replay(
        &self,
        s: &Session,
        req: HookReplayRequest,
    ) -> Result<HookReplayResult, ApiError> {
        self.hooks_replay(s, req).await
    }

    async fn hook_cancel(&self, s: &Session, req: HookCancelRequest) -> Result<Empty, ApiError> {
        self.hooks_cancel(s, req).await.map(|()| Empty {})
    }

    async fn webhook_test(
        &self,
        s: &Session,
        req: WebhookTestRequest,
    ) -> Result<WebhookTestResult, ApiError> {
        self.hooks_test(s, req).await
    }
}
