//! A bounds-checked cursor over input bytes that decodes the WSP primitives (WAP-230 §8.4.2).
//!
//! Every read either advances or fails with an [`Error`] carrying the absolute offset, so a
//! decoder built on it cannot panic, loop without consuming input or allocate without bound.

use crate::error::{Error, ErrorKind, Result};

/// A cursor over a borrowed slice; offsets in errors are relative to the whole original input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

/// The first octet of a WSP value tells its form (WAP-230 §8.4.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueForm {
    /// 0..=30: a Short-length followed by that many octets.
    ShortLength(u8),
    /// 31: Length-quote, a uintvar length follows.
    LengthQuote,
    /// 32..=127 (and 0, the empty string): a NUL-terminated text.
    Text,
    /// 128..=255: a Short-integer.
    ShortInteger(u8),
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0, base: 0 }
    }

    /// Absolute offset of the next octet.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub fn error(&self, field: &'static str, kind: ErrorKind) -> Error {
        Error { offset: self.offset(), field, kind }
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8> {
        let b = self.peek().ok_or_else(|| self.error(field, ErrorKind::Truncated))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8]> {
        let available = self.buf.len() - self.pos;
        if len > available {
            return Err(self.error(field, ErrorKind::LengthOverrun { len: len as u64, available }));
        }
        let out = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    /// Everything that is left, consuming it.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = self.remaining();
        self.pos = self.buf.len();
        out
    }

    /// A reader over the next `len` octets, which this reader skips.
    pub fn sub(&mut self, len: usize, field: &'static str) -> Result<Reader<'a>> {
        let base = self.offset();
        let buf = self.take(len, field)?;
        Ok(Reader { buf, pos: 0, base })
    }

    pub fn form(&self, field: &'static str) -> Result<ValueForm> {
        let b = self.peek().ok_or_else(|| self.error(field, ErrorKind::Truncated))?;
        Ok(match b {
            0..=30 if b != 0 => ValueForm::ShortLength(b),
            31 => ValueForm::LengthQuote,
            0..=127 => ValueForm::Text,
            _ => ValueForm::ShortInteger(b & 0x7F),
        })
    }

    /// Uintvar: 7 bits an octet, high bit = more; at most 5 octets and 32 bits.
    pub fn uintvar(&mut self, field: &'static str) -> Result<u32> {
        let start = self.offset();
        let mut value: u64 = 0;
        for _ in 0..5 {
            let b = self.u8(field)?;
            value = (value << 7) | u64::from(b & 0x7F);
            if b & 0x80 == 0 {
                return u32::try_from(value).map_err(|_| Error {
                    offset: start,
                    field,
                    kind: ErrorKind::UintvarOverflow,
                });
            }
        }
        Err(Error { offset: start, field, kind: ErrorKind::UintvarOverflow })
    }

    /// A uintvar used as a length of data that must follow in this input.
    pub fn uintvar_len(&mut self, field: &'static str) -> Result<usize> {
        let len = self.uintvar(field)? as usize;
        let available = self.buf.len() - self.pos;
        if len > available {
            return Err(self.error(field, ErrorKind::LengthOverrun { len: len as u64, available }));
        }
        Ok(len)
    }

    /// Short-integer: one octet with the high bit set, value 0..=127.
    pub fn short_integer(&mut self, field: &'static str) -> Result<u8> {
        let b = self.u8(field)?;
        if b & 0x80 == 0 {
            self.pos -= 1;
            return Err(self.error(field, ErrorKind::Unexpected(b)));
        }
        Ok(b & 0x7F)
    }

    /// Long-integer: Short-length (1..=30) then that many big-endian octets; we accept up to 8.
    pub fn long_integer(&mut self, field: &'static str) -> Result<u64> {
        let len = self.u8(field)?;
        if len == 0 || len > 30 {
            self.pos -= 1;
            return Err(self.error(field, ErrorKind::Unexpected(len)));
        }
        if len > 8 {
            self.pos -= 1;
            return Err(self.error(field, ErrorKind::IntegerOverflow));
        }
        let bytes = self.take(usize::from(len), field)?;
        Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// Integer-value: a Short-integer or a Long-integer.
    pub fn integer(&mut self, field: &'static str) -> Result<u64> {
        match self.peek() {
            Some(b) if b & 0x80 != 0 => self.short_integer(field).map(u64::from),
            _ => self.long_integer(field),
        }
    }

    /// Value-length: Short-length or Length-quote + uintvar; checked against the input left.
    pub fn value_length(&mut self, field: &'static str) -> Result<usize> {
        let b = self.u8(field)?;
        let len = match b {
            0..=30 => usize::from(b),
            31 => self.uintvar(field)? as usize,
            _ => {
                self.pos -= 1;
                return Err(self.error(field, ErrorKind::Unexpected(b)));
            }
        };
        let available = self.buf.len() - self.pos;
        if len > available {
            return Err(self.error(field, ErrorKind::LengthOverrun { len: len as u64, available }));
        }
        Ok(len)
    }

    /// Reads a Value-length and returns a reader over exactly that value.
    pub fn length_prefixed(&mut self, field: &'static str) -> Result<Reader<'a>> {
        let len = self.value_length(field)?;
        self.sub(len, field)
    }

    /// The octets up to a NUL, which is consumed and not returned.
    pub fn cstr(&mut self, field: &'static str) -> Result<&'a [u8]> {
        let rest = self.remaining();
        match rest.iter().position(|b| *b == 0) {
            Some(n) => {
                self.pos += n + 1;
                Ok(&rest[..n])
            }
            None => Err(self.error(field, ErrorKind::Unterminated)),
        }
    }

    /// Text-string: an optional Quote (0x7F) then text up to NUL.
    pub fn text_string(&mut self, field: &'static str) -> Result<&'a [u8]> {
        if self.peek() == Some(0x7F) {
            self.pos += 1;
        }
        self.cstr(field)
    }

    /// Quoted-string: 0x22 then text up to NUL (the closing quote is not sent).
    pub fn quoted_string(&mut self, field: &'static str) -> Result<&'a [u8]> {
        if self.peek() == Some(0x22) {
            self.pos += 1;
        }
        self.cstr(field)
    }

    /// Skips one value of any form, using the first-octet dispatch; returns its raw octets.
    pub fn skip_value(&mut self, field: &'static str) -> Result<&'a [u8]> {
        let start = self.pos;
        match self.form(field)? {
            ValueForm::ShortLength(_) | ValueForm::LengthQuote => {
                let len = self.value_length(field)?;
                self.take(len, field)?;
            }
            ValueForm::Text => {
                self.cstr(field)?;
            }
            ValueForm::ShortInteger(_) => {
                self.pos += 1;
            }
        }
        Ok(&self.buf[start..self.pos])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uintvar_examples_from_the_spec() {
        assert_eq!(Reader::new(&[0x82, 0x00]).uintvar("t"), Ok(256));
        assert_eq!(Reader::new(&[0x89, 0x5D]).uintvar("t"), Ok(1245));
        assert_eq!(Reader::new(&[0x8F, 0xFF, 0xFF, 0xFF, 0x7F]).uintvar("t"), Ok(u32::MAX));
        let err = Reader::new(&[0x90, 0x80, 0x80, 0x80, 0x00]).uintvar("t").unwrap_err();
        assert_eq!(err.kind, ErrorKind::UintvarOverflow);
        let err = Reader::new(&[0x81, 0x80, 0x80, 0x80, 0x80, 0x00]).uintvar("t").unwrap_err();
        assert_eq!(err.kind, ErrorKind::UintvarOverflow);
        assert_eq!(Reader::new(&[0x81]).uintvar("t").unwrap_err().kind, ErrorKind::Truncated);
    }

    #[test]
    fn long_integer_accepts_four_octets_and_rejects_garbage() {
        assert_eq!(Reader::new(&[0x04, 0x47, 0x9F, 0xD5, 0x96]).long_integer("t"), Ok(0x479F_D596));
        assert_eq!(Reader::new(&[0x02, 0x74, 0x00]).integer("t"), Ok(29696));
        assert_eq!(Reader::new(&[0x8A]).integer("t"), Ok(10));
        assert!(Reader::new(&[0x00]).long_integer("t").is_err());
        assert!(Reader::new(&[0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9]).long_integer("t").is_err());
        assert!(Reader::new(&[0x04, 0x47]).long_integer("t").is_err());
    }

    #[test]
    fn value_length_with_length_quote_is_bounded_by_the_input() {
        assert_eq!(Reader::new(&[0x1F, 0x02, 1, 2]).value_length("t"), Ok(2));
        let err = Reader::new(&[0x1F, 0x8F, 0x7F, 1]).value_length("t").unwrap_err();
        assert!(matches!(err.kind, ErrorKind::LengthOverrun { .. }));
    }

    #[test]
    fn text_string_drops_the_quote_and_needs_its_nul() {
        let mut r = Reader::new(&[0x7F, 0xD0, 0x9F, 0x00, b'a', 0x00]);
        assert_eq!(r.text_string("t"), Ok(&[0xD0, 0x9F][..]));
        assert_eq!(r.text_string("t"), Ok(&b"a"[..]));
        assert_eq!(Reader::new(b"abc").text_string("t").unwrap_err().kind, ErrorKind::Unterminated);
    }

    #[test]
    fn errors_carry_the_absolute_offset() {
        let mut r = Reader::new(&[1, 2, 3, 0x1F]);
        r.take(1, "t").unwrap();
        let mut sub = r.sub(3, "t").unwrap();
        sub.take(2, "t").unwrap();
        assert_eq!(sub.value_length("t").unwrap_err().offset, 4);
    }
}
