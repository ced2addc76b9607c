//! The MM4 messages (3GPP TS 23.140 §8) as RFC 5322 mail, both ways, without I/O: written with
//! mail-builder, read with mail-parser.
//!
//! Writing uses the header names and tokens deployed relays use; reading accepts the variations
//! they send: message types in any case, IDs in double quotes or angle
//! brackets, a relative or absolute X-Mms-Expiry, 3GPP versions from 5.x on, addresses as
//! `+E164/TYPE=PLMN@domain` or `number@domain`, both spellings of Unrecognised, and
//! X-Mms-MM-Read-Status for X-Mms-Read-Status.
//!
//! Bcc recipients are never written into a header: they are forwarded by being on the SMTP
//! envelope only (which `mm4::outbound` writes). On the way in, a recipient on the SMTP
//! envelope but in neither To nor Cc is a Bcc recipient, which the SMTP side, knowing the
//! envelope, decides.
//!
//! Parsing returns plain structs ([`ForwardReq`] and the reports) with addresses made canonical
//! and times resolved against `now`; `mm4::inbound` turns a forward.REQ into the core's
//! submission.

use std::collections::HashMap;

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_parser::{DateTime, HeaderValue, Message, MessageParser};

use crate::content::{self, Content, ContentError};
use crate::core::envelope::{Class, Envelope, Field, Priority};

/// The version written when none is configured.
pub use crate::config::MM4_VERSION as DEFAULT_VERSION;

/// Mail larger than this is not parsed: no MM4 peer sends a header block this long, and it bounds
/// what a hostile peer can make the parser hold.
pub const MAX_HEADER_BYTES: usize = 256 * 1024;

/// The MM4 message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mm4Kind {
    ForwardReq,
    ForwardRes,
    DeliveryReportReq,
    DeliveryReportRes,
    ReadReplyReq,
    ReadReplyRes,
}

const KINDS: [(Mm4Kind, &str); 6] = [
    (Mm4Kind::ForwardReq, "MM4_forward.REQ"),
    (Mm4Kind::ForwardRes, "MM4_forward.RES"),
    (Mm4Kind::DeliveryReportReq, "MM4_delivery_report.REQ"),
    (Mm4Kind::DeliveryReportRes, "MM4_delivery_report.RES"),
    (Mm4Kind::ReadReplyReq, "MM4_read_reply_report.REQ"),
    (Mm4Kind::ReadReplyRes, "MM4_read_reply_report.RES"),
];

impl Mm4Kind {
    /// The canonical X-Mms-Message-Type value.
    pub fn name(self) -> &'static str {
        KINDS.iter().find(|(k, _)| *k == self).map_or("", |(_, n)| n)
    }

    /// Reads an X-Mms-Message-Type value, in any case (`MM4_Delivery_report.REQ` is sent).
    pub fn parse(value: &str) -> Option<Mm4Kind> {
        let value = value.trim();
        KINDS.iter().find(|(_, n)| n.eq_ignore_ascii_case(value)).map(|(k, _)| *k)
    }
}

/// Defines an enum of header tokens with its canonical spelling and a lenient reader that
/// ignores case, spaces, hyphens and underscores.
macro_rules! tokens {
    ($(#[$doc:meta])* $Name:ident { $($Variant:ident = $text:literal $(| $alias:literal)*,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $Name { $($Variant,)* }

        impl $Name {
            pub fn name(self) -> &'static str {
                match self { $($Name::$Variant => $text,)* }
            }

            pub fn parse(value: &str) -> Option<$Name> {
                let key = token_key(value);
                $(if key == token_key($text) $(|| key == token_key($alias))* {
                    return Some($Name::$Variant);
                })*
                None
            }
        }
    };
}

fn token_key(value: &str) -> String {
    value.chars().filter(|c| !matches!(c, ' ' | '-' | '_' | '\t')).flat_map(char::to_lowercase).collect()
}

tokens! {
    /// X-Mms-Request-Status-Code of the responses.
    RequestStatus {
        Ok = "Ok",
        ErrorUnspecified = "Error-unspecified",
        ErrorServiceDenied = "Error-service-denied",
        ErrorMessageFormatCorrupt = "Error-message-format-corrupt",
        ErrorSendingAddressUnresolved = "Error-sending-address-unresolved",
        ErrorMessageNotFound = "Error-message-not-found",
        ErrorNetworkProblem = "Error-network-problem",
        ErrorContentNotAccepted = "Error-content-not-accepted",
        ErrorUnsupportedMessage = "Error-unsupported-message",
    }
}

tokens! {
    /// X-Mms-MM-Status-Code of a delivery report.
    MmStatus {
        Expired = "Expired",
        Retrieved = "Retrieved",
        Rejected = "Rejected",
        Deferred = "Deferred",
        Indeterminate = "Indeterminate",
        Forwarded = "Forwarded",
        Unrecognised = "Unrecognised" | "Unrecognized",
    }
}

tokens! {
    /// X-Mms-Read-Status of a read-reply report.
    ReadStatus {
        Read = "Read",
        DeletedWithoutBeingRead = "Deleted without being read",
    }
}

/// What building a forward.REQ needs besides the envelope and the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardParams {
    /// X-Mms-3GPP-MMS-Version; [`DEFAULT_VERSION`] by default.
    pub version: String,
    pub transaction_id: String,
    /// X-Mms-Originator-System, e.g. `system-user@mms.mnc001.mcc001.gprs`.
    pub originator_system: String,
    /// This relay's MMS domain (`mms.mnc001.mcc001.gprs`): the domain of the sender's address,
    /// and of any number recipient not in `recipient_domains`.
    pub sender_domain: String,
    /// The MMS domain of each number recipient, by canonical address.
    pub recipient_domains: HashMap<String, String>,
    pub ack_request: bool,
}

impl ForwardParams {
    pub fn new(transaction_id: impl Into<String>, originator_system: impl Into<String>, sender_domain: &str) -> Self {
        ForwardParams {
            version: DEFAULT_VERSION.into(),
            transaction_id: transaction_id.into(),
            originator_system: originator_system.into(),
            sender_domain: sender_domain.into(),
            recipient_domains: HashMap::new(),
            ack_request: true,
        }
    }

    fn domain_of(&self, address: &str) -> &str {
        self.recipient_domains.get(address).map_or(self.sender_domain.as_str(), String::as_str)
    }
}

/// An address as MM4 writes it: a number (or short code) as `number/TYPE=PLMN@domain`, an
/// e-mail address as it is.
pub fn to_mm4_address(address: &str, domain: &str) -> String {
    if address.contains('@') { address.to_owned() } else { format!("{address}/TYPE=PLMN@{domain}") }
}

/// An MM4 address made canonical: `+E164/TYPE=PLMN@domain` and `number@domain` on an MMS
/// domain (`.gprs`, `.3gppnetwork.org`) or with a leading `+` give the number (with `+` for a
/// number of more than 6 digits, which is international on MM4; a shorter one is a short code);
/// other `/TYPE=` forms give the bare value; anything else is an e-mail address, kept.
pub fn from_mm4_address(address: &str) -> String {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let Some((local, domain)) = address.rsplit_once('@') else { return address.to_owned() };
    let upper = local.to_ascii_uppercase();
    let (value, plmn) = match upper.find("/TYPE=") {
        Some(at) => (&local[..at], upper[at + 6..].eq_ignore_ascii_case("PLMN")),
        None => {
            let domain = domain.to_ascii_lowercase();
            let mms_domain = domain.ends_with(".gprs") || domain.ends_with(".3gppnetwork.org");
            (local, local.starts_with('+') || mms_domain)
        }
    };
    let digits = value.strip_prefix('+').unwrap_or(value);
    let is_number = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if !plmn || !is_number {
        return if upper.contains("/TYPE=") { value.to_owned() } else { address.to_owned() };
    }
    if value.starts_with('+') || digits.len() > 6 { format!("+{digits}") } else { digits.to_owned() }
}

/// A header value without line breaks or other controls, so that no input can add a header.
fn clean(value: &str) -> String {
    value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

fn yes_no(flag: bool) -> &'static str {
    if flag { "Yes" } else { "No" }
}

/// An RFC 5322 Message-ID for `id`: as it is when it has the `left@right` form, else with
/// `@domain` added.
fn mail_id(id: &str, domain: &str) -> String {
    let id = clean(id).replace(['<', '>', ' '], "");
    if id.contains('@') { id } else { format!("{id}@{domain}") }
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("localhost", |(_, d)| d.trim_end_matches('>'))
}

fn class_name(class: &Class) -> String {
    match class {
        Class::Personal => "Personal".into(),
        Class::Advertisement => "Advertisement".into(),
        Class::Informational => "Informational".into(),
        Class::Auto => "Auto".into(),
        Class::Other(token) => clean(token),
    }
}

fn priority_name(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "Low",
        Priority::Normal => "Normal",
        Priority::High => "High",
    }
}

/// A mail under construction: the MM4 header fields first, in the order written.
struct Mail<'a> {
    builder: MessageBuilder<'a>,
}

impl<'a> Mail<'a> {
    fn new(version: &str, kind: Mm4Kind, transaction_id: &str) -> Self {
        let builder = MessageBuilder::new()
            .header("X-Mms-3GPP-MMS-Version", Raw::new(clean(version)))
            .header("X-Mms-Message-Type", Raw::new(kind.name()))
            .header("X-Mms-Transaction-ID", Raw::new(clean(transaction_id)));
        Mail { builder }
    }

    fn raw(mut self, name: &'static str, value: impl AsRef<str>) -> Self {
        self.builder = self.builder.header(name, Raw::new(clean(value.as_ref())));
        self
    }

    fn raw_opt(self, name: &'static str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.raw(name, v),
            None => self,
        }
    }

    fn address(mut self, name: &'static str, addresses: Vec<String>) -> Self {
        if !addresses.is_empty() {
            let list = addresses.into_iter().map(|a| Address::new_address(None::<&str>, clean(&a))).collect();
            self.builder = self.builder.header(name, Address::new_list(list));
        }
        self
    }

    /// Adds Date and Message-ID (so that mail-builder makes up neither from the clock or the
    /// host name) and writes the mail.
    fn finish(self, date: i64, mail_id: String, body: Option<mail_builder::mime::MimePart<'a>>) -> Vec<u8> {
        let mut builder = self.builder.date(Date::new(date)).message_id(MessageId::new(mail_id));
        builder = match body {
            Some(body) => builder.body(body),
            None => builder.body(mail_builder::mime::MimePart::new("text/plain", "")),
        };
        let mut out = Vec::new();
        builder.serialize(&mut out);
        out
    }
}

/// Writes an MM4_forward.REQ of `env` and `content`. Recipients go into To and Cc as the
/// sender listed them; Bcc recipients into no header.
pub fn build_forward_req(env: &Envelope, content: &Content, fwd: &ForwardParams) -> Vec<u8> {
    let from = to_mm4_address(&env.originator, &fwd.sender_domain);
    let listed = |field| env.listed(field).map(|r| to_mm4_address(&r.address, fwd.domain_of(&r.address))).collect();
    let mut mail = Mail::new(&fwd.version, Mm4Kind::ForwardReq, &fwd.transaction_id)
        .raw("X-Mms-Message-ID", &env.message_id)
        .raw("X-Mms-Originator-System", &fwd.originator_system)
        .raw("X-Mms-Ack-Request", yes_no(fwd.ack_request))
        .raw("X-Mms-Delivery-Report", yes_no(env.delivery_report))
        .raw("X-Mms-Read-Reply", yes_no(env.read_report))
        .raw("X-Mms-Expiry", Date::new(env.expires_at).to_rfc822());
    if env.deliver_after > env.date {
        mail = mail.raw("X-Mms-Delivery-Time", Date::new(env.deliver_after).to_rfc822());
    }
    if let Some(p) = env.priority {
        mail = mail.raw("X-Mms-Priority", priority_name(p));
    }
    if let Some(c) = &env.class {
        mail = mail.raw("X-Mms-Message-Class", class_name(c));
    }
    if !env.sender_visible {
        mail = mail.raw("X-Mms-Sender-Visibility", "Hide");
    }
    let previous = env.forwarded_from.as_deref().map(|a| to_mm4_address(a, &fwd.sender_domain));
    let mut mail = mail
        .raw_opt("X-Mms-Previously-Sent-By", previous.as_deref())
        .raw_opt("X-Mms-Applic-ID", env.applic_id.as_deref())
        .raw_opt("X-Mms-Reply-Applic-ID", env.reply_applic_id.as_deref())
        .raw_opt("X-Mms-Aux-Applic-Info", env.aux_applic_info.as_deref())
        .raw_opt("X-Mms-Content-Class", env.content_class.as_deref())
        .raw_opt("X-Mms-Drm-Content", env.drm.then_some("Yes"))
        .raw_opt("X-Mms-Distribution-Indicator", env.no_distribution.then_some("No"))
        .address("From", vec![from.clone()])
        .address("To", listed(Field::To))
        .address("Cc", listed(Field::Cc))
        .address("Sender", vec![from]);
    if let Some(subject) = &env.subject {
        mail.builder = mail.builder.subject(Text::new(clean(subject)));
    }
    mail.finish(env.date, mail_id(&env.message_id, &fwd.sender_domain), Some(content::mime_part(content)))
}

/// A response: MM4_forward.RES, MM4_delivery_report.RES or MM4_read_reply_report.RES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub version: String,
    /// The Transaction-ID of the request, echoed.
    pub transaction_id: String,
    pub message_id: Option<String>,
    pub status: RequestStatus,
    pub status_text: Option<String>,
    /// The mail's From (and Sender) and To, as written: system addresses such as
    /// `system-user@mms.mnc001.mcc001.gprs`.
    pub from: String,
    pub to: String,
    pub date: i64,
}

/// A delivery report (MM4_delivery_report.REQ): the fate of one recipient's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub version: String,
    pub transaction_id: String,
    /// The Message-ID of the original message.
    pub message_id: String,
    /// The original recipient, the report's From, in MM4 address form (see [`to_mm4_address`];
    /// [`from_mm4_address`] makes it canonical).
    pub recipient: String,
    /// The original sender, the report's To, in MM4 address form.
    pub originator: String,
    pub date: i64,
    pub ack_request: bool,
    pub status: MmStatus,
    pub status_text: Option<String>,
}

/// A read-reply report (MM4_read_reply_report.REQ), addressed like a delivery report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReply {
    pub version: String,
    pub transaction_id: String,
    pub message_id: String,
    pub recipient: String,
    pub originator: String,
    pub date: i64,
    pub ack_request: bool,
    pub status: ReadStatus,
    pub status_text: Option<String>,
}

fn build_response(kind: Mm4Kind, res: &Response) -> Vec<u8> {
    Mail::new(&res.version, kind, &res.transaction_id)
        .raw_opt("X-Mms-Message-ID", res.message_id.as_deref())
        .raw("X-Mms-Request-Status-Code", res.status.name())
        .raw_opt("X-Mms-Status-Text", res.status_text.as_deref())
        .address("From", vec![res.from.clone()])
        .address("Sender", vec![res.from.clone()])
        .address("To", vec![res.to.clone()])
        .finish(res.date, mail_id(&format!("{}.res", res.transaction_id), domain_of(&res.from)), None)
}

/// Writes an MM4_forward.RES, the answer to a forward.REQ that asked for one.
pub fn build_forward_res(res: &Response) -> Vec<u8> {
    build_response(Mm4Kind::ForwardRes, res)
}

pub fn build_delivery_report_res(res: &Response) -> Vec<u8> {
    build_response(Mm4Kind::DeliveryReportRes, res)
}

pub fn build_read_reply_res(res: &Response) -> Vec<u8> {
    build_response(Mm4Kind::ReadReplyRes, res)
}

/// Writes an MM4_delivery_report.REQ: From the original recipient, To the original sender.
pub fn build_delivery_report_req(r: &DeliveryReport) -> Vec<u8> {
    Mail::new(&r.version, Mm4Kind::DeliveryReportReq, &r.transaction_id)
        .raw("X-Mms-Message-ID", &r.message_id)
        .raw("X-Mms-Ack-Request", yes_no(r.ack_request))
        .raw("X-Mms-MM-Status-Code", r.status.name())
        .raw_opt("X-Mms-Status-Text", r.status_text.as_deref())
        .address("From", vec![r.recipient.clone()])
        .address("To", vec![r.originator.clone()])
        .finish(r.date, mail_id(&r.transaction_id, domain_of(&r.recipient)), None)
}

/// Writes an MM4_read_reply_report.REQ, addressed like a delivery report.
pub fn build_read_reply_req(r: &ReadReply) -> Vec<u8> {
    Mail::new(&r.version, Mm4Kind::ReadReplyReq, &r.transaction_id)
        .raw("X-Mms-Message-ID", &r.message_id)
        .raw("X-Mms-Ack-Request", yes_no(r.ack_request))
        .raw("X-Mms-Read-Status", r.status.name())
        .raw_opt("X-Mms-Status-Text", r.status_text.as_deref())
        .address("From", vec![r.recipient.clone()])
        .address("To", vec![r.originator.clone()])
        .finish(r.date, mail_id(&r.transaction_id, domain_of(&r.recipient)), None)
}

/// The fields of an MM4_forward.REQ, addresses canonical and times in Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardReq {
    pub version: String,
    pub transaction_id: String,
    /// X-Mms-Message-ID, else the Message-ID header.
    pub message_id: String,
    /// From, canonical.
    pub originator: String,
    pub originator_system: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: Option<String>,
    pub class: Option<Class>,
    pub priority: Option<Priority>,
    /// Date, else `now`.
    pub date: i64,
    pub expires_at: Option<i64>,
    pub deliver_after: Option<i64>,
    pub delivery_report: bool,
    pub read_reply: bool,
    pub ack_request: bool,
    pub sender_visible: bool,
    pub forwarded_from: Option<String>,
    pub applic_id: Option<String>,
    pub reply_applic_id: Option<String>,
    pub aux_applic_info: Option<String>,
    /// X-Mms-Content-Class, lower-cased (`image-basic`).
    pub content_class: Option<String>,
    /// X-Mms-Drm-Content.
    pub drm: bool,
    /// X-Mms-Distribution-Indicator No: recipients may not pass it on.
    pub no_distribution: bool,
    pub content: Content,
}

/// A parsed MM4 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mm4Message {
    ForwardReq(Box<ForwardReq>),
    ForwardRes(Response),
    DeliveryReportReq(DeliveryReport),
    DeliveryReportRes(Response),
    ReadReplyReq(ReadReply),
    ReadReplyRes(Response),
}

impl Mm4Message {
    pub fn kind(&self) -> Mm4Kind {
        match self {
            Mm4Message::ForwardReq(_) => Mm4Kind::ForwardReq,
            Mm4Message::ForwardRes(_) => Mm4Kind::ForwardRes,
            Mm4Message::DeliveryReportReq(_) => Mm4Kind::DeliveryReportReq,
            Mm4Message::DeliveryReportRes(_) => Mm4Kind::DeliveryReportRes,
            Mm4Message::ReadReplyReq(_) => Mm4Kind::ReadReplyReq,
            Mm4Message::ReadReplyRes(_) => Mm4Kind::ReadReplyRes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("not a mail")]
    NotMail,
    #[error("header block over {MAX_HEADER_BYTES} octets")]
    HeaderTooLarge,
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("unknown X-Mms-Message-Type {0:?}")]
    UnknownType(String),
    #[error("bad {field}: {value:?}")]
    Invalid { field: &'static str, value: String },
    #[error("unsupported X-Mms-3GPP-MMS-Version {0:?}: 5.0.0 or later is needed")]
    Version(String),
    #[error("content: {0}")]
    Content(#[from] ContentError),
}

/// The parsed mail with its header values looked up by name.
struct Fields<'a> {
    message: Message<'a>,
}

impl Fields<'_> {
    /// A header's value, unfolded, case-insensitive by name; the first if repeated.
    fn text(&self, name: &str) -> Option<String> {
        let header = self.message.headers().iter().find(|h| h.name().eq_ignore_ascii_case(name))?;
        let value = match header.value() {
            HeaderValue::Text(t) => t.to_string(),
            HeaderValue::TextList(list) => list.join(", "),
            _ => return None,
        };
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        (!value.is_empty()).then_some(value)
    }

    fn required(&self, name: &'static str) -> Result<String, WireError> {
        self.text(name).ok_or(WireError::Missing(name))
    }

    /// An ID with its surrounding double quotes or angle brackets taken off.
    fn id(&self, name: &'static str) -> Option<String> {
        self.text(name).map(|v| strip_id(&v)).filter(|v| !v.is_empty())
    }

    fn flag(&self, name: &'static str) -> Result<bool, WireError> {
        match self.text(name) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("yes") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("no") => Ok(false),
            Some(value) => Err(WireError::Invalid { field: name, value }),
        }
    }

    /// The addresses of an address header, canonical.
    fn addresses(&self, name: &str) -> Vec<String> {
        let Some(header) = self.message.headers().iter().find(|h| h.name().eq_ignore_ascii_case(name)) else {
            return Vec::new();
        };
        match header.value() {
            HeaderValue::Address(a) => a.iter().filter_map(|addr| addr.address()).map(from_mm4_address).collect(),
            HeaderValue::Text(t) => t.split(',').map(from_mm4_address).filter(|a| !a.is_empty()).collect(),
            _ => Vec::new(),
        }
    }

    fn first_address(&self, name: &'static str) -> Result<String, WireError> {
        self.addresses(name).into_iter().next().ok_or(WireError::Missing(name))
    }

    /// A time as an absolute RFC 2822 date or as seconds from `now`.
    fn time(&self, name: &'static str, now: i64) -> Result<Option<i64>, WireError> {
        let Some(value) = self.text(name) else { return Ok(None) };
        if let Ok(seconds) = value.parse::<u32>() {
            return Ok(Some(now.saturating_add(i64::from(seconds))));
        }
        match DateTime::parse_rfc822(&value) {
            Some(date) if date.is_valid() => Ok(Some(date.to_timestamp())),
            _ => Err(WireError::Invalid { field: name, value }),
        }
    }

    fn date(&self, now: i64) -> i64 {
        self.message.date().filter(|d| d.is_valid()).map_or(now, DateTime::to_timestamp)
    }

    fn version(&self) -> Result<String, WireError> {
        let Some(version) = self.text("X-Mms-3GPP-MMS-Version") else { return Ok(DEFAULT_VERSION.into()) };
        let major = version.split('.').next().and_then(|m| m.trim().parse::<u32>().ok());
        match major {
            Some(m) if m >= 5 && version.split('.').all(|n| n.trim().parse::<u32>().is_ok()) => Ok(version),
            _ => Err(WireError::Version(version)),
        }
    }

    fn status_text(&self) -> Option<String> {
        self.text("X-Mms-Status-Text")
    }
}

fn strip_id(value: &str) -> String {
    let v = value.trim();
    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
    let v = v.strip_prefix('<').and_then(|v| v.strip_suffix('>')).unwrap_or(v);
    v.trim().to_owned()
}

fn parse_priority(value: &str) -> Option<Priority> {
    match value.to_ascii_lowercase().as_str() {
        "low" => Some(Priority::Low),
        "normal" => Some(Priority::Normal),
        "high" => Some(Priority::High),
        _ => None,
    }
}

/// Reads an MM4 mail: which kind it is and its fields. `now` (Unix seconds) resolves a relative
/// X-Mms-Expiry or Delivery-Time and stands in for a missing Date.
pub fn parse(mail: &[u8], now: i64) -> Result<Mm4Message, WireError> {
    let header_end =
        mail.windows(4).position(|w| w == b"\r\n\r\n").or_else(|| mail.windows(2).position(|w| w == b"\n\n"));
    if header_end.unwrap_or(mail.len()) > MAX_HEADER_BYTES {
        return Err(WireError::HeaderTooLarge);
    }
    let message = MessageParser::default().parse(mail).ok_or(WireError::NotMail)?;
    let f = Fields { message };
    let kind_name = f.required("X-Mms-Message-Type")?;
    let kind = Mm4Kind::parse(&kind_name).ok_or(WireError::UnknownType(kind_name))?;
    let version = f.version()?;
    let transaction_id = f.id("X-Mms-Transaction-ID").ok_or(WireError::Missing("X-Mms-Transaction-ID"))?;
    let message_id = f.id("X-Mms-Message-ID");
    let response = |f: &Fields<'_>| -> Result<Response, WireError> {
        let status = f.required("X-Mms-Request-Status-Code")?;
        Ok(Response {
            version: version.clone(),
            transaction_id: transaction_id.clone(),
            message_id: message_id.clone(),
            status: RequestStatus::parse(&status)
                .ok_or(WireError::Invalid { field: "X-Mms-Request-Status-Code", value: status })?,
            status_text: f.status_text(),
            from: raw_first_address(f, "From").or_else(|| raw_first_address(f, "Sender")).unwrap_or_default(),
            to: raw_first_address(f, "To").unwrap_or_default(),
            date: f.date(now),
        })
    };
    let report_id = || message_id.clone().ok_or(WireError::Missing("X-Mms-Message-ID"));
    Ok(match kind {
        Mm4Kind::ForwardRes => Mm4Message::ForwardRes(response(&f)?),
        Mm4Kind::DeliveryReportRes => Mm4Message::DeliveryReportRes(response(&f)?),
        Mm4Kind::ReadReplyRes => Mm4Message::ReadReplyRes(response(&f)?),
        Mm4Kind::DeliveryReportReq => {
            let status = f.required("X-Mms-MM-Status-Code")?;
            Mm4Message::DeliveryReportReq(DeliveryReport {
                message_id: report_id()?,
                recipient: raw_first_address(&f, "From").ok_or(WireError::Missing("From"))?,
                originator: raw_first_address(&f, "To").ok_or(WireError::Missing("To"))?,
                date: f.date(now),
                ack_request: f.flag("X-Mms-Ack-Request")?,
                status: MmStatus::parse(&status)
                    .ok_or(WireError::Invalid { field: "X-Mms-MM-Status-Code", value: status })?,
                status_text: f.status_text(),
                version,
                transaction_id,
            })
        }
        Mm4Kind::ReadReplyReq => {
            let status = f
                .text("X-Mms-Read-Status")
                .or_else(|| f.text("X-Mms-MM-Read-Status"))
                .ok_or(WireError::Missing("X-Mms-Read-Status"))?;
            Mm4Message::ReadReplyReq(ReadReply {
                message_id: report_id()?,
                recipient: raw_first_address(&f, "From").ok_or(WireError::Missing("From"))?,
                originator: raw_first_address(&f, "To").ok_or(WireError::Missing("To"))?,
                date: f.date(now),
                ack_request: f.flag("X-Mms-Ack-Request")?,
                status: ReadStatus::parse(&status)
                    .ok_or(WireError::Invalid { field: "X-Mms-Read-Status", value: status })?,
                status_text: f.status_text(),
                version,
                transaction_id,
            })
        }
        Mm4Kind::ForwardReq => {
            let message_id = message_id
                .or_else(|| f.message.message_id().map(strip_id))
                .ok_or(WireError::Missing("X-Mms-Message-ID"))?;
            let priority = match f.text("X-Mms-Priority") {
                Some(v) => Some(parse_priority(&v).ok_or(WireError::Invalid { field: "X-Mms-Priority", value: v })?),
                None => None,
            };
            let sender_visible = !f.text("X-Mms-Sender-Visibility").is_some_and(|v| v.eq_ignore_ascii_case("hide"));
            Mm4Message::ForwardReq(Box::new(ForwardReq {
                originator: f.first_address("From")?,
                originator_system: f.text("X-Mms-Originator-System"),
                to: f.addresses("To"),
                cc: f.addresses("Cc"),
                subject: f.message.subject().map(str::to_owned),
                class: f.text("X-Mms-Message-Class").map(|v| Class::from_token(&v)),
                priority,
                date: f.date(now),
                expires_at: f.time("X-Mms-Expiry", now)?,
                deliver_after: f.time("X-Mms-Delivery-Time", now)?,
                delivery_report: f.flag("X-Mms-Delivery-Report")?,
                read_reply: f.flag("X-Mms-Read-Reply")?,
                ack_request: f.flag("X-Mms-Ack-Request")?,
                sender_visible,
                forwarded_from: f.addresses("X-Mms-Previously-Sent-By").into_iter().next(),
                applic_id: f.text("X-Mms-Applic-ID"),
                reply_applic_id: f.text("X-Mms-Reply-Applic-ID"),
                aux_applic_info: f.text("X-Mms-Aux-Applic-Info"),
                content_class: f.text("X-Mms-Content-Class").map(|c| c.to_ascii_lowercase()),
                drm: f.flag("X-Mms-Drm-Content")?,
                no_distribution: f.text("X-Mms-Distribution-Indicator").is_some_and(|v| v.eq_ignore_ascii_case("no")),
                content: content::from_message(&f.message)?,
                version,
                transaction_id,
                message_id,
            }))
        }
    })
}

/// The first address of an address header as written (reports and responses keep the MM4 form).
fn raw_first_address(f: &Fields<'_>, name: &str) -> Option<String> {
    let header = f.message.headers().iter().find(|h| h.name().eq_ignore_ascii_case(name))?;
    match header.value() {
        HeaderValue::Address(a) => a.iter().find_map(|addr| addr.address()).map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::content::Part;
    use crate::core::envelope::{Destination, Origin, Recipient};

    const NOW: i64 = 1_780_000_000;
    const DOMAIN: &str = "mms.mnc001.mcc001.gprs";
    const PEER_DOMAIN: &str = "mms.mnc002.mcc001.gprs";

    fn recipient(address: &str, field: Field) -> Recipient {
        Recipient { address: address.into(), field, destination: Destination::Mm4 { peer: "peer".into() } }
    }

    fn envelope() -> Envelope {
        Envelope {
            message_id: "0123456789abcdef".into(),
            originator: "+15550100001".into(),
            recipients: vec![
                recipient("+15550200002", Field::To),
                recipient("bob@example.org", Field::To),
                recipient("+15550200003", Field::Cc),
                recipient("+15550200004", Field::Bcc),
            ],
            subject: Some("Grüße aus Zürich".into()),
            class: Some(Class::Informational),
            priority: Some(Priority::High),
            date: NOW,
            expires_at: NOW + 86_400,
            deliver_after: NOW + 60,
            delivery_report: true,
            read_report: true,
            sender_visible: false,
            content_type: "multipart/related".into(),
            forwarded_from: Some("+15550100009".into()),
            applic_id: Some("com.example.app".into()),
            reply_applic_id: None,
            aux_applic_info: None,
            content_class: Some("image-basic".into()),
            drm: true,
            no_distribution: true,
            origin: Origin::Mm1,
        }
    }

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe\r\n.\r\nend";

    fn content() -> Content {
        let mut image = Part::new("image/png", PNG).with_param("name", "cat.png");
        image.content_id = Some("image0".into());
        image.content_location = Some("cat.png".into());
        let text = Part::new("text/plain", "Hallo".as_bytes()).with_param("charset", "utf-8");
        content::with_smil(vec![text, image])
    }

    fn params() -> ForwardParams {
        let mut fwd = ForwardParams::new("tid-42", format!("system-user@{DOMAIN}"), DOMAIN);
        for n in ["+15550200002", "+15550200003", "+15550200004"] {
            fwd.recipient_domains.insert(n.into(), PEER_DOMAIN.into());
        }
        fwd
    }

    #[test]
    fn kinds_and_tokens_read_in_any_case() {
        assert_eq!(Mm4Kind::parse("MM4_Delivery_report.REQ"), Some(Mm4Kind::DeliveryReportReq));
        assert_eq!(Mm4Kind::parse("mm4_forward.req"), Some(Mm4Kind::ForwardReq));
        assert_eq!(Mm4Kind::ForwardReq.name(), "MM4_forward.REQ");
        assert_eq!(Mm4Kind::parse("MM4_forward"), None);
        assert_eq!(MmStatus::parse("Unrecognized"), Some(MmStatus::Unrecognised));
        assert_eq!(ReadStatus::parse("Deletedwithoutbeingread"), Some(ReadStatus::DeletedWithoutBeingRead));
        assert_eq!(RequestStatus::parse("error-network-problem"), Some(RequestStatus::ErrorNetworkProblem));
    }

    #[test]
    fn addresses_map_both_ways() {
        assert_eq!(to_mm4_address("+15550100001", DOMAIN), format!("+15550100001/TYPE=PLMN@{DOMAIN}"));
        assert_eq!(to_mm4_address("bob@example.org", DOMAIN), "bob@example.org");
        assert_eq!(from_mm4_address("+15550100001/TYPE=PLMN@mms.mnc001.mcc001.gprs"), "+15550100001");
        assert_eq!(from_mm4_address("15550100001/type=plmn@x.example"), "+15550100001");
        assert_eq!(from_mm4_address("<15550100001@mms.mnc006.mcc260.gprs>"), "+15550100001");
        assert_eq!(from_mm4_address("+15550100001@carrier.example"), "+15550100001");
        assert_eq!(from_mm4_address("12345@mms.mnc006.mcc260.gprs"), "12345");
        assert_eq!(from_mm4_address("12345@gmail.example"), "12345@gmail.example");
        assert_eq!(from_mm4_address("10.0.0.1/TYPE=IPv4@x.example"), "10.0.0.1");
    }

    #[test]
    fn a_forward_req_parses_back_to_every_field() {
        let env = envelope();
        let content = content();
        let mail = build_forward_req(&env, &content, &params());
        let text = String::from_utf8_lossy(&mail);
        assert!(!text.contains("15550200004"), "a Bcc recipient leaked into the headers:\n{text}");
        assert!(!text.contains("Grüße"), "the subject is not encoded:\n{text}");
        let Mm4Message::ForwardReq(req) = parse(&mail, NOW + 5).unwrap() else { panic!("kind") };
        assert_eq!(req.version, DEFAULT_VERSION);
        assert_eq!(req.transaction_id, "tid-42");
        assert_eq!(req.message_id, env.message_id);
        assert_eq!(req.originator, env.originator);
        assert_eq!(req.originator_system.as_deref(), Some("system-user@mms.mnc001.mcc001.gprs"));
        assert_eq!(req.to, ["+15550200002", "bob@example.org"]);
        assert_eq!(req.cc, ["+15550200003"]);
        assert_eq!(req.subject, env.subject);
        assert_eq!(req.class, env.class);
        assert_eq!(req.priority, env.priority);
        assert_eq!(req.date, env.date);
        assert_eq!(req.expires_at, Some(env.expires_at));
        assert_eq!(req.deliver_after, Some(env.deliver_after));
        assert!(req.delivery_report && req.read_reply && req.ack_request && !req.sender_visible);
        assert_eq!(req.forwarded_from, env.forwarded_from);
        assert_eq!(req.applic_id, env.applic_id);
        assert_eq!((req.content_class.as_deref(), req.drm), (Some("image-basic"), true));
        assert!(req.no_distribution, "X-Mms-Distribution-Indicator: No");
        assert_eq!(req.reply_applic_id, None);
        assert_eq!(req.content, content);
    }

    #[test]
    fn header_injection_is_neutralised() {
        let mut env = envelope();
        env.subject = Some("hi\r\nBcc: evil@example.org".into());
        env.message_id = "id\r\nX-Evil: 1".into();
        let mail = build_forward_req(&env, &content(), &params());
        let Mm4Message::ForwardReq(req) = parse(&mail, NOW).unwrap() else { panic!("kind") };
        assert!(req.subject.unwrap().contains("Bcc"));
        assert!(!String::from_utf8_lossy(&mail).contains("\nX-Evil"));
    }

    const QUIRKY: &str = concat!(
        "X-Mms-3GPP-MMS-Version: 5.5.0\r\n",
        "X-Mms-Message-Type: MM4_Forward.req\r\n",
        "X-Mms-Transaction-ID: \"48123@mms.playmobile.example\"\r\n",
        "X-Mms-Message-ID: \"48124@mms.playmobile.example\"\r\n",
        "X-Mms-Expiry: 600\r\n",
        "X-Mms-Ack-Request: Yes\r\n",
        "X-Mms-Delivery-Report: No\r\n",
        "X-Mms-Message-Class: Personal\r\n",
        "From: 48600100200@mms.mnc006.mcc260.gprs\r\n",
        "Sender: +48600100200/TYPE=PLMN@mms.mnc006.mcc260.gprs\r\n",
        "To: +15550200002/TYPE=PLMN@mms.mnc002.mcc001.gprs,\r\n",
        " carol@example.org\r\n",
        "Subject: =?utf-8?q?Cze=C5=9B=C4=87?=\r\n",
        "Date: Tue, 01 Dec 2026 10:00:00 +0100\r\n",
        "Message-ID: <48124@mms.playmobile.example>\r\n",
        "MIME-Version: 1.0\r\n",
        "Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
        "\r\n",
        "--b1\r\nContent-Type: text/plain; charset=iso-8859-2\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nCze=B6=E6\r\n",
        "--b1\r\nContent-Type: image/jpeg; name=\"p.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n",
        "--b1--\r\n",
    );

    #[test]
    fn a_quirky_forward_req_parses() {
        let Mm4Message::ForwardReq(req) = parse(QUIRKY.as_bytes(), NOW).unwrap() else { panic!("kind") };
        assert_eq!(req.version, "5.5.0");
        assert_eq!(req.transaction_id, "48123@mms.playmobile.example");
        assert_eq!(req.message_id, "48124@mms.playmobile.example");
        assert_eq!(req.expires_at, Some(NOW + 600));
        assert_eq!(req.originator, "+48600100200");
        assert_eq!(req.to, ["+15550200002", "carol@example.org"]);
        assert_eq!(req.subject.as_deref(), Some("Cześć"));
        assert_eq!(req.date, 1_796_115_600);
        assert_eq!(req.class, Some(Class::Personal));
        assert!(req.ack_request && !req.delivery_report && req.sender_visible);
        assert_eq!(req.content.parts[0].data, "Cześć".as_bytes());
        assert_eq!(req.content.parts[1].data, b"\xff\xd8\xff\xe0\x00\x10");
    }

    #[test]
    fn missing_or_unknown_types_and_bad_values_are_errors() {
        let no_type = QUIRKY.replace("X-Mms-Message-Type: MM4_Forward.req\r\n", "");
        assert_eq!(parse(no_type.as_bytes(), NOW), Err(WireError::Missing("X-Mms-Message-Type")));
        let unknown = QUIRKY.replace("MM4_Forward.req", "MM4_teleport.REQ");
        assert!(matches!(parse(unknown.as_bytes(), NOW), Err(WireError::UnknownType(t)) if t == "MM4_teleport.REQ"));
        let old = QUIRKY.replace("5.5.0", "4.0.0");
        assert!(matches!(parse(old.as_bytes(), NOW), Err(WireError::Version(_))));
        let newer = QUIRKY.replace("5.5.0", "6.14.0");
        assert!(parse(newer.as_bytes(), NOW).is_ok());
        let bad_expiry = QUIRKY.replace("X-Mms-Expiry: 600", "X-Mms-Expiry: soon");
        assert!(matches!(parse(bad_expiry.as_bytes(), NOW), Err(WireError::Invalid { field: "X-Mms-Expiry", .. })));
        let bare = "X-Mms-Message-Type: MM4_forward.REQ\r\nX-Mms-Transaction-ID: t\r\nX-Mms-Message-ID: m\r\n\
                    From: a@example.org\r\n\r\nhello\r\n";
        let Mm4Message::ForwardReq(req) = parse(bare.as_bytes(), NOW).unwrap() else { panic!("kind") };
        assert_eq!((req.date, req.expires_at, req.subject), (NOW, None, None));
    }

    #[test]
    fn hostile_mail_is_an_error_not_a_panic() {
        assert_eq!(parse(b"", NOW), Err(WireError::NotMail));
        assert!(parse(b"\0\xff\xfe garbage", NOW).is_err());
        let full = build_forward_req(&envelope(), &content(), &params());
        for cut in [10, 100, full.len() / 2, full.len() - 10] {
            let _ = parse(&full[..cut], NOW);
        }
        let huge = format!("X-Mms-Message-Type: MM4_forward.REQ\r\nX-Big: {}\r\n\r\n", "x".repeat(MAX_HEADER_BYTES));
        assert_eq!(parse(huge.as_bytes(), NOW), Err(WireError::HeaderTooLarge));
        let mut deep = String::from(QUIRKY.split("Content-Type: multipart").next().unwrap());
        for i in 0..100 {
            deep.push_str(&format!("Content-Type: multipart/mixed; boundary=\"d{i}\"\r\n\r\n--d{i}\r\n"));
        }
        assert_eq!(parse(deep.as_bytes(), NOW), Err(WireError::Content(ContentError::TooDeep)));
    }

    fn response(status: RequestStatus) -> Response {
        Response {
            version: DEFAULT_VERSION.into(),
            transaction_id: "tid-42".into(),
            message_id: Some("0123456789abcdef".into()),
            status,
            status_text: Some("all good".into()),
            from: format!("system-user@{PEER_DOMAIN}"),
            to: format!("system-user@{DOMAIN}"),
            date: NOW,
        }
    }

    #[test]
    fn responses_build_and_parse_back() {
        let res = response(RequestStatus::ErrorContentNotAccepted);
        assert_eq!(parse(&build_forward_res(&res), NOW), Ok(Mm4Message::ForwardRes(res.clone())));
        assert_eq!(parse(&build_delivery_report_res(&res), NOW), Ok(Mm4Message::DeliveryReportRes(res.clone())));
        let ok = Response { status: RequestStatus::Ok, status_text: None, message_id: None, ..res };
        assert_eq!(parse(&build_read_reply_res(&ok), NOW), Ok(Mm4Message::ReadReplyRes(ok)));
    }

    #[test]
    fn reports_build_and_parse_back() {
        let report = DeliveryReport {
            version: DEFAULT_VERSION.into(),
            transaction_id: "tid-43".into(),
            message_id: "0123456789abcdef".into(),
            recipient: to_mm4_address("+15550200002", PEER_DOMAIN),
            originator: to_mm4_address("+15550100001", DOMAIN),
            date: NOW,
            ack_request: true,
            status: MmStatus::Retrieved,
            status_text: None,
        };
        let mail = build_delivery_report_req(&report);
        assert!(String::from_utf8_lossy(&mail).contains("From: <+15550200002/TYPE=PLMN@mms.mnc002.mcc001.gprs>"));
        assert_eq!(parse(&mail, NOW), Ok(Mm4Message::DeliveryReportReq(report.clone())));
        let read = ReadReply {
            version: report.version.clone(),
            transaction_id: "tid-44".into(),
            message_id: report.message_id.clone(),
            recipient: report.recipient.clone(),
            originator: report.originator.clone(),
            date: NOW,
            ack_request: false,
            status: ReadStatus::DeletedWithoutBeingRead,
            status_text: Some("gone".into()),
        };
        let mail = build_read_reply_req(&read);
        assert!(String::from_utf8_lossy(&mail).contains("X-Mms-Read-Status: Deleted without being read"));
        assert_eq!(parse(&mail, NOW), Ok(Mm4Message::ReadReplyReq(read.clone())));
        let other_name = String::from_utf8_lossy(&mail)
            .replace("X-Mms-Read-Status: Deleted without being read", "X-Mms-MM-Read-Status: Read");
        let Mm4Message::ReadReplyReq(back) = parse(other_name.as_bytes(), NOW).unwrap() else { panic!("kind") };
        assert_eq!(back.status, ReadStatus::Read);
        let american =
            String::from_utf8_lossy(&build_delivery_report_req(&report)).replace("Retrieved", "Unrecognized");
        let Mm4Message::DeliveryReportReq(back) = parse(american.as_bytes(), NOW).unwrap() else { panic!("kind") };
        assert_eq!(back.status, MmStatus::Unrecognised);
    }

    /// Python's `email` package, an independent parser, reads the forward.REQ's MM4 headers and
    /// the image's bytes.
    #[test]
    fn an_independent_parser_reads_the_forward_req() {
        use sha2::Digest;
        let runs = std::process::Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
        if !runs {
            eprintln!("PEER MISSING: python3");
            return;
        }
        let mail = build_forward_req(&envelope(), &content(), &params());
        let path = std::env::temp_dir().join(format!("tern-mm4-forward-{}.eml", std::process::id()));
        std::fs::write(&path, &mail).unwrap();
        let script = r#"
import sys, email, email.policy, hashlib
msg = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
for name in ['X-Mms-Message-Type', 'X-Mms-Transaction-ID', 'X-Mms-Message-ID', 'X-Mms-3GPP-MMS-Version', 'To', 'Cc', 'Subject']:
    print(name + '=' + str(msg[name]))
print('Bcc=' + str(msg['Bcc']))
print('type=' + msg.get_content_type() + ' start=' + str(msg.get_param('start')))
for part in msg.walk():
    if part.get_content_type() == 'image/png':
        print('png=' + hashlib.sha256(part.get_payload(decode=True)).hexdigest())
"#;
        let out = std::process::Command::new("python3").arg("-c").arg(script).arg(&path).output().unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = String::from_utf8(out.stdout).unwrap();
        let png = hex::encode(sha2::Sha256::digest(PNG));
        for line in [
            "X-Mms-Message-Type=MM4_forward.REQ".to_owned(),
            "X-Mms-Transaction-ID=tid-42".into(),
            "X-Mms-Message-ID=0123456789abcdef".into(),
            "X-Mms-3GPP-MMS-Version=6.10.0".into(),
            "Subject=Grüße aus Zürich".into(),
            "Cc=+15550200003/TYPE=PLMN@mms.mnc002.mcc001.gprs".into(),
            "Bcc=None".into(),
            "type=multipart/related start=<smil>".into(),
            format!("png={png}"),
        ] {
            assert!(out.lines().any(|l| l == line), "{line:?} not in:\n{out}");
        }
    }
}
