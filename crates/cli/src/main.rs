//! The `canirun` binary: parses arguments, calls the core, renders results.
//! It stays thin: every number comes from `canirun-core`.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Can my hardware run DeepSeek R1? Exact memory, speed and the command to run it.
#[derive(Parser, Debug)]
#[command(name = "canirun", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Hardware: detect this machine, or list the catalog.
    Hw(cmd::hw::HwArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Hw(args)) => cmd::hw::run(&args, cli.json),
        None => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
