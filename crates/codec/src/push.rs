//! The connectionless WSP push PDU (WAP-230 §8.2.4.1) that carries an `m-notification.ind` to
//! port 2948: TID, PDU type, header length, content type, push headers, then the content.

use std::borrow::Cow;

use crate::error::{ErrorKind, Result};
use crate::wsp::headers::field;
use crate::wsp::reader::{Reader, ValueForm};
use crate::wsp::text::plain;
use crate::wsp::{ContentType, RawHeader, writer};

/// PDU type of a WSP Push (0x07, Confirmed Push, exists only in connection mode).
pub const PUSH: u8 = 0x06;

/// X-Wap-Application-Id: a registered application number or an application URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplicationId {
    Code(u64),
    Uri(String),
}

impl ApplicationId {
    /// `x-wap-application:mms.ua`, the MMS user agent.
    pub const MMS_UA: ApplicationId = ApplicationId::Code(0x04);
}

impl std::fmt::Display for ApplicationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            ApplicationId::Code(0x00) => "x-wap-application:*",
            ApplicationId::Code(0x01) => "x-wap-application:push.sia",
            ApplicationId::Code(0x02) => "x-wap-application:wml.ua",
            ApplicationId::Code(0x03) => "x-wap-application:wta.ua",
            ApplicationId::Code(0x04) => "x-wap-application:mms.ua",
            ApplicationId::Code(0x05) => "x-wap-application:push.syncml",
            ApplicationId::Code(0x06) => "x-wap-application:loc.ua",
            ApplicationId::Code(0x07) => "x-wap-application:syncml.dm",
            ApplicationId::Code(0x08) => "x-wap-application:drm.ua",
            ApplicationId::Code(0x09) => "x-wap-application:emn.ua",
            ApplicationId::Code(0x0A) => "x-wap-application:wv.ua",
            ApplicationId::Code(code) => return write!(f, "application-id {code:#x}"),
            ApplicationId::Uri(uri) => uri,
        };
        f.write_str(name)
    }
}

/// A connectionless WSP push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push<'a> {
    pub transaction_id: u8,
    pub content_type: ContentType,
    pub application_id: Option<ApplicationId>,
    pub content_length: Option<u64>,
    /// Push-Flag bits: 1 initiator URI authenticated, 2 content trusted, 4 last push.
    pub push_flag: Option<u8>,
    pub other: Vec<RawHeader>,
    pub body: Cow<'a, [u8]>,
}

impl<'a> Push<'a> {
    /// A push of an MMS PDU to the MMS user agent, as relays send it: content type as the
    /// well-known 0xBE (accepted by every handset), X-Wap-Application-Id 0x84.
    pub fn mms(transaction_id: u8, pdu: impl Into<Cow<'a, [u8]>>) -> Self {
        Push {
            transaction_id,
            content_type: ContentType::new("application/vnd.wap.mms-message"),
            application_id: Some(ApplicationId::MMS_UA),
            content_length: None,
            push_flag: None,
            other: Vec::new(),
            body: pdu.into(),
        }
    }

    pub fn decode(bytes: &'a [u8]) -> Result<Push<'a>> {
        let mut r = Reader::new(bytes);
        let transaction_id = r.u8("TID")?;
        let pdu_type = r.u8("PDU type")?;
        if pdu_type != PUSH {
            return Err(crate::Error { offset: 1, field: "PDU type", kind: ErrorKind::Unexpected(pdu_type) });
        }
        let headers_len = r.uintvar_len("push headers length")?;
        let mut headers = r.sub(headers_len, "push headers")?;
        let content_type = ContentType::decode(&mut headers)?;
        let mut push = Push {
            transaction_id,
            content_type,
            application_id: None,
            content_length: None,
            push_flag: None,
            other: Vec::new(),
            body: Cow::Borrowed(r.rest()),
        };
        while !headers.is_empty() {
            push.decode_header(&mut headers)?;
        }
        Ok(push)
    }

    fn decode_header(&mut self, r: &mut Reader<'_>) -> Result<()> {
        const F: &str = "push header";
        match r.form(F)? {
            ValueForm::ShortInteger(code) => {
                r.u8(F)?;
                match code {
                    field::APPLICATION_ID => {
                        self.application_id = Some(match r.form("X-Wap-Application-Id")? {
                            ValueForm::Text => ApplicationId::Uri(plain(r.text_string("X-Wap-Application-Id")?)),
                            _ => ApplicationId::Code(r.integer("X-Wap-Application-Id")?),
                        })
                    }
                    field::CONTENT_LENGTH => self.content_length = Some(r.integer("Content-Length")?),
                    field::PUSH_FLAG => self.push_flag = Some(u8::try_from(r.integer("Push-Flag")?).unwrap_or(u8::MAX)),
                    _ => self.other.push(RawHeader::decode_well_known(code, r)?),
                }
            }
            ValueForm::Text if r.peek() != Some(0) => {
                let name = plain(r.cstr(F)?);
                self.other.push(RawHeader::decode_application(name, r)?);
            }
            _ => return Err(r.error(F, ErrorKind::Invalid("shift sequence or junk in push headers"))),
        }
        Ok(())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut headers = Vec::new();
        self.content_type.encode(&mut headers);
        match &self.application_id {
            Some(ApplicationId::Code(code)) => {
                writer::short_integer(&mut headers, field::APPLICATION_ID);
                writer::integer(&mut headers, *code);
            }
            Some(ApplicationId::Uri(uri)) => {
                writer::short_integer(&mut headers, field::APPLICATION_ID);
                writer::text_string(&mut headers, uri.as_bytes());
            }
            None => {}
        }
        if let Some(len) = self.content_length {
            writer::short_integer(&mut headers, field::CONTENT_LENGTH);
            writer::integer(&mut headers, len);
        }
        if let Some(flag) = self.push_flag {
            writer::short_integer(&mut headers, field::PUSH_FLAG);
            writer::integer(&mut headers, u64::from(flag));
        }
        for raw in &self.other {
            raw.encode(&mut headers);
        }
        let mut out = Vec::with_capacity(headers.len() + self.body.len() + 8);
        out.push(self.transaction_id);
        out.push(PUSH);
        writer::uintvar_len(&mut out, headers.len());
        out.extend_from_slice(&headers);
        out.extend_from_slice(&self.body);
        out
    }

    /// Whether the content is an MMS PDU.
    pub fn is_mms(&self) -> bool {
        self.content_type.media_type.eq_ignore_ascii_case("application/vnd.wap.mms-message")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_short_and_text_content_type_forms() {
        let short = [0x01, 0x06, 0x05, 0xBE, 0xAF, 0x84, 0xC3, 0x95, 0x8C, 0x82];
        let push = Push::decode(&short).unwrap();
        assert!(push.is_mms());
        assert_eq!(push.application_id, Some(ApplicationId::MMS_UA));
        assert_eq!(push.push_flag, None);
        assert_eq!(push.other[0].to_string(), "Encoding-Version: 95");
        assert_eq!(&*push.body, &[0x8C, 0x82]);

        let mut text = vec![0xC5, 0x06, 0x00];
        text.extend_from_slice(b"application/vnd.wap.mms-message\0\xaf\x84\x8d\x90\xb4\x84");
        text[2] = (text.len() - 3) as u8;
        text.extend_from_slice(&[0x8C, 0x82]);
        let push = Push::decode(&text).unwrap();
        assert!(push.is_mms());
        assert_eq!((push.content_length, push.push_flag), (Some(16), Some(4)));
    }

    #[test]
    fn round_trips_and_writes_0xbe() {
        let push = Push::mms(7, &[0x8C, 0x82, 0x98, b'x', 0][..]);
        let bytes = push.encode();
        assert_eq!(&bytes[..6], &[0x07, 0x06, 0x03, 0xBE, 0xAF, 0x84]);
        assert_eq!(Push::decode(&bytes).unwrap(), push);
    }

    #[test]
    fn rejects_what_is_not_a_connectionless_push() {
        let err = Push::decode(&[0x00, 0x07, 0x07, 0xBE, 0xAF, 0x84, 0x8D, 0xF2, 0xB4, 0x81, 0x8C]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unexpected(0x07));
        assert!(Push::decode(&[0x00, 0x06, 0x20, 0xBE]).is_err());
    }
}
