//! A real `tern serve` for the end-to-end tests: its own data directory and port on 127.0.0.1,
//! pushes received on a UDP socket, a plain HTTP/1.1 client, and a look into its store.

#![allow(dead_code, clippy::unwrap_used)]

pub mod mail;
pub mod postfix;
pub mod scanners;
pub mod tls;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tern_codec::mms::Message;
use tern_codec::push::Push;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn shared() -> PathBuf {
    let dir = root().join("../shared");
    assert!(dir.is_dir(), "the shared folder is missing: expected {}", dir.display());
    dir
}

pub struct Relay {
    child: Option<Child>,
    pub base: String,
    /// The admin endpoint's base URL (`/metrics`, `/health`).
    pub admin: String,
    pub data: PathBuf,
    pub udp: UdpSocket,
    env: Vec<(String, String)>,
    config: Option<PathBuf>,
    /// A command that runs `tern serve` (such as `prlimit --nofile=...`), if any.
    wrapper: Vec<String>,
}

pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Relay {
    /// Starts a relay with a fresh data directory, pushing over UDP to [`Relay::udp`]; `env`
    /// adds `TERN_*` overrides.
    pub fn start(name: &str, env: &[(&str, &str)]) -> Relay {
        let mut all = vec![("TERN_PUSH__BEARER", "udp")];
        all.extend_from_slice(env);
        Relay::launch(scratch(name), None, &all)
    }

    /// Like [`Relay::start`], on the data directory `data` as it is (a copy of an older
    /// release's, a small filesystem): it is not emptied first.
    pub fn start_in(data: &Path, env: &[(&str, &str)]) -> Relay {
        let mut all = vec![("TERN_PUSH__BEARER", "udp")];
        all.extend_from_slice(env);
        Relay::launch(data.to_owned(), None, &all)
    }

    /// Like [`Relay::start`], with a configuration file too, for what reads better as a file
    /// (such as `[[push.smpp.links]]`). The file is written into the data directory as
    /// `tern.toml`; `env` still wins over it.
    pub fn start_with_config(name: &str, config: &str, env: &[(&str, &str)]) -> Relay {
        Relay::launch(scratch(name), Some(config), env)
    }

    /// Like [`Relay::start`], run by `wrapper` (a program that runs its arguments in the same
    /// process, such as `prlimit --nofile=1024:1024`).
    pub fn start_under(name: &str, wrapper: &[&str], env: &[(&str, &str)]) -> Relay {
        let mut all = vec![("TERN_PUSH__BEARER", "udp")];
        all.extend_from_slice(env);
        let mut relay = Relay::prepare(scratch(name), None, &all);
        relay.wrapper = wrapper.iter().map(|w| (*w).to_owned()).collect();
        relay.spawn();
        relay
    }

    fn launch(data: PathBuf, config: Option<&str>, env: &[(&str, &str)]) -> Relay {
        let mut relay = Relay::prepare(data, config, env);
        relay.spawn();
        relay
    }

    fn prepare(data: PathBuf, config: Option<&str>, env: &[(&str, &str)]) -> Relay {
        let config = config.map(|text| {
            let file = data.join("tern.toml");
            std::fs::write(&file, text).unwrap();
            file
        });
        let port = free_port();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let admin_port = free_port();
        let admin = format!("http://127.0.0.1:{admin_port}");
        let mut all: Vec<(String, String)> = vec![
            ("TERN_MM1__LISTEN".into(), format!("127.0.0.1:{port}")),
            ("TERN_ADMIN__LISTEN".into(), format!("127.0.0.1:{admin_port}")),
            ("TERN_MM1__PUBLIC_BASE_URL".into(), base.clone()),
            ("TERN_STORE__DATA_DIR".into(), data.display().to_string()),
            ("TERN_PUSH__UDP_TARGET".into(), udp.local_addr().unwrap().to_string()),
            ("TERN_LOG".into(), "warn".into()),
        ];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Relay { child: None, base, admin, data, udp, env: all, config, wrapper: Vec::new() }
    }

    fn spawn(&mut self) {
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(env!("CARGO_BIN_EXE_tern"));
                cmd
            }
            None => Command::new(env!("CARGO_BIN_EXE_tern")),
        };
        cmd.arg("serve");
        if let Some(file) = &self.config {
            cmd.arg("--config").arg(file);
        }
        cmd.envs(self.env.iter().cloned()).stdout(Stdio::null()).stderr(Stdio::inherit());
        self.child = Some(cmd.spawn().unwrap());
        let addr = self.base.trim_start_matches("http://").to_owned();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "tern serve did not start listening on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The relay's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the relay is running").id()
    }

    /// Stops the relay the way an operator does (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let status = child.wait().unwrap();
            assert!(status.success(), "tern serve exited with {status} after SIGTERM");
        }
    }

    /// Kills the relay with SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the relay again on the same data directory and port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn restart_after_kill(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        http(self.base.trim_start_matches("http://"), method, path, headers, body)
    }

    /// A request to the admin endpoint.
    pub fn admin_request(&self, method: &str, path: &str, body: &[u8]) -> Answer {
        http(self.admin.trim_start_matches("http://"), method, path, &[], body)
    }

    /// POSTs a PDU as a handset behind the operator's proxy would (`msisdn` in X-MSISDN).
    pub fn post(&self, pdu: &[u8], msisdn: Option<&str>) -> Answer {
        let mut headers = vec![("Content-Type", "application/vnd.wap.mms-message")];
        if let Some(m) = msisdn {
            headers.push(("X-MSISDN", m));
        }
        self.request("POST", "/mms", &headers, pdu)
    }

    /// The admin endpoint's Prometheus text.
    pub fn metrics(&self) -> String {
        let addr = self.admin.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        raw.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default()
    }

    /// A series' value in the admin endpoint's Prometheus text (`name` or `name{labels}`, as
    /// written there), 0 when it is not there.
    pub fn metric(&self, series: &str) -> f64 {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }

    pub fn get(&self, url: &str, msisdn: Option<&str>) -> Answer {
        let path = url.strip_prefix(&self.base).unwrap_or(url);
        let headers: Vec<(&str, &str)> = msisdn.map(|m| ("X-MSISDN", m)).into_iter().collect();
        self.request("GET", path, &headers, b"")
    }

    /// The next push the relay sends, decoded: the WSP push and the MMS PDU inside.
    pub fn next_push(&self) -> (Vec<u8>, Message<'static>) {
        let mut buf = vec![0; 65536];
        let n = self.udp.recv(&mut buf).expect("a push from the relay within 10 s");
        buf.truncate(n);
        let push = Push::decode(&buf).unwrap();
        assert!(push.is_mms(), "a push for the MMS user agent");
        let message = Message::decode(&push.body).unwrap().into_owned();
        (buf, message)
    }

    /// Runs SQL until its rows are `want` (within 10 s), for what the relay records just after
    /// it answered (a retrieval: the message goes out before the record's sync).
    pub fn query_until(&self, sql: &str, want: &[&[&str]]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rows = self.query(sql);
            if rows.len() == want.len()
                && rows.iter().zip(want).all(|(r, w)| r.iter().map(String::as_str).eq(w.iter().copied()))
            {
                return;
            }
            assert!(Instant::now() < deadline, "{sql}: {rows:?}, not {want:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs SQL against the relay's store and returns the rows as text.
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        let out = Command::new("sqlite3").arg(self.data.join("tern.db")).arg(sql).output();
        match out {
            Ok(o) if o.status.success() => {
                String::from_utf8_lossy(&o.stdout).lines().map(|l| l.split('|').map(str::to_owned).collect()).collect()
            }
            Ok(o) => panic!("sqlite3 failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => panic!("PEER MISSING: sqlite3 ({e}); install it with `apt-get install -y sqlite3`"),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request to `addr`, read to the end.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-type")))
        .map(|(_, v)| v.trim().to_owned());
    Answer { status, content_type, body: raw[split + 4..].to_vec() }
}

/// A 1x1 PNG in hex, small enough for the end-to-end tests to compare byte for byte.
pub const PNG_HEX: &str = "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154789c63f8dfc0\
                           000004010180c52a185d0000000049454e44ae426082";

pub fn png() -> Vec<u8> {
    hex::decode(PNG_HEX).unwrap()
}

/// A free TCP port on 127.0.0.1 (free when asked; good enough for a test's own peers).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An empty directory of a test's own under the target directory, left behind for a look after
/// a failure.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target/relay-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The next submit_sm among an SMSC script's logged lines, waiting up to `timeout`.
pub fn next_submit_in(
    lines: &std::sync::mpsc::Receiver<serde_json::Value>,
    timeout: Duration,
) -> Option<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match lines.recv_timeout(left) {
            Ok(v) if v["event"] == "submit_sm" => return Some(v),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Where `.ci/run` installs the npm peers (`npm install --prefix .peers/npm smpp@0.5.1`).
pub fn npm_modules() -> PathBuf {
    root().join(".peers/npm/node_modules")
}

/// The SMSC peer: `shared/peers/smsc.js` on npm `smpp` 0.5.1, an SMPP 3.4 server that checks the
/// bind (mmsc/secret), answers every submit_sm with status 0 and logs each as one JSON line.
pub struct Smsc {
    child: Option<Child>,
    pub port: u16,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl Smsc {
    /// Starts the SMSC on `port` and waits until it listens.
    pub fn start(port: u16) -> Smsc {
        let modules = npm_modules();
        assert!(
            modules.join("smpp/package.json").is_file(),
            "PEER MISSING: npm smpp@0.5.1 is not installed in {}; install it with \
             `npm install --prefix .peers/npm smpp@0.5.1` at the workspace root (or run `bash .ci/run`)",
            modules.display()
        );
        let mut child = Command::new("node")
            .arg(shared().join("peers/smsc.js"))
            .env("PORT", port.to_string())
            .env("NODE_PATH", &modules)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("PEER MISSING: node ({e}); install it with `apt-get install -y nodejs npm`"));
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str(&line) {
                    let _ = tx.send(value);
                }
            }
        });
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
                if line.starts_with("SMSC listening") {
                    let _ = ready_tx.send(());
                } else {
                    eprintln!("smsc: {line}");
                }
            }
        });
        if ready.recv_timeout(Duration::from_secs(15)).is_err() {
            let _ = child.kill();
            panic!("the SMSC peer (node smsc.js) did not start listening on 127.0.0.1:{port}");
        }
        Smsc { child: Some(child), port, lines }
    }

    /// The next submit_sm the SMSC logged, waiting up to `timeout`.
    pub fn next_submit(&self, timeout: Duration) -> Option<serde_json::Value> {
        next_submit_in(&self.lines, timeout)
    }

    /// Kills the SMSC outright (SIGKILL): its links drop without an unbind.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Smsc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The SMS user data of one logged submit_sm: UDHL, the UDH elements, then the message.
pub fn logged_user_data(submit: &serde_json::Value) -> Vec<u8> {
    let elements: Vec<Vec<u8>> =
        submit["udh"].as_array().unwrap().iter().map(|ie| hex::decode(ie.as_str().unwrap()).unwrap()).collect();
    let udh: Vec<u8> = elements.concat();
    let mut user_data = vec![u8::try_from(udh.len()).unwrap()];
    user_data.extend(udh);
    user_data.extend(hex::decode(submit["message_hex"].as_str().unwrap()).unwrap());
    user_data
}

/// A pcap of raw frames under a user link type (147 = USER0), for tshark's gsm_sms dissector.
fn pcap_raw(frames: &[Vec<u8>], linktype: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xA1B2_C3D4u32.to_le_bytes().to_vec(), 2u16.to_le_bytes().to_vec(), 4u16.to_le_bytes().to_vec()] {
        out.extend(v);
    }
    for v in [0u32, 0, 262_144, linktype] {
        out.extend(v.to_le_bytes());
    }
    for (n, frame) in frames.iter().enumerate() {
        let len = u32::try_from(frame.len()).unwrap();
        for v in [u32::try_from(n).unwrap(), 0, len, len] {
            out.extend(v.to_le_bytes());
        }
        out.extend(frame);
    }
    out
}

/// tshark's reading of SMS user data delivered to a handset: each segment wrapped in an
/// SMS-DELIVER TPDU, one frame each. Per frame: destination port, WSP PDU type, MMS message type,
/// Content-Location (the last three only in the frame that completes the push).
pub fn tshark_sms(name: &str, user_data: &[Vec<u8>]) -> Vec<Vec<String>> {
    use tern_codec::sms::tpdu::{Address, Tpdu, wap_push_deliver};
    const TIMESTAMP: [u8; 7] = [0x62, 0x11, 0x32, 0x21, 0x43, 0x00, 0x00];
    let frames: Vec<Vec<u8>> = user_data
        .iter()
        .map(|ud| {
            Tpdu::Deliver(wap_push_deliver(Address::international("+15550100001"), ud.clone(), TIMESTAMP)).encode()
        })
        .collect();
    let dir = root().join("target/relay-tests/tshark-sms");
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join(format!("{name}-{}.pcap", std::process::id()));
    std::fs::write(&pcap, pcap_raw(&frames, 147)).unwrap();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-o", r#"uat:user_dlts:"User 0 (DLT=147)","gsm_sms","0","","0","""#])
        .args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"])
        .args(["-e", "gsm_sms.destination_port", "-e", "wsp.pdu_type", "-e", "mmse.message_type"])
        .args(["-e", "mmse.content_location"])
        .output()
        .unwrap_or_else(|e| panic!("PEER MISSING: tshark ({e}); install it with `apt-get install -y tshark`"));
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').map(str::to_owned).collect()).collect()
}
