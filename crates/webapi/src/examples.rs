//! Example requests and responses with every field filled in. They feed the
//! HTML method pages and the OpenAPI document (whose schemas are derived
//! from them, so no field can be left out of the documentation).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::types::*;
use crate::webhook::{Incoming, IncomingMeta, Outgoing, OutgoingEvent};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::new(1_709_287_200 + secs, 123_000_000)
}

fn v<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn na(name: &str, addr: &str) -> NameAddress {
    NameAddress::new(name, addr)
}

fn extra() -> BTreeMap<String, String> {
    BTreeMap::from([("customer".to_string(), "42".to_string())])
}

pub(crate) fn send_request() -> SendRequest {
    SendRequest {
        from: vec![na("Shop", "shop@example.org")],
        to: vec![na("Bob", "bob@example.net")],
        cc: vec![na("", "cc@example.net")],
        bcc: vec![na("", "archive@example.org")],
        reply_to: vec![na("Support", "support@example.org")],
        message_id: "<order-1001@example.org>".into(),
        references: vec!["<order-1000@example.org>".into()],
        date: Some(at(0)),
        subject: "Your order".into(),
        text: "Thanks for your order.\n".into(),
        html: "<p>Thanks for your order.</p>\n".into(),
        extra: extra(),
        headers: vec![["X-Campaign".into(), "spring".into()]],
        alternative_files: vec![File {
            name: "order.ics".into(),
            content_type: "text/calendar".into(),
            content_id: String::new(),
            data: "QkVHSU46VkNBTEVOREFSDQo=".into(),
        }],
        inline_files: vec![File {
            name: "logo.png".into(),
            content_type: "image/png".into(),
            content_id: "<logo@example.org>".into(),
            data: "iVBORw0KGgo=".into(),
        }],
        attached_files: vec![File {
            name: "invoice.pdf".into(),
            content_type: "application/pdf".into(),
            content_id: String::new(),
            data: "JVBERi0xLjcK".into(),
        }],
        require_tls: Some(false),
        future_release: Some(at(3600)),
        save_sent: true,
        refuse_suppressed: false,
    }
}

fn send_result() -> SendResult {
    SendResult {
        message_id: "<order-1001@example.org>".into(),
        submissions: vec![Submission {
            address: "bob@example.net".into(),
            queue_msg_id: 101,
            from_id: "Tj3aW8rq1sM".into(),
        }],
    }
}

fn structure() -> crate::webhook::Structure {
    crate::webhook::Structure {
        content_type: "multipart/alternative".into(),
        content_type_params: BTreeMap::from([("boundary".to_string(), "x".to_string())]),
        content_id: String::new(),
        content_disposition: String::new(),
        filename: String::new(),
        decoded_size: 0,
        parts: vec![crate::webhook::Structure {
            content_type: "text/plain".into(),
            content_type_params: BTreeMap::from([("charset".to_string(), "utf-8".to_string())]),
            content_id: String::new(),
            content_disposition: "inline".into(),
            filename: String::new(),
            decoded_size: 23,
            parts: Vec::new(),
        }],
    }
}

fn message() -> Message {
    Message {
        from: vec![na("Bob", "bob@example.net")],
        to: vec![na("Shop", "shop@example.org")],
        cc: vec![],
        bcc: vec![],
        reply_to: vec![],
        message_id: "<reply-1@example.net>".into(),
        references: vec!["<order-1001@example.org>".into()],
        date: Some(at(60)),
        subject: "Re: Your order".into(),
        text: "Thanks!\n".into(),
        html: String::new(),
    }
}

fn hook_attempt() -> HookAttempt {
    HookAttempt {
        start: at(5),
        duration_ms: 12,
        url: "https://app.example.org/hooks".into(),
        success: true,
        code: 200,
        error: String::new(),
        response: "ok".into(),
    }
}

fn hook_info() -> HookInfo {
    HookInfo {
        id: 7,
        endpoint_id: "main".into(),
        queue_msg_id: 101,
        event: "delivered".into(),
        url: "https://app.example.org/hooks".into(),
        submitted: at(4),
        attempts: 1,
        next_attempt: Some(at(64)),
        success: Some(true),
        superseded_by_id: 0,
        replay_of_id: 0,
        results: vec![hook_attempt()],
    }
}

fn message_status() -> MessageStatus {
    MessageStatus {
        queue_msg_id: 101,
        base_id: 100,
        from_id: "Tj3aW8rq1sM".into(),
        recipient: "bob@example.net".into(),
        message_id: "<order-1001@example.org>".into(),
        subject: "Your order".into(),
        queued: at(0),
        state: "delivered".into(),
        attempts: 1,
        max_attempts: 10,
        next_attempt: Some(at(0)),
        last_attempt: Some(at(1)),
        results: vec![AttemptStatus {
            start: at(1),
            duration_ms: 230,
            success: true,
            mx_host: "mx.example.net".into(),
            ip: "192.0.2.10".into(),
            tls_version: "TLSv1.3".into(),
            tls_cipher: "TLS13_AES_128_GCM_SHA256".into(),
            tls_verification: "pkix".into(),
            smtp_code: 250,
            smtp_enhanced_code: "2.0.0".into(),
            lines: vec!["ok queued as 4F1".into()],
            failure_class: String::new(),
            error: String::new(),
        }],
        events: vec![hook_info()],
    }
}

pub(crate) fn outgoing() -> Outgoing {
    Outgoing {
        version: 0,
        event: OutgoingEvent::Failed,
        dsn: false,
        suppressing: true,
        queue_msg_id: 101,
        from_id: "Tj3aW8rq1sM".into(),
        message_id: "<order-1001@example.org>".into(),
        subject: "Your order".into(),
        webhook_queued: at(30),
        smtp_code: 550,
        smtp_enhanced_code: "5.1.1".into(),
        error: "550 5.1.1 no such user".into(),
        extra: extra(),
        bounce_reason: "userUnknown".into(),
        hard_bounce: true,
        sequence: 1,
        dsn_msg_id: 12,
    }
}

pub(crate) fn incoming() -> Incoming {
    let m = message();
    Incoming {
        version: 0,
        from: m.from,
        to: m.to,
        cc: vec![na("", "cc@example.org")],
        bcc: vec![na("", "bcc@example.org")],
        reply_to: vec![na("", "bob+replies@example.net")],
        subject: m.subject,
        message_id: m.message_id,
        in_reply_to: "<order-1001@example.org>".into(),
        references: m.references,
        date: m.date,
        text: m.text,
        html: "<p>Thanks!</p>\n".into(),
        structure: structure(),
        meta: IncomingMeta {
            msg_id: 201,
            mail_from: "bob@example.net".into(),
            mail_from_validated: false,
            msg_from_validated: false,
            rcpt_to: "shop@example.org".into(),
            dkim_verified_domains: vec!["example.net".into()],
            remote_ip: "192.0.2.20".into(),
            received: at(61),
            mailbox_name: "Inbox".into(),
            automated: false,
        },
    }
}

/// A request for `m` with every field set.
pub(crate) fn request(m: Method) -> Value {
    match m {
        Method::Send => v(&send_request()),
        Method::SendBatch => v(&SendBatchRequest {
            messages: vec![send_request()],
        }),
        Method::SuppressionList => v(&SuppressionListRequest {}),
        Method::SuppressionAdd => v(&SuppressionAddRequest {
            email_address: "bob@example.net".into(),
            manual: true,
            reason: "asked to stop".into(),
        }),
        Method::SuppressionRemove => v(&SuppressionRemoveRequest {
            email_address: "bob@example.net".into(),
        }),
        Method::SuppressionPresent => v(&SuppressionPresentRequest {
            email_address: "bob@example.net".into(),
        }),
        Method::SuppressionCheck => v(&SuppressionCheckRequest {
            addresses: vec!["bob@example.net".into()],
        }),
        Method::MessageList => v(&MessageListRequest {
            mailbox_name: "Inbox".into(),
            limit: 50,
            cursor: "1709287200123.201".into(),
        }),
        Method::MessageGet | Method::MessageRawGet | Method::MessageDelete => {
            v(&MessageGetRequest { msg_id: 201 })
        }
        Method::MessagePartGet => v(&MessagePartGetRequest {
            msg_id: 201,
            part_path: vec![0],
        }),
        Method::MessageFlagsAdd | Method::MessageFlagsRemove => v(&MessageFlagsRequest {
            msg_id: 201,
            flags: vec!["\\Seen".into(), "$Processed".into()],
        }),
        Method::MessageMove => v(&MessageMoveRequest {
            msg_id: 201,
            dest_mailbox_name: "Archive".into(),
        }),
        Method::MessageStatus => v(&MessageStatusRequest {
            queue_msg_id: 101,
            message_id: String::new(),
        }),
        Method::HookList => v(&HookListRequest {
            retired: true,
            limit: 100,
            after_id: 0,
        }),
        Method::HookRetry | Method::HookReplay | Method::HookCancel => v(&HookIdRequest { id: 7 }),
        Method::WebhookTest => v(&WebhookTestRequest {
            endpoint_id: "main".into(),
            event: "delivered".into(),
        }),
    }
}

/// A response of `m` with every field set; `None` for the raw-byte methods.
pub(crate) fn response(m: Method) -> Option<Value> {
    Some(match m {
        Method::Send => v(&send_result()),
        Method::SendBatch => v(&SendBatchResult {
            results: vec![send_result()],
        }),
        Method::SuppressionList => v(&SuppressionListResult {
            suppressions: vec![Suppression {
                id: 3,
                created: at(0),
                account: "shop".into(),
                base_address: "bob@example.net".into(),
                original_address: "Bob@example.net".into(),
                manual: false,
                reason: "550 5.1.1 no such user".into(),
            }],
        }),
        Method::SuppressionPresent => v(&SuppressionPresentResult { present: true }),
        Method::SuppressionCheck => v(&SuppressionCheckResult {
            results: vec![SuppressionCheckItem {
                address: "bob@example.net".into(),
                suppressed: true,
                reason: "550 5.1.1 no such user".into(),
                created: Some(at(0)),
            }],
        }),
        Method::MessageList => v(&MessageListResult {
            messages: vec![MessageListItem {
                msg_id: 201,
                received: at(61),
                size: 1234,
                flags: vec!["\\seen".into()],
                dsn: false,
                message_id: "<reply-1@example.net>".into(),
                subject: "Re: Your order".into(),
                msg_from: "bob@example.net".into(),
            }],
            next_cursor: "1709287261123.201".into(),
        }),
        Method::MessageGet => v(&MessageGetResult {
            message: message(),
            structure: structure(),
            meta: MessageMeta {
                size: 1234,
                dsn: false,
                flags: vec!["\\seen".into()],
                mail_from: "bob@example.net".into(),
                mail_from_validated: false,
                rcpt_to: "shop@example.org".into(),
                msg_from: "bob@example.net".into(),
                msg_from_validated: false,
                dkim_verified_domains: vec!["example.net".into()],
                remote_ip: "192.0.2.20".into(),
                mailbox_name: "Inbox".into(),
            },
        }),
        Method::MessageRawGet | Method::MessagePartGet => return None,
        Method::SuppressionAdd
        | Method::SuppressionRemove
        | Method::MessageDelete
        | Method::MessageFlagsAdd
        | Method::MessageFlagsRemove
        | Method::MessageMove
        | Method::HookRetry
        | Method::HookCancel => v(&Empty {}),
        Method::MessageStatus => v(&MessageStatusResult {
            messages: vec![message_status()],
        }),
        Method::HookList => v(&HookListResult {
            hooks: vec![hook_info()],
        }),
        Method::HookReplay => v(&HookReplayResult { id: 8 }),
        Method::WebhookTest => v(&WebhookTestResult {
            status_code: 200,
            error: String::new(),
            response: "ok".into(),
        }),
    })
}
