//! The clients of the scanners the protection checks ask: clamd for viruses and spamd
//! (SpamAssassin) for spam. Each limits the scans it has in flight, bounds a whole scan by its
//! timeout and reads the scanner's answer with a size cap, so that no answer (late, endless or
//! garbled) can hang, exhaust or crash the relay: it becomes a [`ScanError`], which the caller
//! turns into the check's `on_error` behaviour.
//!
//! - `link.rs`: the connection to one scanner (TCP or unix socket), its permits and deadline,
//!   and the capped reading of its answer.
//! - `clamd.rs`: clamd's INSTREAM command and its answers.
//! - `spamd.rs`: spamd's SPAMC protocol, its answers, and the mail it is asked to score.

mod clamd;
#[cfg(test)]
mod fake;
mod link;
mod spamd;

pub use clamd::{Clamd, VirusVerdict};
pub use spamd::{SpamScore, Spamd, spam_mail};

/// Why a scanner gave no verdict.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScanError {
    /// The scanner could not be reached, or the connection dropped before its answer.
    #[error("scanner unavailable: {0}")]
    Unavailable(String),
    /// The whole scan (waiting for a permit included) took longer than the timeout.
    #[error("scanner timed out")]
    Timeout,
    /// The input is over the configured maximum; it was not sent.
    #[error("{size} octets to scan, over the maximum of {max}")]
    TooLarge { size: usize, max: usize },
    /// An answer that cannot be read, or the scanner's own error.
    #[error("scanner protocol error: {0}")]
    Protocol(String),
}

/// Most characters of a scanner's answer quoted in an error: enough to recognise it, not
/// enough for a hostile scanner to flood the logs.
const QUOTED: usize = 120;

/// A scanner's answer as it can be quoted in an error or a log line: the start of it, with
/// control characters escaped.
fn quoted(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    let mut out: String = text.chars().take(QUOTED).flat_map(char::escape_debug).collect();
    if text.chars().count() > QUOTED {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_answers_are_short_and_escaped() {
        assert_eq!(quoted(b"stream: OK\0"), "stream: OK\\0");
        let long = quoted(&[b'A'; 10_000]);
        assert_eq!(long.len(), QUOTED + 3);
        assert_eq!(quoted(&[0xff, b'\n']), "\u{fffd}\\n");
    }
}
