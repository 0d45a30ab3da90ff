//! `postel`: outbound mail for applications.

use clap::Parser;

/// Outbound mail for applications.
#[derive(Parser)]
#[command(name = "postel", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
