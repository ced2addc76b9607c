//! MM1 over HTTP as a handset behind an operator's proxy does it: PDUs POSTed with the MMS
//! content type, retrievals fetched with GET, the subscriber's MSISDN in the header the proxy
//! would add. Answers are read up to a bound, redirects are not followed and every request has
//! a deadline, so a hostile or broken relay cannot exhaust the simulator.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};

pub const MMS_CONTENT_TYPE: &str = "application/vnd.wap.mms-message";
/// Largest answer read; relays cap messages far lower (Tern at 1 MiB by default).
pub const MAX_ANSWER: usize = 16 << 20;
const TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0:?} is not a usable HTTP header name")]
    HeaderName(String),
    #[error("{0:?} is not a usable HTTP header value")]
    HeaderValue(String),
    #[error("HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("the answer is larger than {MAX_ANSWER} octets")]
    TooLarge,
    #[error(transparent)]
    Identity(ClientError),
}

fn value(msisdn: &str) -> Result<HeaderValue, ClientError> {
    HeaderValue::from_str(msisdn).map_err(|_| ClientError::HeaderValue(msisdn.to_owned()))
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The header-enrichment header.
    header: HeaderName,
    /// The subscriber it names on every request, when there is one.
    msisdn: Option<HeaderValue>,
}

impl Client {
    pub fn new(header: &str, msisdn: Option<&str>) -> Result<Client, ClientError> {
        let header =
            HeaderName::from_bytes(header.as_bytes()).map_err(|_| ClientError::HeaderName(header.to_owned()))?;
        let msisdn = msisdn.map(value).transpose()?;
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // Under the relay's idle keep-alive timeout (mm1.header_timeout_secs, 10 s by
            // default), so that a pooled connection is not reused just as the relay closes it.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Tern-UE/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientError::Build)?;
        Ok(Client { http, header, msisdn })
    }

    pub async fn post(&self, url: &str, pdu: Vec<u8>) -> Result<Answer, RequestError> {
        let request = self.http.post(url).header(CONTENT_TYPE, MMS_CONTENT_TYPE).body(pdu);
        self.send(request).await
    }

    /// POSTs as `msisdn` rather than this client's own subscriber, as the load generator's
    /// many handsets do over one connection pool.
    pub async fn post_as(&self, msisdn: &str, url: &str, pdu: Vec<u8>) -> Result<Answer, RequestError> {
        let msisdn = value(msisdn).map_err(RequestError::Identity)?;
        let request = self.http.post(url).header(CONTENT_TYPE, MMS_CONTENT_TYPE).body(pdu);
        self.send(request.header(self.header.clone(), msisdn)).await
    }

    pub async fn get(&self, url: &str) -> Result<Answer, RequestError> {
        self.send(self.http.get(url)).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, RequestError> {
        let request = match &self.msisdn {
            Some(msisdn) => request.header(self.header.clone(), msisdn.clone()),
            None => request,
        };
        let mut response = request.send().await?;
        if response.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
            return Err(RequestError::TooLarge);
        }
        let status = response.status().as_u16();
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(RequestError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, content_type, body })
    }
}

/// An answer's body for people when it is not a PDU (an HTML error page, say): the start of
/// it, with anything unprintable escaped.
pub fn preview(body: &[u8]) -> String {
    const SHOWN: usize = 160;
    let text = String::from_utf8_lossy(&body[..body.len().min(SHOWN)]);
    let mut out: String = text.escape_debug().collect();
    if body.len() > SHOWN {
        out.push_str("...");
    }
    out
}
