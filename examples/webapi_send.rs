//! Sends one message through a Postel (or mox) web API, then shows its
//! delivery status.
//!
//! ```sh
//! postel localserve &   # web API on localhost, see its startup output
//! cargo run --example webapi_send -- \
//!     --url http://localhost:1080/webapi/v0/ --user mox@localhost --password moxmoxmox \
//!     --to bob@example.net --subject hello --text 'Hi Bob!' --key order-1001
//! ```
//!
//! With `--key`, the call carries an `Idempotency-Key`: running the same
//! command twice sends once and prints the same result twice.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use webapi::client::Client;
use webapi::types::{MessageStatusRequest, NameAddress, SendRequest};

#[derive(Parser)]
#[command(about = "Send a message with the web API and print the result")]
struct Args {
    /// Base URL of the API, ending in /v0/.
    #[arg(long, default_value = "http://localhost:1080/webapi/v0/")]
    url: String,
    /// Login address of the account.
    #[arg(long)]
    user: String,
    /// Password of the account.
    #[arg(long)]
    password: String,
    /// Recipients, comma-separated or repeated.
    #[arg(long, value_delimiter = ',', required = true)]
    to: Vec<String>,
    /// Subject.
    #[arg(long, default_value = "")]
    subject: String,
    /// Plain-text body.
    #[arg(long, default_value = "Hello from the Postel web API.\n")]
    text: String,
    /// Idempotency-Key for the Send call.
    #[arg(long)]
    key: Option<String>,
    /// Skip the MessageStatus call after sending (the reference has no such method).
    #[arg(long)]
    no_status: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = Client::new(&args.url, Some((args.user.clone(), args.password.clone())))?;
    let req = SendRequest {
        to: args
            .to
            .iter()
            .map(|a| NameAddress::new("", a.as_str()))
            .collect(),
        subject: args.subject.clone(),
        text: args.text.clone(),
        ..SendRequest::default()
    };
    let result = match &args.key {
        Some(key) => client.send_idempotent(&req, key).await,
        None => client.send(&req).await,
    };
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(api) = e.api() {
                eprintln!("refused: code {}: {}", api.code, api.message);
            } else {
                eprintln!("{e}");
            }
            std::process::exit(1);
        }
    };
    println!("{}", serde_json::to_string_pretty(&result)?);
    if args.no_status {
        return Ok(());
    }
    for sub in &result.submissions {
        let status = client
            .message_status(&MessageStatusRequest {
                queue_msg_id: sub.queue_msg_id,
                message_id: String::new(),
            })
            .await?;
        for m in &status.messages {
            println!(
                "{} -> {}: {} after {} attempt(s)",
                m.queue_msg_id, m.recipient, m.state, m.attempts
            );
        }
    }
    Ok(())
}
