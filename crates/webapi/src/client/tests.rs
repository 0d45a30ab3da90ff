use std::net::SocketAddr;

use super::*;
use crate::error::ErrorCode;
use crate::server::{RouterOptions, router};
use crate::testfake::{Fake, RAW};

struct Served {
    fake: Arc<Fake>,
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve() -> Served {
    let fake = Arc::new(Fake::default());
    let app = router(fake.clone(), RouterOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Served {
        fake,
        url: format!("http://{addr}/webapi/v0/"),
        task,
    }
}

fn client(s: &Served) -> Client {
    Client::new(&s.url, Some(("ann@example.org".into(), "secret".into()))).unwrap()
}

#[tokio::test]
async fn send_round_trips_through_the_router_as_a_form_request() {
    let s = serve().await;
    let c = client(&s);
    let req = SendRequest {
        to: vec![NameAddress::new("Bøb & Co", "bob@example.net")],
        subject: "100% = fine? yes+no".into(),
        text: "line\n".into(),
        ..SendRequest::default()
    };
    let res = c.send_idempotent(&req, "k1").await.unwrap();
    assert_eq!(res.message_id, "<m@x>");
    let (name, session, got, idem) = s.fake.last();
    assert_eq!(name, "Send");
    assert_eq!(session.ip, "127.0.0.1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(got, serde_json::to_value(&req).unwrap());
    let idem = idem.unwrap();
    assert_eq!(idem.key, "k1");
    assert_eq!(
        idem.fingerprint,
        crate::server::fingerprint(Method::Send, &req).unwrap()
    );
}

#[tokio::test]
async fn every_typed_method_reaches_its_backend_function() {
    let s = serve().await;
    let c = client(&s);
    c.send_batch(&SendBatchRequest::default(), None)
        .await
        .unwrap();
    assert_eq!(s.fake.last().0, "SendBatch");
    c.suppression_list().await.unwrap();
    assert_eq!(s.fake.last().0, "SuppressionList");
    c.suppression_add(&SuppressionAddRequest::default())
        .await
        .unwrap();
    assert_eq!(s.fake.last().0, "SuppressionAdd");
    assert!(
        c.suppression_present(&SuppressionPresentRequest::default())
            .await
            .unwrap()
            .present
    );
    c.suppression_check(&SuppressionCheckRequest::default())
        .await
        .unwrap();
    assert_eq!(s.fake.last().0, "SuppressionCheck");
    c.message_list(&MessageListRequest::default())
        .await
        .unwrap();
    assert_eq!(s.fake.last().0, "MessageList");
    let got = c
        .message_get(&MessageGetRequest { msg_id: 1 })
        .await
        .unwrap();
    assert_eq!(got.message.subject, "hi");
    assert_eq!(
        c.message_raw_get(&MessageGetRequest { msg_id: 1 })
            .await
            .unwrap(),
        RAW
    );
    assert_eq!(
        c.message_part_get(&MessagePartGetRequest {
            msg_id: 1,
            part_path: vec![]
        })
        .await
        .unwrap(),
        b"hello\r\n"
    );
    c.message_delete(&MessageGetRequest { msg_id: 1 })
        .await
        .unwrap();
    assert_eq!(s.fake.last().0, "MessageDelete");
    c.message_flags_add(&MessageFlagsRequest::default())
        .await
        .unwrap();
    assert_eq!(s.fake.last().0, "MessageFlagsAdd");
    c.message_flags_remove(&MessageFlagsRequest::default())
        .await
        .unwrap();
    assert_eq!(s.fake.last().0, "MessageFlagsRemove");
    c.message_move(&MessageMoveRequest::default())
        .await
        .unwrap();
    assert_eq!(s.fake.last().0, "MessageMove");
    c.message_status(&MessageStatusRequest::default())
        .await
        .unwrap();
    assert_eq!(s.fake.last().0, "MessageStatus");
    c.hook_list(&HookListRequest::default()).await.unwrap();
    assert_eq!(s.fake.last().0, "HookList");
    c.hook_retry(&HookIdRequest { id: 4 }).await.unwrap();
    assert_eq!(s.fake.last().0, "HookRetry");
    assert_eq!(c.hook_replay(&HookIdRequest { id: 4 }).await.unwrap().id, 5);
    c.webhook_test(&WebhookTestRequest::default())
        .await
        .unwrap();
    assert_eq!(s.fake.last().0, "WebhookTest");
}

#[tokio::test]
async fn api_errors_come_back_typed() {
    let s = serve().await;
    let c = client(&s);
    let e = c.hook_cancel(&HookIdRequest { id: 9 }).await.unwrap_err();
    assert_eq!(
        e.api(),
        Some(&ApiError::new(ErrorCode::HookNotFound, "no webhook 9"))
    );
    assert_eq!(e.to_string(), "HookCancel: hookNotFound: no webhook 9");
    let e = c
        .message_part_get(&MessagePartGetRequest {
            msg_id: 1,
            part_path: vec![2],
        })
        .await
        .unwrap_err();
    assert_eq!(e.api().map(|a| a.code), Some(ErrorCode::PartNotFound));

    let anonymous = Client::new(&s.url, None).unwrap();
    let e = anonymous.suppression_list().await.unwrap_err();
    assert_eq!(e.api().map(|a| a.code), Some(ErrorCode::Unauthorized));
}

#[tokio::test]
async fn non_api_answers_are_http_errors() {
    let s = serve().await;
    let c = Client::new(
        &format!("{}nested/", s.url),
        Some(("ann@example.org".into(), "secret".into())),
    )
    .unwrap();
    let e = c.suppression_list().await.unwrap_err();
    assert!(matches!(e, ClientError::Http { status: 404, .. }), "{e}");
}

#[test]
fn base_url_must_be_http() {
    assert!(matches!(
        Client::new("ftp://x/", None),
        Err(ClientError::Setup(_))
    ));
}

#[test]
fn form_values_are_percent_encoded() {
    assert_eq!(
        form_escape(r#"{"A":"b c&d=é"}"#),
        "%7B%22A%22%3A%22b+c%26d%3D%C3%A9%22%7D"
    );
}
