//! The storage seam: everything the relay must not lose, behind one API that speaks only the
//! core's model (envelopes, recipients, queued pushes and outbound jobs, opaque body
//! references). Its embedded backend: SQLite (WAL, `synchronous=FULL`) holds messages,
//! recipients and the queues; bodies live in segment files beside it. Every write goes through
//! one committer task that groups the changes of concurrent requests into one transaction and
//! one sync of the segment (group commit): a caller hears "done" only after its data is
//! durable, and many callers share each fsync. Freeing bodies is the store's own business
//! ([`Store::collect_garbage`]). Messages the protection stage holds back or archives are kept
//! beside the delivered ones, invisible to delivery, until released or deleted (`held.rs`); its
//! flood and duplicate counters are kept here too (`counters.rs`).

/// The states of a push not yet sent for good (due, being sent, or set aside for want of a
/// bearer), which a retrieval or a cancellation cancels: one list for every such query, so that a
/// state added later reaches them all.
macro_rules! unsent_pushes {
    () => {
        "('pending', 'leased', 'waiting')"
    };
}

mod batch;
mod committer;
mod counters;
mod held;
mod legacy;
mod mapped;
mod moves;
mod payloads;
mod readers;
#[cfg(test)]
pub(crate) mod samples;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Row};
use tokio::sync::{Notify, mpsc, oneshot};

// What the core builds and the store persists, re-exported for the store's callers.
pub use crate::core::model::{
    BlobRef, Change, Delivery, DueOutbound, DuePush, Held, HoldKind, HoldReason, NewMessage, NewRecipient,
    NotificationParts, OutboundJob, OutboundResult, PushContent, PushResult, SmscId, StoredMessage,
};
pub use crate::core::state::{OutboundState, RecipientState};
pub use held::{PAGE_MAX as HELD_PAGE_MAX, Release};

use crate::core::envelope::BodyFormat;
use committer::Chore;
use counters::Counters;
use lookups::Lookups;
pub use mapped::{Lender, MAPS_MAX};
use payloads::Location;
use readers::Readers;

/// Storage failed; each interface answers with its transient error (an MM1 transient status,
/// an SMTP 451).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("payload files: {0}")]
    Io(#[from] std::io::Error),
    #[error("the store is shutting down")]
    Closed,
    /// A stored body failed its length or checksum check: it is not served.
    #[error("damaged: {0}")]
    Damaged(String),
    /// The data directory was made by a Tern this one cannot upgrade.
    #[error("{0}")]
    Schema(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A stored recipient state that this Tern does not know reads as a database decoding error.
impl From<crate::core::state::UnknownState> for StoreError {
    fn from(e: crate::core::state::UnknownState) -> StoreError {
        StoreError::Db(sqlx::Error::Decode(e.to_string().into()))
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    read: Arc<Readers>,
    /// Lookups by retrieval token, grouped (`lookups.rs`).
    lookups: Lookups,
    commits: mpsc::Sender<committer::Job>,
    payloads: PathBuf,
    /// Bodies in the page cache are lent from mappings of their segments (`mapped.rs`).
    lender: Arc<Lender>,
    /// Signalled after a commit that may have queued a push, so the delivery worker need not
    /// wait for its next look at the queue.
    queued: Arc<Notify>,
    /// The same for the outbound queues' worker.
    outbound: Arc<Notify>,
    /// The protection stage's event counts ([`Store::count`]).
    counters: Arc<Counters>,
}

/// A query for [`Delivery`] rows with the given condition (a literal, so the SQL is static).
macro_rules! delivery_query {
    ($condition:literal) => {
        concat!(
            "SELECT r.id, r.address, r.state, r.transaction_id, m.envelope, m.body_format, m.size, m.expired, ",
            "m.segment, m.body_offset, m.body_length, m.body_crc, r.read_at, r.acked_at, r.route, r.token ",
            "FROM recipients r JOIN messages m ON m.id = r.message WHERE ",
            $condition
        )
    };
}

// After the macro, which it uses.
mod lookups;

/// The layout `schema.sql` creates. An older data directory is upgraded in place by the
/// migrations after [`OLDEST_SCHEMA`]; an older one still, or a newer one, is refused rather
/// than misread.
const SCHEMA_VERSION: i64 = 7;

/// The oldest layout that can be upgraded: the first a release wrote.
const OLDEST_SCHEMA: i64 = 3;

/// Each step takes a data directory from the version before it to this one.
const MIGRATIONS: &[(i64, &str)] = &[
    (4, include_str!("migrations/4.sql")),
    (5, include_str!("migrations/5.sql")),
    (6, include_str!("migrations/6.sql")),
    (7, include_str!("migrations/7.sql")),
];

/// A body format's stored name.
fn format_name(f: BodyFormat) -> &'static str {
    match f {
        BodyFormat::Wsp => "wsp",
        BodyFormat::Mime => "mime",
    }
}

fn format_from(name: &str) -> Result<BodyFormat> {
    match name {
        "wsp" => Ok(BodyFormat::Wsp),
        "mime" => Ok(BodyFormat::Mime),
        other => Err(decode_error(&format!("unknown body format {other}"))),
    }
}

fn decode_error(e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Db(sqlx::Error::Decode(e.to_string().into()))
}

async fn schema(conn: &mut sqlx::SqliteConnection, payloads: &Path) -> Result<()> {
    let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *conn).await?;
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").fetch_one(&mut *conn).await?;
    if tables > 0 && version != SCHEMA_VERSION {
        migrate(conn, version, payloads).await?;
    }
    sqlx::raw_sql(include_str!("schema.sql")).execute(&mut *conn).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PRAGMA user_version = {SCHEMA_VERSION}"))).execute(&mut *conn).await?;
    // Only this process uses the embedded store, so a lease found at start was held by a run
    // that ended (a crash, a kill) before recording its pushes: they go out again now rather
    // than when the lease would have run out.
    let released = sqlx::query("UPDATE pushes SET state = 'pending', next_attempt_at = ? WHERE state = 'leased'")
        .bind(crate::core::ids::now())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if released > 0 {
        tracing::info!(pushes = released, "pushes leased by the previous run go out again");
    }
    // Pushes the previous run set aside for want of a bearer are looked at again by this one,
    // whose bearers may differ (and whose links have not said yet whether they bind).
    let resumed = committer::resume_waiting(conn).await?;
    if resumed > 0 {
        tracing::info!(pushes = resumed, "pushes waiting for a bearer are due again");
    }
    let released = sqlx::query("UPDATE outbound SET state = 'pending', next_attempt_at = ? WHERE state = 'leased'")
        .bind(crate::core::ids::now())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if released > 0 {
        tracing::info!(jobs = released, "outbound jobs leased by the previous run go out again");
    }
    Ok(())
}

/// Upgrades a data directory of schema `from` to [`SCHEMA_VERSION`] in one transaction, so a
/// failed upgrade leaves it as it was.
async fn migrate(conn: &mut sqlx::SqliteConnection, from: i64, payloads: &Path) -> Result<()> {
    if !(OLDEST_SCHEMA..SCHEMA_VERSION).contains(&from) {
        return Err(StoreError::Schema(format!(
            "the data directory has schema version {from}; this Tern reads {SCHEMA_VERSION} and upgrades \
             {OLDEST_SCHEMA} to {}, so it was made by another release",
            SCHEMA_VERSION - 1
        )));
    }
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    for (to, step) in MIGRATIONS.iter().filter(|(to, _)| *to > from) {
        sqlx::raw_sql(*step).execute(&mut *tx).await?;
        if *to == 5 {
            let converted = legacy::envelopes(&mut tx, payloads).await?;
            tracing::info!(messages = converted, "stored MM1 fields turned into envelopes");
            sqlx::raw_sql(include_str!("migrations/5-after.sql")).execute(&mut *tx).await?;
        }
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PRAGMA user_version = {SCHEMA_VERSION}"))).execute(&mut *tx).await?;
    tx.commit().await?;
    tracing::info!(from, to = SCHEMA_VERSION, "data directory upgraded");
    Ok(())
}

/// The writer's page cache, as SQLite's `cache_size` (negative: KiB): 8 MiB at most. Not more:
/// SQLite walks the whole cache when it drops pages from it, and with 64 MiB that walk was the
/// largest single cost of a commit once the store held a million messages (the MO rate fell to
/// 55% of the rate at 10,000; with 8 MiB it holds at 97%). The inserts go to the ends of the
/// indexes, which a small cache keeps.
const WRITER_CACHE_KIB: &str = "-8192";

/// Read connections open at most: reads of different requests run side by side on them (a
/// query waits for SQLite, not for the CPU, when a page is not cached).
const READERS: usize = 8;

impl Store {
    /// Opens the store under `data_dir` and starts its committer. `batch_max` bounds how many
    /// requests one group commit takes.
    pub async fn open(data_dir: &Path, batch_max: usize) -> Result<(Store, committer::Handle)> {
        std::fs::create_dir_all(data_dir)?;
        let database = data_dir.join("tern.db");
        let options = SqliteConnectOptions::new()
            .filename(&database)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(10));
        // The writer touches the same hot pages (the due queue, recent recipients) over and
        // over: a page cache larger than SQLite's 2 MiB default keeps them from being read from
        // the file again at every commit.
        let mut writer = options.clone().pragma("cache_size", WRITER_CACHE_KIB).connect().await?;
        let payloads = data_dir.join("payloads");
        schema(&mut writer, &payloads).await?;
        let read = Arc::new(Readers::new(options.read_only(true), READERS));
        let (commits, handle) = committer::start(writer, payloads.clone(), batch_max).await?;
        let store = Store {
            lookups: Lookups::start(&database)?,
            read,
            commits,
            lender: Arc::new(Lender::new(payloads.clone())),
            payloads,
            queued: Arc::default(),
            outbound: Arc::default(),
            counters: Arc::default(),
        };
        Ok((store, handle))
    }

    /// Applies `changes` atomically and durably; returns, per change, whether it applied (a
    /// conditional transition whose condition no longer held did not).
    pub async fn apply(&self, changes: Vec<Change>) -> Result<Vec<bool>> {
        Ok(self.commit(changes).await?.flags)
    }

    /// Leases up to `limit` pushes due at `now` until `until` (see [`Change::LeaseDue`]).
    pub async fn lease_due(&self, now: i64, until: i64, limit: i64) -> Result<Vec<DuePush>> {
        Ok(self.commit(vec![Change::LeaseDue { now, until, limit }]).await?.leased)
    }

    /// Leases up to `limit` outbound jobs due at `now` until `until`.
    pub async fn lease_outbound(&self, now: i64, until: i64, limit: i64) -> Result<Vec<DueOutbound>> {
        Ok(self.commit(vec![Change::LeaseOutbound { now, until, limit }]).await?.outbound)
    }

    /// Queues `changes` for the committer now, behind whatever this caller queued before and
    /// ahead of whatever it queues next, and returns what waits for their commit: for a change
    /// whose caller must not wait on the sync (a retrieval's record, while the message is on its
    /// way) but whose order among the caller's changes must hold.
    /// Such a change may wait a moment in the queue for others to share its commit (see
    /// [`committer::LINGER`]).
    pub async fn queue(&self, changes: Vec<Change>) -> Result<impl Future<Output = Result<Vec<bool>>> + use<>> {
        let committed = self.enqueue(changes, true).await?;
        Ok(async move { Ok(committed.await?.flags) })
    }

    async fn commit(&self, changes: Vec<Change>) -> Result<committer::Applied> {
        self.enqueue(changes, false).await?.await
    }

    /// Hands `changes` to the committer; the future it returns resolves once they are committed
    /// (and the delivery workers told, when they queued something). `lingers`: nobody waits on
    /// their commit, so it may wait for others to share it.
    async fn enqueue(
        &self,
        changes: Vec<Change>,
        lingers: bool,
    ) -> Result<impl Future<Output = Result<committer::Applied>> + use<>> {
        let queues = changes.iter().any(|c| {
            matches!(
                c,
                Change::Accept(_)
                    | Change::Replace { deliver_after: Some(_), .. }
                    | Change::Transition { report: Some(_), .. }
                    | Change::ReadReport { report: Some(_), .. }
                    | Change::Enqueue { .. }
                    | Change::PushReport { .. }
                    | Change::ResumeWaiting
            )
        });
        // The checksum of each body and the stored form of each accepted message's envelope are
        // made here, on the caller's task, so that the committer, which every request waits on,
        // does not spend its time on them.
        let checksums = changes.iter().filter_map(committer::body).map(payloads::checksum).collect();
        let mut envelopes = Vec::new();
        for change in &changes {
            if let Change::Accept(m) | Change::Hold { message: m, .. } = change {
                envelopes.push(serde_json::to_string(&m.envelope).map_err(std::io::Error::other)?);
            }
        }
        let answer = self.send(changes, checksums, envelopes, None, lingers).await?;
        let store = self.clone();
        Ok(async move {
            let applied = answer.await.map_err(|_| StoreError::Closed)??;
            if queues {
                store.wake();
            }
            Ok(applied)
        })
    }

    /// Hands a job to the committer (see [`committer::Job`]); what it answers once committed.
    async fn send(
        &self,
        changes: Vec<Change>,
        checksums: Vec<u32>,
        envelopes: Vec<String>,
        chore: Option<Chore>,
        lingers: bool,
    ) -> Result<oneshot::Receiver<Result<committer::Applied>>> {
        let (reply, answer) = oneshot::channel();
        let job = committer::Job { changes, checksums, envelopes, chore, lingers, reply };
        self.commits.send(job).await.map_err(|_| StoreError::Closed)?;
        Ok(answer)
    }

    /// Applies one of the store's own chores in a group commit.
    async fn chore(&self, chore: Chore) -> Result<committer::Applied> {
        let answer = self.send(Vec::new(), Vec::new(), Vec::new(), Some(chore), false).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Tells both delivery workers that something may be due.
    fn wake(&self) {
        self.queued.notify_one();
        self.outbound.notify_one();
    }

    /// Held messages of `kind` (any when `None`) with ids above `after`, oldest first, at most
    /// `limit` and never more than [`HELD_PAGE_MAX`].
    pub async fn held(&self, kind: Option<HoldKind>, after_id: i64, limit: i64) -> Result<Vec<Held>> {
        held::list(&mut *self.read.lend().await?, kind, after_id, limit).await
    }

    /// A held message's body, checked against its length and checksum as every body read is
    /// ([`Store::body`]); `None` when there is no such held message.
    pub async fn held_body(&self, id: i64) -> Result<Option<(BodyFormat, Bytes)>> {
        let Some((format, at)) = held::body_at(&mut *self.read.lend().await?, id).await? else { return Ok(None) };
        Ok(Some((format, self.body(&at.to_ref()).await?)))
    }

    /// Releases a quarantined message to delivery: in one transaction its held row goes and it
    /// is stored as [`Change::Accept`] stores a message, its pushes and forwards due at `now`
    /// (or its own later delivery time). The delivery workers are woken at once.
    pub async fn release(&self, id: i64, now: i64) -> Result<Release> {
        let applied = self.chore(Chore::Release { held: id, now }).await?;
        let release = applied.released.ok_or_else(|| StoreError::Io(std::io::Error::other("release not applied")))?;
        if matches!(release, Release::Released { .. }) {
            self.wake();
        }
        Ok(release)
    }

    /// Deletes a held message (quarantined or archived); its body is freed with its segment.
    /// False when there is no such held message.
    pub async fn delete_held(&self, id: i64) -> Result<bool> {
        Ok(self.chore(Chore::DeleteHeld(id)).await?.deleted)
    }

    /// Counts one more event under `key` at `now` in a fixed window of `window_secs` that starts
    /// at the key's first event; the first event at or after its end starts a new window. The
    /// count of the current window, this event included. Not through the committer: the
    /// embedded backend keeps counts in memory (see `counters.rs`); the shared one will keep
    /// them in the database, hence the `Result`.
    pub async fn count(&self, key: &str, window_secs: u64, now: i64) -> Result<u64> {
        Ok(self.counters.count(key, window_secs, now))
    }

    /// Resolves once an outbound job may have been queued since the last call.
    pub async fn outbound_queued(&self) {
        self.outbound.notified().await;
    }

    /// Whether the store answers, for the admin endpoint's `/ready`: a read on the read
    /// connections, and an empty transaction through the committer, which shows that the writer
    /// is running and can take the database's write lock (it writes nothing, so no sync).
    pub async fn ready(&self) -> Result<()> {
        sqlx::query("SELECT id FROM segments LIMIT 1").fetch_optional(&mut *self.read.lend().await?).await?;
        self.commit(Vec::new()).await?;
        Ok(())
    }

    /// Resolves once a push may have been queued since the last call (at once if one was).
    pub async fn queued(&self) {
        self.queued.notified().await;
    }

    pub async fn by_token(&self, token: &str) -> Result<Option<Delivery>> {
        self.lookups.by_token(token).await
    }

    pub async fn by_transaction(&self, transaction_id: &str) -> Result<Option<Delivery>> {
        let row = sqlx::query(delivery_query!("r.transaction_id = ?"))
            .bind(transaction_id)
            .fetch_optional(&mut *self.read.lend().await?)
            .await?;
        row.map(|r| delivery(&r)).transpose()
    }

    pub async fn by_message_and_recipient(&self, message_id: &str, address: &str) -> Result<Option<Delivery>> {
        let row = sqlx::query(delivery_query!("m.message_id = ? AND r.address = ?"))
            .bind(message_id)
            .bind(address)
            .fetch_optional(&mut *self.read.lend().await?)
            .await?;
        row.map(|r| delivery(&r)).transpose()
    }

    /// A message by its Message-ID, with every recipient it has a row for, in the order they
    /// were stored.
    pub async fn message(&self, message_id: &str) -> Result<Option<StoredMessage>> {
        // One read transaction, so the message and its recipients are seen as one commit left
        // them.
        let mut conn = self.read.lend().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let row = sqlx::query("SELECT id, envelope, expired FROM messages WHERE message_id = ?")
            .bind(message_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get(0)?;
        let rows = sqlx::query(delivery_query!("r.message = ? ORDER BY r.id")).bind(id).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(StoredMessage {
            id,
            envelope: serde_json::from_str(&row.try_get::<String, _>(1)?).map_err(|e| decode_error(&e))?,
            expired: row.try_get(2)?,
            recipients: rows.iter().map(delivery).collect::<Result<_>>()?,
        }))
    }

    /// The recipients of a forward job, as delivery knows them.
    pub async fn recipients_of(&self, ids: &[i64]) -> Result<Vec<Delivery>> {
        let ids = serde_json::to_string(ids).map_err(std::io::Error::other)?;
        let rows = sqlx::query(delivery_query!("r.id IN (SELECT value FROM json_each(?))"))
            .bind(ids)
            .fetch_all(&mut *self.read.lend().await?)
            .await?;
        rows.iter().map(delivery).collect()
    }

    /// Recipients still waiting whose message has expired.
    pub async fn expiring(&self, now: i64, limit: i64) -> Result<Vec<Delivery>> {
        let sql = delivery_query!("m.expires_at <= ? AND r.state IN ('accepted', 'notified', 'deferred') LIMIT ?");
        let rows = sqlx::query(sql).bind(now).bind(limit).fetch_all(&mut *self.read.lend().await?).await?;
        rows.iter().map(delivery).collect()
    }

    /// Messages past their expiry whose bodies are still held.
    pub async fn expired_messages(&self, now: i64, limit: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT id FROM messages WHERE expired = 0 AND expires_at <= ? LIMIT ?")
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *self.read.lend().await?)
            .await?;
        Ok(rows.iter().map(|r| r.get::<i64, _>(0)).collect())
    }

    /// Frees the bodies no live message needs any more: each sealed segment that no live
    /// message or held message points into is removed, then forgotten. Returns how many went.
    pub async fn collect_garbage(&self) -> Result<usize> {
        let rows = sqlx::query("SELECT id FROM segments WHERE sealed = 1 AND live <= 0")
            .fetch_all(&mut *self.read.lend().await?)
            .await?;
        let dead: Vec<i64> = rows.iter().map(|r| r.get::<i64, _>(0)).collect();
        for &segment in &dead {
            self.lender.forget(segment);
            match std::fs::remove_file(payloads::segment_path(&self.payloads, segment)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
            self.chore(Chore::Forget(segment)).await?;
        }
        Ok(dead.len())
    }

    /// Where the bodies [`Store::body`] lends from the page cache lie in the store's files, for
    /// an interface that has the kernel send them from there.
    pub fn body_files(&self) -> Arc<Lender> {
        Arc::clone(&self.lender)
    }

    /// Reads a stored body, checked against its length and checksum: bytes that are not the
    /// body that was stored come back as [`StoreError::Damaged`], never as a body, and are
    /// counted in `tern_store_damaged_bodies_total` whoever asked for them.
    pub async fn body(&self, at: &BlobRef) -> Result<Bytes> {
        let at = Location::from_ref(at).ok_or_else(|| StoreError::Damaged(format!("no such body {}", at.0)))?;
        // Most bodies are read soon after they were written, from the page cache: such a body
        // is lent from there at once; only one that would wait for the disk is read, in the
        // blocking pool.
        let read = match payloads::read_cached(&self.lender, at) {
            Ok(None) => {
                let dir = self.payloads.clone();
                tokio::task::spawn_blocking(move || payloads::read(&dir, at).map(Bytes::from))
                    .await
                    .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
            }
            Ok(Some(body)) => Ok(body),
            Err(e) => Err(e),
        };
        read.map_err(|e| match e {
            payloads::ReadError::Io(e) => StoreError::Io(e),
            damaged @ payloads::ReadError::Damaged { .. } => {
                metrics::counter!("tern_store_damaged_bodies_total").increment(1);
                StoreError::Damaged(damaged.to_string())
            }
        })
    }
}

/// The columns of a [`delivery_query!`] row, read in place from either SQLite library's row
/// (sqlx for every query but the token lookups, rusqlite for those: `lookups.rs`).
trait Columns {
    fn int(&self, i: usize) -> Result<i64>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    fn text(&self, i: usize) -> Result<&str>;
    fn opt_text(&self, i: usize) -> Result<Option<&str>>;
}

impl Columns for sqlx::sqlite::SqliteRow {
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.try_get(i)?)
    }
    fn text(&self, i: usize) -> Result<&str> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<&str>> {
        Ok(self.try_get(i)?)
    }
}

fn delivery(r: &impl Columns) -> Result<Delivery> {
    Ok(Delivery {
        recipient: r.int(0)?,
        address: r.text(1)?.to_owned(),
        route: r.text(14)?.to_owned(),
        state: r.text(2)?.parse()?,
        transaction_id: r.opt_text(3)?.map(str::to_owned),
        envelope: serde_json::from_str(r.text(4)?).map_err(|e| decode_error(&e))?,
        format: format_from(r.text(5)?)?,
        size: u64::try_from(r.int(6)?).unwrap_or(0),
        expired: r.int(7)? != 0,
        body: Location {
            segment: r.int(8)?,
            offset: u64::try_from(r.int(9)?).unwrap_or(0),
            length: u64::try_from(r.int(10)?).unwrap_or(0),
            // Stored as SQLite's signed integer; the 32 bits are the checksum.
            crc: r.opt_int(11)?.map(|crc| crc as u32),
        }
        .to_ref(),
        read_at: r.opt_int(12)?,
        acked_at: r.opt_int(13)?,
    })
}
