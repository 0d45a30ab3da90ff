//! Delivers a message file directly to the recipients' mail servers: looks up
//! each recipient domain's MX hosts, tries them in order with opportunistic
//! STARTTLS, and prints the result for every recipient.
//!
//! ```sh
//! cargo run --example send_mail -- --from me@example.org --to you@example.net message.eml
//! # against a test zone and local servers:
//! cargo run --example send_mail -- --resolver 127.0.0.1:5353 --port 2525 \
//!     --from me@example.org --to a@postel.test,b@postel.test message.eml
//! ```
//!
//! The resolver defaults to the first nameserver in /etc/resolv.conf; its AD
//! bit is reported as "DNSSEC-authentic".
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use dns::{Resolver, StubResolver};
use smtp::{Address, Domain, Host};
use smtpclient::dial::{DEFAULT_DIAL_TIMEOUT, DialedIps, TcpDialer, dial_host};
use smtpclient::gather::{gather_destinations, gather_ips};
use smtpclient::{Client, ClientConfig, Envelope, Error, RecipientOutcome, TlsMode};

#[derive(Parser)]
#[command(about = "Deliver a message file to its recipients' MX hosts")]
struct Args {
    /// Envelope sender (MAIL FROM); "" for the null reverse path.
    #[arg(long)]
    from: String,
    /// Recipients, comma-separated or repeated.
    #[arg(long, value_delimiter = ',', required = true)]
    to: Vec<String>,
    /// Recursive resolver (host:port); default: /etc/resolv.conf.
    #[arg(long)]
    resolver: Option<SocketAddr>,
    /// SMTP port of the MX hosts (25; other values are for tests).
    #[arg(long, default_value_t = 25)]
    port: u16,
    /// Name sent in EHLO.
    #[arg(long, default_value = "localhost")]
    ehlo: String,
    /// The message, with headers (RFC 5322).
    file: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let message = std::fs::read(&args.file)?;
    let servers = match args.resolver {
        Some(addr) => vec![addr],
        None => dns::parse_resolv_conf(&std::fs::read_to_string("/etc/resolv.conf")?),
    };
    anyhow::ensure!(!servers.is_empty(), "no resolver configured");
    let resolver = StubResolver::new(servers);
    let reverse_path = if args.from.is_empty() {
        None
    } else {
        Some(args.from.parse::<Address>()?)
    };

    // One transaction per recipient domain.
    let mut by_domain: BTreeMap<Domain, Vec<Address>> = BTreeMap::new();
    for to in &args.to {
        let address: Address = to.parse()?;
        let domain = address
            .domain()
            .ok_or_else(|| anyhow::anyhow!("{address}: IP address literals are not looked up"))?
            .clone();
        by_domain.entry(domain).or_default().push(address);
    }

    for (domain, recipients) in by_domain {
        let envelope = Envelope::new(reverse_path.clone(), recipients.clone());
        match deliver_domain(&resolver, &domain, &envelope, &message, &args).await {
            Ok(outcomes) => {
                for (rcpt, outcome) in recipients.iter().zip(outcomes) {
                    println!("{rcpt}: {}", describe(&outcome));
                }
            }
            Err(e) => {
                let kind = if e.permanent {
                    "permanent"
                } else {
                    "temporary"
                };
                for rcpt in &recipients {
                    println!("{rcpt}: {kind} failure: {}", e.message);
                }
            }
        }
    }
    Ok(())
}

struct DomainError {
    permanent: bool,
    message: String,
}

/// Tries the domain's MX hosts in order until one takes the transaction or
/// refuses it permanently.
async fn deliver_domain(
    resolver: &dyn Resolver,
    domain: &Domain,
    envelope: &Envelope,
    message: &[u8],
    args: &Args,
) -> Result<Vec<RecipientOutcome>, DomainError> {
    let destinations = gather_destinations(resolver, domain)
        .await
        .map_err(|e| DomainError {
            permanent: e.is_permanent(),
            message: e.to_string(),
        })?;
    let mut last = DomainError {
        permanent: false,
        message: "no MX host could be tried".into(),
    };
    let mut dialed = DialedIps::new();
    for host in &destinations.hosts {
        match deliver_host(resolver, host, envelope, message, args, &mut dialed).await {
            Ok(outcomes) => return Ok(outcomes),
            Err(e) => {
                eprintln!("{host}: {}", e.message);
                if e.permanent {
                    return Err(e);
                }
                last = e;
            }
        }
    }
    Err(last)
}

async fn deliver_host(
    resolver: &dyn Resolver,
    host: &Host,
    envelope: &Envelope,
    message: &[u8],
    args: &Args,
    dialed: &mut DialedIps,
) -> Result<Vec<RecipientOutcome>, DomainError> {
    let temporary = |message: String| DomainError {
        permanent: false,
        message,
    };
    let ips = gather_ips(resolver, host, dialed)
        .await
        .map_err(|e| temporary(e.to_string()))?;
    let config = ClientConfig {
        ehlo_name: args.ehlo.clone(),
        tls: TlsMode::Opportunistic {
            plaintext_fallback_allowed: true,
        },
        server_name: host.domain().map(|d| d.ascii().to_string()),
        ..ClientConfig::default()
    };
    let mut attempt_config = config.clone();
    // A failed handshake leaves the connection unusable; when the mode allows
    // it, the same host is dialed again without TLS.
    for _ in 0..2 {
        let (stream, ip) = dial_host(
            &TcpDialer::new(),
            host,
            &ips.ips,
            args.port,
            dialed,
            DEFAULT_DIAL_TIMEOUT,
        )
        .await
        .map_err(|e| temporary(e.to_string()))?;
        eprintln!("{host}: connected to {ip}");
        let mut client = match Client::connect(stream, attempt_config.clone()).await {
            Ok(client) => client,
            Err(e) if e.plaintext_fallback_allowed() => {
                eprintln!("{host}: {e}; retrying without TLS");
                attempt_config = config.without_tls();
                continue;
            }
            Err(e) => return Err(host_error(e)),
        };
        if let Some(tls) = client.tls() {
            eprintln!("{host}: TLS {tls:?}");
        }
        let delivery = client
            .deliver(envelope, message)
            .await
            .map_err(host_error)?;
        if delivery.dsn_params_dropped {
            eprintln!("{host}: server lacks DSN; DSN parameters were not sent");
        }
        let _ = client.quit().await;
        return Ok(delivery.recipients);
    }
    Err(temporary("TLS failed twice".into()))
}

fn host_error(e: Error) -> DomainError {
    DomainError {
        permanent: e.is_permanent(),
        message: e.to_string(),
    }
}

fn describe(outcome: &RecipientOutcome) -> String {
    match outcome {
        RecipientOutcome::Delivered(r) => format!("delivered: {r}"),
        RecipientOutcome::Failed(r) if r.permanent => format!("permanent failure: {r}"),
        RecipientOutcome::Failed(r) => format!("temporary failure: {r}"),
        RecipientOutcome::NotAttempted(why) => format!("not attempted: {why:?}"),
    }
}
