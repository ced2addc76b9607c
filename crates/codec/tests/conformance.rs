//! The conformance corpus (`../shared/conformance`: real PDUs from handsets, relays and other
//! implementations) decodes: every MMS PDU and every WSP push, the SMS-DELIVER TPDUs reassemble
//! to their pushes, the SMPP traces' user-data headers read as Wireshark read them, the one
//! vector documented as malformed fails with a typed error, and decode -> encode -> decode
//! gives the same value for every MMS PDU.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use tern_codec::ErrorKind;
use tern_codec::mms::{Header, Message, MessageClass, MessageType, Pdu, Sender};
use tern_codec::push::{ApplicationId, Push};
use tern_codec::sms::segment::Reassembler;
use tern_codec::sms::tpdu::{self, Direction, Tpdu};
use tern_codec::sms::udh::UserData;

fn corpus() -> PathBuf {
    common::shared().join("conformance")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn corpus_files(pred: impl Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let root = corpus();
    let mut all = Vec::new();
    files(&root, &mut all);
    all.into_iter()
        .map(|p| (p.strip_prefix(&root).unwrap().to_string_lossy().into_owned(), p))
        .filter(|(name, _)| pred(name))
        .map(|(name, p)| (name, std::fs::read(p).unwrap()))
        .collect()
}

fn is_push(name: &str) -> bool {
    name.contains("push") || name.ends_with("m-notification.ind_success.bin")
}

fn is_binary(name: &str) -> bool {
    !name.ends_with(".txt") && !name.ends_with(".md")
}

/// Vectors that are malformed on purpose, with the error they must give.
const MALFORMED: &[(&str, ErrorKind)] =
    &[("nuntium/ofono_push_decode_test__TestDecodeNonPushPDU.bin", ErrorKind::Unexpected(0x07))];

fn round_trip(name: &str, message: &Message<'_>) {
    let encoded = message.encode();
    let again = Message::decode(&encoded).unwrap_or_else(|e| panic!("{name}: re-encoded PDU does not decode: {e}"));
    assert_eq!(&again, message, "{name}: decode -> encode -> decode changed the value");
}

#[test]
fn every_mms_pdu_decodes_and_round_trips() {
    let pdus = corpus_files(|n| is_binary(n) && !is_push(n));
    assert!(pdus.len() >= 40, "expected the whole corpus, found {} PDUs", pdus.len());
    for (name, bytes) in &pdus {
        let message = Message::decode(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        round_trip(name, &message);
    }
}

#[test]
fn every_push_decodes_and_its_mms_round_trips() {
    let pushes = corpus_files(|n| is_binary(n) && is_push(n));
    assert!(pushes.len() >= 15, "expected the corpus pushes, found {}", pushes.len());
    let mut mms = 0;
    for (name, bytes) in &pushes {
        if let Some((_, kind)) = MALFORMED.iter().find(|(m, _)| m == name) {
            assert_eq!(Push::decode(bytes).unwrap_err().kind, *kind, "{name}");
            continue;
        }
        let push = Push::decode(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(Push::decode(&push.encode()).unwrap(), push, "{name}: push round trip");
        if push.is_mms() {
            let message = Message::decode(&push.body).unwrap_or_else(|e| panic!("{name}: pushed PDU: {e}"));
            assert_eq!(message.pdu.message_type(), MessageType::NOTIFICATION_IND, "{name}");
            round_trip(name, &message);
            mms += 1;
        } else {
            assert_ne!(push.application_id, Some(ApplicationId::MMS_UA), "{name}: non-MMS content for the MMS agent");
        }
    }
    assert!(mms >= 11, "MMS notifications among the pushes: {mms}");
}

fn decode(name: &str) -> Message<'static> {
    let bytes = std::fs::read(corpus().join(name)).unwrap();
    Message::decode(&bytes).unwrap().into_owned()
}

#[test]
fn handset_quirks_are_read_as_meant() {
    // iPhone: insert-address From, Start without angle brackets that still finds its part.
    let iphone = decode("python-messaging/iPhone.mms");
    let Pdu::SendReq(req) = &iphone.pdu else { panic!("iPhone.mms is a send-req") };
    assert_eq!(req.from, Some(Sender::InsertAddress));
    assert_eq!(req.to[0].text(), "1337/TYPE=PLMN");
    let body = iphone.body.as_ref().unwrap();
    let start = body.content_type.params.start.as_deref().unwrap();
    assert_eq!(start, "0.smil");
    assert!(body.parts().iter().any(|p| p.matches_start(start) && p.content_type.media_type == "application/smil"));

    // OMA con-282: a recognised field with an unassigned value is kept as text.
    let con282 = decode("mmsd/rc-mms-1-3-con-282.mms");
    let Pdu::RetrieveConf(conf) = &con282.pdu else { panic!("con-282 is a retrieve-conf") };
    assert_eq!(conf.message_class, Some(MessageClass::Other("NewMessageClass".into())));

    // OMA con-281: an unrecognised application header is kept, not fatal.
    let con281 = decode("mmsd/rc-mms-1-3-con-281.mms");
    assert!(con281.pdu.headers().iter().any(|h| matches!(h, Header::Application { name, .. } if name.eq_ignore_ascii_case("X-MMS-Unrecognised-Header-Field"))));

    // mmsd retrieve_conf_3: no Transaction-ID at all.
    let rc3 = decode("mmsd/from_c/test-mmsutil__mms_m_retrieve_conf_3.bin");
    assert_eq!(rc3.pdu.transaction_id(), None);

    // Samsung SGH-S300M: multipart.mixed as the short form 0xA3.
    let samsung = decode("python-messaging/SEC-SGHS300M.mms");
    assert_eq!(samsung.body.unwrap().content_type.media_type, "application/vnd.wap.multipart.mixed");

    // OMA con-214: a UTF-16 text part decodes through its charset.
    let con214 = decode("mmsd/rc-mms-1-3-con-214.mms");
    let text =
        con214.body.as_ref().unwrap().parts().iter().find(|p| p.content_type.media_type == "text/plain").unwrap();
    let charset = text.content_type.params.charset.unwrap();
    assert!(charset.is_wide(), "con-214 text part charset is {charset}");
    assert!(charset.decode(&text.data).contains("German ü is a u with two dots"), "{}", charset.decode(&text.data));
}

#[test]
fn sms_deliver_tpdus_reassemble_to_their_pushes() {
    let text =
        std::fs::read_to_string(corpus().join("python-messaging/sms_wap_push/sms-deliver_pdus.hex.txt")).unwrap();
    let mut reassembler = Reassembler::new(16);
    let mut done = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let bytes = decode_hex(line);
        let (smsc, Tpdu::Deliver(deliver)) = tpdu::decode_with_smsc(&bytes, Direction::ToMobile).unwrap() else {
            panic!("an SMS-DELIVER")
        };
        assert!(smsc.is_some(), "modem output starts with the SMSC address");
        let user_data = deliver.user_data().unwrap();
        assert_eq!(user_data.header.as_ref().unwrap().ports(), Some((2948, 9200)));
        done.extend(reassembler.push(&deliver.originator.to_string(), &user_data).map(|r| r.payload));
    }
    let expected: Vec<Vec<u8>> = [
        "wsp-push_m-notification-ind_uk-promms-1.bin",
        "wsp-push_m-notification-ind_uk-promms-2.bin",
        "wsp-push_si-wbxml_vodafone-de_not-mms.bin",
    ]
    .iter()
    .map(|f| std::fs::read(corpus().join("python-messaging/sms_wap_push").join(f)).unwrap())
    .collect();
    assert_eq!(done, expected);
}

#[test]
fn smpp_trace_user_data_headers_read_as_wireshark_read_them() {
    let traces = corpus_files(|n| n.starts_with("smpp-traces/"));
    let mut checked = 0;
    for (name, text) in &traces {
        let text = String::from_utf8_lossy(text);
        let udhi = text.contains("UDHI indicator (0x1)");
        for block in text.split("Message bytes: ").skip(1) {
            let hex: String = block.chars().take_while(char::is_ascii_hexdigit).collect();
            let bytes = decode_hex(&hex);
            let ud = UserData::decode(&bytes, udhi).unwrap_or_else(|e| panic!("{name}: {e}"));
            let header = ud.header.as_ref();
            let said = |label: &str| -> Option<u16> {
                block.lines().find_map(|l| l.trim().strip_prefix(label)).and_then(|v| v.trim().parse().ok())
            };
            assert_eq!(header.and_then(|h| h.ports()).map(|p| p.0), said("Destination port:"), "{name}");
            assert_eq!(header.and_then(|h| h.ports()).map(|p| p.1), said("Source port:"), "{name}");
            let concat = header.and_then(|h| h.concat());
            assert_eq!(concat.map(|c| c.reference), said("Message identifier:"), "{name}");
            assert_eq!(concat.map(|c| u16::from(c.total)), said("Message parts:"), "{name}");
            assert_eq!(concat.map(|c| u16::from(c.seq)), said("Message part number:"), "{name}");
            checked += 1;
        }
    }
    assert!(checked >= 8, "user data blocks checked: {checked}");
}

fn decode_hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}
