//! Held messages: what the protection stage keeps aside, in the `held` table. A quarantined
//! message waits there instead of being delivered, until an administrator releases it (it is
//! then stored as an accepted message is) or deletes it; an archive copy waits to be deleted.
//! This module owns the table's rows: writing one for [`Change::Hold`](super::Change::Hold), the
//! release and the deletion (all three run in the committer's transaction), and the listing and
//! body reads. A held body lives in a payload segment like an accepted one and counts as live
//! there, so garbage collection keeps its segment until the row goes.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::sqlite::SqliteConnection;

use super::committer::{Acceptance, accept};
use super::payloads::Location;
use super::{Result, decode_error, format_from, format_name};
use crate::core::envelope::{BodyFormat, Envelope};
use crate::core::model::{Held, HoldKind, HoldReason, NewMessage, NewRecipient};

/// What a release did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// The message is stored for delivery under this Message-ID, and no longer held.
    Released { message_id: String },
    /// No held message has this id.
    NotFound,
    /// It is an archive copy, which is never delivered: only deleted.
    NotQuarantined,
    /// A message with its Message-ID is stored already; it stays held.
    AlreadyStored,
}

/// The most held messages one listing returns, whatever its caller asks for.
pub const PAGE_MAX: i64 = 1000;

/// A routed recipient as a held message keeps it (JSON), to be stored as it was routed when
/// the message is released. The core's [`NewRecipient`] has no stored form of its own: the
/// state is kept by its stored name, as in the `recipients` table.
#[derive(Serialize, Deserialize)]
struct KeptRecipient {
    address: String,
    destination: String,
    token: Option<String>,
    transaction_id: Option<String>,
    state: String,
    status_text: Option<String>,
}

impl KeptRecipient {
    fn of(r: &NewRecipient) -> KeptRecipient {
        KeptRecipient {
            address: r.address.clone(),
            destination: r.destination.clone(),
            token: r.token.clone(),
            transaction_id: r.transaction_id.clone(),
            state: r.state.as_str().to_owned(),
            status_text: r.status_text.clone(),
        }
    }

    fn into_recipient(self) -> Result<NewRecipient> {
        Ok(NewRecipient {
            address: self.address,
            destination: self.destination,
            token: self.token,
            transaction_id: self.transaction_id,
            state: self.state.parse()?,
            status_text: self.status_text,
        })
    }
}

fn kind_from(name: &str) -> Result<HoldKind> {
    match name {
        "quarantine" => Ok(HoldKind::Quarantine),
        "archive" => Ok(HoldKind::Archive),
        other => Err(decode_error(&format!("unknown hold kind {other}"))),
    }
}

fn offset(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A [`Change::Hold`](super::Change::Hold) as its row is written: all but the body's bytes,
/// which are in a segment already.
pub(super) struct Holding<'a> {
    pub message: &'a NewMessage,
    /// The envelope as stored (JSON), made by the caller.
    pub envelope: &'a str,
    pub kind: HoldKind,
    pub reason: &'a HoldReason,
    pub now: i64,
}

/// Writes a held message's row; its body at `at` now counts as live in its segment.
pub(super) async fn hold(conn: &mut SqliteConnection, h: &Holding<'_>, at: Location) -> Result<bool> {
    let m = h.message;
    // A few recipients, and holds are rare: made here rather than by the caller.
    let recipients: Vec<KeptRecipient> = m.recipients.iter().map(KeptRecipient::of).collect();
    sqlx::query(
        "INSERT INTO held (kind, message_id, sender, envelope, recipients, interface, profile, check_name, detail, \
         held_at, body_format, size, segment, body_offset, body_length, body_crc) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(h.kind.as_str())
    .bind(&m.envelope.message_id)
    .bind(&m.envelope.originator)
    .bind(h.envelope)
    .bind(serde_json::to_string(&recipients).map_err(std::io::Error::other)?)
    .bind(&h.reason.interface)
    .bind(&h.reason.profile)
    .bind(&h.reason.check)
    .bind(&h.reason.detail)
    .bind(h.now)
    .bind(format_name(m.format))
    .bind(i64::try_from(m.body.len()).unwrap_or(i64::MAX))
    .bind(at.segment)
    .bind(offset(at.offset))
    .bind(offset(at.length))
    .bind(at.crc)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE segments SET live = live + 1 WHERE id = ?").bind(at.segment).execute(&mut *conn).await?;
    Ok(true)
}

/// Releases a quarantined message: it is accepted by the committer's own [`accept`], from the
/// envelope and routed recipients kept with it, pointing at the body already in its segment
/// (so the bytes are neither read nor written again), and its row goes, in the caller's
/// transaction. Its pushes and forwards are first due at `now`, or at the message's own
/// earliest delivery if that is later. The segment's live count is unchanged: the held row's
/// share passes to the message.
pub(super) async fn release(conn: &mut SqliteConnection, id: i64, now: i64) -> Result<Release> {
    let row = sqlx::query(
        "SELECT kind, envelope, recipients, body_format, size, segment, body_offset, body_length, body_crc \
         FROM held WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(Release::NotFound) };
    if kind_from(&row.try_get::<String, _>(0)?)? != HoldKind::Quarantine {
        return Ok(Release::NotQuarantined);
    }
    let stored: String = row.try_get(1)?;
    let envelope: Envelope = serde_json::from_str(&stored).map_err(|e| decode_error(&e))?;
    let kept: Vec<KeptRecipient> = serde_json::from_str(&row.try_get::<String, _>(2)?).map_err(|e| decode_error(&e))?;
    let recipients = kept.into_iter().map(KeptRecipient::into_recipient).collect::<Result<Vec<_>>>()?;
    let at = location(&row, 5)?;
    let acceptance = Acceptance {
        envelope: &envelope,
        stored: &stored,
        format: format_from(&row.try_get::<String, _>(3)?)?,
        size: row.try_get(4)?,
        recipients: &recipients,
        due: envelope.deliver_after.max(now),
    };
    if !accept(conn, &acceptance, at).await? {
        return Ok(Release::AlreadyStored);
    }
    sqlx::query("DELETE FROM held WHERE id = ?").bind(id).execute(&mut *conn).await?;
    // The message took a live share of the segment; the held row gives its own back.
    sqlx::query("UPDATE segments SET live = live - 1 WHERE id = ?").bind(at.segment).execute(&mut *conn).await?;
    Ok(Release::Released { message_id: envelope.message_id })
}

/// Deletes a held message; its body's share of its segment goes with it, so garbage
/// collection frees the segment once nothing else lives there. False when there is none.
pub(super) async fn delete(conn: &mut SqliteConnection, id: i64) -> Result<bool> {
    let segment: Option<i64> = sqlx::query_scalar("DELETE FROM held WHERE id = ? RETURNING segment")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(segment) = segment else { return Ok(false) };
    sqlx::query("UPDATE segments SET live = live - 1 WHERE id = ?").bind(segment).execute(&mut *conn).await?;
    Ok(true)
}

/// Held messages of `kind` (any when `None`) with ids above `after`, oldest first, at most
/// `limit` (within 0..=[`PAGE_MAX`]).
pub(super) async fn list(
    read: &mut SqliteConnection,
    kind: Option<HoldKind>,
    after: i64,
    limit: i64,
) -> Result<Vec<Held>> {
    let kind = kind.map(HoldKind::as_str);
    let rows = sqlx::query(
        "SELECT id, kind, message_id, sender, envelope, size, interface, profile, check_name, detail, held_at \
         FROM held WHERE id > ? AND (? IS NULL OR kind = ?) ORDER BY id LIMIT ?",
    )
    .bind(after)
    .bind(kind)
    .bind(kind)
    .bind(limit.clamp(0, PAGE_MAX))
    .fetch_all(read)
    .await?;
    rows.iter().map(listed).collect()
}

fn listed(r: &sqlx::sqlite::SqliteRow) -> Result<Held> {
    let envelope: Envelope = serde_json::from_str(&r.try_get::<String, _>(4)?).map_err(|e| decode_error(&e))?;
    Ok(Held {
        id: r.try_get(0)?,
        kind: kind_from(&r.try_get::<String, _>(1)?)?,
        message_id: r.try_get(2)?,
        sender: r.try_get(3)?,
        recipients: envelope.recipients.into_iter().map(|r| r.address).collect(),
        subject: envelope.subject,
        size: r.try_get(5)?,
        reason: HoldReason {
            interface: r.try_get(6)?,
            profile: r.try_get(7)?,
            check: r.try_get(8)?,
            detail: r.try_get(9)?,
        },
        at: r.try_get(10)?,
    })
}

/// Where a held message's body is, and how it is written; `None` when there is no such row.
pub(super) async fn body_at(read: &mut SqliteConnection, id: i64) -> Result<Option<(BodyFormat, Location)>> {
    let row = sqlx::query("SELECT body_format, segment, body_offset, body_length, body_crc FROM held WHERE id = ?")
        .bind(id)
        .fetch_optional(read)
        .await?;
    row.map(|r| Ok((format_from(&r.try_get::<String, _>(0)?)?, location(&r, 1)?))).transpose()
}

/// The body's place from the four columns starting at `first` (segment, offset, length, CRC).
fn location(r: &sqlx::sqlite::SqliteRow, first: usize) -> Result<Location> {
    Ok(Location {
        segment: r.try_get(first)?,
        offset: u64::try_from(r.try_get::<i64, _>(first + 1)?).unwrap_or(0),
        length: u64::try_from(r.try_get::<i64, _>(first + 2)?).unwrap_or(0),
        // Stored as SQLite's signed integer; the 32 bits are the checksum.
        crc: Some(r.try_get::<i64, _>(first + 3)? as u32),
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use std::path::Path;
    use std::time::Duration;

    use sqlx::Connection;

    use super::super::samples::{LOCAL, NOW, PEER, SENDER, message, reason, scratch};
    use super::super::{Change, Store};
    use super::*;
    use crate::core::state::RecipientState;

    fn hold(message_id: &str, body: &[u8], kind: HoldKind) -> Change {
        Change::Hold { message: Box::new(message(message_id, body)), kind, reason: reason(), now: NOW + 5 }
    }

    /// Each segment's id and live count, in order.
    async fn segments(store: &Store) -> Vec<(i64, i64)> {
        sqlx::query_as("SELECT id, live FROM segments ORDER BY id")
            .fetch_all(&mut *store.read.lend().await.unwrap())
            .await
            .unwrap()
    }

    /// Closes the store and seals every segment, as a full one is, so that a body written
    /// after reopening goes to a new one.
    async fn seal(store: Store, handle: super::super::committer::Handle, dir: &Path) -> Store {
        drop(store);
        handle.closed().await;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.join("tern.db").display())).await.unwrap();
        sqlx::query("UPDATE segments SET sealed = 1").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        Store::open(dir, 16).await.unwrap().0
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_quarantined_message_is_listed_read_and_released_to_delivery() {
        let dir = scratch("release");
        let (store, _handle) = Store::open(&dir, 16).await.unwrap();
        let body = b"\x8c\x80 the quarantined body \x00\xff";
        assert_eq!(store.apply(vec![hold("q1", body, HoldKind::Quarantine)]).await.unwrap(), [true]);
        assert!(store.message("q1").await.unwrap().is_none(), "a held message is not stored for delivery");
        let pushes: i64 = sqlx::query_scalar("SELECT count(*) FROM pushes")
            .fetch_one(&mut *store.read.lend().await.unwrap())
            .await
            .unwrap();
        let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM outbound")
            .fetch_one(&mut *store.read.lend().await.unwrap())
            .await
            .unwrap();
        assert_eq!((pushes, jobs), (0, 0), "nor seen by delivery");

        let listed = store.held(None, 0, 100).await.unwrap();
        let expected = Held {
            id: listed[0].id,
            kind: HoldKind::Quarantine,
            message_id: "q1".into(),
            sender: SENDER.into(),
            recipients: vec![LOCAL.into(), PEER.into()],
            subject: Some("offer".into()),
            size: i64::try_from(body.len()).unwrap(),
            reason: reason(),
            at: NOW + 5,
        };
        assert_eq!(listed, [expected]);
        let id = listed[0].id;
        assert_eq!(store.held_body(id).await.unwrap(), Some((BodyFormat::Wsp, Bytes::copy_from_slice(body))));
        assert_eq!(store.held_body(id + 1).await.unwrap(), None);

        let later = NOW + 600;
        assert_eq!(store.release(id, later).await.unwrap(), Release::Released { message_id: "q1".into() });
        tokio::time::timeout(Duration::from_secs(1), store.queued()).await.expect("the push worker is woken");
        tokio::time::timeout(Duration::from_secs(1), store.outbound_queued()).await.expect("so is the outbound one");
        assert!(store.held(None, 0, 100).await.unwrap().is_empty());
        assert_eq!(store.held_body(id).await.unwrap(), None);

        let stored = store.message("q1").await.unwrap().unwrap();
        let recipients: Vec<_> =
            stored.recipients.iter().map(|d| (d.address.as_str(), d.route.as_str(), d.state)).collect();
        assert_eq!(
            recipients,
            [(LOCAL, "local", RecipientState::Accepted), (PEER, "mm4:peer", RecipientState::Accepted)]
        );
        let local = store.by_token("token-q1").await.unwrap().unwrap();
        assert_eq!(local.transaction_id.as_deref(), Some("tx-q1"));
        assert_eq!(store.body(&local.body).await.unwrap(), &body[..], "the body is the one held");
        let status: Option<String> = sqlx::query_scalar("SELECT status_text FROM recipients WHERE address = ?")
            .bind(PEER)
            .fetch_one(&mut *store.read.lend().await.unwrap())
            .await
            .unwrap();
        assert_eq!(status.as_deref(), Some("routed to peer"));
        let due = store.lease_due(later, later + 60, 10).await.unwrap();
        assert_eq!(due.len(), 1, "the local recipient's notification is due at the release");
        assert_eq!(due[0].msisdn, LOCAL);
        let forwards = store.lease_outbound(later, later + 60, 10).await.unwrap();
        assert_eq!(forwards.len(), 1, "the peer's forward is due at the release");
        assert_eq!(forwards[0].destination, "mm4:peer");
        assert_eq!(segments(&store).await, [(1, 1)], "the body counts once: the message's, no longer the hold's");
        assert_eq!(store.release(id, later).await.unwrap(), Release::NotFound, "a release happens once");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_held_body_keeps_its_segment_until_deleted() {
        let dir = scratch("delete");
        let (store, handle) = Store::open(&dir, 16).await.unwrap();
        let changes = vec![hold("a1", b"archived body", HoldKind::Archive), hold("q1", b"held", HoldKind::Quarantine)];
        assert_eq!(store.apply(changes).await.unwrap(), [true, true]);
        let store = seal(store, handle, &dir).await;
        assert_eq!(segments(&store).await, [(1, 2), (2, 0)]);
        assert_eq!(store.collect_garbage().await.unwrap(), 0, "held bodies keep their segment");

        let ids: Vec<i64> = store.held(None, 0, 100).await.unwrap().iter().map(|h| h.id).collect();
        assert!(store.delete_held(ids[0]).await.unwrap());
        assert!(!store.delete_held(ids[0]).await.unwrap(), "a deleted message is gone");
        assert_eq!(store.held_body(ids[0]).await.unwrap(), None);
        assert_eq!(store.collect_garbage().await.unwrap(), 0, "the other held body still lives there");
        assert_eq!(store.held_body(ids[1]).await.unwrap(), Some((BodyFormat::Wsp, Bytes::from_static(b"held"))));
        assert!(store.delete_held(ids[1]).await.unwrap());
        assert!(store.held(None, 0, 100).await.unwrap().is_empty());
        assert_eq!(store.collect_garbage().await.unwrap(), 1);
        assert!(!dir.join("payloads/0000000001.seg").exists(), "the segment is removed");
        assert_eq!(segments(&store).await, [(2, 0)]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_message_can_be_delivered_and_archived_in_one_apply() {
        let dir = scratch("accept-and-archive");
        let (store, _handle) = Store::open(&dir, 16).await.unwrap();
        let changes = vec![
            Change::Accept(Box::new(message("m1", b"delivered copy"))),
            hold("m1", b"archived copy", HoldKind::Archive),
        ];
        assert_eq!(store.apply(changes).await.unwrap(), [true, true]);
        let delivered = store.by_token("token-m1").await.unwrap().unwrap();
        assert_eq!(store.body(&delivered.body).await.unwrap(), &b"delivered copy"[..]);
        let archived = store.held(Some(HoldKind::Archive), 0, 10).await.unwrap();
        assert_eq!(archived.iter().map(|h| h.message_id.as_str()).collect::<Vec<_>>(), ["m1"]);
        assert_eq!(store.held_body(archived[0].id).await.unwrap().unwrap().1, &b"archived copy"[..]);
        assert_eq!(segments(&store).await, [(1, 2)], "each copy counts in its segment");
        assert_eq!(store.release(archived[0].id, NOW).await.unwrap(), Release::NotQuarantined);
        assert_eq!(store.held(None, 0, 10).await.unwrap().len(), 1, "an archive copy stays until deleted");
        assert_eq!(store.release(archived[0].id + 1, NOW).await.unwrap(), Release::NotFound);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_release_is_refused_when_the_message_id_is_stored_already() {
        let dir = scratch("already-stored");
        let (store, _handle) = Store::open(&dir, 16).await.unwrap();
        let mut other = message("m1", b"stored first");
        for r in &mut other.recipients {
            r.token = r.token.as_ref().map(|t| format!("{t}-other"));
            r.transaction_id = r.transaction_id.as_ref().map(|t| format!("{t}-other"));
        }
        let changes = vec![hold("m1", b"held", HoldKind::Quarantine), Change::Accept(Box::new(other))];
        assert_eq!(store.apply(changes).await.unwrap(), [true, true]);
        let id = store.held(Some(HoldKind::Quarantine), 0, 10).await.unwrap()[0].id;
        assert_eq!(store.release(id, NOW).await.unwrap(), Release::AlreadyStored);
        assert_eq!(store.held(None, 0, 10).await.unwrap().len(), 1, "it stays held");
        assert_eq!(store.message("m1").await.unwrap().unwrap().recipients.len(), 2, "nothing added");
        assert_eq!(segments(&store).await, [(1, 2)]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn held_messages_survive_a_restart_and_page_by_kind() {
        let dir = scratch("reopen");
        let (store, handle) = Store::open(&dir, 16).await.unwrap();
        let changes = vec![
            hold("q1", b"first", HoldKind::Quarantine),
            hold("a1", b"second", HoldKind::Archive),
            hold("q2", b"third", HoldKind::Quarantine),
        ];
        assert_eq!(store.apply(changes).await.unwrap(), [true, true, true]);
        drop(store);
        handle.closed().await;
        let (store, _handle) = Store::open(&dir, 16).await.unwrap();
        let all = store.held(None, 0, 100).await.unwrap();
        assert_eq!(all.iter().map(|h| h.message_id.as_str()).collect::<Vec<_>>(), ["q1", "a1", "q2"]);
        let quarantined = store.held(Some(HoldKind::Quarantine), 0, 100).await.unwrap();
        assert_eq!(quarantined.iter().map(|h| h.message_id.as_str()).collect::<Vec<_>>(), ["q1", "q2"]);
        let page = store.held(None, all[0].id, 1).await.unwrap();
        assert_eq!(page.iter().map(|h| h.message_id.as_str()).collect::<Vec<_>>(), ["a1"]);
        assert!(store.held(None, 0, -1).await.unwrap().is_empty(), "a negative limit is no limit of SQLite's");
        assert_eq!(store.held_body(all[2].id).await.unwrap(), Some((BodyFormat::Wsp, Bytes::from_static(b"third"))));
        assert_eq!(store.release(all[2].id, NOW).await.unwrap(), Release::Released { message_id: "q2".into() });
        assert!(store.by_token("token-q2").await.unwrap().is_some());
    }
}
