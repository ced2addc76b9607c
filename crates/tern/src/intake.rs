//! The one entry for a new message from any interface: the recipients are checked and routed
//! (routing may ask ENUM, so this is the I/O side of [`crate::core::accept`]), the policy stage
//! runs, the protection profiles screen the content, and the message is stored durably before anyone hears "accepted". Every interface
//! hands a neutral [`Submission`] in and turns a [`Refusal`] into its own status.

use std::sync::Arc;

use crate::config::Config;
use crate::content;
use crate::core::accept::{self, Submission};
use crate::core::address::Normalized;
use crate::core::envelope::Destination;
use crate::core::envelope::{BodyFormat, Origin};
use crate::core::ids;
use crate::core::policy::{Refusal, RefusalKind};
use crate::core::protection::{self, Decision, Interface};
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
        let interface = interface(&sub.origin);
        let decisions = self.screen(interface, &sub, &routed);
        let message = accept::message(sub, routed, now, cfg)?;
        let message_id = message.envelope.message_id.clone();
        for d in &decisions {
            let actions: Vec<&str> = d.actions.iter().map(|a| a.name()).collect();
            tracing::warn!(%message_id, %sender, interface = interface.name(), profile = %d.profile, check = d.check,
                detail = %d.detail, ?actions, "protection");
            for action in &actions {
                metrics::counter!("tern_protection_decisions_total", "interface" => interface.name(), "check" => d.check,
                    "action" => *action)
                .increment(1);
            }
        }
        if decisions.iter().any(Decision::blocks) {
            return Err(Refusal::new(
                RefusalKind::ContentNotAccepted,
                "the relay's content filter refused the message",
            ));
        }
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

    /// What the protection profiles for `interface` find in the submission's content. Content
    /// that cannot be read is not screened here: each interface has refused what it cannot read.
    fn screen(
        &self,
        interface: Interface,
        sub: &Submission,
        routed: &[(crate::core::envelope::Field, Normalized, Destination)],
    ) -> Vec<Decision> {
        let cfg = &self.cfg.protection;
        if !cfg.screens(interface) {
            return Vec::new();
        }
        let read = match sub.format {
            BodyFormat::Wsp => content::from_wsp(&sub.body),
            BodyFormat::Mime => content::from_mime(&sub.body),
        };
        let Ok(content) = read else { return Vec::new() };
        let parts: Vec<protection::Part<'_>> = content
            .parts
            .iter()
            .map(|p| protection::Part { declared: &p.media_type, charset: p.param("charset"), data: &p.data })
            .collect();
        let recipients: Vec<String> = routed.iter().map(|(_, n, _)| n.canonical.clone()).collect();
        let subject =
            protection::Subject { interface, source: None, sender: &sub.originator.canonical, recipients: &recipients };
        cfg.profiles_for(&subject)
            .into_iter()
            .flat_map(|p| protection::content_decisions(p, sub.subject.as_deref(), &parts))
            .collect()
    }
}

/// The interface a message is screened as, by where it came from.
fn interface(origin: &Origin) -> Interface {
    match origin {
        Origin::Mm1 => Interface::Mm1Sent,
        Origin::Mm4 { .. } => Interface::Mm4,
        Origin::Mm3 => Interface::Mm3,
        Origin::Mm7 { .. } => Interface::Mm7,
    }
}
