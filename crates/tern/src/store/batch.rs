//! Accepted messages of a whole group commit stored with a handful of statements: one multi-row
//! INSERT for the messages, one for their recipients, one for the pushes and one for the
//! forward jobs, and one live-count update per segment, instead of four statements (and a
//! savepoint's two) per message.
//!
//! Why: the SQLite driver runs the connection on a thread of its own and every statement is a
//! round trip to it (a channel send and a thread wake-up each way). Measured on the MM1 accept
//! path, those hand-overs were the largest cost of a submission, far above SQLite's own work, so
//! the statements a commit makes are what to save.
//!
//! It stores exactly what [`super::committer::accept`] stores for each message, in the same
//! transaction; the committer falls back to that one-by-one path (with a savepoint per request)
//! whenever anything here fails, so one bad request still cannot fail the others.

use std::collections::HashMap;

use sqlx::sqlite::{Sqlite, SqliteConnection};
use sqlx::{QueryBuilder, Row};

use super::Result;
use super::committer::Acceptance;
use super::format_name;
use super::payloads::Location;
use crate::core::state::RecipientState;

/// Rows per INSERT, so that no statement binds more than SQLite's 32,766 variables (12 a message
/// row at most).
const ROWS: usize = 2048;

/// Stores each acceptance with the body at its location; per acceptance, whether it was stored
/// (false when its Message-ID was stored before, or earlier in the same batch).
pub(super) async fn accept_all(conn: &mut SqliteConnection, all: &[(Acceptance<'_>, Location)]) -> Result<Vec<bool>> {
    let ids = insert_messages(conn, all).await?;
    let stored: Vec<(&Acceptance<'_>, i64)> =
        all.iter().zip(&ids).filter_map(|((a, _), id)| id.map(|id| (a, id))).collect();
    let recipients = insert_recipients(conn, &stored).await?;
    insert_pushes(conn, &stored, &recipients).await?;
    insert_forwards(conn, &stored, &recipients).await?;
    let mut live: HashMap<i64, i64> = HashMap::new();
    for ((_, at), id) in all.iter().zip(&ids) {
        if id.is_some() {
            *live.entry(at.segment).or_default() += 1;
        }
    }
    for (segment, count) in live {
        sqlx::query("UPDATE segments SET live = live + ? WHERE id = ?")
            .bind(count)
            .bind(segment)
            .execute(&mut *conn)
            .await?;
    }
    Ok(ids.iter().map(Option::is_some).collect())
}

/// The messages' rows; per acceptance, its new row's id, or `None` when its Message-ID was
/// there before or comes earlier in the batch.
async fn insert_messages(conn: &mut SqliteConnection, all: &[(Acceptance<'_>, Location)]) -> Result<Vec<Option<i64>>> {
    let mut inserted: HashMap<String, i64> = HashMap::with_capacity(all.len());
    for chunk in all.chunks(ROWS) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO messages (message_id, sender, date, expires_at, deliver_after, envelope, body_format, size, \
             segment, body_offset, body_length, body_crc) ",
        );
        q.push_values(chunk, |mut row, (m, at)| {
            let env = m.envelope;
            row.push_bind(&env.message_id)
                .push_bind(&env.originator)
                .push_bind(env.date)
                .push_bind(env.expires_at)
                .push_bind(env.deliver_after)
                .push_bind(m.stored)
                .push_bind(format_name(m.format))
                .push_bind(m.size)
                .push_bind(at.segment)
                .push_bind(i64::try_from(at.offset).unwrap_or(i64::MAX))
                .push_bind(i64::try_from(at.length).unwrap_or(i64::MAX))
                .push_bind(at.crc);
        });
        q.push(" ON CONFLICT (message_id) DO NOTHING RETURNING id, message_id");
        for row in q.build().persistent(false).fetch_all(&mut *conn).await? {
            inserted.insert(row.try_get(1)?, row.try_get(0)?);
        }
    }
    // A Message-ID twice in one batch: SQLite inserted the first row, the later one did nothing.
    Ok(all.iter().map(|(m, _)| inserted.remove(&m.envelope.message_id)).collect())
}

/// The recipients' rows of the stored messages; their ids by message row and address (unique
/// within a message: the intake removes repeats).
async fn insert_recipients(
    conn: &mut SqliteConnection,
    stored: &[(&Acceptance<'_>, i64)],
) -> Result<HashMap<(i64, String), i64>> {
    let rows: Vec<(i64, i64, &crate::core::model::NewRecipient)> =
        stored.iter().flat_map(|(m, id)| m.recipients.iter().map(move |r| (*id, m.envelope.date, r))).collect();
    let mut ids = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO recipients (message, address, route, token, transaction_id, state, status_text, updated_at) ",
        );
        q.push_values(chunk, |mut row, (id, date, r)| {
            row.push_bind(*id)
                .push_bind(&r.address)
                .push_bind(&r.destination)
                .push_bind(&r.token)
                .push_bind(&r.transaction_id)
                .push_bind(r.state.as_str())
                .push_bind(&r.status_text)
                .push_bind(*date);
        });
        q.push(" RETURNING id, message, address");
        for row in q.build().persistent(false).fetch_all(&mut *conn).await? {
            ids.insert((row.try_get(1)?, row.try_get(2)?), row.try_get(0)?);
        }
    }
    Ok(ids)
}

/// A pending push for each local recipient waiting for its notification.
async fn insert_pushes(
    conn: &mut SqliteConnection,
    stored: &[(&Acceptance<'_>, i64)],
    recipients: &HashMap<(i64, String), i64>,
) -> Result<()> {
    let rows: Vec<(i64, &str, i64)> = stored
        .iter()
        .flat_map(|(m, id)| {
            m.recipients.iter().filter(|r| r.state == RecipientState::Accepted && r.destination == "local").filter_map(
                move |r| recipients.get(&(*id, r.address.clone())).map(|rid| (*rid, r.address.as_str(), m.due)),
            )
        })
        .collect();
    for chunk in rows.chunks(ROWS) {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO pushes (recipient, msisdn, state, next_attempt_at) ");
        q.push_values(chunk, |mut row, (rid, msisdn, due)| {
            row.push_bind(*rid).push_bind(*msisdn).push_bind("pending").push_bind(*due);
        });
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// One forward job per message and destination other than local, for its recipients waiting
/// there, in the order they were listed.
async fn insert_forwards(
    conn: &mut SqliteConnection,
    stored: &[(&Acceptance<'_>, i64)],
    recipients: &HashMap<(i64, String), i64>,
) -> Result<()> {
    let mut rows: Vec<(i64, &str, String, i64, i64)> = Vec::new();
    for (m, id) in stored {
        let mut forwards: Vec<(&str, Vec<i64>)> = Vec::new();
        let waiting = m.recipients.iter().filter(|r| r.state == RecipientState::Accepted && r.destination != "local");
        for r in waiting {
            let Some(rid) = recipients.get(&(*id, r.address.clone())) else { continue };
            match forwards.iter_mut().find(|(d, _)| *d == r.destination) {
                Some((_, ids)) => ids.push(*rid),
                None => forwards.push((&r.destination, vec![*rid])),
            }
        }
        for (destination, ids) in forwards {
            rows.push((*id, destination, super::committer::json(&ids)?, m.due, m.envelope.expires_at));
        }
    }
    for chunk in rows.chunks(ROWS) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO outbound (message, destination, kind, recipients, state, next_attempt_at, expires_at) ",
        );
        q.push_values(chunk, |mut row, (id, destination, ids, due, expires)| {
            row.push_bind(*id)
                .push_bind(*destination)
                .push_bind("forward")
                .push_bind(ids.as_str())
                .push_bind("pending")
                .push_bind(*due)
                .push_bind(*expires);
        });
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use futures_util::future::join_all;

    use super::super::samples::{message, scratch};
    use super::super::{Change, Store};

    async fn count(store: &Store, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut *store.read.lend().await.unwrap()).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn messages_accepted_side_by_side_are_stored_as_one_at_a_time_would_be() {
        let dir = scratch("batch-accept");
        let (store, _handle) = Store::open(&dir, 64).await.unwrap();
        assert_eq!(store.apply(vec![Change::Accept(Box::new(message("before", b"x")))]).await.unwrap(), [true]);
        // 40 requests at once: the committer takes them in a few group commits. "before" was
        // stored already, and "twice" comes twice.
        let mut ids: Vec<String> = (0..37).map(|i| format!("m{i}")).collect();
        ids.extend(["before".into(), "twice".into(), "twice".into()]);
        let applies = ids.iter().map(|id| store.apply(vec![Change::Accept(Box::new(message(id, id.as_bytes())))]));
        let flags: Vec<bool> = join_all(applies).await.into_iter().map(|r| r.unwrap()[0]).collect();
        assert!(flags[..37].iter().all(|f| *f), "{flags:?}");
        assert!(!flags[37], "a Message-ID stored before is not stored again");
        assert_eq!(flags[38..].iter().filter(|f| **f).count(), 1, "one of the two repeats is stored");
        assert_eq!(count(&store, "SELECT count(*) FROM messages").await, 39);
        assert_eq!(count(&store, "SELECT count(*) FROM recipients").await, 78);
        let pushes = "SELECT count(*) FROM pushes p JOIN recipients r ON r.id = p.recipient \
                      WHERE p.msisdn = r.address AND r.route = 'local' AND p.state = 'pending'";
        assert_eq!(count(&store, pushes).await, 39, "a pending push per local recipient");
        let forwards = "SELECT count(*) FROM outbound o JOIN recipients r ON o.recipients = json_array(r.id) \
                        WHERE o.message = r.message AND r.route = 'mm4:peer' AND o.kind = 'forward'";
        assert_eq!(count(&store, forwards).await, 39, "a forward per peer recipient, naming it");
        assert_eq!(count(&store, "SELECT sum(live) FROM segments").await, 39);
        let d = store.by_token("token-m7").await.unwrap().unwrap();
        assert_eq!(store.body(&d.body).await.unwrap(), &b"m7"[..], "each message points at its own body");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_request_that_fails_leaves_the_others_of_its_commit_stored() {
        let dir = scratch("batch-fallback");
        let (store, _handle) = Store::open(&dir, 64).await.unwrap();
        assert_eq!(store.apply(vec![Change::Accept(Box::new(message("first", b"x")))]).await.unwrap(), [true]);
        // A message whose retrieval token is taken already cannot be stored.
        let mut clash = message("clash", b"y");
        clash.recipients[0].token = Some("token-first".into());
        let mut changes: Vec<Vec<Change>> =
            (0..20).map(|i| vec![Change::Accept(Box::new(message(&format!("ok{i}"), b"z")))]).collect();
        changes.insert(10, vec![Change::Accept(Box::new(clash))]);
        let results = join_all(changes.into_iter().map(|c| store.apply(c))).await;
        assert!(results[10].is_err(), "{:?}", results[10]);
        assert!(results.iter().enumerate().all(|(i, r)| i == 10 || r.as_ref().unwrap() == &[true]), "{results:?}");
        assert_eq!(count(&store, "SELECT count(*) FROM messages").await, 21);
        assert_eq!(count(&store, "SELECT count(*) FROM messages WHERE message_id = 'clash'").await, 0);
        assert_eq!(count(&store, "SELECT count(*) FROM recipients").await, 42);
        assert_eq!(count(&store, "SELECT sum(live) FROM segments").await, 21);
    }
}
