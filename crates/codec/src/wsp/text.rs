//! Text values: plain WSP text and the MMS Encoded-string-value (OMA-MMS-ENC §7.2.9), which
//! may name a charset. Text is kept as Unicode together with the charset it was sent in, so
//! re-encoding writes the same charset whenever the text still fits it.

use super::charset::Charset;
use super::reader::{Reader, ValueForm};
use super::writer;
use crate::error::Result;

/// Text whose charset is not signalled: UTF-8 when valid, otherwise read octet for octet.
pub fn plain(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => Charset::ISO_8859_1.decode(bytes),
    }
}

/// Reads a Text-string as Unicode.
pub fn read_text(r: &mut Reader<'_>, field: &'static str) -> Result<String> {
    r.text_string(field).map(plain)
}

/// Writes a Text-string.
pub fn write_text(out: &mut Vec<u8>, text: &str) {
    writer::text_string(out, text.as_bytes());
}

/// An Encoded-string-value: Unicode text and the charset it is (to be) sent in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct EncodedString {
    /// `None` for the plain Text-string form: us-ascii by the spec; read (and written) as UTF-8
    /// so that handsets sending raw UTF-8 round-trip. Use [`EncodedString::auto`] to label it.
    pub charset: Option<Charset>,
    pub text: String,
}

impl EncodedString {
    pub fn new(text: impl Into<String>) -> Self {
        EncodedString { charset: None, text: text.into() }
    }

    /// Text that is sent as UTF-8 when it is not plain ASCII, as OMA-MMS-CONF asks.
    pub fn auto(text: impl Into<String>) -> Self {
        let text = text.into();
        let charset = (!text.is_ascii()).then_some(Charset::UTF_8);
        EncodedString { charset, text }
    }

    pub fn decode(r: &mut Reader<'_>, field: &'static str) -> Result<Self> {
        match r.form(field)? {
            ValueForm::ShortLength(_) | ValueForm::LengthQuote => {
                let mut value = r.length_prefixed(field)?;
                let charset = Charset(u32::try_from(value.integer(field)?).unwrap_or(0));
                let bytes = value.rest();
                let bytes = bytes.strip_prefix(&[0x7F]).unwrap_or(bytes);
                // Wide charsets may hold NULs, so the value length bounds the text, not a NUL.
                let bytes = if charset.is_wide() {
                    bytes.strip_suffix(&[0, 0]).or_else(|| bytes.strip_suffix(&[0])).unwrap_or(bytes)
                } else {
                    bytes.split(|b| *b == 0).next().unwrap_or(bytes)
                };
                let text = charset.decode(bytes);
                // Keep the charset only if the text can be written back in it (an unknown
                // MIBenum, or octets invalid in the charset, cannot): the value then says what
                // an encoder will send.
                let charset =
                    if charset == Charset::UTF_8 || charset.encode(&text).is_some() { charset } else { Charset::UTF_8 };
                Ok(EncodedString { charset: Some(charset), text })
            }
            ValueForm::Text | ValueForm::ShortInteger(_) => {
                Ok(EncodedString { charset: None, text: read_text(r, field)? })
            }
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let encoded = match self.charset {
            None => None,
            Some(cs) => match cs.encode(&self.text) {
                Some(bytes) => Some((cs, bytes)),
                None => Some((Charset::UTF_8, self.text.as_bytes().to_vec())),
            },
        };
        match encoded {
            None => write_text(out, &self.text),
            Some((cs, bytes)) => writer::length_prefixed(out, |v| {
                writer::integer(v, u64::from(cs.0));
                writer::text_string(v, &bytes);
                if cs.is_wide() {
                    v.push(0);
                }
            }),
        }
    }
}

impl std::fmt::Display for EncodedString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &EncodedString) -> EncodedString {
        let mut out = Vec::new();
        s.encode(&mut out);
        let mut r = Reader::new(&out);
        let back = EncodedString::decode(&mut r, "t").unwrap();
        assert!(r.is_empty());
        back
    }

    #[test]
    fn decodes_both_forms() {
        let mut r = Reader::new(b"\x0a\xeaPicture3\x00");
        let s = EncodedString::decode(&mut r, "t").unwrap();
        assert_eq!((s.charset, s.text.as_str()), (Some(Charset::UTF_8), "Picture3"));
        let s = EncodedString::decode(&mut Reader::new(&[0x00]), "t").unwrap();
        assert_eq!(s.text, "");
        let s = EncodedString::decode(&mut Reader::new(&[0x02, 0xEA, 0x00]), "t").unwrap();
        assert_eq!(s.text, "");
        let s = EncodedString::decode(&mut Reader::new(&[0x05, 0xEA, 0x7F, 0xD0, 0x9F, 0x00]), "t").unwrap();
        assert_eq!(s.text, "П");
    }

    #[test]
    fn round_trips_in_the_charset_it_came_in() {
        for s in [
            EncodedString::new("plain"),
            EncodedString::auto("Привет"),
            EncodedString { charset: Some(Charset(4)), text: "Grüße".into() },
            EncodedString { charset: Some(Charset::UTF_16), text: "hi ☺".into() },
            EncodedString { charset: Some(Charset(36)), text: "안녕하세요".into() },
        ] {
            assert_eq!(round_trip(&s), s);
        }
        let unfit = EncodedString { charset: Some(Charset::US_ASCII), text: "é".into() };
        assert_eq!(round_trip(&unfit), EncodedString::auto("é"));
    }
}
