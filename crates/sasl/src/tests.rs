//! Exchanges across the client and server state machines: RFC vectors,
//! round trips for every mechanism, and each channel binding rejection.

use std::collections::HashMap;

use crate::scram::message::decode_b64;
use crate::*;

struct Store {
    scram: HashMap<(String, ScramHash), ScramCredentials>,
    cram: HashMap<String, CramMd5Credentials>,
}

impl Store {
    fn with(users: &[(&str, &str)]) -> Store {
        let mut scram = HashMap::new();
        let mut cram = HashMap::new();
        for (user, password) in users {
            for hash in [ScramHash::Sha1, ScramHash::Sha256] {
                let c =
                    ScramCredentials::derive(password, b"0123456789abcdef", 4096, hash).unwrap();
                scram.insert((user.to_string(), hash), c);
            }
            cram.insert(user.to_string(), CramMd5Credentials::derive(password));
        }
        Store { scram, cram }
    }
}

impl CredentialStore for Store {
    fn scram(&self, username: &str, hash: ScramHash) -> Option<ScramCredentials> {
        self.scram.get(&(username.to_string(), hash)).cloned()
    }
    fn cram_md5(&self, username: &str) -> Option<CramMd5Credentials> {
        self.cram.get(username).cloned()
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn bindings(exporter: Option<u8>, end_point: Option<u8>) -> ChannelBindings {
    ChannelBindings {
        tls_exporter: exporter.map(|b| vec![b; 32]),
        tls_server_end_point: end_point.map(|b| vec![b; 32]),
    }
}

/// How an exchange ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Authenticated {
        authcid: String,
        authzid: Option<String>,
    },
    ServerRejected(SaslError),
    ClientRejected(SaslError),
}

fn run(client: &mut Client, server: &mut Server, store: &Store) -> Outcome {
    let mut step = server.start(client.initial_response().as_deref(), store);
    for _ in 0..10 {
        match step {
            ServerStep::Challenge(challenge) => match client.step(&challenge) {
                Ok(answer) => step = server.step(answer.response(), store),
                Err(e) => return Outcome::ClientRejected(e),
            },
            ServerStep::Success {
                authcid,
                authzid,
                final_data,
            } => {
                return match client.finish(final_data.as_deref()) {
                    Ok(()) => Outcome::Authenticated { authcid, authzid },
                    Err(e) => Outcome::ClientRejected(e),
                };
            }
            ServerStep::Failure(e) => return Outcome::ServerRejected(e),
        }
    }
    panic!("exchange did not end");
}

fn ok(user: &str) -> Outcome {
    Outcome::Authenticated {
        authcid: user.to_string(),
        authzid: None,
    }
}

/// A client and server on sessions that may differ (as with a man in the
/// middle), the client seeing `offered`.
#[allow(clippy::too_many_arguments)]
fn exchange(
    mechanism: Mechanism,
    credentials: Credentials,
    client_options: &ClientOptions,
    client_session: &SessionInfo,
    offered: &[String],
    server_mechanism: Mechanism,
    server_options: &ServerOptions,
    server_session: &SessionInfo,
) -> (Outcome, Option<Gs2Flag>) {
    let store = Store::with(&[("alice", "secret")]);
    let mut client = Client::new(
        mechanism,
        credentials,
        client_options,
        client_session,
        offered,
    )
    .unwrap();
    let flag = client.gs2_flag();
    let mut server = Server::new(server_mechanism, server_options, server_session).unwrap();
    (run(&mut client, &mut server, &store), flag)
}

/// A matched client and server: same session, client sees what the server advertises.
fn simple(
    mechanism: Mechanism,
    options: &ClientOptions,
    session: &SessionInfo,
) -> (Outcome, Option<Gs2Flag>) {
    let server_options = ServerOptions::default();
    let offered: Vec<String> = server_options
        .advertised(session)
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    exchange(
        mechanism,
        Credentials::new("alice", "secret"),
        options,
        session,
        &offered,
        mechanism,
        &server_options,
        session,
    )
}

// ---- RFC vectors ------------------------------------------------------------

fn rfc_vector_client(mechanism: Mechanism, nonce: &str) -> Client {
    Client::with_nonce(
        mechanism,
        Credentials::new("user", "pencil"),
        &ClientOptions::default(),
        &SessionInfo::plaintext(),
        &names(&[mechanism.name()]),
        Some(nonce.to_string()),
    )
    .unwrap()
}

#[test]
fn rfc5802_scram_sha1_client_messages_match_byte_for_byte() {
    let mut c = rfc_vector_client(Mechanism::ScramSha1, "fyko+d2lbbFgONRv9qkxdawL");
    assert_eq!(
        c.initial_response().unwrap(),
        b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    );
    let step = c
        .step(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
        .unwrap();
    assert_eq!(
        step,
        ClientStep::Continue(
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
                .to_vec()
        )
    );
    assert_eq!(
        c.step(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").unwrap(),
        ClientStep::Final(vec![])
    );
    c.finish(None).unwrap();
    assert_eq!(
        c.step(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
        Err(SaslError::UnexpectedChallenge(Mechanism::ScramSha1))
    );
}

#[test]
fn rfc7677_scram_sha256_client_messages_match_byte_for_byte() {
    let mut c = rfc_vector_client(Mechanism::ScramSha256, "rOprNGfwEbeRWgbNEkqO");
    assert_eq!(
        c.initial_response().unwrap(),
        b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    );
    let step = c
        .step(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        .unwrap();
    assert_eq!(
        step.response(),
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    assert!(!step.is_final());
    let last = c
        .step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        .unwrap();
    assert_eq!(last, ClientStep::Final(vec![]));
    c.finish(None).unwrap();
}

struct VectorStore(ScramCredentials);
impl CredentialStore for VectorStore {
    fn scram(&self, username: &str, _: ScramHash) -> Option<ScramCredentials> {
        (username == "user").then(|| self.0.clone())
    }
}

fn rfc_vector_server(
    mechanism: Mechanism,
    salt: &str,
    server_nonce: &str,
    client_first: &[u8],
    server_first: &[u8],
    client_final: &[u8],
    server_final: &[u8],
) {
    let hash = mechanism.scram_hash().unwrap();
    let salt = decode_b64(salt, "t").unwrap();
    let store = VectorStore(ScramCredentials::derive("pencil", &salt, 4096, hash).unwrap());
    let mut server = Server::new(
        mechanism,
        &ServerOptions::default(),
        &SessionInfo::plaintext(),
    )
    .unwrap();
    server.set_scram_nonce(server_nonce);
    assert_eq!(
        server.start(Some(client_first), &store),
        ServerStep::Challenge(server_first.to_vec())
    );
    assert_eq!(
        server.step(client_final, &store),
        ServerStep::Challenge(server_final.to_vec())
    );
    assert_eq!(
        server.step(b"", &store),
        ServerStep::Success {
            authcid: "user".into(),
            authzid: None,
            final_data: None
        }
    );
    assert_eq!(
        server.step(b"", &store),
        ServerStep::Failure(SaslError::UnexpectedResponse(mechanism))
    );
}

#[test]
fn rfc5802_scram_sha1_server_messages_match_byte_for_byte() {
    rfc_vector_server(
        Mechanism::ScramSha1,
        "QSXCR+Q6sek8bf92",
        "3rfcNHYJY1ZVvWVs7j",
        b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
        b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
        b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
    );
}

#[test]
fn rfc7677_scram_sha256_server_messages_match_byte_for_byte() {
    rfc_vector_server(
        Mechanism::ScramSha256,
        "W22ZaJ0SNY7soEsUEjb6gQ==",
        "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    );
}

#[test]
fn rfc2195_cram_md5_client_answers_the_example_challenge() {
    let mut c = Client::new(
        Mechanism::CramMd5,
        Credentials::new("tim", "tanstaaftanstaaf"),
        &ClientOptions::default(),
        &SessionInfo::plaintext(),
        &names(&["CRAM-MD5"]),
    )
    .unwrap();
    assert_eq!(c.initial_response(), None);
    assert_eq!(
        c.finish(None),
        Err(SaslError::PrematureSuccess(Mechanism::CramMd5))
    );
    assert_eq!(
        c.step(b"<1896.697170952@postoffice.reston.mci.net>")
            .unwrap(),
        ClientStep::Final(b"tim b913a602c7eda7a495b4e6e7334d3890".to_vec())
    );
    c.finish(None).unwrap();
    assert_eq!(
        c.step(b"more"),
        Err(SaslError::UnexpectedChallenge(Mechanism::CramMd5))
    );
}

// ---- PLAIN, LOGIN, EXTERNAL encodings --------------------------------------------

fn tls() -> SessionInfo {
    SessionInfo::tls(ChannelBindings::default())
}

#[test]
fn plain_initial_response_with_and_without_authzid() {
    let mut c = Client::new(
        Mechanism::Plain,
        Credentials::new("tim", "tanstaaf"),
        &ClientOptions::default(),
        &tls(),
        &names(&["PLAIN"]),
    )
    .unwrap();
    assert_eq!(c.initial_response().unwrap(), b"\0tim\0tanstaaf");
    assert_eq!(c.initial_response(), None);
    assert_eq!(
        c.step(b""),
        Err(SaslError::UnexpectedChallenge(Mechanism::Plain))
    );

    let mut creds = Credentials::new("tim", "tanstaaf");
    creds.authzid = Some("admin".into());
    let mut c = Client::new(
        Mechanism::Plain,
        creds,
        &ClientOptions::default(),
        &tls(),
        &[],
    )
    .unwrap();
    // Without the initial response, the server's empty challenge asks for it.
    assert_eq!(
        c.step(b"").unwrap(),
        ClientStep::Final(b"admin\0tim\0tanstaaf".to_vec())
    );
    c.finish(None).unwrap();
}

#[test]
fn login_answers_prompts_in_order() {
    let mut c = Client::new(
        Mechanism::Login,
        Credentials::new("tim", "tanstaaf"),
        &ClientOptions::default(),
        &tls(),
        &names(&["LOGIN"]),
    )
    .unwrap();
    assert_eq!(c.initial_response(), None);
    assert_eq!(
        c.step(b"User Name\0").unwrap(),
        ClientStep::Continue(b"tim".to_vec())
    );
    assert_eq!(
        c.finish(None),
        Err(SaslError::PrematureSuccess(Mechanism::Login))
    );
    assert_eq!(
        c.step(b"Password\0").unwrap(),
        ClientStep::Final(b"tanstaaf".to_vec())
    );
    c.finish(None).unwrap();
    assert_eq!(
        c.step(b"x"),
        Err(SaslError::UnexpectedChallenge(Mechanism::Login))
    );
}

#[test]
fn external_sends_authzid_or_nothing() {
    let mut options = ClientOptions::default();
    options.allowed.push(Mechanism::External);
    let mut creds = Credentials::new("", "");
    let mut c = Client::new(Mechanism::External, creds.clone(), &options, &tls(), &[]).unwrap();
    assert_eq!(c.initial_response().unwrap(), b"");
    c.finish(None).unwrap();
    creds.authzid = Some("postmaster".into());
    let mut c = Client::new(Mechanism::External, creds, &options, &tls(), &[]).unwrap();
    assert_eq!(c.initial_response().unwrap(), b"postmaster");
    // EXTERNAL is not allowed unless configured.
    assert_eq!(
        Client::new(
            Mechanism::External,
            Credentials::new("", ""),
            &ClientOptions::default(),
            &tls(),
            &[]
        )
        .unwrap_err(),
        SaslError::MechanismNotAvailable(Mechanism::External)
    );
}

#[test]
fn plaintext_mechanisms_need_tls_unless_allowed() {
    let offered = names(&["PLAIN", "LOGIN"]);
    let plain = SessionInfo::plaintext();
    assert_eq!(choose(&offered, &ClientOptions::default(), &plain), None);
    assert_eq!(
        Client::new(
            Mechanism::Login,
            Credentials::new("a", "b"),
            &ClientOptions::default(),
            &plain,
            &offered
        )
        .unwrap_err(),
        SaslError::PlaintextWithoutTls(Mechanism::Login)
    );
    let lax = ClientOptions {
        plaintext_without_tls: true,
        ..ClientOptions::default()
    };
    assert_eq!(choose(&offered, &lax, &plain), Some(Mechanism::Plain));
    assert_eq!(
        choose(&offered, &ClientOptions::default(), &tls()),
        Some(Mechanism::Plain)
    );
    // CRAM-MD5 does not reveal the password, so it is fine without TLS.
    assert_eq!(
        choose(
            &names(&["LOGIN", "CRAM-MD5"]),
            &ClientOptions::default(),
            &plain
        ),
        Some(Mechanism::CramMd5)
    );
}

#[test]
fn choose_ignores_unknown_names_and_respects_allowed_list() {
    let offered = names(&["GSSAPI", "scram-sha-1", "PLAIN", "XOAUTH2"]);
    assert_eq!(
        choose(&offered, &ClientOptions::default(), &tls()),
        Some(Mechanism::ScramSha1)
    );
    let only_plain = ClientOptions {
        allowed: vec![Mechanism::Plain],
        ..ClientOptions::default()
    };
    assert_eq!(
        choose(&offered, &only_plain, &tls()),
        Some(Mechanism::Plain)
    );
    assert_eq!(
        choose(&names(&["GSSAPI"]), &ClientOptions::default(), &tls()),
        None
    );
}

#[test]
fn choose_takes_plus_only_with_the_configured_binding() {
    let offered = names(&["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"]);
    let end_point_only = SessionInfo::tls(bindings(None, Some(3)));
    assert_eq!(
        choose(&offered, &ClientOptions::default(), &end_point_only),
        Some(Mechanism::ScramSha256)
    );
    let with_end_point = ClientOptions {
        channel_binding: ChannelBindingType::TlsServerEndPoint,
        ..ClientOptions::default()
    };
    assert_eq!(
        choose(&offered, &with_end_point, &end_point_only),
        Some(Mechanism::ScramSha256Plus)
    );
}

#[test]
fn server_advertises_by_session() {
    let o = ServerOptions::default();
    let list = |s: &SessionInfo| o.advertised(s).iter().map(|m| m.name()).collect::<Vec<_>>();
    assert_eq!(
        list(&SessionInfo::plaintext()),
        ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5"]
    );
    assert_eq!(
        list(&tls()),
        ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]
    );
    assert_eq!(
        Server::new(Mechanism::Plain, &o, &SessionInfo::plaintext()).unwrap_err(),
        SaslError::PlaintextWithoutTls(Mechanism::Plain)
    );
    assert_eq!(
        Server::new(Mechanism::ScramSha256Plus, &o, &tls()).unwrap_err(),
        SaslError::MechanismNotAvailable(Mechanism::ScramSha256Plus)
    );
}

// ---- round trips --------------------------------------------------------------

#[test]
fn every_mechanism_round_trips_with_the_right_password() {
    let session = SessionInfo::tls(bindings(Some(1), Some(2)));
    for mechanism in [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::ScramSha1,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha256Plus,
    ] {
        let (outcome, _) = simple(mechanism, &ClientOptions::default(), &session);
        assert_eq!(outcome, ok("alice"), "{mechanism}");
    }
}

#[test]
fn every_mechanism_rejects_a_wrong_password() {
    let session = SessionInfo::tls(bindings(Some(1), Some(2)));
    let server_options = ServerOptions::default();
    let offered: Vec<String> = server_options
        .advertised(&session)
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    for mechanism in [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::ScramSha1,
        Mechanism::ScramSha256Plus,
    ] {
        for user in ["alice", "mallory"] {
            let (outcome, _) = exchange(
                mechanism,
                Credentials::new(user, "wrong"),
                &ClientOptions::default(),
                &session,
                &offered,
                mechanism,
                &server_options,
                &session,
            );
            assert_eq!(
                outcome,
                Outcome::ServerRejected(SaslError::AuthenticationFailed(user.into())),
                "{mechanism} {user}"
            );
        }
    }
}

#[test]
fn authzid_reaches_the_server_for_plain_and_scram() {
    for mechanism in [Mechanism::Plain, Mechanism::ScramSha256] {
        let mut creds = Credentials::new("alice", "secret");
        creds.authzid = Some("bob,=x".into());
        let (outcome, _) = exchange(
            mechanism,
            creds,
            &ClientOptions::default(),
            &tls(),
            &[],
            mechanism,
            &ServerOptions::default(),
            &tls(),
        );
        assert_eq!(
            outcome,
            Outcome::Authenticated {
                authcid: "alice".into(),
                authzid: Some("bob,=x".into())
            }
        );
    }
}

#[test]
fn scram_server_final_as_success_data_is_verified_by_finish() {
    let session = tls();
    let options = ServerOptions {
        success_data: true,
        ..ServerOptions::default()
    };
    let (outcome, _) = exchange(
        Mechanism::ScramSha1,
        Credentials::new("alice", "secret"),
        &ClientOptions::default(),
        &session,
        &[],
        Mechanism::ScramSha1,
        &options,
        &session,
    );
    assert_eq!(outcome, ok("alice"));
}

#[test]
fn plus_with_tls_exporter_sends_p_flag() {
    let session = SessionInfo::tls(bindings(Some(9), None));
    let (outcome, flag) = simple(
        Mechanism::ScramSha256Plus,
        &ClientOptions::default(),
        &session,
    );
    assert_eq!(outcome, ok("alice"));
    assert_eq!(flag, Some(Gs2Flag::Bound(ChannelBindingType::TlsExporter)));
}

#[test]
fn plus_with_tls_server_end_point_sends_p_flag() {
    // TLS 1.2: no exporter, only the certificate hash.
    let session = SessionInfo::tls(bindings(None, Some(7)));
    let options = ClientOptions {
        channel_binding: ChannelBindingType::TlsServerEndPoint,
        ..ClientOptions::default()
    };
    let (outcome, flag) = simple(Mechanism::ScramSha1Plus, &options, &session);
    assert_eq!(outcome, ok("alice"));
    assert_eq!(
        flag,
        Some(Gs2Flag::Bound(ChannelBindingType::TlsServerEndPoint))
    );
}

#[test]
fn client_first_message_carries_the_gs2_header() {
    let session = SessionInfo::tls(bindings(Some(9), None));
    let mut c = Client::with_nonce(
        Mechanism::ScramSha256Plus,
        Credentials::new("us,er=", "pencil"),
        &ClientOptions::default(),
        &session,
        &names(&["SCRAM-SHA-256-PLUS"]),
        Some("abc".into()),
    )
    .unwrap();
    assert_eq!(
        c.initial_response().unwrap(),
        b"p=tls-exporter,,n=us=2Cer=3D,r=abc"
    );
    // c= holds the GS2 header followed by the binding data.
    let step = c.step(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096").unwrap();
    let text = String::from_utf8(step.response().to_vec()).unwrap();
    let c_value = text.strip_prefix("c=").unwrap().split(',').next().unwrap();
    let mut want = b"p=tls-exporter,,".to_vec();
    want.extend([9u8; 32]);
    assert_eq!(decode_b64(c_value, "t").unwrap(), want);
}

#[test]
fn y_flag_when_server_offers_no_plus_is_accepted() {
    let session = SessionInfo::tls(bindings(Some(1), Some(2)));
    let server_options = ServerOptions {
        mechanisms: vec![Mechanism::ScramSha256, Mechanism::Plain],
        ..ServerOptions::default()
    };
    let offered = names(&["SCRAM-SHA-256", "PLAIN"]);
    let (outcome, flag) = exchange(
        Mechanism::ScramSha256,
        Credentials::new("alice", "secret"),
        &ClientOptions::default(),
        &session,
        &offered,
        Mechanism::ScramSha256,
        &server_options,
        &session,
    );
    assert_eq!(flag, Some(Gs2Flag::BindingNotOffered));
    assert_eq!(outcome, ok("alice"));
}

#[test]
fn n_flag_when_configured_binding_is_unavailable_is_accepted() {
    // TLS 1.2 session: the server can bind with tls-server-end-point and
    // offers -PLUS, but the client is configured for tls-exporter.
    let session = SessionInfo::tls(bindings(None, Some(2)));
    let offered = names(&["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]);
    let chosen = choose(&offered, &ClientOptions::default(), &session).unwrap();
    assert_eq!(chosen, Mechanism::ScramSha256);
    let (outcome, flag) = simple(chosen, &ClientOptions::default(), &session);
    assert_eq!(flag, Some(Gs2Flag::NoBinding));
    assert_eq!(outcome, ok("alice"));
    // Without TLS at all, likewise.
    let (outcome, flag) = simple(
        Mechanism::ScramSha1,
        &ClientOptions::default(),
        &SessionInfo::plaintext(),
    );
    assert_eq!(flag, Some(Gs2Flag::NoBinding));
    assert_eq!(outcome, ok("alice"));
}

#[test]
fn y_flag_when_plus_was_offered_is_rejected_as_downgrade() {
    // A man in the middle stripped the -PLUS names from the list the client saw.
    let session = SessionInfo::tls(bindings(Some(1), None));
    let (outcome, flag) = exchange(
        Mechanism::ScramSha256,
        Credentials::new("alice", "secret"),
        &ClientOptions::default(),
        &session,
        &names(&["SCRAM-SHA-256"]),
        Mechanism::ScramSha256,
        &ServerOptions::default(),
        &session,
    );
    assert_eq!(flag, Some(Gs2Flag::BindingNotOffered));
    assert_eq!(outcome, Outcome::ServerRejected(SaslError::Downgrade));
}

#[test]
fn p_flag_on_non_plus_mechanism_is_rejected() {
    let session = SessionInfo::tls(bindings(Some(1), None));
    let (outcome, _) = exchange(
        Mechanism::ScramSha256Plus,
        Credentials::new("alice", "secret"),
        &ClientOptions::default(),
        &session,
        &[],
        Mechanism::ScramSha256,
        &ServerOptions::default(),
        &session,
    );
    assert_eq!(
        outcome,
        Outcome::ServerRejected(SaslError::Gs2FlagMismatch {
            mechanism: Mechanism::ScramSha256,
            flag: "p=tls-exporter".into()
        })
    );
}

#[test]
fn n_and_y_flags_on_plus_mechanism_are_rejected() {
    let server_session = SessionInfo::tls(bindings(Some(1), None));
    for (client_session, offered, flag) in [
        (SessionInfo::plaintext(), vec![], "n"),
        (server_session.clone(), vec![], "y"),
    ] {
        let (outcome, _) = exchange(
            Mechanism::ScramSha1,
            Credentials::new("alice", "secret"),
            &ClientOptions::default(),
            &client_session,
            &offered,
            Mechanism::ScramSha1Plus,
            &ServerOptions::default(),
            &server_session,
        );
        assert_eq!(
            outcome,
            Outcome::ServerRejected(SaslError::Gs2FlagMismatch {
                mechanism: Mechanism::ScramSha1Plus,
                flag: flag.into()
            })
        );
    }
}

#[test]
fn binding_type_the_server_lacks_is_rejected() {
    // Client on TLS 1.3 binds with tls-exporter; the server (behind a TLS
    // terminator, say) only has the certificate hash.
    let (outcome, _) = exchange(
        Mechanism::ScramSha256Plus,
        Credentials::new("alice", "secret"),
        &ClientOptions::default(),
        &SessionInfo::tls(bindings(Some(1), Some(2))),
        &[],
        Mechanism::ScramSha256Plus,
        &ServerOptions::default(),
        &SessionInfo::tls(bindings(None, Some(2))),
    );
    assert_eq!(
        outcome,
        Outcome::ServerRejected(SaslError::ChannelBindingUnavailable(
            ChannelBindingType::TlsExporter
        ))
    );
}

#[test]
fn unknown_binding_type_is_rejected() {
    let store = Store::with(&[("alice", "secret")]);
    let session = SessionInfo::tls(bindings(Some(1), Some(2)));
    let mut server = Server::new(
        Mechanism::ScramSha256Plus,
        &ServerOptions::default(),
        &session,
    )
    .unwrap();
    assert_eq!(
        server.start(Some(b"p=tls-unique,,n=alice,r=abc"), &store),
        ServerStep::Failure(SaslError::UnsupportedChannelBinding("tls-unique".into()))
    );
}

#[test]
fn wrong_channel_binding_data_is_rejected() {
    // Different TLS sessions on each side: a man in the middle.
    for (kind, client, server) in [
        (
            ChannelBindingType::TlsExporter,
            bindings(Some(1), None),
            bindings(Some(2), None),
        ),
        (
            ChannelBindingType::TlsServerEndPoint,
            bindings(None, Some(1)),
            bindings(None, Some(2)),
        ),
    ] {
        let options = ClientOptions {
            channel_binding: kind,
            ..ClientOptions::default()
        };
        let (outcome, _) = exchange(
            Mechanism::ScramSha256Plus,
            Credentials::new("alice", "secret"),
            &options,
            &SessionInfo::tls(client),
            &[],
            Mechanism::ScramSha256Plus,
            &ServerOptions::default(),
            &SessionInfo::tls(server),
        );
        assert_eq!(
            outcome,
            Outcome::ServerRejected(SaslError::ChannelBindingMismatch),
            "{kind}"
        );
    }
}

// ---- client strictness against a bad server -------------------------------------------

fn scram_client_after_first() -> Client {
    let mut c = rfc_vector_client(Mechanism::ScramSha1, "fyko+d2lbbFgONRv9qkxdawL");
    c.initial_response().unwrap();
    c
}

const SERVER_FIRST: &[u8] =
    b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";

#[test]
fn wrong_server_signature_is_an_error() {
    let mut c = scram_client_after_first();
    c.step(SERVER_FIRST).unwrap();
    assert_eq!(
        c.step(b"v=smF9pqV8S7suAoZWja4dJRkFsKQ="),
        Err(SaslError::ServerSignatureMismatch)
    );
    // A failed exchange stays failed.
    assert_eq!(
        c.finish(None),
        Err(SaslError::PrematureSuccess(Mechanism::ScramSha1))
    );
}

#[test]
fn success_without_server_final_is_an_error() {
    let mut c = scram_client_after_first();
    c.step(SERVER_FIRST).unwrap();
    assert_eq!(
        c.finish(None),
        Err(SaslError::PrematureSuccess(Mechanism::ScramSha1))
    );
    let mut c = scram_client_after_first();
    c.step(SERVER_FIRST).unwrap();
    c.finish(Some(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")).unwrap();
}

#[test]
fn server_error_attribute_is_reported() {
    let mut c = scram_client_after_first();
    c.step(SERVER_FIRST).unwrap();
    assert_eq!(
        c.step(b"e=invalid-proof"),
        Err(SaslError::ServerError("invalid-proof".into()))
    );
    let mut c = scram_client_after_first();
    assert_eq!(
        c.step(b"e=unknown-user"),
        Err(SaslError::ServerError("unknown-user".into()))
    );
}

#[test]
fn bad_server_first_messages_are_rejected() {
    let cases: &[(&[u8], SaslError)] = &[
        (
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4095",
            SaslError::IterationsTooLow {
                iterations: 4095,
                minimum: 4096,
            },
        ),
        (
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4000000000",
            SaslError::IterationsTooHigh {
                iterations: 4_000_000_000,
                maximum: 10_000_000,
            },
        ),
        (
            b"r=XXXX+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096",
            SaslError::NonceMismatch,
        ),
        // The server must add its own part.
        (
            b"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",
            SaslError::NonceMismatch,
        ),
        (
            b"m=ext,r=fyko+d2lbbFgONRv9qkxdawL3,s=QSXCR+Q6sek8bf92,i=4096",
            SaslError::MandatoryExtension("ext".into()),
        ),
        (
            b"r=fyko+d2lbbFgONRv9qkxdawL3,s=QSXCR+Q6sek8bf92,i=+4096",
            SaslError::malformed(
                "SCRAM server-first message",
                "bad iteration count \"+4096\"",
            ),
        ),
        (
            b"r=fyko+d2lbbFgONRv9qkxdawL3,i=4096",
            SaslError::malformed("SCRAM server-first message", "no s= after r="),
        ),
    ];
    for (message, want) in cases {
        let mut c = scram_client_after_first();
        assert_eq!(
            &c.step(message).unwrap_err(),
            want,
            "{}",
            String::from_utf8_lossy(message)
        );
    }
    let mut c = scram_client_after_first();
    let long = vec![b'a'; 5000];
    assert!(matches!(
        c.step(&long),
        Err(SaslError::TooLong { len: 5000, .. })
    ));
}

#[test]
fn scram_client_rejects_passwords_that_fail_saslprep() {
    let err = Client::new(
        Mechanism::ScramSha256,
        Credentials::new("alice", "bad\u{0}pw"),
        &ClientOptions::default(),
        &tls(),
        &[],
    )
    .unwrap_err();
    assert_eq!(err, SaslError::SaslPrep { what: "password" });
}

// ---- server strictness against a bad client ------------------------------------------

#[test]
fn server_rejects_malformed_plain_and_cram_md5() {
    let store = Store::with(&[("alice", "secret")]);
    let mut s = Server::new(Mechanism::Plain, &ServerOptions::default(), &tls()).unwrap();
    assert_eq!(
        s.start(Some(b"alice\0secret"), &store),
        ServerStep::Failure(SaslError::malformed(
            "PLAIN message",
            "expected authzid NUL authcid NUL password"
        ))
    );
    let mut s = Server::new(Mechanism::Plain, &ServerOptions::default(), &tls()).unwrap();
    assert_eq!(s.start(None, &store), ServerStep::Challenge(vec![]));
    assert_eq!(
        s.step(b"\0alice\0secret", &store),
        ServerStep::Success {
            authcid: "alice".into(),
            authzid: None,
            final_data: None
        }
    );

    let options = ServerOptions {
        hostname: "mx.postel.test".into(),
        ..ServerOptions::default()
    };
    let mut s = Server::new(Mechanism::CramMd5, &options, &tls()).unwrap();
    assert!(matches!(
        s.start(Some(b"x"), &store),
        ServerStep::Failure(SaslError::Malformed { .. })
    ));
    let mut s = Server::new(Mechanism::CramMd5, &options, &tls()).unwrap();
    let ServerStep::Challenge(challenge) = s.start(None, &store) else {
        panic!()
    };
    let text = String::from_utf8(challenge).unwrap();
    assert!(
        text.starts_with('<') && text.ends_with("@mx.postel.test>"),
        "{text}"
    );
}

#[test]
fn server_login_prompts_and_initial_username() {
    let store = Store::with(&[("alice", "secret")]);
    let mut s = Server::new(Mechanism::Login, &ServerOptions::default(), &tls()).unwrap();
    assert_eq!(
        s.start(None, &store),
        ServerStep::Challenge(b"Username:".to_vec())
    );
    assert_eq!(
        s.step(b"alice", &store),
        ServerStep::Challenge(b"Password:".to_vec())
    );
    assert_eq!(
        s.step(b"secret", &store),
        ServerStep::Success {
            authcid: "alice".into(),
            authzid: None,
            final_data: None
        }
    );
    let mut s = Server::new(Mechanism::Login, &ServerOptions::default(), &tls()).unwrap();
    assert_eq!(
        s.start(Some(b"alice"), &store),
        ServerStep::Challenge(b"Password:".to_vec())
    );
}

#[test]
fn server_rejects_tampered_scram_client_final() {
    let store = VectorStore(
        ScramCredentials::derive(
            "pencil",
            &decode_b64("QSXCR+Q6sek8bf92", "t").unwrap(),
            4096,
            ScramHash::Sha1,
        )
        .unwrap(),
    );
    let start = |s: &mut Server| {
        s.set_scram_nonce("3rfcNHYJY1ZVvWVs7j");
        s.start(Some(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), &store)
    };
    let cases: &[(&[u8], SaslError)] = &[
        (
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7X,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            SaslError::NonceMismatch,
        ),
        (
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=w0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            SaslError::AuthenticationFailed("user".into()),
        ),
        (
            // c= claims "y" though the client-first said "n"
            b"c=eSws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            SaslError::ChannelBindingMismatch,
        ),
        (
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
            SaslError::malformed("SCRAM client-final message", "no p= attribute at the end"),
        ),
    ];
    for (message, want) in cases {
        let mut s = Server::new(
            Mechanism::ScramSha1,
            &ServerOptions::default(),
            &SessionInfo::plaintext(),
        )
        .unwrap();
        assert!(matches!(start(&mut s), ServerStep::Challenge(_)));
        assert_eq!(s.step(message, &store), ServerStep::Failure(want.clone()));
    }
}

// ---- hostile input never panics -------------------------------------------------

mod hostile {
    use super::*;
    use proptest::prelude::*;

    fn store() -> &'static Store {
        static STORE: std::sync::OnceLock<Store> = std::sync::OnceLock::new();
        STORE.get_or_init(|| Store::with(&[("alice", "secret")]))
    }

    /// Messages that look roughly like SASL traffic, so parsing gets deep.
    fn message() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            "[nyp]=?[a-z-]{0,12},(a=[a-z=2CD]{0,6})?,n=[a-z=]{0,6},r=[!-~]{0,12}(,[a-z]=[!-~]{0,8}){0,3}"
                .prop_map(String::into_bytes),
            "(c=[A-Za-z0-9+/=]{0,12},)?(r=[!-~]{0,20},)?(s=[A-Za-z0-9+/=]{0,8},)?(i=[0-9+]{0,6},)?(p=|v=|e=)[A-Za-z0-9+/=]{0,44}"
                .prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn server_survives_arbitrary_responses(
            mechanism in proptest::sample::select(vec![
                Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5,
                Mechanism::ScramSha1, Mechanism::ScramSha256Plus,
            ]),
            initial in proptest::option::of(message()),
            responses in proptest::collection::vec(message(), 0..4),
        ) {
            let session = SessionInfo::tls(bindings(Some(1), Some(2)));
            let mut server = Server::new(mechanism, &ServerOptions::default(), &session).unwrap();
            let _ = server.start(initial.as_deref(), store());
            for r in &responses {
                let _ = server.step(r, store());
            }
        }

        #[test]
        fn client_survives_arbitrary_challenges(
            mechanism in proptest::sample::select(vec![
                Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5,
                Mechanism::ScramSha1, Mechanism::ScramSha256Plus,
            ]),
            challenges in proptest::collection::vec(message(), 0..4),
            extra in proptest::option::of(message()),
        ) {
            let session = SessionInfo::tls(bindings(Some(1), Some(2)));
            let options = ClientOptions { max_iterations: 5000, ..ClientOptions::default() };
            let mut client =
                Client::new(mechanism, Credentials::new("alice", "secret"), &options, &session, &[]).unwrap();
            let _ = client.initial_response();
            for c in &challenges {
                let _ = client.step(c);
            }
            let _ = client.finish(extra.as_deref());
        }
    }
}
