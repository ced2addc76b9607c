//! `tern serve` under faults and abuse that a handset or an attacker can cause, over HTTP on
//! 127.0.0.1: a full disk must not shift later messages' bodies (each fetched byte for byte,
//! also after a restart), a damaged body is refused rather than served, read reports cannot be
//! forged or repeated, identity headers that repeat or disagree are refused, a retrieval URL
//! stops working after the recipient confirmed, and a data directory made by the previous
//! release is upgraded in place.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Relay;
use tern_codec::mms::*;
use tern_codec::wsp::{ContentType, EncodedString, Part};

const SENDER: &str = "+15550100001";
const RECIPIENT: &str = "+15550100002";
const OTHER: &str = "+15550100003";

/// An m-send.req to `to` whose one part is `payload`.
fn send_req(to: &[&str], tid: &str, payload: &[u8], configure: impl FnOnce(&mut SendReq)) -> Vec<u8> {
    let mut req = SendReq {
        transaction_id: Some(tid.into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: to.iter().map(|t| Address::phone(t)).collect(),
        subject: Some(EncodedString::auto(tid)),
        ..SendReq::default()
    };
    configure(&mut req);
    let part = Part::new(ContentType::new("application/octet-stream"), payload);
    Message::with_body(req, Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), vec![part]))
        .encode()
}

/// `len` octets that differ from message to message.
fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed).rotate_left(u32::from(seed % 7))).collect()
}

fn send_conf(answer: &common::Answer) -> SendConf {
    assert_eq!(answer.status, 200);
    match Message::decode(&answer.body).unwrap().pdu {
        Pdu::SendConf(conf) => conf,
        other => panic!("expected an m-send-conf, got {other:?}"),
    }
}

fn accepted(relay: &Relay, pdu: &[u8]) -> String {
    let conf = send_conf(&relay.post(pdu, Some(SENDER)));
    assert_eq!(conf.response_status, Some(ResponseStatus::OK), "{:?}", conf.response_text);
    conf.message_id.unwrap()
}

fn notification(relay: &Relay) -> NotificationInd {
    loop {
        if let Pdu::NotificationInd(n) = relay.next_push().1.pdu {
            return n;
        }
    }
}

/// The m-retrieve.conf a GET of `url` answers, with the payload of its one part if it has one.
fn fetch(relay: &Relay, url: &str, msisdn: Option<&str>) -> (RetrieveConf, Option<Vec<u8>>) {
    let answer = relay.get(url, msisdn);
    assert_eq!(answer.status, 200);
    let message = Message::decode(&answer.body).unwrap();
    let Pdu::RetrieveConf(conf) = message.pdu.clone() else { panic!("expected an m-retrieve-conf") };
    let part = message.body.as_ref().and_then(|b| b.parts().first().map(|p| p.data.to_vec()));
    (conf.clone(), part)
}

/// A tmpfs of its own, so that the disk can be filled without filling the machine's.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(name: &str, size: &str) -> SmallDisk {
        let dir = common::scratch(name);
        let out =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&dir).output();
        match out {
            Ok(o) if o.status.success() => SmallDisk(dir),
            Ok(o) => panic!(
                "PEER MISSING: mounting a tmpfs needs root (run the tests as root, as CI does): {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!("PEER MISSING: mount ({e})"),
        }
    }

    /// Writes a file until the disk is full, then gives back `leave` octets of it.
    fn fill(&self, leave: u64) -> PathBuf {
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xA5; 64 * 1024];
        let mut written = 0u64;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        file.set_len(written.saturating_sub(leave)).unwrap();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_does_not_shift_later_messages() {
    let disk = SmallDisk::mount("disk-full-mount", "16m");
    let data = disk.0.join("data");
    let mut relay = Relay::start_in(&data, &[]);
    let first = payload(1, 20_000);
    accepted(&relay, &send_req(&[RECIPIENT], "before", &first, |_| {}));
    let before = notification(&relay);

    // The refused body is written in part before the disk runs out.
    let filler = disk.fill(100 * 1024);
    let refused =
        send_conf(&relay.post(&send_req(&[RECIPIENT], "refused", &payload(2, 400_000), |_| {}), Some(SENDER)));
    assert_eq!(refused.response_status, Some(ResponseStatus::TRANSIENT_FAILURE), "{:?}", refused.response_text);
    std::fs::remove_file(filler).unwrap();

    let bodies: Vec<Vec<u8>> = (3..6).map(|seed| payload(seed, 30_000 + usize::from(seed) * 1_000)).collect();
    let mut urls = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        accepted(&relay, &send_req(&[RECIPIENT], &format!("after-{i}"), body, |_| {}));
        urls.push(notification(&relay).content_location.unwrap());
    }
    for round in ["before the restart", "after the restart"] {
        for (url, body) in urls.iter().zip(&bodies) {
            let (conf, part) = fetch(&relay, url, Some(RECIPIENT));
            assert_eq!(conf.retrieve_status, None, "{round}: {:?}", conf.retrieve_text);
            assert!(part.as_ref() == Some(body), "{round}: the message fetched is not the one sent");
        }
        let (_, part) = fetch(&relay, before.content_location.as_deref().unwrap(), Some(RECIPIENT));
        assert_eq!(part.as_ref(), Some(&first), "{round}");
        if round == "before the restart" {
            relay.restart();
        }
    }
}

#[test]
fn a_damaged_body_is_refused_not_served() {
    let relay = Relay::start("damaged-body", &[]);
    let body = payload(9, 5_000);
    let message_id = accepted(&relay, &send_req(&[RECIPIENT], "damaged", &body, |_| {}));
    let url = notification(&relay).content_location.unwrap();
    assert_eq!(fetch(&relay, &url, Some(RECIPIENT)).1, Some(body.clone()));

    // One octet of the stored body changes on disk.
    let row = relay.query(&format!("SELECT segment, body_offset FROM messages WHERE message_id = '{message_id}'"));
    let segment = relay.data.join(format!("payloads/{:010}.seg", row[0][0].parse::<u64>().unwrap()));
    let at = row[0][1].parse::<usize>().unwrap() + 100;
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(&segment, bytes).unwrap();

    let (conf, part) = fetch(&relay, &url, Some(RECIPIENT));
    assert_eq!(conf.retrieve_status, Some(RetrieveStatus::PERMANENT_FAILURE));
    assert_eq!(part, None, "nothing of the damaged body is served");
    assert!(relay.metrics().contains("tern_store_damaged_bodies_total 1"), "{}", relay.metrics());
}

fn read_report(message_id: &str, from: Sender) -> Vec<u8> {
    Message::new(ReadRecInd {
        mms_version: Some(Version::V1_2),
        message_id: Some(message_id.to_owned()),
        to: vec![Address::phone(SENDER)],
        from: Some(from),
        read_status: Some(ReadStatus::READ),
        ..ReadRecInd::default()
    })
    .encode()
}

/// Read reports (m-read-orig.ind) pushed to the sender until the UDP socket stays quiet.
fn read_reports_pushed(relay: &Relay) -> usize {
    relay.udp.set_read_timeout(Some(std::time::Duration::from_millis(1500))).unwrap();
    let mut buf = vec![0; 65536];
    let mut count = 0;
    while let Ok(n) = relay.udp.recv(&mut buf) {
        let push = tern_codec::push::Push::decode(&buf[..n]).unwrap();
        if matches!(Message::decode(&push.body).unwrap().pdu, Pdu::ReadOrigInd(_)) {
            count += 1;
        }
    }
    count
}

#[test]
fn read_reports_cannot_be_forged_or_repeated() {
    let relay = Relay::start("read-reports", &[("TERN_IDENTITY__REQUIRE", "false")]);
    let wants = accepted(&relay, &send_req(&[RECIPIENT, OTHER], "wants", b"x", |r| r.read_report = Some(true)));
    notification(&relay);
    notification(&relay);

    // Without a trusted identity the From would say who read it: refused.
    let forged = read_report(&wants, Sender::Address(Address::phone(RECIPIENT)));
    assert_eq!(relay.post(&forged, None).status, 403);
    // A co-recipient cannot report for the recipient either: it is taken as its own report.
    // Repeated 200 times, each recipient's status goes out once.
    for _ in 0..200 {
        assert_eq!(relay.post(&read_report(&wants, Sender::InsertAddress), Some(RECIPIENT)).status, 204);
    }
    assert_eq!(relay.post(&forged, Some(OTHER)).status, 204);
    assert_eq!(read_reports_pushed(&relay), 2, "one m-read-orig.ind per recipient");
    let read = relay.query(&format!(
        "SELECT r.address FROM recipients r JOIN messages m ON m.id = r.message \
         WHERE m.message_id = '{wants}' AND r.read_at IS NOT NULL ORDER BY r.address"
    ));
    assert_eq!(read, [[RECIPIENT], [OTHER]]);

    // The sender asked for no read report: taken and dropped, not an error the handset retries.
    let none = accepted(&relay, &send_req(&[RECIPIENT], "none", b"y", |_| {}));
    assert_eq!(relay.post(&read_report(&none, Sender::InsertAddress), Some(RECIPIENT)).status, 204);
    assert_eq!(read_reports_pushed(&relay), 0);
    // A message that is not there.
    assert_eq!(relay.post(&read_report("no-such-id", Sender::InsertAddress), Some(RECIPIENT)).status, 404);
}

#[test]
fn identity_headers_that_repeat_or_disagree_are_refused() {
    let relay = Relay::start("identity-headers", &[]);
    let pdu = send_req(&[RECIPIENT], "inject", b"z", |_| {});
    let post = |headers: &[(&str, &str)]| {
        let mut all = vec![("Content-Type", "application/vnd.wap.mms-message")];
        all.extend_from_slice(headers);
        send_conf(&relay.request("POST", "/mms", &all, &pdu))
    };
    for headers in [
        // The handset's own header, and the one the proxy appended.
        &[("X-MSISDN", OTHER), ("X-MSISDN", SENDER)][..],
        &[("X-MSISDN", "+15550100003, +15550100001")][..],
        // The proxy sets only X-Up-Calling-Line-Id and leaves the handset's X-MSISDN.
        &[("X-MSISDN", OTHER), ("X-Up-Calling-Line-Id", SENDER)][..],
    ] {
        let conf = post(headers);
        assert_eq!(conf.response_status, Some(ResponseStatus::PERMANENT_SERVICE_DENIED), "{headers:?}");
    }
    assert_eq!(relay.query("SELECT count(*) FROM messages"), [["0"]]);
    let conf = post(&[("X-MSISDN", SENDER), ("X-Nokia-MSISDN", "15550100001")]);
    assert_eq!(conf.response_status, Some(ResponseStatus::OK), "headers that agree name one subscriber");
    let url = notification(&relay).content_location.unwrap();
    let path = url.strip_prefix(&relay.base).unwrap();
    let answer = relay.request("GET", path, &[("X-MSISDN", RECIPIENT), ("X-Hts-CLID", OTHER)], b"");
    let Pdu::RetrieveConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-retrieve-conf") };
    assert_eq!(conf.retrieve_status, Some(RetrieveStatus::PERMANENT_SERVICE_DENIED));
}

#[test]
fn a_retrieval_url_stops_working_after_the_acknowledgement() {
    let relay = Relay::start("after-ack", &[("TERN_RETRIEVAL__AFTER_ACK_SECS", "1")]);
    let body = payload(7, 1_000);
    accepted(&relay, &send_req(&[RECIPIENT], "ack", &body, |_| {}));
    let n = notification(&relay);
    let url = n.content_location.unwrap();
    assert_eq!(fetch(&relay, &url, Some(RECIPIENT)).1, Some(body.clone()));
    let resp = Message::new(NotifyRespInd {
        transaction_id: n.transaction_id,
        mms_version: Some(Version::V1_2),
        status: Some(Status::RETRIEVED),
        ..NotifyRespInd::default()
    });
    assert_eq!(relay.post(&resp.encode(), Some(RECIPIENT)).status, 204);
    // Within the grace time a handset that lost the answer can fetch again.
    assert_eq!(fetch(&relay, &url, Some(RECIPIENT)).1, Some(body));
    std::thread::sleep(std::time::Duration::from_millis(2_200));
    let (conf, part) = fetch(&relay, &url, Some(RECIPIENT));
    assert_eq!(conf.retrieve_status, Some(RetrieveStatus::PERMANENT_MESSAGE_NOT_FOUND));
    assert_eq!(part, None);
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_data_directory_of_the_previous_release_is_upgraded_in_place() {
    // Made by the release before schema 4: one message from the sample m-send.req, waiting for
    // its notification.
    let data = common::scratch("schema-3");
    copy_tree(&common::root().join("crates/tern/tests/fixtures/schema-3"), &data);
    let relay = Relay::start_in(&data, &[]);
    assert_eq!(relay.query("PRAGMA user_version"), [["7"]]);
    assert_eq!(relay.query("SELECT count(*) FROM held"), [["0"]], "the upgrade adds the held table");
    let n = notification(&relay);
    let (conf, _) = fetch(&relay, n.content_location.as_deref().unwrap(), Some("+15550100002"));
    assert_eq!(conf.retrieve_status, None);
    let sample = std::fs::read(common::root().join("samples/m-send-req.mms")).unwrap();
    let sent = Message::decode(&sample).unwrap();
    let answer = relay.get(n.content_location.as_deref().unwrap(), Some("+15550100002"));
    let fetched = Message::decode(&answer.body).unwrap();
    let (sent, fetched) = (sent.body.unwrap(), fetched.body.unwrap());
    assert_eq!(fetched.parts().len(), sent.parts().len());
    for (a, b) in fetched.parts().iter().zip(sent.parts()) {
        assert_eq!(a.data, b.data, "parts stored by the previous release are served as they were");
    }
    // New messages on the upgraded store carry checksums.
    accepted(&relay, &send_req(&[RECIPIENT], "new", b"after the upgrade", |_| {}));
    assert_eq!(relay.query("SELECT count(*) FROM messages WHERE body_crc IS NOT NULL"), [["1"]]);
    assert_eq!(
        relay.query("SELECT json_extract(envelope, '$.content_type') FROM messages WHERE body_crc IS NOT NULL"),
        [["application/vnd.wap.multipart.mixed"]],
        "the envelope names the body's type"
    );
}

#[test]
fn a_data_directory_of_the_release_before_envelopes_is_upgraded_in_place() {
    // Made by the release with schema 4 (MM1 fields stored, no envelope): one message from the
    // sample m-send.req, notified and waiting to be fetched.
    let data = common::scratch("schema-4");
    copy_tree(&common::root().join("crates/tern/tests/fixtures/schema-4"), &data);
    let relay = Relay::start_in(&data, &[]);
    assert_eq!(relay.query("PRAGMA user_version"), [["7"]]);
    assert_eq!(relay.query("SELECT count(*) FROM held"), [["0"]], "the upgrade adds the held table");
    assert_eq!(
        relay.query("SELECT json_extract(envelope, '$.originator'), json_extract(envelope, '$.recipients[0].field') FROM messages"),
        [["+15550100001", "to"]]
    );
    let token = &relay.query("SELECT token FROM recipients")[0][0];
    let url = format!("{}/m/{token}", relay.base);
    let (conf, _) = fetch(&relay, &url, Some("+15550100002"));
    assert_eq!(conf.retrieve_status, None);
    let sample = std::fs::read(common::root().join("samples/m-send-req.mms")).unwrap();
    let sent = Message::decode(&sample).unwrap();
    let Pdu::SendReq(req) = &sent.pdu else { panic!("the sample is an m-send.req") };
    assert_eq!(conf.subject, req.subject, "the subject survives the upgrade");
    assert_eq!(conf.to.iter().map(|a| a.text()).collect::<Vec<_>>(), ["+15550100002/TYPE=PLMN"]);
    let answer = relay.get(&url, Some("+15550100002"));
    let fetched = Message::decode(&answer.body).unwrap();
    let (sent, fetched) = (sent.body.unwrap(), fetched.body.unwrap());
    assert_eq!(fetched.parts().len(), sent.parts().len());
    for (a, b) in fetched.parts().iter().zip(sent.parts()) {
        assert_eq!(a.data, b.data, "parts stored by the previous release are served as they were");
    }
    relay.query_until("SELECT state FROM recipients", &[&["retrieved"]]);
}
