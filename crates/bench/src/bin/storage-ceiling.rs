//! `storage-ceiling`: the storage ceiling of the relay's benchmarks. It does the durable writes
//! of the relay's group commit without the relay: for each batch, every record's body appended
//! to one file with a `write` each, one `fdatasync`, then (unless `--no-sqlite`) one row per
//! record inserted into a SQLite database in WAL mode with `synchronous=FULL`, committed once per
//! batch. It runs for `--seconds` and prints one JSON line with the records per second.
//!
//! The row is one INSERT of a message-shaped row (a unique id and a few hundred octets of
//! envelope text) per record; the relay writes more per message (its recipient, its queued
//! notification, the segment's count), so this is a ceiling, not a model of the store.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

#[derive(Debug, Parser)]
#[command(about = "Appends records with one fdatasync (and one SQLite commit) per batch; prints records/s")]
struct Args {
    /// Directory for the segment file and the database (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// Octets of each record's body.
    #[arg(long, default_value_t = 30 * 1024)]
    size: usize,
    /// Records per sync (the relay's group commit takes what is queued: about one per connection).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// How long to run.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Only the segment file's appends and syncs, no SQLite.
    #[arg(long)]
    no_sqlite: bool,
}

/// An envelope of the size the relay stores as JSON for a one-recipient MM1 message.
const ENVELOPE: &str = concat!(
    r#"{"originator":"+15550100001","recipients":[{"address":"+15550100002","kind":"to"}],"#,
    r#""subject":null,"class":"personal","priority":null,"delivery_report":false,"read_report":false,"#,
    r#""content_type":"application/vnd.wap.multipart.related","origin":{"interface":"mm1","peer":"127.0.0.1"},"#,
    r#""expires_at":1900000000,"deliver_after":0}"#
);

// The loop is the tool's only work, so its blocking file calls have the thread to themselves, as
// the relay's committer has its own.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    std::fs::create_dir_all(&args.dir)?;
    let mut segment = OpenOptions::new().create(true).append(true).open(args.dir.join("ceiling.seg"))?;
    let mut db = if args.no_sqlite {
        None
    } else {
        let mut conn = SqliteConnectOptions::new()
            .filename(args.dir.join("ceiling.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .connect()
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, \
             envelope TEXT NOT NULL, body_offset INTEGER NOT NULL, body_length INTEGER NOT NULL)",
        )
        .execute(&mut conn)
        .await?;
        Some(conn)
    };
    let body = vec![0xa5_u8; args.size];
    let limit = Duration::from_secs_f64(args.seconds);
    let start = Instant::now();
    let mut records: u64 = 0;
    while start.elapsed() < limit {
        for _ in 0..args.batch {
            segment.write_all(&body)?;
        }
        segment.sync_data()?;
        if let Some(conn) = db.as_mut() {
            let mut tx = conn.begin().await?;
            for i in 0..args.batch {
                let n = records + i as u64;
                sqlx::query("INSERT INTO records (message_id, envelope, body_offset, body_length) VALUES (?, ?, ?, ?)")
                    .bind(format!("ceiling-{n:016x}-{:x}", start.elapsed().as_nanos()))
                    .bind(ENVELOPE)
                    .bind(i64::try_from(n * args.size as u64)?)
                    .bind(i64::try_from(args.size)?)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        records += args.batch as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        r#"{{"records":{records},"seconds":{seconds:.3},"per_sec":{:.1},"size":{},"batch":{},"sqlite":{}}}"#,
        records as f64 / seconds,
        args.size,
        args.batch,
        !args.no_sqlite
    );
    Ok(())
}
