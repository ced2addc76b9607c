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
        match self {
            Mm7Namespace::Rel5Mm7_1_0 => "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
            Mm7Namespace::Rel5Mm7_1_1 => "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-1",
            Mm7Namespace::Rel5Mm7_1_2 => "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-2",
            Mm7Namespace::Rel5Mm7_1_3 => "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-3",
            Mm7Namespace::Rel6Mm7_1_0 => "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-0",
            Mm7Namespace::Rel6Mm7_1_1 => "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-1",
            Mm7Namespace::Rel6Mm7_1_2 => "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-2",
            Mm7Namespace::Rel6Mm7_1_3 => "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-3",
            Mm7Namespace::Rel6Mm7_1_4 => "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4",
        }
    }

    /// The schema by its name, the last part of its URI (`REL-6-MM7-1-4`), as the configuration
    /// writes it; a whole URI is taken too.
    pub fn from_name(name: &str) -> Option<Mm7Namespace> {
        Mm7Namespace::parse(name)
            .or_else(|| Mm7Namespace::ALL.into_iter().find(|n| n.uri().ends_with(&format!("/{name}"))))
    }

    /// Reads a namespace URI; a trailing slash, which some peers add, is ignored.
    pub fn parse(uri: &str) -> Option<Mm7Namespace> {
        let uri = uri.trim().trim_end_matches('/');
        Mm7Namespace::ALL.into_iter().find(|n| n.uri() == uri)
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
    /// The address as written, whatever its kind.
    pub fn value(&self) -> &str {
        self.element().1
    }

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
    /// The Content-ID the href names, without `cid:` and angle brackets, its `%XX` escapes
    /// (RFC 2392 URLs escape `@` and others) undone.
    pub fn content_id(&self) -> String {
        let href = self.href.trim();
        let id = href.get(..4).filter(|p| p.eq_ignore_ascii_case("cid:")).map_or(href, |_| &href[4..]);
        let id = id.trim_start_matches('<').trim_end_matches('>').as_bytes();
        let mut out = Vec::with_capacity(id.len());
        let mut i = 0;
        while i < id.len() {
            let escaped = (id[i] == b'%')
                .then(|| id.get(i + 1..i + 3))
                .flatten()
                .and_then(|h| std::str::from_utf8(h).ok().and_then(|h| u8::from_str_radix(h, 16).ok()));
            match escaped {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(id[i]);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
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
    /// Boxed: a SubmitReq is several times the size of the other operations.
    Submit(Box<SubmitReq>),
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

/// The document as text: UTF-8, or the encoding its XML declaration names (operators send
/// euc-kr and ISO-8859-1).
fn decode(xml: &[u8]) -> Result<std::borrow::Cow<'_, str>, SoapError> {
    if let Ok(text) = std::str::from_utf8(xml) {
        return Ok(text.into());
    }
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let label = match reader.read_event_into(&mut buf) {
        Ok(Event::Decl(decl)) => decl.encoding().and_then(Result::ok).map(|e| e.into_owned()),
        _ => None,
    };
    let encoding = label
        .and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes()))
        .ok_or_else(|| malformed("not UTF-8 and no encoding declared"))?;
    let (text, had_errors) = encoding.decode_without_bom_handling(xml);
    if had_errors {
        return Err(malformed(format!("not valid {}", encoding.name())));
    }
    Ok(text)
}

/// Reads the whole document into a tree, within the limits.
fn read_tree(xml: &[u8]) -> Result<Node, SoapError> {
    if xml.len() > MAX_ENVELOPE_BYTES {
        return Err(SoapError::TooLarge);
    }
    let xml = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
    let text = decode(xml)?;
    let mut reader = NsReader::from_str(&text);
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
        "SubmitReq" => Body::Submit(Box::new(submit(op, now)?)),
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

/// The SubmitRsp to a SubmitReq: its status and, once accepted, the Message-ID given.
pub fn write_submit_rsp(h: &Mm7Header, status: &Status, message_id: Option<&str>) -> Vec<u8> {
    operation(h, "SubmitRsp", |w| {
        status_element(w, status)?;
        leaf_opt(w, "MessageID", message_id)
    })
}

/// The CancelRsp to a CancelReq.
pub fn write_cancel_rsp(h: &Mm7Header, status: &Status) -> Vec<u8> {
    operation(h, "CancelRsp", |w| status_element(w, status))
}

/// The ReplaceRsp to a ReplaceReq.
pub fn write_replace_rsp(h: &Mm7Header, status: &Status) -> Vec<u8> {
    operation(h, "ReplaceRsp", |w| status_element(w, status))
}

/// An RSErrorRsp: the relay's answer to a request it could not take as that operation.
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

/// A DeliverReq, sent with the message content as the attachment its href names.
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

/// A DeliveryReportReq about a message the VASP submitted.
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

/// A ReadReplyReq about a message the VASP submitted.
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

/// One attachment of a request: its Content-ID (without angle brackets), the MIME entity
/// exactly as sent (its header fields, a blank line, its body), and that entity read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub cid: String,
    pub entity: Vec<u8>,
    pub content: Content,
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
pub fn parse_http(content_type: &str, body: &[u8], now: i64) -> Result<(Request, Vec<Attachment>), SoapError> {
    if body.len() > MAX_HTTP_BYTES {
        return Err(SoapError::TooLarge);
    }
    let bare = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body).trim_ascii_start();
    // The envelope alone, whatever the Content-Type said.
    if bare.starts_with(b"<") {
        let request = parse_request(body, now)?;
        if let Some(r) = request.content_ref() {
            return Err(SoapError::MissingContent(r.content_id()));
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
        let content = content::from_mime(entity)?;
        attachments.push(Attachment { cid, entity: entity.to_vec(), content });
    }
    if let Some(r) = request.content_ref() {
        let cid = r.content_id();
        if !attachments.iter().any(|a| a.cid == cid) {
            return Err(SoapError::MissingContent(cid));
        }
    }
    Ok((request, attachments))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const NOW: i64 = 1_700_000_000;

    /// A SubmitReq as a VASP writes it, with `{ns}` for the MM7 namespace.
    const SUBMIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">
  <env:Header>
    <mm7:TransactionID xmlns:mm7="{ns}" env:mustUnderstand="1">tx-0001</mm7:TransactionID>
  </env:Header>
  <env:Body>
    <SubmitReq xmlns="{ns}">
      <MM7Version>{version}</MM7Version>
      <Recipients>
        <To><Number>+15550100001</Number><RFC2822Address displayOnly="true">a@example.org</RFC2822Address></To>
        <Cc><ShortCode>12345</ShortCode></Cc>
        <Bcc><Number>+15550100002</Number></Bcc>
      </Recipients>
      <SenderIdentification>
        <VASPID>vasp-1</VASPID><VASID>news</VASID>
        <SenderAddress><ShortCode>4444</ShortCode></SenderAddress>
      </SenderIdentification>
      <ServiceCode>gold</ServiceCode>
      <LinkedID>link-9</LinkedID>
      <MessageClass>Informational</MessageClass>
      <TimeStamp>2023-11-14T22:13:20Z</TimeStamp>
      <ReplyCharging replyChargingSize="2048" replyDeadline="P2D"/>
      <EarliestDeliveryTime>2023-11-15T00:00:00+01:00</EarliestDeliveryTime>
      <ExpiryDate>P1DT2H</ExpiryDate>
      <DeliveryReport>true</DeliveryReport>
      <ReadReply>false</ReadReply>
      <Priority>High</Priority>
      <Subject>News &amp; weather &lt;today&gt;</Subject>
      <ChargedParty>Sender</ChargedParty>
      <DistributionIndicator>false</DistributionIndicator>
      <ApplicID>app</ApplicID>
      <ReplyApplicID>reply-app</ReplyApplicID>
      <AuxApplicInfo>aux</AuxApplicInfo>
      <ContentClass>image-basic</ContentClass>
      <DRMContent>false</DRMContent>
      <UnknownExtension><Deep>skipped</Deep></UnknownExtension>
      <Content href="cid:mms-content" allowAdaptations="true"/>
    </SubmitReq>
  </env:Body>
</env:Envelope>"#;

    fn submit_xml(ns: &str, version: &str) -> Vec<u8> {
        SUBMIT.replace("{ns}", ns).replace("{version}", version).into_bytes()
    }

    fn submit_of(r: &Request) -> &SubmitReq {
        match &r.body {
            Body::Submit(s) => s,
            other => panic!("not a SubmitReq: {other:?}"),
        }
    }

    #[test]
    fn every_namespace_parses_and_is_answered_in() {
        for ns in Mm7Namespace::ALL {
            assert_eq!(Mm7Namespace::parse(ns.uri()), Some(ns));
            let r = parse_request(&submit_xml(ns.uri(), "5.3.0"), NOW).unwrap();
            assert_eq!(r.namespace, Some(ns));
            assert_eq!(r.transaction_id.as_deref(), Some("tx-0001"));
            assert_eq!(r.version.as_deref(), Some("5.3.0"));
            let rsp = write_submit_rsp(&r.answer(), &Status::new(StatusCode::SUCCESS), Some("msg-1"));
            let tree = read_tree(&rsp).unwrap();
            let body = tree.children.iter().find(|c| is_env(c, "Body")).unwrap();
            let op = &body.children[0];
            assert_eq!((op.name.as_str(), op.ns.as_deref()), ("SubmitRsp", Some(ns.uri())));
            assert_eq!(op.text_of("MM7Version").as_deref(), Some("5.3.0"));
            assert_eq!(op.text_of("MessageID").as_deref(), Some("msg-1"));
            let header = tree.children.iter().find(|c| is_env(c, "Header")).unwrap();
            let tid = header.child("TransactionID").unwrap();
            assert_eq!((tid.text.as_str(), tid.ns.as_deref()), ("tx-0001", Some(ns.uri())));
        }
    }

    #[test]
    fn a_submit_req_reads_every_field() {
        let r = parse_request(&submit_xml(Mm7Namespace::Rel6Mm7_1_4.uri(), "6.8.0"), NOW).unwrap();
        let s = submit_of(&r);
        assert_eq!(
            s.sender,
            SenderIdentification {
                vasp_id: Some("vasp-1".into()),
                vas_id: Some("news".into()),
                address: Some(Address::ShortCode("4444".into())),
            }
        );
        assert_eq!(
            s.recipients,
            vec![
                Recipient {
                    field: RecipientField::To,
                    address: Address::Number("+15550100001".into()),
                    display_only: false
                },
                Recipient {
                    field: RecipientField::To,
                    address: Address::Rfc2822("a@example.org".into()),
                    display_only: true
                },
                Recipient {
                    field: RecipientField::Cc,
                    address: Address::ShortCode("12345".into()),
                    display_only: false
                },
                Recipient {
                    field: RecipientField::Bcc,
                    address: Address::Number("+15550100002".into()),
                    display_only: false
                },
            ]
        );
        assert_eq!(s.service_code.as_deref(), Some("gold"));
        assert_eq!(s.linked_id.as_deref(), Some("link-9"));
        assert_eq!(s.message_class.as_deref(), Some("Informational"));
        assert_eq!(s.time_stamp, Some(1_700_000_000));
        assert_eq!(s.reply_charging, Some(ReplyCharging { size: Some(2048), deadline: Some(NOW + 2 * 86_400) }));
        assert_eq!(s.earliest_delivery, Some(1_700_002_800));
        assert_eq!(s.expiry, Some(NOW + 86_400 + 7200));
        assert_eq!((s.delivery_report, s.read_reply), (Some(true), Some(false)));
        assert_eq!(s.priority, Some(Priority::High));
        assert_eq!(s.subject.as_deref(), Some("News & weather <today>"));
        assert_eq!(s.charged_party.as_deref(), Some("Sender"));
        assert_eq!(s.distribution_indicator, Some(false));
        assert_eq!(s.applic_id.as_deref(), Some("app"));
        assert_eq!(s.reply_applic_id.as_deref(), Some("reply-app"));
        assert_eq!(s.aux_applic_info.as_deref(), Some("aux"));
        assert_eq!(s.content_class.as_deref(), Some("image-basic"));
        assert_eq!(s.drm_content, Some(false));
        let content = s.content.as_ref().unwrap();
        assert_eq!((content.content_id().as_str(), content.allow_adaptations), ("mms-content", Some(true)));
        let escaped = ContentRef { href: "CID:<part%401.example%2>".into(), allow_adaptations: None };
        assert_eq!(escaped.content_id(), "part@1.example%2");
    }

    #[test]
    fn any_prefix_reads_the_same() {
        let ns = Mm7Namespace::Rel5Mm7_1_2.uri();
        let odd = format!(
            r#"<s:Envelope xmlns:s="{SOAP_ENV}" xmlns:q1="{ns}"><s:Header><q1:TransactionID>t</q1:TransactionID></s:Header>
<s:Body><q1:SubmitReq><q1:MM7Version>5.5.0</q1:MM7Version><q1:Recipients><q1:To><q1:Number>+1555</q1:Number></q1:To></q1:Recipients>
<q1:Subject>hi</q1:Subject></q1:SubmitReq></s:Body></s:Envelope>"#
        );
        let r = parse_request(odd.as_bytes(), NOW).unwrap();
        assert_eq!(r.namespace, Some(Mm7Namespace::Rel5Mm7_1_2));
        assert_eq!(submit_of(&r).subject.as_deref(), Some("hi"));
        assert_eq!(submit_of(&r).recipients.len(), 1);
    }

    #[test]
    fn a_declared_encoding_is_honoured() {
        let ns = Mm7Namespace::Rel5Mm7_1_2.uri();
        let xml = format!(
            r#"<?xml version="1.0" encoding="euc-kr"?><e:Envelope xmlns:e="{SOAP_ENV}"><e:Body><SubmitReq xmlns="{ns}"><Subject>안녕</Subject></SubmitReq></e:Body></e:Envelope>"#
        );
        let (bytes, _, _) = encoding_rs::EUC_KR.encode(&xml);
        assert!(std::str::from_utf8(&bytes).is_err());
        let r = parse_request(&bytes, NOW).unwrap();
        assert_eq!(submit_of(&r).subject.as_deref(), Some("안녕"));
        assert!(matches!(read_tree(b"<a>\xe9</a>"), Err(SoapError::Malformed(_))));
        let latin = b"<?xml version='1.0' encoding='ISO-8859-1'?><a>\xe9</a>";
        assert_eq!(read_tree(latin).unwrap().text, "\u{e9}");
    }

    #[test]
    fn missing_optional_elements_are_none() {
        let ns = Mm7Namespace::Rel6Mm7_1_0.uri();
        let xml = format!(
            r#"<Envelope xmlns="{SOAP_ENV}"><Body><SubmitReq xmlns="{ns}"><Recipients><To><Number>1</Number></To></Recipients></SubmitReq></Body></Envelope>"#
        );
        let r = parse_request(xml.as_bytes(), NOW).unwrap();
        assert_eq!((r.transaction_id.as_ref(), r.version.as_ref()), (None, None));
        let s = submit_of(&r);
        assert_eq!(s.sender, SenderIdentification::default());
        assert_eq!((s.subject.as_ref(), s.expiry, s.content.as_ref(), s.priority), (None, None, None, None));
        assert_eq!(r.answer().version, DEFAULT_VERSION);
    }

    #[test]
    fn cancel_replace_and_responses_parse() {
        let ns = Mm7Namespace::Rel5Mm7_1_3.uri();
        let wrap = |inner: &str| {
            format!(r#"<e:Envelope xmlns:e="{SOAP_ENV}"><e:Body xmlns="{ns}">{inner}</e:Body></e:Envelope>"#)
                .into_bytes()
        };
        let r = parse_request(&wrap("<CancelReq><MessageID>m1</MessageID></CancelReq>"), NOW).unwrap();
        assert_eq!(
            r.body,
            Body::Cancel(CancelReq { sender: SenderIdentification::default(), message_id: "m1".into() })
        );
        let r = parse_request(
            &wrap(r#"<ReplaceReq><Content href="cid:x"/><TimeStamp>PT1M</TimeStamp><MessageID>m2</MessageID></ReplaceReq>"#),
            NOW,
        )
        .unwrap();
        let Body::Replace(rep) = r.body else { panic!() };
        assert_eq!((rep.message_id.as_str(), rep.time_stamp), ("m2", Some(NOW + 60)));
        assert_eq!(parse_request(&wrap("<CancelReq/>"), NOW), Err(SoapError::Missing("MessageID")));
        for (op, f) in [
            ("DeliverRsp", Body::DeliverRsp as fn(Status) -> Body),
            ("DeliveryReportRsp", Body::DeliveryReportRsp),
            ("ReadReplyRsp", Body::ReadReplyRsp),
            ("VASPErrorRsp", Body::VaspError),
        ] {
            let xml = wrap(&format!(
                "<{op}><Status><StatusText>ok</StatusText><StatusCode>1000</StatusCode><Details><x>d</x></Details></Status></{op}>"
            ));
            let status = Status { code: StatusCode::SUCCESS, text: Some("ok".into()), details: Some("d".into()) };
            assert_eq!(parse_request(&xml, NOW).unwrap().body, f(status));
        }
    }

    #[test]
    fn vasp_faults_in_their_shapes() {
        let full = format!(
            r#"<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body><soapenv:Fault><faultcode>soapenv:Server</faultcode>
<faultstring>Server Error</faultstring><detail><VASPErrorRsp xmlns="{}"><MM7Version>5.3.0</MM7Version>
<Status><StatusCode>3000</StatusCode><StatusText>down</StatusText></Status></VASPErrorRsp></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#,
            Mm7Namespace::Rel5Mm7_1_0.uri()
        );
        let Body::Fault(f) = parse_request(full.as_bytes(), NOW).unwrap().body else { panic!() };
        assert_eq!((f.code.as_str(), f.string.as_str()), ("soapenv:Server", "Server Error"));
        assert_eq!(f.status.unwrap().code, StatusCode::SERVER_ERROR);
        // No detail at all, and a status code loose in the detail.
        let bare = format!(
            r#"<E:Envelope xmlns:E="{SOAP_ENV}"><E:Body><E:Fault><faultstring>nope</faultstring></E:Fault></E:Body></E:Envelope>"#
        );
        let r = parse_request(bare.as_bytes(), NOW).unwrap();
        assert_eq!(r.namespace, None);
        assert_eq!(r.body, Body::Fault(Fault { code: String::new(), string: "nope".into(), status: None }));
        let loose = format!(
            r#"<E:Envelope xmlns:E="{SOAP_ENV}"><E:Body><E:Fault><faultcode>Client</faultcode><detail><StatusCode>6102</StatusCode></detail></E:Fault></E:Body></E:Envelope>"#
        );
        let Body::Fault(f) = parse_request(loose.as_bytes(), NOW).unwrap().body else { panic!() };
        let code = f.status.unwrap().code;
        assert_eq!((code, code.class(), code.text()), (StatusCode(6102), StatusClass::Other, None));
    }

    #[test]
    fn status_codes_have_texts_and_classes() {
        assert_eq!(StatusCode::SUCCESS.text(), Some("Success"));
        assert_eq!(StatusCode(2005).text(), Some("Message ID Not found"));
        assert_eq!(StatusCode(4008).text(), Some("Application denied"));
        assert_eq!(StatusCode::PARTIAL_SUCCESS.class(), StatusClass::Success);
        assert_eq!(StatusCode::ADDRESS_ERROR.class(), StatusClass::Client);
        assert_eq!(StatusCode::NOT_POSSIBLE.class(), StatusClass::Server);
        assert_eq!(StatusCode::SERVICE_DENIED.class(), StatusClass::Service);
        assert!(!StatusCode(3005).is_known());
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let unknown = SUBMIT.replace("{ns}", "urn:example:mm7").replace("{version}", "5.3.0");
        assert_eq!(parse_request(unknown.as_bytes(), NOW), Err(SoapError::UnknownNamespace("urn:example:mm7".into())));
        assert!(matches!(parse_request(b"<a><b></a>", NOW), Err(SoapError::Malformed(_))));
        assert!(matches!(parse_request(b"<x:a/>", NOW), Err(SoapError::Malformed(_))));
        assert!(matches!(parse_request(b"", NOW), Err(SoapError::Malformed(_))));
        assert!(matches!(parse_request(b"\xff\xfe<", NOW), Err(SoapError::Malformed(_))));
        assert_eq!(parse_request(b"<a/>", NOW), Err(SoapError::NotSoap));
        let doctype = format!(r#"<!DOCTYPE e [<!ENTITY x "y">]><e:Envelope xmlns:e="{SOAP_ENV}"/>"#);
        assert!(matches!(parse_request(doctype.as_bytes(), NOW), Err(SoapError::Malformed(_))));
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert_eq!(parse_request(deep.as_bytes(), NOW), Err(SoapError::TooDeep));
        let wide = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS + 1));
        assert_eq!(parse_request(wide.as_bytes(), NOW), Err(SoapError::TooManyElements));
        let bad_time = submit_xml(Mm7Namespace::Rel6Mm7_1_4.uri(), "6.8.0").to_vec();
        let bad_time = String::from_utf8(bad_time).unwrap().replace("P1DT2H", "tomorrow");
        assert!(matches!(parse_request(bad_time.as_bytes(), NOW), Err(SoapError::Invalid { field: "ExpiryDate", .. })));
        let op = format!(
            r#"<e:Envelope xmlns:e="{SOAP_ENV}"><e:Body><GetDeviceProfileReq xmlns="{}"/></e:Body></e:Envelope>"#,
            Mm7Namespace::Rel6Mm7_1_4.uri()
        );
        assert_eq!(parse_request(op.as_bytes(), NOW), Err(SoapError::UnknownOperation("GetDeviceProfileReq".into())));
    }

    #[test]
    fn durations_resolve_against_now() {
        assert_eq!(parse_time("PT30S", NOW), Some(NOW + 30));
        assert_eq!(parse_time("P1Y2M", NOW), Some(NOW + 425 * 86_400));
        assert_eq!(parse_time("P1W", NOW), Some(NOW + 7 * 86_400));
        for bad in ["P", "PT", "P1H", "PT1D", "P1", "P99999999999999999999D", "2023-13-01T00:00:00Z"] {
            assert_eq!(parse_time(bad, NOW), None, "{bad}");
        }
    }

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\x01\0\x18\xdd\x8d\xb0\0\0\0\0IEND\xaeB`\x82";
    const SMIL: &str = r#"<smil><body><par dur="5s"><img src="cid:img"/><text src="cid:txt"/></par></body></smil>"#;

    fn b64(data: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    /// A SOAP-with-attachments SubmitReq: the envelope, then the content as a multipart/related
    /// of SMIL (base64 when `smil_base64`, else 7bit), text and a PNG.
    fn multipart_submit(smil_base64: bool) -> (String, Vec<u8>) {
        let envelope = String::from_utf8(submit_xml(Mm7Namespace::Rel6Mm7_1_4.uri(), "6.8.0")).unwrap();
        let smil = if smil_base64 {
            format!("Content-Transfer-Encoding: base64\r\n\r\n{}", b64(SMIL.as_bytes()))
        } else {
            format!("Content-Transfer-Encoding: 7bit\r\n\r\n{SMIL}")
        };
        let body = format!(
            "--outer\r\nContent-Type: text/xml; charset=utf-8\r\nContent-ID: <soap-start>\r\n\r\n{envelope}\r\n\
--outer\r\nContent-Type: multipart/related; type=\"application/smil\"; start=\"<smil>\"; boundary=\"inner\"\r\nContent-ID: <mms-content>\r\n\r\n\
--inner\r\nContent-Type: application/smil\r\nContent-ID: <smil>\r\n{smil}\r\n\
--inner\r\nContent-Type: text/plain; charset=utf-8\r\nContent-ID: <txt>\r\n\r\nHello, world\r\n\
--inner\r\nContent-Type: image/png\r\nContent-ID: <img>\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
--inner--\r\n\r\n--outer--\r\n",
            b64(PNG)
        );
        let ct = r#"multipart/related; type="text/xml"; start="<soap-start>"; boundary="outer""#.to_owned();
        (ct, body.into_bytes())
    }

    fn check_content(attachments: &[Attachment]) {
        assert_eq!(attachments.len(), 1);
        let Attachment { cid, content, entity } = &attachments[0];
        assert!(entity.windows(4).any(|w| w == b"\r\n\r\n"), "the entity keeps its header");
        assert_eq!(cid, "mms-content");
        assert_eq!(content.media_type, "multipart/related");
        assert_eq!(content.start.as_deref(), Some("smil"));
        let by_id = |id: &str| content.parts.iter().find(|p| p.content_id.as_deref() == Some(id)).unwrap();
        assert_eq!(by_id("smil").data, SMIL.as_bytes());
        assert_eq!(by_id("smil").media_type, "application/smil");
        assert_eq!(by_id("txt").data, b"Hello, world");
        assert_eq!(by_id("img").data, PNG);
        assert_eq!(by_id("img").media_type, "image/png");
    }

    #[test]
    fn a_multipart_submit_req_gives_its_content_byte_for_byte() {
        for smil_base64 in [false, true] {
            let (ct, body) = multipart_submit(smil_base64);
            let (request, attachments) = parse_http(&ct, &body, NOW).unwrap();
            assert_eq!(submit_of(&request).subject.as_deref(), Some("News & weather <today>"));
            check_content(&attachments);
        }
    }

    #[test]
    fn mislabelled_bodies_are_read_for_what_they_are() {
        let (_, body) = multipart_submit(false);
        // Multipart sent as text/xml: the boundary is taken from the body, the start is the first part.
        let (_, attachments) = parse_http("text/xml", &body, NOW).unwrap();
        check_content(&attachments);
        // Multipart without its boundary parameter.
        let (_, attachments) = parse_http("multipart/related; type=\"text/xml\"", &body, NOW).unwrap();
        check_content(&attachments);
        // The envelope alone labelled multipart.
        let ns = Mm7Namespace::Rel5Mm7_1_1.uri();
        let xml = format!(
            r#"<e:Envelope xmlns:e="{SOAP_ENV}"><e:Body><CancelReq xmlns="{ns}"><MessageID>m</MessageID></CancelReq></e:Body></e:Envelope>"#
        );
        let (r, attachments) = parse_http("multipart/related; boundary=x", xml.as_bytes(), NOW).unwrap();
        assert!(matches!(r.body, Body::Cancel(_)) && attachments.is_empty());
        let (r, _) = parse_http("application/xml", xml.as_bytes(), NOW).unwrap();
        assert!(matches!(r.body, Body::Cancel(_)));
    }

    #[test]
    fn a_cid_pointing_nowhere_is_an_error() {
        let (ct, body) = multipart_submit(false);
        let body = String::from_utf8(body).unwrap().replace("cid:mms-content", "cid:elsewhere");
        assert_eq!(parse_http(&ct, body.as_bytes(), NOW), Err(SoapError::MissingContent("elsewhere".into())));
        let alone = submit_xml(Mm7Namespace::Rel6Mm7_1_4.uri(), "6.8.0");
        assert_eq!(parse_http("text/xml", &alone, NOW), Err(SoapError::MissingContent("mms-content".into())));
        assert_eq!(parse_http("text/plain", b"hello", NOW), Err(SoapError::Mime("neither XML nor multipart")));
    }

    #[test]
    fn hostile_bodies_are_errors_not_panics() {
        let (ct, body) = multipart_submit(true);
        for cut in (0..body.len()).step_by(97) {
            let _ = parse_http(&ct, &body[..cut], NOW);
            let _ = parse_http("text/xml", &body[cut..], NOW);
        }
        let _ = parse_http("multipart/related; boundary=\"a\r\nContent-Type: text/plain\"", b"--a\r\n\r\n--a--", NOW);
        let nested = format!("{}{}", "--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n".repeat(200), "--b--");
        let _ = parse_http("multipart/related; boundary=b", nested.as_bytes(), NOW);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, ..Default::default() })]

        /// Damaged envelopes and bodies (bytes overwritten, cut out or repeated) give a value
        /// or an error, never a panic.
        #[test]
        fn damaged_input_never_panics(
            edits in proptest::collection::vec((0usize..1 << 16, proptest::prelude::any::<u8>(), 0u8..3), 1..16),
            multipart in proptest::prelude::any::<bool>(),
        ) {
            let (ct, mut bytes) = if multipart {
                multipart_submit(true)
            } else {
                ("text/xml".to_owned(), submit_xml(Mm7Namespace::Rel6Mm7_1_4.uri(), "6.8.0"))
            };
            for (at, byte, op) in edits {
                if bytes.is_empty() {
                    break;
                }
                let at = at % bytes.len();
                match op {
                    0 => bytes[at] = byte,
                    1 => {
                        bytes.drain(at..(at + usize::from(byte % 16)).min(bytes.len()));
                    }
                    _ => {
                        let piece = bytes[at..(at + usize::from(byte % 64)).min(bytes.len())].to_vec();
                        bytes.splice(at..at, piece);
                    }
                }
            }
            let _ = parse_request(&bytes, NOW);
            let _ = parse_http(&ct, &bytes, NOW);
        }
    }

    fn header() -> Mm7Header {
        Mm7Header { namespace: Mm7Namespace::Rel5Mm7_1_3, version: "5.3.0".into(), transaction_id: "tx <&> 7".into() }
    }

    fn deliver_req() -> DeliverReq {
        DeliverReq {
            relay_server_id: Some("tern".into()),
            linked_id: Some("link".into()),
            sender: Address::Number("+15550100001".into()),
            recipients: vec![
                Recipient {
                    field: RecipientField::To,
                    address: Address::ShortCode("4444".into()),
                    display_only: false,
                },
                Recipient {
                    field: RecipientField::Cc,
                    address: Address::Rfc2822("x@example.org".into()),
                    display_only: true,
                },
            ],
            time_stamp: NOW,
            priority: Some(Priority::Low),
            subject: Some("Tom & Jerry <3".into()),
            content_href: "cid:content-1".into(),
        }
    }

    fn delivery_report_req() -> DeliveryReportReq {
        DeliveryReportReq {
            relay_server_id: None,
            message_id: "msg-1".into(),
            recipient: Address::Number("+15550100001".into()),
            sender: Address::ShortCode("4444".into()),
            date: NOW,
            status: MmStatus::Retrieved,
            status_text: Some("delivered".into()),
        }
    }

    #[test]
    fn written_messages_read_back() {
        let h = header();
        let fault = write_fault(&h, &Status::new(StatusCode::ADDRESS_ERROR));
        let tree = read_tree(&fault).unwrap();
        let body = tree.children.iter().find(|c| is_env(c, "Body")).unwrap();
        let f = fault_of(body);
        assert_eq!(f.code, "env:Client");
        assert_eq!(f.status.unwrap().code, StatusCode::ADDRESS_ERROR);
        let server = write_fault(&h, &Status::new(StatusCode::SERVICE_UNAVAILABLE));
        assert!(String::from_utf8(server).unwrap().contains("<faultcode>env:Server</faultcode>"));
        for (xml, op) in [
            (write_cancel_rsp(&h, &Status::new(StatusCode::SUCCESS)), "CancelRsp"),
            (write_replace_rsp(&h, &Status::new(StatusCode::SUCCESS)), "ReplaceRsp"),
            (write_deliver_req(&h, &deliver_req()), "DeliverReq"),
            (
                write_read_reply_req(
                    &h,
                    &ReadReplyReq {
                        relay_server_id: None,
                        message_id: "m".into(),
                        recipient: Address::Number("1".into()),
                        sender: Address::Number("2".into()),
                        time_stamp: NOW,
                        status: ReadStatus::Deleted,
                    },
                ),
                "ReadReplyReq",
            ),
        ] {
            let tree = read_tree(&xml).unwrap();
            let header = tree.children.iter().find(|c| is_env(c, "Header")).unwrap();
            assert_eq!(header.text_of("TransactionID").as_deref(), Some("tx <&> 7"));
            let body = tree.children.iter().find(|c| is_env(c, "Body")).unwrap();
            assert_eq!((body.children[0].name.as_str(), body.children[0].ns.as_deref()), (op, Some(h.namespace.uri())));
        }
        let xml = write_deliver_req(&h, &deliver_req());
        let tree = read_tree(&xml).unwrap();
        let op = &tree.children.iter().find(|c| is_env(c, "Body")).unwrap().children[0];
        assert_eq!(op.text_of("Subject").as_deref(), Some("Tom & Jerry <3"));
        assert_eq!(op.text_of("TimeStamp").as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(recipients(op), deliver_req().recipients);
        assert_eq!(op.child("Sender").and_then(address_in), Some(deliver_req().sender));
    }

    fn fault_of(body: &Node) -> Fault {
        fault(body.children.iter().find(|c| is_env(c, "Fault")).unwrap()).unwrap()
    }

    /// lxml, an independent XML parser, reads what the relay writes: the namespaces and names
    /// of the envelope, the header and the operation's children.
    #[test]
    fn an_independent_parser_reads_the_written_messages() {
        let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python3");
        let has_lxml =
            std::process::Command::new(&python).args(["-c", "import lxml"]).output().is_ok_and(|o| o.status.success());
        if !has_lxml {
            eprintln!("PEER MISSING: lxml (pip install lxml)");
            return;
        }
        let h = header();
        let messages = [
            ("SubmitRsp", write_submit_rsp(&h, &Status::new(StatusCode::SUCCESS), Some("msg-1"))),
            ("RSErrorRsp", write_rs_error_rsp(&h, &Status::new(StatusCode::VALIDATION_ERROR))),
            ("DeliverReq", write_deliver_req(&h, &deliver_req())),
            ("DeliveryReportReq", write_delivery_report_req(&h, &delivery_report_req())),
        ];
        let script = r#"
import sys
from lxml import etree
ENV = '{http://schemas.xmlsoap.org/soap/envelope/}'
root = etree.parse(sys.argv[1]).getroot()
assert root.tag == ENV + 'Envelope', root.tag
tid = root.find(ENV + 'Header')[0]
print('tid=' + tid.tag + '=' + tid.text)
op = root.find(ENV + 'Body')[0]
print('op=' + op.tag)
print('children=' + ','.join(etree.QName(c).localname + ('' if etree.QName(c).namespace == etree.QName(op).namespace else '!') for c in op))
for e in op.iter():
    if e.text and e.text.strip():
        print('text:' + etree.QName(e).localname + '=' + e.text)
"#;
        let ns = h.namespace.uri();
        for (op, xml) in messages {
            let path = std::env::temp_dir().join(format!("tern-mm7-{op}-{}.xml", std::process::id()));
            std::fs::write(&path, &xml).unwrap();
            let out = std::process::Command::new(&python).arg("-c").arg(script).arg(&path).output().unwrap();
            let _ = std::fs::remove_file(&path);
            assert!(out.status.success(), "{op}: {}", String::from_utf8_lossy(&out.stderr));
            let out = String::from_utf8(out.stdout).unwrap();
            let children = match op {
                "SubmitRsp" => "MM7Version,Status,MessageID",
                "RSErrorRsp" => "MM7Version,Status",
                "DeliverReq" => {
                    "MM7Version,MMSRelayServerID,LinkedID,Sender,Recipients,TimeStamp,Priority,Subject,Content"
                }
                _ => "MM7Version,MessageID,Recipient,Sender,Date,MMStatus,StatusText",
            };
            for line in [
                format!("tid={{{ns}}}TransactionID=tx <&> 7"),
                format!("op={{{ns}}}{op}"),
                format!("children={children}"),
                "text:MM7Version=5.3.0".to_owned(),
            ] {
                assert!(out.lines().any(|l| l == line), "{op}: {line:?} not in:\n{out}");
            }
            match op {
                "RSErrorRsp" => assert!(out.contains("text:StatusCode=4004\n")),
                "DeliverReq" => assert!(out.contains("text:Subject=Tom & Jerry <3\n")),
                "DeliveryReportReq" => assert!(
                    out.contains("text:MMStatus=Retrieved\n") && out.contains("text:Date=2023-11-14T22:13:20Z\n")
                ),
                _ => assert!(out.contains("text:StatusCode=1000\n") && out.contains("text:MessageID=msg-1\n")),
            }
        }
    }
}
