//! Protection end to end over MM1: a profile's content filter, chosen by a policy for messages
//! sent by handsets, judges each part by its real type and its checksum. A picture declared as
//! text is refused with m-send.conf Error-permanent-content-not-accepted and nothing stored; a
//! part on the checksum list with the log action is stored and counted; a banned word in the
//! subject blocks; an honest message passes.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Relay, png};
use sha2::{Digest, Sha256};
use tern_codec::mms::*;
use tern_codec::wsp::{ContentType, EncodedString, Part};

const SENDER: &str = "+15550100001";
const RECIPIENT: &str = "+15550100002";

fn send_req(tid: &str, declared: &str, data: Vec<u8>) -> Vec<u8> {
    let req = SendReq {
        transaction_id: Some(tid.into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: vec![Address::phone(RECIPIENT)],
        subject: Some(EncodedString::auto(tid)),
        ..SendReq::default()
    };
    let mut part = Part::new(ContentType::new(declared), data);
    part.headers.content_location = Some("note.txt".into());
    Message::with_body(req, Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), vec![part]))
        .encode()
}

fn status(relay: &Relay, pdu: &[u8]) -> (Option<ResponseStatus>, Option<String>) {
    let answer = relay.post(pdu, Some(SENDER));
    let Pdu::SendConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-send.conf") };
    (conf.response_status, conf.response_text.map(|t| t.text))
}

#[test]
fn parts_are_judged_by_what_they_are_and_a_block_stores_nothing() {
    let logged = b"a chain letter everyone has seen";
    let config = format!(
        r#"
[push]
bearer = "udp"

[[protection.profiles]]
name = "handsets"
file_filter = {{ types = ["application/x-executable"], mislabelled = true, actions = ["block"] }}
checksums = {{ sha256 = ["{}"], actions = ["log"] }}
banned_words = {{ words = [{{ word = "jackpot", score = 10 }}], threshold = 10, actions = ["block"] }}

[[protection.policies]]
interfaces = ["mm1-sent"]
profile = "handsets"
"#,
        hex::encode(Sha256::digest(logged))
    );
    let relay = Relay::start_with_config("protection-mm1", &config, &[]);

    let (refused, text) = status(&relay, &send_req("renamed", "text/plain", png()));
    assert_eq!(refused, Some(ResponseStatus::PERMANENT_CONTENT_NOT_ACCEPTED), "{text:?}");
    assert_eq!(relay.query("SELECT count(*) FROM messages"), [["0"]], "nothing blocked is stored");

    assert_eq!(status(&relay, &send_req("honest", "image/png", png())).0, Some(ResponseStatus::OK));
    assert_eq!(status(&relay, &send_req("logged", "text/plain", logged.to_vec())).0, Some(ResponseStatus::OK));
    assert_eq!(relay.query("SELECT count(*) FROM messages"), [["2"]]);
    // The subject is the message's tid here: a banned word in it blocks.
    let (refused, _) = status(&relay, &send_req("Jackpot-tonight", "text/plain", b"hello".to_vec()));
    assert_eq!(refused, Some(ResponseStatus::PERMANENT_CONTENT_NOT_ACCEPTED));
    assert_eq!(relay.query("SELECT count(*) FROM messages"), [["2"]]);

    let metrics = relay.metrics();
    let count = |labels: &str| {
        let line = format!("tern_protection_decisions_total{{{labels}}} ");
        metrics.lines().find_map(|l| l.strip_prefix(&line)).unwrap_or_else(|| panic!("{line} in {metrics}")).to_owned()
    };
    assert_eq!(count("interface=\"mm1-sent\",check=\"file-filter\",action=\"block\""), "1");
    assert_eq!(count("interface=\"mm1-sent\",check=\"checksum\",action=\"log\""), "1");
    assert_eq!(count("interface=\"mm1-sent\",check=\"banned-words\",action=\"block\""), "1");
}
