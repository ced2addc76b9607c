//! The clamd client: a buffer sent with the INSTREAM command (`zINSTREAM\0`, then chunks each
//! behind its 4-octet big-endian length, then a zero length), over TCP or clamd's unix socket,
//! and its one-line answer: `stream: OK`, `stream: <signature> FOUND`, or `... ERROR`.
//!
//! Hand-written rather than the `clamav-client` crate: that crate reads clamd's answer with
//! `read_to_end`, so a scanner (or anything listening on its port) that keeps sending would
//! make us allocate without bound until the timeout, and it judges an answer by whether it
//! contains `OK` and not `FOUND`, which a garbled answer can satisfy. The protocol itself is
//! a few lines.

use std::io;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use super::link::{Link, Stream};
use super::{ScanError, quoted};
use crate::core::protection::ScannerConfig;

/// Octets sent in one INSTREAM chunk; clamd's default StreamMaxLength is counted over the sum,
/// not per chunk.
const CHUNK: usize = 64 * 1024;

/// The longest answer read: a signature name is well under a hundred octets, so anything near
/// this is not clamd's.
const ANSWER_CAP: usize = 4096;

/// The clamd client, shared by all requests (cloning it shares its permits).
#[derive(Debug, Clone)]
pub struct Clamd {
    link: Arc<Link>,
}

/// What clamd found in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VirusVerdict {
    Clean,
    /// With the name of the signature that matched.
    Infected(String),
}

impl Clamd {
    pub fn new(cfg: &ScannerConfig) -> Clamd {
        Clamd { link: Arc::new(Link::new("clamd", cfg)) }
    }

    /// Scans `data` as one stream.
    pub async fn scan(&self, data: &[u8]) -> Result<VirusVerdict, ScanError> {
        let link = &self.link;
        link.scan(data.len(), |mut conn| async move {
            let sent = send(&mut conn, data).await;
            // With the `z` prefix clamd ends its answer with a NUL.
            let answer = link.answer(&mut conn, sent, ANSWER_CAP, |a| a.contains(&0)).await?;
            parse_answer(&answer)
        })
        .await
    }
}

async fn send(conn: &mut Stream, data: &[u8]) -> io::Result<()> {
    conn.write_all(b"zINSTREAM\0").await?;
    for chunk in data.chunks(CHUNK) {
        // A chunk is at most CHUNK octets, far below u32::MAX.
        conn.write_all(&(chunk.len() as u32).to_be_bytes()).await?;
        conn.write_all(chunk).await?;
    }
    conn.write_all(&[0; 4]).await?;
    conn.flush().await
}

/// Reads clamd's answer to INSTREAM, up to its ending NUL.
fn parse_answer(answer: &[u8]) -> Result<VirusVerdict, ScanError> {
    let unreadable = || ScanError::Protocol(format!("clamd answered {}", quoted(answer)));
    let line = answer.split(|&b| b == 0).next().unwrap_or_default();
    let line = std::str::from_utf8(line).map_err(|_| unreadable())?.trim_end();
    if line.ends_with("ERROR") {
        return Err(ScanError::Protocol(format!("clamd: {}", quoted(line.as_bytes()))));
    }
    let result = line.strip_prefix("stream: ").ok_or_else(unreadable)?;
    if result == "OK" {
        return Ok(VirusVerdict::Clean);
    }
    match result.strip_suffix(" FOUND") {
        Some(name) if !name.is_empty() && !name.chars().any(char::is_control) => {
            Ok(VirusVerdict::Infected(name.to_owned()))
        }
        _ => Err(unreadable()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::{Duration, Instant};

    use super::super::fake::{Behaviour, Fake, no_listener};
    use super::*;

    #[test]
    fn answers_are_read() {
        assert_eq!(parse_answer(b"stream: OK\0"), Ok(VirusVerdict::Clean));
        assert_eq!(parse_answer(b"stream: OK"), Ok(VirusVerdict::Clean), "closed without the NUL");
        assert_eq!(
            parse_answer(b"stream: Eicar-Signature FOUND\0"),
            Ok(VirusVerdict::Infected("Eicar-Signature".into()))
        );
        assert_eq!(
            parse_answer(b"stream: Win.Test.EICAR_HDB-1 FOUND\0trailing"),
            Ok(VirusVerdict::Infected("Win.Test.EICAR_HDB-1".into()))
        );
        let error = parse_answer(b"INSTREAM size limit exceeded. ERROR\0").unwrap_err();
        assert!(matches!(&error, ScanError::Protocol(m) if m.contains("size limit exceeded")), "{error:?}");
        assert!(matches!(parse_answer(b"stream: Can't allocate memory ERROR\0"), Err(ScanError::Protocol(_))));
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        for answer in [
            &b"PONG\0"[..],
            b"stream: \0",
            b"stream:  FOUND\0",
            b"stream: OKAY\0",
            b"stream: a\tb FOUND\0",
            b"\xff\xfe stream: OK\0",
            b"\0stream: OK",
            b"",
        ] {
            assert!(matches!(parse_answer(answer), Err(ScanError::Protocol(_))), "{answer:?}");
        }
        let ScanError::Protocol(message) = parse_answer(b"stream: \x01 FOUND\0").unwrap_err() else {
            panic!("a protocol error");
        };
        assert!(message.contains("\\u{1}"), "quoted with escapes: {message}");
    }

    fn config(address: &str, timeout_ms: u64) -> ScannerConfig {
        ScannerConfig { address: address.into(), timeout_ms, max_concurrent: 4, max_size: 1024 }
    }

    #[tokio::test]
    async fn a_silent_scanner_times_out_within_the_timeout() {
        let fake = Fake::start(Behaviour::Silent).await;
        let clamd = Clamd::new(&config(&fake.address, 300));
        let start = Instant::now();
        assert_eq!(clamd.scan(b"data").await, Err(ScanError::Timeout));
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(2), "{took:?}");
    }

    #[tokio::test]
    async fn a_scanner_that_closes_at_once_is_an_error() {
        let fake = Fake::start(Behaviour::Close).await;
        let clamd = Clamd::new(&config(&fake.address, 2000));
        let result = clamd.scan(b"data").await;
        assert!(matches!(result, Err(ScanError::Unavailable(_) | ScanError::Protocol(_))), "{result:?}");
    }

    #[tokio::test]
    async fn an_endless_answer_is_cut_off() {
        let fake = Fake::start(Behaviour::Endless).await;
        let clamd = Clamd::new(&config(&fake.address, 5000));
        let start = Instant::now();
        let result = clamd.scan(b"data").await;
        assert!(matches!(&result, Err(ScanError::Protocol(m)) if m.contains("more than 4096")), "{result:?}");
        assert!(start.elapsed() < Duration::from_secs(2), "cut off at the cap, not at the timeout");
    }

    #[tokio::test]
    async fn no_listener_is_unavailable() {
        let address = no_listener();
        let clamd = Clamd::new(&config(&address, 2000));
        assert!(matches!(clamd.scan(b"data").await, Err(ScanError::Unavailable(_))));
        let clamd = Clamd::new(&config("/nonexistent/clamd.sock", 2000));
        assert!(matches!(clamd.scan(b"data").await, Err(ScanError::Unavailable(_))));
    }

    #[tokio::test]
    async fn input_over_the_maximum_is_not_sent() {
        let fake = Fake::start(Behaviour::Silent).await;
        let clamd = Clamd::new(&config(&fake.address, 2000));
        assert_eq!(clamd.scan(&[0; 1025]).await, Err(ScanError::TooLarge { size: 1025, max: 1024 }));
        assert_eq!(fake.connections(), 0, "not even a connection");
    }

    #[tokio::test]
    async fn scans_over_the_limit_wait_for_a_permit_within_the_timeout() {
        let fake = Fake::start(Behaviour::Silent).await;
        let clamd = Clamd::new(&ScannerConfig { max_concurrent: 1, ..config(&fake.address, 1000) });
        let scan = |data: &'static [u8]| {
            let clamd = clamd.clone();
            tokio::spawn(async move { clamd.scan(data).await })
        };
        let held = scan(b"first");
        tokio::time::sleep(Duration::from_millis(150)).await;
        let waiting = scan(b"second");
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(fake.connections(), 1, "the second scan waits for the first one's permit");
        assert_eq!(held.await.unwrap(), Err(ScanError::Timeout));
        assert_eq!(waiting.await.unwrap(), Err(ScanError::Timeout), "its wait counts in its timeout");
        assert_eq!(fake.connections(), 2, "the first scan gave its permit back when it timed out");
    }
}
