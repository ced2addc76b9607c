//! The SMPP bearer end to end: a real `tern serve` binds to a real SMSC (npm `smpp` 0.5.1 running
//! `shared/peers/smsc.js`) and sends each notification as binary submit_sm; what the SMSC logs
//! reassembles to a WSP push that tshark reads as SMS to port 2948 carrying an
//! m-notification-ind, whose Content-Location retrieves the message. Long notifications are
//! concatenated; an SMSC that is down at start, or dies and comes back, loses nothing.
//!
//! The message_payload and TLV modes, weighted links and throttling are checked against
//! `tests/peers/smsc-plus.js`: the same npm SMSC, also logging the TLVs and how it answered, and
//! able to answer with ESME_RTHROTTLED, with a generic_nack, or not at all.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Relay, Smsc};
use serde_json::Value;
use tern_codec::mms::*;
use tern_codec::push::Push;
use tern_codec::sms::segment::Reassembler;
use tern_codec::sms::udh::UserData;
use tern_codec::wsp::{ContentType, EncodedString, Part};

const SENDER: &str = "+15550100001";
const RECIPIENT: &str = "+15550100002";
/// The 16-bit application port IE: destination 2948 (WAP push), source 9200 (WSP).
const PORT_IE: &str = "05040b8423f0";

/// A relay whose bearer is the SMSC on `port`, retrying failed pushes after 1 s (then 2 s).
fn relay(name: &str, port: u16, smpp: &str) -> Relay {
    relay_with_link(name, port, smpp, "")
}

/// Like [`relay`], with more keys (`link`) for its one link.
fn relay_with_link(name: &str, port: u16, smpp: &str, link: &str) -> Relay {
    let config =
        format!("[push]\nbearer = \"smpp\"\n[push.smpp]\n{smpp}\n[[push.smpp.links]]\nport = {port}\n{link}\n");
    Relay::start_with_config(
        name,
        &config,
        &[
            // The harness's environment would otherwise select the UDP bearer over the file.
            ("TERN_PUSH__BEARER", "smpp"),
            ("TERN_DELIVERY__INITIAL_BACKOFF_SECS", "1"),
            ("TERN_DELIVERY__MAX_BACKOFF_SECS", "2"),
            ("TERN_DELIVERY__MAX_ATTEMPTS", "50"),
        ],
    )
}

fn send_req(to: &str, tid: &str, subject: &str) -> Vec<u8> {
    let req = SendReq {
        transaction_id: Some(tid.into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: vec![Address::phone(to)],
        subject: Some(EncodedString::auto(subject)),
        ..SendReq::default()
    };
    let text =
        Part::new(ContentType::new("text/plain").with_charset(tern_codec::wsp::Charset::UTF_8), &b"hi there"[..]);
    Message::with_body(req, Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), vec![text]))
        .encode()
}

/// Posts an m-send.req for [`RECIPIENT`] and returns the Message-ID the relay gave it.
fn send(relay: &Relay, tid: &str, subject: &str) -> String {
    send_to(relay, RECIPIENT, tid, subject)
}

/// Posts an m-send.req for `to` and returns the Message-ID the relay gave it.
fn send_to(relay: &Relay, to: &str, tid: &str, subject: &str) -> String {
    let answer = relay.post(&send_req(to, tid, subject), Some(SENDER));
    assert_eq!(answer.status, 200);
    let Pdu::SendConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-send.conf") };
    assert_eq!(conf.response_status, Some(ResponseStatus::OK), "{:?}", conf.response_text);
    conf.message_id.unwrap()
}

/// One push as the SMSC saw it: its submit_sm (in arrival order), their user data, and the
/// reassembled WSP push.
struct Received {
    submits: Vec<Value>,
    user_data: Vec<Vec<u8>>,
    push: Vec<u8>,
}

/// `tests/peers/smsc-plus.js`: smsc.js that also logs submit_sm TLVs, the message_payload UDH,
/// and the status and time (ms) of each answer; the first `throttle` submit_sm are answered with
/// ESME_RTHROTTLED.
struct SmscPlus {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<Value>,
}

impl SmscPlus {
    fn start(throttle: u32) -> SmscPlus {
        SmscPlus::start_with(&[("THROTTLE", &throttle.to_string())])
    }

    /// With other misbehaviours: `SILENT=N` leaves the first N submit_sm unanswered, `NACK=N`
    /// answers them with a generic_nack.
    fn start_with(env: &[(&str, &str)]) -> SmscPlus {
        let port = common::free_port();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/smsc-plus.js");
        let mut child = Command::new("node")
            .arg(script)
            .env("PORT", port.to_string())
            .envs(env.iter().copied())
            .env("NODE_PATH", common::npm_modules())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("PEER MISSING: node ({e}); install it with `apt-get install -y nodejs npm`"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str(&line) {
                    let _ = tx.send(value);
                }
            }
        });
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
        assert!(first.starts_with("SMSC listening"), "smsc-plus.js did not start: {first}");
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
                eprintln!("smsc-plus: {line}");
            }
        });
        SmscPlus { child, port, lines }
    }

    /// Waits until Tern has bound to this SMSC.
    fn wait_bound(&self) {
        loop {
            let line = self.lines.recv_timeout(Duration::from_secs(15)).expect("a bind within 15 s");
            if line["ok"] == true {
                return;
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmscPlus {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Either SMSC peer, as far as reading its submit_sm log goes.
trait Submits {
    fn next_submit(&self, timeout: Duration) -> Option<Value>;
}

impl Submits for Smsc {
    fn next_submit(&self, timeout: Duration) -> Option<Value> {
        Smsc::next_submit(self, timeout)
    }
}

impl Submits for SmscPlus {
    fn next_submit(&self, timeout: Duration) -> Option<Value> {
        common::next_submit_in(&self.lines, timeout)
    }
}

/// The next push whose accepted segments all reached the SMSC within `timeout`; submit_sm the
/// SMSC refused (smsc-plus.js logs a non-zero status) are left out.
fn next_push(smsc: &impl Submits, timeout: Duration) -> Received {
    let deadline = Instant::now() + timeout;
    let mut reassembler = Reassembler::new(16);
    let mut pending: HashMap<Option<u16>, Vec<(Value, Vec<u8>)>> = HashMap::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let submit = smsc.next_submit(left).expect("a complete push at the SMSC in time");
        if submit["status"].as_i64().is_some_and(|status| status != 0) {
            continue;
        }
        let ud = common::logged_user_data(&submit);
        let decoded = UserData::decode(&ud, true).unwrap();
        let key = decoded.header.as_ref().and_then(|h| h.concat()).map(|c| c.reference);
        let done = reassembler.push("tern", &decoded);
        let group = pending.entry(key).or_default();
        group.push((submit, ud.clone()));
        if let Some(done) = done {
            assert_eq!(done.ports, Some((2948, 9200)));
            let (submits, user_data) = pending.remove(&key).unwrap().into_iter().unzip();
            return Received { submits, user_data, push: done.payload };
        }
    }
}

/// The next push whose segments the SMSC all acknowledged (status 0) before `deadline`, with
/// every submit_sm taken on the way, acknowledged or not, added to `submits`.
fn accepted_push(
    smsc: &SmscPlus,
    reassembler: &mut Reassembler,
    submits: &mut Vec<Value>,
    deadline: Instant,
) -> Vec<u8> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let submit = smsc.next_submit(left).expect("a push acknowledged by the SMSC in time");
        submits.push(submit.clone());
        if submit["status"] != 0 {
            continue;
        }
        let ud = common::logged_user_data(&submit);
        if let Some(done) = reassembler.push("tern", &UserData::decode(&ud, true).unwrap()) {
            return done.payload;
        }
    }
}

fn notification(push: &[u8]) -> NotificationInd {
    let push = Push::decode(push).unwrap();
    assert!(push.is_mms(), "a push for the MMS user agent");
    match Message::decode(&push.body).unwrap().into_owned().pdu {
        Pdu::NotificationInd(n) => n,
        other => panic!("expected an m-notification-ind, got {other:?}"),
    }
}

/// GETs the notification's Content-Location as the recipient; returns the Message-ID.
fn retrieve(relay: &Relay, n: &NotificationInd) -> String {
    let answer = relay.get(n.content_location.as_deref().unwrap(), Some(RECIPIENT));
    assert_eq!(answer.status, 200);
    match Message::decode(&answer.body).unwrap().pdu {
        Pdu::RetrieveConf(conf) => conf.message_id.unwrap(),
        other => panic!("expected an m-retrieve-conf, got {other:?}"),
    }
}

/// The concatenation IEs of each submit_sm as (IEI, reference, total, seq).
fn concat_ies(submits: &[Value]) -> Vec<(u8, u16, u8, u8)> {
    submits
        .iter()
        .map(|s| {
            let ies: Vec<Vec<u8>> =
                s["udh"].as_array().unwrap().iter().map(|ie| hex::decode(ie.as_str().unwrap()).unwrap()).collect();
            let ie = ies.iter().find(|ie| ie[0] == 0x00 || ie[0] == 0x08).expect("a concatenation IE");
            match ie[..] {
                [0x00, 3, reference, total, seq] => (0x00, u16::from(reference), total, seq),
                [0x08, 4, hi, lo, total, seq] => (0x08, u16::from_be_bytes([hi, lo]), total, seq),
                _ => panic!("malformed concatenation IE {ie:02x?}"),
            }
        })
        .collect()
}

/// Checks a long push arrived as submit_sm 1..=n of n sharing one reference of the given IE.
fn assert_concatenated(received: &Received, iei: u8) {
    let mut ies = concat_ies(&received.submits);
    assert!(ies.len() >= 3, "a 300-character subject needs several segments: {}", ies.len());
    ies.sort_by_key(|ie| ie.3);
    let (_, reference, total, _) = ies[0];
    for (i, ie) in ies.iter().enumerate() {
        assert_eq!(*ie, (iei, reference, total, u8::try_from(i + 1).unwrap()), "{ies:?}");
    }
    assert_eq!(usize::from(total), ies.len());
}

#[test]
fn a_notification_goes_out_as_binary_submit_sm_that_tshark_reads_and_retrieves_the_message() {
    let smsc = Smsc::start(common::free_port());
    let relay = relay("smpp-notify", smsc.port, "");
    let id = send(&relay, "s1", "hello");

    let received = next_push(&smsc, Duration::from_secs(15));
    for submit in &received.submits {
        assert_eq!(submit["dest"], "15550100002", "the recipient without '+': {submit}");
        assert_eq!(submit["source"], "MMSC");
        assert_eq!(submit["esm_class"], 0x40, "UDHI");
        assert_eq!(submit["data_coding"], 4, "8-bit data");
        assert_eq!(submit["registered_delivery"], 0);
        let udh: Vec<&str> = submit["udh"].as_array().unwrap().iter().map(|ie| ie.as_str().unwrap()).collect();
        assert!(udh.contains(&PORT_IE), "the WAP push port IE in {udh:?}");
        assert!(common::logged_user_data(submit).len() <= 140);
    }
    let n = notification(&received.push);
    let url = n.content_location.clone().unwrap();
    assert!(url.starts_with(&format!("{}/m/", relay.base)), "{url}");
    assert_eq!(retrieve(&relay, &n), id, "the notification retrieves the message sent");

    // tshark reads the same user data, delivered to a handset, as SMS to port 2948 carrying a
    // WSP push of an m-notification-ind (decoded in the frame that completes the push).
    let rows = common::tshark_sms("notify", &received.user_data);
    assert_eq!(rows.len(), received.user_data.len(), "{rows:?}");
    assert!(rows.iter().all(|r| r[0] == "2948"), "destination ports: {rows:?}");
    let decoded: Vec<&Vec<String>> = rows.iter().filter(|r| r.get(2).is_some_and(|t| !t.is_empty())).collect();
    assert_eq!(decoded.len(), 1, "{rows:?}");
    assert_eq!(decoded[0][1], "0x06", "WSP push");
    assert_eq!(decoded[0][2], "0x82", "m-notification-ind");
    assert_eq!(decoded[0][3], url);

    // The admin endpoint counts what the link did, per link, in the Prometheus text format.
    let metrics = relay.metrics();
    let value = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && l.contains("link=\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let segments = received.submits.len() as f64;
    assert_eq!(value("tern_smpp_bound{"), Some(1.0), "{metrics}");
    assert_eq!(value("tern_smpp_submitted_total{"), Some(segments), "{metrics}");
    assert_eq!(value("tern_smpp_acknowledged_total{"), Some(segments), "{metrics}");
    assert_eq!(value("tern_smpp_window_in_use{"), Some(0.0), "{metrics}");
    assert!(metrics.contains("tern_pushes_total{outcome=\"sent\"}"), "{metrics}");
}

#[test]
fn a_long_notification_is_concatenated_under_one_reference() {
    let smsc = Smsc::start(common::free_port());
    let relay = relay("smpp-long", smsc.port, "");
    let subject = "A long subject that needs several short messages. ".repeat(6);
    let id = send(&relay, "l1", &subject);
    let received = next_push(&smsc, Duration::from_secs(15));
    assert_concatenated(&received, 0x00);
    let n = notification(&received.push);
    assert_eq!(n.subject.map(|s| s.text).as_deref(), Some(subject.as_str()));
    let rows = common::tshark_sms("long", &received.user_data);
    assert!(rows.iter().all(|r| r[0] == "2948"), "{rows:?}");
    assert!(rows.iter().any(|r| r.get(2).is_some_and(|t| t == "0x82")), "tshark reassembles it: {rows:?}");
    let n = notification(&received.push);
    assert_eq!(retrieve(&relay, &n), id);
}

#[test]
fn an_smsc_down_at_start_leaves_the_queue_alone_and_gets_the_notification_once_it_is_up() {
    let port = common::free_port();
    let relay = relay("smpp-late", port, "concat_reference_16bit = true");
    let id = send(&relay, "d1", &"Sent while the SMSC is down. ".repeat(10));
    // With no link bound, the push is not taken from the queue only to be put back "not bound"
    // at every backoff (1 s here): over four seconds it stays untouched.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(relay.query("SELECT state, attempts, coalesce(last_error, '-') FROM pushes"), [["pending", "0", "-"]]);
    assert_eq!(metric(&relay, "tern_pushes_total"), 0.0, "no push was tried");

    let smsc = Smsc::start(port);
    let received = next_push(&smsc, Duration::from_secs(20));
    assert_concatenated(&received, 0x08);
    assert_eq!(retrieve(&relay, &notification(&received.push)), id);
}

#[test]
fn a_message_accepted_while_the_smsc_is_dead_is_notified_when_it_is_back() {
    let mut smsc = Smsc::start(common::free_port());
    let port = smsc.port;
    let relay = relay("smpp-restart", port, "");
    let first = send(&relay, "r1", "before");
    assert_eq!(retrieve(&relay, &notification(&next_push(&smsc, Duration::from_secs(15)).push)), first);

    smsc.kill();
    let second = send(&relay, "r2", "while the SMSC is dead");
    std::thread::sleep(Duration::from_secs(1));
    let smsc = Smsc::start(port);
    // Notifications of the first message may be repeated; the second's must come.
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let received = next_push(&smsc, left);
        if retrieve(&relay, &notification(&received.push)) == second {
            break;
        }
    }
}

#[test]
fn with_another_bearer_routed_pushes_no_link_can_take_wait_aside_and_go_when_a_link_binds() {
    let port = common::free_port();
    // SMPP for every number but one range, which has UDP (to the harness's socket).
    let config = format!(
        "[push]\nbearer = \"smpp\"\n[[push.smpp.links]]\nport = {port}\n\
         [[push.routes]]\nprefix = \"+1555030\"\nbearer = \"udp\"\n"
    );
    let env = [
        ("TERN_PUSH__BEARER", "smpp"),
        ("TERN_DELIVERY__INITIAL_BACKOFF_SECS", "1"),
        ("TERN_DELIVERY__MAX_BACKOFF_SECS", "2"),
        ("TERN_DELIVERY__MAX_ATTEMPTS", "50"),
    ];
    let relay = Relay::start_with_config("smpp-beside-udp", &config, &env);
    let mut ids: Vec<String> = (0..5).map(|i| send(&relay, &format!("w{i}"), "while the SMSC is down")).collect();
    send_to(&relay, "+15550300001", "u1", "over UDP");
    // The SMSC's absence holds up nothing the other bearer carries.
    let (_, udp) = relay.next_push();
    assert!(matches!(udp.pdu, Pdu::NotificationInd(_)), "{:?}", udp.pdu);
    // The SMPP pushes were tried once each and set aside without using up an attempt; with a
    // backoff of 1 s, they are not taken from the queue again while no link is bound.
    let waiting = format!(
        "SELECT state, attempts, last_error, count(*) FROM pushes WHERE msisdn = '{RECIPIENT}' GROUP BY 1, 2, 3"
    );
    relay.query_until(&waiting, &[&["waiting", "0", "no SMPP link is bound", "5"]]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(relay.query(&waiting), [["waiting", "0", "no SMPP link is bound", "5"]]);
    assert_eq!(pushes(&relay, "waiting"), 5.0, "each set aside once");

    let smsc = Smsc::start(port);
    ids.sort();
    assert_eq!(retrieve_each(&relay, &smsc, ids.len()), ids, "each set-aside push goes out once the link binds");
}

#[test]
fn a_push_no_bearer_can_carry_stays_aside_while_the_links_are_up() {
    let smsc = Smsc::start(common::free_port());
    // SMPP for every number but one range, which has no bearer at all.
    let config = format!(
        "[push]\nbearer = \"smpp\"\n[[push.smpp.links]]\nport = {}\n\
         [[push.routes]]\nprefix = \"+1555030\"\nbearer = \"none\"\n",
        smsc.port
    );
    let env = [("TERN_PUSH__BEARER", "smpp"), ("TERN_DELIVERY__INITIAL_BACKOFF_SECS", "1")];
    let relay = Relay::start_with_config("smpp-beside-none", &config, &env);
    let id = send(&relay, "s1", "over SMPP");
    assert_eq!(retrieve(&relay, &notification(&next_push(&smsc, Duration::from_secs(15)).push)), id);
    send_to(&relay, "+15550300001", "n1", "no bearer");
    let aside = "SELECT state, attempts, last_error FROM pushes WHERE msisdn = '+15550300001'";
    relay.query_until(aside, &[&["waiting", "0", "no bearer configured"]]);
    // A bound link cannot carry it: it is not sent back to the queue again and again.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(relay.query(aside), [["waiting", "0", "no bearer configured"]]);
    assert_eq!(pushes(&relay, "waiting"), 1.0, "tried once");
}

/// `tern_pushes_total` for one outcome.
fn pushes(relay: &Relay, outcome: &str) -> f64 {
    let prefix = format!("tern_pushes_total{{outcome=\"{outcome}\"}} ");
    relay.metrics().lines().filter_map(|l| l.strip_prefix(&prefix)?.parse::<f64>().ok()).sum()
}

#[test]
fn pushes_go_over_the_bound_link_when_another_is_down_or_refused() {
    let smsc = Smsc::start(common::free_port());
    let dead = common::free_port();
    let config = format!(
        "[push]\nbearer = \"smpp\"\n[[push.smpp.links]]\nport = {dead}\n\
         [[push.smpp.links]]\nport = {live}\npassword = \"wrong\"\n\
         [[push.smpp.links]]\nport = {live}\nbind = \"transmitter\"\n",
        live = smsc.port
    );
    // A push tried again goes after 1 s, not the default 30 s.
    let env = [("TERN_PUSH__BEARER", "smpp"), ("TERN_DELIVERY__INITIAL_BACKOFF_SECS", "1")];
    let relay = Relay::start_with_config("smpp-links", &config, &env);
    let mut ids: Vec<String> = (0..3).map(|i| send(&relay, &format!("m{i}"), "three links")).collect();
    ids.sort();
    assert_eq!(retrieve_each(&relay, &smsc, ids.len()), ids);
}

/// Retrieves what the notifications reaching `smsc` point at until `count` different messages
/// were fetched (a notification not yet answered may come again), waiting up to 20 s for each;
/// their Message-IDs, sorted.
fn retrieve_each(relay: &Relay, smsc: &impl Submits, count: usize) -> Vec<String> {
    let mut retrieved = Vec::new();
    while retrieved.len() < count {
        let id = retrieve(relay, &notification(&next_push(smsc, Duration::from_secs(20)).push));
        if !retrieved.contains(&id) {
            retrieved.push(id);
        }
    }
    retrieved.sort();
    retrieved
}

/// The octets of a hex field smsc-plus.js logged.
fn hex_field(submit: &Value, field: &str) -> Vec<u8> {
    hex::decode(submit[field].as_str().unwrap_or_else(|| panic!("{field} in {submit}"))).unwrap()
}

const LONG_SUBJECT: &str = "A long subject that needs several short messages. ";

#[test]
fn payload_mode_sends_the_whole_datagram_in_one_message_payload() {
    let smsc = SmscPlus::start(0);
    let relay = relay("smpp-payload", smsc.port, "mode = \"payload\"");
    let subject = LONG_SUBJECT.repeat(6);
    let id = send(&relay, "p1", &subject);
    let submit = smsc.next_submit(Duration::from_secs(15)).expect("a submit_sm");
    assert_eq!(submit["esm_class"], 0x40, "UDHI: message_payload starts with a UDH");
    assert_eq!(submit["message_hex"], "", "sm_length 0: {submit}");
    assert_eq!(submit["payload_udh"], serde_json::json!([PORT_IE]), "the port element only: {submit}");
    assert!(submit["sar_msg_ref_num"].is_null() && submit["source_port"].is_null(), "{submit}");
    let push = hex_field(&submit, "payload_hex");
    assert!(push.len() > 140, "the whole push, longer than one short message: {}", push.len());
    let n = notification(&push);
    assert_eq!(n.subject.as_ref().map(|s| s.text.as_str()), Some(subject.as_str()));
    assert_eq!(retrieve(&relay, &n), id);
    assert!(smsc.next_submit(Duration::from_millis(500)).is_none(), "one submit_sm for the whole push");
}

#[test]
fn tlv_mode_puts_ports_and_segmentation_in_tlvs_instead_of_a_udh() {
    let smsc = SmscPlus::start(0);
    let relay = relay("smpp-tlv", smsc.port, "mode = \"tlv\"");
    let ports = |submit: &Value| {
        assert_eq!(submit["esm_class"], 0, "no UDH: {submit}");
        assert!(submit["udh"].is_null(), "{submit}");
        assert_eq!((&submit["source_port"], &submit["dest_port"]), (&9200.into(), &2948.into()), "{submit}");
    };

    // 140-octet segments numbered 1..=n of n under one reference.
    let subject = LONG_SUBJECT.repeat(6);
    let id = send(&relay, "t1", &subject);
    let mut segments: Vec<Value> = Vec::new();
    loop {
        let submit = smsc.next_submit(Duration::from_secs(15)).expect("every segment");
        ports(&submit);
        segments.push(submit);
        if segments.len() == segments[0]["sar_total_segments"].as_u64().unwrap() as usize {
            break;
        }
    }
    assert!(segments.len() >= 3, "{} segments", segments.len());
    segments.sort_by_key(|s| s["sar_segment_seqnum"].as_u64());
    let mut push = Vec::new();
    for (i, submit) in segments.iter().enumerate() {
        assert_eq!(submit["sar_msg_ref_num"], segments[0]["sar_msg_ref_num"], "{submit}");
        assert_eq!(submit["sar_segment_seqnum"], i + 1, "{submit}");
        let data = hex_field(submit, "message_hex");
        if i + 1 < segments.len() {
            assert_eq!(data.len(), 140, "full segments but the last");
        }
        push.extend(data);
    }
    let n = notification(&push);
    assert_eq!(n.subject.as_ref().map(|s| s.text.as_str()), Some(subject.as_str()));
    assert_eq!(retrieve(&relay, &n), id);
}

/// The Message-IDs that `count` notifications retrieve, each taken from whichever SMSC got it,
/// and how many went to each.
fn collect(relay: &Relay, smscs: &[&SmscPlus], count: usize) -> (Vec<String>, Vec<usize>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut reassemblers: Vec<Reassembler> = smscs.iter().map(|_| Reassembler::new(16)).collect();
    let (mut ids, mut per_smsc) = (Vec::new(), vec![0; smscs.len()]);
    while ids.len() < count {
        assert!(Instant::now() < deadline, "only {} of {count} notifications: {per_smsc:?}", ids.len());
        for (i, smsc) in smscs.iter().enumerate() {
            if let Some(submit) = smsc.next_submit(Duration::from_millis(50)) {
                let ud = common::logged_user_data(&submit);
                if let Some(done) = reassemblers[i].push("tern", &UserData::decode(&ud, true).unwrap()) {
                    ids.push(retrieve(relay, &notification(&done.payload)));
                    per_smsc[i] += 1;
                }
            }
        }
    }
    (ids, per_smsc)
}

#[test]
fn links_take_turns_by_weight_and_the_live_one_takes_all_when_the_other_dies() {
    let mut heavy = SmscPlus::start(0);
    let light = SmscPlus::start(0);
    let config = format!(
        "[push]\nbearer = \"smpp\"\n[[push.smpp.links]]\nport = {}\nweight = 3\n[[push.smpp.links]]\nport = {}\n",
        heavy.port, light.port
    );
    let relay = Relay::start_with_config("smpp-weights", &config, &[("TERN_PUSH__BEARER", "smpp")]);
    heavy.wait_bound();
    light.wait_bound();

    // Weights 3 and 1 share 12 pushes 9 to 3.
    let mut sent: Vec<String> = (0..12).map(|i| send(&relay, &format!("w{i}"), "weighted")).collect();
    let (mut ids, per_smsc) = collect(&relay, &[&heavy, &light], sent.len());
    assert_eq!(per_smsc, [9, 3]);
    sent.sort();
    ids.sort();
    assert_eq!(ids, sent);

    // With the heavier SMSC dead, everything goes over the other link and nothing is lost.
    heavy.kill();
    let mut sent: Vec<String> = (0..4).map(|i| send(&relay, &format!("d{i}"), "one link left")).collect();
    let (mut ids, per_smsc) = collect(&relay, &[&light], sent.len());
    assert_eq!(per_smsc, [4]);
    sent.sort();
    ids.sort();
    assert_eq!(ids, sent);
}

#[test]
fn a_throttling_smsc_slows_tern_down_and_gets_every_notification_once() {
    // The first long push's segments, sent together, are all refused at first.
    let smsc = SmscPlus::start(3);
    let relay = relay("smpp-throttle", smsc.port, "");
    let subjects = [LONG_SUBJECT.repeat(6), "second".to_owned(), "third".to_owned()];
    let mut sent: Vec<String> =
        subjects.iter().enumerate().map(|(i, subject)| send(&relay, &format!("th{i}"), subject)).collect();

    let deadline = Instant::now() + Duration::from_secs(25);
    let mut reassembler = Reassembler::new(16);
    let (mut submits, mut ids) = (Vec::new(), Vec::new());
    while ids.len() < sent.len() {
        let push = accepted_push(&smsc, &mut reassembler, &mut submits, deadline);
        ids.push(retrieve(&relay, &notification(&push)));
    }
    // Anything sent twice would come within the throttle pause.
    while let Some(submit) = smsc.next_submit(Duration::from_millis(1500)) {
        submits.push(submit);
    }

    sent.sort();
    ids.sort();
    assert_eq!(ids, sent, "every message's notification accepted");
    let refused: Vec<&Value> = submits.iter().filter(|s| s["status"] != 0).collect();
    assert_eq!(refused.len(), 3, "{submits:?}");
    assert!(refused.iter().all(|s| s["status"] == 0x58));
    // Tern paused after being told to slow down: past what was already on its way when the
    // refusals came, nothing went out for about a second, and the refused segments went again.
    let time = |s: &Value| s["t"].as_u64().unwrap();
    let last_refused = refused.iter().map(|s| time(s)).max().unwrap();
    let paused = |t: u64| t > last_refused + 100 && t < last_refused + 900;
    assert!(!submits.iter().any(|s| paused(time(s))), "submit_sm during the pause: {submits:?}");
    for refusal in &refused {
        let ud = common::logged_user_data(refusal);
        let again = submits.iter().find(|s| s["status"] == 0 && common::logged_user_data(s) == ud).unwrap();
        assert!(time(again) >= time(refusal) + 900, "sent again {} ms later", time(again) - time(refusal));
    }
    // Only the refused segments went again: each accepted one reached the SMSC once.
    let accepted: Vec<Vec<u8>> = submits.iter().filter(|s| s["status"] == 0).map(common::logged_user_data).collect();
    let distinct: HashSet<&Vec<u8>> = accepted.iter().collect();
    assert_eq!(distinct.len(), accepted.len(), "an accepted segment was sent twice");
}

#[test]
fn delivery_receipts_are_recorded_against_the_notification() {
    let smsc = SmscPlus::start(0);
    let relay = relay("smpp-receipts", smsc.port, "registered_delivery = true");
    let id = send(&relay, "rc1", "with a receipt");
    let received = next_push(&smsc, Duration::from_secs(15));
    assert!(received.submits.iter().all(|s| s["registered_delivery"] == 1), "{:?}", received.submits);
    // Fetched, so no further notifications (and receipts) follow.
    assert_eq!(retrieve(&relay, &notification(&received.push)), id);
    // One receipt per part, each linked to the push. The parts' receipts come one by one and
    // can overtake the record of the submits, so the rows are awaited whole.
    let part: &[&str] = &["DELIVRD", "1"];
    let parts = vec![part; received.submits.len()];
    relay.query_until("SELECT state, push IS NOT NULL FROM receipts", &parts);
    let status = format!(
        "SELECT r.state, r.status_text FROM recipients r JOIN messages m ON m.id = r.message WHERE m.message_id = '{id}'"
    );
    relay.query_until(&status, &[&["retrieved", "notification SMS delivrd"]]);
    assert!(relay.metrics().contains("tern_smpp_deliver_sm_total{link="), "receipts are counted");
}

/// A metric's value in the relay's Prometheus text, summed over its label sets.
fn metric(relay: &Relay, name: &str) -> f64 {
    relay
        .metrics()
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_submit_sm_left_unanswered_is_sent_again_alone() {
    // The first segment of a long notification gets no answer; the others do.
    let smsc = SmscPlus::start_with(&[("SILENT", "1")]);
    let relay = relay_with_link("smpp-timeout", smsc.port, "", "response_timeout_secs = 1");
    let id = send(&relay, "to1", &LONG_SUBJECT.repeat(6));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut submits = Vec::new();
    let push = accepted_push(&smsc, &mut Reassembler::new(16), &mut submits, deadline);
    assert_eq!(retrieve(&relay, &notification(&push)), id);
    // Anything sent twice would come within a few seconds (the push's own retry is 1 s away).
    while let Some(submit) = smsc.next_submit(Duration::from_millis(2500)) {
        submits.push(submit);
    }
    let unanswered: Vec<&Value> = submits.iter().filter(|s| s["status"] == -1).collect();
    assert_eq!(unanswered.len(), 1, "{submits:?}");
    let time = |s: &Value| s["t"].as_u64().unwrap();
    let silent_ud = common::logged_user_data(unanswered[0]);
    let again: Vec<&Value> = submits.iter().filter(|s| common::logged_user_data(s) == silent_ud).collect();
    assert_eq!(again.len(), 2, "the unanswered segment went again once: {submits:?}");
    assert!(time(again[1]) >= time(again[0]) + 900, "sent again after the 1 s response timeout");
    // The segments the SMSC acknowledged reached it once each: no retry of the whole push.
    let accepted: Vec<Vec<u8>> = submits.iter().filter(|s| s["status"] == 0).map(common::logged_user_data).collect();
    let distinct: HashSet<&Vec<u8>> = accepted.iter().collect();
    assert_eq!(distinct.len(), accepted.len(), "an acknowledged segment was sent twice: {submits:?}");
    assert_eq!(accepted.len(), submits.len() - 1);
    assert_eq!(metric(&relay, "tern_smpp_timed_out_total"), 1.0);
}

#[test]
fn a_generic_nack_fails_the_submit_and_the_push_goes_again_later() {
    let smsc = SmscPlus::start_with(&[("NACK", "1")]);
    let relay = relay("smpp-nack", smsc.port, "");
    let id = send(&relay, "gn1", "nacked once");
    let first = smsc.next_submit(Duration::from_secs(15)).expect("a submit_sm");
    assert_eq!(first["status"], -2, "{first}");
    // ESME_RSYSERR is transient: the push goes back to the queue and out again, whole and
    // freshly framed, at its next attempt (the backoff counts whole seconds, so that may come
    // soon after), over the same bind.
    let received = next_push(&smsc, Duration::from_secs(15));
    let last = received.submits.last().unwrap();
    assert!(last["t"].as_u64().unwrap() > first["t"].as_u64().unwrap(), "{last}");
    assert_eq!(retrieve(&relay, &notification(&received.push)), id);
    assert_eq!(metric(&relay, "tern_smpp_failed_total"), 1.0);
    assert_eq!(metric(&relay, "tern_smpp_bound"), 1.0, "the link stayed bound");
    // The failed attempt was recorded as one (before the push could go again).
    let failed =
        relay.metrics().lines().find(|l| l.starts_with("tern_pushes_total{outcome=\"failed\"}")).map(str::to_owned);
    assert_eq!(failed.as_deref(), Some("tern_pushes_total{outcome=\"failed\"} 1"));
}

#[test]
fn a_push_in_flight_when_the_relay_is_killed_goes_out_again_at_restart() {
    // The SMSC never answers, so the push stays leased (in flight) until the relay dies.
    let smsc = SmscPlus::start_with(&[("SILENT", "1000")]);
    let mut relay = relay_with_link("smpp-lease", smsc.port, "", "response_timeout_secs = 60");
    send(&relay, "ls1", "in flight");
    let first = smsc.next_submit(Duration::from_secs(15)).expect("a submit_sm");
    assert_eq!(first["status"], -1);
    relay.kill();
    assert_eq!(relay.query("SELECT state FROM pushes"), [["leased"]]);
    // Restarted on the same store, the relay sends it again at once, not when the 120 s lease
    // would have run out.
    relay.restart_after_kill();
    let again = smsc.next_submit(Duration::from_secs(10)).expect("the push sent again after the restart");
    assert_eq!(common::logged_user_data(&again)[..6], common::logged_user_data(&first)[..6]);
    assert_eq!(again["dest"], first["dest"]);
}
