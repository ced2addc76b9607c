//! The MM7 endpoint: every POST is a VASP's request, on any path. It is authenticated (HTTP
//! Basic, from an admitted address) before its body is read, then read within
//! `mm7.max_message_size` and answered in the request's own namespace and MM7Version: a
//! SubmitRsp, CancelRsp or ReplaceRsp with the operation's status, or, for a request that is
//! not a well-formed MM7 operation, a SOAP Fault carrying an RSErrorRsp with its status (HTTP
//! 500, as SOAP 1.1 has it). A POST of an MMS PDU is an EAIF submission. Nothing is stored
//! before every check has passed, and "accepted" is said only once it is stored.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode as Http, header};
use axum::response::{IntoResponse, Response};

use super::accounts::{Account, Accounts, Denied, OverLimit};
use super::soap::{self, Body as Op, Mm7Header, Mm7Namespace, SoapError, Status, StatusCode};
use super::submit::{self, status};
use super::{eaif_in, edit};
use crate::config::Config;
use crate::core::accept::Submission;
use crate::core::ids;
use crate::intake::Intake;
use crate::store::Store;

/// What the endpoint's handlers need.
#[derive(Debug, Clone)]
pub struct Mm7 {
    pub store: Store,
    pub intake: Intake,
    pub cfg: Arc<Config>,
    pub accounts: Arc<Accounts>,
    /// Turns at checking credentials.
    pub checks: Arc<tokio::sync::Semaphore>,
}

pub fn router(mm7: Mm7) -> Router {
    // Shared, not cloned for each request (see `mm1::router`).
    Router::new().fallback(post).with_state(Arc::new(mm7))
}

/// The answer header of a request that could not be read: the default namespace and version.
fn unknown_header() -> Mm7Header {
    Mm7Header {
        namespace: Mm7Namespace::Rel6Mm7_1_4,
        version: soap::DEFAULT_VERSION.to_owned(),
        transaction_id: String::new(),
    }
}

fn xml(http: Http, body: Vec<u8>) -> Response {
    let mut r = (http, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    r
}

/// A SOAP Fault: HTTP 500 unless `http` says otherwise (401 asks for credentials).
fn fault(http: Http, h: &Mm7Header, s: &Status) -> Response {
    metrics::counter!("tern_mm7_requests_total", "answer" => "Fault").increment(1);
    tracing::debug!(status = s.code.0, "answered with a SOAP Fault");
    xml(http, soap::write_fault(h, s))
}

async fn post(State(mm7): State<Arc<Mm7>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request) -> Response {
    if request.method() != Method::POST {
        return (Http::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response();
    }
    let (parts, body) = request.into_parts();
    let account = match authenticate(&mm7, &parts.headers, peer).await {
        Ok(account) => account,
        Err(Denied::Unauthenticated) => {
            tracing::warn!(%peer, "MM7 request without valid credentials");
            let s = status(StatusCode::IMPROPER_IDENTIFICATION, "credentials missing or wrong");
            let mut r = fault(Http::UNAUTHORIZED, &unknown_header(), &s);
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"MM7\""));
            return r;
        }
        Err(Denied::NotAdmitted) => {
            tracing::warn!(%peer, "MM7 request from an address the account may not use");
            let s = status(StatusCode::SERVICE_DENIED, "this account may not connect from this address");
            return fault(Http::FORBIDDEN, &unknown_header(), &s);
        }
    };
    let within = Duration::from_secs(mm7.cfg.mm7.request_timeout_secs.max(1));
    let bytes = match tokio::time::timeout(within, axum::body::to_bytes(body, mm7.cfg.mm7.max_message_size)).await {
        Ok(Ok(bytes)) => bytes,
        Err(_) => {
            let s = status(StatusCode::CLIENT_ERROR, "the request did not arrive in time");
            return fault(Http::REQUEST_TIMEOUT, &unknown_header(), &s);
        }
        Ok(Err(_)) => {
            let s = status(StatusCode::CONTENT_REFUSED, "the request is larger than this relay takes, or was cut off");
            return fault(Http::PAYLOAD_TOO_LARGE, &unknown_header(), &s);
        }
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if eaif_in::is_eaif(content_type, &parts.headers) {
        return eaif_in::take(&mm7, &account, peer.ip(), &parts.headers, content_type, &bytes).await;
    }
    let now = ids::now();
    let (request, attachments) = match soap::parse_http(content_type, &bytes, now) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::info!(vasp = %account.vasp.name, error = %e, "MM7 request refused as unreadable");
            return fault(Http::INTERNAL_SERVER_ERROR, &unknown_header(), &unreadable(&e));
        }
    };
    let h = request.answer();
    match &request.body {
        Op::Submit(req) => {
            let Some(content) = req.content.as_ref().and_then(|c| attachments.iter().find(|a| a.cid == c.content_id()))
            else {
                let s = status(StatusCode::MESSAGE_FORMAT_CORRUPT, "the SubmitReq has no Content");
                return fault(Http::INTERNAL_SERVER_ERROR, &h, &s);
            };
            let (s, id) = submitted(&mm7, &account, peer.ip(), req, content, now).await;
            answered("SubmitRsp", &s);
            xml(Http::OK, soap::write_submit_rsp(&h, &s, id.as_deref()))
        }
        Op::Cancel(req) => {
            let s = edit::cancel(&mm7, &account, req, now).await;
            answered("CancelRsp", &s);
            xml(Http::OK, soap::write_cancel_rsp(&h, &s))
        }
        Op::Replace(req) => {
            let content = req.content.as_ref().and_then(|c| attachments.iter().find(|a| a.cid == c.content_id()));
            let s = edit::replace(&mm7, &account, req, content, now).await;
            answered("ReplaceRsp", &s);
            xml(Http::OK, soap::write_replace_rsp(&h, &s))
        }
        // Answers and faults come back on the relay's own requests, never to this endpoint.
        Op::DeliverRsp(_) | Op::DeliveryReportRsp(_) | Op::ReadReplyRsp(_) | Op::VaspError(_) | Op::Fault(_) => {
            let s =
                status(StatusCode::UNSUPPORTED_OPERATION, "this endpoint takes SubmitReq, CancelReq and ReplaceReq");
            answered("RSErrorRsp", &s);
            xml(Http::OK, soap::write_rs_error_rsp(&h, &s))
        }
    }
}

fn answered(operation: &'static str, s: &Status) {
    metrics::counter!("tern_mm7_requests_total", "answer" => operation).increment(1);
    tracing::debug!(status = s.code.0, "answered with {operation}");
}

/// The account the request's credentials prove. Argon2 is slow by design, so the check runs
/// off the async threads, and only as many at once as there are cores: a flood of wrong
/// passwords waits its turn rather than taking every thread.
async fn authenticate(mm7: &Mm7, headers: &HeaderMap, peer: SocketAddr) -> Result<Arc<Account>, Denied> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Ok(_turn) = mm7.checks.acquire().await else { return Err(Denied::Unauthenticated) };
    let accounts = mm7.accounts.clone();
    tokio::task::spawn_blocking(move || accounts.authenticate(authorization.as_deref(), peer.ip()))
        .await
        .unwrap_or(Err(Denied::Unauthenticated))
}

/// The status of a request that is not a readable MM7 operation.
fn unreadable(e: &SoapError) -> Status {
    let code = match e {
        SoapError::UnknownNamespace(_) => StatusCode::UNSUPPORTED_VERSION,
        SoapError::UnknownOperation(_) => StatusCode::UNSUPPORTED_OPERATION,
        SoapError::TooLarge => StatusCode::CONTENT_REFUSED,
        SoapError::Invalid { .. } | SoapError::MissingContent(_) | SoapError::Content(_) => {
            StatusCode::MESSAGE_FORMAT_CORRUPT
        }
        SoapError::Malformed(_)
        | SoapError::NotSoap
        | SoapError::Missing(_)
        | SoapError::TooDeep
        | SoapError::TooManyElements
        | SoapError::Mime(_) => StatusCode::VALIDATION_ERROR,
    };
    status(code, e.to_string())
}

/// Takes a SubmitReq: the account's checks and limits, then the intake; the status to answer
/// and, once stored, the Message-ID.
async fn submitted(
    mm7: &Mm7,
    account: &Account,
    client: IpAddr,
    req: &soap::SubmitReq,
    content: &soap::Attachment,
    now: i64,
) -> (Status, Option<String>) {
    let vasp = &account.vasp;
    let sub = match submit::submission(vasp, req, content, &mm7.cfg.subscribers) {
        Ok(sub) => sub,
        Err(s) => {
            tracing::info!(vasp = %vasp.name, status = s.code.0, text = ?s.text, "SubmitReq refused");
            return (s, None);
        }
    };
    if let Err(over) = account.meter(now) {
        let s = match over {
            OverLimit::Throughput(n) => {
                status(StatusCode::SERVICE_UNAVAILABLE, format!("more than {n} messages a second; try again"))
            }
            OverLimit::Quota(n) => {
                status(StatusCode::SERVICE_DENIED, format!("the daily quota of {n} messages is used up"))
            }
        };
        tracing::info!(vasp = %vasp.name, text = ?s.text, "SubmitReq over the account's limits");
        return (s, None);
    }
    match mm7.intake.submit(Submission { client: Some(client), ..sub }).await {
        Ok(accepted) => {
            metrics::counter!("tern_mm7_submitted_total").increment(1);
            (Status::new(StatusCode::SUCCESS), Some(accepted.message_id))
        }
        Err(refusal) => {
            tracing::info!(vasp = %vasp.name, text = %refusal.text, "SubmitReq refused");
            (submit::refused(&refusal), None)
        }
    }
}
