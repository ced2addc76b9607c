//! A whole MMS PDU on the wire: the header fields, then (after Content-Type) the body.
//!
//! Decoding follows what real handsets and relays send rather than only what the spec allows:
//! headers in any order, unknown and application headers anywhere, a recognised field with an
//! unassigned value, and junk after the last header are all accepted. Encoding follows the
//! spec's order rule: Message-Type, Transaction-ID, MMS-Version first, Content-Type last.

use std::borrow::Cow;
use std::ops::Range;

use super::header::{Header, code};
use super::pdu::Pdu;
use super::values::MessageType;
use crate::error::{Error, ErrorKind, Result};
use crate::wsp::reader::{Reader, ValueForm};
use crate::wsp::text::plain;
use crate::wsp::{ContentType, Part, multipart, writer};

/// More header fields than this in one PDU is refused rather than allocated.
pub const MAX_HEADERS: usize = 1024;

/// A decoded MMS PDU and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    pub pdu: Pdu,
    pub body: Option<Body<'a>>,
}

/// The body of a PDU that carries one, with its Content-Type.
#[derive(Debug, Clone, PartialEq)]
pub struct Body<'a> {
    pub content_type: ContentType,
    pub data: BodyData<'a>,
}

/// A multipart body, or a single entity (a retrieve-conf may carry bare text).
#[derive(Debug, Clone, PartialEq)]
pub enum BodyData<'a> {
    Multipart(Vec<Part<'a>>),
    Single(Cow<'a, [u8]>),
}

impl<'a> Body<'a> {
    pub fn multipart(content_type: ContentType, parts: Vec<Part<'a>>) -> Self {
        Body { content_type, data: BodyData::Multipart(parts) }
    }

    /// The parts of a multipart body; empty for a single entity.
    pub fn parts(&self) -> &[Part<'a>] {
        match &self.data {
            BodyData::Multipart(parts) => parts,
            BodyData::Single(_) => &[],
        }
    }

    /// Appends the Content-Type field and the body: the end of a PDU, which a relay can store
    /// once and put behind other header fields (a retrieve-conf's, say).
    pub fn encode(&self, out: &mut Vec<u8>) {
        writer::short_integer(out, code::CONTENT_TYPE);
        self.content_type.encode(out);
        match &self.data {
            BodyData::Multipart(parts) => multipart::encode(parts, out),
            BodyData::Single(bytes) => out.extend_from_slice(bytes),
        }
    }

    /// Copies borrowed data so the body outlives the input.
    pub fn into_owned(self) -> Body<'static> {
        let data = match self.data {
            BodyData::Multipart(parts) => BodyData::Multipart(parts.into_iter().map(Part::into_owned).collect()),
            BodyData::Single(bytes) => BodyData::Single(Cow::Owned(bytes.into_owned())),
        };
        Body { content_type: self.content_type, data }
    }
}

impl<'a> Message<'a> {
    pub fn new(pdu: impl Into<Pdu>) -> Self {
        Message { pdu: pdu.into(), body: None }
    }

    pub fn with_body(pdu: impl Into<Pdu>, body: Body<'a>) -> Self {
        Message { pdu: pdu.into(), body: Some(body) }
    }

    /// Decodes a PDU. Part bodies borrow from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Message<'a>> {
        Message::decode_with_body_span(bytes).map(|(message, _)| message)
    }

    /// Decodes a PDU like [`Message::decode`], and says where its Content-Type field and body
    /// lie in `bytes` (what [`Body::encode`] would write, but as received, without whatever
    /// follows the last part): what a relay stores as it came and puts behind other fields.
    pub fn decode_with_body_span(bytes: &'a [u8]) -> Result<(Message<'a>, Option<Range<usize>>)> {
        let Some(message_type) = find_message_type(bytes) else {
            return Err(Error { offset: 0, field: "X-Mms-Message-Type", kind: ErrorKind::Invalid("no message type") });
        };
        // The delete confirmations read three fields in their Status-count form.
        let indexed = matches!(message_type, MessageType::DELETE_CONF | MessageType::MBOX_DELETE_CONF);
        let mut r = Reader::new(bytes);
        let mut headers = Vec::with_capacity(16);
        let mut seen_type = false;
        let mut body = None;
        let mut span = None;
        while let Some(b) = r.peek() {
            if headers.len() >= MAX_HEADERS {
                return Err(r.error("headers", ErrorKind::TooMany(MAX_HEADERS)));
            }
            match r.form("header")? {
                ValueForm::ShortInteger(code::MESSAGE_TYPE) if !seen_type => {
                    r.take(2, "X-Mms-Message-Type")?;
                    seen_type = true;
                }
                ValueForm::ShortInteger(code::CONTENT_TYPE) => {
                    let start = r.offset();
                    r.u8("Content-Type")?;
                    body = Some(decode_body(&mut r)?);
                    span = Some(start..r.offset());
                    break;
                }
                ValueForm::ShortInteger(code) => {
                    r.u8("header")?;
                    headers.push(Header::decode(code, &mut r, indexed)?);
                }
                ValueForm::Text if b >= 0x20 => {
                    let name = plain(r.cstr("application header name")?);
                    let value = plain(r.text_string("application header value")?);
                    headers.push(Header::Application { name, value });
                }
                // A control octet cannot start a header: what follows is trailing junk.
                _ => break,
            }
        }
        let pdu = Pdu::from_headers(message_type, headers).ok_or(Error {
            offset: 0,
            field: "X-Mms-Message-Type",
            kind: ErrorKind::Unexpected(message_type.0),
        })?;
        Ok((Message { pdu, body }, span))
    }

    /// Encodes the PDU in the spec's field order.
    pub fn encode(&self) -> Vec<u8> {
        let body_len = self.body.as_ref().map_or(0, |b| match &b.data {
            BodyData::Multipart(parts) => parts.iter().map(|p| p.data.len() + 64).sum(),
            BodyData::Single(bytes) => bytes.len(),
        });
        let mut out = Vec::with_capacity(256 + body_len);
        writer::short_integer(&mut out, code::MESSAGE_TYPE);
        out.push(self.pdu.message_type().0);
        for header in self.pdu.headers() {
            header.encode(&mut out);
        }
        if let Some(body) = &self.body {
            body.encode(&mut out);
        }
        out
    }

    /// Copies borrowed data so the message outlives the input.
    pub fn into_owned(self) -> Message<'static> {
        Message { pdu: self.pdu, body: self.body.map(Body::into_owned) }
    }
}

/// The first X-Mms-Message-Type, wherever it stands among the headers: some relays put other
/// fields before it, and the type decides how the others read.
fn find_message_type(bytes: &[u8]) -> Option<MessageType> {
    if let [0x8C, t, ..] = bytes {
        return Some(MessageType(*t));
    }
    let mut r = Reader::new(bytes);
    loop {
        match r.form("header").ok()? {
            ValueForm::ShortInteger(code::MESSAGE_TYPE) => return r.take(2, "header").ok().map(|t| MessageType(t[1])),
            ValueForm::ShortInteger(code::CONTENT_TYPE) => return None,
            ValueForm::ShortInteger(_) => {
                r.u8("header").ok()?;
                r.skip_value("header").ok()?;
            }
            ValueForm::Text if r.peek()? >= 0x20 => {
                r.cstr("header").ok()?;
                r.text_string("header").ok()?;
            }
            _ => return None,
        }
    }
}

fn decode_body<'a>(r: &mut Reader<'a>) -> Result<Body<'a>> {
    let content_type = ContentType::decode(r)?;
    let data = if content_type.is_multipart() {
        BodyData::Multipart(multipart::decode(r)?)
    } else {
        BodyData::Single(Cow::Borrowed(r.rest()))
    };
    Ok(Body { content_type, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mms::{Address, SendReq, Version};

    fn send_req() -> Vec<u8> {
        let req = SendReq {
            transaction_id: Some("t1".into()),
            mms_version: Some(Version::V1_2),
            to: vec![Address::phone("+15550100002")],
            ..SendReq::default()
        };
        let parts = vec![
            Part::new(ContentType::new("text/plain"), &b"hello"[..]),
            Part::new(ContentType::new("image/png"), &[0x89, b'P', b'N', b'G'][..]),
        ];
        Message::with_body(req, Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), parts))
            .encode()
    }

    #[test]
    fn the_body_span_is_the_content_type_field_and_the_body_as_received() {
        let mut bytes = send_req();
        let (message, span) = Message::decode_with_body_span(&bytes).unwrap();
        let span = span.unwrap();
        let mut encoded = Vec::new();
        message.body.as_ref().unwrap().encode(&mut encoded);
        assert_eq!(&bytes[span.clone()], encoded.as_slice());
        assert_eq!(span.end, bytes.len());
        // What follows the last part is not the body's.
        bytes.extend_from_slice(b"junk");
        let (_, again) = Message::decode_with_body_span(&bytes).unwrap();
        assert_eq!(again, Some(span));
    }

    #[test]
    fn a_pdu_without_a_body_has_no_span() {
        let bytes = Message::new(SendReq { transaction_id: Some("t2".into()), ..SendReq::default() }).encode();
        assert_eq!(Message::decode_with_body_span(&bytes).unwrap().1, None);
    }
}
