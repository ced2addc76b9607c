//! MM7 and EAIF end to end, over real HTTP, against an independent VASP written in Python
//! (`tests/peers/vasp.py`: it builds its SOAP requests with lxml, and checks every answer and
//! every request of the relay's with lxml). A VASP's picture message reaches two handsets here
//! and a number of another operator (a second relay, over MM4), and the VASP hears a delivery
//! report per recipient; a handset's message to the VASP's short code reaches it as a
//! DeliverReq and its read report as a ReadReplyReq; cancel and replace before retrieval;
//! every namespace answered in its own; the refusals (credentials, address range, sender,
//! throughput, malformed requests) that store nothing; EAIF both ways; and a receiver that is
//! down gets what waited once it is back.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::mail::python;
use common::{Relay, png};
use serde_json::Value;
use tern_codec::mms::*;
use tern_codec::wsp::{Charset, ContentType, EncodedString, Part};

const DOMAIN_A: &str = "mms.mnc001.mcc001.gprs";
const DOMAIN_B: &str = "mms.mnc002.mcc001.gprs";
const AMY: &str = "+15550100002";
const ALEX: &str = "+15550100003";
/// A subscriber of the other operator.
const BOB: &str = "+15560100001";
const SHORT_CODE: &str = "4444";
const EAIF_CODE: &str = "5555";
const PASSWORD: &str = "vasp-secret";
const TEXT: &[u8] = b"Your weather for today: sunny";

/// A message's parts as (content type, bytes).
type Parts = Vec<(String, Vec<u8>)>;
/// A POST as a receiver saw it: its header fields (names in lower case) and body.
type Post = (Vec<(String, String)>, Vec<u8>);

fn vasp_py() -> PathBuf {
    common::root().join("crates/tern/tests/peers/vasp.py")
}

/// Whether the VASP peer can run (Python with lxml); says so when it cannot.
fn peer_ready() -> bool {
    let ok = Command::new(python()).args(["-c", "import lxml"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        println!("PEER MISSING: lxml (python3 -m venv .venv && .venv/bin/pip install lxml==6.1.3)");
    }
    ok
}

/// The VASP's receiver: `vasp.py serve`, logging each request of the relay's as a JSON line.
struct Receiver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Receiver {
    fn start(name: &str, port: u16, args: &[&str]) -> Receiver {
        let log = common::scratch(&format!("{name}-receiver")).join("requests.jsonl");
        let mut child = Command::new(python())
            .arg(vasp_py())
            .args(["serve", "--port", &port.to_string(), "--log"])
            .arg(&log)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("receiver: {e}: {line:?}"));
        let port = u16::try_from(ready["listening"].as_u64().unwrap()).unwrap();
        Receiver { child, port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mm7", self.port)
    }

    /// Every request logged so far.
    fn requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// Waits until `n` requests of `operation` were answered 200, and returns them.
    fn wait_for(&self, operation: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got: Vec<Value> = self
                .requests()
                .into_iter()
                .filter(|r| r["operation"] == operation && r["http_status"] == 200)
                .collect();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{n} {operation} wanted, have {:#?}", self.requests());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One VASP account, as `[[mm7.vasps]]` writes it.
fn vasp_table(name: &str, user: &str, short_code: &str, url: Option<&str>, extra: &str) -> String {
    let hash = tern::core::secret::PasswordHash::of(PASSWORD.as_bytes()).unwrap();
    let url = url.map(|u| format!("url = \"{u}\"")).unwrap_or_default();
    format!(
        r#"
[[mm7.vasps]]
name = "{name}"
vasp_id = "{name}-id"
username = "{user}"
password_hash = "{hash}"
short_codes = ["{short_code}"]
senders = ["weather@vasp.example"]
namespace = "REL-5-MM7-1-2"
mm7_version = "5.5.0"
{url}
{extra}
"#
    )
}

/// A relay of operator A with MM7 on `mm7` and the given VASP tables; `extra` adds tables.
fn relay_config(mm7: u16, vasps: &str, extra: &str) -> String {
    format!(
        r#"
[push]
bearer = "udp"

[subscribers]
local = ["+1555"]

[mm4]
domain = "{DOMAIN_A}"

[mm7]
enabled = true
listen = "127.0.0.1:{mm7}"

[outbound]
initial_backoff_secs = 1
max_backoff_secs = 2
{extra}
{vasps}
"#
    )
}

struct Setup {
    relay: Relay,
    mm7: String,
}

fn start(name: &str, vasps: &str, extra: &str) -> Setup {
    start_with(name, vasps, extra, &[])
}

fn start_with(name: &str, vasps: &str, extra: &str, env: &[(&str, &str)]) -> Setup {
    let port = common::free_port();
    let relay = Relay::start_with_config(name, &relay_config(port, vasps, extra), env);
    Setup { relay, mm7: format!("http://127.0.0.1:{port}/mm7") }
}

/// Runs `vasp.py <command>` against the relay as the account `user`; its JSON answer.
fn vasp(setup: &Setup, user: &str, command: &str, args: &[&str]) -> Value {
    let out = Command::new(python())
        .arg(vasp_py())
        .arg(command)
        .args(["--url", &setup.mm7, "--user", user, "--password", PASSWORD])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "vasp.py {command}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The content files a submission sends: a text and a picture.
fn content_files(name: &str) -> (String, String) {
    let dir = common::scratch(&format!("{name}-content"));
    std::fs::write(dir.join("weather.txt"), TEXT).unwrap();
    std::fs::write(dir.join("sun.png"), png()).unwrap();
    (
        format!("{}:text/plain", dir.join("weather.txt").display()),
        format!("{}:image/png", dir.join("sun.png").display()),
    )
}

fn submit(setup: &Setup, user: &str, to: &[&str], extra: &[&str]) -> Value {
    let (text, picture) = content_files(&format!("{}-{}", user, to.join("-")));
    let mut args: Vec<&str> = vec!["--vasp-id", "news-id", "--sender", SHORT_CODE, "--subject", "Weather"];
    for t in to {
        args.extend(["--to", t]);
    }
    args.extend(["--part", &text, "--part", &picture]);
    args.extend(extra);
    vasp(setup, user, "submit", &args)
}

/// An answer without deviations from the standard, in `ns`, with `status`.
fn assert_answer(answer: &Value, operation: &str, ns: &str, status: u64) {
    assert_eq!(answer["errors"], Value::Array(vec![]), "{answer:#}");
    assert_eq!(answer["operation"], operation, "{answer:#}");
    assert!(answer["namespace"].as_str().unwrap().ends_with(ns), "{answer:#}");
    assert_eq!(answer["status_code"], status, "{answer:#}");
}

/// The next push, handed to `tern ue receive` as the handset it is for, which fetches the
/// message, acknowledges it and saves its parts: they must be the VASP's, byte for byte. Returns
/// the handset's number.
fn ue_fetches(relay: &Relay, test: &str) -> String {
    let (push, message) = relay.next_push();
    let Pdu::NotificationInd(note) = message.pdu else { panic!("a notification") };
    let url = note.content_location.unwrap();
    let token = url.rsplit('/').next().unwrap().to_owned();
    let who = relay.query(&format!("SELECT address FROM recipients WHERE token = '{token}'"))[0][0].clone();
    let dir = common::scratch(&format!("{test}-ue-{}", who.trim_start_matches('+')));
    std::fs::write(dir.join("push.bin"), &push).unwrap();
    let saved = dir.join("saved");
    let out = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["ue", "receive", "--push"])
        .arg(dir.join("push.bin"))
        .args(["--relay", &format!("{}/mms", relay.base), "--msisdn", &who, "--unknown", "accept", "--save"])
        .arg(&saved)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "tern ue receive: {}", String::from_utf8_lossy(&out.stderr));
    let files: Vec<Vec<u8>> = std::fs::read_dir(&saved)
        .unwrap()
        .flat_map(|m| std::fs::read_dir(m.unwrap().path()).unwrap())
        .map(|f| std::fs::read(f.unwrap().path()).unwrap())
        .collect();
    assert!(files.contains(&png()), "{who} saved the picture byte for byte");
    assert!(files.iter().any(|f| f == TEXT), "{who} saved the text byte for byte");
    who
}

/// Notified messages fetched by whichever recipient each is for: (recipient, conf, parts).
fn fetch_notified(relay: &Relay, n: usize) -> Vec<(String, RetrieveConf, Parts)> {
    (0..n)
        .map(|_| {
            let Pdu::NotificationInd(note) = relay.next_push().1.pdu else { panic!("a notification") };
            let url = note.content_location.unwrap();
            let token = url.rsplit('/').next().unwrap().to_owned();
            let who = relay.query(&format!("SELECT address FROM recipients WHERE token = '{token}'"))[0][0].clone();
            let (conf, parts) = fetch(relay, &url, &who);
            (who, conf, parts)
        })
        .collect()
}

fn fetch(relay: &Relay, url: &str, who: &str) -> (RetrieveConf, Parts) {
    let answer = relay.get(url, Some(who));
    assert_eq!(answer.status, 200);
    let message = Message::decode(&answer.body).unwrap().into_owned();
    let Pdu::RetrieveConf(conf) = message.pdu else { panic!("an m-retrieve.conf") };
    let parts = message.body.map_or_else(Vec::new, |b| {
        b.parts().iter().map(|p| (p.content_type.media_type.clone(), p.data.to_vec())).collect()
    });
    (conf, parts)
}

fn assert_content(parts: &[(String, Vec<u8>)]) {
    let find = |t: &str| parts.iter().find(|(ct, _)| ct == t).map(|(_, d)| d.as_slice());
    assert_eq!(find("image/png"), Some(png().as_slice()), "the picture, byte for byte");
    assert_eq!(find("text/plain"), Some(TEXT), "the text, byte for byte");
}

fn stored(relay: &Relay) -> String {
    relay.query("SELECT count(*) FROM messages")[0][0].clone()
}

/// The MM4 half of a relay's configuration: `peer` at `peer_domain` serves `peer_range`, and
/// is reached on SMTP at `target`; this relay's own SMTP listens on `listen`.
fn peering(peer: &str, peer_domain: &str, peer_range: &str, target: u16, listen: u16) -> String {
    format!(
        r#"
[[mm4.peers]]
name = "{peer}"
domain = "{peer_domain}"
send = {{ via = "relay", host = "127.0.0.1", port = {target} }}
admit = ["127.0.0.0/8"]
[smtp]
listen = "127.0.0.1:{listen}"
[smtp_out]
tls = "none"
timeout_secs = 5
[routing]
rules = [{{ prefix = "{peer_range}", action = "mm4", peer = "{peer}" }}]
"#
    )
}

/// Operator B: a second relay, MM4 peer of A, on SMTP directly (no MTA between them).
fn operator_b(name: &str, smtp_a: u16, smtp_b: u16) -> Relay {
    let config = format!(
        "[push]\nbearer = \"udp\"\n[subscribers]\nlocal = [\"+1556\"]\n[mm4]\nenabled = true\ndomain = \"{DOMAIN_B}\"\n\
         [outbound]\ninitial_backoff_secs = 1\nmax_backoff_secs = 2\n{}",
        peering("a", DOMAIN_A, "+1555", smtp_a, smtp_b)
    );
    Relay::start_with_config(&format!("{name}-b"), &config, &[])
}

#[test]
fn a_vasp_message_reaches_two_handsets_and_another_operator_and_each_is_reported() {
    if !peer_ready() {
        return;
    }
    let name = "mm7-submit";
    let receiver = Receiver::start(name, 0, &[]);
    let (smtp_a, smtp_b) = (common::free_port(), common::free_port());
    let vasps = vasp_table("news", "news", SHORT_CODE, Some(&receiver.url()), "");
    let a =
        start_with(name, &vasps, &peering("b", DOMAIN_B, "+1556", smtp_b, smtp_a), &[("TERN_MM4__ENABLED", "true")]);
    let b = operator_b(name, smtp_a, smtp_b);

    let answer =
        submit(&a, "news", &[AMY, ALEX, BOB], &["--delivery-report", "--ns", "REL-6-MM7-1-3", "--version", "6.5.0"]);
    assert_answer(&answer, "SubmitRsp", "REL-6-MM7-1-3", 1000);
    assert_eq!(answer["mm7_version"], "6.5.0", "answered with the request's MM7Version");
    let message_id = answer["message_id"].as_str().unwrap().to_owned();

    // The two handsets here are `tern ue`, each fetching from the push it was sent.
    let mut fetched: Vec<String> = (0..2).map(|_| ue_fetches(&a.relay, name)).collect();
    fetched.sort();
    assert_eq!(fetched, [AMY, ALEX]);
    let (who, _, parts) = fetch_notified(&b, 1).pop().unwrap();
    assert_eq!(who, BOB);
    assert_content(&parts);

    let reports = receiver.wait_for("DeliveryReportReq", 3);
    let mut about: Vec<(String, String)> = reports
        .iter()
        .map(|r| {
            assert_eq!(r["errors"], Value::Array(vec![]), "{r:#}");
            assert!(r["namespace"].as_str().unwrap().ends_with("REL-5-MM7-1-2"), "the VASP's configured schema");
            assert_eq!(r["mm7_version"], "5.5.0");
            assert_eq!(r["message_id"], message_id.as_str());
            (r["recipients"][0]["value"].as_str().unwrap().to_owned(), r["mm_status"].as_str().unwrap().to_owned())
        })
        .collect();
    about.sort();
    assert_eq!(
        about,
        [
            (AMY.to_owned(), "Retrieved".to_owned()),
            (ALEX.to_owned(), "Retrieved".to_owned()),
            (BOB.to_owned(), "Retrieved".to_owned())
        ]
    );
}

/// An m-send.req from a handset to `to`, with the text and the picture.
fn send_req(to: &str, read_report: bool) -> Vec<u8> {
    let req = SendReq {
        transaction_id: Some("t-1".into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: vec![Address::new(to)],
        subject: Some(EncodedString::auto("vote")),
        read_report: Some(read_report),
        ..SendReq::default()
    };
    let mut text = Part::new(ContentType::new("text/plain").with_charset(Charset::UTF_8), TEXT.to_vec());
    text.headers.content_location = Some("text.txt".into());
    let mut picture = Part::new(ContentType::new("image/png"), png());
    picture.headers.content_location = Some("sun.png".into());
    Message::with_body(
        req,
        Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), vec![text, picture]),
    )
    .encode()
}

fn handset_submits(relay: &Relay, from: &str, pdu: &[u8]) -> String {
    let answer = relay.post(pdu, Some(from));
    let Pdu::SendConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-send.conf") };
    assert_eq!(conf.response_status, Some(ResponseStatus::OK), "{:?}", conf.response_text);
    conf.message_id.unwrap()
}

/// The parts of a logged DeliverReq's content: (content type, bytes).
fn logged_parts(r: &Value) -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap();
    match r["parts"].as_array() {
        Some(parts) => parts.iter().map(|p| (p["content_type"].as_str().unwrap().to_owned(), b64(&p["b64"]))).collect(),
        None => vec![(r["content_type"].as_str().unwrap().to_owned(), b64(&r["content_b64"]))],
    }
}

#[test]
fn a_handset_message_to_the_short_code_reaches_the_vasp_and_a_read_report_follows_its_own() {
    if !peer_ready() {
        return;
    }
    let name = "mm7-deliver";
    let receiver = Receiver::start(name, 0, &[]);
    let setup = start(name, &vasp_table("news", "news", SHORT_CODE, Some(&receiver.url()), ""), "");
    let message_id = handset_submits(&setup.relay, AMY, &send_req(SHORT_CODE, false));
    let deliver = receiver.wait_for("DeliverReq", 1).remove(0);
    assert_eq!(deliver["errors"], Value::Array(vec![]), "{deliver:#}");
    assert!(deliver["namespace"].as_str().unwrap().ends_with("REL-5-MM7-1-2"));
    assert_eq!(deliver["sender"]["value"], AMY);
    assert_eq!(deliver["recipients"][0]["value"], SHORT_CODE);
    assert_eq!(deliver["subject"], "vote");
    assert_eq!(deliver["linked_id"], message_id.as_str(), "LinkedID names the message a reply answers");
    assert_content(&logged_parts(&deliver));
    eventually(&setup.relay, &state_of(&message_id), "forwarded");

    // The VASP's own message asks for a read report; the handset's m-read-rec.ind becomes a
    // ReadReplyReq.
    let answer = submit(&setup, "news", &[ALEX], &["--read-reply"]);
    assert_answer(&answer, "SubmitRsp", "REL-6-MM7-1-4", 1000);
    let (_, conf, _) = fetch_notified(&setup.relay, 1).pop().unwrap();
    let read = Message::new(ReadRecInd {
        mms_version: Some(Version::V1_2),
        message_id: conf.message_id.clone(),
        to: vec![Address::new(SHORT_CODE)],
        from: Some(Sender::InsertAddress),
        read_status: Some(ReadStatus::READ),
        ..ReadRecInd::default()
    })
    .encode();
    assert_eq!(setup.relay.post(&read, Some(ALEX)).status, 204);
    let reply = receiver.wait_for("ReadReplyReq", 1).remove(0);
    assert_eq!(reply["errors"], Value::Array(vec![]), "{reply:#}");
    assert_eq!(reply["message_id"], answer["message_id"]);
    assert_eq!(reply["recipients"][0]["value"], ALEX);
    assert_eq!(reply["mm_status"], "Read");
}

fn state_of(message_id: &str) -> String {
    format!("SELECT r.state FROM recipients r JOIN messages m ON m.id = r.message WHERE m.message_id = '{message_id}'")
}

/// Polls `sql` until its rows, as `a|b` lines, are `want`.
fn eventually(relay: &Relay, sql: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows: Vec<String> = relay.query(sql).iter().map(|r| r.join("|")).collect();
        if rows.join("\n") == want {
            return;
        }
        assert!(Instant::now() < deadline, "{sql}: want {want:?}, have {rows:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_message_cancelled_before_retrieval_is_gone_and_a_replaced_one_is_fetched_new() {
    if !peer_ready() {
        return;
    }
    let setup = start("mm7-cancel", &vasp_table("news", "news", SHORT_CODE, None, ""), "");
    let first = submit(&setup, "news", &[AMY], &[]);
    let Pdu::NotificationInd(note) = setup.relay.next_push().1.pdu else { panic!("a notification") };
    let id = first["message_id"].as_str().unwrap();
    let cancelled = vasp(&setup, "news", "cancel", &["--vasp-id", "news-id", "--message-id", id]);
    assert_answer(&cancelled, "CancelRsp", "REL-6-MM7-1-4", 1000);
    let answer = setup.relay.get(note.content_location.as_deref().unwrap(), Some(AMY));
    let Pdu::RetrieveConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-retrieve.conf") };
    assert_eq!(conf.retrieve_status, Some(RetrieveStatus::PERMANENT_MESSAGE_NOT_FOUND));
    // Nothing is left to cancel; another account's message is not found.
    let again = vasp(&setup, "news", "cancel", &["--vasp-id", "news-id", "--message-id", id]);
    assert_answer(&again, "CancelRsp", "REL-6-MM7-1-4", 3001);
    let unknown = vasp(&setup, "news", "cancel", &["--vasp-id", "news-id", "--message-id", "nope"]);
    assert_answer(&unknown, "CancelRsp", "REL-6-MM7-1-4", 2005);

    let second = submit(&setup, "news", &[ALEX], &[]);
    let Pdu::NotificationInd(note) = setup.relay.next_push().1.pdu else { panic!("a notification") };
    let dir = common::scratch("mm7-cancel-new");
    std::fs::write(dir.join("new.txt"), b"Storm warning").unwrap();
    let part = format!("{}:text/plain", dir.join("new.txt").display());
    let id = second["message_id"].as_str().unwrap();
    let replaced = vasp(&setup, "news", "replace", &["--vasp-id", "news-id", "--message-id", id, "--part", &part]);
    assert_answer(&replaced, "ReplaceRsp", "REL-6-MM7-1-4", 1000);
    let (_, parts) = fetch(&setup.relay, note.content_location.as_deref().unwrap(), ALEX);
    assert!(parts.iter().any(|(ct, d)| ct == "text/plain" && d == b"Storm warning"), "{parts:?}");
    assert!(!parts.iter().any(|(ct, _)| ct == "image/png"), "the old content is gone");
    // Fetched now: a second replace is refused.
    let late = vasp(&setup, "news", "replace", &["--vasp-id", "news-id", "--message-id", id, "--part", &part]);
    assert_answer(&late, "ReplaceRsp", "REL-6-MM7-1-4", 3001);
}

#[test]
fn a_message_the_vasp_does_not_let_be_passed_on_is_marked_so_and_not_forwarded() {
    if !peer_ready() {
        return;
    }
    let setup = start("mm7-distribution", &vasp_table("news", "news", SHORT_CODE, None, ""), "");
    let answer = submit(&setup, "news", &[AMY], &["--no-distribution"]);
    assert_answer(&answer, "SubmitRsp", "REL-6-MM7-1-4", 1000);
    let Pdu::NotificationInd(note) = setup.relay.next_push().1.pdu else { panic!("a notification") };
    assert_eq!(note.distribution_indicator, Some(false), "the handset is told");
    let url = note.content_location.unwrap();
    let (conf, _) = fetch(&setup.relay, &url, AMY);
    assert_eq!(conf.distribution_indicator, Some(false));
    let forward = Message::new(ForwardReq {
        transaction_id: Some("fwd-1".into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: vec![Address::phone(ALEX)],
        content_location: Some(url),
        ..ForwardReq::default()
    })
    .encode();
    let answer = setup.relay.post(&forward, Some(AMY));
    let Pdu::ForwardConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-forward.conf") };
    assert_eq!(conf.response_status, Some(ResponseStatus::PERMANENT_SERVICE_DENIED));
    assert_eq!(stored(&setup.relay), "1", "nothing forwarded");
}

#[test]
fn every_namespace_submits_and_is_answered_in_its_own() {
    if !peer_ready() {
        return;
    }
    let setup = start("mm7-namespaces", &vasp_table("news", "news", SHORT_CODE, None, ""), "");
    let all = [
        ("REL-5-MM7-1-0", "5.3.0"),
        ("REL-5-MM7-1-1", "5.3.0"),
        ("REL-5-MM7-1-2", "5.5.0"),
        ("REL-5-MM7-1-3", "5.6.0"),
        ("REL-6-MM7-1-0", "6.3.0"),
        ("REL-6-MM7-1-1", "6.5.0"),
        ("REL-6-MM7-1-2", "6.6.0"),
        ("REL-6-MM7-1-3", "6.7.0"),
        ("REL-6-MM7-1-4", "6.8.0"),
    ];
    for (ns, version) in all {
        let answer = submit(&setup, "news", &[AMY], &["--ns", ns, "--version", version, "--transaction-id", ns]);
        assert_answer(&answer, "SubmitRsp", ns, 1000);
        assert_eq!(answer["mm7_version"], version);
        assert_eq!(answer["transaction_id"], ns);
    }
    assert_eq!(stored(&setup.relay), "9");
}

#[test]
fn refused_requests_get_their_status_and_store_nothing() {
    if !peer_ready() {
        return;
    }
    let vasps = vasp_table("news", "news", SHORT_CODE, None, "")
        + &vasp_table("far", "far", "7777", None, "admit = [\"10.0.0.0/8\"]");
    let setup = start("mm7-refusals", &vasps, "");
    let bad_password = Command::new(python())
        .arg(vasp_py())
        .args(["submit", "--url", &setup.mm7, "--user", "news", "--password", "wrong", "--to", AMY, "--no-content"])
        .output()
        .unwrap();
    let answer: Value = serde_json::from_slice(&bad_password.stdout).unwrap();
    assert_eq!(
        (answer["http_status"].as_u64(), answer["operation"].as_str()),
        (Some(401), Some("Fault")),
        "{answer:#}"
    );
    assert_eq!(answer["status_code"], 4001);

    let outside = submit(&setup, "far", &[AMY], &["--sender", "7777"]);
    assert_eq!(
        (outside["http_status"].as_u64(), outside["status_code"].as_u64()),
        (Some(403), Some(4007)),
        "{outside:#}"
    );
    let not_ours = submit(&setup, "news", &[AMY], &["--sender", "+15550100009"]);
    assert_answer(&not_ours, "SubmitRsp", "REL-6-MM7-1-4", 2001);
    let wrong_vasp = submit(&setup, "news", &[AMY], &["--vasp-id", "someone-else"]);
    assert_answer(&wrong_vasp, "SubmitRsp", "REL-6-MM7-1-4", 4001);
    let no_content = submit(&setup, "news", &[AMY], &["--no-content"]);
    assert_eq!((no_content["operation"].as_str(), no_content["status_code"].as_u64()), (Some("Fault"), Some(2007)));
    let bad_cid = submit(&setup, "news", &[AMY], &["--bad-cid"]);
    assert_eq!((bad_cid["operation"].as_str(), bad_cid["status_code"].as_u64()), (Some("Fault"), Some(2007)));

    let dir = common::scratch("mm7-refusals-raw");
    let cases: [(&str, &[u8], u64); 3] = [
        ("broken.xml", b"<env:Envelope xmlns:env=\"http://schemas.xmlsoap.org/soap/envelope/\"><env:Body><Sub", 4004),
        (
            "unknown-ns.xml",
            b"<env:Envelope xmlns:env=\"http://schemas.xmlsoap.org/soap/envelope/\"><env:Body>\
              <SubmitReq xmlns=\"urn:example:not-mm7\"><MM7Version>6.8.0</MM7Version></SubmitReq></env:Body></env:Envelope>",
            4002,
        ),
        ("not-soap.xml", b"<html><body>hello</body></html>", 4004),
    ];
    for (file, body, status) in cases {
        let path = dir.join(file);
        std::fs::write(&path, body).unwrap();
        let answer = vasp(&setup, "news", "submit", &["--to", AMY, "--raw-body", path.to_str().unwrap()]);
        assert_eq!(answer["http_status"], 500, "{file}: {answer:#}");
        assert_eq!(answer["operation"], "Fault", "{file}: {answer:#}");
        assert_eq!(answer["status_code"], status, "{file}: {answer:#}");
        assert_eq!(answer["well_formed"], true, "{file}: {answer:#}");
    }
    assert_eq!(stored(&setup.relay), "0", "nothing refused is stored");
}

#[test]
fn over_the_throughput_limit_is_refused_and_nothing_accepted_is_lost() {
    if !peer_ready() {
        return;
    }
    let setup = start("mm7-throughput", &vasp_table("news", "news", SHORT_CODE, None, "throughput = 1"), "");
    let dir = common::scratch("mm7-throughput-content");
    std::fs::write(dir.join("t.txt"), b"x").unwrap();
    let part = format!("{}:text/plain", dir.join("t.txt").display());
    // Side by side, so that several fall in one second.
    let runs: Vec<std::thread::JoinHandle<Value>> = (0..6)
        .map(|_| {
            let (url, part) = (setup.mm7.clone(), part.clone());
            std::thread::spawn(move || {
                let out = Command::new(python())
                    .arg(vasp_py())
                    .args(["submit", "--url", &url, "--user", "news", "--password", PASSWORD, "--to", AMY])
                    .args(["--sender", SHORT_CODE, "--part", &part])
                    .output()
                    .unwrap();
                serde_json::from_slice(&out.stdout).unwrap()
            })
        })
        .collect();
    let answers: Vec<Value> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    let taken: Vec<&Value> = answers.iter().filter(|a| a["status_code"] == 1000).collect();
    let refused = answers.iter().filter(|a| a["status_code"] == 4006).count();
    assert_eq!(taken.len() + refused, 6, "{answers:#?}");
    assert!(refused >= 1, "six at once over a limit of one a second: {answers:#?}");
    assert_eq!(stored(&setup.relay), taken.len().to_string(), "every accepted one is stored");
    for a in taken {
        let id = a["message_id"].as_str().unwrap();
        assert_eq!(setup.relay.query(&format!("SELECT count(*) FROM messages WHERE message_id = '{id}'")), [["1"]]);
    }
}

#[test]
fn a_receiver_that_is_down_gets_what_waited_once_it_is_back() {
    if !peer_ready() {
        return;
    }
    let name = "mm7-down";
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}/mm7");
    let setup = start(name, &vasp_table("news", "news", SHORT_CODE, Some(&url), ""), "");
    let message_id = handset_submits(&setup.relay, AMY, &send_req(SHORT_CODE, false));
    let answer = submit(&setup, "news", &[ALEX], &["--delivery-report"]);
    assert_answer(&answer, "SubmitRsp", "REL-6-MM7-1-4", 1000);
    fetch_notified(&setup.relay, 1);
    // Both wait, tried and tried again.
    eventually(
        &setup.relay,
        "SELECT kind, state, attempts > 1 FROM outbound WHERE destination = 'mm7:news' ORDER BY id",
        "forward|pending|1\nreport|pending|1",
    );
    let receiver = Receiver::start(name, port, &["--fail-first", "1"]);
    assert_eq!(receiver.wait_for("DeliverReq", 1)[0]["linked_id"], message_id.as_str());
    assert_eq!(receiver.wait_for("DeliveryReportReq", 1)[0]["mm_status"], "Retrieved");
    eventually(&setup.relay, &state_of(&message_id), "forwarded");
}

/// An EAIF receiver: takes each POST, answers 204, and hands its headers and body over.
fn eaif_receiver() -> (String, mpsc::Receiver<Post>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/eaif", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let Some((name, value)) = line.trim_end().split_once(':') else { break };
                headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
            }
            let length = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").unwrap();
            let _ = tx.send((headers, body));
        }
    });
    (url, rx)
}

#[test]
fn eaif_submits_and_delivers_the_same_messages() {
    let (url, posts) = eaif_receiver();
    let table = vasp_table("nokia", "nokia", EAIF_CODE, Some(&url), "protocol = \"eaif\"");
    let setup = start("mm7-eaif", &table, "");
    // In: an m-send.req with the envelope in X-NOKIA-MMSC-* headers.
    let pdu = send_req(AMY, false);
    let answer = setup.relay_post_eaif(&pdu, &[("X-NOKIA-MMSC-To", AMY), ("X-NOKIA-MMSC-From", EAIF_CODE)]);
    assert_eq!(answer.0, 204, "{answer:?}");
    let message_id = answer.1.expect("X-NOKIA-MMSC-Message-Id");
    let (who, conf, parts) = fetch_notified(&setup.relay, 1).pop().unwrap();
    assert_eq!((who.as_str(), conf.message_id.as_deref()), (AMY, Some(message_id.as_str())));
    assert_eq!(conf.from, Some(Sender::Address(Address::new(EAIF_CODE))));
    assert_content(&parts);
    let wrong = setup.relay_post_eaif(&pdu, &[("X-NOKIA-MMSC-To", AMY), ("X-NOKIA-MMSC-From", "9999")]);
    assert_eq!(wrong.0, 403, "a sender that is not the account's");
    let garbage = setup.relay_post_eaif(b"\x8c\x80\x98", &[("X-NOKIA-MMSC-To", AMY)]);
    assert_eq!(garbage.0, 400);
    assert_eq!(stored(&setup.relay), "1");

    // Out: a handset's message to the short code, as an m-retrieve.conf PDU.
    handset_submits(&setup.relay, ALEX, &send_req(EAIF_CODE, false));
    let (headers, body) = posts.recv_timeout(Duration::from_secs(30)).unwrap();
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(header("content-type"), Some("application/vnd.wap.mms-message"));
    assert_eq!(header("x-nokia-mmsc-message-type"), Some("MultiMediaMessage"));
    assert!(header("x-nokia-mmsc-from").unwrap().starts_with(ALEX), "{headers:?}");
    assert!(header("x-nokia-mmsc-to").unwrap().starts_with(EAIF_CODE), "{headers:?}");
    let message = Message::decode(&body).unwrap();
    assert!(matches!(message.pdu, Pdu::RetrieveConf(_)), "{:?}", message.pdu);
    let parts: Vec<(String, Vec<u8>)> =
        message.body.unwrap().parts().iter().map(|p| (p.content_type.media_type.clone(), p.data.to_vec())).collect();
    assert_content(&parts);
}

impl Setup {
    /// POSTs an EAIF submission as the account `nokia`; the status and X-NOKIA-MMSC-Message-Id.
    fn relay_post_eaif(&self, pdu: &[u8], headers: &[(&str, &str)]) -> (u16, Option<String>) {
        use base64::Engine;
        let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("nokia:{PASSWORD}")));
        let addr = self.mm7.trim_start_matches("http://").split('/').next().unwrap().to_owned();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        let mut head = format!(
            "POST /eaif HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/vnd.wap.mms-message\r\n\
             Authorization: {auth}\r\nContent-Length: {}\r\n",
            pdu.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(pdu).unwrap();
        let mut raw = String::new();
        let _ = BufReader::new(stream).read_to_string(&mut raw);
        let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
        let id = raw
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("x-nokia-mmsc-message-id")))
            .map(|(_, v)| v.trim().to_owned());
        (status, id)
    }
}

#[test]
fn the_endpoint_speaks_https_with_the_configured_certificate() {
    if !peer_ready() {
        return;
    }
    let certs = common::scratch("mm7-https-certs");
    let cert = common::tls::server_cert(&certs);
    let tls = format!("[mm7.tls]\ncert = \"{}\"\nkey = \"{}\"\n", cert.cert_file.display(), cert.key_file.display());
    let port = common::free_port();
    let config = relay_config(port, &vasp_table("news", "news", SHORT_CODE, None, ""), "")
        .replace(&format!("listen = \"127.0.0.1:{port}\"\n"), &format!("listen = \"127.0.0.1:{port}\"\n{tls}"));
    let relay = Relay::start_with_config("mm7-https", &config, &[]);
    let (text, picture) = content_files("mm7-https");
    let out = Command::new(python())
        .arg(vasp_py())
        .args(["submit", "--url", &format!("https://127.0.0.1:{port}/mm7"), "--user", "news", "--password", PASSWORD])
        .args(["--sender", SHORT_CODE, "--to", AMY, "--part", &text, "--part", &picture])
        // The test CA is the only one the peer trusts.
        .env("SSL_CERT_FILE", &cert.ca_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_answer(&answer, "SubmitRsp", "REL-6-MM7-1-4", 1000);
    assert_eq!(stored(&relay), "1");
    // Plain HTTP on the HTTPS port is no request at all.
    let plain = Command::new(python())
        .arg(vasp_py())
        .args(["submit", "--url", &format!("http://127.0.0.1:{port}/mm7"), "--user", "news", "--password", PASSWORD])
        .args(["--to", AMY, "--no-content"])
        .output()
        .unwrap();
    assert!(!plain.status.success(), "plain HTTP got an answer: {}", String::from_utf8_lossy(&plain.stdout));
    assert_eq!(stored(&relay), "1");
}
