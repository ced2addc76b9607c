//! CancelReq and ReplaceReq: a VASP takes back, or changes, a message it submitted while it
//! is still waiting for its recipients. Only the VASP that submitted a message may touch it,
//! and only its recipients here that have not fetched it: a message forwarded to another
//! relay or to e-mail is out of reach, and a replace is refused once anyone has fetched it (they
//! would have seen the other content).

use super::accounts::Account;
use super::server::Mm7;
use super::soap::{Attachment, CancelReq, ReplaceReq, Status, StatusCode};
use super::submit::status;
use crate::core::envelope::{BodyFormat, Destination, Origin};
use crate::core::events;
use crate::core::model::{Change, StoredMessage};
use crate::store::RecipientState;

/// The message `message_id`, if `account` submitted it; the status to answer otherwise.
async fn own_message(mm7: &Mm7, account: &Account, message_id: &str) -> Result<StoredMessage, Status> {
    let not_found = || status(StatusCode::MESSAGE_ID_NOT_FOUND, format!("no message {message_id} of this account"));
    let message = match mm7.store.message(message_id).await {
        Ok(Some(m)) => m,
        Ok(None) => return Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "store unavailable");
            return Err(status(StatusCode::SERVER_ERROR, "the relay cannot read its store now; try again"));
        }
    };
    match &message.envelope.origin {
        Origin::Mm7 { vasp, .. } if *vasp == account.vasp.name => Ok(message),
        _ => Err(not_found()),
    }
}

/// Whether a recipient is one of this relay's that has not fetched the message yet.
fn waiting(state: RecipientState) -> bool {
    matches!(state, RecipientState::Accepted | RecipientState::Notified | RecipientState::Deferred)
}

pub async fn cancel(mm7: &Mm7, account: &Account, req: &CancelReq, now: i64) -> Status {
    if let Err(s) = check_vasp_id(account, req.sender.vasp_id.as_deref()) {
        return s;
    }
    let message = match own_message(mm7, account, &req.message_id).await {
        Ok(m) => m,
        Err(s) => return s,
    };
    let changes: Vec<Change> = message
        .recipients
        .iter()
        .filter(|d| d.route == Destination::Local.name() && waiting(d.state))
        .map(|d| events::cancelled(d, now))
        .collect();
    if changes.is_empty() || message.expired {
        return status(StatusCode::NOT_POSSIBLE, "every recipient has fetched the message, or it has left this relay");
    }
    match mm7.store.apply(changes).await {
        // A recipient that fetched it in the meantime keeps it; the rest are cancelled.
        Ok(done) if done.iter().any(|d| *d) => {
            tracing::info!(vasp = %account.vasp.name, message_id = %req.message_id, "cancelled");
            Status::new(StatusCode::SUCCESS)
        }
        Ok(_) => status(StatusCode::NOT_POSSIBLE, "every recipient has fetched the message"),
        Err(e) => {
            tracing::error!(error = %e, "store unavailable");
            status(StatusCode::SERVER_ERROR, "the relay cannot store the cancellation now; try again")
        }
    }
}

pub async fn replace(mm7: &Mm7, account: &Account, req: &ReplaceReq, content: Option<&Attachment>, now: i64) -> Status {
    if let Err(s) = check_vasp_id(account, req.sender.vasp_id.as_deref()) {
        return s;
    }
    let Some(content) = content else {
        return status(StatusCode::MESSAGE_FORMAT_CORRUPT, "the ReplaceReq has no Content");
    };
    let message = match own_message(mm7, account, &req.message_id).await {
        Ok(m) => m,
        Err(s) => return s,
    };
    let fetched = message.recipients.iter().any(|d| {
        matches!(d.state, RecipientState::Retrieved | RecipientState::Acknowledged | RecipientState::Forwarded)
    });
    if fetched || message.expired {
        return status(
            StatusCode::NOT_POSSIBLE,
            "a recipient has fetched the message already, it has left for another relay, or it has expired",
        );
    }
    let change = Change::Replace {
        message: message.id,
        body: content.entity.clone().into(),
        content_type: content.content.media_type.clone(),
        format: BodyFormat::Mime,
        deliver_after: req.earliest_delivery.map(|t| t.max(now)),
        now,
    };
    match mm7.store.apply(vec![change]).await {
        Ok(done) if done.first().copied().unwrap_or(false) => {
            tracing::info!(vasp = %account.vasp.name, message_id = %req.message_id, "replaced");
            Status::new(StatusCode::SUCCESS)
        }
        Ok(_) => status(StatusCode::NOT_POSSIBLE, "a recipient has fetched the message already"),
        Err(e) => {
            tracing::error!(error = %e, "store unavailable");
            status(StatusCode::SERVER_ERROR, "the relay cannot store the new content now; try again")
        }
    }
}

fn check_vasp_id(account: &Account, given: Option<&str>) -> Result<(), Status> {
    match given {
        Some(id) if id != account.vasp.vasp_id => {
            Err(status(StatusCode::IMPROPER_IDENTIFICATION, "VASPID is not this account's"))
        }
        _ => Ok(()),
    }
}
