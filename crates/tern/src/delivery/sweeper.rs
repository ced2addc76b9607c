//! The sweeper: every `delivery.sweep_interval_secs` it expires the recipients still waiting
//! for a message past its expiry (reporting it to the sender), then frees expired messages and
//! the segment files no live message points into.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::core::model::Change;
use crate::core::{events, ids};
use crate::store::Store;

pub async fn sweeper(store: Store, cfg: Arc<Config>, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_secs(cfg.delivery.sweep_interval_secs.max(1));
    while !*shutdown.borrow() {
        if let Err(e) = sweep(&store).await {
            tracing::error!(error = %e, "sweep failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Expires waiting recipients (reporting it), then frees expired messages and dead segments.
pub async fn sweep(store: &Store) -> crate::store::Result<()> {
    const BATCH: i64 = 500;
    let now = ids::now();
    loop {
        let expiring = store.expiring(now, BATCH).await?;
        if expiring.is_empty() {
            break;
        }
        store.apply(expiring.iter().map(|d| events::expired(d, now)).collect()).await?;
    }
    loop {
        let messages = store.expired_messages(now, BATCH).await?;
        if messages.is_empty() {
            break;
        }
        store.apply(messages.into_iter().map(|message| Change::Expire { message }).collect()).await?;
    }
    store.collect_garbage().await?;
    Ok(())
}
