//! Recipient moves of many requests stored with two statements: the committer gathers the
//! requests of a group commit that are one conditional move each (a retrieval's record, most
//! often) and moves all their recipients with one UPDATE per kind of move, then cancels the
//! pending notifications of those that moved with one more, instead of two statements per
//! request. Every statement is a round trip to the SQLite connection's thread (see `batch.rs`);
//! at 10,000 first retrievals a second these were most of the writer's work.
//!
//! It does exactly what the committer's `Change::Transition` does for a move without a report
//! or a status text, in the same transaction. The committer hands it runs of consecutive
//! requests with no recipient twice, so the order of changes to any one recipient holds, and
//! applies a run of one as it applies any request (measured: the batched statements cost more
//! than the plain one for a single move).

use std::collections::HashSet;

use sqlx::Row;
use sqlx::sqlite::SqliteConnection;

use super::Result;
use super::committer::json;
use crate::core::state::RecipientState;

/// One request's move: `recipient` to `to` if its state is one of `from`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Move {
    pub recipient: i64,
    pub from: &'static [RecipientState],
    pub to: RecipientState,
    pub now: i64,
    pub cancel_pushes: bool,
}

/// Makes the moves (no recipient twice among them); per move, whether it applied.
pub(super) async fn move_all(conn: &mut SqliteConnection, moves: &[Move]) -> Result<Vec<bool>> {
    let mut moved: HashSet<i64> = HashSet::with_capacity(moves.len());
    let mut done = vec![false; moves.len()];
    for (i, first) in moves.iter().enumerate() {
        if done[i] {
            continue;
        }
        // The moves of this kind (same states from, same state to), in one statement.
        let kind: Vec<usize> =
            (i..moves.len()).filter(|&j| !done[j] && moves[j].from == first.from && moves[j].to == first.to).collect();
        let rows: Vec<(i64, i64)> = kind.iter().map(|&j| (moves[j].recipient, moves[j].now)).collect();
        let rows = json(&rows)?;
        let states: Vec<String> = first.from.iter().map(|s| format!("'{}'", s.as_str())).collect();
        // The IN list is built from the state names of the enum, never from input.
        let sql = format!(
            "UPDATE recipients SET state = ?, updated_at = m.now \
             FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS now FROM json_each(?)) AS m \
             WHERE recipients.id = m.id AND recipients.state IN ({}) RETURNING recipients.id",
            states.join(", ")
        );
        let ids =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(first.to.as_str()).bind(rows).fetch_all(&mut *conn).await?;
        for row in ids {
            moved.insert(row.try_get(0)?);
        }
        for j in kind {
            done[j] = true;
        }
    }
    let cancel: Vec<i64> =
        moves.iter().filter(|m| m.cancel_pushes && moved.contains(&m.recipient)).map(|m| m.recipient).collect();
    if !cancel.is_empty() {
        sqlx::query(concat!(
            "UPDATE pushes SET state = 'cancelled' WHERE recipient IN (SELECT value FROM json_each(?)) AND state IN ",
            unsent_pushes!()
        ))
        .bind(json(&cancel)?)
        .execute(&mut *conn)
        .await?;
    }
    Ok(moves.iter().map(|m| moved.contains(&m.recipient)).collect())
}

#[cfg(test)]
mod tests {
    use futures_util::future::join_all;

    use super::super::samples::{NOW, message, scratch};
    use super::super::{Change, Store};
    use crate::core::events;
    use crate::core::model::{DuePush, PushResult};

    /// Twenty messages whose senders asked for no report, so that their retrievals' records are
    /// lone moves; the local recipient of each.
    async fn stored(store: &Store) -> Vec<crate::core::model::Delivery> {
        let accepts = (0..20)
            .map(|i| {
                let mut m = message(&format!("m{i}"), b"x");
                m.envelope.delivery_report = false;
                Change::Accept(Box::new(m))
            })
            .collect();
        store.apply(accepts).await.unwrap();
        let found = join_all((0..20).map(|i| async move { store.by_token(&format!("token-m{i}")).await })).await;
        found.into_iter().map(|d| d.unwrap().unwrap()).collect()
    }

    /// The record of `leased` pushes that nothing could carry: each set aside, no attempt used.
    fn set_aside(leased: &[DuePush]) -> Change {
        let aside = leased
            .iter()
            .map(|p| PushResult {
                push: p.id,
                attempts: 0,
                next: Some(NOW),
                state: "waiting",
                error: Some("no link".into()),
            })
            .collect();
        Change::PushResults(aside)
    }

    async fn count(store: &Store, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&mut *store.read.lend().await.unwrap()).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn records_arriving_together_each_move_their_recipient_once() {
        let dir = scratch("moves-together");
        let (store, _handle) = Store::open(&dir, 64).await.unwrap();
        let deliveries = stored(&store).await;
        assert_eq!(count(&store, "SELECT count(*) FROM pushes WHERE state = 'pending'").await, 20);
        // Every retrieval recorded twice, all at once: the committer takes them in a few group
        // commits, with a recipient twice in most of them.
        let records = deliveries.iter().chain(&deliveries).map(|d| store.apply(vec![events::retrieved(d, true, NOW)]));
        let flags: Vec<bool> = join_all(records).await.into_iter().map(|r| r.unwrap()[0]).collect();
        for i in 0..20 {
            assert!(flags[i] ^ flags[i + 20], "exactly one of the two records of m{i} applies: {flags:?}");
        }
        assert_eq!(count(&store, "SELECT count(*) FROM recipients WHERE state = 'retrieved'").await, 20);
        assert_eq!(count(&store, "SELECT count(*) FROM pushes WHERE state = 'cancelled'").await, 20);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_recipients_changes_keep_their_order_within_a_commit() {
        let dir = scratch("moves-order");
        let (store, _handle) = Store::open(&dir, 64).await.unwrap();
        let deliveries = stored(&store).await;
        // For each recipient, its retrieval then its expiry, queued in that order before either
        // is committed: the retrieval applies and the expiry, coming after it, does not.
        let mut committed = Vec::new();
        for d in &deliveries {
            committed.push(store.queue(vec![events::retrieved(d, true, NOW)]).await.unwrap());
            committed.push(store.queue(vec![events::expired(d, NOW + 1)]).await.unwrap());
        }
        let flags: Vec<bool> = join_all(committed).await.into_iter().map(|r| r.unwrap()[0]).collect();
        assert!(flags.chunks(2).all(|pair| pair == [true, false]), "{flags:?}");
        assert_eq!(count(&store, "SELECT count(*) FROM recipients WHERE state = 'retrieved'").await, 20);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_push_set_aside_leaves_the_queue_until_resumed_and_a_retrieval_cancels_it() {
        let dir = scratch("moves-waiting");
        let (store, _handle) = Store::open(&dir, 64).await.unwrap();
        let deliveries = stored(&store).await;
        let leased = store.lease_due(NOW, NOW + 120, 100).await.unwrap();
        assert_eq!(leased.len(), 20);
        store.apply(vec![set_aside(&leased)]).await.unwrap();
        assert!(store.lease_due(NOW + 600, NOW + 720, 100).await.unwrap().is_empty(), "waiting is not due");
        store.apply(vec![events::retrieved(&deliveries[0], true, NOW)]).await.unwrap();
        assert_eq!(count(&store, "SELECT count(*) FROM pushes WHERE state = 'waiting'").await, 19);
        assert_eq!(count(&store, "SELECT count(*) FROM pushes WHERE state = 'cancelled'").await, 1);
        store.apply(vec![Change::ResumeWaiting]).await.unwrap();
        let again = store.lease_due(NOW + 1, NOW + 121, 100).await.unwrap();
        assert_eq!(again.len(), 19, "due again from when they were set aside");
        assert!(again.iter().all(|p| p.attempts == 0), "no attempt used up");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn pushes_set_aside_by_the_previous_run_are_due_again_at_start() {
        let dir = scratch("moves-waiting-restart");
        let (store, handle) = Store::open(&dir, 64).await.unwrap();
        stored(&store).await;
        let leased = store.lease_due(NOW, NOW + 120, 100).await.unwrap();
        store.apply(vec![set_aside(&leased)]).await.unwrap();
        drop(store);
        handle.closed().await;
        let (store, _handle) = Store::open(&dir, 64).await.unwrap();
        assert_eq!(store.lease_due(NOW + 1, NOW + 121, 100).await.unwrap().len(), 20);
    }
}
