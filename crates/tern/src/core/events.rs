//! How events from handsets, peers and the outbound queues move a recipient through the
//! delivery lifecycle, and which reports they send back: accepted -> notified -> retrieved ->
//! acknowledged here, accepted -> forwarded -> what the next relay reports there, or deferred,
//! rejected, unrecognised, expired, failed, cancelled. Each event is one conditional transition of the
//! table in [`super::state`], so a repeated or late event (a second GET, an acknowledgement
//! after expiry) changes nothing and reports nothing twice. A report goes back the way the
//! message came: pushed to a local sender's handset, or queued for the peer or content provider that sent it.

use super::envelope::Origin;
use super::model::{Change, Delivery, OutboundJob};
use super::report::{DeliveryStatus, REPORT_LIFETIME_SECS, ReadStatus, Report, ReportKind, ReportRoute};
use super::settings::RetrievalConfig;
use super::state::{RecipientEvent as E, Transition};

/// Whether a recipient's copy no longer leaves the relay: it confirmed having it more than
/// `after_ack_secs` ago.
pub fn retrieval_closed(d: &Delivery, now: i64, cfg: &RetrievalConfig) -> bool {
    let keep = i64::try_from(cfg.after_ack_secs).unwrap_or(i64::MAX);
    d.acked_at.is_some_and(|at| now.saturating_sub(at) > keep)
}

/// Where a report about `d` goes: back the way its message came. A message from e-mail gets
/// none (its sender has no handset to show it).
pub fn report_route(d: &Delivery, kind: ReportKind, now: i64) -> Option<ReportRoute> {
    let env = &d.envelope;
    let report = Report {
        message_id: env.message_id.clone(),
        about: d.address.clone(),
        to: env.originator.clone(),
        kind,
        date: now,
    };
    match &env.origin {
        Origin::Mm1 => Some(ReportRoute::Push { msisdn: env.originator.clone(), report }),
        Origin::Mm4 { peer, .. } => Some(ReportRoute::Outbound { destination: format!("mm4:{peer}"), report }),
        Origin::Mm7 { vasp, .. } => Some(ReportRoute::Outbound { destination: format!("mm7:{vasp}"), report }),
        Origin::Mm3 => None,
    }
}

fn delivery_report(d: &Delivery, status: DeliveryStatus, allowed: bool, now: i64) -> Option<ReportRoute> {
    (d.envelope.delivery_report && allowed).then(|| report_route(d, ReportKind::Delivery(status), now)).flatten()
}

fn transition(d: &Delivery, event: E, status: Option<DeliveryStatus>, allowed: bool, now: i64) -> Change {
    let Transition { from, to } = event.transition();
    Change::Transition {
        recipient: d.recipient,
        from,
        to,
        status_text: None,
        now,
        cancel_pushes: true,
        report: status.and_then(|s| delivery_report(d, s, allowed, now)),
    }
}

/// The recipient fetched the message (a GET counts even with no m-notifyresp.ind after it).
pub fn retrieved(d: &Delivery, allowed: bool, now: i64) -> Change {
    transition(d, E::Retrieved, Some(DeliveryStatus::Retrieved), allowed, now)
}

/// The recipient confirmed it has the message, which starts the time its retrieval URL is
/// still honoured (`retrieval.after_ack_secs`).
fn confirmed(d: &Delivery, now: i64) -> Change {
    Change::Confirmed { recipient: d.recipient, now }
}

/// What a handset answered to its notification (m-notifyresp.ind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyAnswer {
    Retrieved,
    Deferred,
    Rejected,
    /// Any other status: the handset did not recognise the notification.
    Unrecognised,
}

/// An m-notifyresp.ind with `answer`.
pub fn notify_response(d: &Delivery, answer: NotifyAnswer, allowed: bool, now: i64) -> Vec<Change> {
    let change = match answer {
        NotifyAnswer::Retrieved => return vec![retrieved(d, allowed, now), confirmed(d, now)],
        NotifyAnswer::Deferred => transition(d, E::Deferred, Some(DeliveryStatus::Deferred), allowed, now),
        NotifyAnswer::Rejected => transition(d, E::Rejected, Some(DeliveryStatus::Rejected), allowed, now),
        NotifyAnswer::Unrecognised => transition(d, E::Unrecognised, Some(DeliveryStatus::Unrecognised), allowed, now),
    };
    vec![change]
}

/// An m-acknowledge.ind: retrieved (reported if the GET was not yet), then acknowledged.
pub fn acknowledged(d: &Delivery, allowed: bool, now: i64) -> Vec<Change> {
    vec![retrieved(d, allowed, now), transition(d, E::Acknowledged, None, allowed, now), confirmed(d, now)]
}

/// The first notifications to these recipients went out.
pub fn notified(recipients: Vec<i64>, now: i64) -> Change {
    let Transition { from, to } = E::Notified.transition();
    Change::TransitionMany { recipients, from, to, now }
}

/// The message expired before this recipient fetched it.
pub fn expired(d: &Delivery, now: i64) -> Change {
    transition(d, E::Expired, Some(DeliveryStatus::Expired), true, now)
}

/// The sender cancelled the message (MM7 CancelReq) while this recipient still waited for it
/// here: its pending notifications are cancelled with it, and no report goes, since the sender
/// is the one who asked. A recipient that fetched it already, or one forwarded, stays as it is
/// (the change does not apply).
pub fn cancelled(d: &Delivery, now: i64) -> Change {
    transition(d, E::Cancelled, None, true, now)
}

/// A read report from the recipient (its handset's m-read-rec.ind, or a peer's
/// MM4_read_reply_report.REQ): taken once, and passed on to the sender when it asked for one.
pub fn read(d: &Delivery, status: ReadStatus, now: i64) -> Change {
    let report = d.envelope.read_report.then(|| report_route(d, ReportKind::Read(status), now)).flatten();
    Change::ReadReport { recipient: d.recipient, now, report }
}

/// The next relay or the mail system took the message for these recipients.
pub fn forwarded(recipients: Vec<i64>, now: i64) -> Change {
    let Transition { from, to } = E::Forwarded.transition();
    Change::TransitionMany { recipients, from, to, now }
}

/// The next relay or the mail system refused the message for this recipient for good, or its
/// queue gave up: the recipient fails, and the sender hears so when it asked for reports.
pub fn forward_failed(d: &Delivery, reason: &str, now: i64) -> Change {
    let Transition { from, to } = E::Failed.transition();
    Change::Transition {
        recipient: d.recipient,
        from,
        to,
        status_text: Some(reason.to_owned()),
        now,
        cancel_pushes: false,
        report: delivery_report(d, DeliveryStatus::Unreachable, true, now),
    }
}

/// The relay a recipient was forwarded to reports what became of the message for it: the
/// recipient moves as a local one would, and the sender hears it. A status that names no
/// state (forwarded further, indeterminate) is passed on without a move.
pub fn peer_delivery_report(d: &Delivery, status: DeliveryStatus, now: i64) -> Vec<Change> {
    let event = match status {
        DeliveryStatus::Retrieved => E::Retrieved,
        DeliveryStatus::Rejected => E::Rejected,
        DeliveryStatus::Deferred => E::Deferred,
        DeliveryStatus::Expired => E::Expired,
        DeliveryStatus::Unrecognised => E::Unrecognised,
        DeliveryStatus::Unreachable => E::Failed,
        DeliveryStatus::Forwarded | DeliveryStatus::Indeterminate => {
            return delivery_report(d, status, true, now).into_iter().map(|route| queue(route, now)).collect();
        }
    };
    vec![transition(d, event, Some(status), true, now)]
}

/// A report that comes from no transition of its own, queued where its route says.
fn queue(route: ReportRoute, now: i64) -> Change {
    match route {
        ReportRoute::Push { msisdn, report } => Change::PushReport { msisdn, report, now },
        ReportRoute::Outbound { destination, report } => {
            let expires_at = now.saturating_add(REPORT_LIFETIME_SECS);
            Change::Enqueue { destination, job: OutboundJob::Report(report), now, expires_at }
        }
    }
}
