//! The delivery worker. It takes due pushes from the queue, leases them, builds each one's MMS
//! PDU and hands it to the bearer (which frames it for its transport), then records the outcome: a notification is sent again with
//! exponential backoff ([`super::backoff`]) until the handset answers or the attempts run out.
//!
//! Delivery is a pipeline rather than a sequence of passes: leasing the next pushes, sending and
//! recording overlap. The pushes of a lease are sent side by side and each outcome is recorded as
//! soon as it is known, grouped with whatever other outcomes arrived meanwhile, so a slow SMSC
//! answer holds up only its own push, and the queue keeps the bearer's window full.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use super::backoff;
use crate::config::Config;
use crate::core::model::{Change, DuePush, PushContent, PushResult, SmscId};
use crate::core::{events, ids};
use crate::mm1::pdus;
use crate::push::smpp::SmppError;
use crate::push::{Accepted, Bearers, PushError, Retry};
use crate::store::{Store, StoreError};

/// How long a leased push stays out of the due queue while it is sent; a push whose outcome was
/// never recorded is due again after it (or at once when the store is opened again).
const LEASE_SECS: i64 = 120;
/// How often a queue with nothing due is looked at again when no new push wakes the worker
/// (retries fall due without one).
const IDLE: Duration = Duration::from_millis(200);
/// Pushes in flight (leased, not yet recorded), in batches of `push.batch`: enough to keep an
/// SMSC window full while the next lease commits, few enough that a throttled link does not hold
/// leases for long.
const BATCHES_IN_FLIGHT: usize = 4;
/// How often the links are looked at while none is bound, besides when one changes.
const LINKS_DOWN: Duration = Duration::from_secs(1);
/// How often a connection to an unreachable push proxy gateway is tried again, while pushes
/// wait for it.
const GATEWAY_ASKED: Duration = Duration::from_secs(2);
/// How long shutdown waits for pushes in flight to be answered and recorded; those still out
/// after it are sent again when the relay starts next.
const DRAIN: Duration = Duration::from_secs(10);

/// A push that went to the bearer and how it went; its permit is released once it is recorded.
struct Outcome {
    push: DuePush,
    result: Result<Vec<Accepted>, PushError>,
    _permit: OwnedSemaphorePermit,
}

pub async fn worker(store: Store, bearer: Arc<Bearers>, cfg: Arc<Config>, mut shutdown: watch::Receiver<bool>) {
    let batch_permits = cfg.push.batch.clamp(1, u32::MAX / BATCHES_IN_FLIGHT as u32);
    let batch = batch_permits as usize;
    let room = Arc::new(Semaphore::new(batch * BATCHES_IN_FLIGHT));
    // Pushes leased and not yet recorded: a lease that ran out while its push waited for a
    // throttled link must not send the push a second time from this process.
    let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let (sent, outcomes) = mpsc::unbounded_channel();
    // Told whenever the recorder sets pushes aside for want of a bound SMPP link, or of a
    // connection to the push proxy gateway.
    let set_aside = Arc::new(SetAside::default());
    let resumers = [Awaited::Link, Awaited::Gateway]
        .map(|awaited| tokio::spawn(resume(store.clone(), bearer.clone(), awaited, set_aside.clone())));
    let mut recorder = tokio::spawn(record_all(store.clone(), cfg.clone(), outcomes, in_flight.clone(), set_aside));
    let mut sends = JoinSet::new();
    // With no bearer for any number, every push would only be looked at again and again: a
    // store holding many waiting notifications would keep the committer busy for nothing. They
    // wait in the queue, untouched, until a relay with a bearer starts.
    if bearer.carry_nothing() {
        tracing::info!("no push bearer configured: notifications and reports wait in the queue");
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    }
    // With every SMSC link down, each push leased would come back "not bound" and be set aside:
    // a lease and a record for each push queued meanwhile, for nothing. The queue is left alone
    // until a link binds (looked at again now and then in case a change was missed).
    let mut smpp_only = bearer.smpp_only();
    while !*shutdown.borrow() {
        if let Some(links) = smpp_only.as_mut()
            && links.none_bound()
        {
            tokio::select! {
                () = links.changed() => {}
                () = tokio::time::sleep(LINKS_DOWN) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        // Wait for room for a whole batch, so that leases (a commit each) stay large while the
        // queue is deep; what a lease does not use goes back at once.
        let whole = tokio::select! {
            permits = room.clone().acquire_many_owned(batch_permits) => permits,
            _ = shutdown.changed() => continue,
        };
        let Ok(mut permits) = whole else { break };
        while sends.try_join_next().is_some() {}
        let leased = match lease(&store, &in_flight, batch).await {
            Ok(leased) => leased,
            // The store has closed (the relay is stopping): nothing more can be leased or
            // recorded, and asking again would only repeat this.
            Err(StoreError::Closed) => break,
            Err(e) => {
                tracing::error!(error = %e, "cannot lease pushes");
                Vec::new()
            }
        };
        if leased.is_empty() {
            drop(permits);
            tokio::select! {
                _ = tokio::time::sleep(IDLE) => {}
                _ = store.queued() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let now = ids::now();
        let mut outgoing = Vec::with_capacity(leased.len());
        for push in leased {
            // A lease takes at most `batch` pushes, one permit each.
            let Some(permit) = permits.split(1) else { break };
            let pdu = pdu(&push, &cfg, now);
            outgoing.push((push, pdu, permit));
        }
        sends.spawn(send_all(bearer.clone(), outgoing, sent.clone()));
    }
    // The recorder ends once every send in flight has reported; bounded, so a silent SMSC
    // cannot hold up shutdown.
    drop(sent);
    if tokio::time::timeout(DRAIN, &mut recorder).await.is_err() {
        tracing::warn!(pushes = sends.len(), "pushes still in flight at shutdown; they go out again at the next start");
        sends.shutdown().await;
        recorder.abort();
    }
    for resumer in resumers {
        resumer.abort();
    }
}

/// Sends a lease's pushes side by side on one task, passing each outcome on as soon as it is
/// known: one task a lease rather than one a push, because waking a task per push cost more
/// than sending it.
async fn send_all(
    bearer: Arc<Bearers>,
    outgoing: Vec<(DuePush, Vec<u8>, OwnedSemaphorePermit)>,
    sent: mpsc::UnboundedSender<Outcome>,
) {
    let bearer = &bearer;
    let mut sending: FuturesUnordered<_> = outgoing
        .into_iter()
        .map(|(push, pdu, permit)| async move {
            let result = bearer.send(&push.msisdn, &pdu).await;
            Outcome { push, result, _permit: permit }
        })
        .collect();
    while let Some(outcome) = sending.next().await {
        let _ = sent.send(outcome);
    }
}

/// Leases up to `limit` due pushes and keeps those not already in flight here (a lease that
/// ran out while its push waited for a throttled link is taken again, and only extended).
async fn lease(store: &Store, in_flight: &Mutex<HashSet<i64>>, limit: usize) -> crate::store::Result<Vec<DuePush>> {
    let now = ids::now();
    let leased = store.lease_due(now, now + LEASE_SECS, i64::try_from(limit).unwrap_or(i64::MAX)).await?;
    let mut in_flight = in_flight.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(leased.into_iter().filter(|p| in_flight.insert(p.id)).collect())
}

fn forget(in_flight: &Mutex<HashSet<i64>>, ids: impl Iterator<Item = i64>) {
    let mut in_flight = in_flight.lock().unwrap_or_else(PoisonError::into_inner);
    for id in ids {
        in_flight.remove(&id);
    }
}

/// Records outcomes as they arrive: whatever arrived while the previous commit ran goes into the
/// next one, so recording keeps up with the bearer without a commit per push.
async fn record_all(
    store: Store,
    cfg: Arc<Config>,
    mut outcomes: mpsc::UnboundedReceiver<Outcome>,
    in_flight: Arc<Mutex<HashSet<i64>>>,
    set_aside: Arc<SetAside>,
) {
    const MOST: usize = 1024;
    let mut arrived = Vec::with_capacity(MOST);
    while outcomes.recv_many(&mut arrived, MOST).await > 0 {
        let now = ids::now();
        let mut record = Record::default();
        for outcome in &mut arrived {
            let result = std::mem::replace(&mut outcome.result, Ok(Vec::new()));
            record.add(&outcome.push, result, &cfg, now);
        }
        let (unbound, unreachable) = (record.unbound, record.unreachable);
        if let Some(why) = &record.set_aside {
            // Once a commit, not once a push: an outage sets a whole queue aside.
            tracing::warn!(pushes = why.0, error = %why.1, "pushes set aside until they can be carried");
        }
        match store.apply(record.changes(now)).await {
            Ok(_) => {
                if unbound {
                    set_aside.link.notify_one();
                }
                if unreachable {
                    set_aside.gateway.notify_one();
                }
            }
            // The pushes stay leased and go out again once the lease runs out.
            Err(e) => tracing::error!(error = %e, "cannot record push outcomes"),
        }
        forget(&in_flight, arrived.iter().map(|o| o.push.id));
        arrived.clear();
    }
}

/// The outcomes of many sends, as the few bulk changes that record them.
#[derive(Default)]
struct Record {
    notified: Vec<i64>,
    smsc_ids: Vec<SmscId>,
    results: Vec<PushResult>,
    /// Some pushes are set aside until an SMPP link binds.
    unbound: bool,
    /// Some pushes are set aside until a connection to the push proxy gateway can be made.
    unreachable: bool,
    /// How many pushes are set aside, and why the first was.
    set_aside: Option<(usize, String)>,
}

impl Record {
    fn add(&mut self, push: &DuePush, result: Result<Vec<Accepted>, PushError>, cfg: &Config, now: i64) {
        let outcome = match &result {
            Ok(_) => "sent",
            Err(e) if e.retry() == Retry::Later => "waiting",
            Err(_) => "failed",
        };
        metrics::counter!("tern_pushes_total", "outcome" => outcome).increment(1);
        let attempts = push.attempts.saturating_add(1);
        let again = attempts < cfg.delivery.max_attempts;
        let result = match (result, &push.what) {
            (Err(e), _) if e.retry() == Retry::Later => {
                // Set aside, out of the due queue, without using up an attempt: leasing it again
                // and again while the SMSC or the gateway is away would keep the store busy for
                // nothing. It is due at once when a link binds or the gateway can be reached again
                // ([`resume`]). A number with no bearer waits for the next start (or, on the way,
                // for a resumption of the others): nothing that comes back could carry it, so its
                // own setting aside must not ask for a resumption, or the two would chase each
                // other.
                self.unbound |= matches!(e, PushError::Smpp(SmppError::NotBound));
                self.unreachable |= matches!(e, PushError::Unreachable(_));
                let error = e.to_string();
                self.set_aside.get_or_insert_with(|| (0, error.clone())).0 += 1;
                PushResult {
                    push: push.id,
                    attempts: push.attempts,
                    next: Some(now),
                    state: "waiting",
                    error: Some(error),
                }
            }
            (Err(e), _) => {
                tracing::warn!(push = push.id, msisdn = %push.msisdn, error = %e, attempts, "push failed");
                let again = again && e.retry() == Retry::Backoff;
                PushResult {
                    push: push.id,
                    attempts,
                    next: again.then(|| now + backoff(cfg, attempts)),
                    state: "failed",
                    error: Some(e.to_string()),
                }
            }
            (Ok(accepted), PushContent::Notification(n)) => {
                self.notified.push(n.recipient);
                self.smsc_ids.extend(accepted.into_iter().map(|a| SmscId { push: push.id, link: a.link, id: a.id }));
                // The handset may never answer: notify again later, a bounded number of times.
                PushResult {
                    push: push.id,
                    attempts,
                    next: again.then(|| now + backoff(cfg, attempts)),
                    state: "done",
                    error: None,
                }
            }
            (Ok(_), _) => PushResult { push: push.id, attempts, next: None, state: "done", error: None },
        };
        self.results.push(result);
    }

    fn changes(self, now: i64) -> Vec<Change> {
        let mut changes = Vec::with_capacity(3);
        if !self.notified.is_empty() {
            changes.push(events::notified(self.notified, now));
        }
        if !self.smsc_ids.is_empty() {
            changes.push(Change::SmscIds(self.smsc_ids));
        }
        changes.push(Change::PushResults(self.results));
        changes
    }
}

/// The recorder's word that pushes were set aside, by what they wait for.
#[derive(Default)]
struct SetAside {
    link: Notify,
    gateway: Notify,
}

/// What pushes set aside wait for before they are worth another try.
#[derive(Clone, Copy)]
enum Awaited {
    /// An SMPP link bound.
    Link,
    /// A connection to the push proxy gateway (tried every [`GATEWAY_ASKED`]).
    Gateway,
}

/// Sends the pushes set aside back to the queue, each time some were set aside for want of what
/// `awaited` names, once it is there: at once if it is already (it came back while they were
/// being set aside), else as soon as it comes. The other pushes set aside go back with them, and
/// are set aside again if they still cannot go.
async fn resume(store: Store, bearer: Arc<Bearers>, awaited: Awaited, set_aside: Arc<SetAside>) {
    let mut links = bearer.link_states();
    let told = match awaited {
        Awaited::Link => &set_aside.link,
        Awaited::Gateway => &set_aside.gateway,
    };
    loop {
        told.notified().await;
        match awaited {
            Awaited::Link => {
                if links.names().next().is_none() {
                    continue;
                }
                while links.none_bound() {
                    tokio::select! {
                        () = links.changed() => {}
                        () = tokio::time::sleep(LINKS_DOWN) => {}
                    }
                }
            }
            Awaited::Gateway => {
                while !bearer.gateway_answers().await {
                    tokio::time::sleep(GATEWAY_ASKED).await;
                }
            }
        }
        match store.apply(vec![Change::ResumeWaiting]).await {
            // At most one resumption a second: should what came back still fail to carry them,
            // pushes set aside and resumed could otherwise chase each other at the store's pace.
            Ok(_) => tokio::time::sleep(LINKS_DOWN).await,
            Err(StoreError::Closed) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot send the pushes waiting for a bearer back to the queue");
                // Tried again after a pause.
                told.notify_one();
                tokio::time::sleep(LINKS_DOWN).await;
            }
        }
    }
}

fn pdu(push: &DuePush, cfg: &Config, now: i64) -> Vec<u8> {
    match &push.what {
        PushContent::Pdu(pdu) => pdu.clone(),
        PushContent::Report(report) => pdus::report(report),
        PushContent::Notification(n) => {
            let base = cfg.push.notification_base_url.as_deref().unwrap_or(&cfg.mm1.public_base_url);
            let url = format!("{base}/m/{}", n.token);
            pdus::notification(&n.envelope, n.size, &n.transaction_id, &url, now, cfg.push.compact)
        }
    }
}
