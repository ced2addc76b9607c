//! The two PDUs Tern originates on a link, built from the configuration: the bind (transmitter or
//! transceiver, interface version 3.4) and the submit_sm that carries one segment of a WAP push
//! as binary user data with a UDH (mms-notes §6).

use rusmpp::pdus::{BindTransceiver, BindTransmitter, SubmitSm};
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, InterfaceVersion, Npi, RegisteredDelivery, ServiceType, Ton};

use super::error::SmppError;
use crate::config::{SmppConfig, SmppLink};

/// UDHI: the short message starts with a user data header (SMPP 3.4 §5.2.12).
const ESM_CLASS_UDHI: u8 = 0x40;

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

/// One submit_sm: `user_data` is UDHL + UDH + payload, at most 140 octets.
pub fn submit_sm(shared: &SmppConfig, link: &SmppLink, destination: COctetString<1, 21>, user_data: &[u8]) -> SubmitSm {
    SubmitSm::builder()
        .service_type(ServiceType::default())
        .source_addr_ton(Ton::from(link.source_ton))
        .source_addr_npi(Npi::from(link.source_npi))
        .source_addr(text(&link.source_addr))
        .dest_addr_ton(Ton::from(link.dest_ton))
        .dest_addr_npi(Npi::from(link.dest_npi))
        .destination_addr(destination)
        .esm_class(EsmClass::from(ESM_CLASS_UDHI))
        .protocol_id(0)
        .registered_delivery(RegisteredDelivery::from(u8::from(shared.registered_delivery)))
        .data_coding(DataCoding::from(shared.data_coding))
        // Segments are at most 140 octets, well inside the 254 a short_message holds.
        .short_message(OctetString::from_slice(user_data).unwrap_or_default())
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
        let bytes = encode(submit_sm(&shared, &link, destination("+15550100002").unwrap(), &ud));
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
