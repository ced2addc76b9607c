//! The delivery worker and the sweeper. The worker takes due pushes from the queue, leases
//! them, frames each as a WSP push and hands it to the bearer, then records the outcome: a
//! notification is sent again with exponential backoff until the handset answers or the
//! attempts run out. The sweeper expires recipients and messages, and frees their bodies.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tern_codec::push::Push;
use tokio::sync::watch;

use super::{compose, events, ids};
use crate::config::Config;
use futures_util::StreamExt;

use crate::push::{Bearers, PushError, Receipt, Retry};
use crate::store::{Change, DuePush, Store};

/// How long a leased push stays invisible to other passes; a crash mid-send retries after it.
const LEASE_SECS: i64 = 120;
/// How often a queue with nothing due is looked at again.
const IDLE: Duration = Duration::from_millis(200);
/// Pushes of one pass in flight at once (the bearer's own window bounds what reaches an SMSC).
const CONCURRENT_SENDS: usize = 256;

/// Seconds to wait before attempt `attempts + 1`: doubling from the initial backoff, capped.
pub fn backoff(cfg: &Config, attempts: u32) -> i64 {
    let initial = cfg.delivery.initial_backoff_secs.max(1);
    let factor = 1u64.checked_shl(attempts.saturating_sub(1)).unwrap_or(u64::MAX);
    i64::try_from(initial.saturating_mul(factor).min(cfg.delivery.max_backoff_secs)).unwrap_or(i64::MAX)
}

pub async fn worker(store: Store, bearer: Arc<Bearers>, cfg: Arc<Config>, mut shutdown: watch::Receiver<bool>) {
    let tid = AtomicU8::new(0);
    while !*shutdown.borrow() {
        match pass(&store, &bearer, &cfg, &tid).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "delivery pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(IDLE) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn pass(store: &Store, bearer: &Bearers, cfg: &Config, tid: &AtomicU8) -> crate::store::Result<usize> {
    let now = ids::now();
    let due = store.due_pushes(now, i64::from(cfg.push.batch)).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let leases = due.iter().map(|p| Change::Lease { push: p.id, until: now + LEASE_SECS }).collect();
    let leased = store.apply(leases).await?;
    // Sent concurrently, so one slow SMSC answer does not hold up the rest of the batch.
    let jobs: Vec<(&DuePush, Vec<u8>)> = due
        .iter()
        .zip(leased)
        .filter(|(_, leased)| *leased)
        .map(|(push, _)| (push, Push::mms(tid.fetch_add(1, Ordering::Relaxed), pdu(push, cfg, now)).encode()))
        .collect();
    let sends = futures_util::stream::iter(0..jobs.len()).map(|i| bearer.send(&jobs[i].0.msisdn, &jobs[i].1));
    let results: Vec<_> = sends.buffered(CONCURRENT_SENDS).collect().await;
    let mut changes = Vec::with_capacity(due.len() * 2);
    for ((push, _), result) in jobs.iter().zip(results) {
        record(push, result, cfg, now, &mut changes);
    }
    store.apply(changes).await?;
    Ok(due.len())
}

fn pdu(push: &DuePush, cfg: &Config, now: i64) -> Vec<u8> {
    match (&push.pdu, &push.notification) {
        (Some(pdu), _) => pdu.clone(),
        (None, Some(n)) => {
            let base = cfg.push.notification_base_url.as_deref().unwrap_or(&cfg.mm1.public_base_url);
            let url = format!("{base}/m/{}", n.token);
            compose::notification(&n.template, &n.transaction_id, &url, n.expires_at, now)
        }
        (None, None) => Vec::new(),
    }
}

fn record(push: &DuePush, result: Result<Vec<String>, PushError>, cfg: &Config, now: i64, changes: &mut Vec<Change>) {
    let outcome = match &result {
        Ok(_) => "sent",
        Err(e) if e.retry() == Retry::Later => "waiting",
        Err(_) => "failed",
    };
    metrics::counter!("tern_pushes_total", "outcome" => outcome).increment(1);
    let attempts = push.attempts.saturating_add(1);
    let again = attempts < cfg.delivery.max_attempts;
    let change = match (result, &push.notification) {
        (Err(e), _) if e.retry() == Retry::Later => Change::PushResult {
            push: push.id,
            attempts: push.attempts,
            // Looked at again after the initial backoff, without using up an attempt.
            next: Some(now + backoff(cfg, 1)),
            state: "pending",
            error: Some(e.to_string()),
        },
        (Err(e), _) => {
            tracing::warn!(push = push.id, msisdn = %push.msisdn, error = %e, attempts, "push failed");
            let again = again && e.retry() == Retry::Backoff;
            Change::PushResult {
                push: push.id,
                attempts,
                next: again.then(|| now + backoff(cfg, attempts)),
                state: "failed",
                error: Some(e.to_string()),
            }
        }
        (Ok(ids), Some(n)) => {
            changes.push(events::notified(n.recipient, now));
            if !ids.is_empty() {
                changes.push(Change::SmscIds { push: push.id, ids });
            }
            // The handset may never answer: notify again later, a bounded number of times.
            Change::PushResult {
                push: push.id,
                attempts,
                next: again.then(|| now + backoff(cfg, attempts)),
                state: "done",
                error: None,
            }
        }
        (Ok(_), None) => Change::PushResult { push: push.id, attempts, next: None, state: "done", error: None },
    };
    changes.push(change);
}

/// Records SMSC delivery receipts as they come: the push's part is marked with the final state,
/// and the recipient's status text says what the SMSC saw.
pub async fn receipts(store: Store, mut receipts: tokio::sync::mpsc::UnboundedReceiver<Receipt>) {
    while let Some(r) = receipts.recv().await {
        let change = Change::Receipt { smsc_id: r.smsc_id, state: r.state, now: ids::now() };
        if let Err(e) = store.apply(vec![change]).await {
            tracing::error!(error = %e, "cannot record a delivery receipt");
        }
    }
}

pub async fn sweeper(store: Store, cfg: Arc<Config>, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_secs(cfg.delivery.sweep_interval_secs.max(1));
    while !*shutdown.borrow() {
        if let Err(e) = sweep(&store, &cfg).await {
            tracing::error!(error = %e, "sweep failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Expires waiting recipients (reporting it), then frees expired messages and dead segments.
pub async fn sweep(store: &Store, cfg: &Config) -> crate::store::Result<()> {
    const BATCH: i64 = 500;
    let now = ids::now();
    loop {
        let expiring = store.expiring(now, BATCH).await?;
        if expiring.is_empty() {
            break;
        }
        store.apply(expiring.iter().map(|d| events::expired(d, now, &cfg.subscribers)).collect()).await?;
    }
    loop {
        let messages = store.expired_messages(now, BATCH).await?;
        if messages.is_empty() {
            break;
        }
        store.apply(messages.into_iter().map(|message| Change::Expire { message }).collect()).await?;
    }
    for segment in store.dead_segments().await? {
        store.remove_segment_file(segment)?;
        store.apply(vec![Change::ForgetSegment { segment }]).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let cfg = Config::default();
        let waits: Vec<i64> = (1..=9).map(|a| backoff(&cfg, a)).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(&cfg, u32::MAX), 3600);
    }
}
