//! MM4 in: what a peer's mail asks for, turned into the core's submission or event, and the
//! SMTP reply and MM4 answer it gets. A forward is stored durably before the 250; a report
//! moves the recipient it is about; the answers peers send to our requests are logged.

use std::net::IpAddr;

use crate::config::Config;
use crate::core::accept::{Submission, When};
use crate::core::address;
use crate::core::envelope::{BodyFormat, Field, Origin};
use crate::core::events;
use crate::core::ids;
use crate::core::model::{AnswerKind, AnswerStatus, Change, OutboundJob, PeerAnswer};
use crate::core::policy::{Refusal, RefusalKind};
use crate::core::report::{DeliveryStatus, ReadStatus};
use crate::intake::Intake;
use crate::smtp::Reply;
use crate::store::{Delivery, Store};

use super::wire::{self, ForwardReq, Mm4Message, MmStatus, Response};

/// How long an answer owed to a peer waits for it.
const ANSWER_LIFETIME_SECS: i64 = 24 * 3600;

/// Takes one MM4 mail from `peer` for the recipients `rcpts` (RCPT TO, accepted already as this
/// relay's), as received.
pub async fn take(
    intake: &Intake,
    store: &Store,
    cfg: &Config,
    peer: &str,
    client: IpAddr,
    rcpts: &[String],
    mail: Vec<u8>,
) -> Reply {
    let now = ids::now();
    let parsed = match wire::parse(&mail, now) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "MM4 mail refused");
            return Reply::new(554, [5, 6, 0], format!("not a valid MM4 message: {e}"));
        }
    };
    metrics::counter!("tern_mm4_received_total", "type" => parsed.kind().name()).increment(1);
    match parsed {
        Mm4Message::ForwardReq(req) => {
            let sub = submission(cfg, peer, client, rcpts, &req, mail);
            forward(intake, store, peer, *req, sub).await
        }
        Mm4Message::DeliveryReportReq(r) => {
            let status = match r.status {
                MmStatus::Expired => DeliveryStatus::Expired,
                MmStatus::Retrieved => DeliveryStatus::Retrieved,
                MmStatus::Rejected => DeliveryStatus::Rejected,
                MmStatus::Deferred => DeliveryStatus::Deferred,
                MmStatus::Indeterminate => DeliveryStatus::Indeterminate,
                MmStatus::Forwarded => DeliveryStatus::Forwarded,
                MmStatus::Unrecognised => DeliveryStatus::Unrecognised,
            };
            let asked = Asked {
                transaction_id: &r.transaction_id,
                message_id: &r.message_id,
                recipient: &r.recipient,
                ack: r.ack_request,
            };
            report(store, peer, AnswerKind::DeliveryReport, asked, |d| events::peer_delivery_report(d, status, now))
                .await
        }
        Mm4Message::ReadReplyReq(r) => {
            let status = match r.status {
                wire::ReadStatus::Read => ReadStatus::Read,
                wire::ReadStatus::DeletedWithoutBeingRead => ReadStatus::DeletedUnread,
            };
            let asked = Asked {
                transaction_id: &r.transaction_id,
                message_id: &r.message_id,
                recipient: &r.recipient,
                ack: r.ack_request,
            };
            report(store, peer, AnswerKind::ReadReport, asked, |d| vec![events::read(d, status, now)]).await
        }
        Mm4Message::ForwardRes(res) | Mm4Message::DeliveryReportRes(res) | Mm4Message::ReadReplyRes(res) => {
            answered(peer, &res);
            Reply::ok("answer taken")
        }
    }
}

/// What a peer's report names: its request, the message and the recipient it is about.
struct Asked<'a> {
    transaction_id: &'a str,
    message_id: &'a str,
    /// In MM4 address form, as the report wrote it.
    recipient: &'a str,
    ack: bool,
}

/// A peer's report about a recipient of a message of ours: `changes` says what it does to the
/// recipient, and the answer the peer asked for says whether the message was found.
async fn report(
    store: &Store,
    peer: &str,
    kind: AnswerKind,
    asked: Asked<'_>,
    changes: impl FnOnce(&Delivery) -> Vec<Change>,
) -> Reply {
    let now = ids::now();
    let about = wire::from_mm4_address(asked.recipient);
    let (changes, status) = match store.by_message_and_recipient(asked.message_id, &about).await {
        Ok(Some(d)) => (changes(&d), AnswerStatus::Ok),
        Ok(None) => {
            tracing::info!(%peer, message_id = %asked.message_id, recipient = %about, "report for no message of ours");
            (Vec::new(), AnswerStatus::NotFound)
        }
        Err(e) => return unavailable(&e),
    };
    let answer =
        asked.ack.then(|| owed(peer, kind, asked.transaction_id, asked.message_id, asked.recipient, status, None, now));
    record(store, changes, answer).await
}

fn answered(peer: &str, res: &Response) {
    if res.status == wire::RequestStatus::Ok {
        tracing::debug!(%peer, transaction_id = %res.transaction_id, "peer confirmed");
    } else {
        tracing::warn!(%peer, transaction_id = %res.transaction_id, status = res.status.name(), text = ?res.status_text, "peer answered with an error");
    }
}

/// Takes a forward (`sub`, what it says as a submission, or why it cannot be one) and answers
/// the peer over SMTP and, when it asked, with an MM4_forward.RES.
async fn forward(
    intake: &Intake,
    store: &Store,
    peer: &str,
    req: ForwardReq,
    sub: Result<Submission, Refusal>,
) -> Reply {
    let now = ids::now();
    let answer = |status, text: Option<String>| {
        let to = answer_to(&req);
        req.ack_request
            .then(|| owed(peer, AnswerKind::Forward, &req.transaction_id, &req.message_id, &to, status, text, now))
    };
    let outcome = match sub {
        Ok(sub) => intake.submit(sub).await,
        Err(refusal) => Err(refusal),
    };
    match outcome {
        Ok(accepted) => {
            if !accepted.stored {
                tracing::info!(%peer, message_id = %accepted.message_id, "forward received again; delivered once");
            }
            record(store, Vec::new(), answer(AnswerStatus::Ok, None)).await
        }
        Err(refusal) if refusal.kind == RefusalKind::Transient => Reply::new(451, [4, 3, 0], refusal.text),
        Err(refusal) => {
            tracing::info!(%peer, message_id = %req.message_id, reason = %refusal.text, "forward refused");
            let status = answer_status(&refusal);
            // The peer hears it twice over: the SMTP refusal, and the MM4 answer it asked for.
            let _ = record(store, Vec::new(), answer(status, Some(refusal.text.clone()))).await;
            Reply::new(554, [5, 7, 1], refusal.text)
        }
    }
}

/// Who an answer to a forward is addressed to: the requester's system address, or its sender.
fn answer_to(req: &ForwardReq) -> String {
    req.originator_system.clone().unwrap_or_else(|| req.originator.clone())
}

fn answer_status(r: &Refusal) -> AnswerStatus {
    match r.kind {
        RefusalKind::ServiceDenied => AnswerStatus::ServiceDenied,
        RefusalKind::AddressUnresolved => AnswerStatus::AddressUnresolved,
        RefusalKind::FormatCorrupt => AnswerStatus::FormatCorrupt,
        RefusalKind::ContentNotAccepted => AnswerStatus::ContentNotAccepted,
        RefusalKind::Unsupported => AnswerStatus::Unsupported,
        RefusalKind::Transient => AnswerStatus::NetworkProblem,
    }
}

/// An MM4 answer queued for `peer`.
#[allow(clippy::too_many_arguments)]
fn owed(
    peer: &str,
    answers: AnswerKind,
    transaction_id: &str,
    message_id: &str,
    to: &str,
    status: AnswerStatus,
    text: Option<String>,
    now: i64,
) -> (String, OutboundJob, i64) {
    let answer = PeerAnswer {
        answers,
        transaction_id: transaction_id.to_owned(),
        message_id: message_id.to_owned(),
        to: to.to_owned(),
        status,
        text,
    };
    (format!("mm4:{peer}"), OutboundJob::Answer(answer), now + ANSWER_LIFETIME_SECS)
}

/// Applies what a peer's request changes, with the answer it asked for, then says 250.
async fn record(store: &Store, mut changes: Vec<Change>, answer: Option<(String, OutboundJob, i64)>) -> Reply {
    let now = ids::now();
    if let Some((destination, job, expires_at)) = answer {
        changes.push(Change::Enqueue { destination, job, now, expires_at });
    }
    if changes.is_empty() {
        return Reply::ok("taken");
    }
    match store.apply(changes).await {
        Ok(_) => Reply::ok("taken"),
        Err(e) => unavailable(&e),
    }
}

fn unavailable(e: &dyn std::fmt::Display) -> Reply {
    tracing::error!(error = %e, "store unavailable");
    Reply::new(451, [4, 3, 0], "cannot store it now; try again")
}

/// What a forward says, as the core's submission: for the recipients of this relay (RCPT TO),
/// with the others it lists kept for display. The body is the mail as received.
fn submission(
    cfg: &Config,
    peer: &str,
    client: IpAddr,
    rcpts: &[String],
    req: &ForwardReq,
    mail: Vec<u8>,
) -> Result<Submission, Refusal> {
    let originator = address::normalize(&req.originator, &cfg.subscribers)
        .map_err(|e| Refusal::new(RefusalKind::AddressUnresolved, format!("originator {e}")))?;
    let ours: Vec<String> = rcpts.iter().map(|r| wire::from_mm4_address(r)).collect();
    let field = |a: &String| {
        if req.to.contains(a) {
            Field::To
        } else if req.cc.contains(a) {
            Field::Cc
        } else {
            Field::Bcc
        }
    };
    let recipients = ours.iter().map(|a| (field(a), a.clone())).collect();
    let listed = req
        .to
        .iter()
        .map(|a| (Field::To, a))
        .chain(req.cc.iter().map(|a| (Field::Cc, a)))
        .filter(|(_, a)| !ours.contains(a))
        .map(|(f, a)| (f, a.clone()))
        .collect();
    let when = |t: i64| When::Absolute(u64::try_from(t).unwrap_or(0));
    Ok(Submission {
        origin: Origin::Mm4 { peer: peer.to_owned(), transaction_id: req.transaction_id.clone() },
        originator,
        recipients,
        listed,
        subject: req.subject.clone(),
        class: req.class.clone(),
        priority: req.priority,
        expiry: req.expires_at.map(when),
        delivery_time: req.deliver_after.map(when),
        delivery_report: req.delivery_report,
        read_report: req.read_reply,
        sender_visible: req.sender_visible,
        content_type: req.content.media_type.clone(),
        format: BodyFormat::Mime,
        body: mail.into(),
        forwarded_from: req.forwarded_from.clone(),
        applic_id: req.applic_id.clone(),
        reply_applic_id: req.reply_applic_id.clone(),
        aux_applic_info: req.aux_applic_info.clone(),
        content_class: req.content_class.clone(),
        drm: req.drm,
        no_distribution: req.no_distribution,
        message_id: Some(req.message_id.clone()),
        date: Some(req.date),
        client: Some(client),
    })
}
