//! The Message* methods over the account's mailboxes: the mailbox store
//! only sees the caller's account, so another account's message id is
//! `messageNotFound` like an absent one.

use mailbox::{Cursor, Flags, INBOX, MailboxError, MailboxStore, MessageId, MessageMeta};
use webapi::server::Session;
use webapi::types::{
    MessageFlagsRequest, MessageGetRequest, MessageGetResult, MessageListItem, MessageListRequest,
    MessageListResult, MessageMeta as ApiMeta, MessageMoveRequest, MessagePartGetRequest,
};
use webapi::{ApiError, ErrorCode};

use super::{WebApi, blocking, internal};

/// Page size when the request gives none.
pub const DEFAULT_PAGE: usize = 50;

fn mailbox_error(e: MailboxError) -> ApiError {
    match e {
        MailboxError::MessageNotFound { .. } => {
            ApiError::new(ErrorCode::MessageNotFound, e.to_string())
        }
        MailboxError::MailboxNotFound { .. } | MailboxError::Invalid { .. } => {
            ApiError::new(ErrorCode::User, e.to_string())
        }
        e => internal("mailbox", e),
    }
}

/// System flags in the reference's lowercase form (`\seen`), then keywords.
fn flag_strings(f: &Flags) -> Vec<String> {
    f.to_strings()
        .into_iter()
        .map(|s| {
            if s.starts_with('\\') {
                s.to_lowercase()
            } else {
                s
            }
        })
        .collect()
}

fn bracketed(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!("<{id}>")
    }
}

fn api_meta(m: &MessageMeta) -> ApiMeta {
    ApiMeta {
        size: m.size as i64,
        dsn: m.envelope.is_dsn,
        flags: flag_strings(&m.flags),
        mail_from: m
            .envelope
            .mail_from
            .as_ref()
            .map(|a| a.to_utf8_wire())
            .unwrap_or_default(),
        mail_from_validated: false,
        rcpt_to: m
            .envelope
            .rcpt_to
            .as_ref()
            .map(|a| a.to_utf8_wire())
            .unwrap_or_default(),
        msg_from: m.msg_from.clone(),
        msg_from_validated: false,
        dkim_verified_domains: Vec::new(),
        remote_ip: m
            .envelope
            .remote_ip
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
        mailbox_name: m.mailbox.clone(),
    }
}

impl WebApi {
    async fn mailbox_call<T: Send + 'static>(
        &self,
        during: &'static str,
        f: impl FnOnce(&dyn MailboxStore) -> Result<T, MailboxError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let mailbox = self.mailbox.clone();
        blocking(during, move || f(&*mailbox))
            .await?
            .map_err(mailbox_error)
    }

    pub(crate) async fn messages_list(
        &self,
        s: &Session,
        req: MessageListRequest,
    ) -> Result<MessageListResult, ApiError> {
        let name = if req.mailbox_name.is_empty() {
            INBOX.to_string()
        } else {
            req.mailbox_name
        };
        let after = if req.cursor.is_empty() {
            None
        } else {
            Some(
                req.cursor
                    .parse::<Cursor>()
                    .map_err(|e| ApiError::new(ErrorCode::User, e.to_string()))?,
            )
        };
        let limit = if req.limit == 0 {
            DEFAULT_PAGE
        } else {
            req.limit as usize
        };
        let account = s.account.clone();
        let page = self
            .mailbox_call("message list", move |m| {
                m.list(&account, &name, after, limit)
            })
            .await?;
        Ok(MessageListResult {
            messages: page
                .messages
                .iter()
                .map(|m| MessageListItem {
                    msg_id: m.id.0,
                    received: m.received,
                    size: m.size as i64,
                    flags: flag_strings(&m.flags),
                    dsn: m.envelope.is_dsn,
                    message_id: bracketed(&m.message_id),
                    subject: m.subject.clone(),
                    msg_from: m.msg_from.clone(),
                })
                .collect(),
            next_cursor: page.next.map(|c| c.to_string()).unwrap_or_default(),
        })
    }

    async fn meta_and_raw(&self, s: &Session, id: i64) -> Result<(MessageMeta, Vec<u8>), ApiError> {
        let account = s.account.clone();
        self.mailbox_call("message", move |m| {
            let meta = m.message(&account, MessageId(id))?;
            let raw = m.raw(&account, MessageId(id))?;
            Ok((meta, raw))
        })
        .await
    }

    pub(crate) async fn messages_get(
        &self,
        s: &Session,
        req: MessageGetRequest,
    ) -> Result<MessageGetResult, ApiError> {
        let (meta, raw) = self.meta_and_raw(s, req.msg_id).await?;
        let (message, structure) = webapi::mime::parse(&raw);
        Ok(MessageGetResult {
            message,
            structure,
            meta: api_meta(&meta),
        })
    }

    pub(crate) async fn messages_raw(
        &self,
        s: &Session,
        req: MessageGetRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let account = s.account.clone();
        self.mailbox_call("message raw", move |m| {
            m.raw(&account, MessageId(req.msg_id))
        })
        .await
    }

    pub(crate) async fn messages_part(
        &self,
        s: &Session,
        req: MessagePartGetRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let (_, raw) = self.meta_and_raw(s, req.msg_id).await?;
        webapi::mime::part(&raw, &req.part_path)
    }

    pub(crate) async fn messages_delete(
        &self,
        s: &Session,
        req: MessageGetRequest,
    ) -> Result<(), ApiError> {
        let account = s.account.clone();
        self.mailbox_call("message delete", move |m| {
            m.delete_message(&account, MessageId(req.msg_id))
        })
        .await
    }

    pub(crate) async fn messages_flags(
        &self,
        s: &Session,
        req: MessageFlagsRequest,
        add: bool,
    ) -> Result<(), ApiError> {
        let flags =
            Flags::parse(&req.flags).map_err(|e| ApiError::new(ErrorCode::User, e.to_string()))?;
        let account = s.account.clone();
        self.mailbox_call("message flags", move |m| {
            if add {
                m.add_flags(&account, MessageId(req.msg_id), &flags)
            } else {
                m.remove_flags(&account, MessageId(req.msg_id), &flags)
            }
        })
        .await
        .map(|_| ())
    }

    pub(crate) async fn messages_move(
        &self,
        s: &Session,
        req: MessageMoveRequest,
    ) -> Result<(), ApiError> {
        let account = s.account.clone();
        self.mailbox_call("message move", move |m| {
            m.move_message(&account, MessageId(req.msg_id), &req.dest_mailbox_name)
        })
        .await
        .map(|_| ())
    }
}
