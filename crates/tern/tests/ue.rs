//! `tern ue` end to end against real `tern serve` relays on 127.0.0.1, each pushing over the
//! UDP bearer to the simulated handsets named in `[push.udp_clients]`: a message sent with
//! `tern ue send` is fetched, saved and answered by the recipient's `tern ue receive`, and its
//! delivery and read reports reach the sender's own; with several relays each notification is fetched
//! from, refused to or held for the relay that sent it, and a held one is fetched and
//! acknowledged in a later run; bad input is reported without stopping the simulator.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{PNG_HEX, Relay};
use serde_json::Value;
use tern_codec::mms::{DeliveryInd, Message, NotificationInd, Pdu, Status, Version};
use tern_codec::push::Push;

const SENDER: &str = "+15550100001";
const RECIPIENT: &str = "+15550100002";
/// How long a `tern ue receive` waits for each push: far above what a loaded CI machine needs.
const PUSH_TIMEOUT: &str = "30";

/// A `tern ue` process run with `--json`, its steps read as they are printed.
struct Ue {
    child: Child,
    steps: mpsc::Receiver<Value>,
    seen: Vec<Value>,
    stderr: Option<JoinHandle<String>>,
}

/// What a finished `tern ue` run did.
struct Run {
    status: ExitStatus,
    steps: Vec<Value>,
    stderr: String,
}

/// One indication POSTed to a relay and the HTTP status it was answered with.
#[derive(Debug)]
struct Post {
    url: String,
    kind: String,
    transaction_id: String,
    status: Option<String>,
    http: Option<u64>,
}

impl Ue {
    fn spawn(args: &[&str]) -> Ue {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tern"))
            .arg("ue")
            .args(args)
            .arg("--json")
            // Never a terminal, so the simulator cannot stop to ask about an unknown relay.
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, steps) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // A line that is not JSON is kept as text, for `finish` to catch.
                let _ = tx.send(serde_json::from_str(&line).unwrap_or(Value::String(line)));
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Ue { child, steps, seen: Vec::new(), stderr: Some(stderr) }
    }

    /// Starts `tern ue receive` on the UDP port `reserved` holds and waits until it listens, so
    /// that no push is sent before it can be received.
    fn listening(reserved: UdpSocket, args: &[&str]) -> Ue {
        let address = reserved.local_addr().unwrap().to_string();
        drop(reserved);
        let mut ue = Ue::spawn(&[&["receive", "--listen", &address], args].concat());
        let first = ue.steps.recv_timeout(Duration::from_secs(20)).expect("tern ue receive starts listening");
        assert_eq!(first["step"], "listening", "{first}");
        assert_eq!(first["address"], address.as_str());
        ue.seen.push(first);
        ue
    }

    /// Waits for the process to end; every line it printed must be a JSON object.
    fn finish(&mut self) -> Run {
        let deadline = Instant::now() + Duration::from_secs(90);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "tern ue did not end; its steps so far: {:#?}", self.seen);
            self.seen.extend(self.steps.try_iter());
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(step) = self.steps.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(step);
        }
        let stderr = self.stderr.take().map(|h| h.join().unwrap()).unwrap_or_default();
        let run = Run { status, steps: std::mem::take(&mut self.seen), stderr };
        assert!(run.steps.iter().all(Value::is_object), "--json prints one JSON object a line:\n{}", run.show());
        assert!(!run.stderr.contains("panicked"), "tern ue panicked:\n{}", run.show());
        run
    }
}

impl Drop for Ue {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tern ue` to its end.
fn ue(args: &[&str]) -> Run {
    Ue::spawn(args).finish()
}

impl Run {
    /// Everything it printed, for failure messages.
    fn show(&self) -> String {
        let steps: Vec<String> = self.steps.iter().map(Value::to_string).collect();
        format!("exit: {}\nsteps:\n{}\nstderr:\n{}", self.status, steps.join("\n"), self.stderr)
    }

    fn succeeded(&self) -> &Run {
        assert!(self.status.success(), "tern ue failed:\n{}", self.show());
        self
    }

    fn steps<'a>(&'a self, step: &str) -> impl Iterator<Item = &'a Value> + use<'a> {
        let step = step.to_owned();
        self.steps.iter().filter(move |s| s["step"] == step.as_str())
    }

    fn only(&self, step: &str) -> &Value {
        let found: Vec<&Value> = self.steps(step).collect();
        assert_eq!(found.len(), 1, "one {step} step:\n{}", self.show());
        found[0]
    }

    fn texts(&self, step: &str, key: &str) -> Vec<String> {
        self.steps(step).map(|s| s[key].as_str().unwrap().to_owned()).collect()
    }

    fn gets(&self) -> Vec<String> {
        self.steps("request").filter(|s| s["method"] == "GET").map(|s| s["url"].as_str().unwrap().to_owned()).collect()
    }

    /// Each POST with the answer printed right after it (the simulator does one thing at a time).
    fn posts(&self) -> Vec<Post> {
        let mut posts = Vec::new();
        for (n, step) in self.steps.iter().enumerate() {
            if step["step"] != "request" || step["method"] != "POST" {
                continue;
            }
            let answer = self.steps.get(n + 1).filter(|a| a["step"] == "answer" && a["url"] == step["url"]);
            posts.push(Post {
                url: step["url"].as_str().unwrap().to_owned(),
                kind: step["mms"]["message_type"].as_str().unwrap().to_owned(),
                transaction_id: step["mms"]["transaction_id"].as_str().unwrap_or_default().to_owned(),
                status: step["mms"]["status"].as_str().map(str::to_owned),
                http: answer.and_then(|a| a["http_status"].as_u64()),
            });
        }
        posts
    }

    /// The decision taken on the notification from `origin`.
    fn decision(&self, origin: &str) -> &Value {
        let found: Vec<&Value> = self.steps("decision").filter(|d| d["origin"] == origin).collect();
        assert_eq!(found.len(), 1, "one decision for {origin}:\n{}", self.show());
        found[0]
    }
}

/// A UDP port on 127.0.0.1 for a simulated handset, held until the handset takes it, so that
/// the relays' own sockets cannot be given it while they start.
fn reserve() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// A relay configuration that pushes to each of these handsets on its own UDP port.
fn handsets(clients: &[(&str, &UdpSocket)]) -> String {
    let mut config = String::from("[push]\nbearer = \"udp\"\n\n[push.udp_clients]\n");
    for (number, socket) in clients {
        config.push_str(&format!("\"{number}\" = \"{}\"\n", socket.local_addr().unwrap()));
    }
    config
}

/// `tern ue send` from [`SENDER`] to [`RECIPIENT`] through `relay`; returns the Message-ID the
/// relay gave.
fn send(relay: &Relay, extra: &[&str]) -> String {
    let mm1 = format!("{}/mms", relay.base);
    let run = ue(&[&["send", "--relay", &mm1, "--from", SENDER, "--to", RECIPIENT], extra].concat());
    run.succeeded();
    let request = run.only("request");
    assert_eq!(request["mms"]["message_type"], "m-send-req");
    assert_eq!(request["mms"]["from"], "insert-address", "the relay fills in the From field");
    let conf = &run.only("answer")["mms"];
    assert_eq!(conf["message_type"], "m-send-conf", "{}", run.show());
    assert_eq!(conf["response_status"], "ok", "{}", run.show());
    assert_eq!(conf["transaction_id"], request["mms"]["transaction_id"]);
    conf["message_id"].as_str().unwrap().to_owned()
}

/// The state of the recipient's copy of `message_id` in `relay`'s store.
fn state(relay: &Relay, message_id: &str) -> String {
    let rows = relay.query(&format!(
        "SELECT r.state FROM recipients r JOIN messages m ON m.id = r.message \
         WHERE m.message_id = '{message_id}' AND r.address = '{RECIPIENT}'"
    ));
    assert_eq!(rows.len(), 1, "one recipient row for {message_id}: {rows:?}");
    rows[0][0].clone()
}

/// The next m-delivery.ind `relay` pushes to the sender (its own UDP socket, the bearer's
/// `udp_target`, since the sender has no `udp_clients` entry).
fn delivery_report(relay: &Relay) -> DeliveryInd {
    match relay.next_push().1.pdu {
        Pdu::DeliveryInd(report) => report,
        other => panic!("expected an m-delivery-ind for the sender, got {other:?}"),
    }
}

/// The content of the part `run` saved as `name`, which must be in `dir/<message_id>/`.
fn saved(run: &Run, dir: &Path, message_id: &str, name: &str) -> Vec<u8> {
    let path = run
        .texts("saved", "path")
        .into_iter()
        .find(|p| p.ends_with(&format!("/{name}")))
        .unwrap_or_else(|| panic!("{name} saved:\n{}", run.show()));
    assert_eq!(Path::new(&path), dir.join(message_id).join(name), "saved under DIR/<Message-ID>/");
    std::fs::read(path).unwrap()
}

#[test]
fn a_sent_message_is_fetched_saved_and_answered_and_its_reports_reach_the_sender() {
    let (sender_handset, recipient_handset) = (reserve(), reserve());
    let relay = Relay::start_with_config(
        "ue-one",
        &handsets(&[(SENDER, &sender_handset), (RECIPIENT, &recipient_handset)]),
        &[],
    );
    let mm1 = format!("{}/mms", relay.base);
    let dir = common::scratch("ue-one-handsets");
    let save = dir.join("saved");
    let png = hex::decode(PNG_HEX).unwrap();
    let photo = dir.join("beach.png");
    std::fs::write(&photo, &png).unwrap();
    let text = "Grüße vom Strand";

    let save_arg = save.display().to_string();
    let mut recipient = Ue::listening(
        recipient_handset,
        &[
            "--msisdn",
            RECIPIENT,
            "--relay",
            &mm1,
            "--save",
            &save_arg,
            "--read-report",
            "--count",
            "1",
            "--timeout",
            PUSH_TIMEOUT,
        ],
    );
    let mut sender = Ue::listening(
        sender_handset,
        &["--msisdn", SENDER, "--relay", &mm1, "--count", "2", "--timeout", PUSH_TIMEOUT],
    );
    let photo_arg = photo.display().to_string();
    let message_id = send(
        &relay,
        &["--subject", "Beach", "--text", text, "--attach", &photo_arg, "--delivery-report", "--read-report"],
    );

    let got = recipient.finish();
    got.succeeded();
    let notification = &got.only("push")["mms"];
    assert_eq!(notification["message_type"], "m-notification-ind");
    assert_eq!(notification["from"], format!("{SENDER}/TYPE=PLMN"));
    assert_eq!(notification["subject"], "Beach");
    let url = notification["content_location"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/m/", relay.base)), "{url}");
    let decision = got.only("decision");
    assert_eq!((&decision["standing"], &decision["action"]), (&"home".into(), &"retrieve".into()));
    assert_eq!(got.gets(), [url], "fetched once, from the URL notified");
    let conf = &got.steps("answer").find(|a| a["url"] == url).unwrap()["mms"];
    assert_eq!(conf["message_type"], "m-retrieve-conf");
    assert_eq!(conf["message_id"], message_id.as_str());
    assert_eq!(saved(&got, &save, &message_id, "text.txt"), text.as_bytes());
    assert_eq!(saved(&got, &save, &message_id, "beach.png"), png);
    let posts = got.posts();
    assert_eq!(posts.len(), 2, "{posts:?}");
    let (answer, read) = (&posts[0], &posts[1]);
    assert_eq!((answer.url.as_str(), answer.kind.as_str()), (mm1.as_str(), "m-notifyresp-ind"));
    assert_eq!(answer.transaction_id, notification["transaction_id"].as_str().unwrap());
    assert_eq!((answer.status.as_deref(), answer.http), (Some("retrieved"), Some(204)), "taken by the relay");
    assert_eq!((read.url.as_str(), read.kind.as_str(), read.http), (mm1.as_str(), "m-read-rec-ind", Some(204)));
    assert_eq!(state(&relay, &message_id), "retrieved");

    let reported = sender.finish();
    reported.succeeded();
    let mut kinds = reported.texts("report", "kind");
    kinds.sort();
    assert_eq!(kinds, ["m-delivery-ind", "m-read-orig-ind"], "{}", reported.show());
    let delivery = reported.steps("report").find(|r| r["kind"] == "m-delivery-ind").unwrap();
    assert_eq!(delivery["message_id"], message_id.as_str());
    assert_eq!(delivery["status"], "retrieved");
    assert_eq!(delivery["to"], serde_json::json!([format!("{RECIPIENT}/TYPE=PLMN")]));
    let read = reported.steps("report").find(|r| r["kind"] == "m-read-orig-ind").unwrap();
    assert_eq!(read["message_id"], message_id.as_str());
    assert_eq!(read["from"], format!("{RECIPIENT}/TYPE=PLMN"));
    assert_eq!(read["read_status"], "read");
    assert!(reported.gets().is_empty() && reported.posts().is_empty(), "a report needs no answer");
}

#[test]
fn each_relay_gets_its_own_answer_and_a_held_notification_is_fetched_in_a_later_run() {
    let handset = reserve();
    let config = handsets(&[(RECIPIENT, &handset)]);
    let trusted = Relay::start_with_config("ue-trusted", &config, &[]);
    let blacklisted = Relay::start_with_config("ue-blacklisted", &config, &[]);
    let unknown = Relay::start_with_config("ue-unknown", &config, &[]);
    let dir = common::scratch("ue-relays-handset");
    let (held, save) = (dir.join("held"), dir.join("saved"));
    let (held_arg, save_arg) = (held.display().to_string(), save.display().to_string());

    let mut receiver = Ue::listening(
        handset,
        &[
            "--msisdn",
            RECIPIENT,
            "--mm1-path",
            "/mms",
            "--trust",
            &trusted.base,
            "--blacklist",
            &blacklisted.base,
            "--unknown",
            "defer",
            "--state",
            &held_arg,
            "--save",
            &save_arg,
            "--count",
            "3",
            "--timeout",
            PUSH_TIMEOUT,
        ],
    );
    let ids: Vec<String> = [&trusted, &blacklisted, &unknown]
        .iter()
        .map(|relay| send(relay, &["--subject", "Hello", "--text", &relay.base, "--delivery-report"]))
        .collect();
    let run = receiver.finish();
    run.succeeded();

    let tid = |relay: &Relay| run.decision(&relay.base)["transaction_id"].as_str().unwrap().to_owned();
    for (relay, standing, action) in
        [(&trusted, "trusted", "retrieve"), (&blacklisted, "blacklisted", "reject"), (&unknown, "unknown", "defer")]
    {
        let decision = run.decision(&relay.base);
        assert_eq!((&decision["standing"], &decision["action"]), (&standing.into(), &action.into()), "{decision}");
    }
    let trusted_url = run.decision(&trusted.base)["url"].as_str().unwrap().to_owned();
    assert_eq!(run.gets(), [trusted_url.as_str()], "only the trusted relay's message is fetched");
    assert_eq!(saved(&run, &save, &ids[0], "text.txt"), trusted.base.as_bytes());
    let mut posts = run.posts();
    posts.sort_by(|a, b| a.url.cmp(&b.url));
    let mut want: Vec<(String, String, Option<String>, Option<u64>)> =
        [(&trusted, "retrieved"), (&blacklisted, "rejected"), (&unknown, "deferred")]
            .iter()
            .map(|(relay, status)| (format!("{}/mms", relay.base), tid(relay), Some((*status).to_owned()), Some(204)))
            .collect();
    want.sort();
    let got: Vec<(String, String, Option<String>, Option<u64>)> =
        posts.iter().map(|p| (p.url.clone(), p.transaction_id.clone(), p.status.clone(), p.http)).collect();
    assert_eq!(got, want, "an m-notifyresp.ind to each relay, for its own notification");
    assert!(posts.iter().all(|p| p.kind == "m-notifyresp-ind"), "{posts:?}");
    let held_file = run.only("held")["path"].as_str().unwrap().to_owned();
    assert_eq!(Path::new(&held_file).parent(), Some(held.as_path()));
    assert_eq!(
        Message::decode(&std::fs::read(&held_file).unwrap()).unwrap().pdu.transaction_id(),
        Some(&*tid(&unknown))
    );

    assert_eq!(state(&trusted, &ids[0]), "retrieved");
    assert_eq!(state(&blacklisted, &ids[1]), "rejected", "refused before any GET could mark it retrieved");
    assert_eq!(state(&unknown, &ids[2]), "deferred");
    assert_eq!(delivery_report(&trusted).status, Some(Status::RETRIEVED));
    assert_eq!(delivery_report(&blacklisted).status, Some(Status::REJECTED));
    assert_eq!(delivery_report(&unknown).status, Some(Status::DEFERRED));

    let later = ue(&[
        "receive",
        "--state",
        &held_arg,
        "--unknown",
        "accept",
        "--msisdn",
        RECIPIENT,
        "--mm1-path",
        "/mms",
        "--save",
        &save_arg,
    ]);
    later.succeeded();
    assert_eq!(later.steps("listening").count(), 0, "no input but the held notifications");
    let decision = later.only("decision");
    assert_eq!(decision["origin"], unknown.base.as_str());
    assert_eq!((&decision["held"], &decision["action"]), (&true.into(), &"retrieve".into()));
    assert_eq!(later.gets(), [run.decision(&unknown.base)["url"].as_str().unwrap()]);
    assert_eq!(saved(&later, &save, &ids[2], "text.txt"), unknown.base.as_bytes());
    let posts = later.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].url, format!("{}/mms", unknown.base));
    assert_eq!(posts[0].kind, "m-acknowledge-ind", "a deferred retrieval is acknowledged");
    assert_eq!((posts[0].transaction_id.as_str(), posts[0].http), (tid(&unknown).as_str(), Some(204)));
    assert!(!Path::new(&held_file).exists(), "a decided notification is no longer held");
    assert_eq!(state(&unknown, &ids[2]), "acknowledged");
    assert_eq!(delivery_report(&unknown).status, Some(Status::RETRIEVED));
    assert_eq!(state(&trusted, &ids[0]), "retrieved", "the other relays hear nothing more");
    assert_eq!(state(&blacklisted, &ids[1]), "rejected");
}

#[test]
fn garbage_is_reported_and_an_answer_to_a_transaction_never_notified_is_not_found() {
    let relay = Relay::start("ue-bad-input", &[]);
    let dir = common::scratch("ue-bad-input-files");

    let garbage = dir.join("garbage.bin");
    std::fs::write(&garbage, b"\x00\x06\xff\xff\xff\xff\xff\xffnot a push at all").unwrap();
    let run = ue(&["receive", "--push", &garbage.display().to_string(), "--unknown", "reject"]);
    run.succeeded();
    let notes = run.texts("note", "text");
    assert_eq!(notes.len(), 1, "{}", run.show());
    assert!(notes[0].contains("not a WSP push"), "{notes:?}");
    assert!(run.gets().is_empty() && run.posts().is_empty(), "{}", run.show());

    let empty = dir.join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let run = ue(&["receive", "--push", &empty.display().to_string(), "--unknown", "reject"]);
    assert_eq!(run.status.code(), Some(1), "{}", run.show());
    assert!(run.stderr.contains("nothing to read"), "{}", run.show());

    let tid = "never-notified-here";
    let url = format!("{}/m/0123456789abcdef0123456789abcdef01234567", relay.base);
    let notification = NotificationInd {
        transaction_id: Some(tid.to_owned()),
        mms_version: Some(Version::V1_2),
        message_size: Some(1000),
        content_location: Some(url.clone()),
        ..NotificationInd::default()
    };
    let push = Push::mms(7, Message::new(notification).encode()).encode();
    let pushes = dir.join("pushes.hex");
    std::fs::write(&pushes, format!("# a broken push, then a forged notification\ndeadbeef\n{}\n", hex::encode(push)))
        .unwrap();
    let mm1 = format!("{}/mms", relay.base);
    let run = ue(&["receive", "--push", &pushes.display().to_string(), "--relay", &mm1, "--msisdn", RECIPIENT]);
    run.succeeded();
    assert!(run.texts("note", "text")[0].contains("push 1: not a WSP push"), "{}", run.show());
    assert_eq!(run.gets(), [url.as_str()]);
    let conf = &run.steps("answer").find(|a| a["url"] == url.as_str()).unwrap()["mms"];
    assert_eq!(conf["retrieve_status"], "error-permanent-message-not-found", "{}", run.show());
    let posts = run.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!((posts[0].kind.as_str(), posts[0].transaction_id.as_str()), ("m-notifyresp-ind", tid));
    assert_eq!(posts[0].status.as_deref(), Some("unrecognised"), "no message behind it");
    assert_eq!(posts[0].http, Some(404), "the relay knows no such transaction");
    assert_eq!(relay.query("SELECT count(*) FROM recipients"), [["0"]], "nothing was stored");
}
