//! `postel serve` from a config file: STARTTLS + AUTH on submission, the
//! queue delivering through an SMTP smarthost route to a local sink, and a
//! REQUIRETLS message that such a transport cannot carry failing with a DSN.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use mailbox::{INBOX, MailboxStore, NewAccount};
use postel_server::localserve::LocalDelivery;
use postel_server::stores::Stores;
use queue::{HistoryFilter, Store};
use smtpclient::{AuthConfig, Client, ClientConfig, Envelope, TlsMode, Verification};
use smtpserver::{Mode, Server, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;

async fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..400 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached");
}

async fn client(addr: std::net::SocketAddr) -> Client {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let config = ClientConfig {
        tls: TlsMode::RequiredStartTls,
        verification: Verification::AnyCertificate,
        server_name: Some("mail.example.org".into()),
        auth: Some(AuthConfig::new("app@example.org", "app password")),
        ..ClientConfig::default()
    };
    Client::connect(Box::new(stream), config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_submits_over_starttls_and_delivers_through_a_smarthost_route() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // The smarthost: a local delivery listener with its own mailbox store.
    let sink = Stores::open(&d.join("sink"), None, Default::default()).unwrap();
    sink.mailbox
        .create_account(&NewAccount {
            name: "sink".into(),
            addresses: vec!["sink@example.com".into()],
            ..NewAccount::default()
        })
        .unwrap();
    let (stop, rx) = watch::channel(false);
    let sink_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_port = sink_listener.local_addr().unwrap().port();
    let sink_server = Server::new(
        ServerConfig::new("sink.example".parse().unwrap(), Mode::Inbound),
        Arc::new(LocalDelivery::new(
            sink.mailbox.clone(),
            "sink",
            Duration::from_millis(10),
        )),
    )
    .with_shutdown(rx.clone());
    tokio::spawn(async move { sink_server.run(sink_listener, false).await });

    let cert = rcgen::generate_simple_self_signed(vec!["mail.example.org".to_string()]).unwrap();
    std::fs::write(d.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(d.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = format!(
        r#"hostname = "mail.example.org"
data_dir = "{data}"
[listeners]
submission = {{ address = "127.0.0.1", port = {port} }}
[tls]
cert = "{cert}"
key = "{key}"
[domains."example.org"]
[accounts.app]
addresses = ["app@example.org"]
[[routes]]
transport = "sink"
[transports.sink.smtp]
host = "127.0.0.1"
port = {sink_port}
no_starttls = true
"#,
        data = d.join("data").display(),
        cert = d.join("cert.pem").display(),
        key = d.join("key.pem").display(),
    );
    let path = d.join("postel.toml");
    std::fs::write(&path, config).unwrap();

    let stores = Stores::open(&d.join("data"), None, Default::default()).unwrap();
    stores
        .mailbox
        .create_account(&NewAccount {
            name: "app".into(),
            addresses: vec!["app@example.org".into()],
            ..NewAccount::default()
        })
        .unwrap();
    stores.mailbox.set_password("app", "app password").unwrap();

    let task = tokio::spawn(async move { postel_server::serve::run(&path, rx).await });
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    eventually(|| std::net::TcpStream::connect(addr).ok()).await;

    let mut c = client(addr).await;
    assert!(c.tls().is_some());
    let envelope = Envelope::new(
        Some("app@example.org".parse().unwrap()),
        vec!["sink@example.com".parse().unwrap()],
    );
    let msg = b"Subject: via smarthost\r\nMessage-ID: <s1@example.org>\r\n\r\nbody\r\n";
    let delivery = c.deliver(&envelope, msg).await.unwrap();
    assert!(delivery.recipients[0].is_delivered());

    // REQUIRETLS cannot go through a transport without verified TLS.
    let mut envelope = Envelope::new(
        Some("app@example.org".parse().unwrap()),
        vec!["sink@example.com".parse().unwrap()],
    );
    envelope.require_tls = true;
    let msg = b"Subject: needs tls\r\nMessage-ID: <s2@example.org>\r\n\r\nbody\r\n";
    let delivery = c.deliver(&envelope, msg).await.unwrap();
    assert!(delivery.recipients[0].is_delivered());
    c.quit().await.unwrap();

    let got = eventually(|| {
        let page = sink.mailbox.list("sink", INBOX, None, 10).ok()?;
        page.messages
            .into_iter()
            .find(|m| m.message_id == "s1@example.org")
    })
    .await;
    assert_eq!(got.subject, "via smarthost");

    let failed = eventually(|| {
        let h = stores
            .queue
            .history(
                &HistoryFilter {
                    message_id: "<s2@example.org>".into(),
                    ..HistoryFilter::default()
                },
                &Default::default(),
            )
            .ok()?;
        h.into_iter().next()
    })
    .await;
    assert_eq!(failed.event, queue::Event::Failed);
    assert_eq!(failed.message.require_tls, Some(true));
    let last = failed.message.results.last().unwrap();
    assert_eq!(last.enhanced_code, "5.7.30");
    let dsn = eventually(|| {
        let page = stores.mailbox.list("app", INBOX, None, 10).ok()?;
        page.messages.into_iter().find(|m| m.envelope.is_dsn)
    })
    .await;
    assert!(dsn.subject.contains("fail"), "{}", dsn.subject);

    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}
