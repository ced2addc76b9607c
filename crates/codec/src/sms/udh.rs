//! The TP-User-Data of an SMS split into its User-Data-Header and payload (3GPP TS 23.040
//! §9.2.3.24): the information elements that WDP over SMS needs (concatenation and application
//! port addressing) are typed, every other element is kept as raw octets.

use crate::error::Result;
use crate::wsp::reader::Reader;

/// IEI of the concatenated short message element with an 8-bit reference (§9.2.3.24.1).
const IEI_CONCAT8: u8 = 0x00;
/// IEI of the application port addressing element with 8-bit ports (§9.2.3.24.3).
const IEI_PORTS8: u8 = 0x04;
/// IEI of the application port addressing element with 16-bit ports (§9.2.3.24.4).
const IEI_PORTS16: u8 = 0x05;
/// IEI of the concatenated short message element with a 16-bit reference (§9.2.3.24.8).
const IEI_CONCAT16: u8 = 0x08;

/// The UDHL is one octet, so no header can be longer than this.
const MAX_HEADER: usize = u8::MAX as usize;

/// One information element of a User-Data-Header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InformationElement {
    Concat8 {
        reference: u8,
        total: u8,
        seq: u8,
    },
    Concat16 {
        reference: u16,
        total: u8,
        seq: u8,
    },
    Ports8 {
        dst: u8,
        src: u8,
    },
    Ports16 {
        dst: u16,
        src: u16,
    },
    /// Any other element, or a known IEI whose length does not match its definition.
    Other {
        id: u8,
        data: Vec<u8>,
    },
}

impl InformationElement {
    fn decode(id: u8, data: &[u8]) -> InformationElement {
        match (id, data) {
            (IEI_CONCAT8, &[reference, total, seq]) => InformationElement::Concat8 { reference, total, seq },
            (IEI_CONCAT16, &[hi, lo, total, seq]) => {
                InformationElement::Concat16 { reference: u16::from_be_bytes([hi, lo]), total, seq }
            }
            (IEI_PORTS8, &[dst, src]) => InformationElement::Ports8 { dst, src },
            (IEI_PORTS16, &[dst_hi, dst_lo, src_hi, src_lo]) => InformationElement::Ports16 {
                dst: u16::from_be_bytes([dst_hi, dst_lo]),
                src: u16::from_be_bytes([src_hi, src_lo]),
            },
            _ => InformationElement::Other { id, data: data.to_vec() },
        }
    }

    /// IEI, IEDL and data. `None` for an `Other` whose data cannot fit the one-octet IEDL.
    fn encode(&self) -> Option<Vec<u8>> {
        let out = match self {
            InformationElement::Concat8 { reference, total, seq } => {
                vec![IEI_CONCAT8, 3, *reference, *total, *seq]
            }
            InformationElement::Concat16 { reference, total, seq } => {
                let [hi, lo] = reference.to_be_bytes();
                vec![IEI_CONCAT16, 4, hi, lo, *total, *seq]
            }
            InformationElement::Ports8 { dst, src } => vec![IEI_PORTS8, 2, *dst, *src],
            InformationElement::Ports16 { dst, src } => {
                let [dst_hi, dst_lo] = dst.to_be_bytes();
                let [src_hi, src_lo] = src.to_be_bytes();
                vec![IEI_PORTS16, 4, dst_hi, dst_lo, src_hi, src_lo]
            }
            InformationElement::Other { id, data } => {
                let len = u8::try_from(data.len()).ok()?;
                let mut out = Vec::with_capacity(data.len() + 2);
                out.push(*id);
                out.push(len);
                out.extend_from_slice(data);
                out
            }
        };
        Some(out)
    }
}

/// The concatenation information, whichever width of reference carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concat {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
}

/// The information elements of a User-Data-Header, in the order they were sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserDataHeader {
    pub elements: Vec<InformationElement>,
}

impl UserDataHeader {
    /// Destination and source port, 8-bit ports widened. When an element is repeated the last
    /// occurrence wins, as §9.2.3.24 prescribes.
    pub fn ports(&self) -> Option<(u16, u16)> {
        self.elements.iter().rev().find_map(|ie| match ie {
            InformationElement::Ports8 { dst, src } => Some((u16::from(*dst), u16::from(*src))),
            InformationElement::Ports16 { dst, src } => Some((*dst, *src)),
            _ => None,
        })
    }

    /// The concatenation element, the last one if repeated.
    pub fn concat(&self) -> Option<Concat> {
        self.elements.iter().rev().find_map(|ie| match ie {
            InformationElement::Concat8 { reference, total, seq } => {
                Some(Concat { reference: u16::from(*reference), total: *total, seq: *seq })
            }
            InformationElement::Concat16 { reference, total, seq } => {
                Some(Concat { reference: *reference, total: *total, seq: *seq })
            }
            _ => None,
        })
    }

    /// UDHL followed by the elements. The UDHL is one octet, so elements that would take the
    /// header past 255 octets are left out rather than producing a header that lies about its
    /// length.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0];
        for element in self.elements.iter().filter_map(InformationElement::encode) {
            if out.len() - 1 + element.len() <= MAX_HEADER {
                out.extend_from_slice(&element);
            }
        }
        let udhl = u8::try_from(out.len() - 1).unwrap_or(u8::MAX);
        if let Some(first) = out.first_mut() {
            *first = udhl;
        }
        out
    }
}

/// TP-User-Data: the optional header and the octets after it.
///
/// For GSM 7-bit user data the payload is left packed, fill bits included, since only 8-bit
/// data carries WDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData<'a> {
    pub header: Option<UserDataHeader>,
    pub payload: &'a [u8],
}

impl<'a> UserData<'a> {
    /// Splits TP-User-Data; `has_header` is TP-UDHI. Error offsets are relative to `bytes`.
    pub fn decode(bytes: &'a [u8], has_header: bool) -> Result<UserData<'a>> {
        if !has_header {
            return Ok(UserData { header: None, payload: bytes });
        }
        let mut r = Reader::new(bytes);
        let udhl = r.u8("UDHL")?;
        let mut h = r.sub(usize::from(udhl), "UDHL")?;
        let mut elements = Vec::new();
        while !h.is_empty() {
            let id = h.u8("UDH")?;
            let len = h.u8("UDH")?;
            let data = h.take(usize::from(len), "UDH")?;
            elements.push(InformationElement::decode(id, data));
        }
        Ok(UserData { header: Some(UserDataHeader { elements }), payload: r.rest() })
    }

    /// The TP-User-Data octets: UDHL and header when there is one, then the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = match &self.header {
            Some(header) => header.encode(),
            None => Vec::new(),
        };
        out.extend_from_slice(self.payload);
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
    }

    #[test]
    fn single_segment_wap_push_header() {
        let bytes = hex("06 05 04 0B 84 23 F0 01 06");
        let ud = UserData::decode(&bytes, true).unwrap();
        let header = ud.header.as_ref().unwrap();
        assert_eq!(header.elements, vec![InformationElement::Ports16 { dst: 2948, src: 9200 }]);
        assert_eq!(header.ports(), Some((2948, 9200)));
        assert_eq!(header.concat(), None);
        assert_eq!(ud.payload, &[0x01, 0x06]);
        assert_eq!(ud.encode(), bytes);
    }

    #[test]
    fn eight_bit_concat_after_ports() {
        let bytes = hex("0B 05 04 0B 84 23 F0 00 03 96 02 01 AA");
        let ud = UserData::decode(&bytes, true).unwrap();
        let header = ud.header.as_ref().unwrap();
        assert_eq!(
            header.elements,
            vec![
                InformationElement::Ports16 { dst: 2948, src: 9200 },
                InformationElement::Concat8 { reference: 0x96, total: 2, seq: 1 },
            ]
        );
        assert_eq!(header.concat(), Some(Concat { reference: 150, total: 2, seq: 1 }));
        assert_eq!(header.ports(), Some((2948, 9200)));
        assert_eq!(ud.payload, &[0xAA]);
        assert_eq!(ud.encode(), bytes);
    }

    #[test]
    fn sixteen_bit_concat_before_ports() {
        let bytes = hex("0C 08 04 9F 8E 02 01 05 04 0B 84 23 F0");
        let ud = UserData::decode(&bytes, true).unwrap();
        let header = ud.header.as_ref().unwrap();
        assert_eq!(header.concat(), Some(Concat { reference: 40846, total: 2, seq: 1 }));
        assert_eq!(header.ports(), Some((2948, 9200)));
        assert!(ud.payload.is_empty());
        assert_eq!(ud.encode(), bytes);
    }

    #[test]
    fn eight_bit_ports_are_widened() {
        let bytes = hex("04 04 02 F5 F6");
        let ud = UserData::decode(&bytes, true).unwrap();
        assert_eq!(ud.header.unwrap().ports(), Some((0xF5, 0xF6)));
    }

    #[test]
    fn wrong_length_and_unknown_elements_are_kept_raw() {
        let bytes = hex("0A 00 02 01 02 05 02 0B 84 70 00 AB");
        let ud = UserData::decode(&bytes, true).unwrap();
        let header = ud.header.as_ref().unwrap();
        assert_eq!(
            header.elements,
            vec![
                InformationElement::Other { id: 0x00, data: vec![1, 2] },
                InformationElement::Other { id: 0x05, data: vec![0x0B, 0x84] },
                InformationElement::Other { id: 0x70, data: vec![] },
            ]
        );
        assert_eq!(header.concat(), None);
        assert_eq!(header.ports(), None);
        assert_eq!(ud.payload, &[0xAB]);
        assert_eq!(ud.encode(), bytes);
    }

    #[test]
    fn without_udhi_everything_is_payload() {
        let bytes = hex("06 05 04 0B 84 23 F0");
        let ud = UserData::decode(&bytes, false).unwrap();
        assert_eq!(ud.header, None);
        assert_eq!(ud.payload, &bytes[..]);
        assert_eq!(ud.encode(), bytes);
    }

    #[test]
    fn empty_header_round_trips() {
        let ud = UserData::decode(&[0x00, 0x41], true).unwrap();
        assert_eq!(ud.header, Some(UserDataHeader::default()));
        assert_eq!(ud.encode(), vec![0x00, 0x41]);
    }

    #[test]
    fn malformed_headers_are_errors() {
        let err = UserData::decode(&[], true).unwrap_err();
        assert_eq!((err.field, err.offset, err.kind), ("UDHL", 0, ErrorKind::Truncated));

        let err = UserData::decode(&hex("07 05 04 0B 84 23 F0"), true).unwrap_err();
        assert_eq!(err.field, "UDHL");
        assert_eq!(err.offset, 1);
        assert_eq!(err.kind, ErrorKind::LengthOverrun { len: 7, available: 6 });

        // The element claims 5 octets but the header ends after 4.
        let err = UserData::decode(&hex("06 05 05 0B 84 23 F0 FF"), true).unwrap_err();
        assert_eq!(err.field, "UDH");
        assert_eq!(err.offset, 3);
        assert!(matches!(err.kind, ErrorKind::LengthOverrun { len: 5, available: 4 }));

        // An IEI with no room left for its IEDL.
        let err = UserData::decode(&hex("01 05 FF"), true).unwrap_err();
        assert_eq!((err.field, err.offset, err.kind), ("UDH", 2, ErrorKind::Truncated));
    }

    #[test]
    fn every_prefix_of_every_length_is_handled() {
        for udhl in 0..=255u8 {
            let mut bytes = vec![udhl];
            bytes.extend((0..40u8).map(|i| i.wrapping_mul(37)));
            for end in 0..=bytes.len() {
                if let Ok(ud) = UserData::decode(&bytes[..end], true) {
                    assert_eq!(ud.encode(), &bytes[..end]);
                }
            }
        }
    }

    #[test]
    fn encode_leaves_out_elements_that_do_not_fit() {
        let header = UserDataHeader {
            elements: vec![
                InformationElement::Ports16 { dst: 2948, src: 9200 },
                InformationElement::Other { id: 0x70, data: vec![0; 256] },
                InformationElement::Other { id: 0x71, data: vec![0; 250] },
                InformationElement::Concat8 { reference: 1, total: 2, seq: 1 },
            ],
        };
        let bytes = header.encode();
        assert_eq!(usize::from(bytes[0]), bytes.len() - 1);
        let ud = UserData::decode(&bytes, true).unwrap();
        let decoded = ud.header.unwrap();
        assert_eq!(decoded.elements.len(), 2);
        assert_eq!(decoded.ports(), Some((2948, 9200)));
        assert_eq!(decoded.elements[1], InformationElement::Concat8 { reference: 1, total: 2, seq: 1 });
    }
}
