//! The PAP bearer: hands each push to a Push Proxy Gateway (WAP-247 PAP 2.0) over HTTP, so the
//! relay can work behind an operator's existing WAP gateway. One multipart/related POST per
//! push: the PAP control entity (push-id, `WAPPUSH=+number/TYPE=PLMN@ppg` address) and the MMS
//! PDU; the gateway's `response-result` code says whether it took the push. The gateway may be
//! reached over https (rustls, the system's CA store plus `push.pap.ca_file`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::PushError;
use crate::config::PapConfig;

#[derive(Debug)]
pub struct Pap {
    client: reqwest::Client,
    cfg: PapConfig,
    next_id: AtomicU64,
    boundary: String,
}

impl Pap {
    /// An `https://` gateway must show a certificate that the system's CA store, or a CA in
    /// `ca_file`, vouches for.
    pub fn new(cfg: &PapConfig) -> Result<Pap, PushError> {
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(cfg.timeout_secs.max(1)));
        if let Some(file) = &cfg.ca_file {
            let ca_err =
                |message: String| PushError::Gateway(format!("push.pap.ca_file {}: {message}", file.display()));
            let pem = std::fs::read(file).map_err(|e| ca_err(format!("cannot read it: {e}")))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_err(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_err("no PEM certificate in it".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder.build().map_err(|e| PushError::Gateway(e.to_string()))?;
        let boundary = format!("tern-pap-{}", crate::core::ids::transaction_id());
        Ok(Pap { client, cfg: cfg.clone(), next_id: AtomicU64::new(1), boundary })
    }

    /// Pushes the MMS PDU `pdu` to `msisdn` through the gateway, which does its own WSP framing.
    pub async fn send(&self, msisdn: &str, pdu: &[u8]) -> Result<(), PushError> {
        let push_id = format!(
            "{}-{}@{}",
            std::process::id(),
            self.next_id.fetch_add(1, Ordering::Relaxed),
            self.cfg.push_id_domain
        );
        let body = self.body(&push_id, msisdn, pdu);
        let content_type = format!("multipart/related; boundary={}; type=\"application/xml\"", self.boundary);
        let response = self
            .client
            .post(&self.cfg.url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                // Without a connection the gateway cannot have the push: it waits for the
                // gateway to answer again rather than use up its attempts. Any later failure may
                // have reached it, and backs off.
                if e.is_connect() {
                    PushError::Unreachable(with_causes(&e))
                } else {
                    PushError::Gateway(with_causes(&e))
                }
            })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| PushError::Gateway(e.to_string()))?;
        outcome(result_code(&text), &text, status)
    }

    /// Whether a connection to the gateway can be made now: a plain GET of its URL, over the same
    /// client (and so the same TLS checks) as a push, asked while pushes wait for it. Whatever
    /// happens once connected (any answer, none, a reset) counts, as it would not set a push
    /// aside: a gateway that does not serve GET is still back.
    pub async fn answers(&self) -> bool {
        match self.client.get(&self.cfg.url).send().await {
            Ok(_) => true,
            Err(e) => !e.is_connect(),
        }
    }

    fn body(&self, push_id: &str, msisdn: &str, pdu: &[u8]) -> Vec<u8> {
        let number = if msisdn.starts_with('+') { msisdn.to_owned() } else { format!("+{msisdn}") };
        let control = format!(
            "<?xml version=\"1.0\"?>\r\n\
             <!DOCTYPE pap PUBLIC \"-//WAPFORUM//DTD PAP 2.0//EN\" \"http://www.wapforum.org/DTD/pap_2.0.dtd\">\r\n\
             <pap><push-message push-id=\"{push_id}\" progress-notes-requested=\"false\">\
             <address address-value=\"WAPPUSH={number}/TYPE=PLMN@{ppg}\"/>\
             <quality-of-service delivery-method=\"{method}\" network-required=\"true\" network=\"GSM\" \
             bearer-required=\"true\" bearer=\"SMS\"/></push-message></pap>",
            ppg = self.cfg.ppg_domain,
            method = self.cfg.delivery_method,
        );
        let b = &self.boundary;
        let mut body = Vec::with_capacity(control.len() + pdu.len() + 256);
        body.extend_from_slice(format!("--{b}\r\nContent-Type: application/xml\r\n\r\n{control}\r\n").as_bytes());
        body.extend_from_slice(
            format!(
                "--{b}\r\nContent-Type: application/vnd.wap.mms-message\r\n\
                 X-Wap-Application-Id: x-wap-application:mms.ua\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(pdu);
        body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        body
    }
}

/// reqwest's own message says only that the request failed; its causes say why (a certificate
/// not trusted, a connection refused), which is what an operator needs to see.
fn with_causes(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// What a gateway's answer means: 1xxx it took the push; 2xxx the push itself is wrong (a bad
/// address, say), so the same push would be refused again, except 2007 (a push-id already in
/// use), which the next attempt's new push-id clears; 3xxx (server), 4xxx (service) and 5xxx
/// (mobile client) failures may clear.
fn outcome(code: Option<u32>, text: &str, status: reqwest::StatusCode) -> Result<(), PushError> {
    match code {
        Some(code) if (1000..2000).contains(&code) => Ok(()),
        Some(code) if (2000..3000).contains(&code) && code != 2007 => {
            Err(PushError::GatewayRefused(format!("code {code}: {}", description(text))))
        }
        Some(code) => Err(PushError::Gateway(format!("PPG answered code {code}: {}", description(text)))),
        None => Err(PushError::Gateway(format!("PPG answered HTTP {status} without a PAP result"))),
    }
}

/// The `code` of the answer's `response-result` (or `badmessage-response`) element.
fn result_code(xml: &str) -> Option<u32> {
    let at = xml.find("response-result").or_else(|| xml.find("badmessage-response"))?;
    attribute(&xml[at..], "code")?.parse().ok()
}

fn description(xml: &str) -> String {
    xml.find("response-result").and_then(|at| attribute(&xml[at..], "desc")).unwrap_or_default()
}

/// An attribute's value in the element that `element` starts with; Kannel writes `code ="1001"`,
/// so blanks around `=` are allowed.
fn attribute(element: &str, name: &str) -> Option<String> {
    let element = &element[..element.find('>').unwrap_or(element.len())];
    let mut rest = element;
    while let Some(at) = rest.find(name) {
        let after = rest[at + name.len()..].trim_start();
        if let Some(value) = after.strip_prefix('=') {
            let value = value.trim_start();
            let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'')?;
            let value = &value[1..];
            return Some(value[..value.find(quote)?].to_owned());
        }
        rest = &rest[at + name.len()..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pap_result_codes() {
        let ok = r#"<?xml version="1.0"?><pap><push-response push-id="1@x"><response-result code="1001" desc="Accepted for processing"/></push-response></pap>"#;
        assert_eq!(result_code(ok), Some(1001));
        let kannel = r#"<pap><push-response push-id="m"><response-result code ="1001" desc="The request has been accepted for processing"></response-result></push-response></pap>"#;
        assert_eq!(result_code(kannel), Some(1001));
        let bad = "<pap><push-response push-id='1@x'><response-result code='2002' desc='Address error'/></push-response></pap>";
        assert_eq!((result_code(bad), description(bad).as_str()), (Some(2002), "Address error"));
        assert_eq!(result_code("<html>busy</html>"), None);
        assert_eq!(result_code("<pap><badmessage-response code=\"2000\" desc=\"bad\"/></pap>"), Some(2000));
    }

    #[test]
    fn client_errors_are_not_retried_and_the_rest_are() {
        use crate::push::Retry;
        let retry = |code: Option<u32>| outcome(code, "", reqwest::StatusCode::OK).err().map(|e| e.retry());
        assert_eq!(retry(Some(1001)), None, "accepted");
        assert_eq!(retry(Some(2002)), Some(Retry::Never), "address error");
        assert_eq!(retry(Some(2000)), Some(Retry::Never), "bad request");
        assert_eq!(retry(Some(2007)), Some(Retry::Backoff), "push-id in use: the next attempt has a new one");
        assert_eq!(retry(Some(3000)), Some(Retry::Backoff), "server error");
        assert_eq!(retry(Some(4001)), Some(Retry::Backoff), "service unavailable");
        assert_eq!(retry(None), Some(Retry::Backoff), "no PAP answer at all");
    }
}
