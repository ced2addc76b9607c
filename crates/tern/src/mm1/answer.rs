//! The PDUs MM1 answers with, and the mapping from what went wrong to the spec's status codes.
//! Every answer to a POST that expects a PDU is a PDU, never an HTML or empty page, unless the
//! request's body was never read (a bare 408 or 503: there is no request to answer).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tern_codec::mms::{ForwardConf, Message, ResponseStatus, SendConf, Version};
use tern_codec::wsp::EncodedString;

pub const MMS_CONTENT_TYPE: &str = "application/vnd.wap.mms-message";

/// An MMS PDU as an HTTP 200 answer.
pub fn pdu(bytes: Vec<u8>) -> Response {
    pdu_body(Body::from(bytes))
}

/// An MMS PDU, as a body of any kind, as an HTTP 200 answer.
pub fn pdu_body(body: Body) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(MMS_CONTENT_TYPE));
    response
}

/// A one-way indication was taken (m-notifyresp.ind, m-acknowledge.ind, m-read-rec.ind).
pub fn taken() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// An indication that names no transaction or message this relay knows.
pub fn unknown() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// Why a request PDU was not accepted, as the spec's Response-Status with a text for people.
#[derive(Debug)]
pub struct Refusal {
    pub status: ResponseStatus,
    pub text: String,
}

impl Refusal {
    pub fn new(status: ResponseStatus, text: impl Into<String>) -> Self {
        Refusal { status, text: text.into() }
    }
}

/// Response-Status, Response-Text and Message-ID of a confirmation.
fn confirmation(outcome: Result<String, Refusal>) -> (Option<ResponseStatus>, Option<EncodedString>, Option<String>) {
    match outcome {
        Ok(message_id) => (Some(ResponseStatus::OK), None, Some(message_id)),
        Err(r) => (Some(r.status), Some(EncodedString::auto(r.text)), None),
    }
}

/// The m-send.conf for a request with Transaction-ID `tid`.
pub fn send_conf(tid: Option<String>, version: Option<Version>, outcome: Result<String, Refusal>) -> Response {
    let status = outcome.as_ref().map_or_else(|r| r.status.to_string(), |_| "ok".to_owned());
    metrics::counter!("tern_mm1_submissions_total", "status" => status).increment(1);
    pdu(encode_send_conf(tid, version, outcome))
}

/// The m-send.conf refusing a POST whose body could not be read whole, counted as `what`
/// happened rather than by its Response-Status, which several such cases share. The connection
/// is closed after it: what is left of the body is not read.
pub fn body_refused(tid: Option<String>, refusal: Refusal, what: &'static str) -> Response {
    metrics::counter!("tern_mm1_submissions_total", "status" => what).increment(1);
    closing(pdu(encode_send_conf(tid, None, Err(refusal))))
}

/// A bare HTTP status for a POST whose body was not read (no budget for it, or too slow), counted
/// as `what`; the connection is closed after it.
pub fn unread(status: StatusCode, what: &'static str) -> Response {
    metrics::counter!("tern_mm1_submissions_total", "status" => what).increment(1);
    let mut response = closing(status.into_response());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn encode_send_conf(tid: Option<String>, version: Option<Version>, outcome: Result<String, Refusal>) -> Vec<u8> {
    let (response_status, response_text, message_id) = confirmation(outcome);
    let mms_version = Some(answer_version(version));
    let conf = SendConf {
        transaction_id: tid,
        mms_version,
        response_status,
        response_text,
        message_id,
        ..SendConf::default()
    };
    Message::new(conf).encode()
}

/// The m-forward.conf for a request with Transaction-ID `tid`.
pub fn forward_conf(tid: Option<String>, version: Option<Version>, outcome: Result<String, Refusal>) -> Response {
    let (response_status, response_text, message_id) = confirmation(outcome);
    let mms_version = Some(answer_version(version));
    let conf = ForwardConf {
        transaction_id: tid,
        mms_version,
        response_status,
        response_text,
        message_id,
        ..ForwardConf::default()
    };
    pdu(Message::new(conf).encode())
}

/// Answer in the client's own version, up to 1.3.
fn answer_version(asked: Option<Version>) -> Version {
    asked.filter(|v| *v >= Version::V1_0 && *v <= Version::V1_3).unwrap_or(super::pdus::VERSION)
}

/// The Transaction-ID of a PDU that does not decode, when it is where the spec puts it, so that
/// even a malformed request gets an answer the client can match.
pub fn salvage_transaction_id(bytes: &[u8]) -> Option<String> {
    let rest = bytes.strip_prefix(&[0x8C])?.get(1..)?.strip_prefix(&[0x98])?;
    let rest = rest.strip_prefix(&[0x7F]).unwrap_or(rest);
    let end = rest.iter().position(|b| *b == 0)?;
    std::str::from_utf8(&rest[..end]).ok().filter(|t| !t.is_empty()).map(str::to_owned)
}
