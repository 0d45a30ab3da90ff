//! MessageStatus: where a message is, with every attempt the queue
//! recorded, found by QueueMsgID or by Message-ID, in the queue and in the
//! history, only among the caller's account's messages.

use std::time::SystemTime;

use queue::{
    AttemptResult, Event, Filter, HistoryFilter, HistorySort, QueuedMessage, RetiredMessage, Sort,
    Store, StoreError,
};
use webapi::server::Session;
use webapi::types::{AttemptStatus, MessageStatus, MessageStatusRequest, MessageStatusResult};
use webapi::{ApiError, ErrorCode};

use super::{WebApi, blocking, internal};

/// Most rows one MessageStatus by Message-ID returns.
pub const MAX_STATUS: usize = 1000;

fn attempt(r: &AttemptResult) -> AttemptStatus {
    AttemptStatus {
        start: r.start(),
        duration_ms: r.duration_ms,
        success: r.success,
        mx_host: r.mx_host.clone(),
        ip: r.ip.clone(),
        tls_version: r.tls_version.clone(),
        tls_cipher: r.tls_cipher.clone(),
        tls_verification: r.tls_verification.clone(),
        smtp_code: r.code,
        smtp_enhanced_code: r.enhanced_code.clone(),
        lines: r.reply_lines.clone(),
        failure_class: r.failure_class.clone(),
        error: r.error.clone(),
    }
}

fn status(m: &QueuedMessage, state: &str, next_attempt: Option<SystemTime>) -> MessageStatus {
    MessageStatus {
        queue_msg_id: m.id,
        base_id: m.base_id,
        from_id: m.from_id.clone(),
        recipient: m.recipient.clone(),
        message_id: m.message_id.clone(),
        subject: m.subject.clone(),
        queued: m.queued,
        state: state.to_string(),
        attempts: m.attempts,
        max_attempts: m.effective_max_attempts(),
        next_attempt,
        last_attempt: m.last_attempt,
        results: m.results.iter().map(attempt).collect(),
        events: Vec::new(),
    }
}

fn queued(m: &QueuedMessage) -> MessageStatus {
    status(
        m,
        if m.hold { "held" } else { "queued" },
        Some(m.next_attempt),
    )
}

/// The state of a retired row: a delivery that a later bounce turned into
/// a failure counts as failed.
fn retired(r: &RetiredMessage) -> MessageStatus {
    let state = match r.event {
        Event::Delivered if r.success => "delivered",
        Event::Delivered | Event::Failed => "failed",
        Event::Suppressed => "suppressed",
        Event::Canceled => "canceled",
    };
    status(&r.message, state, None)
}

fn lookup(
    queue: &dyn Store,
    account: &str,
    req: &MessageStatusRequest,
) -> Result<Vec<MessageStatus>, StoreError> {
    let mut out = Vec::new();
    if req.queue_msg_id != 0 {
        if let Some(m) = queue.get(req.queue_msg_id)?
            && m.account == account
        {
            out.push(queued(&m));
        }
        let history = queue.history(
            &HistoryFilter {
                ids: vec![req.queue_msg_id],
                account: account.to_string(),
                ..HistoryFilter::default()
            },
            &HistorySort::default(),
        )?;
        out.extend(history.iter().map(retired));
        return Ok(out);
    }
    let message_id = if req.message_id.starts_with('<') {
        req.message_id.clone()
    } else {
        format!("<{}>", req.message_id)
    };
    // The queue has no Message-ID index: its rows are few next to the
    // history, so the account's rows are scanned.
    let rows = queue.list(
        &Filter {
            account: account.to_string(),
            ..Filter::default()
        },
        &Sort::default(),
    )?;
    out.extend(
        rows.iter()
            .filter(|m| m.message_id == message_id)
            .take(MAX_STATUS)
            .map(queued),
    );
    let history = queue.history(
        &HistoryFilter {
            account: account.to_string(),
            message_id,
            max: MAX_STATUS,
            ..HistoryFilter::default()
        },
        &HistorySort::default(),
    )?;
    out.extend(history.iter().map(retired));
    out.sort_by_key(|m| m.queue_msg_id);
    out.truncate(MAX_STATUS);
    Ok(out)
}

impl WebApi {
    pub(crate) async fn status(
        &self,
        s: &Session,
        req: MessageStatusRequest,
    ) -> Result<MessageStatusResult, ApiError> {
        if req.queue_msg_id == 0 && req.message_id.is_empty() {
            return Err(ApiError::new(
                ErrorCode::User,
                "MessageStatus needs QueueMsgID or MessageID",
            ));
        }
        let (queue, account) = (self.queue.clone(), s.account.clone());
        let what = if req.queue_msg_id != 0 {
            format!("queue message {}", req.queue_msg_id)
        } else {
            format!("message-id {:?}", req.message_id)
        };
        let mut messages = blocking("message status", move || lookup(&*queue, &account, &req))
            .await?
            .map_err(|e| internal("reading message status", e))?;
        if messages.is_empty() {
            return Err(ApiError::new(
                ErrorCode::MessageNotFound,
                format!("{what} not found in the queue or its history"),
            ));
        }
        self.attach_events(&mut messages).await?;
        Ok(MessageStatusResult { messages })
    }
}
