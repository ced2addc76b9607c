//! The SMTP front: one listener for the mail of MM4 peers and of MM3 (e-mail). It admits a
//! connection by its address (a peer's `admit` ranges, `mm3.admit`) or by AUTH as a peer,
//! takes only recipients of this relay (no relaying), and hands each mail to the interface it
//! belongs to: a mail with an `X-Mms-Message-Type` header is MM4 and must come from a peer;
//! any other is MM3. The reply is sent only once the interface has stored what it took.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::config::{Config, Mm4Peer};
use crate::core::address::{self, Route};
use crate::core::envelope::Destination;
use crate::core::secret::TokenHash;
use crate::intake::Intake;
use crate::smtp::{Handler, Reply, Session};
use crate::store::Store;
use crate::{mm3, mm4};

#[derive(Debug, Clone)]
pub struct Mailroom {
    pub intake: Intake,
    pub store: Store,
    pub cfg: Arc<Config>,
}

impl Mailroom {
    fn mm4_peers(&self) -> impl Iterator<Item = &Mm4Peer> {
        self.cfg.mm4.peers.iter().filter(|_| self.cfg.mm4.enabled)
    }

    /// The peers whose `admit` ranges hold `ip`.
    fn admitting(&self, ip: IpAddr) -> impl Iterator<Item = &Mm4Peer> {
        self.mm4_peers().filter(move |p| p.admit.iter().any(|n| n.contains(&ip)))
    }

    /// Whether `ip` is within a peer's or MM3's admitted ranges.
    fn admitted(&self, ip: IpAddr) -> bool {
        self.admitting(ip).next().is_some() || self.mm3_admits(ip)
    }

    fn mm3_admits(&self, ip: IpAddr) -> bool {
        self.cfg.mm3.enabled && self.cfg.mm3.admit.iter().any(|net| net.contains(&ip))
    }

    /// The peer a session speaks for: the one it authenticated as, else the one whose domain
    /// the mail comes from among those that admit its address.
    fn peer(&self, session: &Session, from: &str) -> Option<&Mm4Peer> {
        if let Some(name) = &session.identity {
            return self.mm4_peers().find(|p| &p.name == name);
        }
        let ip = session.peer.ip();
        let admitted: Vec<&Mm4Peer> = self.admitting(ip).collect();
        let domain = from.rsplit_once('@').map(|(_, d)| d.trim_end_matches('>'));
        match domain.and_then(|d| admitted.iter().find(|p| p.domain.eq_ignore_ascii_case(d))) {
            Some(p) => Some(p),
            // One peer behind this address range: it is that one, whatever its sender says.
            None if admitted.len() == 1 => admitted.first().copied(),
            None => None,
        }
    }

    /// Whether `to` is an address of this relay: a subscriber (`+number/TYPE=PLMN@domain`,
    /// `+number@domain`, `number@domain` on the MM4 or MM3 domain), a VASP's short code, or its
    /// own system address.
    async fn ours(&self, to: &str) -> bool {
        let to = to.trim().trim_start_matches('<').trim_end_matches('>');
        let Some((_, domain)) = to.rsplit_once('@') else { return false };
        let own = [self.cfg.mm4.domain.as_str(), self.cfg.mm3_domain()];
        if !own.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
            return false;
        }
        if to.eq_ignore_ascii_case(&self.cfg.mm4.originator_system()) {
            return true;
        }
        let local = mm4::wire::from_mm4_address(to);
        let local = if local.contains('@') { mm3::inbound::subscriber(&local) } else { local };
        match address::normalize(&local, &self.cfg.subscribers) {
            // A content provider's short code is ours too: peers report on its messages to it,
            // and their subscribers write to it.
            Ok(n) if n.is_phone() || matches!(n.route, Route::Local | Route::ShortCode) => {
                matches!(self.intake.destination(&n).await, Destination::Local | Destination::Mm7 { .. })
            }
            _ => false,
        }
    }
}

/// Whether the mail's header block names an MM4 message type.
fn is_mm4(mail: &[u8]) -> bool {
    let end = mail.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(mail.len());
    mail[..end]
        .split(|&b| b == b'\n')
        .any(|line| line.len() >= 19 && line[..19].eq_ignore_ascii_case(b"x-mms-message-type:"))
}

impl Handler for Mailroom {
    fn connect(&self, peer: SocketAddr) -> Result<(), Reply> {
        let ip = peer.ip();
        let by_range = self.admitted(ip);
        // A peer that may authenticate can come from anywhere; it is admitted once it has.
        let by_auth = self.mm4_peers().any(|p| p.auth.is_some());
        if by_range || by_auth {
            Ok(())
        } else {
            tracing::warn!(%peer, "SMTP connection from outside every admitted range refused");
            Err(Reply::not_admitted())
        }
    }

    async fn authenticate(&self, _session: &Session, user: &str, password: &str) -> Result<String, Reply> {
        let matches = |p: &&Mm4Peer| {
            p.auth.as_ref().is_some_and(|a| {
                a.username == user
                    && TokenHash::from_hex(&a.password_sha256).is_ok_and(|hash| hash.matches(password.as_bytes()))
            })
        };
        match self.mm4_peers().find(matches) {
            Some(p) => Ok(p.name.clone()),
            None => Err(Reply::bad_credentials()),
        }
    }

    async fn sender(&self, session: &Session, from: &str) -> Result<(), Reply> {
        if session.identity.is_some() || self.admitted(session.peer.ip()) {
            Ok(())
        } else {
            tracing::warn!(peer = %session.peer, %from, "mail from an address that is not admitted, without AUTH");
            Err(Reply::new(530, [5, 7, 0], "authentication required"))
        }
    }

    async fn recipient(&self, _session: &Session, _from: &str, to: &str) -> Result<(), Reply> {
        if self.ours(to).await {
            Ok(())
        } else {
            Err(Reply::new(550, [5, 1, 1], "no such recipient here; this relay does not relay"))
        }
    }

    async fn data(&self, session: &Session, from: &str, to: &[String], message: Vec<u8>) -> Reply {
        if is_mm4(&message) {
            let Some(peer) = self.peer(session, from).map(|p| p.name.clone()) else {
                tracing::warn!(peer = %session.peer, %from, "MM4 mail from no admitted peer refused");
                return Reply::new(554, [5, 7, 1], "not admitted as an MM4 peer");
            };
            return mm4::inbound::take(&self.intake, &self.store, &self.cfg, &peer, session.peer.ip(), to, message)
                .await;
        }
        if !self.mm3_admits(session.peer.ip()) {
            return Reply::new(554, [5, 7, 1], "e-mail is not taken from this address");
        }
        mm3::inbound::take(&self.intake, &self.cfg, session.peer.ip(), to, message).await
    }
}
