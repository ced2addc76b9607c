//! MM7 out: the HTTP request each outbound job for a VASP becomes. A message for its short
//! code is a DeliverReq with the content as a SOAP attachment; a report on a message it
//! submitted is a DeliveryReportReq or a ReadReplyReq. Each is written in the VASP's configured
//! namespace and MM7Version; a VASP on EAIF gets the EAIF form instead.

use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::{BodyPart, MimePart};

use crate::config::{Config, Vasp, VaspProtocol};
use crate::content::{self, Content};
use crate::core::envelope::{Envelope, Field};
use crate::core::report::{DeliveryStatus, ReadStatus, Report, ReportKind};

use super::eaif;
use super::soap::{
    self, Address, DeliverReq, DeliveryReportReq, Mm7Header, Mm7Namespace, MmStatus, ReadReplyReq, Recipient,
    RecipientField,
};

/// The Content-ID the content of a DeliverReq goes by.
const CONTENT_ID: &str = "mms-content";
/// The Content-ID of the SOAP envelope, the start of the multipart.
const ENVELOPE_ID: &str = "soap-envelope";

/// A request for a VASP's receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub content_type: String,
    /// Header fields besides Content-Type (SOAPAction, EAIF's `X-NOKIA-MMSC-*`).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The TransactionID of outbound job `job`: the same at every attempt.
pub fn transaction_id(job: i64) -> String {
    format!("tern-{job}")
}

fn header(vasp: &Vasp, job: i64) -> Mm7Header {
    Mm7Header {
        namespace: Mm7Namespace::from_name(&vasp.namespace).unwrap_or(Mm7Namespace::Rel6Mm7_1_4),
        version: vasp.mm7_version.clone(),
        transaction_id: transaction_id(job),
    }
}

fn relay_server_id(cfg: &Config) -> String {
    if cfg.mm7.relay_server_id.is_empty() { cfg.mm4.domain.clone() } else { cfg.mm7.relay_server_id.clone() }
}

/// An address as MM7 writes it: a number, an e-mail address or a short code.
pub fn address(canonical: &str) -> Address {
    if canonical.starts_with('+') {
        Address::Number(canonical.to_owned())
    } else if canonical.contains('@') {
        Address::Rfc2822(canonical.to_owned())
    } else {
        Address::ShortCode(canonical.to_owned())
    }
}

/// The message `env` with `content`, for the VASP's `recipients` (canonical), as job `job`.
pub fn deliver(
    cfg: &Config,
    vasp: &Vasp,
    job: i64,
    env: &Envelope,
    content: &Content,
    recipients: &[String],
) -> Request {
    if vasp.protocol == VaspProtocol::Eaif {
        let body = content::to_wsp(content);
        let r = eaif::write_deliver(&eaif::Deliver {
            message_id: &env.message_id,
            from: &env.originator,
            to: recipients,
            subject: env.subject.as_deref(),
            date: env.date,
            body: &body,
            form: eaif::DeliverForm::default(),
            version: eaif::DEFAULT_VERSION,
        });
        return Request { content_type: r.content_type, headers: r.headers, body: r.body };
    }
    let listed = env.recipients.iter().filter(|r| recipients.contains(&r.address)).map(|r| Recipient {
        field: match r.field {
            Field::To => RecipientField::To,
            Field::Cc => RecipientField::Cc,
            Field::Bcc => RecipientField::Bcc,
        },
        address: address(&r.address),
        display_only: false,
    });
    let req = DeliverReq {
        relay_server_id: Some(relay_server_id(cfg)),
        // The VASP names it in a SubmitReq that answers this message.
        linked_id: Some(env.message_id.clone()),
        sender: address(&env.originator),
        recipients: listed.collect(),
        time_stamp: env.date,
        priority: env.priority.map(|p| match p {
            crate::core::envelope::Priority::High => soap::Priority::High,
            crate::core::envelope::Priority::Normal => soap::Priority::Normal,
            crate::core::envelope::Priority::Low => soap::Priority::Low,
        }),
        subject: env.subject.clone(),
        content_href: format!("cid:{CONTENT_ID}"),
    };
    with_attachment(soap::write_deliver_req(&header(vasp, job), &req), content)
}

/// A report on a message the VASP submitted, as job `job`.
pub fn report(cfg: &Config, vasp: &Vasp, job: i64, r: &Report) -> Request {
    if vasp.protocol == VaspProtocol::Eaif {
        let out = eaif::write_report(r, eaif::DEFAULT_VERSION);
        return Request { content_type: out.content_type, headers: out.headers, body: out.body };
    }
    let h = header(vasp, job);
    let body = match r.kind {
        ReportKind::Delivery(status) => soap::write_delivery_report_req(
            &h,
            &DeliveryReportReq {
                relay_server_id: Some(relay_server_id(cfg)),
                message_id: r.message_id.clone(),
                recipient: address(&r.about),
                sender: address(&r.to),
                date: r.date,
                status: mm_status(status),
                status_text: None,
            },
        ),
        ReportKind::Read(status) => soap::write_read_reply_req(
            &h,
            &ReadReplyReq {
                relay_server_id: Some(relay_server_id(cfg)),
                message_id: r.message_id.clone(),
                recipient: address(&r.about),
                sender: address(&r.to),
                time_stamp: r.date,
                status: match status {
                    ReadStatus::Read => soap::ReadStatus::Read,
                    ReadStatus::DeletedUnread => soap::ReadStatus::Deleted,
                },
            },
        ),
    };
    soap_request("text/xml; charset=utf-8".into(), body)
}

/// The MMStatus of a delivery status; a message the relay could not get to the recipient is
/// Rejected from the VASP's side, as MM7 has no status of its own for it.
fn mm_status(status: DeliveryStatus) -> MmStatus {
    match status {
        DeliveryStatus::Retrieved => MmStatus::Retrieved,
        DeliveryStatus::Rejected | DeliveryStatus::Unreachable => MmStatus::Rejected,
        DeliveryStatus::Deferred => MmStatus::Deferred,
        DeliveryStatus::Expired => MmStatus::Expired,
        DeliveryStatus::Unrecognised => MmStatus::Unrecognised,
        DeliveryStatus::Forwarded => MmStatus::Forwarded,
        DeliveryStatus::Indeterminate => MmStatus::Indeterminate,
    }
}

fn soap_request(content_type: String, body: Vec<u8>) -> Request {
    Request { content_type, headers: vec![("SOAPAction".into(), "\"\"".into())], body }
}

/// The envelope as the start of a multipart/related (SOAP with attachments), with `content`
/// as the part its Content href names.
fn with_attachment(envelope: Vec<u8>, content: &Content) -> Request {
    let soap_part =
        MimePart::new(ContentType::new("text/xml").attribute("charset", "utf-8"), BodyPart::Binary(envelope.into()))
            .cid(ENVELOPE_ID);
    let content_part = content::mime_part(content).cid(CONTENT_ID);
    let outer = MimePart::new(
        ContentType::new("multipart/related")
            .attribute("type", "text/xml")
            .attribute("start", format!("<{ENVELOPE_ID}>")),
        BodyPart::Multipart(vec![soap_part, content_part]),
    );
    let mut written = Vec::new();
    outer.write_part(&mut written);
    let (content_type, body) = split_head(&written);
    soap_request(content_type, body)
}

/// Splits a written MIME entity into the value of its Content-Type (unfolded) and its body,
/// which become the HTTP request's header and body.
fn split_head(entity: &[u8]) -> (String, Vec<u8>) {
    let end = entity.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(entity.len());
    let head = String::from_utf8_lossy(&entity[..end]).replace("\r\n ", " ").replace("\r\n\t", " ");
    let content_type = head
        .split("\r\n")
        .find_map(|line| line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("content-type")))
        .map_or_else(|| "multipart/related".to_owned(), |(_, value)| value.trim().to_owned());
    (content_type, entity.get(end + 4..).unwrap_or_default().to_vec())
}
