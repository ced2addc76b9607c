//! The PDUs Tern originates on a link, built from the configuration: the bind (transmitter or
//! transceiver, interface version 3.4), and the submit_sm that carry a WAP push as binary data in
//! one of three ways (mms-notes §6): segments with a UDH in short_message, the whole datagram in
//! the message_payload TLV, or segments without a UDH whose ports and concatenation are TLVs.

use rusmpp::pdus::{BindTransceiver, BindTransmitter, SubmitSm};
use rusmpp::tlvs::MessageSubmissionRequestTlvValue as Tlv;
use rusmpp::types::{AnyOctetString, COctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, InterfaceVersion, MessagePayload, Npi, RegisteredDelivery, ServiceType, Ton,
};
use tern_codec::sms::segment::{ConcatRef, MAX_USER_DATA, SegmentError, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, segment};
use tern_codec::sms::udh::{InformationElement, UserData, UserDataHeader};

use super::error::SmppError;
use crate::config::{SmppConfig, SmppLink, SmppMode};

/// UDHI: the short message starts with a user data header (SMPP 3.4 §5.2.12).
const ESM_CLASS_UDHI: u8 = 0x40;
/// Payload octets of a concatenated segment with an 8-bit reference: the most an SMSC can fit.
const CONCAT_PAYLOAD: usize = MAX_USER_DATA - 12;

/// What one submit_sm carries of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// short_message: UDHL + UDH (ports, concatenation) + a segment of the push.
    UserData(Vec<u8>),
    /// message_payload: UDHL + the port element + the whole push.
    Payload(Vec<u8>),
    /// short_message: a segment of the push; the ports, and `sar` when segmented, in TLVs.
    Tlv { data: Vec<u8>, sar: Option<Sar> },
}

/// The sar_* TLVs of one segment (SMPP 3.4 §5.3.2.22-24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sar {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
}

/// The submit_sm parts of `push` in `mode`; a segmented push's parts share `reference`.
pub fn parts(mode: SmppMode, push: &[u8], reference: ConcatRef) -> Result<Vec<Part>, SmppError> {
    match mode {
        SmppMode::Udh => {
            Ok(segment(push, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, reference)?.into_iter().map(Part::UserData).collect())
        }
        SmppMode::Payload => {
            // The SMSC still has to split it into at most 255 concatenated short messages.
            let segments = push.len().div_ceil(CONCAT_PAYLOAD);
            if segments > usize::from(u8::MAX) {
                return Err(SegmentError::TooLong { segments }.into());
            }
            let ports = InformationElement::Ports16 { dst: WAP_PUSH_PORT, src: WAP_PUSH_SOURCE_PORT };
            let header = UserDataHeader { elements: vec![ports] };
            Ok(vec![Part::Payload(UserData { header: Some(header), payload: push }.encode())])
        }
        SmppMode::Tlv => {
            if push.len() <= MAX_USER_DATA {
                return Ok(vec![Part::Tlv { data: push.to_vec(), sar: None }]);
            }
            let chunks = push.chunks(MAX_USER_DATA);
            let segments = chunks.len();
            let total = u8::try_from(segments).map_err(|_| SegmentError::TooLong { segments })?;
            let reference = match reference {
                ConcatRef::Eight(reference) => u16::from(reference),
                ConcatRef::Sixteen(reference) => reference,
            };
            Ok((1..=total)
                .zip(chunks)
                .map(|(seq, data)| Part::Tlv { data: data.to_vec(), sar: Some(Sar { reference, total, seq }) })
                .collect())
        }
    }
}

/// A C-Octet String from configuration text that validation already bounded.
fn text<const MAX: usize>(value: &str) -> COctetString<1, MAX> {
    // Validation limits every configured string to MAX - 1 printable ASCII characters, so this
    // cannot fail for a loaded configuration; an empty string is the safe fallback regardless.
    value.parse().unwrap_or_else(|_| COctetString::empty())
}

pub fn bind_transmitter(link: &SmppLink) -> BindTransmitter {
    BindTransmitter::builder()
        .system_id(text(&link.system_id))
        .password(text(&link.password))
        .system_type(text(&link.system_type))
        .interface_version(InterfaceVersion::Smpp3_4)
        .addr_ton(Ton::Unknown)
        .addr_npi(Npi::Unknown)
        .address_range(COctetString::empty())
        .build()
}

pub fn bind_transceiver(link: &SmppLink) -> BindTransceiver {
    BindTransceiver::builder()
        .system_id(text(&link.system_id))
        .password(text(&link.password))
        .system_type(text(&link.system_type))
        .interface_version(InterfaceVersion::Smpp3_4)
        .addr_ton(Ton::Unknown)
        .addr_npi(Npi::Unknown)
        .address_range(COctetString::empty())
        .build()
}

/// The destination_addr for an E.164 MSISDN: its digits without the '+'.
pub fn destination(msisdn: &str) -> Result<COctetString<1, 21>, SmppError> {
    let digits = msisdn.strip_prefix('+').unwrap_or(msisdn);
    digits.parse().map_err(|_| SmppError::Destination(msisdn.to_owned()))
}

/// The submit_sm of one part of a push.
pub fn submit_sm(shared: &SmppConfig, link: &SmppLink, destination: COctetString<1, 21>, part: &Part) -> SubmitSm {
    let (esm_class, short_message, tlvs) = match part {
        Part::UserData(user_data) => (ESM_CLASS_UDHI, user_data.as_slice(), Vec::new()),
        Part::Payload(datagram) => {
            let payload = MessagePayload::new(AnyOctetString::from_slice(datagram));
            (ESM_CLASS_UDHI, &[][..], vec![Tlv::MessagePayload(payload)])
        }
        Part::Tlv { data, sar } => {
            let mut tlvs = vec![Tlv::SourcePort(WAP_PUSH_SOURCE_PORT), Tlv::DestPort(WAP_PUSH_PORT)];
            if let Some(sar) = sar {
                tlvs.extend([
                    Tlv::SarMsgRefNum(sar.reference),
                    Tlv::SarTotalSegments(sar.total),
                    Tlv::SarSegmentSeqnum(sar.seq),
                ]);
            }
            (0, data.as_slice(), tlvs)
        }
    };
    SubmitSm::builder()
        .service_type(ServiceType::default())
        .source_addr_ton(Ton::from(link.source_ton))
        .source_addr_npi(Npi::from(link.source_npi))
        .source_addr(text(&link.source_addr))
        .dest_addr_ton(Ton::from(link.dest_ton))
        .dest_addr_npi(Npi::from(link.dest_npi))
        .destination_addr(destination)
        .esm_class(EsmClass::from(esm_class))
        .protocol_id(0)
        .registered_delivery(RegisteredDelivery::from(u8::from(shared.registered_delivery)))
        .data_coding(DataCoding::from(shared.data_coding))
        // Parts are at most 140 octets, well inside the 254 a short_message holds.
        .short_message(OctetString::from_slice(short_message).unwrap_or_default())
        .tlvs(tlvs)
        .build()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rusmpp::Command;
    use rusmpp::encode::{Encode, Length};

    use super::*;

    /// The PDU as it goes on the wire: `Command::encode` writes what follows command_length,
    /// which the codec puts in front.
    fn encode(pdu: impl Into<rusmpp::Pdu>) -> Vec<u8> {
        let command = Command::builder().status(rusmpp::CommandStatus::EsmeRok).sequence_number(7).pdu(pdu.into());
        let mut buf = vec![0; 4 + command.length()];
        command.encode(&mut buf[4..]);
        let len = buf.len() as u32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        buf
    }

    #[test]
    fn submit_sm_is_binary_with_udhi_and_the_configured_addresses() {
        let shared = SmppConfig { data_coding: 0xF5, registered_delivery: true, ..SmppConfig::default() };
        let link = SmppLink::default();
        let ud = [0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x01, 0x06];
        let bytes =
            encode(submit_sm(&shared, &link, destination("+15550100002").unwrap(), &Part::UserData(ud.to_vec())));
        let mut expected = vec![0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 7];
        expected.push(0); // service_type
        expected.extend([5, 0]);
        expected.extend(b"MMSC\0");
        expected.extend([1, 1]);
        expected.extend(b"15550100002\0");
        // esm_class, protocol_id, priority, schedule, validity, registered_delivery, replace,
        // data_coding, sm_default_msg_id, sm_length.
        expected.extend([0x40, 0, 0, 0, 0, 1, 0, 0xF5, 0, ud.len() as u8]);
        expected.extend(ud);
        let len = expected.len() as u32;
        expected[..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(bytes, expected);
    }

    #[test]
    fn payload_mode_is_one_part_with_the_port_udh_and_the_whole_push() {
        let push = vec![0xAB; 500];
        let payload = parts(SmppMode::Payload, &push, ConcatRef::Eight(1)).unwrap();
        let mut datagram = vec![0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0];
        datagram.extend(&push);
        assert_eq!(payload, [Part::Payload(datagram.clone())]);
        let bytes =
            encode(submit_sm(&SmppConfig::default(), &SmppLink::default(), destination("1").unwrap(), &payload[0]));
        // esm_class UDHI ... sm_length 0, then TLV 0x0424 with the datagram.
        let tail =
            [&[0x40, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0x04, 0x24][..], &(datagram.len() as u16).to_be_bytes()].concat();
        let at = bytes.len() - datagram.len() - tail.len();
        assert_eq!(bytes[at..at + tail.len()], tail[..]);
        assert_eq!(bytes[at + tail.len()..], datagram[..]);
        let too_long = vec![0; 128 * 255 + 1];
        assert!(matches!(parts(SmppMode::Payload, &too_long, ConcatRef::Eight(1)), Err(SmppError::Segment(_))));
    }

    #[test]
    fn tlv_mode_has_ports_and_sar_tlvs_instead_of_a_udh() {
        let short = parts(SmppMode::Tlv, &[7; 140], ConcatRef::Eight(9)).unwrap();
        assert_eq!(short, [Part::Tlv { data: vec![7; 140], sar: None }]);
        let bytes =
            encode(submit_sm(&SmppConfig::default(), &SmppLink::default(), destination("1").unwrap(), &short[0]));
        // esm_class 0, ..., sm_length 140, the push, source_port 9200, destination_port 2948.
        assert_eq!(bytes[bytes.len() - 12 - 140 - 10..bytes.len() - 12 - 140], [0, 0, 0, 0, 0, 0, 0, 4, 0, 140][..]);
        assert_eq!(bytes[bytes.len() - 12..], [0x02, 0x0A, 0, 2, 0x23, 0xF0, 0x02, 0x0B, 0, 2, 0x0B, 0x84]);

        let long = parts(SmppMode::Tlv, &[7; 300], ConcatRef::Sixteen(0x1234)).unwrap();
        let sar = |seq| Some(Sar { reference: 0x1234, total: 3, seq });
        let expected = [(140, sar(1)), (140, sar(2)), (20, sar(3))];
        assert_eq!(long, expected.map(|(len, sar)| Part::Tlv { data: vec![7; len], sar }));
        let bytes =
            encode(submit_sm(&SmppConfig::default(), &SmppLink::default(), destination("1").unwrap(), &long[2]));
        let sar = [0x02, 0x0C, 0, 2, 0x12, 0x34, 0x02, 0x0E, 0, 1, 3, 0x02, 0x0F, 0, 1, 3];
        assert_eq!(bytes[bytes.len() - sar.len()..], sar);
        assert!(matches!(parts(SmppMode::Tlv, &[0; 140 * 256], ConcatRef::Eight(1)), Err(SmppError::Segment(_))));
    }

    #[test]
    fn binds_ask_for_smpp_3_4() {
        let link = SmppLink::default();
        let bytes = encode(bind_transmitter(&link));
        assert_eq!(bytes[4..8], [0, 0, 0, 2]);
        assert_eq!(&bytes[16..], b"mmsc\0secret\0\0\x34\0\0\0");
        assert_eq!(encode(bind_transceiver(&link))[4..8], [0, 0, 0, 9]);
    }

    #[test]
    fn destinations_drop_the_plus_and_must_fit() {
        assert_eq!(destination("+15550100002").unwrap().to_string(), "15550100002");
        assert_eq!(destination("1234").unwrap().to_string(), "1234");
        assert!(matches!(destination(&"1".repeat(21)), Err(SmppError::Destination(_))));
        assert!(matches!(destination("+1555\u{e9}"), Err(SmppError::Destination(_))));
    }
}
