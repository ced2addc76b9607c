//! Protection end to end over MM1, with a real clamd and spamd where a check needs them.
//!
//! - Content filters: a picture declared as text is refused with m-send.conf
//!   Error-permanent-content-not-accepted and nothing stored; a part on the checksum list with
//!   the log action is stored and counted; a banned word in the subject blocks.
//! - clamd and spamd: the EICAR file is refused with the profile's replacement text (naming what
//!   was found, since the profile informs senders); GTUBE scores as spam and is refused; with the
//!   replace action the recipient fetches the replacement text instead of the infected part;
//!   clamd (over its unix socket) stopped gives the fail-closed profile's transient error and lets the fail-open
//!   profile's message through, and scanning is back when clamd is.
//! - Retrieval: a profile for `mm1-retrieved` serves the replacement text instead of a message
//!   it blocks.
//! - Flood and duplicates: thresholds at 10 (log), 20 (notify) and 30 (block) give exactly those
//!   actions at exactly those counts, one notification mail, an exempt sender is never blocked,
//!   and a count starts again after its window; the same content from different senders the
//!   same way.
//! - Quarantine: a held message is listed, released and then delivered, or deleted.
//! - Notifications: fifty blocked messages in one period give one mail.
//! - Endpoint filters block, exempt and log senders by their address.
//! - A scanner that never answers holds up only the message it scans: another sender's is
//!   answered meanwhile, and the scanned one goes on unscanned after the timeout (fail open).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::mail::Aiosmtpd;
use common::scanners::{Clamd, EICAR, GTUBE, Spamd};
use common::{Relay, png};
use sha2::{Digest, Sha256};
use tern_codec::mms::*;
use tern_codec::wsp::{ContentType, EncodedString, Part};

const SENDER: &str = "+15550100001";
const RECIPIENT: &str = "+15550100002";

fn send_req(tid: &str, declared: &str, data: Vec<u8>) -> Vec<u8> {
    send_parts(tid, &[(declared, "note.txt", data)])
}

/// An m-send.req to [`RECIPIENT`] with these parts (type, name, bytes); the subject is `tid`.
fn send_parts(tid: &str, parts: &[(&str, &str, Vec<u8>)]) -> Vec<u8> {
    let req = SendReq {
        transaction_id: Some(tid.into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: vec![Address::phone(RECIPIENT)],
        subject: Some(EncodedString::auto(tid)),
        ..SendReq::default()
    };
    let parts = parts
        .iter()
        .map(|(declared, name, data)| {
            let mut part = Part::new(ContentType::new(*declared), data.clone());
            part.headers.content_location = Some((*name).into());
            part
        })
        .collect();
    Message::with_body(req, Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), parts)).encode()
}

fn status(relay: &Relay, pdu: &[u8]) -> (Option<ResponseStatus>, Option<String>) {
    status_from(relay, pdu, SENDER)
}

fn status_from(relay: &Relay, pdu: &[u8], sender: &str) -> (Option<ResponseStatus>, Option<String>) {
    let answer = relay.post(pdu, Some(sender));
    let Pdu::SendConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-send.conf") };
    (conf.response_status, conf.response_text.map(|t| t.text))
}

fn decisions(relay: &Relay, interface: &str, check: &str, action: &str) -> u64 {
    relay.metric(&format!(
        "tern_protection_decisions_total{{interface=\"{interface}\",check=\"{check}\",action=\"{action}\"}}"
    )) as u64
}

/// The parts of the message a notification points at, fetched by [`RECIPIENT`]: (type, bytes).
fn fetch(relay: &Relay) -> Vec<(String, Vec<u8>)> {
    let Pdu::NotificationInd(n) = relay.next_push().1.pdu else { panic!("an m-notification.ind") };
    let answer = relay.get(n.content_location.as_deref().unwrap(), Some(RECIPIENT));
    assert_eq!(answer.status, 200);
    let message = Message::decode(&answer.body).unwrap();
    assert!(matches!(message.pdu, Pdu::RetrieveConf(_)), "an m-retrieve.conf");
    let body = message.body.as_ref().expect("a body");
    let parts = body.parts().iter().map(|p| (p.content_type.media_type.to_string(), p.data.to_vec())).collect();
    assert!(!answer.body.windows(EICAR.len()).any(|w| w == EICAR), "the EICAR file is never served");
    parts
}

/// No push reaches the test's UDP socket within `quiet`.
fn assert_no_push(relay: &Relay, quiet: Duration) {
    relay.udp.set_read_timeout(Some(quiet)).unwrap();
    let mut buf = [0u8; 2048];
    assert!(relay.udp.recv(&mut buf).is_err(), "a push arrived");
    relay.udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
}

/// The scanners' addresses as the relay's configuration gives them.
fn scanners(clamd: &Clamd, spamd: Option<&Spamd>) -> String {
    let mut out = format!("[protection.clamd]\naddress = \"127.0.0.1:{}\"\ntimeout_ms = 3000\n", clamd.port);
    if let Some(spamd) = spamd {
        out.push_str(&format!("[protection.spamd]\naddress = \"127.0.0.1:{}\"\ntimeout_ms = 20000\n", spamd.port));
    }
    out
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

[[protection.profiles]]
name = "elsewhere"
banned_words = {{ words = [{{ word = "honest", score = 10 }}], threshold = 10, actions = ["block"] }}

[[protection.policies]]
interfaces = ["mm1-sent"]
sources = ["127.0.0.0/8"]
profile = "handsets"

[[protection.policies]]
sources = ["10.0.0.0/8"]
profile = "elsewhere"
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

#[test]
fn eicar_and_gtube_are_refused_with_the_profiles_text_and_replace_gives_the_recipient_the_text() {
    let clamd = Clamd::start("protection-eicar-clamd");
    let spamd = Spamd::start("protection-eicar-spamd");
    let config = format!(
        r#"
[push]
bearer = "udp"

{}
[[protection.profiles]]
name = "block"
replacement = "Your message carried a virus and was not sent."
inform_sender = true
virus = {{ actions = ["block"], on_error = "closed" }}
spam = {{ threshold = 5.0, actions = ["block"] }}

[[protection.profiles]]
name = "clean"
replacement = "An infected attachment was removed."
virus = {{ actions = ["replace"] }}

[[protection.policies]]
interfaces = ["mm1-sent"]
senders = ["{SENDER}"]
profile = "block"

[[protection.policies]]
interfaces = ["mm1-sent"]
senders = ["+15550100003"]
profile = "clean"
"#,
        scanners(&clamd, Some(&spamd))
    );
    let relay = Relay::start_with_config("protection-eicar", &config, &[]);

    let infected = send_parts(
        "infected",
        &[
            ("text/plain", "note.txt", b"see attached".to_vec()),
            ("application/octet-stream", "eicar.com", EICAR.to_vec()),
        ],
    );
    let (refused, text) = status(&relay, &infected);
    assert_eq!(refused, Some(ResponseStatus::PERMANENT_CONTENT_NOT_ACCEPTED), "{text:?}");
    let text = text.unwrap_or_default();
    assert!(text.starts_with("Your message carried a virus and was not sent."), "{text}");
    assert!(text.to_ascii_lowercase().contains("eicar"), "the sender is told what was found: {text}");
    let spam = send_parts("offer", &[("text/plain", "note.txt", GTUBE.as_bytes().to_vec())]);
    assert_eq!(status(&relay, &spam).0, Some(ResponseStatus::PERMANENT_CONTENT_NOT_ACCEPTED));
    assert_eq!(relay.query("SELECT count(*) FROM messages"), [["0"]], "nothing blocked is stored");
    assert_no_push(&relay, Duration::from_millis(500));
    assert_eq!(decisions(&relay, "mm1-sent", "virus", "block"), 1);
    assert_eq!(decisions(&relay, "mm1-sent", "spam", "block"), 1);

    let clean =
        send_parts("clean", &[("text/plain", "note.txt", b"just a picture".to_vec()), ("image/png", "p.png", png())]);
    assert_eq!(status(&relay, &clean).0, Some(ResponseStatus::OK));
    let parts = fetch(&relay);
    assert!(parts.iter().any(|(t, d)| t == "image/png" && *d == png()), "{parts:?}");

    // The other profile replaces the infected part: the recipient gets the text and the note.
    assert_eq!(status_from(&relay, &infected, "+15550100003").0, Some(ResponseStatus::OK));
    let parts = fetch(&relay);
    assert_eq!(
        parts,
        [
            ("text/plain".to_owned(), b"see attached".to_vec()),
            ("text/plain".to_owned(), b"An infected attachment was removed.".to_vec())
        ]
    );
    assert_eq!(decisions(&relay, "mm1-sent", "virus", "replace"), 1);
}

#[test]
fn clamd_down_fails_open_or_closed_as_configured_and_scanning_comes_back_with_it() {
    let mut clamd = Clamd::start("protection-down-clamd");
    let config = format!(
        r#"
[push]
bearer = "udp"

[protection.clamd]
address = "{}"
timeout_ms = 3000

[[protection.profiles]]
name = "closed"
virus = {{ actions = ["block"], on_error = "closed" }}

[[protection.profiles]]
name = "open"
virus = {{ actions = ["block"], on_error = "open" }}

[[protection.policies]]
senders = ["{SENDER}"]
profile = "closed"

[[protection.policies]]
senders = ["+15550100003"]
profile = "open"
"#,
        clamd.socket.display()
    );
    let relay = Relay::start_with_config("protection-down", &config, &[]);
    let eicar = send_parts("eicar", &[("application/octet-stream", "eicar.com", EICAR.to_vec())]);
    let hello = send_parts("hello", &[("text/plain", "note.txt", b"hello".to_vec())]);
    assert_eq!(status(&relay, &eicar).0, Some(ResponseStatus::PERMANENT_CONTENT_NOT_ACCEPTED));

    clamd.stop();
    let (answer, text) = status(&relay, &hello);
    assert_eq!(answer, Some(ResponseStatus::TRANSIENT_FAILURE), "fail closed: {text:?}");
    assert_eq!(status_from(&relay, &hello, "+15550100003").0, Some(ResponseStatus::OK), "fail open");
    assert_eq!(relay.query("SELECT sender FROM messages"), [["+15550100003"]]);
    assert_eq!(decisions(&relay, "mm1-sent", "scanner-down", "fail-closed"), 1);
    assert_eq!(decisions(&relay, "mm1-sent", "scanner-down", "fail-open"), 1);

    clamd.restart();
    assert_eq!(status(&relay, &hello).0, Some(ResponseStatus::OK), "clamd is back");
    assert_eq!(status(&relay, &eicar).0, Some(ResponseStatus::PERMANENT_CONTENT_NOT_ACCEPTED));
    assert_eq!(status_from(&relay, &eicar, "+15550100003").0, Some(ResponseStatus::PERMANENT_CONTENT_NOT_ACCEPTED));
}

#[test]
fn a_message_blocked_on_retrieval_is_fetched_as_the_replacement_text() {
    let bad = b"a part the operator has since listed".to_vec();
    let config = format!(
        r#"
[push]
bearer = "udp"

[[protection.profiles]]
name = "late"
replacement = "This message was withheld."
checksums = {{ sha256 = ["{}"], actions = ["block"] }}

[[protection.policies]]
interfaces = ["mm1-retrieved"]
profile = "late"
"#,
        hex::encode(Sha256::digest(&bad))
    );
    let relay = Relay::start_with_config("protection-retrieved", &config, &[]);
    // Sending is not screened: the message is taken, then screened when it is fetched.
    assert_eq!(status(&relay, &send_req("listed", "text/plain", bad)).0, Some(ResponseStatus::OK));
    assert_eq!(fetch(&relay), [("text/plain".to_owned(), b"This message was withheld.".to_vec())]);
    assert_eq!(decisions(&relay, "mm1-retrieved", "checksum", "block"), 1);
    assert_eq!(status(&relay, &send_req("fine", "text/plain", b"fine".to_vec())).0, Some(ResponseStatus::OK));
    assert_eq!(fetch(&relay), [("text/plain".to_owned(), b"fine".to_vec())]);
}

#[test]
fn flood_thresholds_act_at_their_counts_exempt_senders_pass_and_counts_restart_after_the_window() {
    let Some(mailbox) = Aiosmtpd::mailbox("protection-flood-admin") else { return };
    let config = format!(
        r#"
[push]
bearer = "udp"

[protection.notify]
to = ["noc@operator.test"]
from = "tern@operator.test"
relay = "127.0.0.1:{}"
period_secs = 3600

[[protection.endpoints]]
pattern = "+15550100009"
action = "exempt-flood"

[[protection.profiles]]
name = "flood"
flood = {{ window_secs = 60, thresholds = [{{ count = 10, actions = ["log"] }}, {{ count = 20, actions = ["notify"] }}, {{ count = 30, actions = ["block"] }}] }}

[[protection.profiles]]
name = "brief"
flood = {{ window_secs = 2, thresholds = [{{ count = 2, actions = ["block"] }}] }}

[[protection.policies]]
senders = ["+1555010*"]
profile = "flood"

[[protection.policies]]
senders = ["+15550200001"]
profile = "brief"
"#,
        mailbox.port
    );
    let relay = Relay::start_with_config("protection-flood", &config, &[]);
    let statuses: Vec<Option<ResponseStatus>> = (1..=35)
        .map(|i| status(&relay, &send_req(&format!("flood-{i}"), "text/plain", format!("message {i}").into_bytes())))
        .map(|(s, text)| {
            if s != Some(ResponseStatus::OK) {
                assert_eq!(text.as_deref(), Some("the message was not accepted"), "nothing about thresholds");
            }
            s
        })
        .collect();
    assert!(statuses[..29].iter().all(|s| *s == Some(ResponseStatus::OK)), "{statuses:?}");
    assert!(statuses[29..].iter().all(|s| *s == Some(ResponseStatus::PERMANENT_SERVICE_DENIED)), "{statuses:?}");
    assert_eq!(decisions(&relay, "mm1-sent", "flood", "log"), 10, "messages 10 to 19");
    assert_eq!(decisions(&relay, "mm1-sent", "flood", "notify"), 10, "messages 20 to 29");
    assert_eq!(decisions(&relay, "mm1-sent", "flood", "block"), 6, "messages 30 to 35");
    assert_eq!(relay.query("SELECT count(*) FROM messages"), [["29"]]);

    // The exempt sender is in the profile's range, and never counted.
    for i in 1..=35 {
        let pdu = send_req(&format!("exempt-{i}"), "text/plain", format!("exempt {i}").into_bytes());
        assert_eq!(status_from(&relay, &pdu, "+15550100009").0, Some(ResponseStatus::OK), "message {i}");
    }
    assert_eq!(decisions(&relay, "mm1-sent", "flood", "block"), 6);

    // Ten notify decisions, one mail.
    let mails = mailbox.drain(Duration::from_secs(3));
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, ["noc@operator.test"]);

    let brief = "+15550200001";
    let pdu = |i: u32| send_req(&format!("brief-{i}"), "text/plain", format!("brief {i}").into_bytes());
    assert_eq!(status_from(&relay, &pdu(1), brief).0, Some(ResponseStatus::OK));
    assert_eq!(status_from(&relay, &pdu(2), brief).0, Some(ResponseStatus::PERMANENT_SERVICE_DENIED));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(status_from(&relay, &pdu(3), brief).0, Some(ResponseStatus::OK), "a new window");
}

#[test]
fn the_same_content_from_different_senders_is_counted_as_duplicates() {
    let config = r#"
[push]
bearer = "udp"

[[protection.endpoints]]
pattern = "+15550100999"
action = "exempt-flood"

[[protection.profiles]]
name = "dups"
duplicate = { window_secs = 60, thresholds = [{ count = 10, actions = ["log"] }, { count = 20, actions = ["archive"] }, { count = 30, actions = ["block"] }] }

[[protection.policies]]
interfaces = ["mm1-sent"]
profile = "dups"
"#;
    let relay = Relay::start_with_config("protection-duplicate", config, &[]);
    let same = |i: u32| send_req(&format!("copy-{i}"), "text/plain", b"the same chain letter".to_vec());
    // Each copy from another sender: the count is the content's, whoever sends it.
    let statuses: Vec<Option<ResponseStatus>> =
        (1..=35).map(|i| status_from(&relay, &same(i), &format!("+155501001{i:02}")).0).collect();
    assert!(statuses[..29].iter().all(|s| *s == Some(ResponseStatus::OK)), "{statuses:?}");
    assert!(statuses[29..].iter().all(|s| *s == Some(ResponseStatus::PERMANENT_SERVICE_DENIED)), "{statuses:?}");
    assert_eq!(decisions(&relay, "mm1-sent", "duplicate", "log"), 10, "copies 10 to 19");
    assert_eq!(decisions(&relay, "mm1-sent", "duplicate", "archive"), 10, "copies 20 to 29");
    assert_eq!(decisions(&relay, "mm1-sent", "duplicate", "block"), 6, "copies 30 to 35");
    assert_eq!(relay.query("SELECT count(*) FROM messages"), [["29"]]);
    assert_eq!(relay.query("SELECT count(*) FROM held WHERE kind = 'archive'"), [["10"]], "copies 20 to 29 archived");
    // Other content is not a duplicate, and the exempt sender's copies are not counted.
    let other = send_req("other", "text/plain", b"something else".to_vec());
    assert_eq!(status_from(&relay, &other, "+15550100200").0, Some(ResponseStatus::OK));
    assert_eq!(status_from(&relay, &same(36), "+15550100999").0, Some(ResponseStatus::OK));
}

#[test]
fn a_quarantined_message_is_listed_then_released_and_delivered_or_deleted() {
    let held = b"hold this for review".to_vec();
    let config = format!(
        r#"
[push]
bearer = "udp"

[[protection.profiles]]
name = "review"
checksums = {{ sha256 = ["{}"], actions = ["quarantine"] }}

[[protection.policies]]
interfaces = ["mm1-sent"]
profile = "review"
"#,
        hex::encode(Sha256::digest(&held))
    );
    let relay = Relay::start_with_config("protection-quarantine", &config, &[]);
    assert_eq!(status(&relay, &send_req("first", "text/plain", held.clone())).0, Some(ResponseStatus::OK));
    assert_eq!(status(&relay, &send_req("second", "text/plain", held.clone())).0, Some(ResponseStatus::OK));
    assert_no_push(&relay, Duration::from_secs(1));
    assert_eq!(relay.query("SELECT count(*) FROM recipients"), [["0"]], "held messages are not delivered");

    let list = relay.admin_request("GET", "/protection/held?kind=quarantine", b"");
    assert_eq!(list.status, 200);
    let list: serde_json::Value = serde_json::from_slice(&list.body).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["subject"], "first");
    assert_eq!(list[0]["reason"]["check"], "checksum");
    let (first, second) = (list[0]["id"].as_i64().unwrap(), list[1]["id"].as_i64().unwrap());

    let released = relay.admin_request("POST", &format!("/protection/held/{first}/release"), b"");
    assert_eq!(released.status, 200, "{}", String::from_utf8_lossy(&released.body));
    assert_eq!(fetch(&relay), [("text/plain".to_owned(), held.clone())]);
    assert_eq!(relay.admin_request("DELETE", &format!("/protection/held/{second}"), b"").status, 204);
    let list = relay.admin_request("GET", "/protection/held?kind=quarantine", b"");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&list.body).unwrap(), serde_json::json!([]));
    assert_eq!(relay.admin_request("POST", &format!("/protection/held/{second}/release"), b"").status, 404);
    assert_no_push(&relay, Duration::from_secs(1));
    assert_eq!(relay.query("SELECT count(*) FROM messages"), [["1"]]);
}

#[test]
fn fifty_blocked_messages_in_one_period_give_one_notification() {
    let Some(mailbox) = Aiosmtpd::mailbox("protection-notify-admin") else { return };
    let bad = b"a known bad part".to_vec();
    let config = format!(
        r#"
[push]
bearer = "udp"

[protection.notify]
to = ["noc@operator.test", "security@operator.test"]
from = "tern@operator.test"
relay = "127.0.0.1:{}"
period_secs = 3600

[[protection.profiles]]
name = "sums"
checksums = {{ sha256 = ["{}"], actions = ["block", "notify"] }}

[[protection.policies]]
interfaces = ["mm1-sent"]
profile = "sums"
"#,
        mailbox.port,
        hex::encode(Sha256::digest(&bad))
    );
    let relay = Relay::start_with_config("protection-notify", &config, &[]);
    for i in 0..50 {
        let pdu = send_req(&format!("bad-{i}"), "text/plain", bad.clone());
        assert_eq!(status(&relay, &pdu).0, Some(ResponseStatus::PERMANENT_CONTENT_NOT_ACCEPTED));
    }
    let mails = mailbox.drain(Duration::from_secs(3));
    assert_eq!(mails.len(), 1, "one notification for the period: {mails:?}");
    let mut to = mails[0].to.clone();
    to.sort();
    assert_eq!(to, ["noc@operator.test", "security@operator.test"]);
    assert!(mails[0].header("Subject").is_some_and(|s| s.starts_with("Tern protection")), "{:?}", mails[0].headers);
    assert_eq!(relay.metric("tern_protection_notifications_total{outcome=\"sent\"}"), 1.0);
}

#[test]
fn endpoint_filters_block_exempt_and_log_senders_by_address() {
    let config = r#"
[push]
bearer = "udp"

[[protection.endpoints]]
pattern = "+15550100007"
action = "block"

[[protection.endpoints]]
pattern = "re:^\\+1555010000[89]$"
action = "exempt"

[[protection.endpoints]]
pattern = "+1555020*"
action = "log"

[[protection.profiles]]
name = "words"
banned_words = { words = [{ word = "jackpot", score = 10 }], threshold = 10, actions = ["block"] }

[[protection.policies]]
interfaces = ["mm1-sent"]
profile = "words"
"#;
    let relay = Relay::start_with_config("protection-endpoints", config, &[]);
    let hello = send_req("hello", "text/plain", b"hello".to_vec());
    let jackpot = send_req("jackpot", "text/plain", b"hello".to_vec());
    let (blocked, text) = status_from(&relay, &hello, "+15550100007");
    assert_eq!(blocked, Some(ResponseStatus::PERMANENT_SERVICE_DENIED), "{text:?}");
    assert_eq!(status_from(&relay, &jackpot, "+15550100008").0, Some(ResponseStatus::OK), "exempt from screening");
    assert_eq!(status_from(&relay, &jackpot, "+15550100009").0, Some(ResponseStatus::OK), "exempt from screening");
    assert_eq!(
        status_from(&relay, &jackpot, "+15550100001").0,
        Some(ResponseStatus::PERMANENT_CONTENT_NOT_ACCEPTED),
        "others are screened"
    );
    assert_eq!(status_from(&relay, &hello, "+15550200001").0, Some(ResponseStatus::OK), "logged only");
    assert_eq!(decisions(&relay, "mm1-sent", "endpoint", "block"), 1);
    assert_eq!(decisions(&relay, "mm1-sent", "endpoint", "exempt"), 2);
    assert_eq!(decisions(&relay, "mm1-sent", "endpoint", "log"), 1);
    assert_eq!(
        relay.query("SELECT sender FROM messages ORDER BY sender"),
        [["+15550100008"], ["+15550100009"], ["+15550200001"]]
    );
}

#[test]
fn a_scanner_that_never_answers_holds_up_only_the_messages_it_scans() {
    // A "clamd" that takes connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>> = Default::default();
    let keep = held.clone();
    std::thread::spawn(move || {
        for stream in silent.incoming().map_while(Result::ok) {
            keep.lock().unwrap().push(stream);
        }
    });
    let config = format!(
        r#"
[push]
bearer = "udp"

[protection.clamd]
address = "127.0.0.1:{port}"
timeout_ms = 8000

[[protection.profiles]]
name = "scan"
virus = {{ actions = ["block"], on_error = "open" }}

[[protection.policies]]
senders = ["{SENDER}"]
profile = "scan"
"#
    );
    let relay = std::sync::Arc::new(Relay::start_with_config("protection-silent", &config, &[]));
    let scanned = {
        let relay = relay.clone();
        std::thread::spawn(move || status(&relay, &send_req("scanned", "text/plain", b"wait for me".to_vec())).0)
    };
    // Once the scanned message is with the scanner, another sender's message goes through.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while held.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the relay never asked the scanner");
        std::thread::sleep(Duration::from_millis(20));
    }
    let other = send_req("other", "text/plain", b"not scanned".to_vec());
    assert_eq!(status_from(&relay, &other, "+15550100003").0, Some(ResponseStatus::OK));
    assert!(!scanned.is_finished(), "the other message was answered while the scan still waited");
    assert_eq!(relay.query("SELECT sender FROM messages"), [["+15550100003"]]);
    // The scan times out and the profile lets the message through unscanned.
    assert_eq!(scanned.join().unwrap(), Some(ResponseStatus::OK));
    assert_eq!(decisions(&relay, "mm1-sent", "scanner-down", "fail-open"), 1);
}
