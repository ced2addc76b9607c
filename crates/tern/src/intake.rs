//! The one entry for a new message from any interface: the recipients are checked and routed
//! (routing may ask ENUM, so this is the I/O side of [`crate::core::accept`]), the policy stage
//! runs, the sender's endpoint filter and the protection profiles screen it (and may refuse,
//! hold, rewrite or archive it: [`crate::protect`]), and the message is stored durably before
//! anyone hears "accepted". Every interface hands a neutral [`Submission`] in and turns a
//! [`Refusal`] into its own status.

use std::sync::Arc;

use crate::config::Config;
use crate::content;
use crate::core::accept::{self, Submission};
use crate::core::address::Normalized;
use crate::core::envelope::Destination;
use crate::core::envelope::{BodyFormat, Origin};
use crate::core::ids;
use crate::core::model::HoldKind;
use crate::core::policy::{Refusal, RefusalKind};
use crate::core::protection::{Decision, EndpointAction, Interface, Subject};
use crate::core::routing::{Action, EmailDefault, Match, Rule};
use crate::protect::{self, Screened, Screener};
use crate::routing::Router;
use crate::store::{Change, NewMessage, Store};

#[derive(Debug, Clone)]
pub struct Intake {
    store: Store,
    cfg: Arc<Config>,
    router: Arc<Router>,
    screener: Screener,
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
        let screener = Screener::new(&cfg, store.clone())?;
        Ok(Intake { store, cfg, router: Arc::new(router), screener })
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

    /// The screener this intake's messages pass, for MM1 retrieval to screen what it serves.
    pub fn screener(&self) -> &Screener {
        &self.screener
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
        let endpoint = self.screener.endpoint(interface, &sender);
        if endpoint == Some(EndpointAction::Block) {
            return Err(Refusal::new(RefusalKind::ServiceDenied, "the sender may not send messages"));
        }
        let recipients: Vec<String> = routed.iter().map(|(_, n, _)| n.canonical.clone()).collect();
        let client = sub.client;
        let mut message = accept::message(sub, routed, now, cfg)?;
        let message_id = message.envelope.message_id.clone();
        let mut changes = Vec::with_capacity(2);
        if endpoint != Some(EndpointAction::Exempt) && self.screener.screens(interface) {
            let source = source(&message.envelope.origin);
            let who =
                Subject { interface, source: source.as_deref(), client, sender: &sender, recipients: &recipients };
            let counted = endpoint != Some(EndpointAction::ExemptFlood);
            self.screen(&mut message, who, counted, &mut changes).await?;
        }
        if changes.iter().all(|c| !matches!(c, Change::Hold { kind: HoldKind::Quarantine, .. })) {
            changes.insert(0, Change::Accept(Box::new(message)));
        }
        let applied = self.store.apply(changes).await.map_err(|e| {
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

    /// Screens a new message with the protection profiles for it and acts on the verdict: a
    /// block refuses it (after archiving a copy, if asked), a scanner that fails closed refuses
    /// it for now, a quarantine holds it instead of accepting it, a replace rewrites its
    /// content, an archive keeps a copy beside it. What must be stored is added to `changes`.
    /// Content that cannot be read is not screened here: each interface has refused what it
    /// cannot read.
    async fn screen(
        &self,
        message: &mut NewMessage,
        who: Subject<'_>,
        counted: bool,
        changes: &mut Vec<Change>,
    ) -> Result<(), Refusal> {
        let read = match message.format {
            BodyFormat::Wsp => content::from_wsp(&message.body),
            BodyFormat::Mime => content::from_mime(&message.body),
        };
        let Ok(content) = read else { return Ok(()) };
        let screened = Screened {
            who,
            message_id: &message.envelope.message_id,
            title: message.envelope.subject.as_deref(),
            content: &content,
        };
        let screening = self.screener.screen(&screened, counted).await;
        let verdict = &screening.verdict;
        let now = ids::now();
        if let Some(d) = verdict.archive() {
            changes.push(hold(message.clone(), HoldKind::Archive, who.interface, d, now));
        }
        if let Some(d) = verdict.block() {
            let answer = self.screener.block_answer(d);
            if !changes.is_empty() {
                self.store.apply(std::mem::take(changes)).await.map_err(|e| {
                    tracing::error!(error = %e, "store unavailable");
                    Refusal::new(RefusalKind::Transient, "the relay cannot store messages now; try again")
                })?;
            }
            return Err(match answer.check {
                "flood" | "duplicate" => Refusal::new(RefusalKind::ServiceDenied, "the message was not accepted"),
                _ => Refusal::new(RefusalKind::ContentNotAccepted, answer.text),
            });
        }
        if let Some(down) = screening.unavailable() {
            return Err(Refusal::new(
                RefusalKind::Transient,
                format!("the relay cannot screen messages now ({} is down); try again", down.scanner),
            ));
        }
        if let Some(d) = verdict.quarantine() {
            changes.push(hold(message.clone(), HoldKind::Quarantine, who.interface, d, now));
            return Ok(());
        }
        if let Some(rewritten) = self.screener.rewrite(&screening, &content) {
            message.body = content::to_wsp(&rewritten).into();
            message.format = BodyFormat::Wsp;
            message.envelope.content_type = content::wsp_media_type(&rewritten.media_type);
        }
        Ok(())
    }
}

/// A copy of `message` held for `d`.
fn hold(message: NewMessage, kind: HoldKind, interface: Interface, d: &Decision, now: i64) -> Change {
    Change::Hold { message: Box::new(message), kind, reason: protect::hold_reason(interface, d), now }
}

/// The source policies match a message by: the MM4 peer or the content provider it came from.
fn source(origin: &Origin) -> Option<String> {
    match origin {
        Origin::Mm4 { peer, .. } => Some(format!("peer:{peer}")),
        Origin::Mm7 { vasp, .. } => Some(format!("vasp:{vasp}")),
        Origin::Mm1 | Origin::Mm3 => None,
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
