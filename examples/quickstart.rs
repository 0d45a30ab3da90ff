//! The first thing to run: delivers one message to three recipients through
//! the whole client path (MX lookup, IP gathering, dialing, EHLO, pipelined
//! delivery), with no network and nothing installed.
//!
//! DNS comes from an in-memory zone whose MX host points at 127.0.0.1, and the
//! receiving server is an SMTP sink started inside this process.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
#![allow(clippy::print_stdout)]

use std::time::Duration;

use dns::MemoryResolver;
use smtp::{Address, Domain, Host};
use smtpclient::dial::{DEFAULT_DIAL_TIMEOUT, DialedIps, TcpDialer, dial_host};
use smtpclient::gather::{gather_destinations, gather_ips};
use smtpclient::{Client, ClientConfig, Envelope, RecipientOutcome};
use testkit::sink::Sink;

const MESSAGE: &str = "From: Postel <hello@example.org>\r
To: Ann <ann@example.net>, Bob <bob@example.net>\r
Subject: Hello from Postel\r
Message-ID: <quickstart-1@example.org>\r
\r
This message went through MX lookup, dialing and a pipelined SMTP\r
transaction to an in-process sink.\r
";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sink = Sink::start().await?;
    println!("SMTP sink listening on {}", sink.addr());

    // A zone like the one a real recipient domain publishes, but pointing at
    // this machine. DNSSEC "authentic" answers matter for DANE later on.
    let resolver = MemoryResolver::new()
        .mx("example.net", 10, "mx.example.net")
        .a("mx.example.net", "127.0.0.1".parse()?)
        .all_authentic();

    let domain = Domain::parse("example.net")?;
    let destinations = gather_destinations(&resolver, &domain).await?;
    let host = destinations
        .hosts
        .first()
        .ok_or_else(|| anyhow::anyhow!("no MX hosts"))?
        .clone();
    let mut dialed = DialedIps::new();
    let ips = gather_ips(&resolver, &host, &dialed).await?;
    println!(
        "MX for {domain}: {host} -> {:?} (DNSSEC-authentic: {})",
        ips.ips, ips.authentic
    );

    // The sink listens on a random port instead of 25.
    let (stream, ip) = dial_host(
        &TcpDialer::new(),
        &host,
        &ips.ips,
        sink.addr().port(),
        &mut dialed,
        DEFAULT_DIAL_TIMEOUT,
    )
    .await?;
    println!("connected to {ip}");

    let config = ClientConfig {
        ehlo_name: "client.example.org".into(),
        server_name: match &host {
            Host::Domain(d) => Some(d.ascii().to_string()),
            Host::Ip(_) => None,
        },
        ..ClientConfig::default()
    };
    let mut client = Client::connect(stream, config).await?;
    let ext = client.extensions();
    println!(
        "server {} offers PIPELINING={} CHUNKING={} DSN={} SMTPUTF8={}",
        ext.hostname, ext.pipelining, ext.chunking, ext.dsn, ext.smtputf8
    );

    let recipients: Vec<Address> = ["ann@example.net", "bob@example.net", "cy@example.net"]
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let envelope = Envelope::new(Some("hello@example.org".parse()?), recipients.clone());
    let delivery = client.deliver(&envelope, MESSAGE.as_bytes()).await?;
    for (rcpt, outcome) in recipients.iter().zip(&delivery.recipients) {
        match outcome {
            RecipientOutcome::Delivered(r) => println!("  {rcpt}: delivered ({r})"),
            RecipientOutcome::Failed(r) => println!(
                "  {rcpt}: failed, {} ({r})",
                if r.permanent {
                    "permanent"
                } else {
                    "temporary"
                }
            ),
            RecipientOutcome::NotAttempted(why) => println!("  {rcpt}: not attempted: {why:?}"),
        }
    }
    client.quit().await?;

    sink.wait_for(1, Duration::from_secs(5)).await;
    for message in sink.messages() {
        println!(
            "\nthe sink received ({}): MAIL FROM:{} RCPT TO:{}\n{}",
            if message.chunked { "BDAT" } else { "DATA" },
            message.mail_from,
            message.rcpt_to.join(", "),
            String::from_utf8_lossy(&message.data)
        );
    }
    Ok(())
}
