//! `tern serve` end to end over HTTP on 127.0.0.1: real handset PDUs are accepted, notified
//! over the UDP bearer and retrieved byte for byte (and read by tshark); nothing accepted is
//! lost across a restart or a SIGKILL; bad input gets its documented answer; delivery reports,
//! read reports and expiry work from end to end.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::Relay;
use tern_codec::mms::*;
use tern_codec::wsp::{ContentType, EncodedString, Part};

const SENDER: &str = "+15550100001";
const RECIPIENT: &str = "+15550100002";

fn send_conf(answer: &common::Answer) -> SendConf {
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type.as_deref(), Some("application/vnd.wap.mms-message"));
    match Message::decode(&answer.body).unwrap().pdu {
        Pdu::SendConf(conf) => conf,
        other => panic!("expected an m-send-conf, got {other:?}"),
    }
}

fn notification(relay: &Relay) -> NotificationInd {
    loop {
        match relay.next_push().1.pdu {
            Pdu::NotificationInd(n) => return n,
            Pdu::DeliveryInd(_) | Pdu::ReadOrigInd(_) => continue,
            other => panic!("unexpected push {other:?}"),
        }
    }
}

fn retrieve(relay: &Relay, url: &str, msisdn: Option<&str>) -> (Vec<u8>, RetrieveConf, Option<Body<'static>>) {
    let answer = relay.get(url, msisdn);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type.as_deref(), Some("application/vnd.wap.mms-message"));
    let message = Message::decode(&answer.body).unwrap().into_owned();
    match message.pdu {
        Pdu::RetrieveConf(conf) => (answer.body.clone(), conf, message.body),
        other => panic!("expected an m-retrieve-conf, got {other:?}"),
    }
}

fn simple_send(to: &[&str], tid: &str, configure: impl FnOnce(&mut SendReq)) -> Vec<u8> {
    let mut req = SendReq {
        transaction_id: Some(tid.into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: to.iter().map(|t| Address::phone(t)).collect(),
        subject: Some(EncodedString::auto("hello")),
        ..SendReq::default()
    };
    configure(&mut req);
    let text =
        Part::new(ContentType::new("text/plain").with_charset(tern_codec::wsp::Charset::UTF_8), &b"hi there"[..]);
    Message::with_body(req, Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), vec![text]))
        .encode()
}

/// tshark's MMSE dissector reads a retrieve-conf as type 0x84 with these part content types.
fn tshark_reads(pdu: &[u8], parts: &[String]) {
    let dir = common::root().join("target/relay-tests/tshark");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{}.mms", std::process::id()));
    std::fs::write(&file, pdu).unwrap();
    let script = common::shared().join("peers/mmse_decode.sh");
    let out = Command::new("sh")
        .arg(script)
        .arg(&file)
        .args([
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=|",
            "-e",
            "mmse.message_type",
            "-e",
            "wsp.header.content_type",
        ])
        .output()
        .unwrap_or_else(|e| panic!("PEER MISSING: tshark ({e}); install it with `apt-get install -y tshark`"));
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.trim().split('\t').collect();
    assert_eq!(fields.first().copied(), Some("0x84"), "tshark: {text}");
    let seen: Vec<&str> = fields.get(1).unwrap_or(&"").split('|').skip(1).collect();
    assert_eq!(seen, parts, "tshark's part content types");
}

#[test]
fn the_body_is_stored_and_served_as_received() {
    // A part whose Content-Type is written as text, where an encoder would use its well-known
    // number: the handset gets the octets the sender sent, not a re-encoding of them.
    let relay = Relay::start("as-received", &[]);
    let mut pdu = Message::new(SendReq {
        transaction_id: Some("raw".into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: vec![Address::phone(RECIPIENT)],
        ..SendReq::default()
    })
    .encode();
    let part_headers = b"text/plain\0";
    let mut tail = vec![0x84, 0xA3, 0x01, part_headers.len() as u8, 0x02];
    tail.extend_from_slice(part_headers);
    tail.extend_from_slice(b"hi");
    pdu.extend_from_slice(&tail);
    assert_eq!(send_conf(&relay.post(&pdu, Some(SENDER))).response_status, Some(ResponseStatus::OK));
    let n = notification(&relay);
    let (bytes, _, body) = retrieve(&relay, n.content_location.as_deref().unwrap(), Some(RECIPIENT));
    assert!(bytes.ends_with(&tail), "served {:02x?}", &bytes[bytes.len().saturating_sub(tail.len())..]);
    assert_eq!(body.unwrap().parts()[0].data.as_ref(), b"hi");
}

#[test]
fn handset_send_reqs_are_notified_and_retrieved_byte_for_byte() {
    // The handsets address lab numbers: 1337 and 55225 (short codes) and a Swedish mobile.
    let relay = Relay::start(
        "handsets",
        &[
            ("TERN_SUBSCRIBERS__COUNTRY_CODE", "46"),
            ("TERN_SUBSCRIBERS__LOCAL", "+4673"),
            ("TERN_SUBSCRIBERS__LOCAL_SHORT_CODES", "1337,55225"),
        ],
    );
    for file in ["iPhone.mms", "SonyEricssonT310-R201.mms", "SEC-SGHS300M.mms"] {
        let original = std::fs::read(common::shared().join("conformance/python-messaging").join(file)).unwrap();
        let sent = Message::decode(&original).unwrap();
        let answer = relay.post(&original, Some("+46730000001"));
        let conf = send_conf(&answer);
        assert_eq!(conf.response_status, Some(ResponseStatus::OK), "{file}: {:?}", conf.response_text);
        assert_eq!(conf.transaction_id.as_deref(), sent.pdu.transaction_id(), "{file}: Transaction-ID echoed");
        let message_id = conf.message_id.unwrap();

        let n = notification(&relay);
        let url = n.content_location.unwrap();
        assert!(url.starts_with(&format!("{}/m/", relay.base)), "{url}");
        assert_eq!(n.from.unwrap().to_string(), "+46730000001/TYPE=PLMN", "{file}: From filled in from X-MSISDN");
        let (bytes, conf, body) = retrieve(&relay, &url, None);
        assert_eq!(conf.message_id.as_deref(), Some(message_id.as_str()));
        assert_eq!(conf.transaction_id, n.transaction_id, "{file}: the retrieval carries the notification's TID");
        let (sent_parts, got_parts) = (sent.body.as_ref().unwrap().parts(), body.as_ref().unwrap().parts());
        assert_eq!(got_parts.len(), sent_parts.len(), "{file}");
        for (a, b) in sent_parts.iter().zip(got_parts) {
            assert_eq!(a.data, b.data, "{file}: part {} byte for byte", a.content_type.media_type);
            assert_eq!(a.content_type, b.content_type, "{file}");
        }
        let types: Vec<String> = got_parts.iter().map(|p| p.content_type.media_type.clone()).collect();
        tshark_reads(&bytes, &types);
        let state = format!(
            "SELECT r.state FROM recipients r JOIN messages m ON m.id = r.message WHERE m.message_id = '{message_id}'"
        );
        relay.query_until(&state, &[&["retrieved"]]);
    }
}

#[test]
fn nothing_accepted_is_lost_across_restart_or_sigkill() {
    let mut relay = Relay::start("durability", &[]);
    // Restart (SIGTERM) between send and retrieve.
    let conf = send_conf(&relay.post(&simple_send(&[RECIPIENT], "d1", |_| {}), Some(SENDER)));
    assert_eq!(conf.response_status, Some(ResponseStatus::OK));
    let first = notification(&relay).content_location.unwrap();
    relay.restart();
    let (_, got, _) = retrieve(&relay, &first, Some(RECIPIENT));
    assert_eq!(got.message_id, conf.message_id);

    // SIGKILL right after the Ok, many times over: every accepted message is there afterwards.
    let mut ids = Vec::new();
    for i in 0..20 {
        let conf = send_conf(&relay.post(&simple_send(&[RECIPIENT], &format!("k{i}"), |_| {}), Some(SENDER)));
        assert_eq!(conf.response_status, Some(ResponseStatus::OK));
        ids.push(conf.message_id.unwrap());
    }
    relay.kill();
    let stored = relay.query("SELECT message_id FROM messages");
    for id in &ids {
        assert!(stored.iter().any(|r| &r[0] == id), "{id} accepted but not stored after SIGKILL");
    }
    relay.restart_after_kill();
    // Their notifications still go out, and each retrieves its own message.
    let mut seen = std::collections::HashSet::new();
    while seen.len() < ids.len() {
        let n = notification(&relay);
        let (_, got, body) = retrieve(&relay, n.content_location.as_deref().unwrap(), Some(RECIPIENT));
        assert_eq!(&*body.unwrap().parts()[0].data, b"hi there");
        seen.insert(got.message_id.unwrap());
    }
    for id in &ids {
        assert!(seen.contains(id));
    }
}

#[test]
fn bad_input_gets_its_documented_answer_and_the_relay_keeps_serving() {
    let relay = Relay::start("bad-input", &[("TERN_MM1__MAX_MESSAGE_SIZE", "4000")]);
    let good = simple_send(&[RECIPIENT], "good-1", |_| {});
    let corrupt = |answer: common::Answer, tid: Option<&str>| {
        let conf = send_conf(&answer);
        assert_eq!(conf.response_status, Some(ResponseStatus::PERMANENT_MESSAGE_FORMAT_CORRUPT));
        assert_eq!(conf.transaction_id.as_deref(), tid);
    };
    // Truncated PDUs at every length still answer with an m-send.conf.
    for cut in [1, 2, 3, 10, 20, good.len() - 1] {
        let answer = relay.post(&good[..cut], Some(SENDER));
        let conf = send_conf(&answer);
        assert_ne!(conf.response_status, Some(ResponseStatus::OK), "cut at {cut}");
    }
    corrupt(relay.post(&good[..10], Some(SENDER)), Some("good-1"));
    corrupt(relay.post(b"<html>garbage</html>", Some(SENDER)), None);
    let wrong_type = relay.request("POST", "/", &[("Content-Type", "text/plain"), ("X-MSISDN", SENDER)], &good);
    corrupt(wrong_type, Some("good-1"));
    // Oversize.
    let big = simple_send(&[RECIPIENT], "big", |_| {});
    let mut big = Message::decode(&big).unwrap().into_owned();
    if let Some(b) = &mut big.body {
        b.data = BodyData::Multipart(vec![Part::new(ContentType::new("image/jpeg"), vec![0u8; 10_000])]);
    }
    let conf = send_conf(&relay.post(&big.encode(), Some(SENDER)));
    assert_eq!(conf.response_status, Some(ResponseStatus::PERMANENT_CONTENT_NOT_ACCEPTED));
    // No identity, and a From that names someone else.
    let conf = send_conf(&relay.post(&good, None));
    assert_eq!(conf.response_status, Some(ResponseStatus::PERMANENT_SERVICE_DENIED));
    let spoofed =
        simple_send(&[RECIPIENT], "spoof", |r| r.from = Some(Sender::Address(Address::phone("+15550109999"))));
    let conf = send_conf(&relay.post(&spoofed, Some(SENDER)));
    assert_eq!(conf.response_status, Some(ResponseStatus::PERMANENT_SERVICE_DENIED));
    // An unusable recipient.
    let nowhere = simple_send(&[], "nowhere", |r| r.to = vec![Address::new("10.0.0.1/TYPE=IPv4")]);
    let conf = send_conf(&relay.post(&nowhere, Some(SENDER)));
    assert_eq!(conf.response_status, Some(ResponseStatus::PERMANENT_SENDING_ADDRESS_UNRESOLVED));
    // A notifyresp with a Transaction-ID nobody issued.
    let stray = Message::new(NotifyRespInd {
        transaction_id: Some("never-issued".into()),
        mms_version: Some(Version::V1_2),
        status: Some(Status::RETRIEVED),
        ..NotifyRespInd::default()
    });
    assert_eq!(relay.post(&stray.encode(), Some(RECIPIENT)).status, 404);
    // Random tokens and another subscriber's token get an error m-retrieve.conf.
    let conf = send_conf(&relay.post(&good, Some(SENDER)));
    assert_eq!(conf.response_status, Some(ResponseStatus::OK));
    let url = notification(&relay).content_location.unwrap();
    for (path, who) in [
        (format!("{}/m/{}", relay.base, "0".repeat(40)), Some(RECIPIENT)),
        (format!("{}/m/x", relay.base), None),
        (url.clone(), Some("+15550107777")),
    ] {
        let answer = relay.get(&path, who);
        let (_, conf, _) = (answer.status, Message::decode(&answer.body).unwrap(), ());
        let Pdu::RetrieveConf(conf) = conf.pdu else { panic!("an m-retrieve-conf") };
        assert_eq!(conf.retrieve_status, Some(RetrieveStatus::PERMANENT_MESSAGE_NOT_FOUND), "{path}");
        assert!(conf.message_id.is_none(), "no message is given away");
    }
    // Still serving: the right subscriber gets the message.
    let (_, got, _) = retrieve(&relay, &url, Some(RECIPIENT));
    assert_eq!(got.message_id, conf.message_id);
}

#[test]
fn a_large_message_is_served_whole_from_its_stored_file() {
    let relay = Relay::start("large", &[]);
    let picture: Vec<u8> = (0..300 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let req = simple_send(&[RECIPIENT], "large-1", |_| {});
    let mut req = Message::decode(&req).unwrap().into_owned();
    if let Some(b) = &mut req.body {
        b.data = BodyData::Multipart(vec![Part::new(ContentType::new("image/jpeg"), picture.clone())]);
    }
    let conf = send_conf(&relay.post(&req.encode(), Some(SENDER)));
    assert_eq!(conf.response_status, Some(ResponseStatus::OK));
    let url = notification(&relay).content_location.unwrap();
    // Fetched twice, as by a handset that lost the first answer: the stored picture each time.
    for _ in 0..2 {
        let (_, got, body) = retrieve(&relay, &url, Some(RECIPIENT));
        assert_eq!(got.message_id, conf.message_id);
        let BodyData::Multipart(parts) = body.unwrap().data else { panic!("a multipart body") };
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].data.as_ref(), &picture[..]);
    }
    // The body went from the store's file (no copy in the relay); only a tail shorter than the
    // smallest such send may have been copied.
    let sent = relay.metric("tern_mm1_octets_sent_from_files_total");
    assert!(sent >= (2 * (picture.len() - 64 * 1024)) as f64, "{sent} octets sent from files");
}

fn next_report(relay: &Relay) -> Pdu {
    loop {
        let pdu = relay.next_push().1.pdu;
        if !matches!(pdu, Pdu::NotificationInd(_)) {
            return pdu;
        }
    }
}

#[test]
fn delivery_and_read_reports_flow_back_to_the_sender() {
    let relay = Relay::start("reports", &[]);
    let req = simple_send(&[RECIPIENT], "r1", |r| {
        r.delivery_report = Some(true);
        r.read_report = Some(true);
    });
    let conf = send_conf(&relay.post(&req, Some(SENDER)));
    let message_id = conf.message_id.unwrap();
    let n = notification(&relay);
    retrieve(&relay, n.content_location.as_deref().unwrap(), Some(RECIPIENT));
    let Pdu::DeliveryInd(report) = next_report(&relay) else { panic!("an m-delivery-ind") };
    assert_eq!(report.message_id.as_deref(), Some(message_id.as_str()));
    assert_eq!(report.status, Some(Status::RETRIEVED));
    assert_eq!(report.to[0].text(), format!("{RECIPIENT}/TYPE=PLMN"));

    // The acknowledgement changes the state but reports nothing twice.
    let ack = Message::new(AcknowledgeInd {
        transaction_id: n.transaction_id.clone(),
        mms_version: Some(Version::V1_2),
        ..AcknowledgeInd::default()
    });
    assert_eq!(relay.post(&ack.encode(), Some(RECIPIENT)).status, 204);
    let read = Message::new(ReadRecInd {
        mms_version: Some(Version::V1_2),
        message_id: Some(message_id.clone()),
        to: vec![Address::phone(SENDER)],
        from: Some(Sender::InsertAddress),
        read_status: Some(ReadStatus::READ),
        ..ReadRecInd::default()
    });
    assert_eq!(relay.post(&read.encode(), Some(RECIPIENT)).status, 204);
    let Pdu::ReadOrigInd(orig) = next_report(&relay) else {
        panic!("an m-read-orig-ind, and no second delivery report")
    };
    assert_eq!(orig.message_id.as_deref(), Some(message_id.as_str()));
    assert_eq!(orig.read_status, Some(ReadStatus::READ));
    assert_eq!(orig.from.unwrap().to_string(), format!("{RECIPIENT}/TYPE=PLMN"));
    let state = relay.query(&format!(
        "SELECT r.state FROM recipients r JOIN messages m ON m.id = r.message WHERE m.message_id = '{message_id}'"
    ));
    assert_eq!(state, [["acknowledged"]]);

    // A rejection is reported as such.
    let conf =
        send_conf(&relay.post(&simple_send(&[RECIPIENT], "r2", |r| r.delivery_report = Some(true)), Some(SENDER)));
    let n = notification(&relay);
    let reject = Message::new(NotifyRespInd {
        transaction_id: n.transaction_id,
        mms_version: Some(Version::V1_2),
        status: Some(Status::REJECTED),
        ..NotifyRespInd::default()
    });
    assert_eq!(relay.post(&reject.encode(), Some(RECIPIENT)).status, 204);
    let Pdu::DeliveryInd(report) = next_report(&relay) else { panic!("an m-delivery-ind") };
    assert_eq!((report.message_id, report.status), (conf.message_id, Some(Status::REJECTED)));
}

#[test]
fn messages_expire_with_a_report_and_their_retrieval_fails() {
    let relay = Relay::start("expiry", &[("TERN_DELIVERY__SWEEP_INTERVAL_SECS", "1")]);
    let req = simple_send(&[RECIPIENT], "e1", |r| {
        r.delivery_report = Some(true);
        r.expiry = Some(TimeValue::Relative(2));
    });
    let conf = send_conf(&relay.post(&req, Some(SENDER)));
    let n = notification(&relay);
    assert!(matches!(n.expiry, Some(TimeValue::Relative(1..=2))), "{:?}", n.expiry);
    std::thread::sleep(Duration::from_secs(4));
    let Pdu::DeliveryInd(report) = next_report(&relay) else { panic!("an m-delivery-ind") };
    assert_eq!((report.message_id, report.status), (conf.message_id.clone(), Some(Status::EXPIRED)));
    let answer = relay.get(n.content_location.as_deref().unwrap(), Some(RECIPIENT));
    let Pdu::RetrieveConf(rc) = Message::decode(&answer.body).unwrap().pdu else { panic!() };
    assert_eq!(rc.retrieve_status, Some(RetrieveStatus::PERMANENT_MESSAGE_NOT_FOUND));
    let rows = relay.query(&format!(
        "SELECT r.state, m.expired FROM recipients r JOIN messages m ON m.id = r.message WHERE m.message_id = '{}'",
        conf.message_id.unwrap()
    ));
    assert_eq!(rows, [["expired", "1"]], "recipient expired and the body freed");
}

#[test]
fn unanswered_notifications_are_retried_with_backoff_and_then_stop() {
    let relay = Relay::start(
        "retries",
        &[
            ("TERN_DELIVERY__INITIAL_BACKOFF_SECS", "2"),
            ("TERN_DELIVERY__MAX_BACKOFF_SECS", "4"),
            ("TERN_DELIVERY__MAX_ATTEMPTS", "3"),
        ],
    );
    send_conf(&relay.post(&simple_send(&[RECIPIENT], "t1", |_| {}), Some(SENDER)));
    let start = std::time::Instant::now();
    let first = notification(&relay);
    let mut times = vec![start.elapsed()];
    for _ in 0..2 {
        let again = notification(&relay);
        assert_eq!(again.transaction_id, first.transaction_id, "the same notification again");
        times.push(start.elapsed());
    }
    // Backoff 2 s then 4 s (scheduled in whole seconds, so up to a second early); then nothing more.
    assert!(times[1] - times[0] >= Duration::from_secs(1), "{times:?}");
    assert!(times[2] - times[1] >= Duration::from_secs(3), "{times:?}");
    relay.udp.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
    let mut buf = [0u8; 2048];
    assert!(relay.udp.recv(&mut buf).is_err(), "no fourth notification after max_attempts = 3");
    let pushes = relay.query("SELECT state, attempts FROM pushes");
    assert_eq!(pushes, [["done", "3"]]);
    let state = relay.query("SELECT state FROM recipients");
    assert_eq!(state, [["notified"]], "still waiting for the handset, until expiry");
}

#[test]
fn delivery_time_defers_the_notification_and_deferred_keeps_it_waiting() {
    let relay = Relay::start("deferred", &[]);
    let req = simple_send(&[RECIPIENT], "dt", |r| r.delivery_time = Some(TimeValue::Relative(2)));
    let start = std::time::Instant::now();
    send_conf(&relay.post(&req, Some(SENDER)));
    let n = notification(&relay);
    // Two seconds, scheduled in whole seconds: at least one second later, never at once.
    assert!(start.elapsed() >= Duration::from_millis(900), "notified after {:?}", start.elapsed());
    let defer = Message::new(NotifyRespInd {
        transaction_id: n.transaction_id.clone(),
        mms_version: Some(Version::V1_2),
        status: Some(Status::DEFERRED),
        ..NotifyRespInd::default()
    });
    assert_eq!(relay.post(&defer.encode(), Some(RECIPIENT)).status, 204);
    assert_eq!(relay.query("SELECT state FROM recipients"), [["deferred"]]);
    // Deferred means "later", not "never": the message is still there.
    let (_, conf, _) = retrieve(&relay, n.content_location.as_deref().unwrap(), Some(RECIPIENT));
    assert!(conf.message_id.is_some());
    relay.query_until("SELECT state FROM recipients", &[&["retrieved"]]);
}

#[test]
fn identity_from_an_untrusted_peer_is_ignored() {
    let relay = Relay::start("untrusted", &[("TERN_IDENTITY__TRUSTED_PROXIES", "10.0.0.0/8")]);
    let conf = send_conf(&relay.post(&simple_send(&[RECIPIENT], "u1", |_| {}), Some(SENDER)));
    assert_eq!(conf.response_status, Some(ResponseStatus::PERMANENT_SERVICE_DENIED));
    assert_eq!(relay.query("SELECT count(*) FROM messages"), [["0"]]);
}

#[test]
fn forward_sends_a_stored_message_on_without_fetching_it() {
    let relay = Relay::start("forward", &[]);
    let original = send_conf(&relay.post(&simple_send(&[RECIPIENT], "f1", |_| {}), Some(SENDER)));
    let n = notification(&relay);
    let third = "+15550100003";
    let forward = Message::new(ForwardReq {
        transaction_id: Some("fwd-1".into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: vec![Address::phone(third)],
        content_location: n.content_location.clone(),
        ..ForwardReq::default()
    });
    let answer = relay.post(&forward.encode(), Some(RECIPIENT));
    let Pdu::ForwardConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-forward-conf") };
    assert_eq!(conf.transaction_id.as_deref(), Some("fwd-1"));
    assert_eq!(conf.response_status, Some(ResponseStatus::OK), "{:?}", conf.response_text);
    assert_ne!(conf.message_id, original.message_id);
    let fwd = notification(&relay);
    let (_, got, body) = retrieve(&relay, fwd.content_location.as_deref().unwrap(), Some(third));
    assert_eq!(got.subject.map(|s| s.text).as_deref(), Some("hello"));
    assert_eq!(got.from.unwrap().to_string(), format!("{RECIPIENT}/TYPE=PLMN"));
    assert_eq!(got.previously_sent_by[0].address.text(), format!("{SENDER}/TYPE=PLMN"));
    assert_eq!(&*body.unwrap().parts()[0].data, b"hi there");
    // Someone else cannot forward that message.
    let stolen = Message::new(ForwardReq { transaction_id: Some("fwd-2".into()), ..forward_fields(&forward) });
    let Pdu::ForwardConf(conf) = Message::decode(&relay.post(&stolen.encode(), Some(third)).body).unwrap().pdu else {
        panic!()
    };
    assert_eq!(conf.response_status, Some(ResponseStatus::PERMANENT_MESSAGE_NOT_FOUND));
}

fn forward_fields(m: &Message<'_>) -> ForwardReq {
    match &m.pdu {
        Pdu::ForwardReq(f) => f.clone(),
        _ => ForwardReq::default(),
    }
}

#[test]
fn each_number_range_uses_its_own_bearer_and_compact_notifications_are_short() {
    let config = "[subscribers]\nlocal = [\"+1555\", \"+1666\"]\n\
                  [push]\nbearer = \"none\"\ncompact = true\nnotification_base_url = \"http://mms\"\n\
                  [[push.routes]]\nprefix = \"+1555\"\nbearer = \"udp\"\n";
    let relay = Relay::start_with_config("routes", config, &[]);
    let other = "+16660100009";
    let conf = send_conf(&relay.post(&simple_send(&[RECIPIENT, other], "rt", |_| {}), Some(SENDER)));
    assert_eq!(conf.response_status, Some(ResponseStatus::OK));
    // +1555 goes over UDP, compact (no From, no Subject) and with the short alias.
    let (push, message) = relay.next_push();
    let Pdu::NotificationInd(n) = message.pdu else { panic!("a notification") };
    assert!(n.from.is_none() && n.subject.is_none(), "{n:?}");
    let url = n.content_location.unwrap();
    assert!(url.starts_with("http://mms/m/"), "{url}");
    assert!(push.len() <= 133, "fits one SMS: {} octets", push.len());
    // The alias reaches the same relay: retrieve through the real address.
    let token = url.rsplit('/').next().unwrap();
    let (_, got, _) = retrieve(&relay, &format!("{}/m/{token}", relay.base), Some(RECIPIENT));
    assert_eq!(got.message_id, conf.message_id);
    // +1666 has no bearer: its push is set aside, out of the queue, and says why.
    relay.query_until(
        &format!("SELECT state, attempts, last_error FROM pushes WHERE msisdn = '{other}'"),
        &[&["waiting", "0", "no bearer configured"]],
    );
}
