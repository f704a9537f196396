//! The `m365sync` command-line tool.

use clap::{Parser, Subcommand};

/// m365sync: change detection for OneDrive and SharePoint.
#[derive(Parser)]
#[command(name = "m365sync", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    match cli.command {}
}
