//! WSP header fields (WAP-230 §8.4.2.6, Table 39) as they appear in push PDUs and multipart
//! entries: the well-known field names, and a raw header that keeps any field we do not type.

use super::reader::Reader;
use super::text::plain;
use super::writer;
use crate::error::Result;

const NAMES: &[&str] = &[
    "Accept",
    "Accept-Charset",
    "Accept-Encoding",
    "Accept-Language",
    "Accept-Ranges",
    "Age",
    "Allow",
    "Authorization",
    "Cache-Control",
    "Connection",
    "Content-Base",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Location",
    "Content-MD5",
    "Content-Range",
    "Content-Type",
    "Date",
    "Etag",
    "Expires",
    "From",
    "Host",
    "If-Modified-Since",
    "If-Match",
    "If-None-Match",
    "If-Range",
    "If-Unmodified-Since",
    "Location",
    "Last-Modified",
    "Max-Forwards",
    "Pragma",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Public",
    "Range",
    "Referer",
    "Retry-After",
    "Server",
    "Transfer-Encoding",
    "Upgrade",
    "User-Agent",
    "Vary",
    "Via",
    "Warning",
    "WWW-Authenticate",
    "Content-Disposition",
    "X-Wap-Application-Id",
    "X-Wap-Content-URI",
    "X-Wap-Initiator-URI",
    "Accept-Application",
    "Bearer-Indication",
    "Push-Flag",
    "Profile",
    "Profile-Diff",
    "Profile-Warning",
    "Expect",
    "TE",
    "Trailer",
    "Accept-Charset",
    "Accept-Encoding",
    "Cache-Control",
    "Content-Range",
    "X-Wap-Tod",
    "Content-ID",
    "Set-Cookie",
    "Cookie",
    "Encoding-Version",
    "Profile-Warning",
    "Content-Disposition",
    "X-WAP-Security",
    "Cache-Control",
];

/// Well-known field numbers used by the codecs.
pub mod field {
    pub const CONTENT_LENGTH: u8 = 0x0D;
    pub const CONTENT_LOCATION: u8 = 0x0E;
    pub const CONTENT_DISPOSITION: u8 = 0x2E;
    pub const APPLICATION_ID: u8 = 0x2F;
    pub const PUSH_FLAG: u8 = 0x34;
    pub const CONTENT_ID: u8 = 0x40;
    pub const CONTENT_DISPOSITION_14: u8 = 0x45;
    /// Not in WAP-230; Android writes Content-Transfer-Encoding with it.
    pub const AOSP_CONTENT_TRANSFER_ENCODING: u8 = 0x48;
}

/// A header field name: a well-known number or a textual name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderName {
    WellKnown(u8),
    Text(String),
}

impl std::fmt::Display for HeaderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderName::WellKnown(code) => match NAMES.get(usize::from(*code)) {
                Some(name) => f.write_str(name),
                None => write!(f, "Header-{code:#04x}"),
            },
            HeaderName::Text(name) => f.write_str(name),
        }
    }
}

/// A header kept as its name and its encoded value, so that it survives a round trip.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawHeader {
    pub name: HeaderName,
    /// The value exactly as encoded (for a textual name: the text and its NUL).
    pub value: Vec<u8>,
}

impl std::fmt::Display for RawHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.value_text())
    }
}

impl RawHeader {
    /// A textual header with a text value.
    pub fn text(name: impl Into<String>, value: &str) -> Self {
        let mut encoded = Vec::new();
        writer::text_string(&mut encoded, value.as_bytes());
        RawHeader { name: HeaderName::Text(name.into()), value: encoded }
    }

    /// The value as text when it is text, otherwise as hex.
    pub fn value_text(&self) -> String {
        match self.value.split_last() {
            Some((0, text)) if text.iter().all(|b| *b >= 0x20 || *b == b'\t') => {
                plain(text.strip_prefix(&[0x7F]).unwrap_or(text))
            }
            _ => self.value.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match &self.name {
            HeaderName::WellKnown(code) => writer::short_integer(out, *code),
            HeaderName::Text(name) => writer::token_text(out, name.as_bytes()),
        }
        out.extend_from_slice(&self.value);
    }

    /// Reads the value of a well-known field whose grammar we do not type.
    pub fn decode_well_known(code: u8, r: &mut Reader<'_>) -> Result<Self> {
        let value = r.skip_value("header value")?.to_vec();
        Ok(RawHeader { name: HeaderName::WellKnown(code), value })
    }

    /// Reads the text value of an application header whose name was already read.
    pub fn decode_application(name: String, r: &mut Reader<'_>) -> Result<Self> {
        let start = r.remaining();
        r.text_string("application header")?;
        let consumed = start.len() - r.remaining().len();
        Ok(RawHeader { name: HeaderName::Text(name), value: start[..consumed].to_vec() })
    }
}
