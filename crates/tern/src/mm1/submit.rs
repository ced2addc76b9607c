//! m-send.req and m-forward.req: who sends (header enrichment, From), what is sent, and the
//! answer, which says Ok only once the message is durably stored.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::response::Response;
use tern_codec::mms::{Address, ForwardReq, ResponseStatus, SendReq, Sender, SenderVisibility, TimeValue};
use tern_codec::wsp::{ContentType, Reader};

use super::Mm1;
use super::answer::{self, Refusal};
use super::identity::Identity;
use super::pdus;
use crate::config::FromMismatch;
use crate::core::accept::{Submission, When};
use crate::core::address::{self, Normalized};
use crate::core::envelope::{BodyFormat, Field, Origin};
use crate::core::events;
use crate::core::ids;
use crate::core::policy::RefusalKind;
use crate::store::StoreError;

/// An m-send.req; `body` is its Content-Type field and body as received, which are stored as
/// they came (the decoder has checked them), not decoded and encoded again: a slice of the
/// request's own buffer, not a copy.
pub async fn send(mm1: &Mm1, who: Identity, client: IpAddr, req: SendReq, body: Option<Bytes>) -> Response {
    let tid = req.transaction_id.clone();
    let version = req.mms_version;
    let outcome = accept_send(mm1, who, client, &req, body).await;
    answer::send_conf(tid, version, outcome)
}

async fn accept_send(
    mm1: &Mm1,
    who: Identity,
    client: IpAddr,
    req: &SendReq,
    body: Option<Bytes>,
) -> Result<String, Refusal> {
    if req.transaction_id.is_none() {
        return Err(Refusal::new(ResponseStatus::PERMANENT_MESSAGE_FORMAT_CORRUPT, "no X-Mms-Transaction-ID"));
    }
    let sender = sender(mm1, who, req.from.as_ref())?;
    let body = body.ok_or_else(|| Refusal::new(ResponseStatus::PERMANENT_MESSAGE_FORMAT_CORRUPT, "no message body"))?;
    // The decoder has read this Content-Type field already; it is read again only for its name,
    // after the field's own code octet.
    let content_type = ContentType::decode(&mut Reader::new(body.get(1..).unwrap_or_default()))
        .map_or_else(|_| "application/vnd.wap.multipart.mixed".to_owned(), |ct| ct.media_type);
    let mut sub = submission(req, &req.to, &req.cc, &req.bcc, sender, content_type, body);
    sub.client = Some(client);
    store(mm1, sub).await
}

fn when(t: TimeValue) -> When {
    match t {
        TimeValue::Relative(s) => When::Relative(s),
        TimeValue::Absolute(t) => When::Absolute(t),
    }
}

/// What an m-send.req says, as the core's neutral submission; recipients are given apart so
/// that a forward can name its own.
fn submission(
    req: &SendReq,
    to: &[Address],
    cc: &[Address],
    bcc: &[Address],
    sender: Normalized,
    content_type: String,
    body: Bytes,
) -> Submission {
    let listed = |field, list: &[Address]| list.iter().map(move |a| (field, a.text().to_owned())).collect::<Vec<_>>();
    let mut recipients = listed(Field::To, to);
    recipients.extend(listed(Field::Cc, cc));
    recipients.extend(listed(Field::Bcc, bcc));
    Submission {
        origin: Origin::Mm1,
        originator: sender,
        recipients,
        listed: Vec::new(),
        subject: req.subject.as_ref().map(|s| s.text.clone()),
        class: req.message_class.as_ref().map(pdus::class_from_mms),
        priority: req.priority.and_then(pdus::priority_from_mms),
        expiry: req.expiry.map(when),
        delivery_time: req.delivery_time.map(when),
        delivery_report: req.delivery_report == Some(true),
        read_report: req.read_report == Some(true),
        sender_visible: req.sender_visibility != Some(SenderVisibility::HIDE),
        content_type,
        format: BodyFormat::Wsp,
        body,
        forwarded_from: None,
        applic_id: req.applic_id.clone(),
        reply_applic_id: req.reply_applic_id.clone(),
        aux_applic_info: req.aux_applic_info.clone(),
        content_class: req.content_class.and_then(|c| c.name()).map(str::to_owned),
        drm: req.drm_content == Some(true),
        no_distribution: false,
        message_id: None,
        date: None,
        client: None,
    }
}

pub async fn forward(mm1: &Mm1, who: Identity, client: IpAddr, req: ForwardReq) -> Response {
    let tid = req.transaction_id.clone();
    let version = req.mms_version;
    let outcome = accept_forward(mm1, who, client, &req).await;
    answer::forward_conf(tid, version, outcome)
}

/// Forwards a message stored here for the forwarding subscriber, without it being fetched.
async fn accept_forward(mm1: &Mm1, who: Identity, client: IpAddr, req: &ForwardReq) -> Result<String, Refusal> {
    if req.transaction_id.is_none() {
        return Err(Refusal::new(ResponseStatus::PERMANENT_MESSAGE_FORMAT_CORRUPT, "no X-Mms-Transaction-ID"));
    }
    let sender = sender(mm1, who, req.from.as_ref())?;
    let now = ids::now();
    let not_found = || Refusal::new(ResponseStatus::PERMANENT_MESSAGE_NOT_FOUND, "no such message to forward");
    let location = req.content_location.as_deref().ok_or_else(not_found)?;
    let token = location.rsplit_once("/m/").map_or(location, |(_, t)| t);
    let stored = mm1.store.by_token(token).await.map_err(transient)?.ok_or_else(not_found)?;
    if stored.address != sender.canonical
        || stored.expired
        || events::retrieval_closed(&stored, now, &mm1.cfg.retrieval)
    {
        return Err(not_found());
    }
    let body = match mm1.store.body(&stored.body).await {
        Ok(body) => body,
        Err(StoreError::Damaged(problem)) => {
            tracing::error!(message_id = %stored.envelope.message_id, %problem, "stored body failed its check; not forwarded");
            return Err(Refusal::new(ResponseStatus::PERMANENT_FAILURE, "the stored message is damaged"));
        }
        Err(e) => return Err(transient(e)),
    };
    let original = &stored.envelope;
    if original.no_distribution {
        return Err(Refusal::new(
            ResponseStatus::PERMANENT_SERVICE_DENIED,
            "the sender does not allow this message to be passed on",
        ));
    }
    let send = SendReq {
        transaction_id: req.transaction_id.clone(),
        expiry: req.expiry,
        delivery_time: req.delivery_time,
        delivery_report: req.delivery_report,
        read_report: req.read_report,
        ..SendReq::default()
    };
    let mut sub = submission(&send, &req.to, &req.cc, &req.bcc, sender, original.content_type.clone(), body);
    sub.subject = original.subject.clone();
    sub.class = original.class.clone();
    sub.priority = original.priority;
    sub.format = stored.format;
    sub.forwarded_from = Some(original.originator.clone());
    sub.client = Some(client);
    store(mm1, sub).await
}

async fn store(mm1: &Mm1, sub: Submission) -> Result<String, Refusal> {
    mm1.intake.submit(sub).await.map(|a| a.message_id).map_err(|r| {
        let status = match r.kind {
            RefusalKind::ServiceDenied => ResponseStatus::PERMANENT_SERVICE_DENIED,
            RefusalKind::AddressUnresolved => ResponseStatus::PERMANENT_SENDING_ADDRESS_UNRESOLVED,
            RefusalKind::FormatCorrupt => ResponseStatus::PERMANENT_MESSAGE_FORMAT_CORRUPT,
            RefusalKind::ContentNotAccepted => ResponseStatus::PERMANENT_CONTENT_NOT_ACCEPTED,
            RefusalKind::Unsupported => ResponseStatus::PERMANENT_FAILURE,
            RefusalKind::Transient => ResponseStatus::TRANSIENT_FAILURE,
        };
        Refusal::new(status, r.text)
    })
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
