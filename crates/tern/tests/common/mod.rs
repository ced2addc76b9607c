//! A real `tern serve` for the end-to-end tests: its own data directory and port on 127.0.0.1,
//! pushes received on a UDP socket, a plain HTTP/1.1 client, and a look into its store.

#![allow(dead_code, clippy::unwrap_used)]

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
    pub data: PathBuf,
    pub udp: UdpSocket,
    env: Vec<(String, String)>,
}

pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Relay {
    /// Starts a relay with a fresh data directory; `env` adds `TERN_*` overrides.
    pub fn start(name: &str, env: &[(&str, &str)]) -> Relay {
        let data = root().join("target/relay-tests").join(name);
        let _ = std::fs::remove_dir_all(&data);
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let mut all: Vec<(String, String)> = vec![
            ("TERN_MM1__LISTEN".into(), format!("127.0.0.1:{port}")),
            ("TERN_MM1__PUBLIC_BASE_URL".into(), base.clone()),
            ("TERN_STORE__DATA_DIR".into(), data.display().to_string()),
            ("TERN_PUSH__BEARER".into(), "udp".into()),
            ("TERN_LOG".into(), "warn".into()),
            ("TERN_PUSH__UDP_TARGET".into(), udp.local_addr().unwrap().to_string()),
        ];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut relay = Relay { child: None, base, data, udp, env: all };
        relay.spawn();
        relay
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tern"));
        cmd.arg("serve").envs(self.env.iter().cloned()).stdout(Stdio::null()).stderr(Stdio::inherit());
        self.child = Some(cmd.spawn().unwrap());
        let addr = self.base.trim_start_matches("http://").to_owned();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "tern serve did not start listening on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
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
        let addr = self.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
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

    /// POSTs a PDU as a handset behind the operator's proxy would (`msisdn` in X-MSISDN).
    pub fn post(&self, pdu: &[u8], msisdn: Option<&str>) -> Answer {
        let mut headers = vec![("Content-Type", "application/vnd.wap.mms-message")];
        if let Some(m) = msisdn {
            headers.push(("X-MSISDN", m));
        }
        self.request("POST", "/mms", &headers, pdu)
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
