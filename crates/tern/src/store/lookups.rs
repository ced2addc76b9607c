//! Lookups of recipients by retrieval token, grouped. Every query is a hand-over to a SQLite
//! connection's thread and back, and on a retrieval that hand-over cost more than the query
//! (see docs/BENCHMARKS.md). So one task looks tokens up, and the tokens asked for while its
//! query runs are gathered and looked up together by the next, one query for the group, as the
//! committer groups writes. An idle relay looks each token up alone, at once.
//!
//! One task, not several: with four, the groups were a third the size and retrieval slower
//! (measured). The lookups are index searches in pages the OS keeps cached, and a group of
//! them takes well under a millisecond.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use tokio::sync::{mpsc, oneshot};

use super::readers::Readers;
use super::{Delivery, Result, StoreError, delivery};

/// Tokens one query looks up at most.
const GROUP_MAX: usize = 64;

type Answer = oneshot::Sender<Result<Option<Delivery>>>;

#[derive(Debug, Clone)]
pub struct Lookups {
    requests: mpsc::Sender<(String, Answer)>,
}

impl Lookups {
    /// Starts the task; it stops when the last `Lookups` is dropped.
    pub fn start(readers: Arc<Readers>) -> Lookups {
        let (requests, queue) = mpsc::channel(GROUP_MAX * 4);
        tokio::spawn(run(readers, queue));
        Lookups { requests }
    }

    /// The recipient whose retrieval token is `token`.
    pub async fn by_token(&self, token: &str) -> Result<Option<Delivery>> {
        let (answer, answered) = oneshot::channel();
        self.requests.send((token.to_owned(), answer)).await.map_err(|_| StoreError::Closed)?;
        answered.await.map_err(|_| StoreError::Closed)?
    }
}

/// Takes whatever tokens are waiting (one at least), looks them up, answers, and again.
async fn run(readers: Arc<Readers>, mut queue: mpsc::Receiver<(String, Answer)>) {
    let mut group = Vec::with_capacity(GROUP_MAX);
    while queue.recv_many(&mut group, GROUP_MAX).await > 0 {
        match lookup(&readers, &group).await {
            Ok(rows) => {
                for (token, answer) in group.drain(..) {
                    let _ = answer.send(rows.get(&token).map(delivery).transpose());
                }
            }
            Err(e) => {
                // Each asker hears of the failure; the error itself can be given to one only.
                let text = e.to_string();
                for (_, answer) in group.drain(..) {
                    let _ = answer.send(Err(StoreError::Io(std::io::Error::other(format!("token lookup: {text}")))));
                }
            }
        }
    }
}

/// The rows of the tokens of `group` that exist, by token.
async fn lookup(readers: &Readers, group: &[(String, Answer)]) -> Result<HashMap<String, SqliteRow>> {
    let shape = group.len().next_power_of_two();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(searches(shape)));
    // The searches past the group's end look for the empty token, which no recipient has.
    for i in 0..shape {
        query = query.bind(group.get(i).map_or("", |(token, _)| token.as_str()));
    }
    let mut conn = readers.lend().await?;
    let rows = query.fetch_all(&mut *conn).await?;
    rows.into_iter().map(|row| Ok((row.try_get::<String, _>(TOKEN_COLUMN)?, row))).collect()
}

/// The query that looks up `n` tokens (a power of two, at most [`GROUP_MAX`]): one search of the
/// token index per token, joined by `UNION ALL`. Not `token IN (...)`: for any list of more
/// than one value SQLite builds a temporary table of the values first, which cost more than
/// the searches (see docs/BENCHMARKS.md). Powers of two, so that each reader connection
/// prepares a handful of statements, not one per group size.
fn searches(n: usize) -> &'static str {
    static SEARCHES: OnceLock<Vec<String>> = OnceLock::new();
    let all = SEARCHES.get_or_init(|| {
        std::iter::successors(Some(1), |n| (n * 2 <= GROUP_MAX).then_some(n * 2))
            .map(|n| vec![delivery_query!("r.token = ?"); n].join(" UNION ALL "))
            .collect()
    });
    &all[n.trailing_zeros() as usize]
}

/// Where `delivery_query!` puts the recipient's token.
const TOKEN_COLUMN: usize = 15;

#[cfg(test)]
mod tests {
    use futures_util::future::join_all;

    use super::super::samples::{LOCAL, message, scratch};
    use super::super::{Change, Store};

    #[tokio::test(flavor = "multi_thread")]
    async fn tokens_asked_for_together_each_get_their_own_recipient() {
        let dir = scratch("lookups");
        let (store, _handle) = Store::open(&dir, 64).await.unwrap();
        let accepts = (0..20).map(|i| Change::Accept(Box::new(message(&format!("m{i}"), b"x")))).collect();
        store.apply(accepts).await.unwrap();
        // 60 lookups at once, so that they are grouped: every stored token twice, and tokens
        // nobody has.
        let tokens: Vec<String> =
            (0..20).flat_map(|i| [format!("token-m{i}"), format!("token-m{i}"), format!("token-none{i}")]).collect();
        let found = join_all(tokens.iter().map(|t| store.by_token(t))).await;
        for (token, found) in tokens.iter().zip(found) {
            let found = found.unwrap();
            match token.strip_prefix("token-m") {
                Some(i) => {
                    let d = found.unwrap();
                    assert_eq!((d.address.as_str(), d.envelope.message_id.as_str()), (LOCAL, format!("m{i}").as_str()));
                }
                None => assert!(found.is_none(), "{token}"),
            }
        }
    }
}
