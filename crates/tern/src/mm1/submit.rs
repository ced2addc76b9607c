//! m-send.req and m-forward.req: who sends (header enrichment, From), what is sent, and the
//! answer, which says Ok only once the message is durably stored.

use axum::response::Response;
use tern_codec::mms::{ForwardReq, Message, Pdu, ResponseStatus, SendReq, Sender};

use super::Mm1;
use super::answer::{self, Refusal};
use super::identity::Identity;
use crate::config::FromMismatch;
use crate::core::address::{self, Normalized};
use crate::core::compose::{self, SubmitError};
use crate::core::ids;
use crate::store::{Change, StoreError};

/// An m-send.req; `body` is its Content-Type field and body as received, which are stored as
/// they came (the decoder has checked them), not decoded and encoded again.
pub async fn send(mm1: &Mm1, who: Identity, req: SendReq, body: Option<&[u8]>) -> Response {
    let tid = req.transaction_id.clone();
    let version = req.mms_version;
    let outcome = accept_send(mm1, who, &req, body).await;
    answer::send_conf(tid, version, outcome)
}

async fn accept_send(mm1: &Mm1, who: Identity, req: &SendReq, body: Option<&[u8]>) -> Result<String, Refusal> {
    if req.transaction_id.is_none() {
        return Err(Refusal::new(ResponseStatus::PERMANENT_MESSAGE_FORMAT_CORRUPT, "no X-Mms-Transaction-ID"));
    }
    let sender = sender(mm1, who, req.from.as_ref())?;
    let body = body.ok_or_else(|| Refusal::new(ResponseStatus::PERMANENT_MESSAGE_FORMAT_CORRUPT, "no message body"))?;
    store(mm1, req, body.to_vec(), &sender, None).await
}

pub async fn forward(mm1: &Mm1, who: Identity, req: ForwardReq) -> Response {
    let tid = req.transaction_id.clone();
    let version = req.mms_version;
    let outcome = accept_forward(mm1, who, &req).await;
    answer::forward_conf(tid, version, outcome)
}

/// Forwards a message stored here for the forwarding subscriber, without it being fetched.
async fn accept_forward(mm1: &Mm1, who: Identity, req: &ForwardReq) -> Result<String, Refusal> {
    if req.transaction_id.is_none() {
        return Err(Refusal::new(ResponseStatus::PERMANENT_MESSAGE_FORMAT_CORRUPT, "no X-Mms-Transaction-ID"));
    }
    let sender = sender(mm1, who, req.from.as_ref())?;
    let not_found = || Refusal::new(ResponseStatus::PERMANENT_MESSAGE_NOT_FOUND, "no such message to forward");
    let location = req.content_location.as_deref().ok_or_else(not_found)?;
    let token = location.rsplit_once("/m/").map_or(location, |(_, t)| t);
    let now = ids::now();
    let stored = mm1.store.by_token(token).await.map_err(transient)?.ok_or_else(not_found)?;
    if stored.address != sender.canonical
        || stored.expired
        || compose::retrieval_closed(&stored, now, &mm1.cfg.retrieval)
    {
        return Err(not_found());
    }
    let body = match mm1.store.body(stored.body).await {
        Ok(body) => body,
        Err(StoreError::Damaged(problem)) => {
            tracing::error!(message_id = %stored.message_id, %problem, "stored body failed its check; not forwarded");
            return Err(Refusal::new(ResponseStatus::PERMANENT_FAILURE, "the stored message is damaged"));
        }
        Err(e) => return Err(transient(e)),
    };
    let mut original = vec![0x8C, 0x84];
    original.extend_from_slice(&stored.retrieve);
    let first = address::normalize(&stored.sender, &mm1.cfg.subscribers).ok();
    let send = match Message::decode(&original).map(|m| m.pdu) {
        Ok(Pdu::RetrieveConf(conf)) => SendReq {
            transaction_id: req.transaction_id.clone(),
            to: req.to.clone(),
            cc: req.cc.clone(),
            bcc: req.bcc.clone(),
            subject: conf.subject,
            message_class: conf.message_class,
            priority: conf.priority,
            expiry: req.expiry,
            delivery_time: req.delivery_time,
            delivery_report: req.delivery_report,
            read_report: req.read_report,
            ..SendReq::default()
        },
        _ => return Err(not_found()),
    };
    store(mm1, &send, body, &sender, first.as_ref()).await
}

async fn store(
    mm1: &Mm1,
    req: &SendReq,
    body: Vec<u8>,
    sender: &Normalized,
    forwarded_from: Option<&Normalized>,
) -> Result<String, Refusal> {
    let cfg = &mm1.cfg;
    let now = ids::now();
    let message = compose::message(req, body, sender, forwarded_from, now, cfg.acceptance()).map_err(|e| match e {
        SubmitError::TooManyRecipients(_) => Refusal::new(ResponseStatus::PERMANENT_SERVICE_DENIED, e.to_string()),
        SubmitError::NoRecipients | SubmitError::BadRecipient(_) => {
            Refusal::new(ResponseStatus::PERMANENT_SENDING_ADDRESS_UNRESOLVED, e.to_string())
        }
    })?;
    let message_id = message.message_id.clone();
    mm1.store.apply(vec![Change::Accept(Box::new(message))]).await.map_err(transient)?;
    tracing::info!(%message_id, sender = %sender.canonical, "accepted");
    Ok(message_id)
}

fn transient(e: StoreError) -> Refusal {
    tracing::error!(error = %e, "store unavailable");
    Refusal::new(ResponseStatus::TRANSIENT_FAILURE, "the relay cannot store messages now; try again")
}

/// The sender: the subscriber named by a trusted proxy, which an insert-address From takes and
/// a contradicting From must not override; without one, the From itself when policy allows.
fn sender(mm1: &Mm1, who: Identity, from: Option<&Sender>) -> Result<Normalized, Refusal> {
    let cfg = &mm1.cfg;
    let claimed = match from {
        Some(Sender::Address(a)) => Some(address::normalize(a.text(), &cfg.subscribers)),
        _ => None,
    };
    match who {
        Identity::Trusted { msisdn, .. } => match claimed {
            Some(c)
                if c.as_ref().map_or(true, |c| c.canonical != msisdn.canonical)
                    && cfg.identity.from_mismatch == FromMismatch::Reject =>
            {
                Err(Refusal::new(ResponseStatus::PERMANENT_SERVICE_DENIED, "From does not match the subscriber"))
            }
            _ => Ok(msisdn),
        },
        _ if cfg.identity.require => {
            Err(Refusal::new(ResponseStatus::PERMANENT_SERVICE_DENIED, "the sender is not identified"))
        }
        _ => match claimed {
            Some(Ok(c)) if c.is_phone() => Ok(c),
            _ => Err(Refusal::new(ResponseStatus::PERMANENT_SENDING_ADDRESS_UNRESOLVED, "no usable From address")),
        },
    }
}
