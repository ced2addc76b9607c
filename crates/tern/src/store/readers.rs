//! The store's read-only SQLite connections, lent to one query (or one read transaction) at a
//! time and opened as they are first needed, up to a fixed number.
//!
//! Not sqlx's pool: each SQLite connection lives on a thread of its own, and the pool pings
//! that thread before lending a connection and again when it comes back, so one query cost
//! three round trips between threads where it needs one. On a retrieval (whose token lookups
//! went through these connections then; they have a thread of their own now, `lookups.rs`)
//! those hand-overs were a larger share of the relay's time than the query and the body read
//! together (see docs/BENCHMARKS.md). A connection whose query was abandoned half way is still
//! safe to lend again: its thread runs commands in order, and stops sending rows nobody reads.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::{Result, StoreError};

/// How long a reader waits for a connection before the read fails (as sqlx's pool would).
const LEND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Readers {
    options: SqliteConnectOptions,
    /// Connections not lent out; the most recently returned is lent first, so an idle relay
    /// keeps using the same few threads.
    idle: Mutex<Vec<SqliteConnection>>,
    /// One permit per connection that may be lent, opened or not.
    permits: Semaphore,
}

impl Readers {
    /// At most `max` connections, opened with `options` (which should be read-only).
    pub fn new(options: SqliteConnectOptions, max: usize) -> Readers {
        Readers { options, idle: Mutex::new(Vec::with_capacity(max)), permits: Semaphore::new(max) }
    }

    /// A connection for one query or read transaction; it goes back when the [`Lent`] drops.
    pub async fn lend(&self) -> Result<Lent<'_>> {
        let permit = tokio::time::timeout(LEND_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| StoreError::Db(sqlx::Error::PoolTimedOut))?
            .map_err(|_| StoreError::Closed)?;
        let idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.options.connect().await?,
        };
        Ok(Lent { conn: Some(conn), readers: self, _permit: permit })
    }
}

/// A lent connection; it derefs to the connection, to run queries on.
#[derive(Debug)]
pub struct Lent<'a> {
    conn: Option<SqliteConnection>,
    readers: &'a Readers,
    _permit: SemaphorePermit<'a>,
}

impl Deref for Lent<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.conn.as_ref().unwrap_or_else(|| unreachable!("a lent connection is present until it drops"))
    }
}

impl DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().unwrap_or_else(|| unreachable!("a lent connection is present until it drops"))
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Back before the permit is released (fields drop after this), so the next
            // borrower finds it rather than opening another.
            self.readers.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::samples::scratch;
    use sqlx::Row;

    #[tokio::test]
    async fn connections_are_opened_once_and_lent_again() {
        let dir = scratch("readers");
        std::fs::create_dir_all(&dir).unwrap();
        let options = SqliteConnectOptions::new().filename(dir.join("t.db")).create_if_missing(true);
        let readers = Readers::new(options, 2);
        let mut a = readers.lend().await.unwrap();
        let mut b = readers.lend().await.unwrap();
        // A third waits for one of the two.
        assert!(tokio::time::timeout(Duration::from_millis(50), readers.lend()).await.is_err());
        let one: i64 = sqlx::query("SELECT 1").fetch_one(&mut *a).await.unwrap().get(0);
        let two: i64 = sqlx::query("SELECT 2").fetch_one(&mut *b).await.unwrap().get(0);
        assert_eq!((one, two), (1, 2));
        drop(a);
        let mut c = readers.lend().await.unwrap();
        assert_eq!(readers.idle.lock().unwrap().len(), 0);
        let three: i64 = sqlx::query("SELECT 3").fetch_one(&mut *c).await.unwrap().get(0);
        assert_eq!(three, 3);
        drop((b, c));
        assert_eq!(readers.idle.lock().unwrap().len(), 2);
    }
}
