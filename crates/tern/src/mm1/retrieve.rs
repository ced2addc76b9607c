//! GET on a retrieval URL: the token names one recipient's copy. Only that recipient gets it
//! (when a trusted identity header is present it must be the recipient's), and only until
//! `retrieval.after_ack_secs` after it confirmed having it; anything else gets a well-formed
//! m-retrieve.conf carrying an error Retrieve-Status, never another message (nor a message its
//! sender cancelled). A stored body that fails its check is never served either. The answer is
//! the m-retrieve.conf's fields and the stored body sent one after the other, and the record of
//! the retrieval is queued in order but not waited for.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use tern_codec::mms::RetrieveStatus;

use super::Mm1;
use super::answer;
use super::body::Held;
use super::identity::Identity;
use super::pdus;
use crate::content::{self, Part};
use crate::core::envelope::BodyFormat;
use crate::core::model::HoldKind;
use crate::core::protection::{Interface, Subject};
use crate::core::state::RecipientEvent;
use crate::core::{events, ids};
use crate::protect::{self, Screened};
use crate::store::{Change, Delivery, NewMessage, RecipientState, StoreError};

/// Room for the retrieve-conf's own fields beside the body, in the memory budget.
const FIELDS_ROOM: u64 = 4096;

pub async fn get(
    State(mm1): State<Arc<Mm1>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let now = ids::now();
    let error = |status, text: &str| answer::pdu(pdus::retrieve_error(status, text, now));
    let d = match mm1.store.by_token(&token).await {
        Ok(Some(d)) => d,
        Ok(None) => return error(RetrieveStatus::PERMANENT_MESSAGE_NOT_FOUND, "no such message"),
        Err(e) => {
            tracing::error!(error = %e, "store unavailable");
            return error(RetrieveStatus::TRANSIENT_FAILURE, "the message cannot be read now; try again");
        }
    };
    match mm1.identify(peer, &headers) {
        Identity::Trusted { msisdn, .. } if msisdn.canonical != d.address => {
            tracing::warn!(%peer, subscriber = %msisdn.canonical, "retrieval with another subscriber's token");
            return error(RetrieveStatus::PERMANENT_MESSAGE_NOT_FOUND, "no such message");
        }
        Identity::Conflicting(why) => {
            tracing::warn!(%peer, %why, "identity headers repeat or disagree; retrieval refused");
            return error(RetrieveStatus::PERMANENT_SERVICE_DENIED, "the identity headers disagree");
        }
        _ => {}
    }
    if d.state == RecipientState::Cancelled {
        return error(RetrieveStatus::PERMANENT_MESSAGE_NOT_FOUND, "the sender cancelled the message");
    }
    let gone = matches!(d.state, RecipientState::Expired | RecipientState::Rejected | RecipientState::Unrecognised);
    if d.expired || d.envelope.expires_at <= now || gone {
        return error(RetrieveStatus::PERMANENT_MESSAGE_NOT_FOUND, "the message has expired or was refused");
    }
    if events::retrieval_closed(&d, now, &mm1.cfg.retrieval) {
        return error(RetrieveStatus::PERMANENT_MESSAGE_NOT_FOUND, "the message was retrieved already");
    }
    // The stored body and the answer built from it (its fields, the body and a few octets of
    // header) are both in memory for a moment.
    let need = d.size.saturating_mul(2).saturating_add(FIELDS_ROOM);
    let Some(mut held) = mm1.budget.take(need).await else {
        return error(RetrieveStatus::TRANSIENT_FAILURE, "the relay is busy; try again");
    };
    let body = match mm1.store.body(&d.body).await {
        Ok(body) => body,
        Err(StoreError::Damaged(problem)) => {
            tracing::error!(message_id = %d.envelope.message_id, %problem, "stored body failed its check; not served");
            return error(RetrieveStatus::PERMANENT_FAILURE, "the stored message is damaged");
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read a stored body");
            return error(RetrieveStatus::TRANSIENT_FAILURE, "the message cannot be read now; try again");
        }
    };
    let body = match d.format {
        BodyFormat::Wsp => body,
        BodyFormat::Mime => match from_mail(&body) {
            Ok(wsp) => Bytes::from(wsp),
            Err(e) => {
                tracing::error!(message_id = %d.envelope.message_id, error = %e, "stored mail cannot be read as MMS content");
                return error(RetrieveStatus::PERMANENT_CONTENT_UNSUPPORTED, "the message cannot be shown");
            }
        },
    };
    let body = match screened(&mm1, &d, peer.ip(), body).await {
        Ok(body) => body,
        Err(()) => return error(RetrieveStatus::TRANSIENT_FAILURE, "the message cannot be screened now; try again"),
    };
    // The m-retrieve.conf's own fields, then the body as it was read: sent one after the other,
    // never copied into one buffer.
    let head = pdus::retrieve_conf_head(&d.envelope, d.transaction_id.as_deref().unwrap_or_default(), 0);
    // The answer keeps the budget for its own size until it is sent.
    drop(held.split(held.num_permits().saturating_sub(head.len() + body.len())));
    // The retrieval is recorded in order with whatever the handset sends next (its
    // acknowledgement), but the answer does not wait for the record's sync: at worst a crash
    // forgets that the message was fetched, and the handset is told of it again. A repeated GET
    // records nothing: no state the recipient can be in once it fetched the message leads back
    // to one the record would move.
    if d.state.after(RecipientEvent::Retrieved).is_some() {
        match mm1.store.queue(vec![events::retrieved(&d, true, now)]).await {
            Ok(committed) => {
                tokio::spawn(async move {
                    if let Err(e) = committed.await {
                        tracing::error!(error = %e, "cannot record a retrieval");
                    }
                });
            }
            Err(e) => tracing::error!(error = %e, "cannot record a retrieval"),
        }
    }
    answer::pdu_body(Body::new(Held::chunks(vec![Bytes::from(head), body], held)))
}

/// The body (WSP) as the protection profiles for retrieval let it be served. A message they
/// block (or would hold: it is stored already, so holding it here means not showing it) is
/// served as the profile's replacement text alone; replaced parts carry the text instead; an
/// archive keeps a copy of what was stored. A scanner that fails closed makes the handset try
/// again later (`Err`). The recipient's state moves as for any retrieval: the handset has
/// fetched what the relay will let it have.
async fn screened(mm1: &Mm1, d: &Delivery, client: IpAddr, body: Bytes) -> Result<Bytes, ()> {
    let screener = mm1.intake.screener();
    if !screener.screens(Interface::Mm1Retrieved) {
        return Ok(body);
    }
    let Ok(content) = content::from_wsp(&body) else { return Ok(body) };
    let recipients = [d.address.clone()];
    let who = Subject {
        interface: Interface::Mm1Retrieved,
        source: None,
        client: Some(client),
        sender: &d.envelope.originator,
        recipients: &recipients,
    };
    let screened =
        Screened { who, message_id: &d.envelope.message_id, title: d.envelope.subject.as_deref(), content: &content };
    let screening = screener.screen(&screened, false).await;
    let verdict = &screening.verdict;
    if let Some(decision) = verdict.archive() {
        let reason = protect::hold_reason(Interface::Mm1Retrieved, decision);
        let copy = NewMessage {
            envelope: d.envelope.clone(),
            format: BodyFormat::Wsp,
            body: body.clone(),
            recipients: Vec::new(),
        };
        let hold = Change::Hold { message: Box::new(copy), kind: HoldKind::Archive, reason, now: ids::now() };
        if let Err(e) = mm1.store.apply(vec![hold]).await {
            tracing::error!(error = %e, "cannot archive a copy of a retrieved message");
        }
    }
    if let Some(decision) = verdict.block().or_else(|| verdict.quarantine()) {
        return Ok(content::to_wsp(&protect::replacement_only(screener.replacement_text(decision))).into());
    }
    if screening.unavailable().is_some() {
        return Err(());
    }
    Ok(screener.rewrite(&screening, &content).map_or(body, |rewritten| content::to_wsp(&rewritten).into()))
}

/// A message stored as mail (from another relay or from e-mail) in its MM1 form: its parts as
/// a WSP multipart, with a generated presentation when it came without one, so that the
/// handset shows text beside the pictures rather than a list of attachments.
fn from_mail(mail: &[u8]) -> Result<Vec<u8>, content::ContentError> {
    let parsed = content::from_mime(mail)?;
    if parsed.parts.iter().any(Part::is_smil) {
        return Ok(content::to_wsp(&parsed));
    }
    let shown = parsed.parts.into_iter().filter(|p| !p.data.is_empty() && (p.is_text() || p.is_media())).collect();
    Ok(content::to_wsp(&content::with_smil(shown)))
}
