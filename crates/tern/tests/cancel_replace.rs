//! A sender taking back or replacing a message its recipients have not fetched yet (what MM7's
//! CancelReq and ReplaceReq ask for): in the store, a replacement is stored and served in place
//! of the old body, whose segment is freed, and is refused once a recipient fetched the message
//! or it expired; a cancellation moves only recipients still waiting. End to end over MM1, a
//! handset whose copy was cancelled gets an error status, and one whose copy was replaced the
//! new body byte for byte.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::Relay;
use sqlx::{Connection, SqliteConnection};
use tern::core::envelope::{BodyFormat, Destination, Envelope, Field, Origin, Recipient};
use tern::core::events;
use tern::store::{Change, NewMessage, NewRecipient, RecipientState, Store};
use tern_codec::mms::*;
use tern_codec::wsp::EncodedString;

const SENDER: &str = "+15550100001";
const FIRST: &str = "+15550100002";
const SECOND: &str = "+15550100003";
const NOW: i64 = 1_900_000_000;

fn message(message_id: &str, body: &[u8]) -> NewMessage {
    let to = |a: &str| Recipient { address: a.into(), field: Field::To, destination: Destination::Local };
    let envelope = Envelope {
        message_id: message_id.into(),
        originator: SENDER.into(),
        recipients: vec![to(FIRST), to(SECOND)],
        subject: Some("offer".into()),
        class: None,
        priority: None,
        date: NOW,
        expires_at: NOW + 3600,
        deliver_after: NOW,
        delivery_report: true,
        read_report: false,
        sender_visible: true,
        content_type: "application/vnd.wap.multipart.mixed".into(),
        forwarded_from: None,
        applic_id: None,
        reply_applic_id: None,
        aux_applic_info: None,
        content_class: None,
        drm: false,
        no_distribution: false,
        origin: Origin::Mm1,
    };
    let recipient = |a: &str| NewRecipient {
        address: a.into(),
        destination: "local".into(),
        token: Some(format!("{message_id}-{a}")),
        transaction_id: Some(format!("tx-{message_id}-{a}")),
        state: RecipientState::Accepted,
        status_text: None,
    };
    NewMessage {
        envelope,
        format: BodyFormat::Wsp,
        body: body.to_vec().into(),
        recipients: vec![recipient(FIRST), recipient(SECOND)],
    }
}

fn replace(message: i64, body: &[u8], deliver_after: Option<i64>) -> Change {
    Change::Replace {
        message,
        body: body.to_vec().into(),
        content_type: "text/plain".into(),
        format: BodyFormat::Wsp,
        deliver_after,
        now: NOW,
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    common::scratch(&format!("cancel-replace-{name}"))
}

async fn sql(dir: &Path) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", dir.join("tern.db").display())).await.unwrap()
}

/// Each segment's id and live count, in order.
async fn segments(dir: &Path) -> Vec<(i64, i64)> {
    sqlx::query_as("SELECT id, live FROM segments ORDER BY id").fetch_all(&mut sql(dir).await).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_body_is_served_and_the_old_segment_freed() {
    let dir = scratch("replaced");
    let (store, handle) = Store::open(&dir, 16).await.unwrap();
    assert_eq!(store.apply(vec![Change::Accept(Box::new(message("m1", b"the old body")))]).await.unwrap(), [true]);
    drop(store);
    handle.closed().await;
    // The segment holding the old body is sealed, as it is once it grows full, so the
    // replacement goes to a new one.
    sqlx::query("UPDATE segments SET sealed = 1").execute(&mut sql(&dir).await).await.unwrap();
    let (store, handle) = Store::open(&dir, 16).await.unwrap();
    assert_eq!(segments(&dir).await, [(1, 1), (2, 0)]);

    let stored = store.message("m1").await.unwrap().unwrap();
    assert_eq!(
        stored.recipients.iter().map(|d| (d.address.as_str(), d.route.as_str())).collect::<Vec<_>>(),
        [(FIRST, "local"), (SECOND, "local")]
    );
    let later = NOW + 600;
    assert_eq!(store.apply(vec![replace(stored.id, b"a new body, longer", Some(later))]).await.unwrap(), [true]);

    let stored = store.message("m1").await.unwrap().unwrap();
    assert_eq!(stored.envelope.content_type, "text/plain");
    assert_eq!(stored.envelope.deliver_after, later);
    let d = store.by_token(&format!("m1-{FIRST}")).await.unwrap().unwrap();
    assert_eq!((d.size, d.envelope.content_type.as_str()), (18, "text/plain"));
    assert_eq!(store.body(&d.body).await.unwrap(), &b"a new body, longer"[..]);
    assert_eq!(segments(&dir).await, [(1, 0), (2, 1)], "the message lives in the new segment only");
    let due: Vec<(i64,)> =
        sqlx::query_as("SELECT next_attempt_at FROM pushes ORDER BY id").fetch_all(&mut sql(&dir).await).await.unwrap();
    assert_eq!(due, [(later,), (later,)], "the notifications wait for the new delivery time");

    assert_eq!(store.collect_garbage().await.unwrap(), 1);
    assert!(!dir.join("payloads/0000000001.seg").exists(), "the old body's segment is removed");
    assert_eq!(store.body(&d.body).await.unwrap(), &b"a new body, longer"[..]);
    drop(store);
    handle.closed().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replace_is_refused_once_a_recipient_fetched_the_message_or_it_expired() {
    let dir = scratch("refused");
    let (store, handle) = Store::open(&dir, 16).await.unwrap();
    let changes = vec![
        Change::Accept(Box::new(message("fetched", b"fetched body"))),
        Change::Accept(Box::new(message("expired", b"expired body"))),
    ];
    assert_eq!(store.apply(changes).await.unwrap(), [true, true]);
    let fetched = store.message("fetched").await.unwrap().unwrap();
    assert_eq!(store.apply(vec![events::retrieved(&fetched.recipients[1], true, NOW)]).await.unwrap(), [true]);
    let expired = store.message("expired").await.unwrap().unwrap();
    assert_eq!(store.apply(vec![Change::Expire { message: expired.id }]).await.unwrap(), [true]);

    let changes = vec![replace(fetched.id, b"too late", None), replace(expired.id, b"too late", None)];
    assert_eq!(store.apply(changes).await.unwrap(), [false, false]);
    let d = store.by_token(&format!("fetched-{FIRST}")).await.unwrap().unwrap();
    assert_eq!(d.envelope.content_type, "application/vnd.wap.multipart.mixed");
    assert_eq!(store.body(&d.body).await.unwrap(), &b"fetched body"[..]);
    assert_eq!(segments(&dir).await, [(1, 1)], "only the message still held counts, once");

    // An acknowledged recipient has fetched it too.
    let changes = vec![Change::Accept(Box::new(message("acknowledged", b"body")))];
    assert_eq!(store.apply(changes).await.unwrap(), [true]);
    let acked = store.message("acknowledged").await.unwrap().unwrap();
    assert_eq!(store.apply(events::acknowledged(&acked.recipients[0], true, NOW)).await.unwrap(), [true, true, true]);
    assert_eq!(store.apply(vec![replace(acked.id, b"too late", None)]).await.unwrap(), [false]);
    drop(store);
    handle.closed().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_moves_only_recipients_still_waiting() {
    let dir = scratch("cancel");
    let (store, handle) = Store::open(&dir, 16).await.unwrap();
    assert_eq!(store.apply(vec![Change::Accept(Box::new(message("m1", b"body")))]).await.unwrap(), [true]);
    let stored = store.message("m1").await.unwrap().unwrap();
    let [first, second] = [&stored.recipients[0], &stored.recipients[1]];
    let changes = vec![events::notified(vec![first.recipient], NOW), events::retrieved(second, true, NOW)];
    assert_eq!(store.apply(changes).await.unwrap(), [true, true]);

    let changes = vec![events::cancelled(first, NOW), events::cancelled(second, NOW), events::cancelled(first, NOW)];
    assert_eq!(store.apply(changes).await.unwrap(), [true, false, false]);
    let stored = store.message("m1").await.unwrap().unwrap();
    let states: Vec<RecipientState> = stored.recipients.iter().map(|d| d.state).collect();
    assert_eq!(states, [RecipientState::Cancelled, RecipientState::Retrieved]);
    // A cancelled recipient is not notified again, nor retrieved by a late event.
    let pending: Vec<(String,)> = sqlx::query_as("SELECT state FROM pushes WHERE recipient = ?")
        .bind(first.recipient)
        .fetch_all(&mut sql(&dir).await)
        .await
        .unwrap();
    assert_eq!(pending, [("cancelled".to_owned(),)]);
    assert_eq!(store.apply(vec![events::retrieved(first, true, NOW)]).await.unwrap(), [false]);
    // Nor reported: the only report is the second recipient's retrieval.
    let reports: Vec<(i64,)> = sqlx::query_as("SELECT count(*) FROM pushes WHERE report IS NOT NULL")
        .fetch_all(&mut sql(&dir).await)
        .await
        .unwrap();
    assert_eq!(reports, [(1,)]);
    drop(store);
    handle.closed().await;
}

/// An m-send.req from the sender to the first recipient with one text part.
fn send_req(tid: &str) -> Vec<u8> {
    let req = SendReq {
        transaction_id: Some(tid.into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: vec![Address::phone(FIRST)],
        subject: Some(EncodedString::auto(tid)),
        ..SendReq::default()
    };
    let text = tern_codec::wsp::Part::new(tern_codec::wsp::ContentType::new("text/plain"), &b"first version"[..]);
    let body = Body::multipart(tern_codec::wsp::ContentType::new("application/vnd.wap.multipart.mixed"), vec![text]);
    Message::with_body(req, body).encode()
}

fn send(relay: &Relay, tid: &str) -> String {
    let answer = relay.post(&send_req(tid), Some(SENDER));
    let Pdu::SendConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("expected an m-send.conf") };
    assert_eq!(conf.response_status, Some(ResponseStatus::OK), "{:?}", conf.response_text);
    conf.message_id.unwrap()
}

fn retrieval_url(relay: &Relay) -> String {
    loop {
        if let Pdu::NotificationInd(n) = relay.next_push().1.pdu {
            return n.content_location.unwrap();
        }
    }
}

#[test]
fn a_handset_fetches_the_replacement_and_not_a_cancelled_message() {
    let mut relay = Relay::start("cancel-replace-mm1", &[]);
    let cancelled = send(&relay, "to-cancel");
    let cancelled_url = retrieval_url(&relay);
    let replaced = send(&relay, "to-replace");
    let replaced_url = retrieval_url(&relay);
    // The new body in its MM1 form, as a handset would have sent it: the Content-Type field
    // (multipart/mixed), then one text part.
    let part_headers = b"text/plain\0";
    let new_text = b"second version, with more to say";
    let mut new_body = vec![0x84, 0xA3, 0x01, part_headers.len() as u8, new_text.len() as u8];
    new_body.extend_from_slice(part_headers);
    new_body.extend_from_slice(new_text);

    // The sender's requests, taken while the relay is stopped (they come over MM7 otherwise).
    relay.stop();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (store, handle) = Store::open(&relay.data, 16).await.unwrap();
        let gone = store.message(&cancelled).await.unwrap().unwrap();
        assert_eq!(store.apply(vec![events::cancelled(&gone.recipients[0], 0)]).await.unwrap(), [true]);
        let kept = store.message(&replaced).await.unwrap().unwrap();
        let change = Change::Replace {
            message: kept.id,
            body: new_body.clone().into(),
            content_type: "application/vnd.wap.multipart.mixed".into(),
            format: BodyFormat::Wsp,
            deliver_after: None,
            now: tern::core::ids::now(),
        };
        assert_eq!(store.apply(vec![change]).await.unwrap(), [true]);
        drop(store);
        handle.closed().await;
    });
    relay.restart();

    let answer = relay.get(&cancelled_url, Some(FIRST));
    let Pdu::RetrieveConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-retrieve.conf") };
    assert_eq!(conf.retrieve_status, Some(RetrieveStatus::PERMANENT_MESSAGE_NOT_FOUND));
    assert_eq!(conf.retrieve_text.map(|t| t.text.to_string()).as_deref(), Some("the sender cancelled the message"));
    assert_eq!(conf.message_id, None, "nothing of the message is served");

    let answer = relay.get(&replaced_url, Some(FIRST));
    assert!(answer.body.ends_with(&new_body), "the new body is served as it was stored");
    let message = Message::decode(&answer.body).unwrap();
    let Pdu::RetrieveConf(conf) = &message.pdu else { panic!("an m-retrieve.conf") };
    assert_eq!(conf.message_id.as_deref(), Some(replaced.as_str()));
    assert_eq!(message.body.unwrap().parts()[0].data.as_ref(), new_text);
}
