//! MM4 out: the mail each outbound job becomes, with its SMTP envelope. A forward carries the
//! recipients of this peer that are still waiting; reports and answers go from this relay's
//! system address.

use crate::config::{Config, Mm4Peer};
use crate::content::Content;
use crate::core::envelope::{Destination, Envelope};
use crate::core::ids;
use crate::core::model::{AnswerKind, AnswerStatus, PeerAnswer};
use crate::core::report::{DeliveryStatus, ReadStatus, Report, ReportKind};
use crate::smtp::Outgoing;

use super::wire::{self, DeliveryReport, ForwardParams, MmStatus, ReadReply, RequestStatus, Response};

/// The X-Mms-Transaction-ID of outbound job `job`: the same at every attempt, so that a peer
/// that took an attempt whose answer was lost can tell the next one for a repeat, and unique
/// among the relays that share one store.
pub fn transaction_id(job: i64, message_id: &str) -> String {
    format!("{message_id}.{job}")
}

/// An MM4_forward.REQ of `env` for `recipients` (canonical addresses) behind `peer`, as job `job`.
pub fn forward(
    cfg: &Config,
    peer: &Mm4Peer,
    job: i64,
    env: &Envelope,
    content: &Content,
    recipients: &[String],
) -> Outgoing {
    let tid = transaction_id(job, &env.message_id);
    let mut params = ForwardParams::new(tid, cfg.mm4.originator_system(), &cfg.mm4.domain);
    params.version = cfg.mm4.version.clone();
    params.ack_request = cfg.mm4.ack_request;
    for r in &env.recipients {
        // Every number is written with the domain of the relay that serves it; ours when it is
        // one of ours or listed only.
        let domain = match &r.destination {
            Destination::Mm4 { peer: name } => cfg.mm4.peer(name).map_or(peer.domain.as_str(), |p| p.domain.as_str()),
            _ => cfg.mm4.domain.as_str(),
        };
        if !r.address.contains('@') {
            params.recipient_domains.insert(r.address.clone(), domain.to_owned());
        }
    }
    Outgoing {
        from: wire::to_mm4_address(&env.originator, &cfg.mm4.domain),
        to: recipients.iter().map(|a| wire::to_mm4_address(a, &peer.domain)).collect(),
        mail: wire::build_forward_req(env, content, &params),
    }
}

/// A report about a recipient here, for the originator behind `peer`, as job `job`.
pub fn report(cfg: &Config, peer: &Mm4Peer, job: i64, r: &Report) -> Outgoing {
    let recipient = wire::to_mm4_address(&r.about, &cfg.mm4.domain);
    let originator = wire::to_mm4_address(&r.to, &peer.domain);
    let transaction_id = transaction_id(job, &r.message_id);
    let mail = match r.kind {
        ReportKind::Delivery(status) => wire::build_delivery_report_req(&DeliveryReport {
            version: cfg.mm4.version.clone(),
            transaction_id,
            message_id: r.message_id.clone(),
            recipient,
            originator: originator.clone(),
            date: r.date,
            ack_request: cfg.mm4.ack_request,
            status: mm_status(status),
            status_text: None,
        }),
        ReportKind::Read(status) => wire::build_read_reply_req(&ReadReply {
            version: cfg.mm4.version.clone(),
            transaction_id,
            message_id: r.message_id.clone(),
            recipient,
            originator: originator.clone(),
            date: r.date,
            ack_request: cfg.mm4.ack_request,
            status: match status {
                ReadStatus::Read => wire::ReadStatus::Read,
                ReadStatus::DeletedUnread => wire::ReadStatus::DeletedWithoutBeingRead,
            },
            status_text: None,
        }),
    };
    Outgoing { from: cfg.mm4.originator_system(), to: vec![originator], mail }
}

fn mm_status(s: DeliveryStatus) -> MmStatus {
    match s {
        DeliveryStatus::Retrieved => MmStatus::Retrieved,
        DeliveryStatus::Rejected => MmStatus::Rejected,
        DeliveryStatus::Deferred => MmStatus::Deferred,
        DeliveryStatus::Expired => MmStatus::Expired,
        DeliveryStatus::Unrecognised => MmStatus::Unrecognised,
        DeliveryStatus::Forwarded => MmStatus::Forwarded,
        // MM4 has no status for a hop that refused it: the recipient's fate is unknown here.
        DeliveryStatus::Indeterminate | DeliveryStatus::Unreachable => MmStatus::Indeterminate,
    }
}

/// An answer owed to `peer`: MM4_forward.RES or a report's .RES.
pub fn answer(cfg: &Config, a: &PeerAnswer) -> Outgoing {
    let res = Response {
        version: cfg.mm4.version.clone(),
        transaction_id: a.transaction_id.clone(),
        message_id: Some(a.message_id.clone()),
        status: request_status(a.status),
        status_text: a.text.clone(),
        from: cfg.mm4.originator_system(),
        to: a.to.clone(),
        date: ids::now(),
    };
    let mail = match a.answers {
        AnswerKind::Forward => wire::build_forward_res(&res),
        AnswerKind::DeliveryReport => wire::build_delivery_report_res(&res),
        AnswerKind::ReadReport => wire::build_read_reply_res(&res),
    };
    Outgoing { from: cfg.mm4.originator_system(), to: vec![a.to.clone()], mail }
}

fn request_status(s: AnswerStatus) -> RequestStatus {
    match s {
        AnswerStatus::Ok => RequestStatus::Ok,
        AnswerStatus::Unspecified => RequestStatus::ErrorUnspecified,
        AnswerStatus::ServiceDenied => RequestStatus::ErrorServiceDenied,
        AnswerStatus::FormatCorrupt => RequestStatus::ErrorMessageFormatCorrupt,
        AnswerStatus::AddressUnresolved => RequestStatus::ErrorSendingAddressUnresolved,
        AnswerStatus::NotFound => RequestStatus::ErrorMessageNotFound,
        AnswerStatus::NetworkProblem => RequestStatus::ErrorNetworkProblem,
        AnswerStatus::ContentNotAccepted => RequestStatus::ErrorContentNotAccepted,
        AnswerStatus::Unsupported => RequestStatus::ErrorUnsupportedMessage,
    }
}
