//! How handset events move a recipient through the delivery lifecycle, and which reports they
//! send back: accepted -> notified -> retrieved -> acknowledged, or deferred, rejected,
//! unrecognised, expired. Each event is one conditional transition of the table in
//! [`super::state`], so a repeated or late event (a second GET, an acknowledgement after expiry)
//! changes nothing and reports nothing twice.

use tern_codec::mms::{ReadStatus, Status};

use super::address::{self, Normalized, Route};
use super::compose;
use super::model::{Change, Delivery};
use super::settings::SubscribersConfig;
use super::state::{RecipientEvent as E, Transition};

/// The sender, when it is a local subscriber that reports can be pushed to.
fn local_sender(d: &Delivery, subs: &SubscribersConfig) -> Option<Normalized> {
    address::normalize(&d.sender, subs).ok().filter(|n| n.route == Route::Local)
}

fn report(
    d: &Delivery,
    status: Status,
    allowed: bool,
    now: i64,
    subs: &SubscribersConfig,
) -> Option<(String, Vec<u8>)> {
    if !(d.delivery_report && allowed) {
        return None;
    }
    let sender = local_sender(d, subs)?;
    let recipient = address::normalize(&d.address, subs).ok()?;
    Some((sender.canonical, compose::delivery_report(&d.message_id, &recipient, status, now)))
}

fn transition(
    d: &Delivery,
    event: E,
    status: Option<Status>,
    allowed: bool,
    now: i64,
    subs: &SubscribersConfig,
) -> Change {
    let Transition { from, to } = event.transition();
    Change::Transition {
        recipient: d.recipient,
        from,
        to,
        status_text: None,
        now,
        cancel_pushes: true,
        report: status.and_then(|s| report(d, s, allowed, now, subs)),
    }
}

/// The recipient fetched the message (a GET counts even with no m-notifyresp.ind after it).
pub fn retrieved(d: &Delivery, allowed: bool, now: i64, subs: &SubscribersConfig) -> Change {
    transition(d, E::Retrieved, Some(Status::RETRIEVED), allowed, now, subs)
}

/// The recipient confirmed it has the message, which starts the time its retrieval URL is
/// still honoured (`retrieval.after_ack_secs`).
fn confirmed(d: &Delivery, now: i64) -> Change {
    Change::Confirmed { recipient: d.recipient, now }
}

/// An m-notifyresp.ind with `status`.
pub fn notify_response(d: &Delivery, status: Status, allowed: bool, now: i64, subs: &SubscribersConfig) -> Vec<Change> {
    let change = match status {
        Status::RETRIEVED => return vec![retrieved(d, allowed, now, subs), confirmed(d, now)],
        Status::DEFERRED => transition(d, E::Deferred, Some(status), allowed, now, subs),
        Status::REJECTED => transition(d, E::Rejected, Some(status), allowed, now, subs),
        _ => transition(d, E::Unrecognised, Some(Status::UNRECOGNISED), allowed, now, subs),
    };
    vec![change]
}

/// An m-acknowledge.ind: retrieved (reported if the GET was not yet), then acknowledged.
pub fn acknowledged(d: &Delivery, allowed: bool, now: i64, subs: &SubscribersConfig) -> Vec<Change> {
    vec![retrieved(d, allowed, now, subs), transition(d, E::Acknowledged, None, allowed, now, subs), confirmed(d, now)]
}

/// The first notifications to these recipients went out.
pub fn notified(recipients: Vec<i64>, now: i64) -> Change {
    let Transition { from, to } = E::Notified.transition();
    Change::TransitionMany { recipients, from, to, now }
}

/// The message expired before this recipient fetched it.
pub fn expired(d: &Delivery, now: i64, subs: &SubscribersConfig) -> Change {
    transition(d, E::Expired, Some(Status::EXPIRED), true, now, subs)
}

/// An m-read-rec.ind from the recipient: taken once, with an m-read-orig.ind for the sender
/// when the sender is a local subscriber.
pub fn read(d: &Delivery, status: ReadStatus, now: i64, subs: &SubscribersConfig) -> Change {
    let report = local_sender(d, subs).zip(address::normalize(&d.address, subs).ok()).map(|(sender, reader)| {
        let pdu = compose::read_report(&d.message_id, &sender, &reader, status, now);
        (sender.canonical, pdu)
    });
    Change::ReadReport { recipient: d.recipient, now, report }
}
