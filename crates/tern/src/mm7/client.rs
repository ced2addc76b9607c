//! The relay's side of a VASP's receiver: POSTs a request (with the VASP's HTTP Basic
//! credentials, if it has them) and reads its answer: the MM7 status of a DeliverRsp,
//! DeliveryReportRsp, ReadReplyRsp, VASPErrorRsp or SOAP Fault in whatever shape VASPs send
//! it, or an EAIF answer. What can be tried again (the receiver down, busy, or failing on its
//! side) is told apart from a refusal for good.

use std::time::Duration;

use crate::config::{Mm7Config, Vasp, VaspProtocol};

use super::eaif;
use super::outbound::Request;
use super::soap::{self, Body, Status, StatusClass, StatusCode};

/// Answers larger than this are not read: a receiver's answer is a few hundred octets.
const MAX_ANSWER: usize = 64 * 1024;

/// Why a request did not get through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another attempt later.
    #[error("{0}")]
    Again(String),
    /// The receiver refused it for good.
    #[error("{0}")]
    Refused(String),
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
}

impl Client {
    pub fn new(cfg: &Mm7Config) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .build()
            .map_err(|e| anyhow::anyhow!("MM7 client: {e}"))?;
        Ok(Client { http })
    }

    pub async fn send(&self, vasp: &Vasp, req: &Request) -> Result<(), SendError> {
        let Some(url) = &vasp.url else { return Err(SendError::Refused(format!("VASP {} has no url", vasp.name))) };
        let mut post = self.http.post(url).header(reqwest::header::CONTENT_TYPE, &req.content_type);
        for (name, value) in &req.headers {
            post = post.header(name.as_str(), value.as_str());
        }
        if let (Some(user), Some(password)) = (&vasp.url_username, &vasp.url_password) {
            post = post.basic_auth(user, Some(password));
        }
        let answer = post.body(req.body.clone()).send().await.map_err(|e| SendError::Again(e.to_string()))?;
        let http = answer.status().as_u16();
        let headers: Vec<(String, String)> = answer
            .headers()
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_owned(), v.to_owned())))
            .collect();
        let content_type = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let body = read_limited(answer).await;
        if vasp.protocol == VaspProtocol::Eaif {
            return eaif::read_answer(http, &headers).map(|_| ()).map_err(|e| {
                if e.is_retryable() { SendError::Again(e.to_string()) } else { SendError::Refused(e.to_string()) }
            });
        }
        read_answer(http, &content_type, &body)
    }
}

/// The answer's body, or as much of it as [`MAX_ANSWER`] allows.
async fn read_limited(mut answer: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = answer.chunk().await {
        body.extend_from_slice(&chunk[..chunk.len().min(MAX_ANSWER.saturating_sub(body.len()))]);
        if body.len() >= MAX_ANSWER {
            break;
        }
    }
    body
}

/// What an MM7 answer says: a success status, or why not.
fn read_answer(http: u16, content_type: &str, body: &[u8]) -> Result<(), SendError> {
    let parsed = soap::parse_http(content_type, body, crate::core::ids::now()).ok().map(|(r, _)| r.body);
    let status = match parsed {
        Some(Body::DeliverRsp(s) | Body::DeliveryReportRsp(s) | Body::ReadReplyRsp(s) | Body::VaspError(s)) => s,
        Some(Body::Fault(f)) => match f.status {
            Some(s) => s,
            // A Fault with no MM7 status: its faultcode says whose the fault is.
            None if f.code.to_ascii_lowercase().ends_with("client") => {
                return Err(SendError::Refused(format!("SOAP Fault {}: {}", f.code, f.string)));
            }
            None => return Err(SendError::Again(format!("SOAP Fault {}: {}", f.code, f.string))),
        },
        _ if matches!(http, 408 | 429 | 500..=599) => return Err(SendError::Again(format!("HTTP {http}"))),
        _ if (200..300).contains(&http) => {
            return Err(SendError::Again(format!("HTTP {http} without an MM7 answer")));
        }
        _ => return Err(SendError::Refused(format!("HTTP {http}"))),
    };
    by_status(&status)
}

/// Success, or whether the status is worth another attempt: the receiver's server errors and
/// "service unavailable" are; a refusal of the request is not.
fn by_status(s: &Status) -> Result<(), SendError> {
    let text = format!("MM7 status {} {}", s.code.0, s.text.as_deref().unwrap_or_default());
    match s.code.class() {
        StatusClass::Success => Ok(()),
        StatusClass::Server => Err(SendError::Again(text)),
        StatusClass::Service if s.code == StatusCode::SERVICE_UNAVAILABLE => Err(SendError::Again(text)),
        StatusClass::Client | StatusClass::Service | StatusClass::Other => Err(SendError::Refused(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_read_as_taken_again_or_refused() {
        let is = |code: u16| by_status(&Status::new(StatusCode(code)));
        assert_eq!(is(1000), Ok(()));
        assert_eq!(is(1100), Ok(()));
        assert!(matches!(is(3000), Err(SendError::Again(_))));
        assert!(matches!(is(4006), Err(SendError::Again(_))));
        assert!(matches!(is(2002), Err(SendError::Refused(_))));
        assert!(matches!(is(4007), Err(SendError::Refused(_))));
        assert!(matches!(read_answer(503, "text/html", b"<html>down</html>"), Err(SendError::Again(_))));
        assert!(matches!(read_answer(404, "text/html", b"nope"), Err(SendError::Refused(_))));
        assert!(matches!(read_answer(200, "text/plain", b"OK"), Err(SendError::Again(_))));
    }

    /// Faults as VASPs send them: another prefix, no MM7 status, or one in the detail.
    #[test]
    fn faults_in_any_shape_are_read() {
        let fault = |code: &str, detail: &str| {
            format!(
                r#"<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><S:Fault>
                <faultcode>{code}</faultcode><faultstring>no</faultstring>{detail}</S:Fault></S:Body></S:Envelope>"#
            )
        };
        let detail = r#"<detail><VASPErrorRsp xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-2">
            <MM7Version>5.3.0</MM7Version><Status><StatusCode>3000</StatusCode></Status></VASPErrorRsp></detail>"#;
        let read = |xml: String| read_answer(500, "text/xml", xml.as_bytes());
        assert!(matches!(read(fault("S:Server", "")), Err(SendError::Again(_))));
        assert!(matches!(read(fault("S:Client", "")), Err(SendError::Refused(_))));
        assert!(matches!(read(fault("S:Client", detail)), Err(SendError::Again(_))), "the detail's status decides");
    }
}
