use axum::body::Body;
use axum::http::Request as HttpRequest;
use tower::ServiceExt as _;

use super::*;

use crate::testfake::{Fake, RAW};

type FormPart<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

const AUTH: &str = "Basic YW5uQGV4YW1wbGUub3JnOnNlY3JldA=="; // ann@example.org:secret

fn app_with(options: RouterOptions) -> (Arc<Fake>, Router) {
    let fake = Arc::new(Fake::default());
    (fake.clone(), router(fake, options))
}

fn app() -> (Arc<Fake>, Router) {
    app_with(RouterOptions::default())
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
    fn error(&self) -> (u16, String, String) {
        let v = self.json();
        (
            self.status,
            v["Code"].as_str().unwrap().to_string(),
            v["Message"].as_str().unwrap().to_string(),
        )
    }
}

async fn run(app: &Router, req: HttpRequest<Body>) -> Answer {
    let mut req = req;
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 7], 40000))));
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

fn post(path: &str, content_type: Option<&str>, body: impl Into<Body>) -> HttpRequest<Body> {
    let mut b = HttpRequest::post(path).header("authorization", AUTH);
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(body.into()).unwrap()
}

fn form(path: &str, json: &str) -> HttpRequest<Body> {
    let mut enc = String::from("request=");
    for b in json.bytes() {
        if b.is_ascii_alphanumeric() {
            enc.push(char::from(b));
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    post(path, Some("application/x-www-form-urlencoded"), enc)
}

fn json(path: &str, json: &str) -> HttpRequest<Body> {
    post(path, Some("application/json"), json.to_string())
}

fn multipart(path: &str, parts: &[FormPart<'_>]) -> HttpRequest<Body> {
    let mut body = Vec::new();
    for (name, filename, ct, data) in parts {
        body.extend_from_slice(b"--XyZ\r\n");
        let fname = filename
            .map(|f| format!("; filename=\"{f}\""))
            .unwrap_or_default();
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{name}\"{fname}\r\n").as_bytes(),
        );
        if let Some(ct) = ct {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--XyZ--\r\n");
    post(path, Some("multipart/form-data; boundary=XyZ"), body)
}

fn get(path: &str) -> HttpRequest<Body> {
    HttpRequest::get(path).body(Body::empty()).unwrap()
}

fn other(method: &str, path: &str) -> HttpRequest<Body> {
    HttpRequest::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap()
}

const SEND: &str =
    r#"{"To":[{"Name":"","Address":"bob@example.net"}],"Subject":"hi","Text":"hello\n"}"#;

#[tokio::test]
async fn base_path_redirects_get_to_v0_and_refuses_other_methods() {
    let (_, app) = app();
    let a = run(&app, get("/webapi/")).await;
    assert_eq!(a.status, 303);
    assert_eq!(a.headers["location"], "v0/");
    assert_eq!(run(&app, other("POST", "/webapi/")).await.status, 405);
}

#[tokio::test]
async fn index_and_method_pages_are_html_and_unknown_paths_404() {
    let (_, app) = app();
    let a = run(&app, get("/webapi/v0/")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "text/html; charset=utf-8");
    for m in Method::all() {
        assert!(
            a.text().contains(&format!("<a href=\"{m}\">{m}</a>")),
            "{m}"
        );
    }
    assert_eq!(run(&app, other("PUT", "/webapi/v0/")).await.status, 405);

    let page = run(&app, get("/webapi/v0/Send")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.text().contains("&quot;RefuseSuppressed&quot;: false"),
        "{}",
        page.text()
    );
    assert!(page.text().contains("&quot;Submissions&quot;"));
    assert!(
        page.text()
            .contains("<form method=\"POST\" action=\"Send\"><textarea name=\"request\"")
    );

    assert_eq!(run(&app, get("/webapi/v0/Nope")).await.status, 404);
    assert_eq!(run(&app, form("/webapi/v0/Nope", "{}")).await.status, 404);
    assert_eq!(run(&app, get("/webapi/v0/Send/extra")).await.status, 404);
    assert_eq!(run(&app, get("/elsewhere")).await.status, 404);
    assert_eq!(
        run(&app, other("DELETE", "/webapi/v0/Send")).await.status,
        405
    );
    assert_eq!(run(&app, other("PUT", "/webapi/v0/Send")).await.status, 405);
}

#[tokio::test]
async fn openapi_document_is_served_as_json() {
    let (_, app) = app();
    let a = run(&app, get("/webapi/v0/openapi.json")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(a.json(), crate::openapi::document());
}

#[tokio::test]
async fn missing_credentials_get_401_with_basic_challenge() {
    let (fake, app) = app();
    let req = HttpRequest::post("/webapi/v0/Send")
        .header("content-type", "application/json")
        .body(Body::from(SEND))
        .unwrap();
    let a = run(&app, req).await;
    assert_eq!(a.headers["www-authenticate"], "Basic realm=webapi");
    assert_eq!(
        a.error(),
        (
            401,
            "unauthorized".into(),
            "missing HTTP Basic credentials".into()
        )
    );
    assert!(fake.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn auth_failures_map_to_401_429_and_server() {
    let (_, app) = app();
    let cases = [
        (
            "ann@example.org:wrong",
            401,
            "unauthorized",
            "bad credentials",
        ),
        (
            "disabled@example.org:x",
            401,
            "unauthorized",
            "login is disabled for this account",
        ),
        (
            "flood@example.org:x",
            429,
            "tooManyRequests",
            "too many failed login attempts, try again later",
        ),
        (
            "broken@example.org:x",
            400,
            "server",
            "checking credentials: store down",
        ),
    ];
    for (cred, status, code, msg) in cases {
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(cred)
        );
        let req = HttpRequest::post("/webapi/v0/SuppressionList")
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(
            run(&app, req).await.error(),
            (status, code.into(), msg.into()),
            "{cred}"
        );
    }
}

#[tokio::test]
async fn form_and_json_bodies_reach_the_backend_alike() {
    let (fake, app) = app();
    let a = run(&app, form("/webapi/v0/Send", SEND)).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(a.text(), r#"{"MessageID":"<m@x>","Submissions":[]}"#);
    let (name, session, via_form, idem) = fake.last();
    assert_eq!(name, "Send");
    assert_eq!(
        session,
        Session {
            account: "ann".into(),
            login: "ann@example.org".into(),
            ip: "192.0.2.7".parse().unwrap()
        }
    );
    assert_eq!(idem, None);
    assert_eq!(via_form["To"][0]["Address"], "bob@example.net");

    let a = run(&app, json("/webapi/v0/Send", SEND)).await;
    assert_eq!(a.status, 200);
    assert_eq!(fake.last().2, via_form);

    let a = run(
        &app,
        post(
            "/webapi/v0/Send",
            Some("application/json; charset=utf-8"),
            SEND,
        ),
    )
    .await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn every_method_is_dispatched_to_its_backend_function() {
    let (fake, app) = app();
    for m in Method::all() {
        let body = crate::examples::request(*m).to_string();
        let a = run(&app, json(&format!("/webapi/v0/{m}"), &body)).await;
        assert_eq!(fake.last().0, m.as_str());
        assert_eq!(fake.last().2, crate::examples::request(*m), "{m}");
        let expect_ok = !matches!(
            m,
            Method::SuppressionRemove | Method::HookCancel | Method::MessageGet
        ) && !(matches!(m, Method::MessagePartGet));
        assert_eq!(
            a.status == 200,
            expect_ok,
            "{m}: {} {}",
            a.status,
            String::from_utf8_lossy(&a.body)
        );
    }
}

#[tokio::test]
async fn raw_methods_answer_bytes() {
    let (_, app) = app();
    let a = run(&app, form("/webapi/v0/MessageRawGet", r#"{"MsgID":1}"#)).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "text/plain");
    assert_eq!(a.body, RAW);
    let a = run(
        &app,
        form("/webapi/v0/MessagePartGet", r#"{"MsgID":1,"PartPath":[]}"#),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "application/octet-stream");
    assert_eq!(a.body, b"hello\r\n");
    let a = run(
        &app,
        form("/webapi/v0/MessagePartGet", r#"{"MsgID":1,"PartPath":[3]}"#),
    )
    .await;
    assert_eq!(
        a.error(),
        (400, "partNotFound".into(), "no part at path [3]".into())
    );
}

#[tokio::test]
async fn backend_errors_keep_code_and_status() {
    let (_, app) = app();
    let a = run(&app, json("/webapi/v0/MessageGet", r#"{"MsgID":9}"#)).await;
    assert_eq!(
        a.error(),
        (400, "messageNotFound".into(), "no message 9".into())
    );
    let a = run(
        &app,
        json(
            "/webapi/v0/SuppressionRemove",
            r#"{"EmailAddress":"x@y.org"}"#,
        ),
    )
    .await;
    assert_eq!(
        a.error(),
        (
            400,
            "error".into(),
            "address not in suppression list".into()
        )
    );
    let mut req = json("/webapi/v0/Send", SEND);
    req.headers_mut()
        .insert("idempotency-key", "mismatch".parse().unwrap());
    let a = run(&app, req).await;
    assert_eq!(
        a.error(),
        (
            422,
            "idempotencyMismatch".into(),
            "key used for another request".into()
        )
    );
}

#[tokio::test]
async fn malformed_requests_are_protocol_errors() {
    let (fake, app) = app();
    let p = "/webapi/v0/Send";
    let cases: Vec<(HttpRequest<Body>, &str)> = vec![
        (
            post(p, None, SEND),
            "missing Content-Type; send form field \"request\" or a JSON body",
        ),
        (
            post(p, Some("text/plain"), SEND),
            "unsupported Content-Type \"text/plain\"; use application/x-www-form-urlencoded, multipart/form-data or application/json",
        ),
        (json(p, ""), "missing request"),
        (form(p, ""), "missing request"),
        (
            post(p, Some("application/x-www-form-urlencoded"), "other=1"),
            "missing request",
        ),
        (
            post(
                p,
                Some("application/x-www-form-urlencoded"),
                "request=%7B%7D&request=%7B%7D",
            ),
            "form field request given twice",
        ),
        (json(p, "[1]"), "request must be a JSON object"),
        (json(p, "\"text\""), "request must be a JSON object"),
        (json(p, r#"{"To":[],"Bogus":true}"#), ""),
        (json(p, "{nope"), ""),
        (
            multipart(
                "/webapi/v0/SuppressionList",
                &[
                    ("request", None, None, b"{}"),
                    ("attachedfile", Some("a.txt"), None, b"x"),
                ],
            ),
            "file uploads are only accepted by Send, not SuppressionList",
        ),
        (
            multipart(p, &[("bogus", None, None, b"{}")]),
            "missing request",
        ),
    ];
    for (req, msg) in cases {
        let a = run(&app, req).await;
        let (status, code, message) = a.error();
        assert_eq!((status, code.as_str()), (400, "protocol"), "{message}");
        if msg.is_empty() {
            assert!(
                message.starts_with("decoding request: unknown field `Bogus`")
                    || message.starts_with("request is not valid JSON"),
                "{message}"
            );
        } else {
            assert_eq!(message, msg);
        }
    }
    assert!(fake.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn multipart_files_are_added_to_send_with_type_from_header_or_sniffed() {
    let (fake, app) = app();
    let png: &[u8] = b"\x89PNG\r\n\x1a\nrest";
    let a = run(
        &app,
        multipart(
            "/webapi/v0/Send",
            &[
                ("request", None, None, SEND.as_bytes()),
                (
                    "attachedfile",
                    Some("notes.txt"),
                    Some("text/plain"),
                    b"some notes",
                ),
                (
                    "inlinefile",
                    Some("logo.png"),
                    Some("application/octet-stream"),
                    png,
                ),
                (
                    "alternativefile",
                    Some("cal.ics"),
                    Some("text/calendar"),
                    b"BEGIN:VCALENDAR",
                ),
            ],
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let got = fake.last().2;
    assert_eq!(
        got["AttachedFiles"],
        serde_json::json!([{"Name":"notes.txt","ContentType":"text/plain","ContentID":"","Data":"c29tZSBub3Rlcw=="}])
    );
    assert_eq!(got["InlineFiles"][0]["ContentType"], "image/png");
    assert_eq!(got["InlineFiles"][0]["Name"], "logo.png");
    assert_eq!(got["AlternativeFiles"][0]["ContentType"], "text/calendar");
}

#[tokio::test]
async fn idempotency_fingerprint_is_the_same_for_form_json_and_multipart() {
    let (fake, app) = app();
    let with_key = |mut r: HttpRequest<Body>| {
        r.headers_mut()
            .insert("idempotency-key", "order-1001".parse().unwrap());
        r
    };
    run(&app, with_key(form("/webapi/v0/Send", SEND))).await;
    let via_form = fake.last().3.unwrap();
    run(&app, with_key(json("/webapi/v0/Send", SEND))).await;
    let via_json = fake.last().3.unwrap();
    assert_eq!(via_form.key, "order-1001");
    assert_eq!(via_form, via_json);
    let expected = fingerprint(
        Method::Send,
        &serde_json::from_str::<SendRequest>(SEND).unwrap(),
    )
    .unwrap();
    assert_eq!(via_form.fingerprint, expected);

    // An uploaded file and the same file as base64 Data give one fingerprint.
    let with_file = r#"{"To":[{"Name":"","Address":"bob@example.net"}],"Subject":"hi","Text":"hello\n","AttachedFiles":[{"Name":"n.txt","ContentType":"text/plain","ContentID":"","Data":"c29tZSBub3Rlcw=="}]}"#;
    run(&app, with_key(json("/webapi/v0/Send", with_file))).await;
    let json_file = fake.last().3.unwrap();
    run(
        &app,
        with_key(multipart(
            "/webapi/v0/Send",
            &[
                ("request", None, None, SEND.as_bytes()),
                (
                    "attachedfile",
                    Some("n.txt"),
                    Some("text/plain"),
                    b"some notes",
                ),
            ],
        )),
    )
    .await;
    let upload = fake.last().3.unwrap();
    assert_eq!(json_file, upload);
    assert_ne!(json_file.fingerprint, via_form.fingerprint);

    // SendBatch fingerprints name their method, so a batch never matches a Send.
    run(
        &app,
        with_key(json(
            "/webapi/v0/SendBatch",
            &format!("{{\"Messages\":[{SEND}]}}"),
        )),
    )
    .await;
    assert_ne!(fake.last().3.unwrap().fingerprint, via_form.fingerprint);

    // Other methods ignore the header.
    run(&app, with_key(json("/webapi/v0/SuppressionList", "{}"))).await;
    assert_eq!(fake.last().3, None);
}

#[tokio::test]
async fn bad_idempotency_key_is_a_protocol_error() {
    let (_, app) = app();
    let mut req = json("/webapi/v0/Send", SEND);
    req.headers_mut()
        .insert("idempotency-key", "x".repeat(300).parse().unwrap());
    assert_eq!(
        run(&app, req).await.error(),
        (
            400,
            "protocol".into(),
            "Idempotency-Key must be 1 to 255 visible ASCII characters".into()
        )
    );
}

#[tokio::test]
async fn batch_over_500_messages_is_refused_before_the_backend() {
    let (fake, app) = app();
    let msgs = vec![SEND; 501].join(",");
    let a = run(
        &app,
        json(
            "/webapi/v0/SendBatch",
            &format!("{{\"Messages\":[{msgs}]}}"),
        ),
    )
    .await;
    assert_eq!(
        a.error(),
        (
            400,
            "batchTooLarge".into(),
            "501 messages in one SendBatch, at most 500 allowed".into()
        )
    );
    assert!(fake.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn body_over_max_message_size_is_message_too_large() {
    let (_, app) = app_with(RouterOptions {
        max_message_size: 64,
        ..RouterOptions::default()
    });
    let a = run(
        &app,
        json(
            "/webapi/v0/Send",
            &format!("{{\"Text\":\"{}\"}}", "a".repeat(100)),
        ),
    )
    .await;
    assert_eq!(
        a.error(),
        (
            400,
            "messageTooLarge".into(),
            "request body exceeds the maximum of 64 bytes".into()
        )
    );
    let a = run(
        &app,
        multipart(
            "/webapi/v0/Send",
            &[("request", None, None, "a".repeat(100).as_bytes())],
        ),
    )
    .await;
    assert_eq!(a.error().1, "messageTooLarge");
}

#[tokio::test]
async fn forwarded_address_is_used_behind_a_proxy_and_required_there() {
    let (fake, app) = app_with(RouterOptions {
        trust_forwarded: true,
        base_path: "api".into(),
        ..RouterOptions::default()
    });
    let mut req = json("/api/v0/SuppressionList", "{}");
    req.headers_mut().insert(
        "x-forwarded-for",
        "203.0.113.9, 198.51.100.4".parse().unwrap(),
    );
    assert_eq!(run(&app, req).await.status, 200);
    assert_eq!(fake.last().1.ip, "198.51.100.4".parse::<IpAddr>().unwrap());
    let a = run(&app, json("/api/v0/SuppressionList", "{}")).await;
    assert_eq!(
        a.error(),
        (
            500,
            "server".into(),
            "behind a reverse proxy but the request has no X-Forwarded-For".into()
        )
    );
}
