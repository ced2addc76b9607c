//! Wireshark's dissectors (tshark) read what Tern encodes: every MMS message type and many
//! generated variants, carried as WSP pushes over UDP to port 2948, decode to the same message
//! type, transaction ID, version, addresses, subject, content location and content types.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::cases::{self, Expect};
use tern_codec::push::Push;

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
