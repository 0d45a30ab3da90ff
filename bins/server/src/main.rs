//! `postel`: outbound mail for applications.

use clap::Parser;
use postel_server::cli::{Cli, run};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("POSTEL_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut stdout = std::io::stdout();
    match run(cli, &mut stdout).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(target: "postel", "{e:#}");
            #[allow(clippy::print_stderr)]
            {
                eprintln!("postel: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
