//! WSP multipart bodies (WAP-230 §8.5): entries of content type, part headers and data.
//!
//! Part data is borrowed from the input when decoding, so a large message is not copied.
//! Broken part headers are skipped by their declared length, as real handsets need.

use std::borrow::Cow;

use super::content_type::{ContentType, Params};
use super::headers::{RawHeader, field};
use super::reader::{Reader, ValueForm};
use super::text::plain;
use super::writer;
use crate::error::{ErrorKind, Result};

/// More entries than this in one multipart is refused rather than allocated.
pub const MAX_PARTS: usize = 4096;

/// Content-Disposition of a part: `attachment`, `inline`, `form-data` or another token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentDisposition {
    pub kind: String,
    pub params: Params,
}

/// The headers of one multipart entry, besides its content type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartHeaders {
    /// As sent, usually with angle brackets (`<image1>`), sometimes without.
    pub content_id: Option<String>,
    pub content_location: Option<String>,
    pub content_disposition: Option<ContentDisposition>,
    pub content_transfer_encoding: Option<String>,
    pub other: Vec<RawHeader>,
}

/// One entry of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    pub content_type: ContentType,
    pub headers: PartHeaders,
    pub data: Cow<'a, [u8]>,
}

impl<'a> Part<'a> {
    pub fn new(content_type: ContentType, data: impl Into<Cow<'a, [u8]>>) -> Self {
        Part { content_type, headers: PartHeaders::default(), data: data.into() }
    }

    /// A name for the part: its Name or Filename parameter, else its Content-Location.
    pub fn name(&self) -> Option<&str> {
        let p = &self.content_type.params;
        let disposition = self.headers.content_disposition.as_ref().and_then(|d| d.params.filename.as_deref());
        p.name.as_deref().or(p.filename.as_deref()).or(disposition).or(self.headers.content_location.as_deref())
    }

    /// Whether this part is the one a `start` parameter names, with or without `<>`.
    pub fn matches_start(&self, start: &str) -> bool {
        let bare = |s: &str| s.trim().trim_start_matches('<').trim_end_matches('>').to_owned();
        let start = bare(start);
        self.headers.content_id.as_deref().is_some_and(|id| bare(id) == start)
            || self.headers.content_location.as_deref().is_some_and(|l| l == start)
    }

    /// Copies borrowed data so the part outlives the input.
    pub fn into_owned(self) -> Part<'static> {
        Part { content_type: self.content_type, headers: self.headers, data: Cow::Owned(self.data.into_owned()) }
    }
}

/// Decodes a multipart body. Bytes after the last declared entry are ignored.
pub fn decode<'a>(r: &mut Reader<'a>) -> Result<Vec<Part<'a>>> {
    const F: &str = "multipart";
    let count = r.uintvar("multipart entry count")? as usize;
    if count > MAX_PARTS {
        return Err(r.error(F, ErrorKind::TooMany(MAX_PARTS)));
    }
    let mut parts = Vec::new();
    for _ in 0..count {
        let headers_len = r.uintvar("part headers length")? as usize;
        let data_len = r.uintvar("part data length")? as usize;
        let mut headers = r.sub(headers_len, "part headers")?;
        let data = r.take(data_len, "part data")?;
        let content_type =
            ContentType::decode(&mut headers).unwrap_or_else(|_| ContentType::new("application/octet-stream"));
        let headers = decode_part_headers(&mut headers);
        parts.push(Part { content_type, headers, data: Cow::Borrowed(data) });
    }
    Ok(parts)
}

/// Reads part headers until the region ends or a header cannot be read.
fn decode_part_headers(r: &mut Reader<'_>) -> PartHeaders {
    let mut headers = PartHeaders::default();
    while !r.is_empty() {
        if decode_part_header(r, &mut headers).is_err() {
            break;
        }
    }
    headers
}

fn decode_part_header(r: &mut Reader<'_>, h: &mut PartHeaders) -> Result<()> {
    const F: &str = "part header";
    match r.form(F)? {
        ValueForm::ShortInteger(code) => {
            r.u8(F)?;
            match code {
                field::CONTENT_ID => h.content_id = Some(plain(r.quoted_string("Content-ID")?)),
                field::CONTENT_LOCATION => h.content_location = Some(plain(r.text_string("Content-Location")?)),
                field::CONTENT_DISPOSITION | field::CONTENT_DISPOSITION_14 => {
                    h.content_disposition = Some(decode_disposition(r)?)
                }
                field::AOSP_CONTENT_TRANSFER_ENCODING => {
                    h.content_transfer_encoding = Some(plain(r.text_string("Content-Transfer-Encoding")?))
                }
                _ => h.other.push(RawHeader::decode_well_known(code, r)?),
            }
        }
        ValueForm::Text if r.peek() != Some(0) => {
            let name = plain(r.cstr(F)?);
            match name.to_ascii_lowercase().as_str() {
                "content-id" => h.content_id = Some(plain(r.quoted_string("Content-ID")?)),
                "content-location" => h.content_location = Some(plain(r.text_string("Content-Location")?)),
                "content-transfer-encoding" => {
                    h.content_transfer_encoding = Some(plain(r.text_string("Content-Transfer-Encoding")?))
                }
                _ => h.other.push(RawHeader::decode_application(name, r)?),
            }
        }
        _ => return Err(r.error(F, ErrorKind::Invalid("shift sequence or junk in part headers"))),
    }
    Ok(())
}

fn decode_disposition(r: &mut Reader<'_>) -> Result<ContentDisposition> {
    const F: &str = "Content-Disposition";
    let token = |code: u8| match code {
        0 => "form-data".to_owned(),
        1 => "attachment".to_owned(),
        2 => "inline".to_owned(),
        other => format!("disposition-{other:#x}"),
    };
    match r.form(F)? {
        ValueForm::ShortInteger(code) => {
            r.u8(F)?;
            Ok(ContentDisposition { kind: token(code), params: Params::default() })
        }
        ValueForm::Text => Ok(ContentDisposition { kind: plain(r.text_string(F)?), params: Params::default() }),
        _ => {
            let mut value = r.length_prefixed(F)?;
            let kind = match value.form(F)? {
                ValueForm::ShortInteger(code) => {
                    value.u8(F)?;
                    token(code)
                }
                _ => plain(value.cstr(F)?),
            };
            Ok(ContentDisposition { kind, params: Params::decode(&mut value) })
        }
    }
}

/// Encodes a multipart body.
pub fn encode(parts: &[Part<'_>], out: &mut Vec<u8>) {
    writer::uintvar_len(out, parts.len());
    let mut headers = Vec::new();
    for part in parts {
        headers.clear();
        part.content_type.encode(&mut headers);
        encode_part_headers(&part.headers, &mut headers);
        writer::uintvar_len(out, headers.len());
        writer::uintvar_len(out, part.data.len());
        out.extend_from_slice(&headers);
        out.extend_from_slice(&part.data);
    }
}

fn encode_part_headers(h: &PartHeaders, out: &mut Vec<u8>) {
    if let Some(id) = &h.content_id {
        writer::short_integer(out, field::CONTENT_ID);
        writer::quoted_string(out, id.as_bytes());
    }
    if let Some(location) = &h.content_location {
        writer::short_integer(out, field::CONTENT_LOCATION);
        writer::text_string(out, location.as_bytes());
    }
    if let Some(d) = &h.content_disposition {
        writer::short_integer(out, field::CONTENT_DISPOSITION);
        writer::length_prefixed(out, |v| {
            match d.kind.as_str() {
                "form-data" => writer::short_integer(v, 0),
                "attachment" => writer::short_integer(v, 1),
                "inline" => writer::short_integer(v, 2),
                other => writer::token_text(v, other.as_bytes()),
            }
            d.params.encode(v);
        });
    }
    if let Some(cte) = &h.content_transfer_encoding {
        RawHeader::text("Content-Transfer-Encoding", cte).encode(out);
    }
    for raw in &h.other {
        raw.encode(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_sonim_example_and_round_trips() {
        let mut bytes = vec![0x01, 0x31, 0x05];
        let headers_start = bytes.len();
        bytes.extend_from_slice(b"\x1dapplication/smil\0\x85smil.xml\0\x81\xea");
        bytes.extend_from_slice(b"\xc0\x22<smil>\0\x8esmil.xml\0");
        bytes[1] = (bytes.len() - headers_start) as u8;
        bytes.extend_from_slice(b"<smil");
        let parts = decode(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(parts.len(), 1);
        let p = &parts[0];
        assert_eq!(p.content_type.media_type, "application/smil");
        assert_eq!(p.headers.content_id.as_deref(), Some("<smil>"));
        assert_eq!(p.name(), Some("smil.xml"));
        assert!(p.matches_start("smil"));
        assert!(matches!(p.data, Cow::Borrowed(b"<smil")));
        let mut out = Vec::new();
        encode(&parts, &mut out);
        assert_eq!(decode(&mut Reader::new(&out)).unwrap(), parts);
    }

    #[test]
    fn broken_part_headers_are_skipped_by_length() {
        // Content type text/plain, then a junk octet 0x05 inside the header region.
        let bytes = [0x02, 0x03, 0x02, 0x83, 0x05, 0x00, b'h', b'i', 0x01, 0x01, 0xA0, b'x'];
        let parts = decode(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(&*parts[0].data, b"hi");
        assert_eq!(parts[1].content_type.media_type, "image/png");
    }

    #[test]
    fn declared_lengths_beyond_the_input_are_errors() {
        let err = decode(&mut Reader::new(&[0x01, 0x01, 0x7F, 0x83])).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::LengthOverrun { .. }));
        let err = decode(&mut Reader::new(&[0x8F, 0xFF, 0xFF, 0xFF, 0x7F])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::TooMany(MAX_PARTS));
    }
}
