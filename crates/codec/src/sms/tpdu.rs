//! SMS-DELIVER and SMS-SUBMIT TPDU framing (3GPP TS 23.040 §9.2.2.1, §9.2.2.2): addresses,
//! flags, validity period and TP-User-Data, plus the SMSC address prefix that modems print in
//! PDU mode (3GPP TS 27.005 §3.1).
//!
//! Only the framing is interpreted: TP-User-Data is kept as the raw octets, since WDP travels in
//! 8-bit data. The data coding scheme is read only as far as needed to know whether TP-UDL
//! counts septets or octets.

use std::fmt;

use super::udh::UserData;
use crate::error::{Error, ErrorKind, Result};
use crate::wsp::reader::Reader;

/// Which way a TPDU travels: the TP-MTI values name different PDUs in each direction (§9.2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// SC to MS, where MTI 00 is SMS-DELIVER.
    ToMobile,
    /// MS to SC, where MTI 01 is SMS-SUBMIT.
    FromMobile,
}

const MTI_MASK: u8 = 0x03;
const MTI_DELIVER: u8 = 0x00;
const MTI_SUBMIT: u8 = 0x01;
/// TP-MMS in a DELIVER, TP-RD in a SUBMIT.
const BIT_2: u8 = 0x04;
const VPF_MASK: u8 = 0x18;
const VPF_ENHANCED: u8 = 0x08;
const VPF_RELATIVE: u8 = 0x10;
const VPF_ABSOLUTE: u8 = 0x18;
/// TP-SRI in a DELIVER, TP-SRR in a SUBMIT.
const BIT_5: u8 = 0x20;
const UDHI: u8 = 0x40;
const REPLY_PATH: u8 = 0x80;

const TON_INTERNATIONAL: u8 = 1;
const TON_ALPHANUMERIC: u8 = 5;
/// NPI 1, ISDN/telephone numbering plan (E.164).
const NPI_ISDN: u8 = 1;

/// The address length octet counts semi-octets; 145 septets are the most whose semi-octet count
/// still fits it.
const MAX_ALPHANUMERIC_SEPTETS: usize = 145;
const MAX_SEMI_OCTETS: usize = u8::MAX as usize;

/// DCS 0x04: general data coding, 8-bit data, no message class.
const DCS_8BIT: u8 = 0x04;

/// An address field (§9.1.2.5): type of number, numbering plan and the value.
///
/// `digits` holds the semi-octet digits, with `*`, `#`, `a`, `b`, `c` for the non-numeric
/// codes; for TON 5 (alphanumeric) it holds the text decoded from the GSM 7-bit default
/// alphabet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub ton: u8,
    pub npi: u8,
    pub digits: String,
}

impl Address {
    /// An E.164 number (TON international, NPI ISDN); a leading `+` is dropped.
    pub fn international(number: &str) -> Address {
        Address { ton: TON_INTERNATIONAL, npi: NPI_ISDN, digits: number.strip_prefix('+').unwrap_or(number).to_owned() }
    }

    fn from_toa(toa: u8, value: &[u8], semi_octets: usize) -> Address {
        let ton = (toa >> 4) & 0x07;
        let digits = if ton == TON_ALPHANUMERIC {
            gsm7_text(&unpack_septets(value, semi_octets * 4 / 7))
        } else {
            bcd_digits(value, semi_octets)
        };
        Address { ton, npi: toa & 0x0F, digits }
    }

    /// The TOA octet; bit 7 is always 1 (§9.1.2.5).
    fn toa(&self) -> u8 {
        0x80 | ((self.ton & 0x07) << 4) | (self.npi & 0x0F)
    }

    /// TP-OA / TP-DA: length in useful semi-octets, TOA, value.
    fn decode_tp(r: &mut Reader<'_>, field: &'static str) -> Result<Address> {
        let semi_octets = usize::from(r.u8(field)?);
        let toa = r.u8(field)?;
        let value = r.take(semi_octets.div_ceil(2), field)?;
        Ok(Address::from_toa(toa, value, semi_octets))
    }

    /// The SMSC address of 27.005: length in octets of TOA and value, 0 for none.
    fn decode_smsc(r: &mut Reader<'_>) -> Result<Option<Address>> {
        let len = r.u8("SMSC")?;
        if len == 0 {
            return Ok(None);
        }
        let mut smsc = r.sub(usize::from(len), "SMSC")?;
        let toa = smsc.u8("SMSC")?;
        let value = smsc.rest();
        Ok(Some(Address::from_toa(toa, value, value.len() * 2)))
    }

    /// Characters that the encoding cannot represent are skipped (BCD) or sent as `?` (GSM
    /// 7-bit), and an over-long value is cut to what the length octet can count.
    fn encode_tp(&self, out: &mut Vec<u8>) {
        let (semi_octets, value) = if self.ton == TON_ALPHANUMERIC {
            let septets = gsm7_septets(&self.digits, MAX_ALPHANUMERIC_SEPTETS);
            ((septets.len() * 7).div_ceil(4), pack_septets(&septets))
        } else {
            let nibbles: Vec<u8> = self.digits.chars().filter_map(bcd_nibble).take(MAX_SEMI_OCTETS).collect();
            (nibbles.len(), pack_nibbles(&nibbles))
        };
        out.push(u8::try_from(semi_octets).unwrap_or(u8::MAX));
        out.push(self.toa());
        out.extend_from_slice(&value);
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ton == TON_INTERNATIONAL {
            f.write_str("+")?;
        }
        f.write_str(&self.digits)
    }
}

/// TP-Validity-Period, whose form TP-VPF in the first octet announces (§9.2.3.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    None,
    Relative(u8),
    /// Semi-octet time stamp, as TP-SCTS.
    Absolute([u8; 7]),
    /// Functionality indicator and its six octets, kept raw.
    Enhanced([u8; 7]),
}

/// SMS-DELIVER, SC to MS (§9.2.2.1). TP-LP is not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsDeliver {
    /// TP-MMS: the SC holds more messages for this MS. The bit on the air is the inverse.
    pub more_messages_to_send: bool,
    pub status_report_indication: bool,
    pub reply_path: bool,
    /// TP-UDHI: the user data starts with a header.
    pub udhi: bool,
    pub originator: Address,
    pub pid: u8,
    pub dcs: u8,
    /// TP-SCTS, semi-octets as sent.
    pub timestamp: [u8; 7],
    /// TP-UDL: septets for uncompressed GSM 7-bit data, octets otherwise.
    pub user_data_length: u8,
    pub user_data: Vec<u8>,
}

impl SmsDeliver {
    fn decode(r: &mut Reader<'_>) -> Result<SmsDeliver> {
        let first = r.u8("TP-MTI")?;
        let originator = Address::decode_tp(r, "TP-OA")?;
        let pid = r.u8("TP-PID")?;
        let dcs = r.u8("TP-DCS")?;
        let timestamp = seven_octets(r, "TP-SCTS")?;
        let (user_data_length, user_data) = decode_user_data(r, dcs)?;
        Ok(SmsDeliver {
            more_messages_to_send: first & BIT_2 == 0,
            status_report_indication: first & BIT_5 != 0,
            reply_path: first & REPLY_PATH != 0,
            udhi: first & UDHI != 0,
            originator,
            pid,
            dcs,
            timestamp,
            user_data_length,
            user_data,
        })
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(
            MTI_DELIVER
                | flag(!self.more_messages_to_send, BIT_2)
                | flag(self.status_report_indication, BIT_5)
                | flag(self.udhi, UDHI)
                | flag(self.reply_path, REPLY_PATH),
        );
        self.originator.encode_tp(out);
        out.push(self.pid);
        out.push(self.dcs);
        out.extend_from_slice(&self.timestamp);
        out.push(self.user_data_length);
        out.extend_from_slice(&self.user_data);
    }

    /// The user data split at its header when TP-UDHI is set. Error offsets count from the
    /// start of the TPDU.
    pub fn user_data(&self) -> Result<UserData<'_>> {
        split_user_data(&self.user_data, self.udhi, |out| self.encode_into(out))
    }
}

/// SMS-SUBMIT, MS to SC (§9.2.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSubmit {
    pub reject_duplicates: bool,
    pub status_report_request: bool,
    pub reply_path: bool,
    /// TP-UDHI: the user data starts with a header.
    pub udhi: bool,
    pub message_reference: u8,
    pub destination: Address,
    pub pid: u8,
    pub dcs: u8,
    pub validity: Validity,
    /// TP-UDL: septets for uncompressed GSM 7-bit data, octets otherwise.
    pub user_data_length: u8,
    pub user_data: Vec<u8>,
}

impl SmsSubmit {
    fn decode(r: &mut Reader<'_>) -> Result<SmsSubmit> {
        let first = r.u8("TP-MTI")?;
        let message_reference = r.u8("TP-MR")?;
        let destination = Address::decode_tp(r, "TP-DA")?;
        let pid = r.u8("TP-PID")?;
        let dcs = r.u8("TP-DCS")?;
        let validity = match first & VPF_MASK {
            VPF_RELATIVE => Validity::Relative(r.u8("TP-VP")?),
            VPF_ENHANCED => Validity::Enhanced(seven_octets(r, "TP-VP")?),
            VPF_ABSOLUTE => Validity::Absolute(seven_octets(r, "TP-VP")?),
            _ => Validity::None,
        };
        let (user_data_length, user_data) = decode_user_data(r, dcs)?;
        Ok(SmsSubmit {
            reject_duplicates: first & BIT_2 != 0,
            status_report_request: first & BIT_5 != 0,
            reply_path: first & REPLY_PATH != 0,
            udhi: first & UDHI != 0,
            message_reference,
            destination,
            pid,
            dcs,
            validity,
            user_data_length,
            user_data,
        })
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        let (vpf, vp): (u8, &[u8]) = match &self.validity {
            Validity::None => (0, &[]),
            Validity::Relative(v) => (VPF_RELATIVE, std::slice::from_ref(v)),
            Validity::Absolute(v) => (VPF_ABSOLUTE, v),
            Validity::Enhanced(v) => (VPF_ENHANCED, v),
        };
        out.push(
            MTI_SUBMIT
                | flag(self.reject_duplicates, BIT_2)
                | vpf
                | flag(self.status_report_request, BIT_5)
                | flag(self.udhi, UDHI)
                | flag(self.reply_path, REPLY_PATH),
        );
        out.push(self.message_reference);
        self.destination.encode_tp(out);
        out.push(self.pid);
        out.push(self.dcs);
        out.extend_from_slice(vp);
        out.push(self.user_data_length);
        out.extend_from_slice(&self.user_data);
    }

    /// The user data split at its header when TP-UDHI is set. Error offsets count from the
    /// start of the TPDU.
    pub fn user_data(&self) -> Result<UserData<'_>> {
        split_user_data(&self.user_data, self.udhi, |out| self.encode_into(out))
    }
}

/// Splits user data at its header; errors are shifted to count from the start of the TPDU,
/// whose encoding `encode` writes.
fn split_user_data<'a>(user_data: &'a [u8], udhi: bool, encode: impl FnOnce(&mut Vec<u8>)) -> Result<UserData<'a>> {
    UserData::decode(user_data, udhi).map_err(|e| {
        let mut out = Vec::new();
        encode(&mut out);
        shift(e, out.len().saturating_sub(user_data.len()))
    })
}

/// The TPDUs this codec frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tpdu {
    Deliver(SmsDeliver),
    Submit(SmsSubmit),
}

impl Tpdu {
    /// Decodes one TPDU, which must end with its user data. The TP-MTI values other than
    /// DELIVER towards the mobile and SUBMIT from it are rejected.
    pub fn decode(bytes: &[u8], direction: Direction) -> Result<Tpdu> {
        Tpdu::decode_from(&mut Reader::new(bytes), direction)
    }

    fn decode_from(r: &mut Reader<'_>, direction: Direction) -> Result<Tpdu> {
        let first = r.peek().ok_or_else(|| r.error("TP-MTI", ErrorKind::Truncated))?;
        let tpdu = match (direction, first & MTI_MASK) {
            (Direction::ToMobile, MTI_DELIVER) => Tpdu::Deliver(SmsDeliver::decode(r)?),
            (Direction::FromMobile, MTI_SUBMIT) => Tpdu::Submit(SmsSubmit::decode(r)?),
            _ => return Err(r.error("TP-MTI", ErrorKind::Unexpected(first))),
        };
        if !r.is_empty() {
            return Err(r.error("TP-UD", ErrorKind::Invalid("octets after the user data")));
        }
        Ok(tpdu)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Tpdu::Deliver(deliver) => deliver.encode_into(&mut out),
            Tpdu::Submit(submit) => submit.encode_into(&mut out),
        }
        out
    }
}

/// Decodes a TPDU that starts with the SMSC address (as AT+CMGR prints it in PDU mode): first
/// octet = length in octets of (TOA + BCD digits); 0 = no SMSC. Error offsets count from the
/// start of `bytes`.
pub fn decode_with_smsc(bytes: &[u8], direction: Direction) -> Result<(Option<Address>, Tpdu)> {
    let mut r = Reader::new(bytes);
    let smsc = Address::decode_smsc(&mut r)?;
    let tpdu = Tpdu::decode_from(&mut r, direction)?;
    Ok((smsc, tpdu))
}

/// Builds the SMS-DELIVER a handset would receive for one segment of WAP push user data: udhi
/// set, PID 0, DCS 0x04 (8-bit), originator given, a fixed timestamp argument.
///
/// `user_data` is one output of [`segment`](super::segment::segment), at most 140 octets; TP-UDL
/// cannot count beyond 255 and saturates there.
pub fn wap_push_deliver(originator: Address, user_data: Vec<u8>, timestamp: [u8; 7]) -> SmsDeliver {
    SmsDeliver {
        more_messages_to_send: false,
        status_report_indication: false,
        reply_path: false,
        udhi: true,
        originator,
        pid: 0,
        dcs: DCS_8BIT,
        timestamp,
        user_data_length: u8::try_from(user_data.len()).unwrap_or(u8::MAX),
        user_data,
    }
}

fn flag(set: bool, bit: u8) -> u8 {
    if set { bit } else { 0 }
}

fn shift(e: Error, base: usize) -> Error {
    Error { offset: e.offset.saturating_add(base), ..e }
}

fn seven_octets(r: &mut Reader<'_>, field: &'static str) -> Result<[u8; 7]> {
    let bytes = r.take(7, field)?;
    <[u8; 7]>::try_from(bytes).map_err(|_| r.error(field, ErrorKind::Truncated))
}

/// TP-UDL and the TP-UD octets it covers.
fn decode_user_data(r: &mut Reader<'_>, dcs: u8) -> Result<(u8, Vec<u8>)> {
    let udl = r.u8("TP-UDL")?;
    let octets = if udl_counts_septets(dcs) { (usize::from(udl) * 7).div_ceil(8) } else { usize::from(udl) };
    let user_data = r.take(octets, "TP-UDL")?;
    Ok((udl, user_data.to_vec()))
}

/// Whether the DCS (3GPP TS 23.038 §4) selects uncompressed GSM 7-bit, the one case where TP-UDL
/// counts septets (23.040 §9.2.3.16). Reserved codings are to be read as GSM 7-bit.
fn udl_counts_septets(dcs: u8) -> bool {
    match dcs >> 4 {
        // General data coding, with or without automatic deletion: bit 5 is compression,
        // bits 3-2 the alphabet (00 GSM 7-bit, 01 8-bit, 10 UCS2, 11 reserved).
        0x0..=0x7 => dcs & 0x20 == 0 && matches!((dcs >> 2) & 0x03, 0b00 | 0b11),
        // Reserved groups, and message waiting groups "discard" and "store" (GSM 7-bit).
        0x8..=0xD => true,
        // Message waiting, store, UCS2.
        0xE => false,
        // Data coding / message class: bit 2 selects 8-bit data.
        _ => dcs & 0x04 == 0,
    }
}

/// `count` semi-octets, low nibble first; the 1111 filler is dropped wherever it appears.
fn bcd_digits(value: &[u8], count: usize) -> String {
    value
        .iter()
        .flat_map(|b| [b & 0x0F, b >> 4])
        .take(count)
        .filter_map(|nibble| match nibble {
            0..=9 => Some(char::from(b'0' + nibble)),
            0x0A => Some('*'),
            0x0B => Some('#'),
            0x0C => Some('a'),
            0x0D => Some('b'),
            0x0E => Some('c'),
            _ => None,
        })
        .collect()
}

fn bcd_nibble(c: char) -> Option<u8> {
    match c {
        '0'..='9' => c.to_digit(10).and_then(|d| u8::try_from(d).ok()),
        '*' => Some(0x0A),
        '#' => Some(0x0B),
        'a' | 'A' => Some(0x0C),
        'b' | 'B' => Some(0x0D),
        'c' | 'C' => Some(0x0E),
        _ => None,
    }
}

/// Two digits an octet, low nibble first, an odd count padded with the 1111 filler.
fn pack_nibbles(nibbles: &[u8]) -> Vec<u8> {
    nibbles
        .chunks(2)
        .map(|pair| {
            let low = pair.first().copied().unwrap_or(0x0F);
            let high = pair.get(1).copied().unwrap_or(0x0F);
            (high << 4) | (low & 0x0F)
        })
        .collect()
}

/// Escape to the GSM 7-bit extension table (23.038 §6.2.1.1).
const GSM7_ESCAPE: u8 = 0x1B;
const GSM7_QUESTION_MARK: u8 = 0x3F;

/// The GSM 7-bit default alphabet (23.038 §6.2.1); the escape position holds a placeholder.
#[rustfmt::skip]
const GSM7_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É',
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
];

/// The extension table entries that follow an escape (23.038 §6.2.1.1).
const GSM7_EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

fn gsm7_basic(septet: u8) -> char {
    GSM7_BASIC.get(usize::from(septet & 0x7F)).copied().unwrap_or('?')
}

/// Septets to text. An escape before a code the extension table lacks shows the basic
/// character, and a double escape a space, as 23.038 asks of receivers.
fn gsm7_text(septets: &[u8]) -> String {
    let mut text = String::with_capacity(septets.len());
    let mut codes = septets.iter().copied();
    while let Some(code) = codes.next() {
        if code != GSM7_ESCAPE {
            text.push(gsm7_basic(code));
            continue;
        }
        match codes.next() {
            Some(GSM7_ESCAPE) => text.push(' '),
            Some(code) => text.push(
                GSM7_EXTENSION.iter().find(|(ext, _)| *ext == code).map_or_else(|| gsm7_basic(code), |(_, c)| *c),
            ),
            None => {}
        }
    }
    text
}

/// Text to at most `max` septets; characters outside the alphabet become `?`, and an escaped
/// character that would not fit whole is left out.
fn gsm7_septets(text: &str, max: usize) -> Vec<u8> {
    let mut septets = Vec::new();
    for c in text.chars() {
        let basic =
            GSM7_BASIC.iter().position(|b| *b == c).and_then(|i| u8::try_from(i).ok()).filter(|i| *i != GSM7_ESCAPE);
        let extension = GSM7_EXTENSION.iter().find(|(_, ext)| *ext == c).map(|(code, _)| *code);
        let code: &[u8] = match (basic, extension) {
            (Some(code), _) => &[code],
            (None, Some(code)) => &[GSM7_ESCAPE, code],
            (None, None) => &[GSM7_QUESTION_MARK],
        };
        if septets.len() + code.len() > max {
            break;
        }
        septets.extend_from_slice(code);
    }
    septets
}

/// `count` septets packed little-endian into octets (23.038 §6.1.2.1.1); missing octets read as 0.
fn unpack_septets(octets: &[u8], count: usize) -> Vec<u8> {
    (0..count)
        .map(|i| {
            let bit = i * 7;
            let (byte, offset) = (bit / 8, bit % 8);
            let low = octets.get(byte).copied().unwrap_or(0) >> offset;
            let high = if offset > 1 { octets.get(byte + 1).copied().unwrap_or(0) << (8 - offset) } else { 0 };
            (low | high) & 0x7F
        })
        .collect()
}

fn pack_septets(septets: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; (septets.len() * 7).div_ceil(8)];
    for (i, septet) in septets.iter().enumerate() {
        let septet = septet & 0x7F;
        let bit = i * 7;
        let (byte, offset) = (bit / 8, bit % 8);
        if let Some(o) = out.get_mut(byte) {
            *o |= septet << offset;
        }
        if offset > 1
            && let Some(o) = out.get_mut(byte + 1)
        {
            *o |= septet >> (8 - offset);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sms::segment::{self, ConcatRef, Reassembler};

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
    }

    // pmarti/python-messaging @ 8c62c14e, messaging/test/test_wap.py: SMS-DELIVER TPDUs with
    // the SMSC address, as read with AT+CMGR in PDU mode.
    const SET1: [&str; 2] = [
        "0791447758100650400E80885810000000810004016082415464408C0C08049F8E020105040B8423F00106226170706C69636174696F6E2F766E642E7761702E6D6D732D6D65737361676500AF848C82984E4F4B3543694B636F544D595347344D4253774141734B7631344655484141414141414141008D908919802B3434373738353334323734392F545950453D504C4D4E008A808E0274008805810301194083687474703A2F",
        "0791447758100650440E8088581000000081000401608241547440440C08049F8E020205040B8423F02F70726F6D6D732F736572766C6574732F4E4F4B3543694B636F544D595347344D4253774141734B763134465548414141414141414100",
    ];
    const SET2: [&str; 2] = [
        "0791447758100650400E80885810000000800004017002314303408C0C0804DFD3020105040B8423F00106226170706C69636174696F6E2F766E642E7761702E6D6D732D6D65737361676500AF848C82984E4F4B3541315A6446544D595347344F3356514141734A763934476F4E4141414141414141008D908919802B3434373731373237353034392F545950453D504C4D4E008A808E0274008805810303F47F83687474703A2F",
        "0791447758100650440E8088581000000080000401700231431340440C0804DFD3020205040B8423F02F70726F6D6D732F736572766C6574732F4E4F4B3541315A6446544D595347344F3356514141734A763934476F4E414141414141414100",
    ];
    const SET3: [&str; 2] = [
        "0791947122725014440C8500947122921105F5112042519582408C0B05040B8423F0000396020101060B03AE81EAC3958D01A2B48403056A0A20566F6461666F6E650045C60C037761702E6D65696E63616C6C79612E64652F000801035A756D206B6F7374656E6C6F73656E20506F7274616C20224D65696E0083000322202D2065696E66616368206175662064656E20666F6C67656E64656E204C696E6B206B6C69636B656E",
        "0791947122725014440C8500947122921105F5112042519592403C0B05040B8423F00003960202206F6465722064696520536569746520646972656B7420617566727566656E2E2049687200830003205465616D000101",
    ];

    // wsp-push_m-notification-ind_uk-promms-1.bin
    const PUSH1: &str = "0106226170706c69636174696f6e2f766e642e7761702e6d6d732d6d65737361676500af848c82984e4f4b3543694b636f544d595347344d4253774141734b7631344655484141414141414141008d908919802b3434373738353334323734392f545950453d504c4d4e008a808e0274008805810301194083687474703a2f2f70726f6d6d732f736572766c6574732f4e4f4b3543694b636f544d595347344d4253774141734b763134465548414141414141414100";
    // wsp-push_m-notification-ind_uk-promms-2.bin
    const PUSH2: &str = "0106226170706c69636174696f6e2f766e642e7761702e6d6d732d6d65737361676500af848c82984e4f4b3541315a6446544d595347344f3356514141734a763934476f4e4141414141414141008d908919802b3434373731373237353034392f545950453d504c4d4e008a808e0274008805810303f47f83687474703a2f2f70726f6d6d732f736572766c6574732f4e4f4b3541315a6446544d595347344f3356514141734a763934476f4e414141414141414100";
    // wsp-push_si-wbxml_vodafone-de_not-mms.bin
    const PUSH_SI: &str = "01060b03ae81eac3958d01a2b48403056a0a20566f6461666f6e650045c60c037761702e6d65696e63616c6c79612e64652f000801035a756d206b6f7374656e6c6f73656e20506f7274616c20224d65696e0083000322202d2065696e66616368206175662064656e20666f6c67656e64656e204c696e6b206b6c69636b656e206f6465722064696520536569746520646972656b7420617566727566656e2e2049687200830003205465616d000101";

    fn deliver(line: &str) -> (Option<Address>, SmsDeliver) {
        match decode_with_smsc(&hex(line), Direction::ToMobile).unwrap() {
            (smsc, Tpdu::Deliver(deliver)) => (smsc, deliver),
            other => panic!("not a DELIVER: {other:?}"),
        }
    }

    #[test]
    fn python_messaging_vectors_decode_field_by_field() {
        let (smsc, first) = deliver(SET1[0]);
        let smsc = smsc.unwrap();
        assert_eq!(smsc, Address { ton: 1, npi: 1, digits: "447785016005".into() });
        assert_eq!(smsc.to_string(), "+447785016005");
        assert!(first.more_messages_to_send);
        assert!(!first.status_report_indication && !first.reply_path);
        assert!(first.udhi);
        assert_eq!(first.originator, Address { ton: 0, npi: 0, digits: "88850100000018".into() });
        assert_eq!(first.originator.to_string(), "88850100000018");
        assert_eq!((first.pid, first.dcs), (0x00, 0x04));
        assert_eq!(first.timestamp, [0x01, 0x60, 0x82, 0x41, 0x54, 0x64, 0x40]);
        assert_eq!(first.user_data_length, 140);
        assert_eq!(first.user_data.len(), 140);
        let ud = first.user_data().unwrap();
        let concat = ud.header.as_ref().unwrap().concat().unwrap();
        assert_eq!((concat.reference, concat.total, concat.seq), (40846, 2, 1));
        assert_eq!(ud.header.unwrap().ports(), Some((2948, 9200)));
        assert_eq!(ud.payload.len(), 127);

        let (_, last) = deliver(SET1[1]);
        assert!(!last.more_messages_to_send);
        assert_eq!(last.user_data_length, 68);

        let (smsc, si) = deliver(SET3[0]);
        assert_eq!(smsc.unwrap().to_string(), "+491722270541");
        assert_eq!(si.originator, Address { ton: 0, npi: 5, digits: "004917222911".into() });
        assert_eq!((si.pid, si.dcs), (0x05, 0xF5));
        let concat = si.user_data().unwrap().header.unwrap().concat().unwrap();
        assert_eq!((concat.reference, concat.total, concat.seq), (150, 2, 1));
    }

    #[test]
    fn python_messaging_vectors_reassemble_to_the_pushes() {
        for (set, expected) in [(SET1, PUSH1), (SET2, PUSH2), (SET3, PUSH_SI)] {
            let mut reassembler = Reassembler::new(4);
            let delivers: Vec<SmsDeliver> = set.iter().map(|line| deliver(line).1).collect();
            assert_eq!(reassembler.push("sender", &delivers[1].user_data().unwrap()), None);
            let done = reassembler.push("sender", &delivers[0].user_data().unwrap()).unwrap();
            assert_eq!(done.ports, Some((segment::WAP_PUSH_PORT, segment::WAP_PUSH_SOURCE_PORT)));
            assert_eq!(done.payload, hex(expected));
        }
        // Set 3 is a WSP push (TID 1, PDU type 6) of a Service Indication, not an MMS
        // notification: its content type is application/vnd.wap.sic (0x2E).
        let si = hex(PUSH_SI);
        assert_eq!(si[..5], [0x01, 0x06, 0x0B, 0x03, 0xAE]);
    }

    #[test]
    fn python_messaging_vectors_reencode_exactly() {
        for line in SET1.iter().chain(&SET2).chain(&SET3) {
            let bytes = hex(line);
            let (_, tpdu) = decode_with_smsc(&bytes, Direction::ToMobile).unwrap();
            let smsc_len = 1 + usize::from(bytes[0]);
            assert_eq!(tpdu.encode(), bytes[smsc_len..]);
            assert_eq!(Tpdu::decode(&bytes[smsc_len..], Direction::ToMobile).unwrap(), tpdu);
        }
    }

    #[test]
    fn wap_push_delivers_round_trip_through_segmentation() {
        let push = hex(PUSH1);
        let segments = segment::segment(&push, 2948, 9200, ConcatRef::Eight(0x2A)).unwrap();
        assert_eq!(segments.len(), 2);
        let timestamp = [0x52, 0x10, 0x32, 0x21, 0x43, 0x65, 0x00];
        let mut reassembler = Reassembler::new(1);
        let mut done = None;
        for user_data in segments {
            let originator = Address::international("+447700900123");
            let sms = wap_push_deliver(originator.clone(), user_data.clone(), timestamp);
            assert_eq!(usize::from(sms.user_data_length), user_data.len());
            let bytes = Tpdu::Deliver(sms.clone()).encode();
            assert_eq!(bytes[..3], [0x44, 0x0C, 0x91]);
            let Tpdu::Deliver(decoded) = Tpdu::decode(&bytes, Direction::ToMobile).unwrap() else {
                panic!("not a DELIVER");
            };
            assert_eq!(decoded, sms);
            assert_eq!(decoded.originator.to_string(), "+447700900123");
            done = reassembler.push(&decoded.originator.to_string(), &decoded.user_data().unwrap());
        }
        assert_eq!(done.unwrap().payload, push);
    }

    fn submit(validity: Validity) -> SmsSubmit {
        SmsSubmit {
            reject_duplicates: true,
            status_report_request: true,
            reply_path: false,
            udhi: false,
            message_reference: 0x7B,
            destination: Address { ton: 0, npi: 1, digits: "12345*#abc".into() },
            pid: 0x00,
            dcs: 0x08,
            validity,
            user_data_length: 4,
            user_data: vec![0x00, 0x48, 0x00, 0x69],
        }
    }

    #[test]
    fn submit_round_trips_with_every_validity_form() {
        let stamp = [0x52, 0x10, 0x32, 0x21, 0x43, 0x65, 0x8A];
        for (validity, vpf) in [
            (Validity::None, 0x00),
            (Validity::Relative(0xA7), 0x10),
            (Validity::Absolute(stamp), 0x18),
            (Validity::Enhanced([0x01, 0x05, 0, 0, 0, 0, 0]), 0x08),
        ] {
            let tpdu = Tpdu::Submit(submit(validity));
            let bytes = tpdu.encode();
            assert_eq!(bytes[0], 0x01 | 0x04 | 0x20 | vpf);
            assert_eq!(bytes[2..9], [0x0A, 0x81, 0x21, 0x43, 0xA5, 0xCB, 0xED]);
            assert_eq!(Tpdu::decode(&bytes, Direction::FromMobile).unwrap(), tpdu);
            let Tpdu::Submit(s) = &tpdu else { unreachable!() };
            assert_eq!(s.user_data().unwrap().payload, [0x00, 0x48, 0x00, 0x69]);
        }
    }

    #[test]
    fn a_known_submit_decodes() {
        // SMS-SUBMIT to +46708251358, relative validity 0xAA, 7-bit "hellohello".
        let bytes = hex("1100 0B 916407281553F8 00 00 AA 0A E8329BFD4697D9EC37");
        let Tpdu::Submit(s) = Tpdu::decode(&bytes, Direction::FromMobile).unwrap() else {
            panic!("not a SUBMIT");
        };
        assert_eq!(s.destination.to_string(), "+46708251358");
        assert_eq!(s.validity, Validity::Relative(0xAA));
        assert_eq!(s.user_data_length, 10);
        assert_eq!(s.user_data.len(), 9);
        assert_eq!(gsm7_text(&unpack_septets(&s.user_data, 10)), "hellohello");
        assert_eq!(Tpdu::Submit(s).encode(), bytes);
    }

    #[test]
    fn deliver_flags_round_trip() {
        for bits in 0..16u8 {
            let sms = SmsDeliver {
                more_messages_to_send: bits & 1 != 0,
                status_report_indication: bits & 2 != 0,
                reply_path: bits & 4 != 0,
                udhi: bits & 8 != 0,
                originator: Address { ton: 2, npi: 9, digits: "123".into() },
                pid: 0x41,
                dcs: 0xF6,
                timestamp: [1, 2, 3, 4, 5, 6, 7],
                user_data_length: 2,
                user_data: vec![0x00, 0xFF],
            };
            let tpdu = Tpdu::Deliver(sms);
            let bytes = tpdu.encode();
            assert_eq!(bytes[1..5], [0x03, 0xA9, 0x21, 0xF3]);
            assert_eq!(Tpdu::decode(&bytes, Direction::ToMobile).unwrap(), tpdu);
        }
    }

    #[test]
    fn user_data_length_follows_the_coding_scheme() {
        let septet_schemes = [0x00, 0x0C, 0x10, 0x40, 0x80, 0xB5, 0xC0, 0xD3, 0xF0, 0xF3];
        let octet_schemes = [0x04, 0x08, 0x20, 0x24, 0x35, 0x44, 0x48, 0xE0, 0xF4, 0xF5];
        for dcs in septet_schemes {
            assert!(udl_counts_septets(dcs), "{dcs:#04x}");
        }
        for dcs in octet_schemes {
            assert!(!udl_counts_septets(dcs), "{dcs:#04x}");
        }
        // 160 septets fill 140 octets; 9 septets need 8 octets, 10 need 9.
        for (udl, octets) in [(160u8, 140usize), (9, 8), (10, 9), (1, 1), (0, 0)] {
            let mut bytes = hex("00 00 81 00 00 01 02 03 04 05 06 07");
            bytes.push(udl);
            bytes.extend(std::iter::repeat_n(0x55, octets));
            let Tpdu::Deliver(d) = Tpdu::decode(&bytes, Direction::ToMobile).unwrap() else {
                panic!("not a DELIVER");
            };
            assert_eq!(d.user_data.len(), octets);
            assert_eq!(d.originator.digits, "");
            let mut longer = bytes.clone();
            longer.push(0);
            let err = Tpdu::decode(&longer, Direction::ToMobile).unwrap_err();
            assert_eq!((err.field, err.offset), ("TP-UD", bytes.len()));
        }
    }

    #[test]
    fn alphanumeric_addresses_use_gsm_7_bit() {
        assert_eq!(pack_septets(&gsm7_septets("hellohello", 145)), hex("E8329BFD4697D9EC37"));
        for text in ["Tern", "Vodafone", "MMS@Push", "{€}", "1234567", "ab"] {
            let address = Address { ton: 5, npi: 0, digits: text.into() };
            let mut bytes = Vec::new();
            address.encode_tp(&mut bytes);
            assert_eq!(bytes[1], 0xD0);
            let decoded = Address::decode_tp(&mut Reader::new(&bytes), "t").unwrap();
            assert_eq!(decoded, address, "{bytes:02x?}");
            assert_eq!(decoded.to_string(), text);
        }
        // Outside the alphabet becomes '?'; escaped codes the table lacks show the basic one.
        assert_eq!(gsm7_septets("ä☃", 145), [0x7B, 0x3F]);
        assert_eq!(gsm7_text(&[0x1B, 0x41, 0x1B, 0x1B, 0x1B]), "A ");
        // The length octet caps the number of septets.
        assert_eq!(gsm7_septets(&"x".repeat(300), 145).len(), 145);
        assert_eq!(gsm7_septets("€€", 3), [0x1B, 0x65]);
    }

    #[test]
    fn bcd_drops_fillers_and_unknown_characters() {
        let address = Address::international("+44 7700-900123");
        let mut bytes = Vec::new();
        address.encode_tp(&mut bytes);
        assert_eq!(bytes, hex("0C 91 447700091032"));
        assert_eq!(bcd_digits(&[0x21, 0xF3, 0x4F], 6), "1234");
    }

    #[test]
    fn wrong_message_types_are_rejected() {
        let deliver = hex(SET3[1]);
        let tpdu = &deliver[8..];
        let err = Tpdu::decode(tpdu, Direction::FromMobile).unwrap_err();
        assert_eq!((err.field, err.offset, err.kind), ("TP-MTI", 0, ErrorKind::Unexpected(0x44)));
        let submit = Tpdu::Submit(submit(Validity::None)).encode();
        let err = Tpdu::decode(&submit, Direction::ToMobile).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unexpected(submit[0]));
        // A status report towards the mobile is not framed here.
        let err = decode_with_smsc(&[0x00, 0x06, 0x00], Direction::ToMobile).unwrap_err();
        assert_eq!((err.field, err.offset, err.kind), ("TP-MTI", 1, ErrorKind::Unexpected(0x06)));
    }

    #[test]
    fn truncated_and_overlong_inputs_are_errors() {
        for line in SET1.iter().chain(&SET2).chain(&SET3) {
            let bytes = hex(line);
            for end in 0..bytes.len() {
                assert!(decode_with_smsc(&bytes[..end], Direction::ToMobile).is_err(), "{end}");
            }
        }
        let err = decode_with_smsc(&[], Direction::ToMobile).unwrap_err();
        assert_eq!((err.field, err.offset, err.kind), ("SMSC", 0, ErrorKind::Truncated));
        let err = decode_with_smsc(&hex("09 91 4477"), Direction::ToMobile).unwrap_err();
        assert_eq!((err.field, err.offset), ("SMSC", 1));
        assert_eq!(err.kind, ErrorKind::LengthOverrun { len: 9, available: 3 });
        let err = decode_with_smsc(&hex("00"), Direction::ToMobile).unwrap_err();
        assert_eq!((err.field, err.offset, err.kind), ("TP-MTI", 1, ErrorKind::Truncated));
        // TP-UDL promises 140 octets; 3 follow.
        let err = Tpdu::decode(&hex("04 02 91 21 00 04 01020304050607 8C 010203"), Direction::ToMobile).unwrap_err();
        assert_eq!((err.field, err.offset), ("TP-UDL", 14));
        assert_eq!(err.kind, ErrorKind::LengthOverrun { len: 140, available: 3 });
        // An originator claiming 40 semi-octets.
        let err = Tpdu::decode(&hex("04 28 91 2143"), Direction::ToMobile).unwrap_err();
        assert_eq!((err.field, err.offset), ("TP-OA", 3));
    }

    #[test]
    fn header_errors_carry_tpdu_offsets() {
        // UDHI set but the UDHL claims 7 octets of 3.
        let bytes = hex("44 02 91 21 00 04 01020304050607 04 07 05 04 0B");
        let Tpdu::Deliver(d) = Tpdu::decode(&bytes, Direction::ToMobile).unwrap() else {
            panic!("not a DELIVER");
        };
        let err = d.user_data().unwrap_err();
        assert_eq!((err.field, err.offset), ("UDHL", 15));
        let submit = SmsSubmit { udhi: true, user_data_length: 1, user_data: vec![5], ..submit(Validity::Relative(1)) };
        let bytes = Tpdu::Submit(submit.clone()).encode();
        let err = submit.user_data().unwrap_err();
        assert_eq!((err.field, err.offset), ("UDHL", bytes.len()));
    }

    /// Whatever decodes re-encodes to something that decodes to the same value.
    fn check_any(bytes: &[u8]) {
        for direction in [Direction::ToMobile, Direction::FromMobile] {
            let decoded = [decode_with_smsc(bytes, direction).map(|(_, t)| t), Tpdu::decode(bytes, direction)];
            for tpdu in decoded.into_iter().flatten() {
                let (udhi, user_data) = match &tpdu {
                    Tpdu::Deliver(d) => (d.udhi, &d.user_data),
                    Tpdu::Submit(s) => (s.udhi, &s.user_data),
                };
                if let Ok(ud) = UserData::decode(user_data, udhi) {
                    assert_eq!(&ud.encode(), user_data);
                }
                assert_eq!(Tpdu::decode(&tpdu.encode(), direction), Ok(tpdu));
            }
        }
    }

    #[test]
    fn mutated_and_arbitrary_bytes_never_panic() {
        let submits = [Validity::None, Validity::Relative(3), Validity::Absolute([9; 7])]
            .map(|v| Tpdu::Submit(SmsSubmit { udhi: true, ..submit(v) }).encode());
        for original in SET1.iter().chain(&SET2).chain(&SET3).map(|l| hex(l)).chain(submits) {
            for at in 0..original.len() {
                for value in [0x00, 0x01, 0x05, 0x0B, 0x11, 0x1B, 0x44, 0x7F, 0x80, 0xD0, 0xFF] {
                    let mut bytes = original.clone();
                    bytes[at] = value;
                    check_any(&bytes);
                    check_any(&bytes[..at]);
                }
            }
        }
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 64) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (state >> (i % 8 * 8)) as u8 ^ i as u8).collect();
            check_any(&bytes);
        }
    }
}
