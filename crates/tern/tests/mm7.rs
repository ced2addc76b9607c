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
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Relay;
use common::mail::python;
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
/// A 1x1 PNG, small enough to compare byte for byte.
const PNG_HEX: &str = "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154789c63f8dfc0\
                       000004010180c52a185d0000000049454e44ae426082";
const TEXT: &[u8] = b"Your weather for today: sunny";

fn png() -> Vec<u8> {
    hex::decode(PNG_HEX).unwrap()
}

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

/// Notified messages fetched by whichever recipient each is for: (recipient, conf, parts).
fn fetch_notified(relay: &Relay, n: usize) -> Vec<(String, RetrieveConf, Vec<(String, Vec<u8>)>)> {
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

fn fetch(relay: &Relay, url: &str, who: &str) -> (RetrieveConf, Vec<(String, Vec<u8>)>) {
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

/// Operator B: a second relay, MM4 peer of A, on SMTP directly (no MTA between them).
fn operator_b(name: &str, smtp_a: u16, smtp_b: u16) -> Relay {
    let config = format!(
        r#"
[push]
bearer = "udp"
[subscribers]
local = ["+1556"]
[mm4]
enabled = true
domain = "{DOMAIN_B}"
[[mm4.peers]]
name = "a"
domain = "{DOMAIN_A}"
send = {{ via = "relay", host = "127.0.0.1", port = {smtp_a} }}
admit = ["127.0.0.0/8"]
[smtp]
listen = "127.0.0.1:{smtp_b}"
[smtp_out]
tls = "none"
timeout_secs = 5
[routing]
rules = [{{ prefix = "+1555", action = "mm4", peer = "a" }}]
[outbound]
initial_backoff_secs = 1
max_backoff_secs = 2
"#
    );
    Relay::start_with_config(&format!("{name}-b"), &config, &[])
}

fn mm4_for_a(smtp_a: u16, smtp_b: u16) -> String {
    format!(
        r#"
[[mm4.peers]]
name = "b"
domain = "{DOMAIN_B}"
send = {{ via = "relay", host = "127.0.0.1", port = {smtp_b} }}
admit = ["127.0.0.0/8"]
[smtp]
listen = "127.0.0.1:{smtp_a}"
[smtp_out]
tls = "none"
timeout_secs = 5
[routing]
rules = [{{ prefix = "+1556", action = "mm4", peer = "b" }}]
"#
    )
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
    let a = start_with(name, &vasps, &mm4_for_a(smtp_a, smtp_b), &[("TERN_MM4__ENABLED", "true")]);
    let b = operator_b(name, smtp_a, smtp_b);

    let answer =
        submit(&a, "news", &[AMY, ALEX, BOB], &["--delivery-report", "--ns", "REL-6-MM7-1-3", "--version", "6.5.0"]);
    assert_answer(&answer, "SubmitRsp", "REL-6-MM7-1-3", 1000);
    assert_eq!(answer["mm7_version"], "6.5.0", "answered with the request's MM7Version");
    let message_id = answer["message_id"].as_str().unwrap().to_owned();

    let mut fetched = fetch_notified(&a.relay, 2);
    fetched.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(fetched.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), [AMY, ALEX]);
    for (_, conf, parts) in &fetched {
        assert_eq!(conf.subject.as_ref().map(|s| s.text.as_str()), Some("Weather"));
        assert_eq!(conf.from, Some(Sender::Address(Address::new(SHORT_CODE))), "from the VASP's short code");
        assert_content(parts);
    }
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
