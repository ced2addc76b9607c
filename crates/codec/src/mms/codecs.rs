//! Value codecs for MMS header fields: one module per value grammar of OMA-MMS-ENC §7.3,
//! each with a `decode` and an `encode`, named in the header table of `header.rs`.

use super::address::Address;
use super::values::*;
use crate::error::{ErrorKind, Result};
use crate::wsp::reader::{Reader, ValueForm};
use crate::wsp::text::{plain, read_text, write_text};
use crate::wsp::{EncodedString, Params, writer};

pub mod text {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<String> {
        read_text(r, "text value")
    }
    pub fn encode(v: &str, out: &mut Vec<u8>) {
        write_text(out, v);
    }
}

pub mod encoded {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<EncodedString> {
        EncodedString::decode(r, "encoded string")
    }
    pub fn encode(v: &EncodedString, out: &mut Vec<u8>) {
        v.encode(out);
    }
}

pub mod address {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<Address> {
        EncodedString::decode(r, "address").map(Address)
    }
    pub fn encode(v: &Address, out: &mut Vec<u8>) {
        v.0.encode(out);
    }
}

pub mod long {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<u64> {
        // Some relays send a Short-integer where a Long-integer is due; both mean a number.
        r.integer("long integer")
    }
    pub fn encode(v: &u64, out: &mut Vec<u8>) {
        writer::long_integer(out, *v);
    }
}

pub mod integer {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<u64> {
        r.integer("integer")
    }
    pub fn encode(v: &u64, out: &mut Vec<u8>) {
        writer::integer(out, *v);
    }
}

pub mod yes_no {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<bool> {
        match r.u8("yes/no")? {
            0x80 => Ok(true),
            0x81 => Ok(false),
            other => Err(r.error("yes/no", ErrorKind::Unexpected(other))),
        }
    }
    pub fn encode(v: &bool, out: &mut Vec<u8>) {
        out.push(if *v { 0x80 } else { 0x81 });
    }
}

pub mod octet {
    use super::*;
    pub fn decode<T: Octet>(r: &mut Reader<'_>) -> Result<T> {
        let b = r.u8("enumerated value")?;
        if b < 0x80 {
            return Err(r.error("enumerated value", ErrorKind::Unexpected(b)));
        }
        Ok(T::from_octet(b))
    }
    pub fn encode<T: Octet>(v: &T, out: &mut Vec<u8>) {
        out.push(v.octet());
    }
}

pub mod field_name {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<u8> {
        r.short_integer("field name")
    }
    pub fn encode(v: &u8, out: &mut Vec<u8>) {
        writer::short_integer(out, *v);
    }
}

pub mod version {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<Version> {
        const F: &str = "X-Mms-MMS-Version";
        if let ValueForm::ShortInteger(v) = r.form(F)? {
            r.u8(F)?;
            return Ok(Version { major: (v >> 4) & 0x07, minor: v & 0x0F });
        }
        let text = plain(r.text_string(F)?);
        let mut it = text.trim().splitn(2, '.').map(|n| n.parse::<u8>());
        match (it.next(), it.next()) {
            (Some(Ok(major)), minor) => Ok(Version { major, minor: minor.and_then(|m| m.ok()).unwrap_or(0) }),
            _ => Err(r.error(F, ErrorKind::Invalid("version is not a number"))),
        }
    }
    pub fn encode(v: &Version, out: &mut Vec<u8>) {
        if v.major <= 7 && v.minor <= 15 {
            writer::short_integer(out, (v.major << 4) | v.minor);
        } else {
            write_text(out, &v.to_string());
        }
    }
}

pub mod time {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<TimeValue> {
        const F: &str = "time value";
        let mut v = r.length_prefixed(F)?;
        match v.u8(F)? {
            0x80 => Ok(TimeValue::Absolute(v.long_integer(F)?)),
            0x81 => Ok(TimeValue::Relative(v.integer(F)?)),
            other => Err(v.error(F, ErrorKind::Unexpected(other))),
        }
    }
    pub fn encode(v: &TimeValue, out: &mut Vec<u8>) {
        writer::length_prefixed(out, |w| match v {
            TimeValue::Absolute(t) => {
                w.push(0x80);
                writer::long_integer(w, *t);
            }
            TimeValue::Relative(t) => {
                w.push(0x81);
                writer::integer(w, *t);
            }
        });
    }
}

pub mod sender {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<Sender> {
        const F: &str = "From";
        let mut v = r.length_prefixed(F)?;
        match v.u8(F)? {
            0x80 => address::decode(&mut v).map(Sender::Address),
            0x81 => Ok(Sender::InsertAddress),
            other => Err(v.error(F, ErrorKind::Unexpected(other))),
        }
    }
    pub fn encode(v: &Sender, out: &mut Vec<u8>) {
        writer::length_prefixed(out, |w| match v {
            Sender::Address(a) => {
                w.push(0x80);
                address::encode(a, w);
            }
            Sender::InsertAddress => w.push(0x81),
        });
    }
}

pub mod message_class {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<MessageClass> {
        const F: &str = "X-Mms-Message-Class";
        if let ValueForm::ShortInteger(_) = r.form(F)? {
            return Ok(match r.u8(F)? {
                0x80 => MessageClass::Personal,
                0x81 => MessageClass::Advertisement,
                0x82 => MessageClass::Informational,
                0x83 => MessageClass::Auto,
                other => MessageClass::Other(format!("{other:#04x}")),
            });
        }
        Ok(MessageClass::Other(plain(r.text_string(F)?)))
    }
    pub fn encode(v: &MessageClass, out: &mut Vec<u8>) {
        match v {
            MessageClass::Personal => out.push(0x80),
            MessageClass::Advertisement => out.push(0x81),
            MessageClass::Informational => out.push(0x82),
            MessageClass::Auto => out.push(0x83),
            // An unassigned octet was read as its `0xNN` spelling; write that back as the octet.
            MessageClass::Other(s) => match s.strip_prefix("0x").map(|h| u8::from_str_radix(h, 16)) {
                Some(Ok(octet)) if octet >= 0x84 && *s == format!("{octet:#04x}") => out.push(octet),
                _ => write_text(out, s),
            },
        }
    }
}

pub mod previously_sent_by {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<PreviouslySentBy> {
        let mut v = r.length_prefixed("X-Mms-Previously-Sent-By")?;
        let forwarded_count = v.integer("forwarded count")?;
        Ok(PreviouslySentBy { forwarded_count, address: address::decode(&mut v)? })
    }
    pub fn encode(v: &PreviouslySentBy, out: &mut Vec<u8>) {
        writer::length_prefixed(out, |w| {
            writer::integer(w, v.forwarded_count);
            address::encode(&v.address, w);
        });
    }
}

pub mod previously_sent_date {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<PreviouslySentDate> {
        let mut v = r.length_prefixed("X-Mms-Previously-Sent-Date")?;
        let forwarded_count = v.integer("forwarded count")?;
        Ok(PreviouslySentDate { forwarded_count, date: v.long_integer("date")? })
    }
    pub fn encode(v: &PreviouslySentDate, out: &mut Vec<u8>) {
        writer::length_prefixed(out, |w| {
            writer::integer(w, v.forwarded_count);
            writer::long_integer(w, v.date);
        });
    }
}

pub mod mm_flags {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<MmFlags> {
        let mut v = r.length_prefixed("X-Mms-MM-Flags")?;
        let op = octet::decode(&mut v)?;
        Ok(MmFlags { op, flag: encoded::decode(&mut v)? })
    }
    pub fn encode(v: &MmFlags, out: &mut Vec<u8>) {
        writer::length_prefixed(out, |w| {
            octet::encode(&v.op, w);
            encoded::encode(&v.flag, w);
        });
    }
}

pub mod element_descriptor {
    use super::*;
    // Boxed: the rare descriptor would otherwise make every `Header` three times larger.
    pub fn decode(r: &mut Reader<'_>) -> Result<Box<ElementDescriptor>> {
        let mut v = r.length_prefixed("X-Mms-Element-Descriptor")?;
        let reference = read_text(&mut v, "content reference")?;
        Ok(Box::new(ElementDescriptor { reference, params: Params::decode(&mut v) }))
    }
    pub fn encode(v: &ElementDescriptor, out: &mut Vec<u8>) {
        writer::length_prefixed(out, |w| {
            write_text(w, &v.reference);
            v.params.encode(w);
        });
    }
}

pub mod quota {
    use super::*;
    pub fn decode(r: &mut Reader<'_>) -> Result<Quota> {
        let mut v = r.length_prefixed("mbox quota")?;
        let kind = octet::decode(&mut v)?;
        Ok(Quota { kind, value: v.integer("mbox quota")? })
    }
    pub fn encode(v: &Quota, out: &mut Vec<u8>) {
        writer::length_prefixed(out, |w| {
            octet::encode(&v.kind, w);
            writer::integer(w, v.value);
        });
    }
}
