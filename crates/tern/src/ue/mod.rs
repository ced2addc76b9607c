//! `tern ue`: a handset simulator speaking MM1 to one or more relays. `send` composes and
//! submits a message; `receive` takes WAP pushes (over UDP, or from files of pushes or SMS),
//! fetches and saves the messages they announce from the relay that sent each notification, and
//! answers that relay as the MMS specifications ask; `load` drives many handsets at once
//! (docs/UE.md).

pub mod client;
pub mod compose;
mod held;
pub mod inputs;
mod load;
mod names;
pub mod origin;
pub mod output;
pub mod policy;
pub mod receive;
mod save;
pub mod send;

use clap::Subcommand;
use tern_codec::mms::Version;

use crate::config::IdentityConfig;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compose an m-send.req (text, attachments, generated SMIL) and submit it to a relay.
    Send(Box<send::Args>),
    /// Receive notifications and reports; fetch, save and acknowledge messages.
    Receive(Box<receive::Args>),
    /// Drive many simulated handsets against a relay and report throughput and latencies.
    Load(Box<load::Args>),
}

/// Options of every command.
#[derive(Debug, Clone, clap::Args)]
struct Common {
    /// The header that carries the subscriber's number, as the operator's proxy adds it.
    #[arg(long, value_name = "NAME", default_value_t = default_msisdn_header())]
    msisdn_header: String,
    /// The MMS version of the PDUs sent.
    #[arg(long, value_enum, value_name = "VERSION", default_value_t = MmsVersion::V1_2)]
    mms_version: MmsVersion,
    /// Print one JSON object a step instead of text.
    #[arg(long)]
    json: bool,
}

/// The versions a handset of today sends; 1.2 is what most do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MmsVersion {
    #[value(name = "1.2")]
    V1_2,
    #[value(name = "1.3")]
    V1_3,
}

impl MmsVersion {
    fn version(self) -> Version {
        match self {
            MmsVersion::V1_2 => Version::V1_2,
            MmsVersion::V1_3 => Version::V1_3,
        }
    }
}

impl std::fmt::Display for MmsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.version().fmt(f)
    }
}

/// The relay's preferred identity header, so that a default relay believes the default handset.
pub fn default_msisdn_header() -> String {
    IdentityConfig::default().headers.into_iter().next().unwrap_or_else(|| "X-MSISDN".to_owned())
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match &args.command {
            Command::Send(args) => send::run(args).await,
            Command::Receive(args) => receive::run(args).await,
            Command::Load(args) => load::run(args.as_ref().clone()).await,
        }
    })
}
