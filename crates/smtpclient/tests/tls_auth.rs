//! STARTTLS, implicit TLS, certificate checks and AUTH with every mechanism.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use rustls::ProtocolVersion;
use sasl::{ChannelBindingType, Mechanism};
use smtp::Command;
use smtpclient::{AuthConfig, CertCheck, ClientConfig, Error, TlsMode, Verification};
use testkit::auth::{AuthRecord, AuthServer};
use testkit::script::Script;
use testkit::tls::{Leaf, TestCa, self_signed};

const STARTTLS_EHLO: &str = "250-mx.example\n250-PIPELINING\n250 STARTTLS";

fn tls_config(mode: TlsMode, verification: Verification) -> ClientConfig {
    ClientConfig {
        tls: mode,
        verification,
        server_name: Some("mx.example".into()),
        ..config()
    }
}

fn pkix(ca: &TestCa) -> Verification {
    Verification::WebPki {
        roots: Arc::new(ca.root_store()),
    }
}

/// Greeting, EHLO, STARTTLS and the handshake with `leaf`.
fn starttls_script(server: Arc<rustls::ServerConfig>) -> Script {
    hello(STARTTLS_EHLO)
        .expect("STARTTLS")
        .send("220 2.0.0 ready")
        .starttls(server)
}

/// A handshake the client is expected to abort.
fn failing_handshake(script: Script, server: Arc<rustls::ServerConfig>) -> Script {
    script.custom(move |io| {
        Box::pin(async move {
            let _ = io.starttls(server).await;
            Ok(())
        })
    })
}

#[tokio::test]
async fn starttls_with_pkix_verification_and_second_ehlo() {
    let ca = TestCa::new();
    let leaf = ca.leaf(&["mx.example"]);
    let script = starttls_script(leaf.server_config())
        .expect(EHLO_LINE)
        .send("250-mx.example\n250-PIPELINING\n250 REQUIRETLS")
        .expect("QUIT")
        .send("221 bye");
    let cfg = tls_config(TlsMode::RequiredStartTls, pkix(&ca));
    let (client, server) = connect(script, cfg).await;
    let client = client.unwrap();
    let tls = client.tls().unwrap();
    assert_eq!(tls.version, ProtocolVersion::TLSv1_3);
    assert_eq!(tls.cert_check, CertCheck::Pkix);
    assert_eq!(tls.peer_certificates[0], *leaf.cert());
    assert!(client.extensions().requiretls);
    assert!(!client.extensions().starttls);
    client.quit().await.unwrap();
    let t = server.finish().await;
    assert_eq!(
        t.client_text(),
        "EHLO client.example\r\nSTARTTLS\r\nEHLO client.example\r\nQUIT\r\n"
    );
}

#[tokio::test]
async fn hostname_mismatch_under_webpki_is_a_tls_error() {
    let ca = TestCa::new();
    let leaf = ca.leaf(&["other.example"]);
    let script = failing_handshake(
        hello(STARTTLS_EHLO).expect("STARTTLS").send("220 ready"),
        leaf.server_config(),
    );
    let cfg = tls_config(
        TlsMode::Opportunistic {
            plaintext_fallback_allowed: false,
        },
        pkix(&ca),
    );
    let (client, server) = connect(script, cfg).await;
    let err = client.unwrap_err();
    let Error::Tls {
        server: name,
        reason,
        plaintext_fallback_allowed,
    } = &err
    else {
        panic!("expected a TLS error, got {err:?}");
    };
    assert_eq!(name, "mx.example");
    assert!(reason.contains("not valid for name"), "{reason}");
    assert!(!plaintext_fallback_allowed);
    assert!(!err.is_permanent());
    assert_eq!(err.command(), Some(Command::StartTls));
    server.finish().await;
}

#[tokio::test]
async fn expired_certificate_is_rejected_under_webpki() {
    let ca = TestCa::new();
    let leaf = ca.expired_leaf(&["mx.example"]);
    let script = failing_handshake(
        hello(STARTTLS_EHLO).expect("STARTTLS").send("220 ready"),
        leaf.server_config(),
    );
    let (client, server) = connect(script, tls_config(TlsMode::RequiredStartTls, pkix(&ca))).await;
    let err = client.unwrap_err();
    assert!(
        matches!(&err, Error::Tls { reason, .. } if reason.contains("certificate expired")),
        "{err:?}"
    );
    server.finish().await;
}

async fn accepted_under_opportunistic(leaf: Leaf) {
    let script = starttls_script(leaf.server_config())
        .expect(EHLO_LINE)
        .send(EHLO_PIPELINING)
        .expect("QUIT")
        .send("221 bye");
    let cfg = tls_config(
        TlsMode::Opportunistic {
            plaintext_fallback_allowed: false,
        },
        Verification::AnyCertificate,
    );
    let (client, server) = connect(script, cfg).await;
    let client = client.unwrap();
    assert_eq!(client.cert_check(), CertCheck::Any);
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn expired_certificate_is_accepted_under_opportunistic_tls() {
    accepted_under_opportunistic(TestCa::new().expired_leaf(&["mx.example"])).await;
}

#[tokio::test]
async fn untrusted_self_signed_certificate_is_accepted_under_opportunistic_tls() {
    accepted_under_opportunistic(self_signed(&["elsewhere.example"])).await;
}

#[tokio::test]
async fn failed_handshake_reports_whether_plaintext_fallback_is_allowed() {
    let script = hello(STARTTLS_EHLO)
        .expect("STARTTLS")
        .send("220 ready")
        .custom(|io| {
            Box::pin(async move {
                io.read_exact(5).await?; // start of the ClientHello
                io.write(b"this is not TLS\r\n").await
            })
        });
    let cfg = tls_config(
        TlsMode::Opportunistic {
            plaintext_fallback_allowed: true,
        },
        Verification::AnyCertificate,
    );
    let (client, server) = connect(script, cfg.clone()).await;
    let err = client.unwrap_err();
    assert!(err.plaintext_fallback_allowed(), "{err:?}");
    server.finish().await;

    // The caller's fallback: a new connection without TLS.
    let retry = hello(STARTTLS_EHLO).expect("QUIT").send("221 bye");
    let (client, server) = connect(retry, cfg.without_tls()).await;
    let client = client.unwrap();
    assert!(client.tls().is_none());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn refused_starttls_continues_in_plaintext_only_when_allowed() {
    let script = hello(STARTTLS_EHLO)
        .expect("STARTTLS")
        .send("454 4.7.0 TLS not available")
        .expect("QUIT")
        .send("221 bye");
    let cfg = tls_config(
        TlsMode::Opportunistic {
            plaintext_fallback_allowed: true,
        },
        Verification::AnyCertificate,
    );
    let (client, server) = connect(script, cfg).await;
    let client = client.unwrap();
    assert!(client.tls().is_none());
    client.quit().await.unwrap();
    server.finish().await;

    let script = hello(STARTTLS_EHLO)
        .expect("STARTTLS")
        .send("454 4.7.0 TLS not available")
        .expect_closed();
    let cfg = tls_config(
        TlsMode::Opportunistic {
            plaintext_fallback_allowed: false,
        },
        Verification::AnyCertificate,
    );
    let (client, server) = connect(script, cfg).await;
    let err = client.unwrap_err();
    assert_eq!(err.reply().unwrap().code, 454);
    server.finish().await;
}

#[tokio::test]
async fn immediate_tls_handshakes_before_the_greeting() {
    let ca = TestCa::new();
    let leaf = ca.leaf(&["mx.example"]);
    let script = Script::new()
        .starttls(leaf.server_config_versions(&[&rustls::version::TLS12]))
        .send("220 mx.example ESMTP")
        .expect(EHLO_LINE)
        .send(EHLO_PIPELINING)
        .expect("QUIT")
        .send("221 bye");
    let (client, server) = connect(script, tls_config(TlsMode::Immediate, pkix(&ca))).await;
    let client = client.unwrap();
    assert_eq!(client.tls().unwrap().version, ProtocolVersion::TLSv1_2);
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn requiretls_is_sent_over_tls_when_offered() {
    let leaf = self_signed(&["mx.example"]);
    let script = starttls_script(leaf.server_config())
        .expect(EHLO_LINE)
        .send("250-mx.example\n250-PIPELINING\n250 REQUIRETLS")
        .expect_pipelined(&[
            "MAIL FROM:<a@example.org> REQUIRETLS",
            "RCPT TO:<b@example.com>",
            "DATA",
        ])
        .send("250 ok\n250 ok\n354 go")
        .read_data(b"x\r\n.\r\n")
        .send("250 ok")
        .expect("QUIT")
        .send("221 bye");
    let cfg = tls_config(TlsMode::RequiredStartTls, Verification::AnyCertificate);
    let (client, server) = connect(script, cfg).await;
    let mut client = client.unwrap();
    let mut env = envelope("a@example.org", &["b@example.com"]);
    env.require_tls = true;
    let delivery = client.deliver(&env, b"x").await.unwrap();
    assert!(delivery.recipients[0].is_delivered());
    client.quit().await.unwrap();
    server.finish().await;
}

// ---- AUTH

fn auth_server(cert: &[u8], offered: &str) -> AuthServer {
    AuthServer {
        server_cert: Some(cert.to_vec()),
        // A server that can bind announces -PLUS (see AuthServer::channel_binding).
        channel_binding: offered.contains("-PLUS"),
        ..AuthServer::new(&[("alice", "secret")])
    }
}

/// STARTTLS, EHLO announcing `offered`, AUTH against the sasl server side.
async fn run_auth(
    offered: &str,
    binding: ChannelBindingType,
    tls12: bool,
    password: &str,
) -> (Result<Option<Mechanism>, Error>, Vec<AuthRecord>) {
    let leaf = self_signed(&["mx.example"]);
    let server_config = if tls12 {
        leaf.server_config_versions(&[&rustls::version::TLS12])
    } else {
        leaf.server_config()
    };
    let script = starttls_script(server_config)
        .expect(EHLO_LINE)
        .send(&format!(
            "250-mx.example\n250-PIPELINING\n250 AUTH {offered}"
        ))
        .serve_auth(auth_server(leaf.cert(), offered));
    let mut auth = AuthConfig::new("alice", password);
    auth.options.channel_binding = binding;
    let cfg = ClientConfig {
        auth: Some(auth),
        ..tls_config(TlsMode::RequiredStartTls, Verification::AnyCertificate)
    };
    let (client, server) = connect(script, cfg).await;
    let result = client.map(|c| c.authenticated());
    let transcript = server.finish().await;
    (result, transcript.auth)
}

async fn auth_succeeds(offered: &str, expect: Mechanism, binding: ChannelBindingType, tls12: bool) {
    let (result, records) = run_auth(offered, binding, tls12, "secret").await;
    let mechanism = result.unwrap_or_else(|err| panic!("{offered}: {err}"));
    assert_eq!(mechanism, Some(expect));
    assert_eq!(
        records,
        vec![AuthRecord {
            mechanism: expect,
            authcid: Some("alice".to_string())
        }]
    );
}

#[tokio::test]
async fn auth_plain_over_tls() {
    auth_succeeds(
        "PLAIN",
        Mechanism::Plain,
        ChannelBindingType::TlsExporter,
        false,
    )
    .await;
}

#[tokio::test]
async fn auth_login_over_tls() {
    auth_succeeds(
        "LOGIN",
        Mechanism::Login,
        ChannelBindingType::TlsExporter,
        false,
    )
    .await;
}

#[tokio::test]
async fn auth_cram_md5() {
    auth_succeeds(
        "CRAM-MD5",
        Mechanism::CramMd5,
        ChannelBindingType::TlsExporter,
        false,
    )
    .await;
}

#[tokio::test]
async fn auth_scram_sha_1() {
    auth_succeeds(
        "SCRAM-SHA-1",
        Mechanism::ScramSha1,
        ChannelBindingType::TlsExporter,
        false,
    )
    .await;
}

#[tokio::test]
async fn auth_scram_sha_256() {
    auth_succeeds(
        "SCRAM-SHA-256",
        Mechanism::ScramSha256,
        ChannelBindingType::TlsExporter,
        false,
    )
    .await;
}

#[tokio::test]
async fn auth_scram_sha_1_plus_with_tls_exporter() {
    auth_succeeds(
        "SCRAM-SHA-1-PLUS SCRAM-SHA-1",
        Mechanism::ScramSha1Plus,
        ChannelBindingType::TlsExporter,
        false,
    )
    .await;
}

#[tokio::test]
async fn auth_scram_sha_256_plus_with_tls_exporter() {
    auth_succeeds(
        "SCRAM-SHA-256-PLUS SCRAM-SHA-256",
        Mechanism::ScramSha256Plus,
        ChannelBindingType::TlsExporter,
        false,
    )
    .await;
}

#[tokio::test]
async fn auth_scram_sha_1_plus_with_tls_server_end_point() {
    auth_succeeds(
        "SCRAM-SHA-1-PLUS",
        Mechanism::ScramSha1Plus,
        ChannelBindingType::TlsServerEndPoint,
        false,
    )
    .await;
}

#[tokio::test]
async fn auth_scram_sha_256_plus_with_tls_server_end_point_on_tls12() {
    auth_succeeds(
        "SCRAM-SHA-256-PLUS",
        Mechanism::ScramSha256Plus,
        ChannelBindingType::TlsServerEndPoint,
        true,
    )
    .await;
}

#[tokio::test]
async fn tls_exporter_is_not_used_on_tls12_so_plain_scram_is_chosen() {
    auth_succeeds(
        "SCRAM-SHA-256-PLUS SCRAM-SHA-256",
        Mechanism::ScramSha256,
        ChannelBindingType::TlsExporter,
        true,
    )
    .await;
}

#[tokio::test]
async fn the_most_secure_common_mechanism_is_chosen() {
    auth_succeeds(
        "LOGIN PLAIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-256-PLUS",
        Mechanism::ScramSha256Plus,
        ChannelBindingType::TlsExporter,
        false,
    )
    .await;
    auth_succeeds(
        "LOGIN PLAIN CRAM-MD5",
        Mechanism::CramMd5,
        ChannelBindingType::TlsExporter,
        false,
    )
    .await;
    auth_succeeds(
        "LOGIN PLAIN",
        Mechanism::Plain,
        ChannelBindingType::TlsExporter,
        false,
    )
    .await;
}

#[tokio::test]
async fn wrong_password_is_a_rejected_auth() {
    let (result, records) = run_auth(
        "SCRAM-SHA-256",
        ChannelBindingType::TlsExporter,
        false,
        "wrong",
    )
    .await;
    assert_eq!(
        records,
        vec![AuthRecord {
            mechanism: Mechanism::ScramSha256,
            authcid: None
        }]
    );
    let err = result.unwrap_err();
    assert_eq!(err.command(), Some(Command::Auth));
    assert_eq!(err.reply().unwrap().code, 535);
    assert!(err.is_permanent());
}

#[tokio::test]
async fn plain_auth_exact_wire_bytes_with_initial_response() {
    let leaf = self_signed(&["mx.example"]);
    let script = starttls_script(leaf.server_config())
        .expect(EHLO_LINE)
        .send("250-mx.example\n250 AUTH PLAIN")
        .expect("AUTH PLAIN AGFsaWNlAHNlY3JldA==")
        .send("235 2.7.0 ok")
        .expect("QUIT")
        .send("221 bye");
    let cfg = ClientConfig {
        auth: Some(AuthConfig::new("alice", "secret")),
        ..tls_config(TlsMode::RequiredStartTls, Verification::AnyCertificate)
    };
    let (client, server) = connect(script, cfg).await;
    client.unwrap().quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn plain_is_never_sent_without_tls_by_default() {
    let script = hello("250-mx.example\n250 AUTH PLAIN LOGIN").expect_closed();
    let cfg = ClientConfig {
        auth: Some(AuthConfig::new("alice", "secret")),
        ..config()
    };
    let (client, server) = connect(script, cfg).await;
    let err = client.unwrap_err();
    assert!(
        matches!(&err, Error::Auth { mechanism, .. } if mechanism == "none"),
        "{err:?}"
    );
    assert_eq!(
        server.finish().await.client_text(),
        "EHLO client.example\r\n"
    );
}

#[tokio::test]
async fn plain_without_tls_when_explicitly_allowed() {
    let script = hello("250-mx.example\n250 AUTH PLAIN")
        .expect("AUTH PLAIN AGFsaWNlAHNlY3JldA==")
        .send("235 ok")
        .expect("QUIT")
        .send("221 bye");
    let mut auth = AuthConfig::new("alice", "secret");
    auth.options.plaintext_without_tls = true;
    let cfg = ClientConfig {
        auth: Some(auth),
        ..config()
    };
    let (client, server) = connect(script, cfg).await;
    let client = client.unwrap();
    assert_eq!(client.authenticated(), Some(Mechanism::Plain));
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn bad_challenge_aborts_with_star_and_expects_501() {
    let script = hello("250-mx.example\n250 AUTH CRAM-MD5")
        .expect("AUTH CRAM-MD5")
        .send("334 %%%not-base64")
        .expect("*")
        .send("501 5.7.0 aborted")
        .expect_closed();
    let cfg = ClientConfig {
        auth: Some(AuthConfig::new("alice", "secret")),
        ..config()
    };
    let (client, server) = connect(script, cfg).await;
    let err = client.unwrap_err();
    assert!(
        matches!(&err, Error::Auth { mechanism, .. } if mechanism == "CRAM-MD5"),
        "{err:?}"
    );
    server.finish().await;
}

#[tokio::test]
async fn premature_success_for_scram_is_an_auth_error() {
    let leaf = self_signed(&["mx.example"]);
    let script = starttls_script(leaf.server_config())
        .expect(EHLO_LINE)
        .send("250-mx.example\n250 AUTH SCRAM-SHA-256")
        .expect_prefix("AUTH SCRAM-SHA-256 ")
        .send("235 2.7.0 sure, whatever")
        .expect_closed();
    let cfg = ClientConfig {
        auth: Some(AuthConfig::new("alice", "secret")),
        ..tls_config(TlsMode::RequiredStartTls, Verification::AnyCertificate)
    };
    let (client, server) = connect(script, cfg).await;
    let err = client.unwrap_err();
    assert!(
        matches!(&err, Error::Auth { mechanism, .. } if mechanism == "SCRAM-SHA-256"),
        "{err:?}"
    );
    server.finish().await;
}

#[tokio::test]
async fn custom_verifier_decides_and_is_reported() {
    let ca = TestCa::new();
    let leaf = ca.leaf(&["mx.example"]);
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(ca.root_store()),
        testkit::tls::provider(),
    )
    .build()
    .unwrap();
    let script = starttls_script(leaf.server_config())
        .expect(EHLO_LINE)
        .send(EHLO_PIPELINING)
        .expect("QUIT")
        .send("221 bye");
    let cfg = tls_config(TlsMode::RequiredStartTls, Verification::Custom(verifier));
    let (client, server) = connect(script, cfg).await;
    let client = client.unwrap();
    assert_eq!(client.cert_check(), CertCheck::Custom);
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn client_certificate_is_presented_when_configured() {
    let ca = TestCa::new();
    let server_leaf = ca.leaf(&["mx.example"]);
    let client_leaf = ca.leaf(&["client.example"]);
    let client_verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(ca.root_store()),
        testkit::tls::provider(),
    )
    .build()
    .unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(testkit::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(server_leaf.chain.clone(), server_leaf.key_der())
        .unwrap();
    let script = starttls_script(Arc::new(server_config))
        .expect(EHLO_LINE)
        .send(EHLO_PIPELINING)
        .expect("QUIT")
        .send("221 bye");
    let cfg = ClientConfig {
        client_cert: Some(smtpclient::ClientCert {
            chain: client_leaf.chain.clone(),
            key: client_leaf.key_der(),
        }),
        ..tls_config(TlsMode::RequiredStartTls, pkix(&ca))
    };
    let (client, server) = connect(script, cfg).await;
    client.unwrap().quit().await.unwrap();
    server.finish().await;
}

#[tokio::test(start_paused = true)]
async fn stalled_handshake_is_a_tls_error_after_the_handshake_timeout() {
    let script = hello(STARTTLS_EHLO)
        .expect("STARTTLS")
        .send("220 ready")
        .hang();
    let cfg = tls_config(TlsMode::RequiredStartTls, Verification::AnyCertificate);
    let (client, server) = connect(script, cfg).await;
    let err = client.unwrap_err();
    assert!(
        matches!(&err, Error::Tls { reason, .. } if reason == "handshake did not finish within 60s"),
        "{err:?}"
    );
    server.finish().await;
}
