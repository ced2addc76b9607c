//! Where pushes come from: WDP datagrams on a UDP socket (as the relay's `udp` bearer sends
//! them), or a file (or standard input) holding a WSP push or SMS user data / TPDUs, in binary
//! or as hex lines. SMS segments are reassembled with the codec's reassembler, by way of the
//! same layer peeling `tern decode` does.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, bail};
use tern_codec::push::Push;
use tokio::net::UdpSocket;

use crate::decode::detect::{self, Decoded};

/// Largest input file read; a push is at most a few SMS, and a datagram at most 64 KiB.
const MAX_FILE: u64 = 1 << 20;

/// One thing received.
#[derive(Debug)]
pub enum Incoming {
    /// A push, with what it says it came from.
    Push { source: String, decoded: Box<Decoded> },
    /// Something that is not a push, and why.
    Garbage { source: String, error: String },
}

#[derive(Debug)]
pub enum Source {
    /// A socket, and the buffer datagrams are received into.
    Udp(UdpSocket, Box<[u8]>),
    Listed(VecDeque<Incoming>),
}

/// What a file holds.
#[derive(Debug, Clone, Copy)]
pub enum FileKind {
    Push,
    Sms,
}

impl Source {
    pub async fn listen(addr: SocketAddr) -> anyhow::Result<Source> {
        let socket = UdpSocket::bind(addr).await.with_context(|| format!("listening on udp {addr}"))?;
        Ok(Source::Udp(socket, datagram_buffer()))
    }

    /// Reads `file` (`-`: standard input) whole.
    pub fn file(file: &str, kind: FileKind) -> anyhow::Result<Source> {
        let mut raw = Vec::new();
        let read = if file == "-" {
            std::io::stdin().lock().take(MAX_FILE + 1).read_to_end(&mut raw)
        } else {
            std::fs::File::open(Path::new(file)).and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut raw))
        };
        read.with_context(|| format!("reading {file}"))?;
        if raw.len() as u64 > MAX_FILE {
            bail!("{file} is larger than {MAX_FILE} octets");
        }
        let name = if file == "-" { "standard input" } else { file };
        // Binary pushes and TPDUs hold control octets that hex text cannot, so text that reads
        // as hex is hex.
        let units = crate::decode::parse_hex(&raw).unwrap_or_else(|_| vec![raw]);
        let units: Vec<Vec<u8>> = units.into_iter().filter(|u| !u.is_empty()).collect();
        if units.is_empty() {
            bail!("{name}: nothing to read");
        }
        let items = match kind {
            FileKind::Push => units
                .iter()
                .enumerate()
                .map(|(n, unit)| {
                    let source = format!("{name}, push {}", n + 1);
                    match Push::decode(unit) {
                        Ok(push) => Incoming::Push { source, decoded: Box::new(detect::from_push(push, None)) },
                        Err(e) => Incoming::Garbage { source, error: format!("not a WSP push: {e}") },
                    }
                })
                .collect(),
            FileKind::Sms => detect::decode(&units)
                .with_context(|| format!("{name}: not SMS carrying a WAP push"))?
                .into_iter()
                .enumerate()
                .map(|(n, decoded)| Incoming::Push {
                    source: format!("{name}, SMS {}", n + 1),
                    decoded: Box::new(decoded),
                })
                .collect(),
        };
        Ok(Source::Listed(items))
    }

    /// Where a socket listens, for the user to point a relay at.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Source::Udp(socket, _) => socket.local_addr().ok(),
            Source::Listed(_) => None,
        }
    }

    /// The next thing received; `None` once a file is used up.
    pub async fn next(&mut self) -> std::io::Result<Option<Incoming>> {
        match self {
            Source::Listed(items) => Ok(items.pop_front()),
            Source::Udp(socket, buf) => {
                let (len, peer) = receive(socket, buf).await?;
                let source = format!("udp {peer} ({len} octets)");
                Ok(Some(match Push::decode(&buf[..len]) {
                    Ok(push) => Incoming::Push { source, decoded: Box::new(detect::from_push(push, None)) },
                    Err(e) => Incoming::Garbage { source, error: format!("not a WSP push: {e}") },
                }))
            }
        }
    }
}

/// A buffer for one datagram of any size UDP allows.
pub fn datagram_buffer() -> Box<[u8]> {
    vec![0u8; 65_536].into_boxed_slice()
}

/// The next datagram on `socket`, into `buf`: its length and sender.
pub async fn receive(socket: &UdpSocket, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    loop {
        match socket.recv_from(buf).await {
            // An ICMP error for a datagram sent earlier, not a fault of this socket.
            Err(e)
                if matches!(e.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset) => {}
            got => return got,
        }
    }
}
