//! The one entry for a new message from any interface: the recipients are checked and routed
//! (routing may ask ENUM, so this is the I/O side of [`crate::core::accept`]), the policy stage
//! runs, and the message is stored durably before anyone hears "accepted". Every interface
//! hands a neutral [`Submission`] in and turns a [`Refusal`] into its own status.

use std::sync::Arc;

use crate::config::Config;
use crate::core::accept::{self, Submission};
use crate::core::address::Normalized;
use crate::core::envelope::Destination;
use crate::core::ids;
use crate::core::policy::{Refusal, RefusalKind};
use crate::core::routing::{Action, EmailDefault, Match, Rule};
use crate::routing::Router;
use crate::store::{Change, Store};

#[derive(Debug, Clone)]
pub struct Intake {
    store: Store,
    cfg: Arc<Config>,
    router: Arc<Router>,
}

/// A message taken: its Message-ID, and whether it was stored just now (false when the same
/// Message-ID was stored before: a peer sent it again, and it is not delivered twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub message_id: String,
    pub stored: bool,
}

impl Intake {
    /// Fails only when ENUM is enabled and no resolver can be set up.
    pub fn new(store: Store, cfg: Arc<Config>) -> anyhow::Result<Intake> {
        let mut routing = cfg.routing.clone();
        // Without MM3 an e-mail address has nowhere to go.
        if !cfg.mm3.enabled {
            routing.email_default = EmailDefault::NoRoute;
        }
        // Each content provider's short codes go to it, after the rules that name them.
        if cfg.mm7.enabled {
            for vasp in &cfg.mm7.vasps {
                routing.rules.extend(vasp.short_codes.iter().map(|code| Rule {
                    matches: Match::ShortCode(code.clone()),
                    action: Action::Mm7 { vasp: vasp.name.clone() },
                }));
            }
        }
        let peers = cfg.mm4.peers.iter().map(|p| (p.name.clone(), p.domain.clone())).collect();
        let router = Router::new(routing, cfg.subscribers.clone(), cfg.mm4.domain.clone(), peers)?;
        Ok(Intake { store, cfg, router: Arc::new(router) })
    }

    /// Where a recipient goes, as the rules and ENUM say; an interface that is not running
    /// carries nothing.
    pub async fn destination(&self, n: &Normalized) -> Destination {
        match self.router.destination(n).await {
            Destination::Mm4 { .. } if !self.cfg.mm4.enabled => {
                Destination::NoRoute { reason: "MM4 is not enabled on this relay".into() }
            }
            Destination::Mm3 if !self.cfg.mm3.enabled => {
                Destination::NoRoute { reason: "MM3 is not enabled on this relay".into() }
            }
            Destination::Mm7 { .. } if !self.cfg.mm7.enabled => {
                Destination::NoRoute { reason: "MM7 is not enabled on this relay".into() }
            }
            d => d,
        }
    }

    pub async fn submit(&self, sub: Submission) -> Result<Accepted, Refusal> {
        let cfg = self.cfg.acceptance();
        let now = ids::now();
        let addressed = accept::addressed(&sub, cfg)?;
        let mut routed = Vec::with_capacity(addressed.len());
        for (field, n) in addressed {
            let destination = self.destination(&n).await;
            routed.push((field, n, destination));
        }
        let sender = sub.originator.canonical.clone();
        let message = accept::message(sub, routed, now, cfg)?;
        let message_id = message.envelope.message_id.clone();
        let applied = self.store.apply(vec![Change::Accept(Box::new(message))]).await.map_err(|e| {
            tracing::error!(error = %e, "store unavailable");
            Refusal::new(RefusalKind::Transient, "the relay cannot store messages now; try again")
        })?;
        let stored = applied.first().copied().unwrap_or(false);
        if stored {
            tracing::info!(%message_id, %sender, "accepted");
        } else {
            tracing::info!(%message_id, %sender, "taken again; stored before");
        }
        Ok(Accepted { message_id, stored })
    }
}
