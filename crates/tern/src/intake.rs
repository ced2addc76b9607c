//! The one entry for a new message from any interface: the recipients are checked and routed
//! (routing may ask ENUM, so this is the I/O side of [`crate::core::accept`]), the policy stage
//! runs, and the message is stored durably before anyone hears "accepted". Every interface
//! hands a neutral [`Submission`] in and turns a [`Refusal`] into its own status.

use std::sync::Arc;

use crate::config::Config;
use crate::core::accept::{self, Submission};
use crate::core::address::{Normalized, Route};
use crate::core::envelope::Destination;
use crate::core::ids;
use crate::core::policy::{Refusal, RefusalKind};
use crate::store::{Change, Store};

#[derive(Debug, Clone)]
pub struct Intake {
    store: Store,
    cfg: Arc<Config>,
}

/// A message taken: its Message-ID, and whether it was stored just now (false when the same
/// Message-ID was stored before: a peer sent it again, and it is not delivered twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub message_id: String,
    pub stored: bool,
}

impl Intake {
    pub fn new(store: Store, cfg: Arc<Config>) -> Intake {
        Intake { store, cfg }
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

    async fn destination(&self, n: &Normalized) -> Destination {
        match n.route {
            Route::Local => Destination::Local,
            route => Destination::NoRoute { reason: format!("no route configured for {route} recipients") },
        }
    }
}
