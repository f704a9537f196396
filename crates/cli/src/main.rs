//! The `m365sync` command-line tool.

mod demo;
mod discover;
mod download;
mod permissions;
mod run;
mod sim;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// m365sync: change detection for OneDrive and SharePoint.
#[derive(Parser)]
#[command(name = "m365sync", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulator and engine in one process: crawl, live change events, summary.
    Demo(demo::DemoArgs),
    /// List the drives the configuration's scope covers (and the excluded ones), without crawling.
    Discover(discover::DiscoverArgs),
    /// Run the engine with a configuration file until Ctrl-C.
    Run(run::RunArgs),
    /// Show drives, cursors, errors and the journal position of a database.
    Status(run::StatusArgs),
    /// Print journal events of a database.
    Events(run::EventsArgs),
    /// Download one item's current content through the tenant's throttle gate.
    Download(download::DownloadArgs),
    /// Who can reach an item, or which items anyone links, guests or a principal reach.
    Permissions(permissions::PermissionsArgs),
    /// Run the Graph simulator until interrupted.
    Sim(Box<sim::SimArgs>),
    /// Benchmarks against the simulator (`bench crawl`, `bench notify`, `bench throttle`).
    Bench(m365sync_tools::bench::BenchArgs),
    /// Randomized convergence: mutations, faults and SIGKILLs of the engine, then checks.
    Chaos(m365sync_tools::chaos::ChaosArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's output is the show; engine chatter below warnings would drown it.
    let default_level = if matches!(
        cli.command,
        Command::Demo(_) | Command::Bench(_) | Command::Chaos(_)
    ) {
        "warn"
    } else {
        "info"
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .init();
    let result = match cli.command {
        Command::Demo(args) => demo::demo(args),
        Command::Discover(args) => discover::discover(args),
        Command::Run(args) => run::run(args),
        Command::Status(args) => run::status(args),
        Command::Events(args) => run::events(args),
        Command::Download(args) => download::download(args),
        Command::Permissions(args) => permissions::permissions(args),
        Command::Sim(args) => sim::run(*args),
        Command::Bench(args) => m365sync_tools::bench::bench(args),
        Command::Chaos(args) => m365sync_tools::chaos::chaos(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("m365sync: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Any error as the message the command prints.
fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}
