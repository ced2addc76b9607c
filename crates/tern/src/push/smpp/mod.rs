//! The SMPP 3.4 bearer: Tern as an ESME bound to one or more SMSCs, sending each WSP push as
//! binary short messages (WDP over SMS: UDH with ports 2948/9200, concatenated when long).
//!
//! Each configured link runs its own task ([`link`]) that keeps a bind up. A push is segmented
//! once, with one concatenation reference for all its segments, and submitted over a bound link,
//! taking turns between bound links; if that link goes down mid-push the whole push goes over
//! the next bound one with the same reference, so a handset that got a segment twice keeps the
//! first. The push counts as sent only when every segment got a submit_sm_resp with status 0.

mod error;
mod link;
mod pdu;

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};

use futures_util::future::try_join_all;
use tern_codec::sms::segment::{ConcatRef, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, segment};
use tokio::sync::watch;

pub use error::{SmppError, is_transient};
use link::Link;

use crate::config::SmppConfig;

#[derive(Debug)]
pub struct Smpp {
    cfg: SmppConfig,
    links: Vec<Arc<Link>>,
    /// Which link a push tries first: turns are taken between links.
    turn: AtomicUsize,
    /// The next concatenation reference.
    reference: AtomicU16,
    /// Dropped with the bearer, which tells the link tasks to unbind and end.
    _stop: watch::Sender<()>,
}

impl Smpp {
    /// Starts one task per link; they bind in the background, so this never waits for an SMSC.
    pub fn start(cfg: &SmppConfig) -> Smpp {
        let (stop, stopped) = watch::channel(());
        let links: Vec<Arc<Link>> = cfg.links.iter().cloned().map(|l| Arc::new(Link::new(l))).collect();
        for link in &links {
            let (link, stopped) = (link.clone(), stopped.clone());
            tokio::spawn(async move { link.run(stopped).await });
        }
        // A random start keeps references apart across restarts, so segments of a push sent just
        // before a restart are not joined with one sent just after.
        let mut seed = [0u8; 2];
        let seed = getrandom::fill(&mut seed).map_or(0, |()| u16::from_be_bytes(seed));
        Smpp { cfg: cfg.clone(), links, turn: AtomicUsize::new(0), reference: AtomicU16::new(seed), _stop: stop }
    }

    /// Sends one WSP push to `msisdn` (E.164, '+' optional).
    pub async fn send(&self, msisdn: &str, push: &[u8]) -> Result<(), SmppError> {
        let destination = pdu::destination(msisdn)?;
        let segments = segment(push, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, self.next_reference())?;
        let first = self.turn.fetch_add(1, Ordering::Relaxed);
        let mut failure = SmppError::NotBound;
        for i in 0..self.links.len() {
            let link = &self.links[first.wrapping_add(i) % self.links.len()];
            let Some(client) = link.bound() else { continue };
            let submits = segments.iter().map(|user_data| {
                link.submit(&client, pdu::submit_sm(&self.cfg, link.cfg(), destination.clone(), user_data))
            });
            match try_join_all(submits).await {
                Ok(ids) => {
                    tracing::debug!(%msisdn, link = %link.name, segments = segments.len(), ?ids, "push submitted over SMPP");
                    return Ok(());
                }
                // Only a link that went down is worth another link: a refusal or a timeout
                // would most likely repeat, or the message may already be on its way.
                Err(e @ SmppError::Link { .. }) => {
                    tracing::warn!(%msisdn, error = %e, "trying the next SMPP link");
                    failure = e;
                }
                Err(e) => return Err(e),
            }
        }
        Err(failure)
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
