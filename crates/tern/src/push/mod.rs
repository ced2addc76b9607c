//! Push bearers: how a WSP push (a notification, or a report) reaches a handset. The core hands
//! a push for an MSISDN to the configured bearer and records what happened; with no bearer the
//! push waits in the queue and says why, so nothing is ever reported as sent that was not.

mod pap;
pub mod smpp;

use std::net::SocketAddr;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub use smpp::Receipt;

use crate::config::{self, PushConfig};

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("no bearer configured")]
    NoBearer,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Smpp(#[from] smpp::SmppError),
    #[error("push proxy gateway: {0}")]
    Gateway(String),
}

/// What the delivery worker should do after a failed push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Nothing could carry it now (no bearer, no bound link): try again later without using up
    /// an attempt, so an outage does not abandon notifications.
    Later,
    /// It was tried and failed in a way that may clear: back off, count the attempt.
    Backoff,
    /// It was refused for good (a bad address, say): stop.
    Never,
}

impl PushError {
    pub fn retry(&self) -> Retry {
        match self {
            PushError::NoBearer | PushError::Smpp(smpp::SmppError::NotBound) => Retry::Later,
            PushError::Smpp(smpp::SmppError::Refused { status, .. }) if !smpp::is_transient(*status) => Retry::Never,
            PushError::Smpp(smpp::SmppError::Destination(_) | smpp::SmppError::Segment(_)) => Retry::Never,
            _ => Retry::Backoff,
        }
    }
}

/// The bearers in use and which number ranges each serves: the longest matching
/// `[[push.routes]]` prefix picks one, `push.bearer` serves the rest. Each kind is started once.
#[derive(Debug)]
pub struct Bearers {
    bearers: Vec<(config::Bearer, Bearer)>,
    routes: Vec<(String, config::Bearer)>,
    default: config::Bearer,
}

impl Bearers {
    /// Starts the bearers in use; SMSC delivery receipts go to `receipts`.
    pub async fn from_config(cfg: &PushConfig, receipts: mpsc::UnboundedSender<Receipt>) -> std::io::Result<Bearers> {
        let mut routes: Vec<(String, config::Bearer)> =
            cfg.routes.iter().map(|r| (r.prefix.clone(), r.bearer)).collect();
        routes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        let mut bearers: Vec<(config::Bearer, Bearer)> = Vec::new();
        for kind in std::iter::once(cfg.bearer).chain(routes.iter().map(|(_, kind)| *kind)) {
            if !bearers.iter().any(|(k, _)| *k == kind) {
                bearers.push((kind, Bearer::new(kind, cfg, receipts.clone()).await?));
            }
        }
        Ok(Bearers { bearers, routes, default: cfg.bearer })
    }

    /// Sends one WSP push to `msisdn` by the bearer its number range uses; returns the ids an
    /// SMSC gave its parts (empty for bearers without receipts).
    pub async fn send(&self, msisdn: &str, push: &[u8]) -> Result<Vec<String>, PushError> {
        let kind =
            self.routes.iter().find(|(prefix, _)| msisdn.starts_with(prefix.as_str())).map_or(self.default, |r| r.1);
        match self.bearers.iter().find(|(k, _)| *k == kind) {
            Some((_, bearer)) => bearer.send(msisdn, push).await,
            None => Err(PushError::NoBearer),
        }
    }
}

#[derive(Debug)]
pub enum Bearer {
    None,
    /// WDP over UDP: the WSP push as one datagram to an IP-connected handset or simulator.
    Udp {
        socket: UdpSocket,
        target: SocketAddr,
    },
    /// Binary SMS (WDP over SMS) through SMSCs, as an SMPP 3.4 ESME.
    Smpp(smpp::Smpp),
    /// Through a Push Proxy Gateway, by PAP.
    Pap(pap::Pap),
}

impl Bearer {
    async fn new(
        kind: config::Bearer,
        cfg: &PushConfig,
        receipts: mpsc::UnboundedSender<Receipt>,
    ) -> std::io::Result<Bearer> {
        Ok(match kind {
            config::Bearer::None => Bearer::None,
            config::Bearer::Udp => {
                let local: SocketAddr =
                    if cfg.udp_target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
                Bearer::Udp { socket: UdpSocket::bind(local).await?, target: cfg.udp_target }
            }
            config::Bearer::Smpp => Bearer::Smpp(smpp::Smpp::start(&cfg.smpp, receipts)),
            config::Bearer::Pap => Bearer::Pap(pap::Pap::new(&cfg.pap).map_err(std::io::Error::other)?),
        })
    }

    /// Sends one WSP push (already framed) to `msisdn`.
    pub async fn send(&self, msisdn: &str, push: &[u8]) -> Result<Vec<String>, PushError> {
        match self {
            Bearer::None => Err(PushError::NoBearer),
            Bearer::Udp { socket, target } => {
                socket.send_to(push, target).await?;
                tracing::debug!(%msisdn, %target, len = push.len(), "push sent over UDP");
                Ok(Vec::new())
            }
            Bearer::Smpp(smpp) => Ok(smpp.send(msisdn, push).await?),
            Bearer::Pap(pap) => pap.send(msisdn, push).await.map(|()| Vec::new()),
        }
    }
}
