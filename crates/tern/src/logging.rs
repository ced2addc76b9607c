//! The log of `tern serve` and `tern demo`: lines on stderr, filtered by `TERN_LOG`, in colour
//! only when stderr is a terminal (a file or a pipe gets plain text), or with
//! `TERN_LOG_FORMAT=json` one JSON object a line, for log collectors.

use std::env::VarError;
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Starts the log; `default_filter` applies when `TERN_LOG` is unset or does not parse.
pub fn init(default_filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("TERN_LOG").unwrap_or_else(|_| default_filter.into());
    let log = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let format = match std::env::var("TERN_LOG_FORMAT") {
        Ok(format) => format,
        Err(VarError::NotPresent) => String::new(),
        Err(VarError::NotUnicode(_)) => anyhow::bail!("TERN_LOG_FORMAT: expected text or json"),
    };
    match format.as_str() {
        "" | "text" => log.with_ansi(std::io::stderr().is_terminal()).init(),
        // The event's fields at the top level beside `message`, where collectors look for them.
        "json" => log.json().flatten_event(true).init(),
        other => anyhow::bail!("TERN_LOG_FORMAT={other:?}: expected text or json"),
    }
    Ok(())
}
