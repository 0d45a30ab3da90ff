//! HookList, HookRetry, HookReplay, HookCancel and WebhookTest for the
//! account's own endpoints, and the webhooks shown in MessageStatus. The
//! hook queue is the queue store's; hooks of other accounts are
//! `hookNotFound` like absent ones.

use queue::webhook::{EventKind, HookRecord};
use queue::{Store, StoreError};
use webapi::server::Session;
use webapi::types::{
    HookAttempt, HookIdRequest, HookInfo, HookListRequest, HookListResult, HookReplayResult,
    MessageStatus, WebhookTestRequest, WebhookTestResult,
};
use webapi::{ApiError, ErrorCode};

use super::{WebApi, blocking, internal};

/// Most hooks one HookList returns.
pub const MAX_LIST: u32 = 1000;

/// A hook as the API shows it.
pub fn hook_info(h: &HookRecord) -> HookInfo {
    HookInfo {
        id: h.id,
        endpoint_id: h.endpoint_id.clone(),
        queue_msg_id: h.queue_msg_id,
        event: h.event.clone(),
        url: h.url.clone(),
        submitted: h.submitted,
        attempts: h.attempts,
        next_attempt: h.next_attempt,
        success: h.success,
        superseded_by_id: h.superseded_by,
        replay_of_id: h.replay_of,
        results: h
            .results
            .iter()
            .map(|r| HookAttempt {
                start: r.start(),
                duration_ms: r.duration_ms,
                url: r.url.clone(),
                success: r.success,
                code: r.code,
                error: r.error.clone(),
                response: r.response.clone(),
            })
            .collect(),
    }
}

fn not_found(id: i64) -> ApiError {
    ApiError::new(ErrorCode::HookNotFound, format!("webhook {id} not found"))
}

fn hook_error(id: i64, during: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { .. } => not_found(id),
        e => internal(during, e),
    }
}

impl WebApi {
    /// Fills `Events` of each status with the message's webhooks.
    pub(crate) async fn attach_events(
        &self,
        messages: &mut [MessageStatus],
    ) -> Result<(), ApiError> {
        let ids: Vec<i64> = messages.iter().map(|m| m.queue_msg_id).collect();
        let queue = self.queue.clone();
        let hooks = blocking("message webhooks", move || {
            ids.iter()
                .map(|id| queue.hooks_for_message(*id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?
        .map_err(|e| internal("reading the message's webhooks", e))?;
        for (m, hooks) in messages.iter_mut().zip(hooks) {
            m.events = hooks.iter().map(hook_info).collect();
        }
        Ok(())
    }

    pub(crate) async fn hooks_list(
        &self,
        s: &Session,
        req: HookListRequest,
    ) -> Result<HookListResult, ApiError> {
        let limit = match req.limit {
            0 => 100,
            n => n.min(MAX_LIST),
        } as usize;
        let (queue, account) = (self.queue.clone(), s.account.clone());
        let hooks = blocking("hook list", move || {
            queue.hooks_list(&account, req.retired, req.after_id, limit)
        })
        .await?
        .map_err(|e| internal("listing webhooks", e))?;
        Ok(HookListResult {
            hooks: hooks.iter().map(hook_info).collect(),
        })
    }

    /// Refuses ids of hooks that are not the account's before acting.
    async fn own_hook(&self, s: &Session, id: i64) -> Result<(), ApiError> {
        let queue = self.queue.clone();
        let hook = blocking("hook", move || queue.hook_get(id))
            .await?
            .map_err(|e| internal("reading a webhook", e))?;
        match hook {
            Some(h) if h.account == s.account => Ok(()),
            _ => Err(not_found(id)),
        }
    }

    pub(crate) async fn hooks_retry(
        &self,
        s: &Session,
        req: HookIdRequest,
    ) -> Result<(), ApiError> {
        self.own_hook(s, req.id).await?;
        let (queue, account, id) = (self.queue.clone(), s.account.clone(), req.id);
        blocking("hook retry", move || queue.hook_retry(&account, id))
            .await?
            .map_err(|e| hook_error(id, "retrying a webhook", e))?;
        self.queue.hook_waker().notify_one();
        Ok(())
    }

    pub(crate) async fn hooks_replay(
        &self,
        s: &Session,
        req: HookIdRequest,
    ) -> Result<HookReplayResult, ApiError> {
        self.own_hook(s, req.id).await?;
        let (queue, account, id) = (self.queue.clone(), s.account.clone(), req.id);
        let new = blocking("hook replay", move || queue.hook_replay(&account, id))
            .await?
            .map_err(|e| hook_error(id, "replaying a webhook", e))?;
        self.queue.hook_waker().notify_one();
        Ok(HookReplayResult { id: new })
    }

    pub(crate) async fn hooks_cancel(
        &self,
        s: &Session,
        req: HookIdRequest,
    ) -> Result<(), ApiError> {
        self.own_hook(s, req.id).await?;
        let (queue, account, id) = (self.queue.clone(), s.account.clone(), req.id);
        blocking("hook cancel", move || queue.hook_cancel(&account, id))
            .await?
            .map_err(|e| hook_error(id, "canceling a webhook", e))
    }

    pub(crate) async fn hooks_test(
        &self,
        s: &Session,
        req: WebhookTestRequest,
    ) -> Result<WebhookTestResult, ApiError> {
        let settings = self.queue.webhooks();
        let endpoints = settings.accounts.get(&s.account);
        let endpoint = match endpoints {
            Some(list) if req.endpoint_id.is_empty() => list.first(),
            Some(list) => list.iter().find(|e| e.id == req.endpoint_id),
            None => None,
        }
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::User,
                if req.endpoint_id.is_empty() {
                    "the account has no webhook endpoint".to_string()
                } else {
                    format!("the account has no webhook endpoint {:?}", req.endpoint_id)
                },
            )
        })?;
        let name = if req.event.is_empty() {
            "delivered"
        } else {
            req.event.as_str()
        };
        let kind = EventKind::parse(name).ok_or_else(|| {
            ApiError::new(ErrorCode::User, format!("unknown webhook event {name:?}"))
        })?;
        let r = queue::webhook::webhook_test(endpoint, kind)
            .await
            .map_err(|e| internal("testing a webhook endpoint", e))?;
        Ok(WebhookTestResult {
            status_code: r.status_code,
            error: r.error,
            response: r.response,
        })
    }
}
