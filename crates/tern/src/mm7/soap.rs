//! The MM7 SOAP messages (3GPP TS 23.140 §7, SOAP 1.1 with attachments) as typed values, both
//! ways, without I/O: read with quick-xml's namespace-resolving reader, written with its writer.
//!
//! Reading is lenient in what deployed VASPs vary: any prefix or a default namespace, every
//! REL-5 and REL-6 MM7 schema namespace, any MM7Version, elements in any order, unknown elements
//! skipped, optional elements missing, a SOAP Fault with or without its detail. What cannot be
//! read is a typed [`SoapError`], never a panic: the envelope is bounded in size, depth and
//! element count before anything is built from it.
//!
//! Writing answers in the namespace and MM7Version the peer used ([`Request::answer`]), since no
//! table ties the two together and peers check the namespace they sent.
//!
//! Over HTTP the envelope comes alone (`text/xml`) or as the start part of a `multipart/related`
//! whose other parts are the message content a `Content href="cid:..."` points at;
//! [`parse_http`] takes both, and the body shapes peers send when they mean the other one.

use std::io;

use mail_parser::{DateTime, MessageParser, MimeHeaders};
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, Writer};

use crate::content::{self, Content, ContentError};

/// The SOAP 1.1 envelope namespace.
pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// An envelope larger than this is refused: MM7 envelopes are a few kilobytes, the content
/// travels as attachments.
pub const MAX_ENVELOPE_BYTES: usize = 1024 * 1024;

/// An HTTP body larger than this is refused before it is parsed.
pub const MAX_HTTP_BYTES: usize = 32 * 1024 * 1024;

/// Elements nested deeper than this are refused; an MM7 envelope is six levels deep.
pub const MAX_DEPTH: usize = 32;

/// More elements than this in one envelope are refused.
pub const MAX_ELEMENTS: usize = 8192;

const SCHEMA_BASE: &str = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/";

/// The MM7 schema namespaces deployed peers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mm7Namespace {
    Rel5Mm7_1_0,
    Rel5Mm7_1_1,
    Rel5Mm7_1_2,
    Rel5Mm7_1_3,
    Rel6Mm7_1_0,
    Rel6Mm7_1_1,
    Rel6Mm7_1_2,
    Rel6Mm7_1_3,
    Rel6Mm7_1_4,
}

const NAMESPACES: [(Mm7Namespace, &str); 9] = [
    (Mm7Namespace::Rel5Mm7_1_0, "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"),
    (Mm7Namespace::Rel5Mm7_1_1, "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-1"),
    (Mm7Namespace::Rel5Mm7_1_2, "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-2"),
    (Mm7Namespace::Rel5Mm7_1_3, "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-3"),
    (Mm7Namespace::Rel6Mm7_1_0, "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-0"),
    (Mm7Namespace::Rel6Mm7_1_1, "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-1"),
    (Mm7Namespace::Rel6Mm7_1_2, "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-2"),
    (Mm7Namespace::Rel6Mm7_1_3, "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-3"),
    (Mm7Namespace::Rel6Mm7_1_4, "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"),
];

impl Mm7Namespace {
    /// Every namespace, oldest first.
    pub const ALL: [Mm7Namespace; 9] = [
        Mm7Namespace::Rel5Mm7_1_0,
        Mm7Namespace::Rel5Mm7_1_1,
        Mm7Namespace::Rel5Mm7_1_2,
        Mm7Namespace::Rel5Mm7_1_3,
        Mm7Namespace::Rel6Mm7_1_0,
        Mm7Namespace::Rel6Mm7_1_1,
        Mm7Namespace::Rel6Mm7_1_2,
        Mm7Namespace::Rel6Mm7_1_3,
        Mm7Namespace::Rel6Mm7_1_4,
    ];

    pub fn uri(self) -> &'static str {
        NAMESPACES.iter().find(|(n, _)| *n == self).map_or(SCHEMA_BASE, |(_, u)| u)
    }

    /// Reads a namespace URI; a trailing slash, which some peers add, is ignored.
    pub fn parse(uri: &str) -> Option<Mm7Namespace> {
        let uri = uri.trim().trim_end_matches('/');
        NAMESPACES.iter().find(|(_, u)| *u == uri).map(|(n, _)| *n)
    }
}

/// The class of a status code: its thousands digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    Success,
    Client,
    Server,
    Service,
    /// An operator's private code outside the four classes.
    Other,
}

/// An MM7 StatusCode: the TS 23.140 codes, or any other number a peer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusCode(pub u16);

const STATUS_TEXTS: [(u16, &str); 26] = [
    (1000, "Success"),
    (1100, "Partial success"),
    (2000, "Client error"),
    (2001, "Operation restricted"),
    (2002, "Address Error"),
    (2003, "Address Not Found"),
    (2004, "Multimedia content refused"),
    (2005, "Message ID Not found"),
    (2006, "LinkedID not found"),
    (2007, "Message format corrupt"),
    (2008, "Application ID not found"),
    (2009, "Reply Application ID not found"),
    (3000, "Server Error"),
    (3001, "Not Possible"),
    (3002, "Message rejected"),
    (3003, "Multiple addresses not supported"),
    (3004, "Application Addressing not supported"),
    (4000, "General service error"),
    (4001, "Improper identification"),
    (4002, "Unsupported version"),
    (4003, "Unsupported operation"),
    (4004, "Validation error"),
    (4005, "Service error"),
    (4006, "Service unavailable"),
    (4007, "Service denied"),
    (4008, "Application denied"),
];

impl StatusCode {
    pub const SUCCESS: StatusCode = StatusCode(1000);
    pub const PARTIAL_SUCCESS: StatusCode = StatusCode(1100);
    pub const CLIENT_ERROR: StatusCode = StatusCode(2000);
    pub const OPERATION_RESTRICTED: StatusCode = StatusCode(2001);
    pub const ADDRESS_ERROR: StatusCode = StatusCode(2002);
    pub const ADDRESS_NOT_FOUND: StatusCode = StatusCode(2003);
    pub const CONTENT_REFUSED: StatusCode = StatusCode(2004);
    pub const MESSAGE_ID_NOT_FOUND: StatusCode = StatusCode(2005);
    pub const LINKED_ID_NOT_FOUND: StatusCode = StatusCode(2006);
    pub const MESSAGE_FORMAT_CORRUPT: StatusCode = StatusCode(2007);
    pub const APPLICATION_ID_NOT_FOUND: StatusCode = StatusCode(2008);
    pub const REPLY_APPLICATION_ID_NOT_FOUND: StatusCode = StatusCode(2009);
    pub const SERVER_ERROR: StatusCode = StatusCode(3000);
    pub const NOT_POSSIBLE: StatusCode = StatusCode(3001);
    pub const MESSAGE_REJECTED: StatusCode = StatusCode(3002);
    pub const MULTIPLE_ADDRESSES_NOT_SUPPORTED: StatusCode = StatusCode(3003);
    pub const APPLICATION_ADDRESSING_NOT_SUPPORTED: StatusCode = StatusCode(3004);
    pub const GENERAL_SERVICE_ERROR: StatusCode = StatusCode(4000);
    pub const IMPROPER_IDENTIFICATION: StatusCode = StatusCode(4001);
    pub const UNSUPPORTED_VERSION: StatusCode = StatusCode(4002);
    pub const UNSUPPORTED_OPERATION: StatusCode = StatusCode(4003);
    pub const VALIDATION_ERROR: StatusCode = StatusCode(4004);
    pub const SERVICE_ERROR: StatusCode = StatusCode(4005);
    pub const SERVICE_UNAVAILABLE: StatusCode = StatusCode(4006);
    pub const SERVICE_DENIED: StatusCode = StatusCode(4007);
    pub const APPLICATION_DENIED: StatusCode = StatusCode(4008);

    /// The TS 23.140 text of a known code.
    pub fn text(self) -> Option<&'static str> {
        STATUS_TEXTS.iter().find(|(c, _)| *c == self.0).map(|(_, t)| *t)
    }

    pub fn is_known(self) -> bool {
        self.text().is_some()
    }

    pub fn class(self) -> StatusClass {
        match self.0 / 1000 {
            1 => StatusClass::Success,
            2 => StatusClass::Client,
            3 => StatusClass::Server,
            4 => StatusClass::Service,
            _ => StatusClass::Other,
        }
    }
}

/// A Status element: the code, its text and any details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: StatusCode,
    pub text: Option<String>,
    pub details: Option<String>,
}

impl Status {
    /// A status with the code's own text.
    pub fn new(code: StatusCode) -> Self {
        Status { code, text: code.text().map(str::to_owned), details: None }
    }
}

/// An MM7 address, in the element that names its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Number(String),
    Rfc2822(String),
    ShortCode(String),
}

impl Address {
    fn element(&self) -> (&'static str, &str) {
        match self {
            Address::Number(a) => ("Number", a),
            Address::Rfc2822(a) => ("RFC2822Address", a),
            Address::ShortCode(a) => ("ShortCode", a),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecipientField {
    To,
    Cc,
    Bcc,
}

impl RecipientField {
    fn name(self) -> &'static str {
        match self {
            RecipientField::To => "To",
            RecipientField::Cc => "Cc",
            RecipientField::Bcc => "Bcc",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub field: RecipientField,
    pub address: Address,
    /// `displayOnly="true"`: shown in the header, not delivered to.
    pub display_only: bool,
}

/// SenderIdentification of a request from a VASP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderIdentification {
    pub vasp_id: Option<String>,
    pub vas_id: Option<String>,
    pub address: Option<Address>,
}

/// A `Content` element: where the message content is among the attachments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentRef {
    /// The href as sent (`cid:...`).
    pub href: String,
    pub allow_adaptations: Option<bool>,
}

impl ContentRef {
    /// The Content-ID the href names, without `cid:` and angle brackets.
    pub fn content_id(&self) -> &str {
        let href = self.href.trim();
        let id = href.get(..4).filter(|p| p.eq_ignore_ascii_case("cid:")).map_or(href, |_| &href[4..]);
        id.trim_start_matches('<').trim_end_matches('>')
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyCharging {
    pub size: Option<u64>,
    /// Unix seconds.
    pub deadline: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    High,
    Normal,
    Low,
}

impl Priority {
    fn name(self) -> &'static str {
        match self {
            Priority::High => "High",
            Priority::Normal => "Normal",
            Priority::Low => "Low",
        }
    }

    fn parse(value: &str) -> Option<Priority> {
        [Priority::High, Priority::Normal, Priority::Low].into_iter().find(|p| p.name().eq_ignore_ascii_case(value))
    }
}

/// A SubmitReq; times are Unix seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitReq {
    pub sender: SenderIdentification,
    pub recipients: Vec<Recipient>,
    pub service_code: Option<String>,
    pub linked_id: Option<String>,
    pub message_class: Option<String>,
    pub time_stamp: Option<i64>,
    pub reply_charging: Option<ReplyCharging>,
    pub earliest_delivery: Option<i64>,
    pub expiry: Option<i64>,
    pub delivery_report: Option<bool>,
    pub read_reply: Option<bool>,
    pub priority: Option<Priority>,
    pub subject: Option<String>,
    pub charged_party: Option<String>,
    pub distribution_indicator: Option<bool>,
    pub applic_id: Option<String>,
    pub reply_applic_id: Option<String>,
    pub aux_applic_info: Option<String>,
    pub content_class: Option<String>,
    pub drm_content: Option<bool>,
    pub content: Option<ContentRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelReq {
    pub sender: SenderIdentification,
    pub message_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaceReq {
    pub sender: SenderIdentification,
    pub message_id: String,
    pub service_code: Option<String>,
    pub time_stamp: Option<i64>,
    pub earliest_delivery: Option<i64>,
    pub content: Option<ContentRef>,
}

/// A SOAP Fault as VASPs send it: the code and string, and the status of an error response
/// in its detail when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: String,
    pub string: String,
    pub status: Option<Status>,
}

/// The operation in the SOAP Body of a message to the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Submit(SubmitReq),
    Cancel(CancelReq),
    Replace(ReplaceReq),
    DeliverRsp(Status),
    DeliveryReportRsp(Status),
    ReadReplyRsp(Status),
    VaspError(Status),
    Fault(Fault),
}

/// A message read from a VASP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The MM7 namespace of the operation (or of the TransactionID of a Fault); `None` for a
    /// Fault without any MM7 element.
    pub namespace: Option<Mm7Namespace>,
    pub transaction_id: Option<String>,
    pub version: Option<String>,
    pub body: Body,
}

/// The MM7Version written when the peer sent none.
pub const DEFAULT_VERSION: &str = "6.8.0";

impl Request {
    /// What an answer to this request is written in: its namespace and version (REL-6-MM7-1-4
    /// and [`DEFAULT_VERSION`] when it had none) and its TransactionID.
    pub fn answer(&self) -> Mm7Header {
        Mm7Header {
            namespace: self.namespace.unwrap_or(Mm7Namespace::Rel6Mm7_1_4),
            version: self.version.clone().unwrap_or_else(|| DEFAULT_VERSION.to_owned()),
            transaction_id: self.transaction_id.clone().unwrap_or_default(),
        }
    }

    /// The Content reference of a SubmitReq or ReplaceReq.
    pub fn content_ref(&self) -> Option<&ContentRef> {
        match &self.body {
            Body::Submit(s) => s.content.as_ref(),
            Body::Replace(r) => r.content.as_ref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("not a SOAP envelope")]
    NotSoap,
    #[error("unknown MM7 namespace {0:?}")]
    UnknownNamespace(String),
    #[error("unknown MM7 operation {0:?}")]
    UnknownOperation(String),
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("invalid {field}: {value:?}")]
    Invalid { field: &'static str, value: String },
    #[error("too large")]
    TooLarge,
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    #[error("HTTP body: {0}")]
    Mime(&'static str),
    #[error("content {0:?} is not among the attachments")]
    MissingContent(String),
    #[error("content: {0}")]
    Content(#[from] ContentError),
}

/// One element as read: resolved namespace, local name, attributes by local name, its own
/// text and its children. The typed values are picked out of this tree, which is what makes
/// element order free and unknown elements harmless.
#[derive(Debug, Default)]
struct Node {
    ns: Option<String>,
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.trim().to_owned()).filter(|t| !t.is_empty())
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim())
    }

    /// The text of this element and all it contains, for a free-form element like Details.
    fn all_text(&self) -> String {
        let mut out = self.text.trim().to_owned();
        for c in &self.children {
            let t = c.all_text();
            if !t.is_empty() {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&t);
            }
        }
        out
    }
}

fn malformed(e: impl std::fmt::Display) -> SoapError {
    SoapError::Malformed(e.to_string())
}

fn namespace_of(resolved: &ResolveResult<'_>) -> Result<Option<String>, SoapError> {
    match resolved {
        ResolveResult::Bound(ns) => Ok(Some(ns.as_ref().to_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(prefix) => Err(SoapError::Malformed(format!("undeclared prefix {prefix:?}"))),
    }
}

fn node(reader: &NsReader<&[u8]>, start: &quick_xml::events::BytesStart<'_>) -> Result<Node, SoapError> {
    let (resolved, _) = reader.resolver().resolve_element(start.name());
    let mut n = Node { ns: namespace_of(&resolved)?, name: start.local_name().as_ref().to_owned(), ..Node::default() };
    for attr in start.attributes() {
        let attr = attr.map_err(malformed)?;
        let (_, local) = reader.resolver().resolve_attribute(attr.key);
        let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(malformed)?;
        n.attrs.push((local.as_ref().to_owned(), value.into_owned()));
    }
    Ok(n)
}

/// Reads the whole document into a tree, within the limits.
fn read_tree(xml: &[u8]) -> Result<Node, SoapError> {
    if xml.len() > MAX_ENVELOPE_BYTES {
        return Err(SoapError::TooLarge);
    }
    let xml = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
    let text = std::str::from_utf8(xml).map_err(malformed)?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    let mut count = 0usize;
    loop {
        let event = reader.read_event().map_err(malformed)?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root.is_some() {
                    return Err(malformed("content after the root element"));
                }
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(SoapError::TooManyElements);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(SoapError::TooDeep);
                }
                let n = node(&reader, start)?;
                if matches!(event, Event::Start(_)) {
                    stack.push(n);
                } else if let Some(parent) = stack.last_mut() {
                    parent.children.push(n);
                } else {
                    root = Some(n);
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(|| malformed("unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().map_err(malformed)?
                } else {
                    quick_xml::escape::resolve_predefined_entity(&r.xml10_content()).and_then(|s| s.chars().next())
                };
                let c = resolved.ok_or_else(|| malformed(format!("unknown entity {:?}", r.xml10_content())))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push(c);
                }
            }
            // SOAP 1.1 forbids a document type declaration, and refusing it keeps entity
            // definitions out entirely.
            Event::DocType(_) => return Err(malformed("DOCTYPE in a SOAP message")),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(malformed("unclosed element"));
    }
    root.ok_or_else(|| malformed("no root element"))
}

fn is_env(n: &Node, name: &str) -> bool {
    n.name == name && n.ns.as_deref() == Some(SOAP_ENV)
}

/// A flag as the schema's boolean, in any case.
fn flag(n: &Node, field: &'static str) -> Result<Option<bool>, SoapError> {
    let Some(value) = n.text_of(field) else { return Ok(None) };
    parse_bool(&value).map(Some).ok_or(SoapError::Invalid { field, value })
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// An ISO 8601 date-time, or a relative `P...` duration from `now`, as Unix seconds.
fn parse_time(value: &str, now: i64) -> Option<i64> {
    let value = value.trim();
    if value.starts_with('P') || value.starts_with("-P") {
        return parse_duration(value).map(|d| now.saturating_add(d));
    }
    DateTime::parse_rfc3339(value).filter(DateTime::is_valid).map(|d| d.to_timestamp())
}

/// An xs:duration in seconds, months as 30 days and years as 365: what a relative expiry
/// means to the relay.
fn parse_duration(value: &str) -> Option<i64> {
    let (sign, rest) = value.strip_prefix('-').map_or((1, value), |r| (-1, r));
    let rest = rest.strip_prefix('P')?;
    let mut total: i64 = 0;
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'T' if !in_time && number.is_empty() => in_time = true,
            _ => {
                let unit: i64 = match (c, in_time) {
                    ('Y', false) => 365 * 86_400,
                    ('M', false) => 30 * 86_400,
                    ('W', false) => 7 * 86_400,
                    ('D', false) => 86_400,
                    ('H', true) => 3600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
                let whole = number.split('.').next().unwrap_or("");
                let n: i64 = whole.parse().ok()?;
                total = total.checked_add(n.checked_mul(unit)?)?;
                number.clear();
                any = true;
            }
        }
    }
    (any && number.is_empty()).then_some(sign * total)
}

fn time(n: &Node, field: &'static str, now: i64) -> Result<Option<i64>, SoapError> {
    let Some(value) = n.text_of(field) else { return Ok(None) };
    parse_time(&value, now).map(Some).ok_or(SoapError::Invalid { field, value })
}

fn address_in(n: &Node) -> Option<Address> {
    n.children.iter().find_map(|c| {
        let text = c.text.trim().to_owned();
        match c.name.as_str() {
            "Number" => Some(Address::Number(text)),
            "RFC2822Address" => Some(Address::Rfc2822(text)),
            "ShortCode" => Some(Address::ShortCode(text)),
            _ => None,
        }
    })
}

fn sender_identification(op: &Node) -> SenderIdentification {
    let Some(si) = op.child("SenderIdentification") else { return SenderIdentification::default() };
    SenderIdentification {
        vasp_id: si.text_of("VASPID"),
        vas_id: si.text_of("VASID"),
        address: si.child("SenderAddress").and_then(address_in),
    }
}

fn recipients(op: &Node) -> Vec<Recipient> {
    let Some(list) = op.child("Recipients") else { return Vec::new() };
    let mut out = Vec::new();
    for group in &list.children {
        let field = match group.name.as_str() {
            "To" => RecipientField::To,
            "Cc" => RecipientField::Cc,
            "Bcc" => RecipientField::Bcc,
            _ => continue,
        };
        for a in &group.children {
            let text = a.text.trim().to_owned();
            let address = match a.name.as_str() {
                "Number" => Address::Number(text),
                "RFC2822Address" => Address::Rfc2822(text),
                "ShortCode" => Address::ShortCode(text),
                _ => continue,
            };
            let display_only = a.attr("displayOnly").and_then(parse_bool).unwrap_or(false);
            out.push(Recipient { field, address, display_only });
        }
    }
    out
}

fn content_ref(op: &Node) -> Result<Option<ContentRef>, SoapError> {
    let Some(c) = op.child("Content") else { return Ok(None) };
    let href = c.attr("href").ok_or(SoapError::Missing("Content href"))?.to_owned();
    let allow_adaptations = match c.attr("allowAdaptations") {
        Some(v) => Some(parse_bool(v).ok_or(SoapError::Invalid { field: "allowAdaptations", value: v.to_owned() })?),
        None => None,
    };
    Ok(Some(ContentRef { href, allow_adaptations }))
}

fn status(n: &Node) -> Result<Status, SoapError> {
    let value = n.text_of("StatusCode").ok_or(SoapError::Missing("StatusCode"))?;
    let code = value.parse::<u16>().map_err(|_| SoapError::Invalid { field: "StatusCode", value })?;
    Ok(Status {
        code: StatusCode(code),
        text: n.text_of("StatusText"),
        details: n.child("Details").map(Node::all_text),
    })
}

fn op_status(op: &Node) -> Result<Status, SoapError> {
    status(op.child("Status").ok_or(SoapError::Missing("Status"))?)
}

fn submit(op: &Node, now: i64) -> Result<SubmitReq, SoapError> {
    let reply_charging = match op.child("ReplyCharging") {
        Some(rc) => {
            let size = match rc.attr("replyChargingSize") {
                Some(v) => {
                    Some(v.parse().map_err(|_| SoapError::Invalid { field: "replyChargingSize", value: v.into() })?)
                }
                None => None,
            };
            let deadline = match rc.attr("replyDeadline") {
                Some(v) => {
                    Some(parse_time(v, now).ok_or(SoapError::Invalid { field: "replyDeadline", value: v.into() })?)
                }
                None => None,
            };
            Some(ReplyCharging { size, deadline })
        }
        None => None,
    };
    let priority = match op.text_of("Priority") {
        Some(v) => Some(Priority::parse(&v).ok_or(SoapError::Invalid { field: "Priority", value: v })?),
        None => None,
    };
    Ok(SubmitReq {
        sender: sender_identification(op),
        recipients: recipients(op),
        service_code: op.text_of("ServiceCode"),
        linked_id: op.text_of("LinkedID"),
        message_class: op.text_of("MessageClass"),
        time_stamp: time(op, "TimeStamp", now)?,
        reply_charging,
        earliest_delivery: time(op, "EarliestDeliveryTime", now)?,
        expiry: time(op, "ExpiryDate", now)?,
        delivery_report: flag(op, "DeliveryReport")?,
        read_reply: flag(op, "ReadReply")?,
        priority,
        subject: op.text_of("Subject"),
        charged_party: op.text_of("ChargedParty"),
        distribution_indicator: flag(op, "DistributionIndicator")?,
        applic_id: op.text_of("ApplicID"),
        reply_applic_id: op.text_of("ReplyApplicID"),
        aux_applic_info: op.text_of("AuxApplicInfo"),
        content_class: op.text_of("ContentClass"),
        drm_content: flag(op, "DRMContent")?,
        content: content_ref(op)?,
    })
}

fn message_id(op: &Node) -> Result<String, SoapError> {
    op.text_of("MessageID").ok_or(SoapError::Missing("MessageID"))
}

/// A Fault in whatever shape a VASP sends: the status may be in an error response in the
/// detail, directly in the detail, or absent.
fn fault(f: &Node) -> Result<Fault, SoapError> {
    let status = status_holder(f).map(status).transpose()?;
    Ok(Fault {
        code: f.text_of("faultcode").unwrap_or_default(),
        string: f.text_of("faultstring").unwrap_or_default(),
        status,
    })
}

/// The element at or under `n` whose child is a StatusCode.
fn status_holder(n: &Node) -> Option<&Node> {
    if n.child("StatusCode").is_some() {
        return Some(n);
    }
    n.children.iter().find_map(status_holder)
}

/// Reads an MM7 SOAP envelope from a VASP; relative times are resolved against `now` (Unix
/// seconds).
pub fn parse_request(xml: &[u8], now: i64) -> Result<Request, SoapError> {
    let root = read_tree(xml)?;
    if !is_env(&root, "Envelope") {
        return Err(SoapError::NotSoap);
    }
    let header = root.children.iter().find(|c| is_env(c, "Header"));
    let tid = header.and_then(|h| h.child("TransactionID"));
    let transaction_id = tid.map(|t| t.text.trim().to_owned());
    let body = root.children.iter().find(|c| is_env(c, "Body")).ok_or(SoapError::NotSoap)?;
    let op = body.children.first().ok_or(SoapError::Missing("operation"))?;
    if is_env(op, "Fault") {
        let namespace = tid.and_then(|t| t.ns.as_deref()).and_then(Mm7Namespace::parse);
        return Ok(Request { namespace, transaction_id, version: None, body: Body::Fault(fault(op)?) });
    }
    // An operation without a namespace is read in its TransactionID's, which is how peers that
    // forget the one on the body still say which schema they mean.
    let uri = op.ns.as_deref().or_else(|| tid.and_then(|t| t.ns.as_deref())).unwrap_or("");
    let namespace = Mm7Namespace::parse(uri).ok_or_else(|| SoapError::UnknownNamespace(uri.to_owned()))?;
    let body = match op.name.as_str() {
        "SubmitReq" => Body::Submit(submit(op, now)?),
        "CancelReq" => Body::Cancel(CancelReq { sender: sender_identification(op), message_id: message_id(op)? }),
        "ReplaceReq" => Body::Replace(ReplaceReq {
            sender: sender_identification(op),
            message_id: message_id(op)?,
            service_code: op.text_of("ServiceCode"),
            time_stamp: time(op, "TimeStamp", now)?,
            earliest_delivery: time(op, "EarliestDeliveryTime", now)?,
            content: content_ref(op)?,
        }),
        "DeliverRsp" => Body::DeliverRsp(op_status(op)?),
        "DeliveryReportRsp" => Body::DeliveryReportRsp(op_status(op)?),
        "ReadReplyRsp" => Body::ReadReplyRsp(op_status(op)?),
        "VASPErrorRsp" => Body::VaspError(op_status(op)?),
        other => return Err(SoapError::UnknownOperation(other.to_owned())),
    };
    Ok(Request { namespace: Some(namespace), transaction_id, version: op.text_of("MM7Version"), body })
}

/// What every message the relay writes carries: the namespace and MM7Version it is written in
/// and the TransactionID header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mm7Header {
    pub namespace: Mm7Namespace,
    pub version: String,
    pub transaction_id: String,
}

/// MMStatus of a delivery report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MmStatus {
    Expired,
    Retrieved,
    Rejected,
    Deferred,
    Indeterminate,
    Forwarded,
    Unrecognised,
}

impl MmStatus {
    pub fn name(self) -> &'static str {
        match self {
            MmStatus::Expired => "Expired",
            MmStatus::Retrieved => "Retrieved",
            MmStatus::Rejected => "Rejected",
            MmStatus::Deferred => "Deferred",
            MmStatus::Indeterminate => "Indeterminate",
            MmStatus::Forwarded => "Forwarded",
            MmStatus::Unrecognised => "Unrecognised",
        }
    }
}

/// MMStatus of a read-reply report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadStatus {
    Read,
    Deleted,
}

impl ReadStatus {
    pub fn name(self) -> &'static str {
        match self {
            ReadStatus::Read => "Read",
            ReadStatus::Deleted => "Deleted",
        }
    }
}

/// A DeliverReq to a VASP; the content travels as the attachment `content_href` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverReq {
    pub relay_server_id: Option<String>,
    pub linked_id: Option<String>,
    pub sender: Address,
    pub recipients: Vec<Recipient>,
    pub time_stamp: i64,
    pub priority: Option<Priority>,
    pub subject: Option<String>,
    pub content_href: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReportReq {
    pub relay_server_id: Option<String>,
    pub message_id: String,
    pub recipient: Address,
    pub sender: Address,
    pub date: i64,
    pub status: MmStatus,
    pub status_text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReplyReq {
    pub relay_server_id: Option<String>,
    pub message_id: String,
    pub recipient: Address,
    pub sender: Address,
    pub time_stamp: i64,
    pub status: ReadStatus,
}

type Xml = Writer<Vec<u8>>;

fn iso_time(t: i64) -> String {
    DateTime::from_timestamp(t).to_rfc3339()
}

/// An element in the MM7 namespace with text content, escaped by the writer.
fn leaf(w: &mut Xml, name: &str, text: &str) -> io::Result<()> {
    w.create_element(format!("mm7:{name}")).write_text_content(BytesText::new(text))?;
    Ok(())
}

fn leaf_opt(w: &mut Xml, name: &str, text: Option<&str>) -> io::Result<()> {
    text.map_or(Ok(()), |t| leaf(w, name, t))
}

fn address(w: &mut Xml, name: &str, a: &Address) -> io::Result<()> {
    let (kind, value) = a.element();
    w.create_element(format!("mm7:{name}")).write_inner_content(|w| leaf(w, kind, value))?;
    Ok(())
}

fn status_element(w: &mut Xml, s: &Status) -> io::Result<()> {
    w.create_element("mm7:Status").write_inner_content(|w| {
        leaf(w, "StatusCode", &s.code.0.to_string())?;
        let text = s.text.as_deref().or(s.code.text()).unwrap_or("");
        leaf(w, "StatusText", text)?;
        leaf_opt(w, "Details", s.details.as_deref())
    })?;
    Ok(())
}

/// The envelope around one operation element, with the TransactionID header; the MM7 prefix
/// is declared on the envelope so the header, the body and a Fault's detail all share it.
fn envelope(h: &Mm7Header, body: impl FnOnce(&mut Xml) -> io::Result<()>) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let written = (|| -> io::Result<()> {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.create_element("env:Envelope")
            .with_attribute(("xmlns:env", SOAP_ENV))
            .with_attribute(("xmlns:mm7", h.namespace.uri()))
            .write_inner_content(|w| {
                w.create_element("env:Header").write_inner_content(|w| {
                    w.create_element("mm7:TransactionID")
                        .with_attribute(("env:mustUnderstand", "1"))
                        .write_text_content(BytesText::new(&h.transaction_id))?;
                    Ok(())
                })?;
                w.create_element("env:Body").write_inner_content(body)?;
                Ok(())
            })?;
        Ok(())
    })();
    // Writing into a Vec cannot fail; an error here could only be a bug in the writer.
    debug_assert!(written.is_ok());
    w.into_inner()
}

fn operation(h: &Mm7Header, name: &str, inner: impl FnOnce(&mut Xml) -> io::Result<()>) -> Vec<u8> {
    envelope(h, |w| {
        w.create_element(format!("mm7:{name}")).write_inner_content(|w| {
            leaf(w, "MM7Version", &h.version)?;
            inner(w)
        })?;
        Ok(())
    })
}

pub fn write_submit_rsp(h: &Mm7Header, status: &Status, message_id: Option<&str>) -> Vec<u8> {
    operation(h, "SubmitRsp", |w| {
        status_element(w, status)?;
        leaf_opt(w, "MessageID", message_id)
    })
}

pub fn write_cancel_rsp(h: &Mm7Header, status: &Status) -> Vec<u8> {
    operation(h, "CancelRsp", |w| status_element(w, status))
}

pub fn write_replace_rsp(h: &Mm7Header, status: &Status) -> Vec<u8> {
    operation(h, "ReplaceRsp", |w| status_element(w, status))
}

pub fn write_rs_error_rsp(h: &Mm7Header, status: &Status) -> Vec<u8> {
    operation(h, "RSErrorRsp", |w| status_element(w, status))
}

/// A SOAP Fault with an RSErrorRsp in its detail: `env:Client` for a client-class status (the
/// request was wrong), `env:Server` for any other.
pub fn write_fault(h: &Mm7Header, status: &Status) -> Vec<u8> {
    let code = if status.code.class() == StatusClass::Client { "env:Client" } else { "env:Server" };
    let string = status.text.as_deref().or(status.code.text()).unwrap_or("Error");
    envelope(h, |w| {
        w.create_element("env:Fault").write_inner_content(|w| {
            w.create_element("faultcode").write_text_content(BytesText::new(code))?;
            w.create_element("faultstring").write_text_content(BytesText::new(string))?;
            w.create_element("detail").write_inner_content(|w| {
                w.create_element("mm7:RSErrorRsp").write_inner_content(|w| {
                    leaf(w, "MM7Version", &h.version)?;
                    status_element(w, status)
                })?;
                Ok(())
            })?;
            Ok(())
        })?;
        Ok(())
    })
}

pub fn write_deliver_req(h: &Mm7Header, r: &DeliverReq) -> Vec<u8> {
    operation(h, "DeliverReq", |w| {
        leaf_opt(w, "MMSRelayServerID", r.relay_server_id.as_deref())?;
        leaf_opt(w, "LinkedID", r.linked_id.as_deref())?;
        address(w, "Sender", &r.sender)?;
        if !r.recipients.is_empty() {
            w.create_element("mm7:Recipients").write_inner_content(|w| {
                for field in [RecipientField::To, RecipientField::Cc, RecipientField::Bcc] {
                    let group: Vec<&Recipient> = r.recipients.iter().filter(|x| x.field == field).collect();
                    if group.is_empty() {
                        continue;
                    }
                    w.create_element(format!("mm7:{}", field.name())).write_inner_content(|w| {
                        for x in group {
                            let (kind, value) = x.address.element();
                            let mut e = w.create_element(format!("mm7:{kind}"));
                            if x.display_only {
                                e = e.with_attribute(("displayOnly", "true"));
                            }
                            e.write_text_content(BytesText::new(value))?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })?;
        }
        leaf(w, "TimeStamp", &iso_time(r.time_stamp))?;
        leaf_opt(w, "Priority", r.priority.map(Priority::name))?;
        leaf_opt(w, "Subject", r.subject.as_deref())?;
        w.create_element("mm7:Content").with_attribute(("href", r.content_href.as_str())).write_empty()?;
        Ok(())
    })
}

pub fn write_delivery_report_req(h: &Mm7Header, r: &DeliveryReportReq) -> Vec<u8> {
    operation(h, "DeliveryReportReq", |w| {
        leaf_opt(w, "MMSRelayServerID", r.relay_server_id.as_deref())?;
        leaf(w, "MessageID", &r.message_id)?;
        address(w, "Recipient", &r.recipient)?;
        address(w, "Sender", &r.sender)?;
        leaf(w, "Date", &iso_time(r.date))?;
        leaf(w, "MMStatus", r.status.name())?;
        leaf_opt(w, "StatusText", r.status_text.as_deref())
    })
}

pub fn write_read_reply_req(h: &Mm7Header, r: &ReadReplyReq) -> Vec<u8> {
    operation(h, "ReadReplyReq", |w| {
        leaf_opt(w, "MMSRelayServerID", r.relay_server_id.as_deref())?;
        leaf(w, "MessageID", &r.message_id)?;
        address(w, "Recipient", &r.recipient)?;
        address(w, "Sender", &r.sender)?;
        leaf(w, "TimeStamp", &iso_time(r.time_stamp))?;
        leaf(w, "MMStatus", r.status.name())
    })
}

/// The Content-ID a MIME part is referenced by: its Content-ID without angle brackets, else its
/// Content-Location.
fn part_id(part: &mail_parser::MessagePart<'_>) -> Option<String> {
    let id = part.content_id().or_else(|| part.content_location())?;
    Some(id.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
}

/// The Content-Type the body is read under: the one given when it is a multipart with a
/// boundary, else one made from the boundary the body opens with, for peers that label a
/// multipart body `text/xml` or leave the boundary out.
fn multipart_type(content_type: &str, body: &[u8]) -> Result<String, SoapError> {
    // The type goes into a header line of its own, so it must not end that line early.
    let given: String = content_type.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let lower = given.to_ascii_lowercase();
    if lower.trim_start().starts_with("multipart/") && lower.contains("boundary=") {
        return Ok(given);
    }
    let first = body.split(|b| *b == b'\n').next().unwrap_or_default().trim_ascii();
    let boundary = first
        .strip_prefix(b"--")
        .filter(|b| !b.is_empty() && b.len() <= 200)
        .ok_or(SoapError::Mime("neither XML nor multipart"))?;
    let boundary = std::str::from_utf8(boundary).map_err(|_| SoapError::Mime("boundary not text"))?;
    if boundary.contains('"') {
        return Err(SoapError::Mime("boundary with a quote"));
    }
    Ok(format!("multipart/related; boundary=\"{boundary}\""))
}

/// Reads an MM7 HTTP request body: the envelope alone, or a `multipart/related` whose start
/// part (by `start=`, else the first) is the envelope and whose other parts are the content,
/// returned by Content-ID. The content a request's `Content href` names must be among them.
pub fn parse_http(content_type: &str, body: &[u8], now: i64) -> Result<(Request, Vec<(String, Content)>), SoapError> {
    if body.len() > MAX_HTTP_BYTES {
        return Err(SoapError::TooLarge);
    }
    let bare = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body).trim_ascii_start();
    // The envelope alone, whatever the Content-Type said.
    if bare.starts_with(b"<") {
        let request = parse_request(body, now)?;
        if let Some(r) = request.content_ref() {
            return Err(SoapError::MissingContent(r.content_id().to_owned()));
        }
        return Ok((request, Vec::new()));
    }
    let header = multipart_type(content_type, body)?;
    let mut raw = format!("Content-Type: {header}\r\n\r\n").into_bytes();
    raw.extend_from_slice(body);
    let message = MessageParser::default().parse(&raw).ok_or(SoapError::Mime("not MIME"))?;
    let root = message.parts.first().ok_or(SoapError::Mime("not MIME"))?;
    let mail_parser::PartType::Multipart(children) = &root.body else { return Err(SoapError::Mime("no parts")) };
    let start = root
        .content_type()
        .and_then(|c| c.attribute("start"))
        .map(|s| s.trim().trim_start_matches('<').trim_end_matches('>').to_owned());
    let ids: Vec<usize> = children.iter().map(|c| *c as usize).collect();
    let start_id = start
        .and_then(|s| {
            ids.iter().copied().find(|i| message.parts.get(*i).and_then(part_id).as_deref() == Some(s.as_str()))
        })
        .or_else(|| ids.first().copied())
        .ok_or(SoapError::Mime("no parts"))?;
    let envelope = message.parts.get(start_id).ok_or(SoapError::Mime("no parts"))?;
    let request = parse_request(envelope.contents(), now)?;
    let mut attachments = Vec::new();
    for id in ids.into_iter().filter(|i| *i != start_id) {
        let Some(part) = message.parts.get(id) else { continue };
        let Some(cid) = part_id(part) else { continue };
        if attachments.len() >= content::MAX_PARTS {
            return Err(SoapError::Content(ContentError::TooManyParts));
        }
        // The part with its own header, as a message of its own, so a multipart attachment
        // (the SMIL and its media) is read whole.
        let entity = raw
            .get(part.raw_header_offset() as usize..part.raw_end_offset() as usize)
            .ok_or(SoapError::Mime("part out of bounds"))?;
        attachments.push((cid, content::from_mime(entity)?));
    }
    if let Some(r) = request.content_ref() {
        let cid = r.content_id();
        if !attachments.iter().any(|(id, _)| id == cid) {
            return Err(SoapError::MissingContent(cid.to_owned()));
        }
    }
    Ok((request, attachments))
}
