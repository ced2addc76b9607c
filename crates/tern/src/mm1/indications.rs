//! The one-way indications from handsets: m-notifyresp.ind and m-acknowledge.ind (matched to
//! the recipient by the Transaction-ID the relay gave it) and m-read-rec.ind (matched by
//! Message-ID and the reader a trusted proxy names). Answered 204 when taken, 404 when they
//! name nothing known here, 403 for a read report with no trusted identity.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tern_codec::mms::{AcknowledgeInd, NotifyRespInd, ReadRecInd, ReadStatus, Status};

use super::Mm1;
use super::answer;
use super::identity::Identity;
use crate::core::events::{self, NotifyAnswer};
use crate::core::{ids, report};
use crate::store::{Change, Delivery};

/// Whether the requester may speak for this recipient: a trusted identity must be the
/// recipient's; without one the unguessable Transaction-ID is the proof.
fn owns(who: &Identity, d: &Delivery) -> bool {
    match who {
        Identity::Trusted { msisdn, .. } => msisdn.canonical == d.address,
        _ => true,
    }
}

async fn by_transaction(mm1: &Mm1, who: &Identity, tid: Option<&str>) -> Result<Delivery, Response> {
    let tid = tid.ok_or_else(answer::unknown)?;
    match mm1.store.by_transaction(tid).await {
        Ok(Some(d)) if owns(who, &d) => Ok(d),
        Ok(_) => Err(answer::unknown()),
        Err(e) => {
            tracing::error!(error = %e, "store unavailable");
            Err(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
    }
}

async fn apply(mm1: &Mm1, changes: Vec<Change>) -> Response {
    match mm1.store.apply(changes).await {
        Ok(_) => answer::taken(),
        Err(e) => {
            tracing::error!(error = %e, "store unavailable");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

pub async fn notify_response(mm1: &Mm1, who: Identity, ind: NotifyRespInd) -> Response {
    let d = match by_transaction(mm1, &who, ind.transaction_id.as_deref()).await {
        Ok(d) => d,
        Err(answer) => return answer,
    };
    let Some(status) = ind.status else { return StatusCode::BAD_REQUEST.into_response() };
    let allowed = ind.report_allowed != Some(false);
    let answer = match status {
        Status::RETRIEVED => NotifyAnswer::Retrieved,
        Status::DEFERRED => NotifyAnswer::Deferred,
        Status::REJECTED => NotifyAnswer::Rejected,
        _ => NotifyAnswer::Unrecognised,
    };
    apply(mm1, events::notify_response(&d, answer, allowed, ids::now())).await
}

pub async fn acknowledge(mm1: &Mm1, who: Identity, ind: AcknowledgeInd) -> Response {
    let d = match by_transaction(mm1, &who, ind.transaction_id.as_deref()).await {
        Ok(d) => d,
        Err(answer) => return answer,
    };
    let allowed = ind.report_allowed != Some(false);
    apply(mm1, events::acknowledged(&d, allowed, ids::now())).await
}

/// A read report names its message by Message-ID, which every co-recipient knows, so the reader
/// is taken only from a trusted identity, never from the PDU's From; and each recipient's read
/// status is reported once, however often the handset (or anyone) repeats it.
pub async fn read_report(mm1: &Mm1, who: Identity, ind: ReadRecInd) -> Response {
    let Identity::Trusted { msisdn: reader, .. } = who else {
        tracing::warn!("read report without a trusted identity refused");
        return StatusCode::FORBIDDEN.into_response();
    };
    let Some(message_id) = ind.message_id.as_deref() else { return answer::unknown() };
    let d = match mm1.store.by_message_and_recipient(message_id, &reader.canonical).await {
        Ok(Some(d)) => d,
        Ok(None) => return answer::unknown(),
        Err(e) => {
            tracing::error!(error = %e, "store unavailable");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    // The sender asked for none, or it was reported already: taken and dropped, since a
    // handset retries on errors.
    if !d.envelope.read_report || d.read_at.is_some() {
        return answer::taken();
    }
    let status = match ind.read_status {
        Some(ReadStatus::DELETED_WITHOUT_BEING_READ) => report::ReadStatus::DeletedUnread,
        _ => report::ReadStatus::Read,
    };
    apply(mm1, vec![events::read(&d, status, ids::now())]).await
}
