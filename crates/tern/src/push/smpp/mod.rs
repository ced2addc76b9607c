//! The SMPP 3.4 bearer: Tern as an ESME bound to one or more SMSCs, sending each WSP push as
//! binary short messages (WDP over SMS to ports 2948/9200), in the configured [`SmppMode`]: UDH
//! segments, one message_payload, or segments with port and sar_* TLVs.
//!
//! Each configured link runs its own task ([`link`]) that keeps a bind up. A push is split into
//! its submit_sm parts once, with one concatenation reference for all of them, and submitted over
//! a bound link, the links taking turns in proportion to their weights; if that link goes down
//! mid-push the parts it had not acknowledged go over the next bound one with the same
//! reference. The push counts as sent only when every part got a submit_sm_resp with status 0.
//!
//! [`SmppMode`]: crate::config::SmppMode

mod error;
mod link;
mod pdu;
mod receipt;
mod session;

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::join_all;
use tern_codec::sms::segment::ConcatRef;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use error::{SmppError, is_transient};
use link::Link;
pub use receipt::Receipt;
use session::Session;

use crate::config::SmppConfig;

/// The message id an SMSC gave one submitted part, and the link it came over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub link: String,
    pub id: String,
}

/// Whether each link is bound, by name, readable from any thread: the admin endpoint's
/// `/ready` asks it while the links run on the delivery thread.
#[derive(Debug, Clone, Default)]
pub struct LinkStates(Vec<(String, watch::Receiver<Option<Session>>)>);

impl LinkStates {
    /// Every link's name, in configured order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(name, _)| name.as_str())
    }

    /// The names of the links not bound now.
    pub fn unbound(&self) -> Vec<&str> {
        self.0.iter().filter(|(_, session)| unbound(session)).map(|(name, _)| name.as_str()).collect()
    }

    /// Whether no link is bound now.
    pub fn none_bound(&self) -> bool {
        self.0.iter().all(|(_, session)| unbound(session))
    }

    /// Resolves when a link's session changes (it binds, or its session ends); never for a
    /// link whose task has ended, nor when there are no links.
    pub async fn changed(&mut self) {
        if self.0.is_empty() {
            return std::future::pending().await;
        }
        let waits = self.0.iter_mut().map(|(_, session)| {
            Box::pin(async move {
                if session.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            })
        });
        futures_util::future::select_all(waits).await;
    }
}

/// Whether a link's session is not bound: none yet, or one that has ended.
fn unbound(session: &watch::Receiver<Option<Session>>) -> bool {
    session.borrow().as_ref().is_none_or(Session::is_closed)
}

#[derive(Debug)]
pub struct Smpp {
    cfg: SmppConfig,
    links: Vec<Arc<Link>>,
    /// Indexes into `links`, each link as many times as its weight, spread out.
    schedule: Vec<usize>,
    /// Where in `schedule` the next push starts looking for a bound link.
    turn: AtomicUsize,
    /// The next concatenation reference.
    reference: AtomicU16,
    /// Frames each PDU as the WSP push the short messages carry.
    wsp: super::WspPush,
    /// Tells the link tasks to unbind and end: by [`Smpp::stop`], or by being dropped with the
    /// bearer.
    stop: watch::Sender<()>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Smpp {
    /// Starts one task per link; they bind in the background, so this never waits for an SMSC.
    /// Delivery receipts the SMSCs send back go to `receipts`.
    pub fn start(cfg: &SmppConfig, receipts: mpsc::UnboundedSender<Receipt>) -> Smpp {
        let (stop, stopped) = watch::channel(());
        let links: Vec<Arc<Link>> = cfg
            .links
            .iter()
            .zip(names(&cfg.links))
            .map(|(l, n)| Arc::new(Link::new(n, l.clone(), receipts.clone())))
            .collect();
        let tasks = links
            .iter()
            .map(|link| {
                let (link, stopped) = (link.clone(), stopped.clone());
                tokio::spawn(async move { link.run(stopped).await })
            })
            .collect();
        // A random start keeps references apart across restarts, so segments of a push sent just
        // before a restart are not joined with one sent just after.
        let mut seed = [0u8; 2];
        let seed = getrandom::fill(&mut seed).map_or(0, |()| u16::from_be_bytes(seed));
        Smpp {
            cfg: cfg.clone(),
            schedule: schedule(&cfg.links.iter().map(|l| l.weight).collect::<Vec<_>>()),
            links,
            turn: AtomicUsize::new(0),
            reference: AtomicU16::new(seed),
            wsp: super::WspPush::default(),
            stop,
            tasks: Mutex::new(tasks),
        }
    }

    pub fn link_states(&self) -> LinkStates {
        LinkStates(self.links.iter().map(|l| (l.name.clone(), l.watch())).collect())
    }

    /// Unbinds every link and waits for their tasks to end (each waits a bounded time for its
    /// unbind_resp).
    pub async fn stop(&self) {
        self.stop.send_replace(());
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Sends the MMS PDU `mms` to `msisdn` (E.164, '+' optional) as a WSP push in binary SMS;
    /// returns the SMSC's message ids of its parts, which delivery receipts refer to, when
    /// receipts are asked for. With no link bound it fails at once ([`SmppError::NotBound`]):
    /// the delivery worker sets the push aside until a link binds, rather than hold its place
    /// among the pushes in flight, where other bearers' pushes would wait behind it.
    pub async fn send(&self, msisdn: &str, mms: &[u8]) -> Result<Vec<Accepted>, SmppError> {
        let destination = pdu::destination(msisdn)?;
        let push = self.wsp.frame(mms);
        let parts = pdu::parts(self.cfg.mode, &push, self.next_reference())?;
        // Parts an SMSC acknowledged are never sent again: after a link drops, only the rest
        // goes over the next one.
        let mut accepted: Vec<Option<Accepted>> = vec![None; parts.len()];
        let mut failure = SmppError::NotBound;
        for link in self.order() {
            let link = &self.links[link];
            let Some(client) = link.bound() else { continue };
            let waiting: Vec<usize> = (0..parts.len()).filter(|&i| accepted[i].is_none()).collect();
            let submits = waiting
                .iter()
                .map(|&i| link.submit(&client, pdu::submit_sm(&self.cfg, link.cfg(), destination.clone(), &parts[i])));
            let mut refused = None;
            for (&i, result) in waiting.iter().zip(join_all(submits).await) {
                match result {
                    Ok(id) => accepted[i] = Some(Accepted { link: link.name.clone(), id }),
                    // Only a link that went down is worth another link: a refusal or a timeout
                    // would most likely repeat, or the message may already be on its way.
                    Err(e @ SmppError::Link { .. }) => failure = e,
                    Err(e) => refused = Some(e),
                }
            }
            if let Some(e) = refused {
                return Err(e);
            }
            if accepted.iter().all(Option::is_some) {
                tracing::debug!(%msisdn, link = %link.name, parts = parts.len(), ids = ?accepted, "push submitted over SMPP");
                // The ids only match receipts to pushes: without receipts there is nothing to
                // keep them for, and storing them would cost as much as the rest of the record.
                if !self.cfg.registered_delivery {
                    return Ok(Vec::new());
                }
                return Ok(accepted.into_iter().flatten().collect());
            }
            tracing::warn!(%msisdn, error = %failure, "trying the next SMPP link for the parts not acknowledged");
        }
        Err(failure)
    }

    /// Every link once, in the order this push tries them: from the next turn of the schedule
    /// on, so a link down or failing hands its turns to the links after it.
    fn order(&self) -> Vec<usize> {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let mut order = Vec::with_capacity(self.links.len());
        for i in 0..self.schedule.len() {
            let link = self.schedule[turn.wrapping_add(i) % self.schedule.len()];
            if !order.contains(&link) {
                order.push(link);
            }
        }
        order
    }

    fn next_reference(&self) -> ConcatRef {
        let reference = self.reference.fetch_add(1, Ordering::Relaxed);
        if self.cfg.concat_reference_16bit {
            ConcatRef::Sixteen(reference)
        } else {
            ConcatRef::Eight(reference.to_be_bytes()[1])
        }
    }
}

/// Each link's name: `host:port`, with `#2`, `#3`... after the second and later links to the same
/// SMSC, so that their metrics and receipts stay apart. Names follow the configured order.
fn names(links: &[crate::config::SmppLink]) -> Vec<String> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    links
        .iter()
        .map(|l| {
            let base = format!("{}:{}", l.host, l.port);
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { base } else { format!("{base}#{n}") }
        })
        .collect()
}

/// Smooth weighted round robin laid out once: each link index as many times as its weight, the
/// heavier links' turns spread between the lighter ones' rather than bunched (3:1 gives a a b a).
fn schedule(weights: &[u32]) -> Vec<usize> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let mut current = vec![0i128; weights.len()];
    let mut schedule = Vec::new();
    for _ in 0..total {
        for (c, &w) in current.iter_mut().zip(weights) {
            *c += i128::from(w);
        }
        // Ties go to the first link, so equal weights take plain turns in configuration order.
        let Some(next) = (0..current.len()).rev().max_by_key(|&i| current[i]) else { break };
        current[next] -= i128::from(total);
        schedule.push(next);
    }
    schedule
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_to_the_same_smsc_get_names_of_their_own() {
        let link = |host: &str, port| crate::config::SmppLink { host: host.into(), port, ..Default::default() };
        let links = [link("a", 1), link("a", 1), link("b", 1), link("a", 1)];
        assert_eq!(names(&links), ["a:1", "a:1#2", "b:1", "a:1#3"]);
    }

    #[test]
    fn the_schedule_gives_each_link_its_weight_spread_out() {
        assert_eq!(schedule(&[1, 1]), [0, 1]);
        assert_eq!(schedule(&[3, 1]), [0, 0, 1, 0]);
        assert_eq!(schedule(&[1, 3]), [1, 0, 1, 1]);
        let spread = schedule(&[2, 5, 1]);
        assert_eq!(spread.len(), 8);
        for (link, weight) in [(0, 2), (1, 5), (2, 1)] {
            assert_eq!(spread.iter().filter(|&&l| l == link).count(), weight, "{spread:?}");
        }
        assert!(spread.windows(3).all(|w| w.contains(&1)), "link 1 never waits long: {spread:?}");
        assert!(schedule(&[]).is_empty());
    }
}
