//! `tern`: the Tern MMSC and its tools, one subcommand each. The work is done by the `tern`
//! library; this is only its command line, and the choice of allocator.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tern::{admin, decode, demo, serve, ue};

/// mimalloc rather than glibc's allocator: glibc gave the memory of each large body (a 300 KB
/// retrieval) back to the kernel when it was freed and faulted it in again for the next, a
/// tenth of a retrieval's time; mimalloc keeps it for reuse (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "tern", version, about = "Tern: an MMS Relay/Server (MMSC)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the relay (MM1 on 127.0.0.1:8002 with embedded storage unless configured otherwise).
    Serve(serve::Args),
    /// Decode an MMS PDU, a WSP push, SMS user data or SMS TPDUs, and print it as a tree or JSON.
    Decode(decode::Args),
    /// Simulate a handset: send MMS, and receive, fetch and acknowledge them over MM1.
    Ue(ue::Args),
    /// Run an MMSC and two simulated handsets on loopback, send a picture message from one to
    /// the other with a delivery report, and print every step.
    Demo(demo::Args),
    /// Make a random bearer token for the admin endpoint and print it with the hash to configure
    /// (`admin.token_sha256`).
    AdminToken,
    /// Read a VASP's password from standard input (one line) and print the Argon2 hash to
    /// configure (`mm7.vasps.password_hash`).
    HashPassword,
}

fn main() -> ExitCode {
    // reqwest's rustls is built without a crypto provider of its own (its default, aws-lc-rs,
    // needs a heavier build), so every HTTP client (the PAP bearer's, `tern ue`'s) uses ring,
    // installed here once before any is built. It fails only if one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::Decode(args) => decode::run(&args),
        Command::Ue(args) => ue::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::AdminToken => admin::token::run(),
        Command::HashPassword => tern::mm7::accounts::hash_password(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tern: {err:#}");
            ExitCode::FAILURE
        }
    }
}
