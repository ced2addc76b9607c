//! EAIF in: a VASP's POST of a binary MMS PDU with `X-NOKIA-MMSC-*` headers becomes a
//! submission, through the same account checks and limits as MM7's SubmitReq. The body is
//! stored exactly as sent (the PDU's Content-Type field and body); the answer is EAIF's: 204
//! with the Message-Id once stored, an HTTP error with a line of text otherwise.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode as Http};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::accounts::{Account, OverLimit};
use super::eaif::{self, EaifSubmit};
use super::server::Mm7;
use super::submit;
use crate::core::accept::Submission;
use crate::core::envelope::{BodyFormat, Origin};
use crate::core::ids;
use crate::core::policy::RefusalKind;

/// Whether a POST is EAIF rather than SOAP: an MMS PDU by its type, or EAIF's own headers.
pub fn is_eaif(content_type: &str, headers: &HeaderMap) -> bool {
    let base = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    matches!(base.as_str(), "application/vnd.wap.mms-message" | "application/vnd.wap.mms.message")
        || headers.keys().any(|name| name.as_str().starts_with("x-nokia-mmsc-"))
}

fn answer(status: u16, headers: Vec<(String, String)>, text: String) -> Response {
    let code = Http::from_u16(status).unwrap_or(Http::BAD_REQUEST);
    let outcome = if code.is_success() { "taken" } else { "refused" };
    metrics::counter!("tern_eaif_submissions_total", "outcome" => outcome).increment(1);
    let mut r = (code, text).into_response();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            r.headers_mut().insert(name, value);
        }
    }
    r
}

fn refuse(status: u16, text: impl Into<String>) -> Response {
    let headers = vec![(eaif::header::VERSION.to_owned(), eaif::DEFAULT_VERSION.to_owned())];
    answer(status, headers, text.into())
}

pub async fn take(
    mm7: &Mm7,
    account: &Account,
    client: IpAddr,
    headers: &HeaderMap,
    content_type: &str,
    body: &[u8],
) -> Response {
    let vasp = &account.vasp;
    let pairs: Vec<(String, String)> =
        headers.iter().filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_owned(), v.to_owned()))).collect();
    let parsed = match eaif::parse_submit(&pairs, content_type, body) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::info!(vasp = %vasp.name, error = %e, "EAIF submission refused as unreadable");
            let (status, headers) = eaif::answer_error(&e, eaif::DEFAULT_VERSION);
            return answer(status, headers, e.to_string());
        }
    };
    let sub = match submission(mm7, account, parsed, body) {
        Ok(sub) => sub,
        Err((status, text)) => return refuse(status, text),
    };
    if let Err(over) = account.meter(ids::now()) {
        return match over {
            OverLimit::Throughput(n) => refuse(503, format!("more than {n} messages a second; try again")),
            OverLimit::Quota(n) => refuse(403, format!("the daily quota of {n} messages is used up")),
        };
    }
    match mm7.intake.submit(Submission { client: Some(client), ..sub }).await {
        Ok(accepted) => {
            metrics::counter!("tern_mm7_submitted_total").increment(1);
            let (status, headers) = eaif::answer_ok(&accepted.message_id, eaif::DEFAULT_VERSION);
            answer(status, headers, String::new())
        }
        Err(refusal) => {
            tracing::info!(vasp = %vasp.name, text = %refusal.text, "EAIF submission refused");
            let status = match refusal.kind {
                RefusalKind::Transient => 503,
                RefusalKind::ServiceDenied => 403,
                RefusalKind::ContentNotAccepted => 415,
                _ => 400,
            };
            refuse(status, refusal.text)
        }
    }
}

/// The submission a parsed EAIF request makes, its sender checked as the account's; the HTTP
/// status and text that refuse it otherwise.
fn submission(mm7: &Mm7, account: &Account, p: EaifSubmit, body: &[u8]) -> Result<Submission, (u16, String)> {
    let vasp = &account.vasp;
    let given = p.sender.as_deref().map(super::outbound::address);
    let originator = submit::originator(vasp, given.as_ref(), &mm7.cfg.subscribers).map_err(|s| {
        let status = if s.code == super::soap::StatusCode::OPERATION_RESTRICTED { 403 } else { 400 };
        (status, s.text.unwrap_or_default())
    })?;
    let stored = body.get(p.body_span.clone()).ok_or((400, "the PDU's body is out of bounds".to_owned()))?;
    let reports = vasp.reports && vasp.url.is_some();
    let origin = Origin::Mm7 { vasp: vasp.name.clone(), vas_id: None, service_code: None, linked_id: None };
    Ok(Submission {
        recipients: p.recipients,
        subject: p.subject,
        class: p.class,
        priority: p.priority,
        expiry: p.expiry,
        delivery_time: p.delivery_time,
        delivery_report: reports && p.delivery_report,
        read_report: reports && p.read_report,
        sender_visible: p.sender_visible,
        date: p.date,
        ..Submission::new(origin, originator, p.content_type, BodyFormat::Wsp, Bytes::copy_from_slice(stored))
    })
}
