//! The single writer. Requests queue their changes; the committer takes everything queued (up
//! to a batch limit), appends the batch's bodies to the open segment and syncs it once, then
//! applies every request's changes in one SQLite transaction (each under its own savepoint, so
//! one bad request cannot fail the others) and commits with one WAL fsync. Only then does any
//! request hear back. Besides the core's changes, a request can carry one of the store's own
//! chores (forgetting a dead segment, releasing or deleting a held message), so that those
//! writes, too, have the one writer.

use std::path::PathBuf;
use std::time::Duration;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::held::{self, Holding, Release};
use super::payloads::{Location, PayloadLog};
use super::{Result, StoreError, decode_error, format_from, format_name};
use super::{batch, moves};
use crate::core::envelope::{BodyFormat, Envelope};
use crate::core::model::{
    Change, DueOutbound, DuePush, NewMessage, NewRecipient, NotificationParts, OutboundJob, PeerAnswer, PushContent,
    PushResult,
};
use crate::core::report::{REPORT_LIFETIME_SECS, Report, ReportRoute};
use crate::core::state::{OutboundEvent, RecipientState};

/// What a request's changes did: for each change but a lease, whether it applied; the
/// pushes its leases took; and what its chore did.
#[derive(Debug, Default)]
pub(super) struct Applied {
    pub flags: Vec<bool>,
    pub leased: Vec<DuePush>,
    pub outbound: Vec<DueOutbound>,
    /// A [`Chore::Release`]'s outcome.
    pub released: Option<Release>,
    /// Whether a [`Chore::DeleteHeld`] found its message.
    pub deleted: bool,
}

/// The store's own work on its records, applied in a group commit like a change.
#[derive(Debug, Clone, Copy)]
pub(super) enum Chore {
    /// A dead segment whose file was removed: its row goes.
    Forget(i64),
    /// A quarantined message goes to delivery ([`held::release`]).
    Release { held: i64, now: i64 },
    /// A held message goes ([`held::delete`]).
    DeleteHeld(i64),
}

pub(super) struct Job {
    pub changes: Vec<Change>,
    /// The checksum of each body the changes carry ([`body`]), in order, worked out by the
    /// caller so that the committer, which every request waits on, does not spend its time on it.
    pub checksums: Vec<u32>,
    /// The envelope of each accepted or held message as stored (JSON), in order
    /// ([`stores_envelope`]), made by the caller for the same reason.
    pub envelopes: Vec<String>,
    /// One of the store's own chores, applied before the changes.
    pub chore: Option<Chore>,
    /// Nobody waits on this job's commit (a retrieval's record): a batch of such jobs alone
    /// waits up to [`LINGER`] for more to share its commit.
    pub lingers: bool,
    pub reply: oneshot::Sender<Result<Applied>>,
}

/// The running committer; [`Handle::closed`] resolves once every queued change is committed
/// after the last [`super::Store`] is dropped.
#[derive(Debug)]
pub struct Handle(JoinHandle<()>);

impl Handle {
    pub async fn closed(self) {
        let _ = self.0.await;
    }
}

pub(super) async fn start(
    mut conn: SqliteConnection,
    dir: PathBuf,
    batch_max: usize,
) -> Result<(mpsc::Sender<Job>, Handle)> {
    let current = sqlx::query("SELECT id FROM segments WHERE sealed = 0 ORDER BY id DESC LIMIT 1")
        .fetch_optional(&mut conn)
        .await?;
    let segment = match current {
        Some(row) => row.try_get::<i64, _>(0)?,
        None => sqlx::query("INSERT INTO segments (sealed) VALUES (0) RETURNING id")
            .fetch_one(&mut conn)
            .await?
            .try_get(0)?,
    };
    let log = PayloadLog::open(&dir, segment)?;
    let (tx, rx) = mpsc::channel(batch_max.max(1) * 4);
    let task = tokio::spawn(run(conn, log, rx, batch_max.max(1)));
    Ok((tx, Handle(task)))
}

async fn run(mut conn: SqliteConnection, mut log: PayloadLog, mut rx: mpsc::Receiver<Job>, batch_max: usize) {
    let mut jobs = Vec::with_capacity(batch_max);
    while rx.recv_many(&mut jobs, batch_max).await > 0 {
        linger(&mut rx, &mut jobs, batch_max).await;
        let results = commit(&mut conn, &mut log, &jobs).await;
        for (job, result) in jobs.drain(..).zip(results) {
            let _ = job.reply.send(result);
        }
    }
    let _ = conn.close().await;
}

/// How long a batch of jobs nobody waits on may wait for more. Each commit costs a WAL sync, the
/// write of every page it changed, and the readers' page caches, which a commit empties; records
/// of retrievals taken one by one as they come cost first retrievals (and the lookups beside
/// them) more than their own reads did (see docs/BENCHMARKS.md). A job somebody waits on ends
/// the wait at once, and takes the lingering ones into its own commit, in order.
pub(super) const LINGER: Duration = Duration::from_millis(20);

/// Waits while `jobs` holds only jobs that linger, up to [`LINGER`], taking what comes.
async fn linger(rx: &mut mpsc::Receiver<Job>, jobs: &mut Vec<Job>, batch_max: usize) {
    let until = tokio::time::Instant::now() + LINGER;
    while jobs.len() < batch_max && jobs.iter().all(|job| job.lingers) {
        match tokio::time::timeout_at(until, rx.recv_many(jobs, batch_max - jobs.len())).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn commit(conn: &mut SqliteConnection, log: &mut PayloadLog, jobs: &[Job]) -> Vec<Result<Applied>> {
    if log.is_full()
        && let Err(e) = rotate(conn, log).await
    {
        tracing::error!(error = %e, "cannot start a new payload segment");
    }
    // Bodies first and durable, so no committed row ever points at bytes that could be lost.
    // Handing the runtime's thread over costs a thread wake-up, worth it only for a write.
    let writes = jobs.iter().any(|job| job.changes.iter().any(|c| body(c).is_some()));
    let bodies = if writes {
        tokio::task::block_in_place(|| write_bodies(log, jobs))
    } else {
        jobs.iter().map(|_| Ok(Vec::new())).collect()
    };
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        return jobs.iter().map(|_| Err(StoreError::Db(sqlx::Error::Protocol(e.to_string())))).collect();
    }
    let results = match together(conn, jobs, &bodies).await {
        Ok(results) => results,
        Err(e) => {
            if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                tracing::error!(error = %e, "cannot roll back a failed change");
            }
            if jobs.len() == 1 {
                return vec![Err(e)];
            }
            tracing::warn!(error = %e, jobs = jobs.len(), "a group commit failed; its requests are applied one by one");
            if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
                return jobs.iter().map(|_| Err(StoreError::Db(sqlx::Error::Protocol(e.to_string())))).collect();
            }
            one_by_one(conn, jobs, &bodies).await
        }
    };
    if let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
        tracing::error!(error = %e, "group commit failed");
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return jobs.iter().map(|_| Err(StoreError::Db(sqlx::Error::Protocol(e.to_string())))).collect();
    }
    results
}

/// Applies every job's changes without savepoints, the messages of all the jobs that only
/// accept messages stored together ([`batch::accept_all`]); fails as a whole as soon as
/// anything fails, and the caller rolls the transaction back. A job whose bodies could not be
/// written fails alone: it has touched nothing.
async fn together(
    conn: &mut SqliteConnection,
    jobs: &[Job],
    bodies: &[std::io::Result<Vec<Location>>],
) -> Result<Vec<Result<Applied>>> {
    let mut results: Vec<Result<Applied>> = Vec::with_capacity(jobs.len());
    let mut accepts: Vec<(Acceptance<'_>, Location)> = Vec::new();
    let mut owners: Vec<usize> = Vec::new();
    // A run of consecutive jobs that are one move each, with no recipient twice: made together
    // before the next job that does anything else, so each recipient's changes keep their order.
    let mut run: Vec<(usize, moves::Move)> = Vec::new();
    for (i, (job, located)) in jobs.iter().zip(bodies).enumerate() {
        match located {
            Err(e) => results.push(Err(StoreError::Io(std::io::Error::new(e.kind(), e.to_string())))),
            Ok(locations) if job.chore.is_none() && job.changes.iter().all(|c| matches!(c, Change::Accept(_))) => {
                let accepted = job.changes.iter().zip(locations).zip(&job.envelopes);
                for ((change, at), stored) in accepted {
                    if let Change::Accept(m) = change {
                        accepts.push((acceptance(m, stored), *at));
                        owners.push(i);
                    }
                }
                results.push(Ok(Applied::default()));
            }
            Ok(_) if let Some(one) = lone_move(job) => {
                if run.iter().any(|(_, m)| m.recipient == one.recipient) {
                    make_moves(conn, jobs, &mut run, &mut results).await?;
                }
                run.push((i, one));
                results.push(Ok(Applied::default()));
            }
            Ok(locations) => {
                make_moves(conn, jobs, &mut run, &mut results).await?;
                results.push(Ok(apply_job(conn, job, locations, false).await?));
            }
        }
    }
    make_moves(conn, jobs, &mut run, &mut results).await?;
    let flags = batch::accept_all(conn, &accepts).await?;
    for (i, flag) in owners.into_iter().zip(flags) {
        if let Some(Ok(applied)) = results.get_mut(i) {
            applied.flags.push(flag);
        }
    }
    Ok(results)
}

/// The move a job makes, when that is all it does: one conditional transition with no report to
/// queue and no status text (a retrieval's record, most often).
fn lone_move(job: &Job) -> Option<moves::Move> {
    match (&job.chore, job.changes.as_slice()) {
        (None, [Change::Transition { recipient, from, to, status_text: None, now, cancel_pushes, report: None }]) => {
            Some(moves::Move { recipient: *recipient, from, to: *to, now: *now, cancel_pushes: *cancel_pushes })
        }
        _ => None,
    }
}

/// Makes the moves of `run` with a few statements, gives each job its flag, and empties it. A
/// run of one is applied as its job alone: the batched statements cost more for a single move.
async fn make_moves(
    conn: &mut SqliteConnection,
    jobs: &[Job],
    run: &mut Vec<(usize, moves::Move)>,
    results: &mut [Result<Applied>],
) -> Result<()> {
    if let [(i, _)] = run.as_slice() {
        let (i, job) = (*i, &jobs[*i]);
        run.clear();
        let applied = apply_job(conn, job, &[], false).await?;
        if let Some(result) = results.get_mut(i) {
            *result = Ok(applied);
        }
        return Ok(());
    }
    if run.is_empty() {
        return Ok(());
    }
    let all: Vec<moves::Move> = run.iter().map(|(_, m)| *m).collect();
    let flags = moves::move_all(conn, &all).await?;
    for ((i, _), flag) in run.drain(..).zip(flags) {
        if let Some(Ok(applied)) = results.get_mut(i) {
            applied.flags.push(flag);
        }
    }
    Ok(())
}

/// Applies each job under a savepoint of its own, so that one that fails leaves the others'
/// changes in the transaction: the path taken after [`together`] failed.
async fn one_by_one(
    conn: &mut SqliteConnection,
    jobs: &[Job],
    bodies: &[std::io::Result<Vec<Location>>],
) -> Vec<Result<Applied>> {
    let mut results: Vec<Result<Applied>> = Vec::with_capacity(jobs.len());
    for (job, located) in jobs.iter().zip(bodies) {
        let result = match located {
            Err(e) => Err(StoreError::Io(std::io::Error::new(e.kind(), e.to_string()))),
            Ok(locations) => apply_job(conn, job, locations, true).await,
        };
        results.push(result);
    }
    results
}

/// The body a change brings to be stored: an accepted or held message's, or a replacement.
pub(super) fn body(change: &Change) -> Option<&[u8]> {
    match change {
        Change::Accept(m) | Change::Hold { message: m, .. } => Some(&m.body),
        Change::Replace { body, .. } => Some(body),
        _ => None,
    }
}

/// Whether a change stores its message's envelope (see [`Job::envelopes`]).
pub(super) fn stores_envelope(change: &Change) -> bool {
    matches!(change, Change::Accept(_) | Change::Hold { .. })
}

/// Appends every body the jobs' changes carry and syncs once; per job, where they went.
fn write_bodies(log: &mut PayloadLog, jobs: &[Job]) -> Vec<std::io::Result<Vec<Location>>> {
    let mut out: Vec<std::io::Result<Vec<Location>>> = jobs
        .iter()
        .map(|job| {
            job.changes.iter().filter_map(body).zip(&job.checksums).map(|(b, crc)| log.append(b, *crc)).collect()
        })
        .collect();
    if let Err(e) = log.sync() {
        for result in &mut out {
            if result.as_ref().is_ok_and(|l| !l.is_empty()) {
                *result = Err(std::io::Error::new(e.kind(), e.to_string()));
            }
        }
    }
    out
}

async fn rotate(conn: &mut SqliteConnection, log: &mut PayloadLog) -> Result<()> {
    let mut tx = conn.begin().await?;
    sqlx::query("UPDATE segments SET sealed = 1 WHERE id = ?").bind(log.segment()).execute(&mut *tx).await?;
    let next: i64 =
        sqlx::query("INSERT INTO segments (sealed) VALUES (0) RETURNING id").fetch_one(&mut *tx).await?.try_get(0)?;
    tx.commit().await?;
    log.rotate(next)?;
    Ok(())
}

/// Applies one job's changes, under a savepoint of its own when `savepoint` is set (without,
/// the caller rolls back everything when it fails).
async fn apply_job(conn: &mut SqliteConnection, job: &Job, locations: &[Location], savepoint: bool) -> Result<Applied> {
    if savepoint {
        sqlx::query("SAVEPOINT job").execute(&mut *conn).await?;
    }
    let mut applied = Applied { flags: Vec::with_capacity(job.changes.len()), ..Applied::default() };
    let mut bodies = locations.iter();
    let mut envelopes = job.envelopes.iter();
    let mut outcome = match job.chore {
        Some(Chore::Forget(segment)) => forget_segment(conn, segment).await.map(|_| ()),
        Some(Chore::Release { held, now }) => {
            held::release(conn, held, now).await.map(|release| applied.released = Some(release))
        }
        Some(Chore::DeleteHeld(id)) => held::delete(conn, id).await.map(|found| applied.deleted = found),
        None => Ok(()),
    };
    for change in job.changes.iter().take(if outcome.is_ok() { usize::MAX } else { 0 }) {
        let location = body(change).and_then(|_| bodies.next().copied());
        let envelope = stores_envelope(change).then(|| envelopes.next().map(String::as_str)).flatten();
        let done = match change {
            Change::LeaseDue { now, until, limit } => {
                lease_due(conn, *now, *until, *limit).await.map(|leased| applied.leased.extend(leased))
            }
            Change::LeaseOutbound { now, until, limit } => {
                lease_outbound(conn, *now, *until, *limit).await.map(|leased| applied.outbound.extend(leased))
            }
            change => apply(conn, change, location, envelope).await.map(|did| applied.flags.push(did)),
        };
        match done {
            Ok(()) => {}
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    match outcome {
        Ok(()) if !savepoint => Ok(applied),
        Err(e) if !savepoint => Err(e),
        Ok(()) => {
            sqlx::query("RELEASE job").execute(&mut *conn).await?;
            Ok(applied)
        }
        Err(e) => {
            sqlx::query("ROLLBACK TO job").execute(&mut *conn).await?;
            sqlx::query("RELEASE job").execute(&mut *conn).await?;
            Err(e)
        }
    }
}

async fn apply(
    conn: &mut SqliteConnection,
    change: &Change,
    body: Option<Location>,
    envelope: Option<&str>,
) -> Result<bool> {
    match change {
        Change::Accept(m) => {
            let at = body.ok_or_else(|| StoreError::Io(std::io::Error::other("body not written")))?;
            let envelope = envelope.ok_or_else(|| StoreError::Io(std::io::Error::other("envelope not written")))?;
            accept(conn, &acceptance(m, envelope), at).await
        }
        Change::Hold { message, kind, reason, now } => {
            let at = body.ok_or_else(|| StoreError::Io(std::io::Error::other("body not written")))?;
            let envelope = envelope.ok_or_else(|| StoreError::Io(std::io::Error::other("envelope not written")))?;
            held::hold(conn, &Holding { message, envelope, kind: *kind, reason, now: *now }, at).await
        }
        Change::Replace { message, body: new, content_type, format, deliver_after, now } => {
            let at = body.ok_or_else(|| StoreError::Io(std::io::Error::other("body not written")))?;
            let replace = Replacement {
                message: *message,
                size: new.len(),
                content_type,
                format: *format,
                deliver_after: *deliver_after,
                now: *now,
            };
            replace_body(conn, &replace, at).await
        }
        Change::Transition { recipient, from, to, status_text, now, cancel_pushes, report } => {
            let states: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
            let sql = format!(
                "UPDATE recipients SET state = ?, status_text = coalesce(?, status_text), updated_at = ? WHERE id = ? AND state IN ({})",
                states.join(", ")
            );
            // The IN list is built from the state names of the enum, never from input.
            let moved = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(to.as_str())
                .bind(status_text)
                .bind(now)
                .bind(recipient)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                > 0;
            if moved && *cancel_pushes {
                sqlx::query(concat!(
                    "UPDATE pushes SET state = 'cancelled' WHERE recipient = ? AND state IN ",
                    unsent_pushes!()
                ))
                .bind(recipient)
                .execute(&mut *conn)
                .await?;
            }
            if moved && let Some(route) = report {
                queue_report(conn, route, *now).await?;
            }
            Ok(moved)
        }
        Change::ReadReport { recipient, now, report } => {
            let first = sqlx::query("UPDATE recipients SET read_at = ? WHERE id = ? AND read_at IS NULL")
                .bind(now)
                .bind(recipient)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                > 0;
            if first && let Some(route) = report {
                queue_report(conn, route, *now).await?;
            }
            Ok(first)
        }
        Change::Confirmed { recipient, now } => {
            Ok(sqlx::query("UPDATE recipients SET acked_at = ? WHERE id = ? AND acked_at IS NULL")
                .bind(now)
                .bind(recipient)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                > 0)
        }
        Change::TransitionMany { recipients, from, to, now } => {
            let states: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
            let sql = format!(
                "UPDATE recipients SET state = ?, updated_at = ? \
                 WHERE id IN (SELECT value FROM json_each(?)) AND state IN ({})",
                states.join(", ")
            );
            // The IN list is built from the state names of the enum, never from input.
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(to.as_str())
                .bind(now)
                .bind(json(recipients)?)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                > 0)
        }
        // Leases go through `lease_due` and `lease_outbound`, which answer with what they took.
        Change::LeaseDue { .. } | Change::LeaseOutbound { .. } => Ok(false),
        Change::Enqueue { destination, job, now, expires_at } => {
            enqueue_outbound(conn, destination, job, *now, *expires_at).await?;
            Ok(true)
        }
        Change::PushReport { msisdn, report, now } => {
            push_report(conn, msisdn, report, *now).await?;
            Ok(true)
        }
        Change::ResumeWaiting => Ok(resume_waiting(conn).await? > 0),
        Change::OutboundResults(results) => {
            let (leased, _) = OutboundEvent::Sent.transition();
            for r in results {
                // Rescheduled jobs go back to pending; closed ones keep their last due time.
                let state = if r.next.is_some() { OutboundEvent::Retry.transition().1 } else { r.state };
                sqlx::query(
                    "UPDATE outbound SET attempts = ?, next_attempt_at = coalesce(?, next_attempt_at), state = ?, \
                     last_error = ? WHERE id = ? AND state = ?",
                )
                .bind(r.attempts)
                .bind(r.next)
                .bind(state.as_str())
                .bind(&r.error)
                .bind(r.id)
                .bind(leased[0].as_str())
                .execute(&mut *conn)
                .await?;
            }
            Ok(true)
        }
        Change::PushResults(results) => {
            // Pushes with the same outcome (most of a batch: a first attempt, sent) are updated
            // together by id, which costs SQLite far less than taking each row's own values
            // apart from JSON.
            let mut groups: Vec<(&PushResult, Vec<i64>)> = Vec::new();
            for result in results {
                match groups.iter_mut().find(|(first, _)| same_outcome(first, result)) {
                    Some((_, ids)) => ids.push(result.push),
                    None => groups.push((result, vec![result.push])),
                }
            }
            for (outcome, ids) in groups {
                // Rescheduled pushes stay pending; closed ones keep their last due time; set-aside
                // ones wait, due at `next` once resumed.
                sqlx::query(
                    "UPDATE pushes SET attempts = ?, next_attempt_at = coalesce(?, next_attempt_at), \
                     state = ?, last_error = ? \
                     WHERE id IN (SELECT value FROM json_each(?)) AND state = 'leased'",
                )
                .bind(outcome.attempts)
                .bind(outcome.next)
                .bind(match (outcome.state, outcome.next) {
                    ("waiting", _) => "waiting",
                    (_, Some(_)) => "pending",
                    (closed, None) => closed,
                })
                .bind(&outcome.error)
                .bind(json(&ids)?)
                .execute(&mut *conn)
                .await?;
            }
            Ok(true)
        }
        Change::Expire { message } => {
            let freed = sqlx::query("UPDATE messages SET expired = 1 WHERE id = ? AND expired = 0")
                .bind(message)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                > 0;
            if freed {
                sqlx::query(
                    "UPDATE segments SET live = live - 1 WHERE id = (SELECT segment FROM messages WHERE id = ?)",
                )
                .bind(message)
                .execute(&mut *conn)
                .await?;
                sqlx::query(concat!(
                    "UPDATE pushes SET state = 'cancelled' WHERE state IN ",
                    unsent_pushes!(),
                    " AND recipient IN (SELECT id FROM recipients WHERE message = ?)"
                ))
                .bind(message)
                .execute(&mut *conn)
                .await?;
                // A forward still queued has nothing left to send.
                sqlx::query(
                    "UPDATE outbound SET state = 'cancelled' WHERE message = ? AND state IN ('pending', 'leased')",
                )
                .bind(message)
                .execute(&mut *conn)
                .await?;
            }
            Ok(freed)
        }
        // A receipt can overtake the record of its submit (the SMSC answers at once, the push
        // is recorded when its pass ends), so both sides upsert and whichever comes second links
        // the state to the recipient.
        Change::SmscIds(ids) => {
            let ids = json(ids)?;
            sqlx::query(
                "INSERT INTO receipts (link, smsc_id, push) \
                 SELECT json_extract(value, '$.link'), json_extract(value, '$.id'), json_extract(value, '$.push') \
                 FROM json_each(?) WHERE true \
                 ON CONFLICT (link, smsc_id) DO UPDATE SET push = excluded.push",
            )
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
            receipt_status(conn, &ids).await?;
            Ok(true)
        }
        Change::Receipt { link, smsc_id, state, now } => {
            sqlx::query(
                "INSERT INTO receipts (link, smsc_id, state, at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (link, smsc_id) DO UPDATE SET state = excluded.state, at = excluded.at",
            )
            .bind(link)
            .bind(smsc_id)
            .bind(state)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            let key = json(&[serde_json::json!({ "link": link, "id": smsc_id })])?;
            Ok(receipt_status(conn, &key).await?)
        }
    }
}

/// Whether two sends are recorded the same way (all but the push).
fn same_outcome(a: &PushResult, b: &PushResult) -> bool {
    (a.attempts, a.next, a.state, &a.error) == (b.attempts, b.next, b.state, &b.error)
}

/// A message as [`accept`] stores it: all but its body's bytes, which are in a segment already.
/// A [`Change::Accept`] makes one of its message; a release ([`held::release`]) of the message
/// it kept, so a released message is stored exactly as an accepted one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Acceptance<'a> {
    pub envelope: &'a Envelope,
    /// The envelope as stored (JSON).
    pub stored: &'a str,
    pub format: BodyFormat,
    /// Octets of the body.
    pub size: i64,
    pub recipients: &'a [NewRecipient],
    /// When its pushes and forwards are first due.
    pub due: i64,
}

/// What a [`Change::Accept`] of `m`, its envelope stored as `stored`, stores.
fn acceptance<'a>(m: &'a NewMessage, stored: &'a str) -> Acceptance<'a> {
    Acceptance {
        envelope: &m.envelope,
        stored,
        format: m.format,
        size: i64::try_from(m.body.len()).unwrap_or(i64::MAX),
        recipients: &m.recipients,
        due: m.envelope.deliver_after,
    }
}

/// Stores a message, its recipients, a pending push per local recipient waiting for its
/// notification, and one forward job per other destination, as [`batch::accept_all`] stores
/// those of a whole commit; false (nothing stored) when a message with its Message-ID is stored
/// already.
pub(super) async fn accept(conn: &mut SqliteConnection, m: &Acceptance<'_>, at: Location) -> Result<bool> {
    let stored = batch::accept_all(conn, &[(*m, at)]).await?;
    Ok(stored.first().copied().unwrap_or(false))
}

/// A [`Change::Replace`] as its body's place is recorded: all but the bytes, which are written.
struct Replacement<'a> {
    message: i64,
    size: usize,
    content_type: &'a str,
    format: BodyFormat,
    deliver_after: Option<i64>,
    now: i64,
}

/// Points a message at its new body `at` (see [`Change::Replace`]); false, with nothing changed,
/// when a recipient fetched it already or it has expired. The body's bytes are written anyway;
/// left unreferenced, they go with their segment.
async fn replace_body(conn: &mut SqliteConnection, r: &Replacement<'_>, at: Location) -> Result<bool> {
    let fetched = [RecipientState::Retrieved, RecipientState::Acknowledged].map(|s| s.as_str());
    // Read before the update moves it; nothing else writes within the transaction.
    let old: Option<i64> = sqlx::query_scalar("SELECT segment FROM messages WHERE id = ?")
        .bind(r.message)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(old) = old else { return Ok(false) };
    let replaced = sqlx::query(
        "UPDATE messages SET segment = ?, body_offset = ?, body_length = ?, body_crc = ?, size = ?, body_format = ?, \
         deliver_after = coalesce(?, deliver_after), \
         envelope = json_set(envelope, '$.content_type', ?, '$.deliver_after', coalesce(?, deliver_after)) \
         WHERE id = ? AND expired = 0 AND expires_at > ? \
         AND NOT EXISTS (SELECT 1 FROM recipients WHERE message = messages.id AND state IN (?, ?))",
    )
    .bind(at.segment)
    .bind(i64::try_from(at.offset).unwrap_or(i64::MAX))
    .bind(i64::try_from(at.length).unwrap_or(i64::MAX))
    .bind(at.crc)
    .bind(i64::try_from(r.size).unwrap_or(i64::MAX))
    .bind(format_name(r.format))
    .bind(r.deliver_after)
    .bind(r.content_type)
    .bind(r.deliver_after)
    .bind(r.message)
    .bind(r.now)
    .bind(fetched[0])
    .bind(fetched[1])
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    if !replaced {
        return Ok(false);
    }
    // The old body's segment loses a live message (garbage collection removes it once sealed and
    // empty); the new one gains it.
    sqlx::query("UPDATE segments SET live = live - 1 WHERE id = ?").bind(old).execute(&mut *conn).await?;
    sqlx::query("UPDATE segments SET live = live + 1 WHERE id = ?").bind(at.segment).execute(&mut *conn).await?;
    if let Some(when) = r.deliver_after {
        // What has not gone yet goes at the new time: the first notification of a recipient
        // not yet notified, and a forward still queued.
        sqlx::query(
            "UPDATE pushes SET next_attempt_at = ? WHERE state IN ('pending', 'waiting') AND recipient IN \
             (SELECT id FROM recipients WHERE message = ? AND state = ?)",
        )
        .bind(when)
        .bind(r.message)
        .bind(RecipientState::Accepted.as_str())
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE outbound SET next_attempt_at = ? WHERE message = ? AND kind = 'forward' AND state = 'pending'",
        )
        .bind(when)
        .bind(r.message)
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// Queues a report where its route says: a push to a local handset, or an outbound job.
async fn queue_report(conn: &mut SqliteConnection, route: &ReportRoute, now: i64) -> Result<()> {
    match route {
        ReportRoute::Push { msisdn, report } => push_report(conn, msisdn, report, now).await,
        ReportRoute::Outbound { destination, report } => {
            let expires_at = now.saturating_add(REPORT_LIFETIME_SECS);
            enqueue_outbound(conn, destination, &OutboundJob::Report(report.clone()), now, expires_at).await
        }
    }
}

async fn push_report(conn: &mut SqliteConnection, msisdn: &str, report: &Report, now: i64) -> Result<()> {
    sqlx::query("INSERT INTO pushes (msisdn, report, state, next_attempt_at) VALUES (?, ?, 'pending', ?)")
        .bind(msisdn)
        .bind(json(report)?)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The stored payload of a job that carries its own data: a report or an answer.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Payload {
    Report(Report),
    Answer(PeerAnswer),
}

async fn enqueue_outbound(
    conn: &mut SqliteConnection,
    destination: &str,
    job: &OutboundJob,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    let (kind, payload, message, recipients) = match job {
        OutboundJob::Report(r) => ("report", Some(json(&Payload::Report(r.clone()))?), None, None),
        OutboundJob::Answer(a) => ("answer", Some(json(&Payload::Answer(a.clone()))?), None, None),
        OutboundJob::Forward { message, recipients, .. } => {
            let ids: Vec<i64> = recipients.iter().map(|(id, _)| *id).collect();
            ("forward", None, Some(*message), Some(json(&ids)?))
        }
    };
    sqlx::query(
        "INSERT INTO outbound (message, destination, kind, recipients, payload, state, next_attempt_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
    )
    .bind(message)
    .bind(destination)
    .bind(kind)
    .bind(recipients)
    .bind(payload)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn forget_segment(conn: &mut SqliteConnection, segment: i64) -> Result<bool> {
    Ok(sqlx::query("DELETE FROM segments WHERE id = ? AND sealed = 1 AND live <= 0")
        .bind(segment)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        > 0)
}

/// Puts a receipt's state into its recipient's status text, once both the receipt and the
/// submit it answers are recorded; whether it could.
/// Shows the receipted state of these parts (a JSON array of `{link, id}`) in their recipients'
/// status text; false when no receipt for them has come yet.
async fn receipt_status(conn: &mut SqliteConnection, parts: &str) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE recipients SET status_text = 'notification SMS ' || lower(r.state), updated_at = r.at \
         FROM receipts r JOIN pushes p ON p.id = r.push \
         WHERE r.state IS NOT NULL AND recipients.id = p.recipient AND (r.link, r.smsc_id) IN \
         (SELECT json_extract(value, '$.link'), json_extract(value, '$.id') FROM json_each(?))",
    )
    .bind(parts)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0)
}

/// Sends the pushes set aside (`waiting`) back to the due queue, each due when it was before;
/// how many there were.
pub(super) async fn resume_waiting(conn: &mut SqliteConnection) -> Result<u64> {
    Ok(sqlx::query("UPDATE pushes SET state = 'pending' WHERE state = 'waiting'").execute(conn).await?.rows_affected())
}

/// Leases the pushes due at `now`, the earliest due first, and returns them with what their
/// notifications are built from.
///
/// The due pushes come back as one JSON value rather than a row each: the database runs on its
/// own thread and hands rows over one by one, which for a batch cost more thread wake-ups than
/// the lease itself. Within the transaction nothing else writes, so the pushes read are the
/// pushes leased.
async fn lease_due(conn: &mut SqliteConnection, now: i64, until: i64, limit: i64) -> Result<Vec<DuePush>> {
    let due: String = sqlx::query_scalar(
        "SELECT json_group_array(json_array(p.id, p.msisdn, p.attempts, \
         CASE WHEN p.pdu IS NULL THEN NULL ELSE hex(p.pdu) END, json(p.report), r.id, json(m.envelope), m.size, \
         r.transaction_id, r.token)) \
         FROM (SELECT id, msisdn, attempts, pdu, report, recipient FROM pushes \
         WHERE state IN ('pending', 'leased') AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?) AS p \
         LEFT JOIN recipients r ON r.id = p.recipient LEFT JOIN messages m ON m.id = r.message",
    )
    .bind(now)
    .bind(limit)
    .fetch_one(&mut *conn)
    .await?;
    let rows: Vec<DueRow> = serde_json::from_str(&due).map_err(|e| decode_error(&e))?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    sqlx::query("UPDATE pushes SET state = 'leased', next_attempt_at = ? WHERE id IN (SELECT value FROM json_each(?))")
        .bind(until)
        .bind(json(&ids)?)
        .execute(&mut *conn)
        .await?;
    rows.into_iter().map(DueRow::into_push).collect()
}

/// A due push as [`lease_due`] reads it: id, msisdn, attempts, a PDU stored by an older release
/// (hex), a report, and for a notification the recipient, its message's envelope and size, the
/// transaction id and the token.
#[derive(serde::Deserialize)]
struct DueRow(
    i64,
    String,
    i64,
    Option<String>,
    Option<Report>,
    Option<i64>,
    Option<Envelope>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

impl DueRow {
    fn into_push(self) -> Result<DuePush> {
        let DueRow(id, msisdn, attempts, pdu, report, recipient, envelope, size, transaction_id, token) = self;
        // A recipient's push is a notification, built from its message's envelope; any other
        // push carries its report.
        let what = match (recipient, envelope, report, pdu) {
            (Some(recipient), Some(envelope), _, _) => PushContent::Notification(Box::new(NotificationParts {
                recipient,
                envelope,
                size: u64::try_from(size.unwrap_or(0)).unwrap_or(0),
                transaction_id: transaction_id.unwrap_or_default(),
                token: token.unwrap_or_default(),
            })),
            (_, _, Some(report), _) => PushContent::Report(report),
            (_, _, None, Some(pdu)) => PushContent::Pdu(hex::decode(pdu).map_err(|e| decode_error(&e))?),
            _ => return Err(decode_error(&format!("push {id} carries nothing"))),
        };
        Ok(DuePush { id, msisdn, attempts: u32::try_from(attempts).unwrap_or(u32::MAX), what })
    }
}

/// Leases the outbound jobs due at `now`, the earliest due first, with what each needs: a
/// forward its message's envelope, body and recipients; a report or answer its payload. One
/// JSON value for the lot, as [`lease_due`] does.
async fn lease_outbound(conn: &mut SqliteConnection, now: i64, until: i64, limit: i64) -> Result<Vec<DueOutbound>> {
    let due: String = sqlx::query_scalar(
        "SELECT json_group_array(json_array(o.id, o.destination, o.attempts, o.expires_at, json(o.payload), \
         o.message, json(m.envelope), m.body_format, m.segment, m.body_offset, m.body_length, m.body_crc, \
         json((SELECT json_group_array(json_array(r.id, r.address)) FROM recipients r \
         WHERE r.id IN (SELECT value FROM json_each(o.recipients)) AND r.state = 'accepted')))) \
         FROM (SELECT id, destination, attempts, expires_at, payload, message, recipients FROM outbound \
         WHERE state IN ('pending', 'leased') AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?) AS o \
         LEFT JOIN messages m ON m.id = o.message",
    )
    .bind(now)
    .bind(limit)
    .fetch_one(&mut *conn)
    .await?;
    let rows: Vec<OutboundRow> = serde_json::from_str(&due).map_err(|e| decode_error(&e))?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    sqlx::query(
        "UPDATE outbound SET state = 'leased', next_attempt_at = ? WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(until)
    .bind(json(&ids)?)
    .execute(&mut *conn)
    .await?;
    rows.into_iter().map(OutboundRow::into_job).collect()
}

#[derive(serde::Deserialize)]
struct OutboundRow(
    i64,
    String,
    i64,
    i64,
    Option<Payload>,
    Option<i64>,
    Option<Envelope>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<Vec<(i64, String)>>,
);

impl OutboundRow {
    fn into_job(self) -> Result<DueOutbound> {
        let OutboundRow(
            id,
            destination,
            attempts,
            expires_at,
            payload,
            message,
            envelope,
            format,
            seg,
            off,
            len,
            crc,
            rcpts,
        ) = self;
        let job = match (payload, message, envelope, format, seg, off, len) {
            (Some(Payload::Report(r)), ..) => OutboundJob::Report(r),
            (Some(Payload::Answer(a)), ..) => OutboundJob::Answer(a),
            (None, Some(message), Some(envelope), Some(format), Some(segment), Some(offset), Some(length)) => {
                let at = Location {
                    segment,
                    offset: u64::try_from(offset).unwrap_or(0),
                    length: u64::try_from(length).unwrap_or(0),
                    crc: crc.map(|c| c as u32),
                };
                OutboundJob::Forward {
                    message,
                    envelope: Box::new(envelope),
                    format: format_from(&format)?,
                    body: at.to_ref(),
                    recipients: rcpts.unwrap_or_default(),
                }
            }
            _ => return Err(decode_error(&format!("outbound job {id} carries nothing"))),
        };
        Ok(DueOutbound { id, destination, attempts: u32::try_from(attempts).unwrap_or(u32::MAX), expires_at, job })
    }
}

/// Many rows' values as one JSON array, so a batch is one statement rather than one per row.
pub(super) fn json<T: serde::Serialize + ?Sized>(values: &T) -> Result<String> {
    Ok(serde_json::to_string(values).map_err(std::io::Error::other)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::{Instant, sleep};

    fn job(lingers: bool) -> Job {
        let (reply, _) = oneshot::channel();
        Job { changes: Vec::new(), checksums: Vec::new(), envelopes: Vec::new(), chore: None, lingers, reply }
    }

    /// Sends `jobs` into the queue, each after its delay (from the start, in order).
    fn later(tx: &mpsc::Sender<Job>, jobs: Vec<(u64, bool)>) {
        let tx = tx.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            for (ms, lingers) in jobs {
                tokio::time::sleep_until(start + Duration::from_millis(ms)).await;
                tx.send(job(lingers)).await.unwrap();
            }
        });
    }

    #[tokio::test(start_paused = true)]
    async fn jobs_nobody_waits_on_wait_for_company_until_the_linger_ends() {
        let (tx, mut rx) = mpsc::channel(16);
        tx.send(job(true)).await.unwrap();
        later(&tx, vec![(5, true), (10, true), (LINGER.as_millis() as u64 + 5, true)]);
        let (mut jobs, start) = (Vec::new(), Instant::now());
        rx.recv_many(&mut jobs, 64).await;
        linger(&mut rx, &mut jobs, 64).await;
        assert_eq!((jobs.len(), start.elapsed()), (3, LINGER));
        // The one that came too late opens the next batch.
        jobs.clear();
        rx.recv_many(&mut jobs, 64).await;
        assert_eq!(jobs.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_somebody_waits_on_ends_the_wait_and_takes_the_lingering_ones_along() {
        let (tx, mut rx) = mpsc::channel(16);
        tx.send(job(true)).await.unwrap();
        later(&tx, vec![(5, false), (6, true)]);
        let (mut jobs, start) = (Vec::new(), Instant::now());
        rx.recv_many(&mut jobs, 64).await;
        linger(&mut rx, &mut jobs, 64).await;
        assert_eq!(start.elapsed(), Duration::from_millis(5));
        assert_eq!(jobs.iter().map(|j| j.lingers).collect::<Vec<_>>(), [true, false]);
        // Nor does a batch that has one from the start wait at all.
        sleep(Duration::from_millis(2)).await;
        let (mut jobs, start) = (Vec::new(), Instant::now());
        tx.send(job(false)).await.unwrap();
        rx.recv_many(&mut jobs, 64).await;
        linger(&mut rx, &mut jobs, 64).await;
        assert_eq!((jobs.len(), start.elapsed()), (2, Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_or_a_closed_queue_ends_the_wait() {
        let (tx, mut rx) = mpsc::channel(16);
        for _ in 0..4 {
            tx.send(job(true)).await.unwrap();
        }
        let (mut jobs, start) = (Vec::new(), Instant::now());
        rx.recv_many(&mut jobs, 4).await;
        linger(&mut rx, &mut jobs, 4).await;
        assert_eq!((jobs.len(), start.elapsed()), (4, Duration::ZERO));
        tx.send(job(true)).await.unwrap();
        drop(tx);
        let mut jobs = Vec::new();
        rx.recv_many(&mut jobs, 4).await;
        linger(&mut rx, &mut jobs, 4).await;
        assert_eq!((jobs.len(), start.elapsed()), (1, Duration::ZERO));
    }
}
