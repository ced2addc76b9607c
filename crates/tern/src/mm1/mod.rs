//! MM1: handsets over HTTP. POSTs carry request PDUs (m-send.req, m-notifyresp.ind,
//! m-acknowledge.ind, m-read-rec.ind, m-forward.req); GETs on retrieval URLs fetch messages.
//! This module translates between HTTP/PDUs and the core; the status codes are chosen here.

mod answer;
pub mod body;
pub mod identity;
mod indications;
pub mod pdus;
mod retrieve;
mod submit;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tern_codec::mms::{Message, Pdu, ResponseStatus};

use self::answer::Refusal;
use self::body::{BodyError, Budget};
use self::identity::Identity;
use crate::config::Config;
use crate::store::Store;

/// What every MM1 handler needs.
#[derive(Debug, Clone)]
pub struct Mm1 {
    pub store: Store,
    pub intake: crate::intake::Intake,
    pub cfg: Arc<Config>,
    pub budget: Budget,
}

pub fn router(mm1: Mm1) -> Router {
    let router = Router::new().route("/m/{token}", get(retrieve::get));
    let router = match mm1.cfg.mm1.path.clone() {
        Some(path) => router.route(&path, axum::routing::post(post)).fallback(not_found),
        None => router.fallback(post),
    };
    // Shared, not cloned for each request: a clone of the handlers' state is a few dozen atomic
    // counts on lines both cores write (the store's channels and handles, twice over) and an
    // allocation.
    router.with_state(Arc::new(mm1))
}

async fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

impl Mm1 {
    /// Who the request comes from, by header enrichment from a trusted proxy.
    fn identify(&self, peer: SocketAddr, headers: &HeaderMap) -> Identity {
        let pairs = headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes()));
        identity::identify(peer.ip(), pairs, &self.cfg.identity, &self.cfg.subscribers)
    }
}

/// Any POST: a request PDU.
async fn post(State(mm1): State<Arc<Mm1>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request) -> Response {
    if request.method() != Method::POST {
        return not_found().await;
    }
    let (parts, body) = request.into_parts();
    let is_mms =
        parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(answer::MMS_CONTENT_TYPE))
        });
    let received = match body::read(body, &mm1.cfg.mm1, &mm1.budget).await {
        Ok(received) => received,
        Err(e) => return body_refused(peer, e, mm1.cfg.mm1.max_message_size),
    };
    let bytes = &received.bytes;
    let tid = answer::salvage_transaction_id(bytes);
    if !is_mms {
        let text = format!("the request's Content-Type must be {}", answer::MMS_CONTENT_TYPE);
        return answer::send_conf(tid, None, Err(Refusal::new(ResponseStatus::PERMANENT_MESSAGE_FORMAT_CORRUPT, text)));
    }
    let (message, body_span) = match Message::decode_with_body_span(bytes) {
        Ok(decoded) => decoded,
        Err(e) => {
            tracing::info!(%peer, error = %e, "malformed PDU");
            let refusal = Refusal::new(ResponseStatus::PERMANENT_MESSAGE_FORMAT_CORRUPT, e.to_string());
            return answer::send_conf(tid, None, Err(refusal));
        }
    };
    let who = mm1.identify(peer, &parts.headers);
    let version = message.pdu.mms_version();
    let tid = message.pdu.transaction_id().map(str::to_owned);
    match &who {
        Identity::Untrusted => tracing::warn!(%peer, "identity header from an untrusted peer ignored"),
        Identity::Conflicting(why) => {
            tracing::warn!(%peer, %why, "identity headers repeat or disagree; request refused");
            let refusal = Refusal::new(ResponseStatus::PERMANENT_SERVICE_DENIED, "the identity headers disagree");
            return match message.pdu {
                Pdu::ForwardReq(_) => answer::forward_conf(tid, version, Err(refusal)),
                Pdu::NotifyRespInd(_) | Pdu::AcknowledgeInd(_) | Pdu::ReadRecInd(_) => {
                    StatusCode::FORBIDDEN.into_response()
                }
                _ => answer::send_conf(tid, version, Err(refusal)),
            };
        }
        Identity::Trusted { .. } | Identity::Absent => {}
    }
    match message.pdu {
        Pdu::SendReq(req) => submit::send(&mm1, who, peer.ip(), req, body_span.map(|span| bytes.slice(span))).await,
        Pdu::ForwardReq(req) => submit::forward(&mm1, who, peer.ip(), req).await,
        Pdu::NotifyRespInd(ind) => indications::notify_response(&mm1, who, ind).await,
        Pdu::AcknowledgeInd(ind) => indications::acknowledge(&mm1, who, ind).await,
        Pdu::ReadRecInd(ind) => indications::read_report(&mm1, who, ind).await,
        other => {
            let text = format!("{} is not a request this relay takes", other.message_type());
            answer::send_conf(tid, version, Err(Refusal::new(ResponseStatus::UNSUPPORTED_MESSAGE, text)))
        }
    }
}

/// The answer to a POST whose body could not be read, counted as what happened to it.
fn body_refused(peer: SocketAddr, e: BodyError, limit: u64) -> Response {
    // What arrived may still name the transaction, so that the client can match the answer.
    let corrupt = |partial: &[u8], text: &str, what| {
        let refusal = Refusal::new(ResponseStatus::PERMANENT_MESSAGE_FORMAT_CORRUPT, text);
        answer::body_refused(answer::salvage_transaction_id(partial), refusal, what)
    };
    match e {
        BodyError::TooLarge => {
            let text = format!("the message is larger than {limit} octets");
            answer::send_conf(None, None, Err(Refusal::new(ResponseStatus::PERMANENT_CONTENT_NOT_ACCEPTED, text)))
        }
        BodyError::Malformed(partial) => {
            tracing::info!(%peer, "malformed chunked body");
            corrupt(&partial, "the request body's chunked encoding is malformed", "body-malformed")
        }
        BodyError::Aborted(partial) => {
            tracing::info!(%peer, "request body cut short");
            corrupt(&partial, "the request body ended early", "body-aborted")
        }
        BodyError::TimedOut => {
            tracing::info!(%peer, "request body too slow");
            answer::unread(StatusCode::REQUEST_TIMEOUT, "body-timeout")
        }
        BodyError::Busy => answer::unread(StatusCode::SERVICE_UNAVAILABLE, "busy"),
    }
}
