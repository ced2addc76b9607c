//! Nokia's External Application Interface (EAIF), the pre-MM7 way VASPs talk to a relay, as
//! values both ways, without I/O: an HTTP POST whose body is a binary MMS PDU
//! (`application/vnd.wap.mms-message`) and whose `X-NOKIA-MMSC-*` headers carry the envelope.
//!
//! - A VASP submits an m-send.req (some send an m-retrieve.conf) to the relay:
//!   [`parse_submit`] reads it into neutral values and the span of the WSP body, which the relay
//!   stores as received. The relay answers `204 No Content` with the Message-Id it gave
//!   ([`answer_ok`]), or a 4xx/5xx status ([`answer_error`]).
//! - The relay posts to a VASP a message ([`write_deliver`]), an m-delivery.ind
//!   ([`write_delivery_report`]) or an m-read-orig.ind ([`write_read_reply`]), each labelled by
//!   `X-NOKIA-MMSC-Message-Type`; [`read_answer`] tells what the VASP's status means.
//!
//! The Nokia specification itself is not public. What is here follows the implementations that
//! interoperate with deployed VASPs and relays: Mbuni's relay and VAS gateway, NowSMS's
//! documentation of its `/eaif` endpoint, the samples of Nokia's MMS Java library and
//! vectorcore-mmsc. Where they disagree, the choice and its reason are noted where it is made.
//! Reading is lenient in what they vary (header case, recipients in one header or several,
//! `/TYPE=PLMN` or not, the message in a send-req or a retrieve-conf) and bounded in the body's
//! size, each header's length and the number of recipients; what cannot be read is a typed
//! [`EaifError`], never a panic.

use std::ops::Range;

use tern_codec::mms::{
    self, Address, DeliveryInd, Header, Message, MessageType, Pdu, ReadOrigInd, RetrieveConf, SendReq, Sender,
    SenderVisibility, TimeValue,
};
use tern_codec::wsp::EncodedString;

use crate::core::accept::When;
use crate::core::envelope::{Class, Field, Priority};
use crate::core::report::{DeliveryStatus, ReadStatus, Report, ReportKind};
use crate::mm1::pdus;

/// The media type of every EAIF body, both ways.
pub const CONTENT_TYPE: &str = "application/vnd.wap.mms-message";

/// A body larger than this is refused before it is decoded; the same bound as an MM7 request.
pub const MAX_BODY_BYTES: usize = super::soap::MAX_HTTP_BYTES;

/// More recipients than this in one request are refused before they are collected. This bounds
/// what one request can allocate; how many recipients a sender may name is the core's policy.
pub const MAX_RECIPIENTS: usize = 1000;

/// An `X-NOKIA-MMSC-*` header value longer than this is refused: room for a few hundred
/// recipients in one `X-NOKIA-MMSC-To`, which VASPs may repeat for more.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The EAIF version the relay writes when it is not told another. Deployed peers do not agree
/// (Nokia's samples send 1.0 and 1.1, Mbuni writes what it is configured with, vectorcore 3.0)
/// and none found checks it; 3.0 is the last version Nokia published.
pub const DEFAULT_VERSION: &str = "3.0";

/// The EAIF header names, as Mbuni and Nokia's samples spell them; they are read in any case.
pub mod header {
    /// The recipients, comma separated; may be repeated.
    pub const TO: &str = "X-NOKIA-MMSC-To";
    pub const FROM: &str = "X-NOKIA-MMSC-From";
    /// The Message-ID: the relay's answer to a submission, and on each request to a VASP.
    pub const MESSAGE_ID: &str = "X-NOKIA-MMSC-Message-Id";
    /// What a request carries: see [`super::EaifMessageType`].
    pub const MESSAGE_TYPE: &str = "X-NOKIA-MMSC-Message-Type";
    pub const VERSION: &str = "X-NOKIA-MMSC-Version";
    /// An application's status for a message, carried on a 2xx answer (Nokia's samples).
    pub const STATUS: &str = "X-NOKIA-MMSC-Status";
    /// Operator-specific charging indication; Nokia's samples send `1`.
    pub const CHARGING: &str = "X-NOKIA-MMSC-Charging";
    /// Operator-specific: who pays.
    pub const CHARGED_PARTY: &str = "X-NOKIA-MMSC-Charged-Party";
}

/// The value of `X-NOKIA-MMSC-Message-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EaifMessageType {
    /// A message: m-send.req or m-retrieve.conf.
    MultiMediaMessage,
    /// An m-delivery.ind.
    DeliveryReport,
    /// An m-read-orig.ind.
    ReadReply,
}

impl EaifMessageType {
    pub fn name(self) -> &'static str {
        match self {
            EaifMessageType::MultiMediaMessage => "MultiMediaMessage",
            EaifMessageType::DeliveryReport => "DeliveryReport",
            EaifMessageType::ReadReply => "ReadReply",
        }
    }
}

/// What a VASP's submission could not be taken for, with the HTTP status that says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EaifError {
    #[error("the request has no body")]
    Empty,
    #[error("the body's {0} octets are more than the {MAX_BODY_BYTES} taken")]
    TooLarge(usize),
    #[error("the Content-Type {0:?} is not {CONTENT_TYPE}")]
    UnsupportedContentType(String),
    #[error("the {0} header is longer than {MAX_HEADER_BYTES} octets")]
    HeaderTooLarge(&'static str),
    #[error("X-NOKIA-MMSC-Message-Type {0:?} is not a message a VASP submits")]
    UnsupportedMessageType(String),
    #[error("malformed PDU: {0}")]
    Malformed(tern_codec::Error),
    #[error("{0} is not a message to submit")]
    NotAMessage(MessageType),
    #[error("the PDU has no content")]
    NoContent,
    #[error("no recipient in X-NOKIA-MMSC-To nor in the PDU")]
    NoRecipient,
    #[error("more than {MAX_RECIPIENTS} recipients")]
    TooManyRecipients,
}

impl EaifError {
    /// The HTTP status to answer with. EAIF has no codes of its own: peers read any 4xx as a
    /// refusal they must not repeat (Mbuni's gateway retries only 5xx), so each error gets the
    /// plain HTTP code for what is wrong.
    pub fn http_status(&self) -> u16 {
        match self {
            EaifError::TooLarge(_) => 413,
            EaifError::UnsupportedContentType(_) => 415,
            EaifError::HeaderTooLarge(_) => 431,
            EaifError::Empty
            | EaifError::UnsupportedMessageType(_)
            | EaifError::Malformed(_)
            | EaifError::NotAMessage(_)
            | EaifError::NoContent
            | EaifError::NoRecipient
            | EaifError::TooManyRecipients => 400,
        }
    }
}

/// A VASP's submission in neutral form. Addresses are as written (a `/TYPE=PLMN` suffix
/// included); normalizing them is the core's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EaifSubmit {
    /// From `X-NOKIA-MMSC-To` (all listed as To), or else the PDU's To, Cc and Bcc.
    pub recipients: Vec<(Field, String)>,
    /// `X-NOKIA-MMSC-From`, or else the PDU's From; `None` asks the relay to insert one.
    pub sender: Option<String>,
    /// `X-NOKIA-MMSC-Message-Id`, or else a retrieve-conf's Message-ID.
    pub message_id: Option<String>,
    /// `X-NOKIA-MMSC-Version` as sent.
    pub version: Option<String>,
    /// `X-NOKIA-MMSC-Charging` and `X-NOKIA-MMSC-Charged-Party`, as sent.
    pub charging: Option<String>,
    pub charged_party: Option<String>,
    pub subject: Option<String>,
    pub class: Option<Class>,
    pub priority: Option<Priority>,
    /// Unix seconds.
    pub date: Option<i64>,
    pub expiry: Option<When>,
    pub delivery_time: Option<When>,
    pub delivery_report: bool,
    pub read_report: bool,
    pub sender_visible: bool,
    /// The media type of the message content.
    pub content_type: String,
    /// Where the Content-Type field and the body lie in the request body: what the relay
    /// stores, and puts behind its own header fields when it delivers.
    pub body_span: Range<usize>,
}

/// What the relay knows of a message from the PDU, before the EAIF headers have their say.
struct PduFields {
    listed: Vec<(Field, String)>,
    sender: Option<String>,
    message_id: Option<String>,
    subject: Option<String>,
    class: Option<Class>,
    priority: Option<Priority>,
    date: Option<i64>,
    expiry: Option<When>,
    delivery_time: Option<When>,
    delivery_report: bool,
    read_report: bool,
    sender_visible: bool,
}

/// The media types a submission is taken with. NowSMS's documentation spells the MMS type
/// `application/vnd.wap.mms.message`, so VASPs written after it send that; generic HTTP clients
/// send `application/octet-stream` or nothing. Mbuni and vectorcore do not look at the type at
/// all: the PDU says what it is. Anything else (XML, a form) is a request for another interface.
const ACCEPTED_TYPES: [&str; 3] = [CONTENT_TYPE, "application/vnd.wap.mms.message", "application/octet-stream"];

/// Reads a VASP's submission: its HTTP headers (names in any case), Content-Type and body.
pub fn parse_submit(headers: &[(String, String)], content_type: &str, body: &[u8]) -> Result<EaifSubmit, EaifError> {
    check_content_type(content_type)?;
    if body.is_empty() {
        return Err(EaifError::Empty);
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(EaifError::TooLarge(body.len()));
    }
    if let Some(kind) = single(headers, header::MESSAGE_TYPE)?
        && !kind.eq_ignore_ascii_case(EaifMessageType::MultiMediaMessage.name())
    {
        return Err(EaifError::UnsupportedMessageType(kind.to_owned()));
    }
    let header_to = header_recipients(headers)?;
    let (message, span) = Message::decode_with_body_span(body).map_err(EaifError::Malformed)?;
    let fields = match &message.pdu {
        Pdu::SendReq(req) => send_req_fields(req),
        Pdu::RetrieveConf(conf) => retrieve_conf_fields(conf),
        other => return Err(EaifError::NotAMessage(other.message_type())),
    };
    let (Some(span), Some(content)) = (span, message.body.as_ref()) else {
        return Err(EaifError::NoContent);
    };
    let content_type = content.content_type.media_type.clone();
    // Mbuni and vectorcore take the header's recipients instead of the PDU's when it has any.
    let recipients = if header_to.is_empty() { fields.listed } else { header_to };
    if recipients.is_empty() {
        return Err(EaifError::NoRecipient);
    }
    if recipients.len() > MAX_RECIPIENTS {
        return Err(EaifError::TooManyRecipients);
    }
    let owned = |v: Option<&str>| v.map(str::to_owned);
    Ok(EaifSubmit {
        recipients,
        sender: owned(single(headers, header::FROM)?).or(fields.sender),
        message_id: owned(single(headers, header::MESSAGE_ID)?).or(fields.message_id),
        version: owned(single(headers, header::VERSION)?),
        charging: owned(single(headers, header::CHARGING)?),
        charged_party: owned(single(headers, header::CHARGED_PARTY)?),
        subject: fields.subject,
        class: fields.class,
        priority: fields.priority,
        date: fields.date,
        expiry: fields.expiry,
        delivery_time: fields.delivery_time,
        delivery_report: fields.delivery_report,
        read_report: fields.read_report,
        sender_visible: fields.sender_visible,
        content_type,
        body_span: span,
    })
}

fn check_content_type(content_type: &str) -> Result<(), EaifError> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media.is_empty() || ACCEPTED_TYPES.iter().any(|t| t.eq_ignore_ascii_case(media)) {
        Ok(())
    } else {
        Err(EaifError::UnsupportedContentType(media.chars().take(64).collect()))
    }
}

/// Every value of the header `name`, trimmed, each bounded in length.
fn values<'a>(
    headers: &'a [(String, String)],
    name: &'static str,
) -> impl Iterator<Item = Result<&'a str, EaifError>> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(move |(_, v)| if v.len() > MAX_HEADER_BYTES { Err(EaifError::HeaderTooLarge(name)) } else { Ok(v.trim()) })
}

/// The first non-empty value of a header that is sent once; a repeat is ignored, as Mbuni does.
fn single<'a>(headers: &'a [(String, String)], name: &'static str) -> Result<Option<&'a str>, EaifError> {
    for value in values(headers, name) {
        let value = value?;
        if !value.is_empty() {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

/// The recipients of every `X-NOKIA-MMSC-To`: Mbuni's gateway sends one header per recipient,
/// vectorcore one comma-separated header; both are read. An address with a comma in it (an
/// e-mail display name) cannot be told apart and is not expected here.
fn header_recipients(headers: &[(String, String)]) -> Result<Vec<(Field, String)>, EaifError> {
    let mut out = Vec::new();
    for value in values(headers, header::TO) {
        for address in value?.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            if out.len() == MAX_RECIPIENTS {
                return Err(EaifError::TooManyRecipients);
            }
            out.push((Field::To, address.to_owned()));
        }
    }
    Ok(out)
}

fn listed(fields: [(Field, &[Address]); 3]) -> Vec<(Field, String)> {
    fields
        .into_iter()
        .flat_map(|(field, list)| list.iter().map(move |a| (field, a.text().trim().to_owned())))
        .filter(|(_, a)| !a.is_empty())
        .collect()
}

fn sender_text(from: Option<&Sender>) -> Option<String> {
    match from? {
        Sender::Address(a) => Some(a.text().trim().to_owned()).filter(|a| !a.is_empty()),
        Sender::InsertAddress => None,
    }
}

fn when(t: TimeValue) -> When {
    match t {
        TimeValue::Relative(s) => When::Relative(s),
        TimeValue::Absolute(t) => When::Absolute(t),
    }
}

fn send_req_fields(req: &SendReq) -> PduFields {
    PduFields {
        listed: listed([(Field::To, &req.to), (Field::Cc, &req.cc), (Field::Bcc, &req.bcc)]),
        sender: sender_text(req.from.as_ref()),
        message_id: None,
        subject: req.subject.as_ref().map(|s| s.text.clone()),
        class: req.message_class.as_ref().map(pdus::class_from_mms),
        priority: req.priority.and_then(pdus::priority_from_mms),
        date: req.date.and_then(|d| i64::try_from(d).ok()),
        expiry: req.expiry.map(when),
        delivery_time: req.delivery_time.map(when),
        delivery_report: req.delivery_report == Some(true),
        read_report: req.read_report == Some(true),
        sender_visible: req.sender_visibility != Some(SenderVisibility::HIDE),
    }
}

/// A retrieve-conf has no Bcc, expiry, delivery time or sender visibility.
fn retrieve_conf_fields(conf: &RetrieveConf) -> PduFields {
    PduFields {
        listed: listed([(Field::To, &conf.to), (Field::Cc, &conf.cc), (Field::Bcc, &[])]),
        sender: sender_text(conf.from.as_ref()),
        message_id: conf.message_id.as_ref().map(|id| id.trim().to_owned()).filter(|id| !id.is_empty()),
        subject: conf.subject.as_ref().map(|s| s.text.clone()),
        class: conf.message_class.as_ref().map(pdus::class_from_mms),
        priority: conf.priority.and_then(pdus::priority_from_mms),
        date: conf.date.and_then(|d| i64::try_from(d).ok()),
        expiry: None,
        delivery_time: None,
        delivery_report: conf.delivery_report == Some(true),
        read_report: conf.read_report == Some(true),
        sender_visible: true,
    }
}

/// The answer to a submission the relay took: `204 No Content` with the Message-Id it gave, as
/// Mbuni's relay, NowSMS and vectorcore answer; VASPs read the id from the header.
pub fn answer_ok(message_id: &str, version: &str) -> (u16, Vec<(String, String)>) {
    (204, vec![pair(header::VERSION, version), pair(header::MESSAGE_ID, message_id)])
}

/// The answer to a submission the relay refused: the error's status, with a `text/plain` body
/// that is the error's text (as Mbuni answers a PDU it cannot read).
pub fn answer_error(error: &EaifError, version: &str) -> (u16, Vec<(String, String)>) {
    (error.http_status(), vec![pair(header::VERSION, version), pair("Content-Type", "text/plain; charset=utf-8")])
}

fn pair(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

/// A request from the relay to a VASP, to POST as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EaifRequest {
    pub headers: Vec<(String, String)>,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Which PDU carries a message to a VASP. Both are read by the VASP-side implementations found
/// (Mbuni's gateway, Nokia's Java library); Mbuni's relay turns every message into an
/// m-send.req before posting it, vectorcore posts an m-retrieve.conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeliverForm {
    /// What a handset retrieves, with the Message-ID and Date as delivered.
    #[default]
    RetrieveConf,
    /// For VASPs that read only what they would submit themselves; the Message-ID is kept as
    /// an extra field.
    SendReq,
}

/// A message for a VASP, in neutral form. Addresses are canonical (`+15551234567`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deliver<'a> {
    pub message_id: &'a str,
    pub from: &'a str,
    pub to: &'a [String],
    pub subject: Option<&'a str>,
    /// Unix seconds.
    pub date: i64,
    /// The Content-Type field and body as stored (an [`EaifSubmit::body_span`], or the same
    /// from another interface).
    pub body: &'a [u8],
    pub form: DeliverForm,
    /// The `X-NOKIA-MMSC-Version` to write; [`DEFAULT_VERSION`] unless the VASP wants another.
    pub version: &'a str,
}

fn date(t: i64) -> Option<u64> {
    Some(u64::try_from(t).unwrap_or(0))
}

/// A message to a VASP: the PDU with the stored body behind its header fields, and the
/// envelope in the EAIF headers. The message id doubles as the Transaction-ID, which an
/// m-send.req must have and nothing else ties to.
pub fn write_deliver(d: &Deliver<'_>) -> EaifRequest {
    let from = Some(Sender::Address(pdus::mms_address(d.from)));
    let to: Vec<Address> = d.to.iter().map(|a| pdus::mms_address(a)).collect();
    let subject = d.subject.map(EncodedString::auto);
    let message = match d.form {
        DeliverForm::RetrieveConf => Message::new(RetrieveConf {
            transaction_id: Some(d.message_id.to_owned()),
            mms_version: Some(pdus::VERSION),
            message_id: Some(d.message_id.to_owned()),
            from,
            to: to.clone(),
            subject,
            date: date(d.date),
            ..RetrieveConf::default()
        }),
        DeliverForm::SendReq => Message::new(SendReq {
            transaction_id: Some(d.message_id.to_owned()),
            mms_version: Some(pdus::VERSION),
            date: date(d.date),
            from,
            to: to.clone(),
            subject,
            other: vec![Header::MessageId(d.message_id.to_owned())],
            ..SendReq::default()
        }),
    };
    let mut body = message.encode();
    body.extend_from_slice(d.body);
    let to = to.iter().map(Address::text).collect::<Vec<_>>().join(",");
    let headers =
        envelope(EaifMessageType::MultiMediaMessage, d.message_id, &pdus::mms_address(d.from), &to, d.version);
    EaifRequest { headers, content_type: CONTENT_TYPE.to_owned(), body }
}

fn envelope(kind: EaifMessageType, message_id: &str, from: &Address, to: &str, version: &str) -> Vec<(String, String)> {
    vec![
        pair(header::MESSAGE_TYPE, kind.name()),
        pair(header::VERSION, version),
        pair(header::MESSAGE_ID, message_id),
        pair(header::FROM, from.text()),
        pair(header::TO, to),
    ]
}

/// What a report to a VASP is about. Addresses are canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportOf<'a> {
    /// The Message-ID the relay gave the VASP's message.
    pub message_id: &'a str,
    /// The recipient the report is about: the report's sender.
    pub recipient: &'a str,
    /// The VASP's address that sent the message: the report's recipient.
    pub originator: &'a str,
    /// Unix seconds.
    pub date: i64,
    pub version: &'a str,
}

fn report_request(kind: EaifMessageType, of: &ReportOf<'_>, message: Message<'_>) -> EaifRequest {
    let to = pdus::mms_address(of.originator);
    let headers = envelope(kind, of.message_id, &pdus::mms_address(of.recipient), to.text(), of.version);
    EaifRequest { headers, content_type: CONTENT_TYPE.to_owned(), body: message.encode() }
}

/// A delivery report to a VASP: an m-delivery.ind, whose To is the recipient it is about.
pub fn write_delivery_report(of: &ReportOf<'_>, status: DeliveryStatus) -> EaifRequest {
    let ind = DeliveryInd {
        mms_version: Some(pdus::VERSION),
        message_id: Some(of.message_id.to_owned()),
        to: vec![pdus::mms_address(of.recipient)],
        date: date(of.date),
        status: Some(pdus::delivery_status(status)),
        ..DeliveryInd::default()
    };
    report_request(EaifMessageType::DeliveryReport, of, Message::new(ind))
}

/// A read report to a VASP: an m-read-orig.ind from the recipient to the originator.
pub fn write_read_reply(of: &ReportOf<'_>, status: ReadStatus) -> EaifRequest {
    let ind = ReadOrigInd {
        mms_version: Some(pdus::VERSION),
        message_id: Some(of.message_id.to_owned()),
        to: vec![pdus::mms_address(of.originator)],
        from: Some(Sender::Address(pdus::mms_address(of.recipient))),
        date: date(of.date),
        read_status: Some(match status {
            ReadStatus::Read => mms::ReadStatus::READ,
            ReadStatus::DeletedUnread => mms::ReadStatus::DELETED_WITHOUT_BEING_READ,
        }),
        ..ReadOrigInd::default()
    };
    report_request(EaifMessageType::ReadReply, of, Message::new(ind))
}

/// A neutral report as the request that carries it to a VASP.
pub fn write_report(report: &Report, version: &str) -> EaifRequest {
    let of = ReportOf {
        message_id: &report.message_id,
        recipient: &report.about,
        originator: &report.to,
        date: report.date,
        version,
    };
    match report.kind {
        ReportKind::Delivery(status) => write_delivery_report(&of, status),
        ReportKind::Read(status) => write_read_reply(&of, status),
    }
}

/// Why a VASP did not take a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the VASP answered {0}; the request may succeed later")]
    Retry(u16),
    #[error("the VASP refused the request with {0}")]
    Refused(u16),
}

impl AnswerError {
    pub fn is_retryable(self) -> bool {
        matches!(self, AnswerError::Retry(_))
    }
}

/// What a VASP's answer to a request means: taken (with the Message-Id it gave, if any), worth
/// retrying (5xx, 408, 429), or refused for good (any other status).
///
/// Mbuni's gateway retries 5xx only, and its relay the reverse (4xx retried, 5xx final); the
/// HTTP meaning is followed here, with the two 4xx codes HTTP itself calls temporary. A 2xx
/// answer that carries an `X-NOKIA-MMSC-Status` (as Nokia's sample applications send) is read by
/// that status instead.
pub fn read_answer(status: u16, headers: &[(String, String)]) -> Result<Option<String>, AnswerError> {
    let status = match single(headers, header::STATUS) {
        Ok(Some(inner)) if (200..300).contains(&status) => inner.parse().unwrap_or(status),
        _ => status,
    };
    match status {
        200..=299 => Ok(single(headers, header::MESSAGE_ID).ok().flatten().map(str::to_owned)),
        408 | 429 | 500..=599 => Err(AnswerError::Retry(status)),
        _ => Err(AnswerError::Refused(status)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tern_codec::mms::{Body, BodyData, Status};
    use tern_codec::wsp::{ContentType, Part};

    use super::*;

    fn h(name: &str, value: &str) -> (String, String) {
        pair(name, value)
    }

    fn content() -> Body<'static> {
        let parts = vec![
            Part::new(ContentType::new("text/plain"), &b"hello"[..]),
            Part::new(ContentType::new("image/png"), &[0x89, b'P', b'N', b'G'][..]),
        ];
        Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), parts)
    }

    fn stored_body() -> Vec<u8> {
        let mut out = Vec::new();
        content().encode(&mut out);
        out
    }

    fn send_req() -> SendReq {
        SendReq {
            transaction_id: Some("t1".into()),
            mms_version: Some(mms::Version::V1_2),
            from: Some(Sender::Address(Address::new("12345/TYPE=PLMN"))),
            to: vec![Address::phone("+15550100002")],
            cc: vec![Address::new("friend@example.net")],
            bcc: vec![Address::phone("+15550100003")],
            subject: Some(EncodedString::auto("Grüße")),
            message_class: Some(mms::MessageClass::Advertisement),
            priority: Some(mms::Priority::HIGH),
            expiry: Some(TimeValue::Relative(3600)),
            delivery_report: Some(true),
            ..SendReq::default()
        }
    }

    fn submit_bytes() -> Vec<u8> {
        Message::with_body(send_req(), content()).encode()
    }

    fn submit(headers: &[(String, String)], body: &[u8]) -> Result<EaifSubmit, EaifError> {
        parse_submit(headers, CONTENT_TYPE, body)
    }

    #[test]
    fn a_submission_reads_its_envelope_and_the_body_span_byte_for_byte() {
        let bytes = submit_bytes();
        let headers = [
            h("x-nokia-mmsc-to", "+15550100007/TYPE=PLMN, +15550100008"),
            h("X-Nokia-Mmsc-To", "12345"),
            h("X-NOKIA-MMSC-FROM", " 7777 "),
            h("x-nokia-mmsc-message-type", "multimediamessage"),
            h("X-NOKIA-MMSC-Version", "1.1"),
            h("X-NOKIA-MMSC-Charging", "1"),
        ];
        let s = submit(&headers, &bytes).unwrap();
        let to: Vec<_> = s.recipients.iter().map(|(f, a)| (*f, a.as_str())).collect();
        assert_eq!(to, [(Field::To, "+15550100007/TYPE=PLMN"), (Field::To, "+15550100008"), (Field::To, "12345")]);
        assert_eq!(s.sender.as_deref(), Some("7777"), "the header's sender wins over the PDU's");
        assert_eq!((s.version.as_deref(), s.charging.as_deref(), s.message_id), (Some("1.1"), Some("1"), None));
        assert_eq!(s.subject.as_deref(), Some("Grüße"));
        assert_eq!((s.class, s.priority), (Some(Class::Advertisement), Some(Priority::High)));
        assert_eq!(s.expiry, Some(When::Relative(3600)));
        assert!(s.delivery_report && !s.read_report && s.sender_visible);
        assert_eq!(s.content_type, "application/vnd.wap.multipart.mixed");
        assert_eq!(&bytes[s.body_span.clone()], stored_body().as_slice());
    }

    #[test]
    fn without_eaif_headers_the_pdu_names_the_recipients_and_the_sender() {
        let s = parse_submit(&[h(header::TO, " , ")], "application/vnd.wap.mms.message; x=1", &submit_bytes()).unwrap();
        let to: Vec<_> = s.recipients.iter().map(|(f, a)| (*f, a.as_str())).collect();
        assert_eq!(
            to,
            [
                (Field::To, "+15550100002/TYPE=PLMN"),
                (Field::Cc, "friend@example.net"),
                (Field::Bcc, "+15550100003/TYPE=PLMN")
            ]
        );
        assert_eq!(s.sender.as_deref(), Some("12345/TYPE=PLMN"));
        let insert = SendReq { from: Some(Sender::InsertAddress), ..send_req() };
        let s = parse_submit(&[], "", &Message::with_body(insert, content()).encode()).unwrap();
        assert_eq!(s.sender, None, "insert-address leaves the sender to the relay");
    }

    #[test]
    fn a_retrieve_conf_is_taken_with_its_message_id_unless_the_header_gives_one() {
        let conf = RetrieveConf {
            message_id: Some("vasp-1".into()),
            to: vec![Address::phone("+15550100002")],
            date: Some(1000),
            ..RetrieveConf::default()
        };
        let bytes = Message::with_body(conf, content()).encode();
        let s = submit(&[], &bytes).unwrap();
        assert_eq!((s.message_id.as_deref(), s.date), (Some("vasp-1"), Some(1000)));
        assert_eq!(&bytes[s.body_span.clone()], stored_body().as_slice());
        let s = submit(&[h("x-nokia-mmsc-message-id", "hdr-2")], &bytes).unwrap();
        assert_eq!(s.message_id.as_deref(), Some("hdr-2"));
    }

    #[test]
    fn what_cannot_be_taken_is_a_typed_error_with_its_status() {
        let bytes = submit_bytes();
        let err = |headers: &[(String, String)], ct: &str, body: &[u8]| {
            let e = parse_submit(headers, ct, body).unwrap_err();
            (e.http_status(), e)
        };
        assert_eq!(err(&[], CONTENT_TYPE, b""), (400, EaifError::Empty));
        assert!(matches!(err(&[], CONTENT_TYPE, b"garbage here"), (400, EaifError::Malformed(_))));
        assert!(matches!(err(&[], "text/xml", &bytes), (415, EaifError::UnsupportedContentType(_))));
        let huge = "9".repeat(MAX_HEADER_BYTES + 1);
        assert_eq!(
            err(&[h("X-NOKIA-MMSC-From", &huge)], CONTENT_TYPE, &bytes),
            (431, EaifError::HeaderTooLarge(header::FROM))
        );
        let many = vec!["+15550100002"; 10_000].join(",");
        assert_eq!(err(&[h(header::TO, &many)], CONTENT_TYPE, &bytes).1, EaifError::HeaderTooLarge(header::TO));
        let short = vec!["1"; MAX_RECIPIENTS + 1].join(",");
        assert_eq!(err(&[h(header::TO, &short)], CONTENT_TYPE, &bytes), (400, EaifError::TooManyRecipients));
        let one_each: Vec<_> = (0..10_000).map(|i| h(header::TO, &format!("+1555{i:07}"))).collect();
        assert_eq!(err(&one_each, CONTENT_TYPE, &bytes).1, EaifError::TooManyRecipients);
        let report = h(header::MESSAGE_TYPE, "DeliveryReport");
        assert_eq!(err(&[report], CONTENT_TYPE, &bytes).1, EaifError::UnsupportedMessageType("DeliveryReport".into()));
        let ind = Message::new(DeliveryInd { message_id: Some("m".into()), ..DeliveryInd::default() }).encode();
        assert_eq!(err(&[], CONTENT_TYPE, &ind), (400, EaifError::NotAMessage(MessageType::DELIVERY_IND)));
        let bare = Message::new(send_req()).encode();
        assert_eq!(err(&[], CONTENT_TYPE, &bare).1, EaifError::NoContent);
        let nobody = SendReq { to: vec![], cc: vec![], bcc: vec![], ..send_req() };
        assert_eq!(err(&[], CONTENT_TYPE, &Message::with_body(nobody, content()).encode()).1, EaifError::NoRecipient);
        let big = vec![0x8C; MAX_BODY_BYTES + 1];
        assert_eq!(err(&[], CONTENT_TYPE, &big), (413, EaifError::TooLarge(MAX_BODY_BYTES + 1)));
    }

    #[test]
    fn every_truncation_of_a_submission_is_an_answer_not_a_panic() {
        let bytes = submit_bytes();
        for cut in 0..bytes.len() {
            if let Ok(s) = submit(&[], &bytes[..cut]) {
                assert!(s.body_span.end <= cut);
            }
        }
    }

    #[test]
    fn a_written_deliver_decodes_back_to_its_fields() {
        let to = ["+15550100002".to_owned(), "friend@example.net".to_owned()];
        let stored = stored_body();
        let d = Deliver {
            message_id: "m-1",
            from: "+15550100001",
            to: &to,
            subject: Some("Photo"),
            date: 1_700_000_000,
            body: &stored,
            form: DeliverForm::RetrieveConf,
            version: DEFAULT_VERSION,
        };
        let req = write_deliver(&d);
        assert_eq!(req.content_type, CONTENT_TYPE);
        let got = |name: &str| req.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(got(header::MESSAGE_TYPE), Some("MultiMediaMessage"));
        assert_eq!(got(header::VERSION), Some("3.0"));
        assert_eq!(got(header::MESSAGE_ID), Some("m-1"));
        assert_eq!(got(header::FROM), Some("+15550100001/TYPE=PLMN"));
        assert_eq!(got(header::TO), Some("+15550100002/TYPE=PLMN,friend@example.net"));
        let (message, span) = Message::decode_with_body_span(&req.body).unwrap();
        assert_eq!(&req.body[span.unwrap()], stored.as_slice(), "the stored body is passed on as it is");
        let Pdu::RetrieveConf(conf) = &message.pdu else { panic!("{:?}", message.pdu) };
        assert_eq!((conf.message_id.as_deref(), conf.date), (Some("m-1"), Some(1_700_000_000)));
        assert_eq!(
            conf.to.iter().map(Address::text).collect::<Vec<_>>(),
            ["+15550100002/TYPE=PLMN", "friend@example.net"]
        );
        assert_eq!(conf.subject.as_ref().map(|s| s.text.as_str()), Some("Photo"));
        assert_eq!(message.body.unwrap().parts().len(), 2);

        // What the relay writes, it reads back as a submission.
        let again = submit(&req.headers, &req.body).unwrap();
        assert_eq!(again.message_id.as_deref(), Some("m-1"));
        assert_eq!(again.recipients.len(), 2);

        let req = write_deliver(&Deliver { form: DeliverForm::SendReq, ..d });
        let message = Message::decode(&req.body).unwrap();
        let Pdu::SendReq(sent) = &message.pdu else { panic!("{:?}", message.pdu) };
        assert_eq!(sent.transaction_id.as_deref(), Some("m-1"));
        assert_eq!(sent.other, [Header::MessageId("m-1".into())]);
        assert!(matches!(message.body.map(|b| b.data), Some(BodyData::Multipart(p)) if p.len() == 2));
    }

    #[test]
    fn reports_carry_their_pdu_and_message_type() {
        let of = ReportOf {
            message_id: "m-1",
            recipient: "+15550100002",
            originator: "12345",
            date: 5,
            version: DEFAULT_VERSION,
        };
        let req = write_delivery_report(&of, DeliveryStatus::Retrieved);
        assert!(req.headers.contains(&h(header::MESSAGE_TYPE, "DeliveryReport")));
        assert!(req.headers.contains(&h(header::FROM, "+15550100002/TYPE=PLMN")));
        assert!(req.headers.contains(&h(header::TO, "12345")));
        let Pdu::DeliveryInd(d) = Message::decode(&req.body).unwrap().pdu else { panic!() };
        assert_eq!((d.message_id.as_deref(), d.status, d.date), (Some("m-1"), Some(Status::RETRIEVED), Some(5)));
        assert_eq!(d.to[0].text(), "+15550100002/TYPE=PLMN");

        let report = Report {
            message_id: "m-1".into(),
            about: "+15550100002".into(),
            to: "12345".into(),
            kind: ReportKind::Read(ReadStatus::DeletedUnread),
            date: 5,
        };
        let req = write_report(&report, "1.1");
        assert!(req.headers.contains(&h(header::MESSAGE_TYPE, "ReadReply")));
        assert!(req.headers.contains(&h(header::VERSION, "1.1")));
        let Pdu::ReadOrigInd(r) = Message::decode(&req.body).unwrap().pdu else { panic!() };
        assert_eq!(r.read_status, Some(mms::ReadStatus::DELETED_WITHOUT_BEING_READ));
        assert_eq!((r.to[0].text(), r.from.unwrap().to_string()), ("12345", "+15550100002/TYPE=PLMN".to_owned()));
    }

    #[test]
    fn answers_both_ways() {
        let (status, headers) = answer_ok("m-9", DEFAULT_VERSION);
        assert_eq!(status, 204);
        assert_eq!(read_answer(status, &headers), Ok(Some("m-9".to_owned())));
        let (status, headers) = answer_error(&EaifError::NoRecipient, "1.0");
        assert_eq!((status, read_answer(status, &headers)), (400, Err(AnswerError::Refused(400))));
        assert_eq!(read_answer(200, &[]), Ok(None));
        assert_eq!(read_answer(202, &[h("x-nokia-mmsc-message-id", "a")]), Ok(Some("a".to_owned())));
        for retry in [408, 429, 500, 503] {
            assert!(read_answer(retry, &[]).unwrap_err().is_retryable(), "{retry}");
        }
        for refused in [301, 400, 401, 404, 413, 415] {
            assert_eq!(read_answer(refused, &[]), Err(AnswerError::Refused(refused)));
        }
        assert_eq!(read_answer(200, &[h("X-NOKIA-MMSC-Status", "503")]), Err(AnswerError::Retry(503)));
        assert_eq!(read_answer(200, &[h("X-NOKIA-MMSC-Status", "junk")]), Ok(None));
        assert_eq!(read_answer(500, &[h("X-NOKIA-MMSC-Status", "200")]), Err(AnswerError::Retry(500)));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, ..Default::default() })]

        /// Random bodies and headers give a submission or an error, never a panic.
        #[test]
        fn random_bytes_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            to in "[ -~]{0,64}",
            with_type_octet in proptest::prelude::any::<bool>(),
        ) {
            let mut body = if with_type_octet { vec![0x8C, 0x80] } else { Vec::new() };
            body.extend_from_slice(&bytes);
            let _ = parse_submit(&[h(header::TO, &to), h(header::FROM, &to)], CONTENT_TYPE, &body);
        }
    }
}
