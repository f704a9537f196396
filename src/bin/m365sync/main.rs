//! The `m365sync` command-line tool.

use clap::{Parser, Subcommand};

mod sim;

/// m365sync: change detection for OneDrive and SharePoint.
#[derive(Parser)]
#[command(name = "m365sync", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Graph simulator until interrupted.
    Sim(sim::SimArgs),
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => sim::run(args),
    };
    if let Err(e) = result {
        log::error!("{e}");
        std::process::exit(1);
    }
}
