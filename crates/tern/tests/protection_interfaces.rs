//! Protection on every interface a message comes in by, with a real clamd: the EICAR test file
//! as an attachment is refused on MM3 (SMTP 550, read by Python's smtplib), on MM4 (SMTP 554,
//! and an MM4_forward.RES with Error-content-not-accepted to the peer, read by Python's `email`
//! package in an aiosmtpd mailbox) and on MM7 (status 2004, read by the independent VASP peer
//! with lxml), and nothing of it is stored or notified. A content provider whose policy replaces
//! infected parts gets its message through, and the handset fetches the replacement text where
//! the EICAR file was.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::mail::{Aiosmtpd, python, smtplib};
use common::scanners::{Clamd, EICAR};
use common::{Relay, png};
use serde_json::Value;
use tern_codec::mms::*;

const DOMAIN_A: &str = "mms.mnc001.mcc001.gprs";
const DOMAIN_B: &str = "mms.mnc002.mcc001.gprs";
const AMY: &str = "+15550100002";
const BOB: &str = "+15560100001";
const PASSWORD: &str = "vasp-secret";
const REPLACEMENT: &str = "An infected attachment was removed.";

fn vasp_py() -> PathBuf {
    common::root().join("crates/tern/tests/peers/vasp.py")
}

/// Whether the VASP peer can run (Python with lxml); says so when it cannot.
fn vasp_ready() -> bool {
    let ok = Command::new(python()).args(["-c", "import lxml"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        println!("PEER MISSING: lxml (python3 -m venv .venv && .venv/bin/pip install lxml==6.1.3)");
    }
    ok
}

/// Operator A with MM3, MM4 (peer B's mail goes to `peer_mailbox`) and MM7 (two VASPs: `news`,
/// whose infected messages are refused, and `clean`, whose infected parts are replaced).
fn relay(smtp: u16, mm7: u16, peer_mailbox: u16, clamd: &Clamd) -> Relay {
    let hash = tern::core::secret::PasswordHash::of(PASSWORD.as_bytes()).unwrap();
    let config = format!(
        r#"
[push]
bearer = "udp"

[subscribers]
local = ["+1555"]

[mm3]
enabled = true
domain = "{DOMAIN_A}"

[mm4]
enabled = true
domain = "{DOMAIN_A}"

[[mm4.peers]]
name = "b"
domain = "{DOMAIN_B}"
send = {{ via = "relay", host = "127.0.0.1", port = {peer_mailbox} }}
admit = ["127.0.0.0/8"]

[smtp]
listen = "127.0.0.1:{smtp}"
hostname = "mm4.a.tern.test"

[smtp_out]
hello_name = "mm4.a.tern.test"
tls = "none"
timeout_secs = 5

[routing]
rules = [{{ prefix = "+1556", action = "mm4", peer = "b" }}]

[outbound]
initial_backoff_secs = 1
max_backoff_secs = 2

[mm7]
enabled = true
listen = "127.0.0.1:{mm7}"

[[mm7.vasps]]
name = "news"
vasp_id = "news-id"
username = "news"
password_hash = "{hash}"
short_codes = ["4444"]

[[mm7.vasps]]
name = "clean"
vasp_id = "clean-id"
username = "clean"
password_hash = "{hash}"
short_codes = ["5555"]

[protection.clamd]
address = "127.0.0.1:{clamd}"
timeout_ms = 5000

[[protection.profiles]]
name = "refuse"
replacement = "The message carried a virus and was refused."
virus = {{ actions = ["block"], on_error = "closed" }}

[[protection.profiles]]
name = "replace"
replacement = "{REPLACEMENT}"
virus = {{ actions = ["replace"], on_error = "closed" }}

[[protection.policies]]
interfaces = ["mm3", "mm4"]
profile = "refuse"

[[protection.policies]]
interfaces = ["mm7"]
sources = ["vasp:news"]
profile = "refuse"

[[protection.policies]]
interfaces = ["mm7"]
sources = ["vasp:clean"]
profile = "replace"
"#,
        clamd = clamd.port
    );
    Relay::start_with_config("protection-interfaces", &config, &[])
}

/// A mail with a text and the EICAR file attached, as `headers` start it.
fn infected_mail(headers: &str) -> Vec<u8> {
    let eicar = base64::engine::general_purpose::STANDARD.encode(EICAR);
    format!(
        "{headers}\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"part\"\r\n\
         \r\n\
         --part\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         see the attachment\r\n\
         --part\r\n\
         Content-Type: application/octet-stream; name=\"eicar.com\"\r\n\
         Content-Disposition: attachment; filename=\"eicar.com\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {eicar}\r\n\
         --part--\r\n"
    )
    .into_bytes()
}

/// `vasp.py submit` as `user` to `to`, with a text and `extra` parts; its JSON answer.
fn vasp_submit(mm7: u16, user: &str, to: &str, extra: &[(&str, &[u8], &str)]) -> Value {
    let dir = common::scratch(&format!("protection-interfaces-{user}"));
    std::fs::write(dir.join("note.txt"), b"today's news").unwrap();
    let mut parts = vec![format!("{}:text/plain", dir.join("note.txt").display())];
    for (name, data, content_type) in extra {
        std::fs::write(dir.join(name), data).unwrap();
        parts.push(format!("{}:{content_type}", dir.join(name).display()));
    }
    let mut cmd = Command::new(python());
    cmd.arg(vasp_py()).arg("submit").args(["--url", &format!("http://127.0.0.1:{mm7}/mm7")]);
    cmd.args(["--user", user, "--password", PASSWORD, "--vasp-id", &format!("{user}-id")]);
    cmd.args(["--sender", if user == "news" { "4444" } else { "5555" }, "--subject", "News", "--to", to]);
    for p in &parts {
        cmd.args(["--part", p]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "vasp.py submit: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn eicar_is_refused_on_mm3_mm4_and_mm7_and_replaced_where_the_policy_says() {
    let Some(peer) = Aiosmtpd::mailbox("protection-interfaces-peer") else { return };
    if !vasp_ready() {
        return;
    }
    let clamd = Clamd::start("protection-interfaces-clamd");
    let (smtp, mm7) = (common::free_port(), common::free_port());
    let relay = relay(smtp, mm7, peer.port, &clamd);

    // MM3: an e-mail to a subscriber.
    let to = format!("{AMY}@{DOMAIN_A}");
    let mail = infected_mail(&format!(
        "From: Carol <carol@example.org>\r\nTo: {to}\r\nSubject: a virus\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
    ));
    let sent = smtplib(&relay.data, smtp, "carol@example.org", &[&to], &mail);
    let error = sent["error"].as_str().unwrap_or_default();
    assert!(error.contains("550") && error.contains("refused"), "MM3: {sent}");

    // MM4: a forward from operator B, asking for an answer.
    let message_id = "virus-1@mms.mnc002.mcc001.gprs";
    let forward = infected_mail(&format!(
        "From: {BOB}/TYPE=PLMN@{DOMAIN_B}\r\n\
         To: {AMY}/TYPE=PLMN@{DOMAIN_A}\r\n\
         Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\
         Subject: a virus\r\n\
         Message-ID: <{message_id}>\r\n\
         X-Mms-3GPP-MMS-Version: 6.10.0\r\n\
         X-Mms-Message-Type: MM4_forward.REQ\r\n\
         X-Mms-Transaction-ID: t-virus-1\r\n\
         X-Mms-Message-ID: \"{message_id}\"\r\n\
         X-Mms-Ack-Request: Yes\r\n\
         X-Mms-Originator-System: system-user@{DOMAIN_B}\r\n"
    ));
    let rcpt = format!("{AMY}/TYPE=PLMN@{DOMAIN_A}");
    let sent = smtplib(&relay.data, smtp, &format!("system-user@{DOMAIN_B}"), &[&rcpt], &forward);
    assert!(sent["error"].as_str().unwrap_or_default().contains("554"), "MM4: {sent}");
    let res = peer.next(Duration::from_secs(20)).expect("the MM4_forward.RES within 20 s");
    assert_eq!(res.mm4_type(), Some("MM4_forward.RES"), "{:?}", res.headers);
    assert_eq!(res.header("X-Mms-Request-Status-Code"), Some("Error-content-not-accepted"), "{:?}", res.headers);
    assert_eq!(res.header("X-Mms-Transaction-ID"), Some("t-virus-1"));

    // MM7: a content provider's submission.
    let answer = vasp_submit(mm7, "news", AMY, &[("eicar.com", EICAR, "application/octet-stream")]);
    assert_eq!(answer["status_code"], 2004, "MM7: {answer:#}");

    assert_eq!(relay.query("SELECT count(*) FROM messages"), [["0"]], "nothing infected is stored");
    relay.udp.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    assert!(relay.udp.recv(&mut [0u8; 2048]).is_err(), "nothing infected is notified");
    relay.udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for interface in ["mm3", "mm4", "mm7"] {
        let series =
            format!("tern_protection_decisions_total{{interface=\"{interface}\",check=\"virus\",action=\"block\"}} 1");
        assert!(relay.metrics().lines().any(|l| l == series), "{series}");
    }

    // The other provider's infected part is replaced; the rest arrives.
    let answer = vasp_submit(
        mm7,
        "clean",
        AMY,
        &[("eicar.com", EICAR, "application/octet-stream"), ("sun.png", &png(), "image/png")],
    );
    assert_eq!(answer["status_code"], 1000, "{answer:#}");
    let Pdu::NotificationInd(n) = relay.next_push().1.pdu else { panic!("a notification") };
    let fetched = relay.get(n.content_location.as_deref().unwrap(), Some(AMY));
    assert!(!fetched.body.windows(EICAR.len()).any(|w| w == EICAR), "the EICAR file is never served");
    let message = Message::decode(&fetched.body).unwrap();
    let parts: Vec<(String, Vec<u8>)> = message
        .body
        .as_ref()
        .unwrap()
        .parts()
        .iter()
        .map(|p| (p.content_type.media_type.to_string(), p.data.to_vec()))
        .collect();
    assert!(parts.contains(&("text/plain".to_owned(), b"today's news".to_vec())), "{parts:?}");
    assert!(parts.contains(&("text/plain".to_owned(), REPLACEMENT.as_bytes().to_vec())), "{parts:?}");
    assert!(parts.contains(&("image/png".to_owned(), png())), "{parts:?}");
}
