//! Push bearers: how an MMS PDU for a handset (a notification, or a report) reaches it. The
//! delivery worker (`crate::delivery`) hands the PDU for an MSISDN to the configured bearer and
//! records what happened; each bearer frames the PDU as its transport needs (a connectionless WSP
//! push over UDP or SMS; the bare PDU to a push gateway, which frames it) and says which of its
//! errors are worth a retry. With no bearer the push waits in the queue and says why, so nothing
//! is ever reported as sent that was not.

mod pap;
pub mod smpp;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};

use tern_codec::push::Push;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub use smpp::{Accepted, Receipt};

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
    /// No connection to the push proxy gateway could be made: it never saw the push.
    #[error("push proxy gateway unreachable: {0}")]
    Unreachable(String),
    /// The push proxy gateway refused the push as the client's error (PAP 2xxx: a bad address,
    /// say): sending it again would be refused again.
    #[error("push proxy gateway refused it: {0}")]
    GatewayRefused(String),
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
            PushError::NoBearer | PushError::Smpp(smpp::SmppError::NotBound) | PushError::Unreachable(_) => {
                Retry::Later
            }
            PushError::Smpp(e) if e.status().is_some_and(|status| !smpp::is_transient(status)) => Retry::Never,
            PushError::Smpp(smpp::SmppError::Destination(_) | smpp::SmppError::Segment(_)) => Retry::Never,
            PushError::GatewayRefused(_) => Retry::Never,
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

    /// Stops the bearers that hold connections (SMPP links unbind), waiting until they have.
    pub async fn stop(&self) {
        for (_, bearer) in &self.bearers {
            if let Bearer::Smpp(smpp) = bearer {
                smpp.stop().await;
            }
        }
    }

    /// The SMPP links in use and whether each is bound; none when no route uses SMPP.
    pub fn link_states(&self) -> smpp::LinkStates {
        self.bearers
            .iter()
            .find_map(|(_, bearer)| match bearer {
                Bearer::Smpp(smpp) => Some(smpp.link_states()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Whether no number has a bearer: no push can go out until the relay is configured with
    /// one (and started again).
    pub fn carry_nothing(&self) -> bool {
        self.bearers.iter().all(|(_, bearer)| matches!(bearer, Bearer::None))
    }

    /// The SMPP links, when SMPP is the only bearer in use: while none of them is bound, no push
    /// can go out (each would come back "not bound"). `None` when another bearer is in use.
    pub fn smpp_only(&self) -> Option<smpp::LinkStates> {
        let only_smpp = self.bearers.iter().all(|(_, bearer)| matches!(bearer, Bearer::None | Bearer::Smpp(_)));
        let links = self.link_states();
        (only_smpp && links.names().next().is_some()).then_some(links)
    }

    /// Whether a connection to the push proxy gateway can be made now, when the PAP bearer is in
    /// use.
    pub async fn gateway_answers(&self) -> bool {
        for (_, bearer) in &self.bearers {
            if let Bearer::Pap(pap) = bearer {
                return pap.answers().await;
            }
        }
        false
    }

    /// Sends one MMS PDU to `msisdn` by the bearer its number range uses; returns the ids the
    /// SMSCs gave its parts (none for bearers without receipts).
    pub async fn send(&self, msisdn: &str, pdu: &[u8]) -> Result<Vec<Accepted>, PushError> {
        let kind =
            self.routes.iter().find(|(prefix, _)| msisdn.starts_with(prefix.as_str())).map_or(self.default, |r| r.1);
        match self.bearers.iter().find(|(k, _)| *k == kind) {
            Some((_, bearer)) => bearer.send(msisdn, pdu).await,
            None => Err(PushError::NoBearer),
        }
    }
}

#[derive(Debug)]
pub enum Bearer {
    None,
    /// WDP over UDP: the WSP push as one datagram to an IP-connected handset or simulator.
    Udp(Udp),
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
            config::Bearer::Udp => Bearer::Udp(Udp::bind(cfg).await?),
            config::Bearer::Smpp => Bearer::Smpp(smpp::Smpp::start(&cfg.smpp, receipts)),
            config::Bearer::Pap => Bearer::Pap(pap::Pap::new(&cfg.pap).map_err(std::io::Error::other)?),
        })
    }

    /// Sends one MMS PDU to `msisdn`, framed as this bearer carries it.
    pub async fn send(&self, msisdn: &str, pdu: &[u8]) -> Result<Vec<Accepted>, PushError> {
        match self {
            Bearer::None => Err(PushError::NoBearer),
            Bearer::Udp(udp) => {
                udp.send(msisdn, pdu).await?;
                Ok(Vec::new())
            }
            Bearer::Smpp(smpp) => Ok(smpp.send(msisdn, pdu).await?),
            // Boxed: an HTTP request's state is large, and every push's future would carry it.
            Bearer::Pap(pap) => Box::pin(pap.send(msisdn, pdu)).await.map(|()| Vec::new()),
        }
    }
}

/// Frames MMS PDUs as connectionless WSP pushes to the MMS user agent (WAP-230, as WDP carries
/// them over UDP or SMS), numbering them with the push's one-octet Transaction-ID.
#[derive(Debug, Default)]
pub struct WspPush(AtomicU8);

impl WspPush {
    pub fn frame(&self, pdu: &[u8]) -> Vec<u8> {
        Push::mms(self.0.fetch_add(1, Ordering::Relaxed), pdu).encode()
    }
}

/// The `udp` bearer: `push.udp_target`, or the subscriber's own `push.udp_clients` entry.
#[derive(Debug)]
pub struct Udp {
    /// One socket per address family in use, since a socket of one family cannot reach the other.
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    target: SocketAddr,
    clients: BTreeMap<String, SocketAddr>,
    wsp: WspPush,
}

impl Udp {
    async fn bind(cfg: &PushConfig) -> std::io::Result<Udp> {
        let targets = || std::iter::once(&cfg.udp_target).chain(cfg.udp_clients.values());
        let v4 = if targets().any(SocketAddr::is_ipv4) {
            Some(UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0))).await?)
        } else {
            None
        };
        let v6 = if targets().any(SocketAddr::is_ipv6) {
            Some(UdpSocket::bind(SocketAddr::from(([0u16; 8], 0))).await?)
        } else {
            None
        };
        Ok(Udp { v4, v6, target: cfg.udp_target, clients: cfg.udp_clients.clone(), wsp: WspPush::default() })
    }

    /// Sends `pdu` as a WSP push in one datagram.
    async fn send(&self, msisdn: &str, pdu: &[u8]) -> std::io::Result<()> {
        let push = self.wsp.frame(pdu);
        let push = push.as_slice();
        let target = self.clients.get(msisdn).copied().unwrap_or(self.target);
        let socket = if target.is_ipv4() { &self.v4 } else { &self.v6 };
        // Sockets are bound for every family the configuration names; this guards the invariant.
        let Some(socket) = socket else {
            return Err(std::io::Error::other(format!("no socket for {target}")));
        };
        socket.send_to(push, target).await?;
        tracing::debug!(%msisdn, %target, len = push.len(), "push sent over UDP");
        Ok(())
    }
}
