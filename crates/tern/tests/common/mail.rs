//! The mail peers of the MM4 and MM3 tests, both Python: aiosmtpd as the far end of mail, a
//! mailbox (a Maildir in a scratch directory) that also reads every mail with Python's `email`
//! package and reports what it read, one JSON object a message, or a server that answers every
//! message with a fixed reply (451, 554) to stand in for a peer that defers or refuses; and
//! smtplib as a sender.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{free_port, root, scratch};

/// The handler: each message parsed with the `email` package's default policy (headers
/// unfolded and decoded, every leaf part with its payload decoded), printed, kept in the
/// Maildir when the reply accepts it, and answered with `PEER_REPLY`.
const HANDLER: &str = r#"
import email, email.policy, json, mailbox, os

REPLY = os.environ.get("PEER_REPLY", "250 2.0.0 OK")
BOX = mailbox.Maildir(os.environ["PEER_MAILDIR"], create=True)

def leaf(p):
    payload = p.get_payload(decode=True) or b""
    return {
        "type": p.get_content_type(),
        "filename": p.get_filename(),
        "hex": payload.hex(),
        "defects": [type(d).__name__ for d in p.defects],
    }

class Tap:
    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        print(json.dumps({
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "headers": [[k, str(v)] for k, v in msg.items()],
            "parts": [leaf(p) for p in msg.walk() if not p.is_multipart()],
            "reply": REPLY,
        }), flush=True)
        if REPLY.startswith("2"):
            BOX.add(raw)
        return REPLY
"#;

/// One mail as the peer read it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub headers: Vec<(String, String)>,
    /// Each leaf part: content type, file name, decoded payload.
    pub parts: Vec<(String, Option<String>, Vec<u8>)>,
    /// What the `email` package found wrong in any part (its defect class names).
    pub defects: Vec<String>,
}

impl Mail {
    fn from_json(v: &Value) -> Mail {
        let text = |v: &Value| v.as_str().unwrap().to_owned();
        Mail {
            from: text(&v["from"]),
            to: v["to"].as_array().unwrap().iter().map(text).collect(),
            headers: v["headers"].as_array().unwrap().iter().map(|h| (text(&h[0]), text(&h[1]))).collect(),
            parts: v["parts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (text(&p["type"]), p["filename"].as_str().map(str::to_owned), hex::decode(text(&p["hex"])).unwrap())
                })
                .collect(),
            defects: v["parts"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|p| p["defects"].as_array().unwrap().iter().map(text))
                .collect(),
        }
    }

    /// The value of the header `name` (any case), if it is there once or more: the first.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The payload of the first part of `content_type`.
    pub fn part(&self, content_type: &str) -> Option<&[u8]> {
        self.parts.iter().find(|(t, _, _)| t == content_type).map(|(_, _, data)| data.as_slice())
    }

    /// X-Mms-Message-Type.
    pub fn mm4_type(&self) -> Option<&str> {
        self.header("X-Mms-Message-Type")
    }
}

pub struct Aiosmtpd {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    mails: Receiver<Mail>,
}

/// The venv's Python (where the peers are installed) if there is one, else the system's.
pub fn python() -> PathBuf {
    let venv = root().join(".venv/bin/python3");
    if venv.is_file() { venv } else { PathBuf::from("python3") }
}

/// Whether aiosmtpd can be imported; prints the `PEER MISSING` line when not.
pub fn present() -> bool {
    let found = Command::new(python()).args(["-c", "import aiosmtpd"]).output();
    let present = found.is_ok_and(|o| o.status.success());
    if !present {
        println!("PEER MISSING: aiosmtpd (python3 -m venv .venv && .venv/bin/pip install aiosmtpd==1.4.6)");
    }
    present
}

impl Aiosmtpd {
    /// A mailbox that takes every message; `None` when aiosmtpd is missing.
    pub fn mailbox(name: &str) -> Option<Aiosmtpd> {
        Aiosmtpd::answering(name, "250 2.0.0 OK")
    }

    /// A server that answers every message's DATA with `reply`; `None` when aiosmtpd is
    /// missing.
    pub fn answering(name: &str, reply: &str) -> Option<Aiosmtpd> {
        if !present() {
            return None;
        }
        let dir = scratch(name);
        std::fs::write(dir.join("tern_peer.py"), HANDLER).unwrap();
        let port = free_port();
        let mut child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "tern_peer.Tap"])
            .env("PYTHONPATH", &dir)
            .env("PEER_MAILDIR", dir.join("Maildir"))
            .env("PEER_REPLY", reply)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, mails) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(Mail::from_json(&serde_json::from_str(&line).unwrap()));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Aiosmtpd { child: Some(child), port, dir, mails })
    }

    /// The next mail it got, waiting up to `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Mail> {
        self.mails.recv_timeout(timeout).ok()
    }

    /// Every mail it got until none came for `quiet`.
    pub fn drain(&self, quiet: Duration) -> Vec<Mail> {
        std::iter::from_fn(|| self.next(quiet)).collect()
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// smtplib sends `argv[4]` (a file) from `argv[2]` to the comma-separated `argv[3]` and prints
/// the refused recipients, or the error that stopped it, as JSON.
const SMTPLIB: &str = r#"
import json, smtplib, sys
port, sender, rcpts, path = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(","), sys.argv[4]
try:
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
        refused = s.sendmail(sender, rcpts, open(path, "rb").read())
    print(json.dumps({"refused": {k: v[0] for k, v in refused.items()}}))
except smtplib.SMTPException as e:
    print(json.dumps({"error": repr(e)}))
"#;

/// Sends `message` to 127.0.0.1:`port` with Python's smtplib; what it printed (`refused`, or
/// `error`).
pub fn smtplib(dir: &std::path::Path, port: u16, from: &str, to: &[&str], message: &[u8]) -> Value {
    let file = dir.join("smtplib.eml");
    std::fs::write(&file, message).unwrap();
    let out = Command::new(python())
        .args(["-c", SMTPLIB, &port.to_string(), from, &to.join(",")])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("PEER MISSING: python3 ({e}); install it with `apt-get install -y python3`"));
    assert!(out.status.success(), "smtplib failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
