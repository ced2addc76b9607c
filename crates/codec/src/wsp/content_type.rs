//! Content-type values (WAP-230 §8.4.2.24): the well-known media table, the constrained and
//! general forms, and the typed (0x80..) and textual parameters, shared with
//! Content-Disposition.

use super::charset::Charset;
use super::reader::{Reader, ValueForm};
use super::text::plain;
use super::writer;
use crate::error::{ErrorKind, Result};

/// Well-known media types (WAP-230 Appendix A, OMNA registry), by assigned number.
const MEDIA: &[&str] = &[
    "*/*",
    "text/*",
    "text/html",
    "text/plain",
    "text/x-hdml",
    "text/x-ttml",
    "text/x-vCalendar",
    "text/x-vCard",
    "text/vnd.wap.wml",
    "text/vnd.wap.wmlscript",
    "text/vnd.wap.wta-event",
    "multipart/*",
    "multipart/mixed",
    "multipart/form-data",
    "multipart/byteranges",
    "multipart/alternative",
    "application/*",
    "application/java-vm",
    "application/x-www-form-urlencoded",
    "application/x-hdmlc",
    "application/vnd.wap.wmlc",
    "application/vnd.wap.wmlscriptc",
    "application/vnd.wap.wta-eventc",
    "application/vnd.wap.uaprof",
    "application/vnd.wap.wtls-ca-certificate",
    "application/vnd.wap.wtls-user-certificate",
    "application/x-x509-ca-cert",
    "application/x-x509-user-cert",
    "image/*",
    "image/gif",
    "image/jpeg",
    "image/tiff",
    "image/png",
    "image/vnd.wap.wbmp",
    "application/vnd.wap.multipart.*",
    "application/vnd.wap.multipart.mixed",
    "application/vnd.wap.multipart.form-data",
    "application/vnd.wap.multipart.byteranges",
    "application/vnd.wap.multipart.alternative",
    "application/xml",
    "text/xml",
    "application/vnd.wap.wbxml",
    "application/x-x968-cross-cert",
    "application/x-x968-ca-cert",
    "application/x-x968-user-cert",
    "text/vnd.wap.si",
    "application/vnd.wap.sic",
    "text/vnd.wap.sl",
    "application/vnd.wap.slc",
    "text/vnd.wap.co",
    "application/vnd.wap.coc",
    "application/vnd.wap.multipart.related",
    "application/vnd.wap.sia",
    "text/vnd.wap.connectivity-xml",
    "application/vnd.wap.connectivity-wbxml",
    "application/pkcs7-mime",
    "application/vnd.wap.hashed-certificate",
    "application/vnd.wap.signed-certificate",
    "application/vnd.wap.cert-response",
    "application/xhtml+xml",
    "application/wml+xml",
    "text/css",
    "application/vnd.wap.mms-message",
    "application/vnd.wap.rollover-certificate",
    "application/vnd.wap.locc+wbxml",
    "application/vnd.wap.loc+xml",
    "application/vnd.syncml.dm+wbxml",
    "application/vnd.syncml.dm+xml",
    "application/vnd.syncml.notification",
    "application/vnd.wap.xhtml+xml",
    "application/vnd.wv.csp.cir",
    "application/vnd.oma.dd+xml",
    "application/vnd.oma.drm.message",
    "application/vnd.oma.drm.content",
    "application/vnd.oma.drm.rights+xml",
    "application/vnd.oma.drm.rights+wbxml",
    "application/vnd.wv.csp+xml",
    "application/vnd.wv.csp+wbxml",
    "application/vnd.syncml.ds.notification",
    "audio/*",
    "video/*",
    "application/vnd.oma.dd2+xml",
    "application/mikey",
    "application/vnd.oma.dcd",
    "application/vnd.oma.dcdc",
    "text/x-vMessage",
    "application/vnd.omads-email+wbxml",
    "text/x-vBookmark",
    "application/vnd.syncml.dm.notification",
    "application/vnd.oma.drm.dcf",
    "application/octet-stream",
];

/// The name of a well-known media type number.
pub fn media_name(code: u64) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|i| MEDIA.get(i))
        .map_or_else(|| format!("application/x-wsp-media-{code:#x}"), |s| (*s).to_owned())
}

/// The well-known number of a media type spelt as the table spells it, which is the spelling
/// [`media_name`] gives back. Another spelling (media types are case-insensitive) gets no number,
/// so that it is written as text and reads back as it was sent.
pub fn media_code(name: &str) -> Option<u8> {
    MEDIA.iter().position(|m| *m == name).and_then(|i| u8::try_from(i).ok())
}

/// Names of the well-known parameters (WAP-230 Table 38), by token. The integer Type (0x03)
/// is named apart from the multipart/related `type`, which has its own field.
const PARAM_NAMES: &[&str] = &[
    "q",
    "charset",
    "level",
    "type-integer",
    "",
    "name",
    "filename",
    "differences",
    "padding",
    "type",
    "start",
    "start-info",
    "comment",
    "domain",
    "max-age",
    "path",
    "secure",
    "sec",
    "mac",
    "creation-date",
    "modification-date",
    "read-date",
    "size",
    "name",
    "filename",
    "start",
    "start-info",
    "comment",
    "domain",
    "path",
];

/// Parameters of a content type or disposition. The ones MMS relies on are typed; the rest are
/// kept by name as text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params {
    pub charset: Option<Charset>,
    /// `type` of multipart/related: the media type of the start part.
    pub related_type: Option<String>,
    pub start: Option<String>,
    pub name: Option<String>,
    pub filename: Option<String>,
    pub other: Vec<(String, String)>,
}

impl Params {
    pub fn is_empty(&self) -> bool {
        *self == Params::default()
    }

    /// Reads parameters until the reader is empty. A parameter that cannot be read ends the
    /// list: real handsets send broken ones, and the value length bounds the damage.
    pub fn decode(r: &mut Reader<'_>) -> Params {
        let mut params = Params::default();
        while !r.is_empty() {
            if params.decode_one(r).is_err() {
                break;
            }
        }
        params
    }

    fn decode_one(&mut self, r: &mut Reader<'_>) -> Result<()> {
        const F: &str = "parameter";
        if let ValueForm::ShortInteger(token) = r.form(F)? {
            r.u8(F)?;
            match token {
                0x01 => self.charset = Some(charset_value(r)?),
                0x09 => {
                    self.related_type = Some(match r.form(F)? {
                        ValueForm::ShortInteger(code) => {
                            r.u8(F)?;
                            media_name(u64::from(code))
                        }
                        _ => plain(r.text_string(F)?),
                    })
                }
                0x05 | 0x17 => self.name = Some(loose_value(r)?),
                0x06 | 0x18 => self.filename = Some(loose_value(r)?),
                0x0A | 0x19 => self.start = Some(loose_value(r)?),
                _ => {
                    let name = PARAM_NAMES.get(usize::from(token)).copied().unwrap_or_default();
                    let name = if name.is_empty() { format!("param-{token:#x}") } else { name.to_owned() };
                    let value = loose_value(r)?;
                    self.other.push((name, value));
                }
            }
        } else {
            let name = plain(r.cstr(F)?);
            let value = loose_value(r)?;
            match name.to_ascii_lowercase().as_str() {
                "charset" => self.charset = Some(Charset::from_name(&value).unwrap_or(Charset(0))),
                "type" => self.related_type = Some(value),
                "start" => self.start = Some(value),
                "name" => self.name = Some(value),
                "filename" => self.filename = Some(value),
                _ => self.other.push((name, value)),
            }
        }
        Ok(())
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Some(cs) = self.charset {
            writer::short_integer(out, 0x01);
            writer::integer(out, u64::from(cs.0));
        }
        if let Some(v) = &self.related_type {
            writer::short_integer(out, 0x09);
            writer::text_string(out, v.as_bytes());
        }
        // These are read as a Quoted-string when they start with `"`, so such a value is written
        // as one: the quote that opens it is the form's, the one after it the value's.
        let loose = [(0x0A, &self.start), (0x05, &self.name), (0x06, &self.filename)];
        for (token, value) in loose {
            if let Some(v) = value {
                writer::short_integer(out, token);
                if v.starts_with('"') {
                    writer::quoted_string(out, v.as_bytes());
                } else {
                    writer::text_string(out, v.as_bytes());
                }
            }
        }
        for (name, value) in &self.other {
            writer::token_text(out, name.as_bytes());
            write_text_value(out, value);
        }
    }
}

fn charset_value(r: &mut Reader<'_>) -> Result<Charset> {
    const F: &str = "charset";
    match r.form(F)? {
        ValueForm::ShortInteger(0) => {
            // Any-charset (0x80): only meaningful in Accept-Charset; read as "unknown".
            r.u8(F)?;
            Ok(Charset(0))
        }
        ValueForm::Text => Ok(Charset::from_name(&plain(r.cstr(F)?)).unwrap_or(Charset(0))),
        _ => Ok(Charset(u32::try_from(r.integer(F)?).unwrap_or(0))),
    }
}

/// A parameter value of any encoding, as text: integers in decimal, text as text.
fn loose_value(r: &mut Reader<'_>) -> Result<String> {
    const F: &str = "parameter value";
    Ok(match r.form(F)? {
        ValueForm::ShortInteger(v) => {
            r.u8(F)?;
            v.to_string()
        }
        ValueForm::ShortLength(_) => r.long_integer(F)?.to_string(),
        ValueForm::LengthQuote => return Err(r.error(F, ErrorKind::Invalid("no parameter value takes this form"))),
        ValueForm::Text if r.peek() == Some(0x22) => plain(r.quoted_string(F)?),
        ValueForm::Text => plain(r.text_string(F)?),
    })
}

/// Text-value: No-value (empty), Token-text, or a Quoted-string when the text needs it.
fn write_text_value(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    match bytes.first() {
        Some(b) if *b >= 0x20 && *b < 0x7F && *b != 0x22 => writer::token_text(out, bytes),
        Some(_) => writer::quoted_string(out, bytes),
        None => out.push(0),
    }
}

/// A content type: the media type and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContentType {
    pub media_type: String,
    pub params: Params,
}

impl ContentType {
    pub fn new(media_type: impl Into<String>) -> Self {
        ContentType { media_type: media_type.into(), params: Params::default() }
    }

    pub fn with_charset(mut self, charset: Charset) -> Self {
        self.params.charset = Some(charset);
        self
    }

    /// Whether the body is a WSP multipart (application/vnd.wap.multipart.* or multipart/*).
    pub fn is_multipart(&self) -> bool {
        let m = self.media_type.to_ascii_lowercase();
        m.starts_with("application/vnd.wap.multipart.") || m.starts_with("multipart/")
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<ContentType> {
        const F: &str = "content type";
        match r.form(F)? {
            ValueForm::ShortInteger(code) => {
                r.u8(F)?;
                Ok(ContentType::new(media_name(u64::from(code))))
            }
            ValueForm::Text => Ok(ContentType::new(plain(r.text_string(F)?))),
            ValueForm::ShortLength(_) | ValueForm::LengthQuote => {
                let mut value = r.length_prefixed(F)?;
                let media_type = match value.form(F)? {
                    ValueForm::Text => plain(value.text_string(F)?),
                    _ => media_name(value.integer(F)?),
                };
                Ok(ContentType { media_type, params: Params::decode(&mut value) })
            }
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let code = media_code(&self.media_type);
        if self.params.is_empty() {
            match code {
                Some(code) => writer::short_integer(out, code),
                None => writer::text_string(out, self.media_type.as_bytes()),
            }
            return;
        }
        writer::length_prefixed(out, |v| {
            match code {
                Some(code) => writer::short_integer(v, code),
                None => writer::text_string(v, self.media_type.as_bytes()),
            }
            self.params.encode(v);
        });
    }
}

impl std::fmt::Display for ContentType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.media_type)?;
        let p = &self.params;
        if let Some(cs) = p.charset {
            write!(f, "; charset={cs}")?;
        }
        let named = [("type", &p.related_type), ("start", &p.start), ("name", &p.name), ("filename", &p.filename)];
        for (name, value) in named {
            if let Some(v) = value {
                write!(f, "; {name}=\"{v}\"")?;
            }
        }
        for (name, value) in &p.other {
            write!(f, "; {name}=\"{value}\"")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> ContentType {
        let mut r = Reader::new(bytes);
        let ct = ContentType::decode(&mut r).unwrap();
        assert!(r.is_empty(), "left over: {:?}", r.remaining());
        ct
    }

    #[test]
    fn constrained_forms() {
        assert_eq!(decode(&[0xA3]).media_type, "application/vnd.wap.multipart.mixed");
        assert_eq!(decode(&[0xBE]).media_type, "application/vnd.wap.mms-message");
        assert_eq!(decode(b"application/smil\0").media_type, "application/smil");
    }

    #[test]
    fn general_form_with_related_parameters() {
        let mut bytes = vec![0x1B, 0xB3, 0x89];
        bytes.extend_from_slice(b"application/smil\0\x8a<0000>\0");
        let ct = decode(&bytes);
        assert_eq!(ct.media_type, "application/vnd.wap.multipart.related");
        assert_eq!(ct.params.related_type.as_deref(), Some("application/smil"));
        assert_eq!(ct.params.start.as_deref(), Some("<0000>"));
        assert!(ct.is_multipart());
    }

    #[test]
    fn textual_parameters_and_charset() {
        let value = b"text/plain\0\x81\xeaName\0hello.txt\0Foo\0\"bar\0";
        let mut bytes = Vec::new();
        writer::value_length(&mut bytes, value.len());
        bytes.extend_from_slice(value);
        let ct = decode(&bytes);
        assert_eq!(ct.params.charset, Some(Charset::UTF_8));
        assert_eq!(ct.params.name.as_deref(), Some("hello.txt"));
        assert_eq!(ct.params.other, vec![("Foo".to_owned(), "bar".to_owned())]);
    }

    /// Found by the decode_push fuzz target: a textual media type that matches a well-known
    /// one in all but case was written as the number, which reads back in the table's spelling.
    #[test]
    fn a_well_known_type_in_another_case_reads_back_as_sent() {
        for sent in ["aPplication/vnd.wap.mms-message", "IMAGE/JPEG", "text/x-vmessage"] {
            let mut bytes = sent.as_bytes().to_vec();
            bytes.push(0);
            let ct = decode(&bytes);
            assert_eq!(ct.media_type, sent);
            let mut out = Vec::new();
            ct.encode(&mut out);
            assert_eq!(decode(&out), ct, "{sent}");
        }
        let mut out = Vec::new();
        ContentType::new("text/x-vMessage").encode(&mut out);
        assert_eq!(out, [0x80 | 0x55]);
    }

    /// Found by the decode_push fuzz target: Name, Filename and Start values are read as a
    /// Quoted-string when they start with `"`, so a value that itself starts with `"` was written
    /// as a Text-string that lost its first character on the way back.
    #[test]
    fn typed_parameter_values_that_start_with_a_quote_read_back() {
        let ct = decode(&[0x0C, 0x00, 0x85, 0x22, 0x22, 0x00, 0x70, 0x2F, 0x2F, 0x2F, 0x00, 0x00, 0x00]);
        assert_eq!(ct.params.name.as_deref(), Some("\""));
        let mut ct = ContentType::new("application/vnd.wap.multipart.related");
        ct.params.name = Some("\"".into());
        ct.params.filename = Some("\"a.txt\"".into());
        ct.params.start = Some("\"<smil>".into());
        let mut out = Vec::new();
        ct.encode(&mut out);
        assert_eq!(decode(&out), ct);
    }

    #[test]
    fn round_trips() {
        let mut ct = ContentType::new("application/vnd.wap.multipart.related");
        ct.params.related_type = Some("application/smil".into());
        ct.params.start = Some("<smil>".into());
        ct.params.other.push(("x-empty".into(), String::new()));
        ct.params.other.push(("x-quoted".into(), "\"q".into()));
        for ct in [
            ct,
            ContentType::new("image/jpeg"),
            ContentType::new("audio/amr"),
            ContentType::new("text/plain").with_charset(Charset::UTF_8),
        ] {
            let mut out = Vec::new();
            ct.encode(&mut out);
            assert_eq!(decode(&out), ct);
        }
    }
}
