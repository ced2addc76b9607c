//! The single writer. Requests queue their changes; the committer takes everything queued (up
//! to a batch limit), appends the batch's bodies to the open segment and syncs it once, then
//! applies every request's changes in one SQLite transaction (each under its own savepoint, so
//! one bad request cannot fail the others) and commits with one WAL fsync. Only then does any
//! request hear back.

use std::path::PathBuf;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::payloads::PayloadLog;
use super::{Result, StoreError};
use crate::core::model::{Change, DuePush, Location, NewMessage, NotificationParts, PushResult};
use crate::core::state::RecipientState;

/// What a request's changes did: for each change but a lease, whether it applied; and the
/// pushes its leases took.
#[derive(Debug, Default)]
pub(super) struct Applied {
    pub flags: Vec<bool>,
    pub leased: Vec<DuePush>,
}

pub(super) struct Job {
    pub changes: Vec<Change>,
    /// The checksum of each accepted message's body, in order, worked out by the caller so that
    /// the committer, which every request waits on, does not spend its time on it.
    pub checksums: Vec<u32>,
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
        let results = commit(&mut conn, &mut log, &jobs).await;
        for (job, result) in jobs.drain(..).zip(results) {
            let _ = job.reply.send(result);
        }
    }
    let _ = conn.close().await;
}

async fn commit(conn: &mut SqliteConnection, log: &mut PayloadLog, jobs: &[Job]) -> Vec<Result<Applied>> {
    if log.is_full()
        && let Err(e) = rotate(conn, log).await
    {
        tracing::error!(error = %e, "cannot start a new payload segment");
    }
    // Bodies first and durable, so no committed row ever points at bytes that could be lost.
    // Handing the runtime's thread over costs a thread wake-up, worth it only for a write.
    let writes = jobs.iter().any(|job| job.changes.iter().any(|c| matches!(c, Change::Accept(_))));
    let bodies = if writes {
        tokio::task::block_in_place(|| write_bodies(log, jobs))
    } else {
        jobs.iter().map(|_| Ok(Vec::new())).collect()
    };
    let mut results: Vec<Result<Applied>> = Vec::with_capacity(jobs.len());
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        return jobs.iter().map(|_| Err(StoreError::Db(sqlx::Error::Protocol(e.to_string())))).collect();
    }
    // A job alone needs no savepoint: if it fails, the whole transaction is rolled back.
    let alone = jobs.len() == 1;
    for (job, located) in jobs.iter().zip(&bodies) {
        let result = match located {
            Err(e) => Err(StoreError::Io(std::io::Error::new(e.kind(), e.to_string()))),
            Ok(locations) => apply_job(conn, job, locations, alone).await,
        };
        results.push(result);
    }
    if alone && results.iter().any(Result::is_err) {
        if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
            tracing::error!(error = %e, "cannot roll back a failed change");
        }
        return results;
    }
    if let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
        tracing::error!(error = %e, "group commit failed");
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return jobs.iter().map(|_| Err(StoreError::Db(sqlx::Error::Protocol(e.to_string())))).collect();
    }
    results
}

/// Appends the bodies of every accepted message and syncs once; per job, where they went.
fn write_bodies(log: &mut PayloadLog, jobs: &[Job]) -> Vec<std::io::Result<Vec<Location>>> {
    let mut out: Vec<std::io::Result<Vec<Location>>> = jobs
        .iter()
        .map(|job| {
            job.changes
                .iter()
                .filter_map(|c| match c {
                    Change::Accept(m) => Some(m),
                    _ => None,
                })
                .zip(&job.checksums)
                .map(|(m, crc)| log.append(&m.body, *crc))
                .collect()
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

/// Applies one job's changes, under a savepoint of its own unless it is `alone` in the
/// transaction (whose caller then rolls back everything when it fails).
async fn apply_job(conn: &mut SqliteConnection, job: &Job, locations: &[Location], alone: bool) -> Result<Applied> {
    if !alone {
        sqlx::query("SAVEPOINT job").execute(&mut *conn).await?;
    }
    let mut applied = Applied { flags: Vec::with_capacity(job.changes.len()), leased: Vec::new() };
    let mut bodies = locations.iter();
    let mut outcome = Ok(());
    for change in &job.changes {
        let location = matches!(change, Change::Accept(_)).then(|| bodies.next().copied()).flatten();
        let done = match change {
            Change::LeaseDue { now, until, limit } => {
                lease_due(conn, *now, *until, *limit).await.map(|leased| applied.leased.extend(leased))
            }
            change => apply(conn, change, location).await.map(|did| applied.flags.push(did)),
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
        Ok(()) if alone => Ok(applied),
        Err(e) if alone => Err(e),
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

async fn apply(conn: &mut SqliteConnection, change: &Change, body: Option<Location>) -> Result<bool> {
    match change {
        Change::Accept(m) => {
            let at = body.ok_or_else(|| StoreError::Io(std::io::Error::other("body not written")))?;
            accept(conn, m, at).await?;
            Ok(true)
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
                sqlx::query(
                    "UPDATE pushes SET state = 'cancelled' WHERE recipient = ? AND state IN ('pending', 'leased')",
                )
                .bind(recipient)
                .execute(&mut *conn)
                .await?;
            }
            if moved && let Some((msisdn, pdu)) = report {
                enqueue(conn, msisdn, pdu, *now).await?;
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
            if first && let Some((msisdn, pdu)) = report {
                enqueue(conn, msisdn, pdu, *now).await?;
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
        // Leases go through `lease_due`, which answers with the pushes it took.
        Change::LeaseDue { .. } => Ok(false),
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
                // Rescheduled pushes stay pending; closed ones keep their last due time.
                sqlx::query(
                    "UPDATE pushes SET attempts = ?, next_attempt_at = coalesce(?, next_attempt_at), \
                     state = ?, last_error = ? \
                     WHERE id IN (SELECT value FROM json_each(?)) AND state = 'leased'",
                )
                .bind(outcome.attempts)
                .bind(outcome.next)
                .bind(if outcome.next.is_some() { "pending" } else { outcome.state })
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
                sqlx::query(
                    "UPDATE pushes SET state = 'cancelled' WHERE state IN ('pending', 'leased') AND recipient IN \
                     (SELECT id FROM recipients WHERE message = ?)",
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
        Change::ForgetSegment { segment } => {
            Ok(sqlx::query("DELETE FROM segments WHERE id = ? AND sealed = 1 AND live <= 0")
                .bind(segment)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                > 0)
        }
    }
}

/// Whether two sends are recorded the same way (all but the push).
fn same_outcome(a: &PushResult, b: &PushResult) -> bool {
    (a.attempts, a.next, a.state, &a.error) == (b.attempts, b.next, b.state, &b.error)
}

async fn accept(conn: &mut SqliteConnection, m: &NewMessage, at: Location) -> Result<()> {
    let id: i64 = sqlx::query(
        "INSERT INTO messages (message_id, sender, date, expires_at, deliver_after, delivery_report, read_report, \
         size, notification, retrieve, segment, body_offset, body_length, body_crc) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&m.message_id)
    .bind(&m.sender)
    .bind(m.date)
    .bind(m.expires_at)
    .bind(m.deliver_after)
    .bind(m.delivery_report)
    .bind(m.read_report)
    .bind(i64::try_from(m.body.len()).unwrap_or(i64::MAX))
    .bind(&m.notification)
    .bind(&m.retrieve)
    .bind(at.segment)
    .bind(i64::try_from(at.offset).unwrap_or(i64::MAX))
    .bind(i64::try_from(at.length).unwrap_or(i64::MAX))
    .bind(at.crc)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    sqlx::query("UPDATE segments SET live = live + 1 WHERE id = ?").bind(at.segment).execute(&mut *conn).await?;
    for r in &m.recipients {
        let rid: i64 = sqlx::query(
            "INSERT INTO recipients (message, address, route, token, transaction_id, state, status_text, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(id)
        .bind(&r.address)
        .bind(&r.route)
        .bind(&r.token)
        .bind(&r.transaction_id)
        .bind(r.state.as_str())
        .bind(&r.status_text)
        .bind(m.date)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
        if r.state == RecipientState::Accepted {
            sqlx::query("INSERT INTO pushes (recipient, msisdn, state, next_attempt_at) VALUES (?, ?, 'pending', ?)")
                .bind(rid)
                .bind(&r.address)
                .bind(m.deliver_after)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
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
         CASE WHEN p.pdu IS NULL THEN NULL ELSE hex(p.pdu) END, r.id, \
         CASE WHEN m.notification IS NULL THEN NULL ELSE hex(m.notification) END, \
         r.transaction_id, r.token, m.expires_at)) \
         FROM (SELECT id, msisdn, attempts, pdu, recipient FROM pushes \
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

/// A due push as [`lease_due`] reads it: id, msisdn, attempts, its stored PDU (hex), and for a
/// notification the recipient, the message's template (hex), transaction id, token and expiry.
#[derive(serde::Deserialize)]
struct DueRow(
    i64,
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

impl DueRow {
    fn into_push(self) -> Result<DuePush> {
        let DueRow(id, msisdn, attempts, pdu, recipient, template, transaction_id, token, expires_at) = self;
        let unhex = |h: String| hex::decode(h).map_err(|e| decode_error(&e));
        // A recipient's push is a notification, built from its message's template; any other
        // push carries its PDU.
        let notification = match (recipient, template) {
            (Some(recipient), Some(template)) => Some(NotificationParts {
                recipient,
                template: unhex(template)?,
                transaction_id: transaction_id.unwrap_or_default(),
                token: token.unwrap_or_default(),
                expires_at: expires_at.unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(DuePush {
            id,
            msisdn,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            pdu: pdu.map(unhex).transpose()?,
            notification,
        })
    }
}

fn decode_error(e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Db(sqlx::Error::Decode(e.to_string().into()))
}

/// Many rows' values as one JSON array, so a batch is one statement rather than one per row.
fn json<T: serde::Serialize + ?Sized>(values: &T) -> Result<String> {
    Ok(serde_json::to_string(values).map_err(std::io::Error::other)?)
}

async fn enqueue(conn: &mut SqliteConnection, msisdn: &str, pdu: &[u8], at: i64) -> Result<()> {
    sqlx::query("INSERT INTO pushes (msisdn, pdu, state, next_attempt_at) VALUES (?, ?, 'pending', ?)")
        .bind(msisdn)
        .bind(pdu)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
