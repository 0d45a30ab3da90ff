//! Client responses as the SASL server side reads them during AUTH, for
//! every mechanism, over a TLS session with both channel bindings available.
//! The first byte picks the mechanism; the rest is split at 0xFF into the
//! initial response and the responses to each challenge.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sasl::{
    ChannelBindings, CramMd5Credentials, CredentialStore, Mechanism, ScramCredentials, ScramHash,
    Server, ServerOptions, ServerStep, SessionInfo,
};

struct Store {
    sha1: ScramCredentials,
    sha256: ScramCredentials,
    cram: CramMd5Credentials,
}

impl CredentialStore for Store {
    fn scram(&self, user: &str, hash: ScramHash) -> Option<ScramCredentials> {
        (user == "user").then(|| match hash {
            ScramHash::Sha1 => self.sha1.clone(),
            ScramHash::Sha256 => self.sha256.clone(),
        })
    }
    fn cram_md5(&self, user: &str) -> Option<CramMd5Credentials> {
        (user == "user").then(|| self.cram.clone())
    }
}

fn store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    // Few iterations keep PBKDF2 out of the way of the fuzzer.
    STORE.get_or_init(|| Store {
        sha1: ScramCredentials::derive("pencil", b"salt", 16, ScramHash::Sha1)
            .expect("fixed password derives"),
        sha256: ScramCredentials::derive("pencil", b"salt", 16, ScramHash::Sha256)
            .expect("fixed password derives"),
        cram: CramMd5Credentials::derive("pencil"),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mechanisms = [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::ScramSha1,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha256Plus,
    ];
    let mechanism = mechanisms[usize::from(selector) % mechanisms.len()];
    let session = SessionInfo::tls(ChannelBindings {
        tls_exporter: Some(vec![7; 32]),
        tls_server_end_point: Some(vec![9; 32]),
    });
    let Ok(mut server) = Server::new(mechanism, &ServerOptions::default(), &session) else {
        return;
    };
    let mut parts = rest.split(|&b| b == 0xFF);
    let initial = parts.next().filter(|p| !p.is_empty());
    let mut step = server.start(initial, store());
    for part in parts {
        match step {
            ServerStep::Challenge(_) => step = server.step(part, store()),
            ServerStep::Success { .. } | ServerStep::Failure(_) => break,
        }
    }
});
