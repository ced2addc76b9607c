//! `tern`: the Tern MMSC and its tools, one subcommand each.

mod decode;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "tern", version, about = "Tern: an MMS Relay/Server (MMSC)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode an MMS PDU, a WSP push, SMS user data or SMS TPDUs, and print it as a tree or JSON.
    Decode(decode::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode(args) => decode::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tern: {err:#}");
            ExitCode::FAILURE
        }
    }
}
