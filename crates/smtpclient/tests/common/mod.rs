//! Helpers shared by the integration tests.
#![allow(dead_code)]

use smtp::Address;
use smtpclient::{Client, ClientConfig, Envelope, Error, TlsMode};
use testkit::script::{Script, ScriptHandle};

pub const EHLO_LINE: &str = "EHLO client.example";

/// A server announcing everything a delivery can use.
pub const EHLO_ALL: &str = "250-mx.example\n250-PIPELINING\n250-8BITMIME\n250-SMTPUTF8\n250-SIZE 100000\n250-ENHANCEDSTATUSCODES\n250-DSN\n250 CHUNKING";

/// A plain server.
pub const EHLO_PLAIN: &str = "250-mx.example\n250 ENHANCEDSTATUSCODES";

/// Pipelining, no chunking.
pub const EHLO_PIPELINING: &str = "250-mx.example\n250-PIPELINING\n250 ENHANCEDSTATUSCODES";

pub fn config() -> ClientConfig {
    ClientConfig {
        ehlo_name: "client.example".into(),
        tls: TlsMode::Skip,
        ..ClientConfig::default()
    }
}

pub fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

pub fn envelope(from: &str, to: &[&str]) -> Envelope {
    Envelope::new(Some(addr(from)), to.iter().map(|t| addr(t)).collect())
}

/// Greeting and EHLO with the given EHLO reply.
pub fn hello(ehlo_reply: &str) -> Script {
    Script::new()
        .send("220 mx.example ESMTP")
        .expect(EHLO_LINE)
        .send(ehlo_reply)
}

pub async fn connect(
    script: Script,
    config: ClientConfig,
) -> (Result<Client, Error>, ScriptHandle) {
    let (stream, handle) = script.start();
    let client = Client::connect(Box::new(stream), config).await;
    (client, handle)
}
