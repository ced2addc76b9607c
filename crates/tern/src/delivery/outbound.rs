//! The outbound worker: it leases the due jobs of the outbound queues (MM4 forwards, reports
//! and answers to peers, MM3 mail, MM7 deliveries and reports to VASPs), has the interface
//! write each one's mail or request, sends it over SMTP or HTTP and records the outcome, jobs side by side. A forward the next hop took moves its recipients to
//! `forwarded`; one it refused for good, or one whose attempts or time ran out, fails them with
//! a delivery report to the sender; anything worth a retry goes again with doubling backoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::backoff::outbound_backoff;
use crate::config::{Config, Mm4Peer, Vasp};
use crate::content::{self, Content};
use crate::core::envelope::{BodyFormat, Envelope};
use crate::core::model::{Change, DueOutbound, OutboundJob, OutboundResult};
use crate::core::state::OutboundEvent;
use crate::core::{events, ids};
use crate::smtp::{Client, Outgoing, SendError, SendTarget};
use crate::store::{BlobRef, Store, StoreError};
use crate::{mm3, mm4, mm7};

/// How long a leased job stays out of the queue while it is sent.
const LEASE_SECS: i64 = 600;
/// How often a queue with nothing due is looked at again when no new job wakes the worker.
const IDLE: Duration = Duration::from_secs(1);
/// How long shutdown waits for sends in flight.
const DRAIN: Duration = Duration::from_secs(10);

/// The SMTP clients: one per MM4 peer (each may have its own credentials), one for MM3; and
/// the HTTP client of VASPs' receivers.
struct Clients {
    peers: HashMap<String, Client>,
    mail: Client,
    vasps: mm7::Client,
}

impl Clients {
    fn new(cfg: &Config) -> anyhow::Result<Clients> {
        let mut peers = HashMap::new();
        for peer in &cfg.mm4.peers {
            let mut client = cfg.smtp_out.clone();
            if peer.credentials.is_some() {
                client.credentials = peer.credentials.clone();
            }
            peers.insert(
                peer.name.clone(),
                Client::new(client).map_err(|e| anyhow::anyhow!("MM4 peer {}: {e}", peer.name))?,
            );
        }
        let mail = Client::new(cfg.smtp_out.clone()).map_err(|e| anyhow::anyhow!("smtp_out: {e}"))?;
        let vasps = mm7::Client::new(&cfg.mm7)?;
        Ok(Clients { peers, mail, vasps })
    }
}

/// Sets up the worker's clients, failing at once when the configuration names files they
/// cannot read, and gives the worker to run until `shutdown` turns true.
pub fn outbound(
    store: Store,
    cfg: Arc<Config>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<impl Future<Output = ()> + Send> {
    let clients = Clients::new(&cfg)?;
    Ok(work(store, cfg, clients, shutdown))
}

/// Jobs go out side by side, up to `outbound.concurrency` at once, and each is recorded as soon
/// as it is done: a peer that is slow to answer holds up only its own jobs, and a free slot is
/// filled from the queue at once.
async fn work(store: Store, cfg: Arc<Config>, clients: Clients, mut shutdown: watch::Receiver<bool>) {
    let clients = Arc::new(clients);
    let room = Arc::new(Semaphore::new(cfg.outbound.concurrency.max(1)));
    let mut running = JoinSet::new();
    while !*shutdown.borrow() {
        while running.try_join_next().is_some() {}
        let free = room.available_permits();
        if free == 0 {
            tokio::select! {
                _ = running.join_next() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let now = ids::now();
        let due = match store.lease_outbound(now, now + LEASE_SECS, i64::try_from(free).unwrap_or(1)).await {
            Ok(due) => due,
            // The store has closed (the relay is stopping): nothing more can be leased.
            Err(StoreError::Closed) => break,
            Err(e) => {
                tracing::error!(error = %e, "cannot lease outbound jobs");
                Vec::new()
            }
        };
        if due.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(IDLE) => {}
                _ = store.outbound_queued() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        for job in due {
            // A lease takes at most as many jobs as there are free slots.
            let Ok(permit) = room.clone().try_acquire_owned() else { break };
            let (store, cfg, clients) = (store.clone(), cfg.clone(), clients.clone());
            running.spawn(async move {
                let changes = run(&store, &cfg, &clients, job).await;
                if let Err(e) = store.apply(changes).await {
                    // The job stays leased and goes again once the lease runs out.
                    tracing::error!(error = %e, "cannot record an outbound outcome");
                }
                drop(permit);
            });
        }
    }
    // Sends in flight finish within the client's timeouts; those cut off here go again once
    // their lease runs out, or at the next start.
    if tokio::time::timeout(DRAIN, async { while running.join_next().await.is_some() {} }).await.is_err() {
        tracing::warn!(
            jobs = running.len(),
            "outbound sends still in flight at shutdown; they go again at the next start"
        );
        running.shutdown().await;
    }
}

/// How one send went.
enum Sent {
    Taken,
    Again(String),
    Refused(String),
}

impl From<Result<crate::smtp::Accepted, SendError>> for Sent {
    fn from(r: Result<crate::smtp::Accepted, SendError>) -> Sent {
        match r {
            Ok(_) => Sent::Taken,
            Err(e) if e.is_transient() => Sent::Again(e.to_string()),
            Err(e) => Sent::Refused(e.to_string()),
        }
    }
}

/// Sends one job and says what records its outcome.
async fn run(store: &Store, cfg: &Config, clients: &Clients, job: DueOutbound) -> Vec<Change> {
    let now = ids::now();
    let attempts = job.attempts.saturating_add(1);
    if job.expires_at <= now {
        // Its recipients expire (and are reported) with their message.
        return vec![close(&job, job.attempts, OutboundEvent::Expired, Some("expired before it could go".into()))];
    }
    let (outcome, recipients) = match &job.job {
        OutboundJob::Forward { envelope, format, body, recipients, .. } => {
            // Every recipient was taken, or expired, since the job was queued: nothing to read.
            if recipients.is_empty() {
                return vec![close(&job, job.attempts, OutboundEvent::Cancelled, None)];
            }
            let content = match load(store, body, *format).await {
                Ok(content) => content,
                Err(Load::Again(e)) => return vec![retry(cfg, &job, attempts, now, e)],
                Err(Load::Broken(e)) => return fail_all(store, &job, attempts, recipients, &e, now).await,
            };
            match job.destination.strip_prefix("mm4:") {
                Some(peer) => {
                    let Some(p) = cfg.mm4.peer(peer) else {
                        let e = format!("no MM4 peer {peer} is configured");
                        return fail_all(store, &job, attempts, recipients, &e, now).await;
                    };
                    let addresses: Vec<String> = recipients.iter().map(|(_, a)| a.clone()).collect();
                    let out = mm4::outbound::forward(cfg, p, job.id, envelope, &content, &addresses);
                    (to_peer(clients, p, &out).await, recipients.clone())
                }
                None => match vasp_of(cfg, &job) {
                    Some(v) => {
                        let addresses: Vec<String> = recipients.iter().map(|(_, a)| a.clone()).collect();
                        let out = mm7::outbound::deliver(cfg, v, job.id, envelope, &content, &addresses);
                        (to_vasp(clients, v, &out).await, recipients.clone())
                    }
                    None if job.destination.starts_with("mm7:") => {
                        let e = format!("no VASP {} is configured", &job.destination[4..]);
                        return fail_all(store, &job, attempts, recipients, &e, now).await;
                    }
                    None => {
                        return mail(store, cfg, clients, &job, envelope, &content, recipients, attempts, now).await;
                    }
                },
            }
        }
        OutboundJob::Report(report) => match (peer_of(cfg, &job), vasp_of(cfg, &job)) {
            (Some(p), _) => (to_peer(clients, p, &mm4::outbound::report(cfg, p, job.id, report)).await, Vec::new()),
            (None, Some(v)) => (to_vasp(clients, v, &mm7::outbound::report(cfg, v, job.id, report)).await, Vec::new()),
            (None, None) => return vec![no_peer(&job, attempts)],
        },
        OutboundJob::Answer(answer) => match peer_of(cfg, &job) {
            Some(p) => (to_peer(clients, p, &mm4::outbound::answer(cfg, answer)).await, Vec::new()),
            None => return vec![no_peer(&job, attempts)],
        },
    };
    match outcome {
        Sent::Taken => {
            let ids: Vec<i64> = recipients.iter().map(|(id, _)| *id).collect();
            let mut changes = vec![close(&job, attempts, OutboundEvent::Sent, None)];
            if !ids.is_empty() {
                changes.push(events::forwarded(ids, now));
            }
            changes
        }
        Sent::Again(e) if may_retry(cfg, &job, attempts, now) => vec![retry(cfg, &job, attempts, now, e)],
        Sent::Again(e) | Sent::Refused(e) => fail_all(store, &job, attempts, &recipients, &e, now).await,
    }
}

fn outcome_name(s: &Sent) -> &'static str {
    match s {
        Sent::Taken => "sent",
        Sent::Again(_) => "retry",
        Sent::Refused(_) => "refused",
    }
}

/// The MM4 peer a report's or an answer's job is for.
fn peer_of<'a>(cfg: &'a Config, job: &DueOutbound) -> Option<&'a Mm4Peer> {
    job.destination.strip_prefix("mm4:").and_then(|peer| cfg.mm4.peer(peer))
}

/// The VASP a job is for.
fn vasp_of<'a>(cfg: &'a Config, job: &DueOutbound) -> Option<&'a Vasp> {
    job.destination.strip_prefix("mm7:").and_then(|vasp| cfg.mm7.vasp(vasp))
}

fn no_peer(job: &DueOutbound, attempts: u32) -> Change {
    close(job, attempts, OutboundEvent::Failed, Some("no such MM4 peer or VASP".into()))
}

/// Sends a request to a VASP's receiver, counting how it went.
async fn to_vasp(clients: &Clients, vasp: &Vasp, req: &mm7::outbound::Request) -> Sent {
    let sent = match clients.vasps.send(vasp, req).await {
        Ok(()) => Sent::Taken,
        Err(mm7::SendError::Again(e)) => Sent::Again(e),
        Err(mm7::SendError::Refused(e)) => Sent::Refused(e),
    };
    metrics::counter!("tern_outbound_total", "outcome" => outcome_name(&sent)).increment(1);
    sent
}

/// Sends a mail to a peer with its own client.
async fn to_peer(clients: &Clients, peer: &Mm4Peer, out: &Outgoing) -> Sent {
    send(clients.peers.get(&peer.name), &peer.target(), out).await
}

/// Sends one mail, counting how it went.
async fn send(client: Option<&Client>, target: &SendTarget, out: &Outgoing) -> Sent {
    let sent = match client {
        Some(client) => client.send(target, &out.from, &out.to, &out.mail).await.into(),
        None => Sent::Refused("no client for this peer".into()),
    };
    metrics::counter!("tern_outbound_total", "outcome" => outcome_name(&sent)).increment(1);
    sent
}

/// An MM3 job: one mail through the smarthost, or one per recipient domain to its MX. A
/// recipient whose domain took the mail is forwarded at once, so a retry goes only to the
/// others.
#[allow(clippy::too_many_arguments)]
async fn mail(
    store: &Store,
    cfg: &Config,
    clients: &Clients,
    job: &DueOutbound,
    env: &Envelope,
    content: &Content,
    recipients: &[(i64, String)],
    attempts: u32,
    now: i64,
) -> Vec<Change> {
    let domain = cfg.mm3_domain();
    let from =
        if env.originator.contains('@') { env.originator.clone() } else { format!("{}@{domain}", env.originator) };
    let mut groups: Vec<(SendTarget, Vec<(i64, String)>)> = Vec::new();
    for (id, address) in recipients {
        let target = cfg.mm3.send.clone().unwrap_or_else(|| SendTarget::Mx {
            domain: address.rsplit_once('@').map_or("", |(_, d)| d).to_owned(),
            port: 25,
        });
        match groups.iter_mut().find(|(t, _)| *t == target) {
            Some((_, group)) => group.push((*id, address.clone())),
            None => groups.push((target, vec![(*id, address.clone())])),
        }
    }
    let mut changes = Vec::new();
    let (mut forwarded, mut again, mut refused) = (Vec::new(), None, Vec::new());
    for (target, group) in groups {
        let to: Vec<String> = group.iter().map(|(_, a)| a.clone()).collect();
        let bytes = mm3::wire::build_mail(env, content, &from, &to, cfg.mm3.keep_smil);
        let out = Outgoing { from: from.clone(), to, mail: bytes };
        match send(Some(&clients.mail), &target, &out).await {
            Sent::Taken => forwarded.extend(group.iter().map(|(id, _)| *id)),
            Sent::Again(e) => again = Some(e),
            Sent::Refused(e) => refused.push((group, e)),
        }
    }
    if !forwarded.is_empty() {
        changes.push(events::forwarded(forwarded, now));
    }
    for (group, e) in &refused {
        changes.extend(failed(store, group, e, now).await);
    }
    match again {
        Some(e) if may_retry(cfg, job, attempts, now) => changes.push(retry(cfg, job, attempts, now, e)),
        Some(e) => {
            let left: Vec<(i64, String)> =
                recipients.iter().filter(|(id, _)| !changes.iter().any(|c| moved(c, *id))).cloned().collect();
            changes.extend(failed(store, &left, &e, now).await);
            changes.push(close(job, attempts, OutboundEvent::Failed, Some(e)));
        }
        None => changes.push(close(job, attempts, OutboundEvent::Sent, None)),
    }
    changes
}

/// Whether a change already moves this recipient.
fn moved(c: &Change, id: i64) -> bool {
    match c {
        Change::TransitionMany { recipients, .. } => recipients.contains(&id),
        Change::Transition { recipient, .. } => *recipient == id,
        _ => false,
    }
}

fn may_retry(cfg: &Config, job: &DueOutbound, attempts: u32, now: i64) -> bool {
    attempts < cfg.outbound.max_attempts && now + outbound_backoff(cfg, attempts) < job.expires_at
}

fn retry(cfg: &Config, job: &DueOutbound, attempts: u32, now: i64, error: String) -> Change {
    tracing::info!(job = job.id, destination = %job.destination, attempts, error = %error, "outbound send goes again later");
    Change::OutboundResults(vec![OutboundResult {
        id: job.id,
        attempts,
        next: Some(now + outbound_backoff(cfg, attempts)),
        state: OutboundEvent::Retry.transition().1,
        error: Some(error),
    }])
}

fn close(job: &DueOutbound, attempts: u32, event: OutboundEvent, error: Option<String>) -> Change {
    Change::OutboundResults(vec![OutboundResult {
        id: job.id,
        attempts,
        next: None,
        state: event.transition().1,
        error,
    }])
}

/// The job fails for good: its recipients fail, each with a delivery report to the sender.
async fn fail_all(
    store: &Store,
    job: &DueOutbound,
    attempts: u32,
    recipients: &[(i64, String)],
    error: &str,
    now: i64,
) -> Vec<Change> {
    tracing::warn!(job = job.id, destination = %job.destination, error = %error, "outbound send failed for good");
    let mut changes = failed(store, recipients, error, now).await;
    changes.push(close(job, attempts, OutboundEvent::Failed, Some(error.to_owned())));
    changes
}

async fn failed(store: &Store, recipients: &[(i64, String)], error: &str, now: i64) -> Vec<Change> {
    if recipients.is_empty() {
        return Vec::new();
    }
    let ids: Vec<i64> = recipients.iter().map(|(id, _)| *id).collect();
    match store.recipients_of(&ids).await {
        Ok(found) => found.iter().map(|d| events::forward_failed(d, error, now)).collect(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the recipients of a failed forward");
            Vec::new()
        }
    }
}

enum Load {
    Again(String),
    Broken(String),
}

/// A stored body as content, whatever form it was stored in.
async fn load(store: &Store, body: &BlobRef, format: BodyFormat) -> Result<Content, Load> {
    let bytes = match store.body(body).await {
        Ok(bytes) => bytes,
        Err(crate::store::StoreError::Damaged(e)) => {
            return Err(Load::Broken(format!("the stored message is damaged: {e}")));
        }
        Err(e) => return Err(Load::Again(e.to_string())),
    };
    match format {
        BodyFormat::Wsp => content::from_wsp(&bytes),
        BodyFormat::Mime => content::from_mime(&bytes),
    }
    .map_err(|e| Load::Broken(format!("the stored message cannot be read: {e}")))
}
