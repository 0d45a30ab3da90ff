//! Submits a message through a smarthost (a submission server) with STARTTLS
//! or implicit TLS and SMTP AUTH. The client picks the most secure SASL
//! mechanism both sides offer (SCRAM-SHA-256-PLUS first) and never sends a
//! password in plain text over an unencrypted connection.
//!
//! ```sh
//! SMTP_PASSWORD=secret cargo run --example smarthost -- \
//!     --server smtp.example.org:587 --user me@example.org --password-env SMTP_PASSWORD \
//!     --from me@example.org --to you@example.net message.eml
//! ```
//!
//! `--implicit-tls` is for port 465; `--insecure` accepts any certificate
//! (for a test server with a self-signed one).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use smtp::Address;
use smtpclient::dial::{Dialer, TcpDialer};
use smtpclient::{AuthConfig, Client, ClientConfig, Envelope, TlsMode, Verification};

#[derive(Parser)]
#[command(about = "Submit a message file through a smarthost with TLS and AUTH")]
struct Args {
    /// host:port of the submission server.
    #[arg(long)]
    server: String,
    /// Use TLS from the first byte (port 465) instead of STARTTLS.
    #[arg(long)]
    implicit_tls: bool,
    /// Accept any server certificate.
    #[arg(long)]
    insecure: bool,
    /// Login name for AUTH; without it no AUTH is attempted.
    #[arg(long)]
    user: Option<String>,
    /// Environment variable holding the password.
    #[arg(long, default_value = "SMTP_PASSWORD")]
    password_env: String,
    /// SASL mechanism to insist on, e.g. SCRAM-SHA-256 (default: the best offered).
    #[arg(long)]
    mechanism: Option<sasl::Mechanism>,
    /// Envelope sender.
    #[arg(long)]
    from: String,
    /// Recipients, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    to: Vec<String>,
    /// The message, with headers.
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
    let (host, port) = args
        .server
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("--server must be host:port"))?;
    let port: u16 = port.parse()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');

    let auth = match &args.user {
        Some(user) => {
            let password = std::env::var(&args.password_env)
                .map_err(|_| anyhow::anyhow!("set the password in ${}", args.password_env))?;
            let mut auth = AuthConfig::new(user.clone(), password);
            if let Some(mechanism) = args.mechanism {
                auth.options.allowed = vec![mechanism];
            }
            Some(auth)
        }
        None => None,
    };
    let config = ClientConfig {
        ehlo_name: "localhost".into(),
        tls: if args.implicit_tls {
            TlsMode::Immediate
        } else {
            TlsMode::RequiredStartTls
        },
        verification: if args.insecure {
            Verification::AnyCertificate
        } else {
            Verification::webpki_roots()
        },
        server_name: Some(host.to_string()),
        auth,
        ..ClientConfig::default()
    };

    // The smarthost is named by the operator, so the system resolver is fine
    // here; MX delivery uses the dns crate instead (see send_mail).
    let mut stream = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        match tokio::time::timeout(Duration::from_secs(30), TcpDialer::new().dial(addr)).await {
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => eprintln!("{addr}: {e}"),
            Err(_) => eprintln!("{addr}: connect timed out"),
        }
    }
    let stream = stream.ok_or_else(|| anyhow::anyhow!("could not connect to {host}:{port}"))?;
    let mut client = Client::connect(stream, config).await?;
    if let Some(tls) = client.tls() {
        eprintln!("TLS: {tls:?}");
    }
    if let Some(mechanism) = client.authenticated() {
        eprintln!("authenticated with {mechanism}");
    }
    let recipients = args
        .to
        .iter()
        .map(|a| a.parse::<Address>())
        .collect::<Result<Vec<_>, _>>()?;
    let envelope = Envelope::new(Some(args.from.parse()?), recipients.clone());
    let delivery = client.deliver(&envelope, &message).await?;
    for (rcpt, outcome) in recipients.iter().zip(&delivery.recipients) {
        match outcome.response() {
            Some(r) if outcome.is_delivered() => println!("{rcpt}: accepted ({r})"),
            Some(r) => println!("{rcpt}: refused ({r})"),
            None => println!("{rcpt}: not attempted"),
        }
    }
    client.quit().await?;
    Ok(())
}
