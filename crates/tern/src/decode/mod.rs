//! `tern decode`: reads bytes (binary or hex), works out what they are (an MMS PDU, a WSP push,
//! SMS user data, or SMS TPDUs to reassemble), and prints a dissector-style tree or JSON.

pub mod detect;
pub mod json;
pub mod tree;

use std::io::Read;

use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// File to decode, or `-` for standard input.
    #[arg(default_value = "-")]
    input: String,
    /// Print JSON (one object per decoded message) instead of a tree.
    #[arg(long)]
    json: bool,
    /// The input is hex text; each non-empty line that is not a `#` comment is one unit
    /// (one SMS of a concatenated push, say).
    #[arg(long)]
    hex: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let raw = if args.input == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
        buf
    } else {
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input))?
    };
    let units = if args.hex { parse_hex(&raw)? } else { vec![raw] };
    if units.iter().all(Vec::is_empty) {
        bail!("{}: nothing to decode", args.input);
    }
    let decoded = detect::decode(&units).with_context(|| format!("cannot decode {}", args.input))?;
    for message in &decoded {
        if args.json {
            println!("{}", json::render(message));
        } else {
            print!("{}", tree::render(message));
        }
    }
    Ok(())
}

/// Hex text to bytes, one unit per line; whitespace and `#` comment lines are ignored.
pub fn parse_hex(raw: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let text = std::str::from_utf8(raw).context("hex input is not text")?;
    let mut units = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let digits: String = line.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
        let digits = digits.strip_prefix("0x").unwrap_or(&digits);
        units.push(hex::decode(digits).with_context(|| format!("line {}: not hex", n + 1))?);
    }
    Ok(units)
}
