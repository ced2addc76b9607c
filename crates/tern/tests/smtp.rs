//! The SMTP transport of `tern::smtp` in-process, against independent peers: Python's smtplib as
//! the client of our server (the exact bytes a handler gets, STARTTLS with a certificate from a
//! CA made for the test, AUTH, and each refusal a client sees), raw sockets for what no polite
//! client does (pipelining, a message cut mid-DATA, limits), and our client against aiosmtpd,
//! against our own server, and through dnsmasq's MX records.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tern::smtp::{
    Client, ClientConfig, ClientTls, Credentials, Handler, Reply, SendError, SendTarget, ServerConfig, Session,
    TlsFiles,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A message as the handler got it.
#[derive(Debug, Clone)]
struct Received {
    from: String,
    to: Vec<String>,
    message: Vec<u8>,
    tls: bool,
    identity: Option<String>,
}

/// Records every message; refuses `nobody@` (550) and `busy@` (450) recipients, answers 451 to
/// the DATA of a message for `later@`, accepts `mmsc`/`secret`, and refuses every peer when
/// `refuse_all` is set.
#[derive(Default)]
struct Recorder {
    received: Mutex<Vec<Received>>,
    refuse_all: bool,
}

impl Recorder {
    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Handler for Recorder {
    fn connect(&self, _peer: SocketAddr) -> Result<(), Reply> {
        if self.refuse_all { Err(Reply::not_admitted()) } else { Ok(()) }
    }

    async fn authenticate(&self, _session: &Session, user: &str, password: &str) -> Result<String, Reply> {
        if (user, password) == ("mmsc", "secret") { Ok(user.to_owned()) } else { Err(Reply::bad_credentials()) }
    }

    async fn recipient(&self, _session: &Session, _from: &str, to: &str) -> Result<(), Reply> {
        if to.starts_with("nobody@") {
            Err(Reply::no_such_user())
        } else if to.starts_with("busy@") {
            Err(Reply::new(450, [4, 2, 1], "Mailbox busy"))
        } else {
            Ok(())
        }
    }

    async fn data(&self, session: &Session, from: &str, to: &[String], message: Vec<u8>) -> Reply {
        if to.iter().any(|t| t.starts_with("later@")) {
            return Reply::local_error();
        }
        self.received.lock().unwrap().push(Received {
            from: from.to_owned(),
            to: to.to_vec(),
            message,
            tls: session.tls,
            identity: session.identity.clone(),
        });
        Reply::ok("Queued")
    }
}

/// Our server on 127.0.0.1, stopped when dropped.
struct Server {
    addr: SocketAddr,
    handler: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    async fn start(cfg: ServerConfig, handler: Recorder) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handler = Arc::new(handler);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tern::smtp::serve(listener, cfg, handler.clone(), async move {
            let _ = stopped.await;
        }));
        let task = tokio::spawn(async move { task.await.unwrap().unwrap() });
        Server { addr, handler, stop: Some(stop), task: Some(task) }
    }

    /// Stops the server and waits for it.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap();
        }
    }
}

fn config() -> ServerConfig {
    ServerConfig { hostname: "mm4.tern.test".into(), max_message_size: 4096, ..ServerConfig::default() }
}

/// The server's TLS files and the CA that signed them, in the test's own directory.
fn tls_config(name: &str) -> (ServerConfig, PathBuf) {
    let dir = common::scratch(name);
    let cert = common::tls::server_cert(&dir);
    let cfg = ServerConfig { tls: Some(TlsFiles { cert: cert.cert_file, key: cert.key_file }), ..config() };
    (cfg, cert.ca_file)
}

/// The venv's Python (where the peers are installed) if there is one, else the system's.
fn python() -> PathBuf {
    let venv = common::root().join(".venv/bin/python3");
    if venv.is_file() { venv } else { PathBuf::from("python3") }
}

/// Runs a Python script with `args`; its stdout, one JSON object a line.
async fn run_python(script: &str, args: &[&str]) -> Vec<Value> {
    let out = tokio::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("PEER MISSING: python3 ({e}); install it with `apt-get install -y python3`"));
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// smtplib sends the message in `argv[3]` (a file) from `argv[4]` to the comma-separated
/// `argv[5]`, with STARTTLS (CA file `argv[6]`) and login `argv[7]`/`argv[8]` when given, and
/// reports the EHLO features and the outcome.
const SMTPLIB: &str = r#"
import json, smtplib, ssl, sys
host, port, path, sender, rcpts = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5].split(",")
ca = sys.argv[6] if len(sys.argv) > 6 else ""
user, password = (sys.argv[7], sys.argv[8]) if len(sys.argv) > 8 else (None, None)
msg = open(path, "rb").read()
try:
    s = smtplib.SMTP(host, port, timeout=10)
except smtplib.SMTPConnectError as e:
    print(json.dumps({"stage": "connect", "code": e.smtp_code, "text": e.smtp_error.decode()}))
    sys.exit(0)
s.ehlo("client.test")
print(json.dumps({"stage": "ehlo", "features": s.esmtp_features}))
if ca:
    code, _ = s.starttls(context=ssl.create_default_context(cafile=ca))
    s.ehlo("client.test")
    print(json.dumps({"stage": "tls", "code": code, "features": s.esmtp_features}))
if user:
    try:
        code, _ = s.login(user, password)
        print(json.dumps({"stage": "auth", "code": code}))
    except smtplib.SMTPAuthenticationError as e:
        print(json.dumps({"stage": "auth", "code": e.smtp_code}))
        sys.exit(0)
try:
    refused = s.sendmail(sender, rcpts, msg, mail_options=["BODY=8BITMIME"])
    print(json.dumps({"stage": "sent", "refused": {k: v[0] for k, v in refused.items()}}))
except smtplib.SMTPRecipientsRefused as e:
    print(json.dumps({"stage": "rcpt", "refused": {k: v[0] for k, v in e.recipients.items()}}))
except smtplib.SMTPSenderRefused as e:
    print(json.dumps({"stage": "mail", "code": e.smtp_code, "text": e.smtp_error.decode()}))
except smtplib.SMTPDataError as e:
    print(json.dumps({"stage": "data", "code": e.smtp_code}))
s.quit()
"#;

/// A message with what SMTP must carry through untouched: lines that start with dots and
/// 8-bit text.
const MESSAGE: &[u8] = b"From: <alice@op-a.test>\r\nTo: <bob@op-b.test>\r\nSubject: dots\r\n\r\n.one dot\r\n..two dots\r\n.\r\ncaf\xc3\xa9 \xe2\x82\xac\r\n";

async fn smtplib(server: &Server, dir: &Path, message: &[u8], to: &str, extra: &[&str]) -> Vec<Value> {
    let file = dir.join("message.eml");
    std::fs::write(&file, message).unwrap();
    let port = server.addr.port().to_string();
    let mut args = vec!["127.0.0.1", port.as_str(), file.to_str().unwrap(), "alice@op-a.test", to];
    args.extend_from_slice(extra);
    run_python(SMTPLIB, &args).await
}

fn stage<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines.iter().find(|l| l["stage"] == name).unwrap_or_else(|| panic!("no {name} in {lines:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtplib_message_arrives_byte_for_byte() {
    let dir = common::scratch("smtp-smtplib");
    let mut server = Server::start(config(), Recorder::default()).await;
    let lines = smtplib(&server, &dir, MESSAGE, "bob@op-b.test,nobody@op-b.test", &[]).await;
    let features = &stage(&lines, "ehlo")["features"];
    assert_eq!(features["size"], "4096");
    assert!(features.get("pipelining").is_some() && features.get("8bitmime").is_some(), "{features}");
    // No certificate, so no STARTTLS; no TLS, so no AUTH.
    assert!(features.get("starttls").is_none() && features.get("auth").is_none(), "{features}");
    assert_eq!(stage(&lines, "sent")["refused"]["nobody@op-b.test"], 550);
    let received = server.handler.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].from, "alice@op-a.test");
    assert_eq!(received[0].to, ["bob@op-b.test"]);
    assert_eq!(received[0].message, MESSAGE, "got {:?}", String::from_utf8_lossy(&received[0].message));
    assert!(!received[0].tls);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtplib_refusals() {
    let dir = common::scratch("smtp-smtplib-refusals");
    let mut server = Server::start(config(), Recorder::default()).await;
    let lines = smtplib(&server, &dir, MESSAGE, "nobody@op-b.test", &[]).await;
    assert_eq!(stage(&lines, "rcpt")["refused"]["nobody@op-b.test"], 550);
    // smtplib sends SIZE= since the server advertises it: refused at MAIL.
    let big = [MESSAGE, &[b'x'; 5000][..], b"\r\n"].concat();
    let lines = smtplib(&server, &dir, &big, "bob@op-b.test", &[]).await;
    let mail = stage(&lines, "mail");
    assert_eq!(mail["code"], 552, "{mail}");
    assert!(mail["text"].as_str().unwrap().starts_with("5.3.4"), "{mail}");
    assert!(server.handler.received().is_empty());
    server.stop().await;

    let mut refusing = Server::start(config(), Recorder { refuse_all: true, ..Recorder::default() }).await;
    let lines = smtplib(&refusing, &dir, MESSAGE, "bob@op-b.test", &[]).await;
    let connect = stage(&lines, "connect");
    assert_eq!(connect["code"], 554);
    assert_eq!(connect["text"], "5.7.1 Not admitted");
    refusing.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtplib_starttls_then_auth() {
    let (cfg, ca) = tls_config("smtp-starttls");
    let dir = ca.parent().unwrap().to_owned();
    let mut server = Server::start(cfg, Recorder::default()).await;
    let ca = ca.to_str().unwrap();
    let lines = smtplib(&server, &dir, MESSAGE, "bob@op-b.test", &[ca, "mmsc", "secret"]).await;
    let plain = &stage(&lines, "ehlo")["features"];
    assert!(plain.get("starttls").is_some() && plain.get("auth").is_none(), "{plain}");
    let tls = stage(&lines, "tls");
    assert_eq!(tls["code"], 220);
    assert_eq!(tls["features"]["auth"], " PLAIN LOGIN");
    assert!(tls["features"].get("starttls").is_none());
    assert_eq!(stage(&lines, "auth")["code"], 235);
    let received = server.handler.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].message, MESSAGE);
    assert!(received[0].tls);
    assert_eq!(received[0].identity.as_deref(), Some("mmsc"));

    let lines = smtplib(&server, &dir, MESSAGE, "bob@op-b.test", &[ca, "mmsc", "wrong"]).await;
    assert_eq!(stage(&lines, "auth")["code"], 535);
    assert_eq!(server.handler.received().len(), 1);
    server.stop().await;
}

/// A raw connection: lines written as given, replies read one by one.
struct Raw {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn open(addr: SocketAddr) -> Raw {
        let (read, writer) = TcpStream::connect(addr).await.unwrap().into_split();
        Raw { reader: BufReader::new(read), writer }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// The next reply, all its lines; empty at the end of the stream.
    async fn reply(&mut self) -> String {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            let n =
                tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line)).await.unwrap().unwrap();
            reply.push_str(&line);
            if n == 0 || line.as_bytes().get(3) == Some(&b' ') {
                return reply;
            }
        }
    }

    async fn code(&mut self) -> String {
        self.reply().await.get(..3).unwrap_or("").to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commands_and_oversize_data() {
    let mut server = Server::start(config(), Recorder::default()).await;
    let mut raw = Raw::open(server.addr).await;
    assert!(raw.reply().await.starts_with("220 mm4.tern.test"));
    raw.send(b"EHLO raw.test\r\nMAIL FROM:<alice@op-a.test>\r\nRCPT TO:<bob@op-b.test>\r\nDATA\r\n").await;
    let ehlo = raw.reply().await;
    assert!(ehlo.contains("250-SIZE 4096\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"), "{ehlo}");
    assert!(ehlo.ends_with("250 8BITMIME\r\n") && !ehlo.contains("AUTH"), "{ehlo}");
    assert_eq!(raw.code().await, "250");
    assert_eq!(raw.code().await, "250");
    assert_eq!(raw.code().await, "354");
    let mut data = vec![b'x'; 10_000];
    data.extend_from_slice(b"\r\n.\r\nNOOP\r\n");
    raw.send(&data).await;
    assert!(raw.reply().await.starts_with("552 5.3.4"));
    // Still in step after the message was thrown away.
    assert!(raw.reply().await.starts_with("250 2.0.0"));
    raw.send(b"RCPT TO:<bob@op-b.test>\r\nAUTH PLAIN AG1tc2MAc2VjcmV0\r\nVRFY bob\r\nFROB\r\nQUIT\r\n").await;
    assert!(raw.reply().await.starts_with("503 5.5.1"));
    // No TLS: AUTH is neither offered nor taken.
    assert!(raw.reply().await.starts_with("538 5.7.11"));
    assert_eq!(raw.code().await, "252");
    assert!(raw.reply().await.starts_with("500 5.5.2"));
    assert_eq!(raw.code().await, "221");
    assert_eq!(raw.reply().await, "");
    assert!(server.handler.received().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_cut_mid_data_is_not_handed_over() {
    let mut server = Server::start(config(), Recorder::default()).await;
    let mut raw = Raw::open(server.addr).await;
    raw.reply().await;
    raw.send(b"HELO raw.test\r\nMAIL FROM:<>\r\nRCPT TO:<bob@op-b.test>\r\nDATA\r\n").await;
    for code in ["250", "250", "250", "354"] {
        assert_eq!(raw.code().await, code);
    }
    raw.send(b"Subject: half\r\n\r\nthe first half\r\n").await;
    drop(raw);
    // A whole message on a second connection: once it is in, the first session is long over.
    let mut raw = Raw::open(server.addr).await;
    raw.reply().await;
    raw.send(b"HELO raw.test\r\nMAIL FROM:<>\r\nRCPT TO:<bob@op-b.test>\r\nDATA\r\n").await;
    for code in ["250", "250", "250", "354"] {
        assert_eq!(raw.code().await, code);
    }
    raw.send(b"Subject: whole\r\n\r\n.\r\n").await;
    assert_eq!(raw.code().await, "250");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let received = server.handler.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].message, b"Subject: whole\r\n\r\n");
    assert_eq!(received[0].from, "");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_close_sessions() {
    let cfg = ServerConfig { max_connections: 1, max_errors: 2, max_recipients: 2, ..config() };
    let mut server = Server::start(cfg, Recorder::default()).await;
    let mut first = Raw::open(server.addr).await;
    assert_eq!(first.code().await, "220");
    let mut second = Raw::open(server.addr).await;
    assert!(second.reply().await.starts_with("421 4.3.2"));
    assert_eq!(second.reply().await, "");
    first.send(b"HELO raw.test\r\nMAIL FROM:<a@op-a.test>\r\n").await;
    first.send(b"RCPT TO:<b1@op-b.test>\r\nRCPT TO:<b2@op-b.test>\r\nRCPT TO:<b3@op-b.test>\r\n").await;
    for code in ["250", "250", "250", "250", "452"] {
        assert_eq!(first.code().await, code);
    }
    // A too-long line, then bad commands, until the session is closed.
    first.send(&[&[b'A'; 3000][..], b"\r\nMAIL FROM:<x@y>\r\nXYZZY\r\n"].concat()).await;
    assert!(first.reply().await.starts_with("500 5.5.2 Line too long"));
    assert!(first.reply().await.starts_with("503"));
    assert!(first.reply().await.starts_with("500"));
    assert!(first.reply().await.starts_with("421 4.7.0"));
    assert_eq!(first.reply().await, "");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_login_in_the_clear_when_allowed() {
    let cfg = ServerConfig { allow_auth_without_tls: true, ..config() };
    let mut server = Server::start(cfg, Recorder::default()).await;
    let mut raw = Raw::open(server.addr).await;
    raw.reply().await;
    raw.send(b"EHLO raw.test\r\n").await;
    assert!(raw.reply().await.contains("250-AUTH PLAIN LOGIN\r\n"));
    raw.send(b"AUTH LOGIN\r\n").await;
    assert_eq!(raw.reply().await, "334 VXNlcm5hbWU6\r\n");
    raw.send(b"bW1zYw==\r\n").await;
    assert_eq!(raw.reply().await, "334 UGFzc3dvcmQ6\r\n");
    raw.send(b"c2VjcmV0\r\n").await;
    assert!(raw.reply().await.starts_with("235 2.7.0"));
    raw.send(b"AUTH LOGIN\r\n").await;
    assert!(raw.reply().await.starts_with("503 5.5.1"));
    let mut other = Raw::open(server.addr).await;
    other.reply().await;
    other.send(b"EHLO raw.test\r\nAUTH PLAIN\r\n").await;
    other.reply().await;
    assert_eq!(other.reply().await, "334 \r\n");
    other.send(b"AG1tc2MAd3Jvbmc=\r\nAUTH PLAIN\r\n*\r\n").await;
    assert!(other.reply().await.starts_with("535 5.7.8"));
    assert_eq!(other.reply().await, "334 \r\n");
    assert!(other.reply().await.starts_with("501 5.0.0"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_idle_sessions() {
    let mut server = Server::start(config(), Recorder::default()).await;
    let mut raw = Raw::open(server.addr).await;
    assert_eq!(raw.code().await, "220");
    server.stop().await;
    assert!(raw.reply().await.starts_with("421 4.3.2"));
    assert!(TcpStream::connect(server.addr).await.is_err());
}

/// aiosmtpd's handler for the client tests: records each message as a JSON line on stdout;
/// `busy@` is refused 450 and `nobody@` 550.
const AIOSMTPD_HANDLER: &str = r#"
import json
class Recorder:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("busy@"):
            return "450 4.2.1 Mailbox busy"
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"
    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos, "data": envelope.original_content.hex()}), flush=True)
        return "250 2.0.0 Queued as T1"
"#;

fn client(cfg: ClientConfig) -> Client {
    Client::new(ClientConfig { hello_name: "mm4.tern-a.test".into(), timeout_secs: 10, ..cfg }).unwrap()
}

fn relay(addr: SocketAddr) -> SendTarget {
    SendTarget::Relay { host: addr.ip().to_string(), port: addr.port() }
}

async fn wait_listening(port: u16) {
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_aiosmtpd() {
    let python = python();
    let found = std::process::Command::new(&python).args(["-c", "import aiosmtpd"]).output();
    if !found.is_ok_and(|o| o.status.success()) {
        println!("PEER MISSING: aiosmtpd (pip install aiosmtpd==1.4.6)");
        return;
    }
    let dir = common::scratch("smtp-aiosmtpd");
    std::fs::write(dir.join("peer_handler.py"), AIOSMTPD_HANDLER).unwrap();
    let port = common::free_port();
    let mut peer = tokio::process::Command::new(&python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "peer_handler.Recorder"])
        .env("PYTHONPATH", &dir)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(peer.stdout.take().unwrap()).lines();
    wait_listening(port).await;
    let target = SendTarget::Relay { host: "127.0.0.1".into(), port };
    let client = client(ClientConfig::default());

    let accepted = client.send(&target, "alice@op-a.test", &["bob@op-b.test".into()], MESSAGE).await.unwrap();
    assert_eq!((accepted.code, accepted.text.as_str()), (250, "2.0.0 Queued as T1"));
    let line: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(line["from"], "alice@op-a.test");
    assert_eq!(line["to"], serde_json::json!(["bob@op-b.test"]));
    let data = hex::decode(line["data"].as_str().unwrap()).unwrap();
    assert_eq!(data, MESSAGE, "aiosmtpd got {:?}", String::from_utf8_lossy(&data));

    let busy = client.send(&target, "alice@op-a.test", &["busy@op-b.test".into()], MESSAGE).await.unwrap_err();
    assert_eq!(busy, SendError::Transient { code: Some(450), text: "4.2.1 Mailbox busy".into() });
    let gone = client.send(&target, "alice@op-a.test", &["nobody@op-b.test".into()], MESSAGE).await.unwrap_err();
    assert_eq!(gone, SendError::Permanent { code: Some(550), text: "5.1.1 No such user here".into() });
    peer.kill().await.unwrap();

    let refused = client.send(&target, "alice@op-a.test", &["bob@op-b.test".into()], MESSAGE).await.unwrap_err();
    assert!(matches!(refused, SendError::Transient { code: None, .. }), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_our_server() {
    let (cfg, ca) = tls_config("smtp-client-own");
    let mut server = Server::start(cfg, Recorder::default()).await;
    let secure = client(ClientConfig {
        tls: ClientTls::Required,
        ca_file: Some(ca.clone()),
        credentials: Some(Credentials { username: "mmsc".into(), password: "secret".into() }),
        ..ClientConfig::default()
    });
    let to = |who: &str| vec![format!("{who}@op-b.test")];
    let accepted = secure.send(&relay(server.addr), "alice@op-a.test", &to("bob"), MESSAGE).await.unwrap();
    assert_eq!((accepted.code, accepted.text.as_str()), (250, "2.0.0 Queued"));
    let received = server.handler.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].message, MESSAGE);
    assert!(received[0].tls);
    assert_eq!(received[0].identity.as_deref(), Some("mmsc"));

    let later = secure.send(&relay(server.addr), "alice@op-a.test", &to("later"), MESSAGE).await.unwrap_err();
    assert_eq!(later, SendError::Transient { code: Some(451), text: "4.3.0 Local error, try again later".into() });
    let gone = secure.send(&relay(server.addr), "alice@op-a.test", &to("nobody"), MESSAGE).await.unwrap_err();
    assert_eq!(gone, SendError::Permanent { code: Some(550), text: "5.1.1 No such recipient".into() });

    let wrong = client(ClientConfig {
        ca_file: Some(ca.clone()),
        credentials: Some(Credentials { username: "mmsc".into(), password: "wrong".into() }),
        ..ClientConfig::default()
    });
    let denied = wrong.send(&relay(server.addr), "alice@op-a.test", &to("bob"), MESSAGE).await.unwrap_err();
    assert_eq!(denied.code(), Some(535));
    assert!(!denied.is_transient());
    server.stop().await;

    // Required TLS from a server without it: no message, and no point retrying.
    let mut plain = Server::start(config(), Recorder::default()).await;
    let no_tls = client(ClientConfig { tls: ClientTls::Required, ..ClientConfig::default() });
    let err = no_tls.send(&relay(plain.addr), "alice@op-a.test", &to("bob"), MESSAGE).await.unwrap_err();
    assert!(!err.is_transient(), "{err:?}");
    assert!(plain.handler.received().is_empty());
    plain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_follows_mx_records() {
    let dns_port = common::free_port();
    let dnsmasq = tokio::process::Command::new("dnsmasq")
        .args(["-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces"])
        .args(["--listen-address=127.0.0.1", &format!("--port={dns_port}"), "--local=/test/"])
        .args(["--mx-host=op-b.test,mx.op-b.test,10", "--host-record=mx.op-b.test,127.0.0.1"])
        .args(["--host-record=plain.test,127.0.0.1"])
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut dnsmasq) = dnsmasq else {
        println!("PEER MISSING: dnsmasq (apt-get install -y dnsmasq)");
        return;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut server = Server::start(config(), Recorder::default()).await;
    let client = client(ClientConfig {
        resolver: Some(SocketAddr::from(([127, 0, 0, 1], dns_port))),
        ..ClientConfig::default()
    });
    let port = server.addr.port();
    let to = vec!["bob@op-b.test".to_owned()];
    let mx = SendTarget::Mx { domain: "op-b.test".into(), port };
    assert_eq!(client.send(&mx, "alice@op-a.test", &to, MESSAGE).await.unwrap().server, "mx.op-b.test");
    // No MX: the domain's own address (RFC 5321 section 5.1).
    let implicit = SendTarget::Mx { domain: "plain.test".into(), port };
    assert_eq!(client.send(&implicit, "alice@op-a.test", &to, MESSAGE).await.unwrap().server, "plain.test");
    assert_eq!(server.handler.received().len(), 2);
    let nowhere = SendTarget::Mx { domain: "nowhere.test".into(), port };
    let err = client.send(&nowhere, "alice@op-a.test", &to, MESSAGE).await.unwrap_err();
    assert!(matches!(err, SendError::Permanent { code: None, .. }), "{err:?}");
    server.stop().await;
    dnsmasq.kill().await.unwrap();
}

/// Garbage in every shape a hostile client can send (binary, NULs, lines far over the limit,
/// commands cut short, DATA without an end, bare LFs), on many connections at once: each one is
/// answered or closed, nothing reaches the handler, and a well-behaved client is served after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_sessions_do_not_harm_the_server() {
    let cfg = ServerConfig { max_line_length: 512, command_timeout_secs: 2, data_timeout_secs: 2, ..config() };
    let mut server = Server::start(cfg, Recorder::default()).await;
    // A fixed generator, so a failure can be run again.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let shapes: [&[u8]; 6] = [
        b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhalf a message",
        b"HELO\r\nMAIL FROM:\r\nRCPT TO:<>\r\nDATA\r\n.\r\n",
        b"EHLO x\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\n.\n",
        b"AUTH PLAIN =\r\nAUTH LOGIN\r\n!!!!\r\n*\r\nSTARTTLS\r\n\x16\x03\x01\x02\x00",
        b"\0\0\0\0\xff\xfe\r\n",
        b"BDAT 100000 LAST\r\n",
    ];
    let mut sessions = tokio::task::JoinSet::new();
    for i in 0..64 {
        let mut bytes = shapes[i % shapes.len()].to_vec();
        let noise = (next() % 4096) as usize;
        bytes.extend((0..noise).map(|_| (next() % 256) as u8));
        if i % 8 == 0 {
            bytes.extend(std::iter::repeat_n(b'A', 10_000));
        }
        let addr = server.addr;
        sessions.spawn(async move {
            let Ok(mut stream) = TcpStream::connect(addr).await else { return };
            let _ = stream.write_all(&bytes).await;
            // Read whatever comes back until the server closes or goes quiet.
            let mut sink = Vec::new();
            let _ = tokio::time::timeout(
                Duration::from_secs(8),
                tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut sink),
            )
            .await;
        });
    }
    while sessions.join_next().await.is_some() {}
    assert!(server.handler.received().is_empty(), "garbage reached the handler: {:?}", server.handler.received().len());

    let stream = TcpStream::connect(server.addr).await.unwrap();
    let mut lines = BufReader::new(stream);
    let mut greeting = String::new();
    lines.read_line(&mut greeting).await.unwrap();
    assert!(greeting.starts_with("220"), "{greeting}");
    lines.get_mut().write_all(b"EHLO after.tern.test\r\n").await.unwrap();
    let mut answer = String::new();
    lines.read_line(&mut answer).await.unwrap();
    assert!(answer.starts_with("250"), "a client after the garbage is served: {answer}");
    server.stop().await;
}
