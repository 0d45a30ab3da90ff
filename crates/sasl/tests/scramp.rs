//! Cross-checks against Python's scramp (an independent SCRAM
//! implementation): our client against its server and its client against
//! our server, including SCRAM-PLUS with `tls-server-end-point`, where
//! scramp hashes the certificate itself. scramp has no `tls-exporter`.
//!
//! Needs `python3` with scramp, or the interpreter named by `POSTEL_PYTHON`
//! (`.ci/run` points it at `.peers-venv/bin/python`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use sasl::*;

/// A line-based peer: the server role answers client messages, the client
/// role prints its messages and reads ours. Channel binding: `pem:<PEM>` makes
/// scramp hash the certificate, `hex:<data>` passes the data, `none` nothing.
const PEER: &str = r#"
import sys, scramp
role, mech, cb, password = sys.argv[1:5]
binding = None
if cb.startswith("pem:"):
    binding = ("tls-server-end-point", cb[4:])
elif cb.startswith("hex:"):
    binding = ("tls-server-end-point", bytes.fromhex(cb[4:]))
def out(line):
    print(line, flush=True)
def inp():
    return sys.stdin.readline().rstrip("\n")
try:
    if role == "server":
        m = scramp.ScramMechanism(mech)
        info = m.make_auth_info(password, iteration_count=4096)
        def auth_fn(username):
            if username != "alice":
                raise scramp.ScramException("unknown user")
            return info
        s = m.make_server(auth_fn, channel_binding=binding)
        s.set_client_first(inp())
        out(s.get_server_first())
        try:
            s.set_client_final(inp())
        except scramp.ScramException:
            pass  # get_server_final then reports it as e=...
        out(s.get_server_final())
    else:
        c = scramp.ScramClient([mech], "alice", password, channel_binding=binding)
        out(c.get_client_first())
        c.set_server_first(inp())
        out(c.get_client_final())
        c.set_server_final(inp())
        out("OK")
except Exception as e:
    out("ERROR " + str(e))
"#;

struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start(role: &str, mechanism: &str, cb: &str, password: &str) -> Peer {
        let python = std::env::var("POSTEL_PYTHON").unwrap_or_else(|_| "python3".to_string());
        let mut child = Command::new(&python)
            .args(["-c", PEER, role, mechanism, cb, password])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {python}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, message: &[u8]) {
        self.stdin.write_all(message).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    fn recv(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim_end_matches('\n').to_string()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs our client against scramp's server; returns the server's final
/// message (or its error line) and our client's verdict on it.
fn our_client_vs_scramp(
    mechanism: Mechanism,
    password: &str,
    session: &SessionInfo,
    options: &ClientOptions,
    cb: &str,
) -> (String, Result<ClientStep, SaslError>) {
    let mut peer = Peer::start("server", mechanism.name(), cb, "secret");
    let mut client = Client::new(
        mechanism,
        Credentials::new("alice", password),
        options,
        session,
        &[mechanism.name().to_string()],
    )
    .unwrap();
    peer.send(&client.initial_response().unwrap());
    let server_first = peer.recv();
    assert!(!server_first.starts_with("ERROR"), "{server_first}");
    let client_final = client.step(server_first.as_bytes()).unwrap();
    peer.send(client_final.response());
    let server_final = peer.recv();
    let verdict = client.step(server_final.as_bytes());
    (server_final, verdict)
}

fn p384_certificate() -> (Vec<u8>, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let params = rcgen::CertificateParams::new(vec!["mx.postel.test".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.der().to_vec(), cert.pem())
}

#[test]
#[ignore = "needs python scramp; run by .ci/run"]
fn our_scram_client_is_accepted_by_scramp_server() {
    for mechanism in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
        let (server_final, verdict) = our_client_vs_scramp(
            mechanism,
            "secret",
            &SessionInfo::plaintext(),
            &ClientOptions::default(),
            "none",
        );
        assert!(
            server_final.starts_with("v="),
            "{mechanism}: {server_final}"
        );
        assert_eq!(verdict, Ok(ClientStep::Final(vec![])), "{mechanism}");
    }
}

#[test]
#[ignore = "needs python scramp; run by .ci/run"]
fn scramp_server_error_for_wrong_password_is_reported_by_our_client() {
    let (server_final, verdict) = our_client_vs_scramp(
        Mechanism::ScramSha256,
        "wrong",
        &SessionInfo::plaintext(),
        &ClientOptions::default(),
        "none",
    );
    assert_eq!(server_final, "e=invalid-proof");
    assert_eq!(verdict, Err(SaslError::ServerError("invalid-proof".into())));
}

#[test]
#[ignore = "needs python scramp; run by .ci/run"]
fn tls_server_end_point_matches_scramp_hash_of_the_certificate() {
    // scramp computes the binding data from the PEM itself (asn1crypto's
    // idea of the signature hash), so success proves both hashes agree.
    let (der, pem) = p384_certificate();
    let data = tls_server_end_point(&der).unwrap();
    assert_eq!(data.len(), 48);
    let session = SessionInfo::tls(ChannelBindings {
        tls_exporter: None,
        tls_server_end_point: Some(data),
    });
    let options = ClientOptions {
        channel_binding: ChannelBindingType::TlsServerEndPoint,
        ..ClientOptions::default()
    };
    let (server_final, verdict) = our_client_vs_scramp(
        Mechanism::ScramSha256Plus,
        "secret",
        &session,
        &options,
        &format!("pem:{pem}"),
    );
    assert!(server_final.starts_with("v="), "{server_final}");
    assert_eq!(verdict, Ok(ClientStep::Final(vec![])));
}

struct Alice(ScramCredentials, ScramCredentials);
impl CredentialStore for Alice {
    fn scram(&self, username: &str, hash: ScramHash) -> Option<ScramCredentials> {
        (username == "alice").then(|| match hash {
            ScramHash::Sha1 => self.0.clone(),
            ScramHash::Sha256 => self.1.clone(),
        })
    }
}

#[test]
#[ignore = "needs python scramp; run by .ci/run"]
fn scramp_client_is_accepted_by_our_server() {
    let store = Alice(
        ScramCredentials::generate("secret", 4096, ScramHash::Sha1).unwrap(),
        ScramCredentials::generate("secret", 4096, ScramHash::Sha256).unwrap(),
    );
    let (der, _) = p384_certificate();
    let data = tls_server_end_point(&der).unwrap();
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    let plus_session = SessionInfo::tls(ChannelBindings {
        tls_exporter: None,
        tls_server_end_point: Some(data),
    });
    for (mechanism, session, cb) in [
        (
            Mechanism::ScramSha1,
            SessionInfo::plaintext(),
            "none".to_string(),
        ),
        (
            Mechanism::ScramSha256,
            SessionInfo::plaintext(),
            "none".to_string(),
        ),
        (
            Mechanism::ScramSha256Plus,
            plus_session.clone(),
            format!("hex:{hex}"),
        ),
        (Mechanism::ScramSha1Plus, plus_session, format!("hex:{hex}")),
    ] {
        let mut peer = Peer::start("client", mechanism.name(), &cb, "secret");
        let mut server = Server::new(mechanism, &ServerOptions::default(), &session).unwrap();
        let client_first = peer.recv();
        let ServerStep::Challenge(server_first) =
            server.start(Some(client_first.as_bytes()), &store)
        else {
            panic!("{mechanism}: server-first failed");
        };
        peer.send(&server_first);
        let client_final = peer.recv();
        let ServerStep::Challenge(server_final) = server.step(client_final.as_bytes(), &store)
        else {
            panic!("{mechanism}: client-final rejected");
        };
        peer.send(&server_final);
        assert_eq!(peer.recv(), "OK", "{mechanism}");
        assert_eq!(
            server.step(b"", &store),
            ServerStep::Success {
                authcid: "alice".into(),
                authzid: None,
                final_data: None
            }
        );
    }
}
