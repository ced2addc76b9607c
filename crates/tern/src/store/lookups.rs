//! Lookups of recipients by retrieval token, the one query every retrieval makes: on a thread
//! of their own, with a read-only connection of their own, through rusqlite over the same SQLite
//! library sqlx links. Through sqlx each lookup cost a hand-over to a connection's thread and
//! back, a copy of every column of the row into memory SQLite allocates (freed later on another
//! thread), and the row's decoding on the runtime's thread; here the thread reads the columns in
//! place and hands back the recipient decoded: a fifth fewer instructions per retrieval and 12%
//! less CPU (see docs/BENCHMARKS.md). The tokens asked for while it works are looked up together
//! in one read transaction. A lookup that waits for the disk holds up this thread only.

use std::path::Path;

use tokio::sync::{mpsc, oneshot};

use super::{Columns, Delivery, Result, StoreError, delivery};

/// Tokens one read transaction looks up at most.
const GROUP_MAX: usize = 64;

type Answer = oneshot::Sender<Result<Option<Delivery>>>;

#[derive(Debug, Clone)]
pub struct Lookups {
    requests: mpsc::Sender<(String, Answer)>,
}

impl Lookups {
    /// Opens the connection to the database at `path` and starts the thread; it stops when the
    /// last `Lookups` is dropped.
    pub fn start(path: &Path) -> Result<Lookups> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(sqlite_error)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sqlite_error)?;
        let (requests, queue) = mpsc::channel(GROUP_MAX * 4);
        std::thread::Builder::new().name("tern-lookups".into()).spawn(move || run(&conn, queue))?;
        Ok(Lookups { requests })
    }

    /// The recipient whose retrieval token is `token`.
    pub async fn by_token(&self, token: &str) -> Result<Option<Delivery>> {
        let (answer, answered) = oneshot::channel();
        self.requests.send((token.to_owned(), answer)).await.map_err(|_| StoreError::Closed)?;
        answered.await.map_err(|_| StoreError::Closed)?
    }
}

/// Takes whatever tokens are waiting (one at least), looks them up, answers, and again.
fn run(conn: &rusqlite::Connection, mut queue: mpsc::Receiver<(String, Answer)>) {
    let mut group = Vec::with_capacity(GROUP_MAX);
    while let Some(first) = queue.blocking_recv() {
        group.push(first);
        while group.len() < GROUP_MAX
            && let Ok(next) = queue.try_recv()
        {
            group.push(next);
        }
        match conn.unchecked_transaction() {
            Ok(tx) => {
                for (token, answer) in group.drain(..) {
                    let _ = answer.send(lookup(&tx, &token));
                }
                // It only read: a failure to end it loses nothing (it is rolled back when dropped).
                let _ = tx.commit();
            }
            Err(e) => {
                // Each asker hears of the failure; the error itself can be given to one only.
                let text = e.to_string();
                for (_, answer) in group.drain(..) {
                    let _ = answer.send(Err(lookup_error(&text)));
                }
            }
        }
    }
}

fn lookup(conn: &rusqlite::Connection, token: &str) -> Result<Option<Delivery>> {
    let mut statement = conn.prepare_cached(delivery_query!("r.token = ?")).map_err(sqlite_error)?;
    let mut rows = statement.query([token]).map_err(sqlite_error)?;
    let Some(row) = rows.next().map_err(sqlite_error)? else { return Ok(None) };
    delivery(row).map(Some)
}

impl Columns for rusqlite::Row<'_> {
    fn int(&self, i: usize) -> Result<i64> {
        self.get(i).map_err(sqlite_error)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        self.get(i).map_err(sqlite_error)
    }
    fn text(&self, i: usize) -> Result<&str> {
        self.get_ref(i).and_then(|v| Ok(v.as_str()?)).map_err(sqlite_error)
    }
    fn opt_text(&self, i: usize) -> Result<Option<&str>> {
        self.get_ref(i).and_then(|v| Ok(v.as_str_or_null()?)).map_err(sqlite_error)
    }
}

fn sqlite_error(e: rusqlite::Error) -> StoreError {
    lookup_error(&e)
}

fn lookup_error(e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Io(std::io::Error::other(format!("token lookup: {e}")))
}

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
