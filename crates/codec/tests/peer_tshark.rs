//! Wireshark's dissectors (tshark) read what Tern encodes: every MMS message type and many
//! generated variants, carried as WSP pushes over UDP to port 2948, decode to the same message
//! type, transaction ID, version, addresses, subject, content location and content types; and
//! pushes wrapped in SMS-DELIVER TPDUs (segmented when long) read as SMS with ports 2948/9200
//! -> WSP push -> MMSE.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::cases::{self, Expect};
use tern_codec::mms::Pdu;
use tern_codec::push::Push;
use tern_codec::sms::segment::{ConcatRef, Reassembler, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, segment};
use tern_codec::sms::tpdu::{self, Tpdu, wap_push_deliver};

const FIELDS: &[&str] = &[
    "frame.number",
    "mmse.message_type",
    "mmse.transaction_id",
    "mmse.mms_version",
    "mmse.from",
    "mmse.to",
    "mmse.subject",
    "mmse.content_location",
    "wsp.header.content_type",
];

/// Runs tshark over a pcap and returns, per frame, the listed fields (repeats joined by `|`).
fn tshark_fields(pcap: &std::path::Path, fields: &[&str]) -> Vec<Vec<String>> {
    let tshark = common::peer("tshark", "apt-get install -y tshark");
    let mut cmd = Command::new(tshark);
    cmd.arg("-r").arg(pcap).args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    common::run(&mut cmd).lines().map(|l| l.split('\t').map(str::to_owned).collect()).collect()
}

fn seen_by_tshark(e: &Expect) -> Vec<String> {
    let mut content_types = vec!["application/vnd.wap.mms-message".to_owned()];
    content_types.extend(e.content_type.clone());
    content_types.extend(e.parts.iter().cloned());
    vec![
        format!("{:#04x}", e.type_code),
        e.transaction_id.clone().unwrap_or_default(),
        e.version.clone(),
        match &e.from {
            Some(Some(a)) => a.clone(),
            Some(None) => "<insert address>".to_owned(),
            None => String::new(),
        },
        e.to.join("|"),
        e.subject.as_deref().map(as_tshark_shows).unwrap_or_default(),
        match e.type_code {
            // tshark leaves the Status-count form undecoded: named for one type, raw for the other.
            0x92 => "<Undecoded value for m-mbox-delete-conf>".to_owned(),
            0x95 => {
                e.indexed_locations.iter().map(|v| as_tshark_shows_octets(v.strip_suffix(&[0]).unwrap_or(v))).collect()
            }
            _ => e.content_location.clone().unwrap_or_default(),
        },
        content_types.join("|"),
    ]
}

/// tshark 4.0 prints an Encoded-string-value's octets without applying its charset: the
/// Text-string quote (0x7F) stays and every octet above 0x7F shows as U+FFFD. Non-ASCII
/// subjects are compared in that form here (python-messaging checks the decoded text).
fn as_tshark_shows(text: &str) -> String {
    let quote = if text.as_bytes().first().is_some_and(|b| *b >= 0x80) { "\u{7f}" } else { "" };
    format!("{quote}{}", as_tshark_shows_octets(text.as_bytes()))
}

fn as_tshark_shows_octets(octets: &[u8]) -> String {
    octets.iter().map(|b| if *b < 0x80 { char::from(*b) } else { '\u{FFFD}' }).collect()
}

#[test]
fn tshark_reads_every_message_type_and_generated_variants() {
    let cases = cases::all(400);
    let datagrams: Vec<Vec<u8>> =
        cases.iter().enumerate().map(|(i, c)| Push::mms(i as u8, c.message.encode()).encode()).collect();
    let dir = common::scratch("tshark-mms");
    let pcap = dir.join("pushes.pcap");
    std::fs::write(&pcap, common::pcap::udp(&datagrams, 9200, 2948)).unwrap();
    let rows = tshark_fields(&pcap, FIELDS);
    assert_eq!(rows.len(), cases.len(), "tshark printed one row per frame");
    let mut failures = Vec::new();
    for (case, row) in cases.iter().zip(&rows) {
        let expected = seen_by_tshark(&case.expect);
        if row[1..] != expected[..] {
            failures.push(format!(
                "{} (frame {}):\n  tshark: {:?}\n  tern:   {:?}",
                case.name,
                row[0],
                &row[1..],
                expected
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// SMS-DELIVER TPDUs carrying the pushes, one per segment, as a pcap for tshark's gsm_sms
/// dissector. Returns the pcap and the number of segments of each push.
fn sms_pcap(name: &str, pushes: &[Vec<u8>]) -> (std::path::PathBuf, Vec<usize>) {
    let mut frames = Vec::new();
    let mut segments_of = Vec::new();
    for (i, push) in pushes.iter().enumerate() {
        let segments = segment(push, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, ConcatRef::Eight(i as u8)).unwrap();
        for ud in &segments {
            let deliver = wap_push_deliver(tpdu::Address::international("+15550100001"), ud.clone(), TIMESTAMP);
            frames.push(Tpdu::Deliver(deliver).encode());
        }
        segments_of.push(segments.len());
    }
    let dir = common::scratch(name);
    let pcap = dir.join("sms.pcap");
    std::fs::write(&pcap, common::pcap::raw(&frames, 147)).unwrap();
    (pcap, segments_of)
}

const TIMESTAMP: [u8; 7] = [0x62, 0x11, 0x32, 0x21, 0x43, 0x00, 0x00];

/// The per-frame fields tshark reads from SMS-DELIVER frames (user DLT 147 -> gsm_sms).
fn tshark_sms_fields(pcap: &std::path::Path) -> Vec<Vec<String>> {
    let tshark = common::peer("tshark", "apt-get install -y tshark");
    let mut cmd = Command::new(tshark);
    cmd.arg("-r").arg(pcap);
    cmd.args(["-o", r#"uat:user_dlts:"User 0 (DLT=147)","gsm_sms","0","","0","""#]);
    cmd.args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"]);
    for f in [
        "frame.number",
        "gsm_sms.destination_port",
        "gsm_sms.originator_port",
        "gsm_sms.udh.mm.msg_parts",
        "wsp.pdu_type",
        "mmse.message_type",
        "mmse.transaction_id",
        "mmse.content_location",
    ] {
        cmd.args(["-e", f]);
    }
    common::run(&mut cmd).lines().map(|l| l.split('\t').map(str::to_owned).collect()).collect()
}

#[test]
fn tshark_reads_sms_deliver_wap_pushes_single_and_segmented() {
    // A compact notification fits one SMS; a long Content-Location and subject need several.
    let short = cases::all(0).into_iter().find(|c| c.name == "m-notification-ind").unwrap();
    let mut long = short.message.clone();
    let Pdu::NotificationInd(n) = &mut long.pdu else { panic!("a notification") };
    n.content_location = Some(format!("http://mmsc.example.net/retrieve/{}", "x".repeat(300)));
    n.subject = Some(tern_codec::wsp::EncodedString::auto("A long subject to need several segments ".repeat(3)));
    let messages = [short.message.clone(), long];
    let pushes: Vec<Vec<u8>> = messages.iter().map(|m| Push::mms(0x42, m.encode()).encode()).collect();
    let (pcap, segments) = sms_pcap("tshark-sms", &pushes);
    assert_eq!(segments[0], 1, "the short notification fits one SMS");
    assert!(segments[1] >= 3, "the long one is segmented: {}", segments[1]);

    let rows = tshark_sms_fields(&pcap);
    assert_eq!(rows.len(), segments.iter().sum::<usize>());
    for row in &rows {
        assert_eq!((row[1].as_str(), row[2].as_str()), ("2948", "9200"), "ports of frame {}", row[0]);
    }
    // tshark decodes the MMS PDU in the frame that completes each push (reassembling segments).
    let decoded: Vec<&Vec<String>> = rows.iter().filter(|r| !r[5].is_empty()).collect();
    assert_eq!(decoded.len(), messages.len(), "one decoded push per message: {rows:?}");
    for (row, message) in decoded.iter().zip(&messages) {
        let Pdu::NotificationInd(n) = &message.pdu else { panic!("a notification") };
        assert_eq!(row[4], "0x06", "WSP push PDU type");
        assert_eq!(row[5], "0x82", "m-notification-ind");
        assert_eq!(Some(row[6].as_str()), n.transaction_id.as_deref());
        assert_eq!(Some(row[7].as_str()), n.content_location.as_deref());
    }
    let last = rows.last().unwrap();
    assert_eq!(last[3], segments[1].to_string(), "tshark counts the segments of the long push");
}

#[test]
fn segmented_pushes_reassemble_to_the_same_bytes() {
    for size in [0usize, 1, 120, 133, 134, 300, 1000, 5000] {
        let push = Push::mms(1, vec![0xA5; size]).encode();
        for reference in [ConcatRef::Eight(7), ConcatRef::Sixteen(0xBEEF)] {
            let segments = segment(&push, WAP_PUSH_PORT, WAP_PUSH_SOURCE_PORT, reference).unwrap();
            assert!(segments.iter().all(|s| s.len() <= 140));
            let mut reassembler = Reassembler::new(4);
            let mut done = None;
            for ud in segments.iter().rev() {
                let tpdu =
                    Tpdu::Deliver(wap_push_deliver(tpdu::Address::international("+1555"), ud.clone(), TIMESTAMP));
                let Tpdu::Deliver(back) = Tpdu::decode(&tpdu.encode(), tpdu::Direction::ToMobile).unwrap() else {
                    panic!("an SMS-DELIVER")
                };
                done = done.or(reassembler.push("+1555", &back.user_data().unwrap()));
            }
            let done = done.unwrap();
            assert_eq!(done.ports, Some((2948, 9200)));
            assert_eq!(done.payload, push, "size {size}");
        }
    }
}
