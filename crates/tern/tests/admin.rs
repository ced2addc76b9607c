//! The admin endpoint of a real `tern serve` over HTTP: `/metrics` and `/protection/held` behind
//! the bearer token made by `tern admin-token` (and refused without one beyond loopback; the
//! held-message routes themselves are tested on the router in `admin/held.rs`), every series
//! there at zero before any traffic, `/health` and `/ready` open, `/ready` failing while an SMPP
//! link is not bound (a closed port, then the npm SMSC peer), and the log lines saying where it
//! listens.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Smsc, free_port, scratch};

/// A `tern serve` logging at info, its stderr lines kept for the test.
struct Server {
    child: Child,
    /// `127.0.0.1:port` of the admin endpoint, whatever address it was told to listen on.
    admin: String,
    /// Every line logged up to "MM1 ready".
    logged: Vec<String>,
}

impl Server {
    /// Starts a relay whose admin endpoint listens on `admin_ip`, with `env` and, when given, a
    /// configuration file; returns once MM1 is ready.
    fn start(name: &str, admin_ip: &str, config: Option<&str>, env: &[(&str, &str)]) -> Server {
        let data = scratch(name);
        let admin_port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tern"));
        cmd.arg("serve");
        if let Some(text) = config {
            let file = data.join("tern.toml");
            std::fs::write(&file, text).unwrap();
            cmd.arg("--config").arg(file);
        }
        cmd.env("TERN_MM1__LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("TERN_ADMIN__LISTEN", format!("{admin_ip}:{admin_port}"))
            .env("TERN_STORE__DATA_DIR", data.join("store"))
            .env("TERN_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("tern: {line}");
                let _ = tx.send(plain(&line));
            }
        });
        let mut logged = Vec::new();
        while !logged.last().is_some_and(|l: &String| l.contains("MM1 ready")) {
            match lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => logged.push(line),
                Err(_) => panic!("tern serve did not log \"MM1 ready\"; it logged {logged:#?}"),
            }
        }
        Server { child, admin: format!("127.0.0.1:{admin_port}"), logged }
    }

    /// GETs `path` from the admin endpoint, with `Authorization: Bearer <token>` when given.
    fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut stream = TcpStream::connect(&self.admin).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n", self.admin).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Answer { status, head: head.to_owned(), body: body.to_owned() }
    }

    /// Waits up to `timeout` for `/ready` to answer `status`; returns the last answer.
    fn ready_becomes(&self, status: u16, timeout: Duration) -> Answer {
        let deadline = Instant::now() + timeout;
        loop {
            let answer = self.get("/ready", None);
            if answer.status == status || Instant::now() > deadline {
                return answer;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `line` without terminal colour sequences (ESC '[' ... 'm'), for logs from any formatter.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("\x1b[") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = rest.find('m').map_or("", |end| &rest[end + 1..]);
    }
    out.push_str(rest);
    out
}

#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// A token from `tern admin-token`, and the hash it says to configure.
fn admin_token() -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tern")).arg("admin-token").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let token = text.lines().find_map(|l| l.strip_prefix("token: ")).unwrap().to_owned();
    let hash = text.lines().find_map(|l| l.strip_prefix("token_sha256 = \"")?.strip_suffix('"')).unwrap().to_owned();
    assert_eq!((token.len(), hash.len()), (64, 64), "{text}");
    assert!(text.contains(&format!("TERN_ADMIN__TOKEN_SHA256={hash}")), "{text}");
    (token, hash)
}

#[test]
fn metrics_ask_for_the_token_and_show_every_series_at_zero_before_any_traffic() {
    let (token, hash) = admin_token();
    let server = Server::start(
        "admin-token",
        "127.0.0.1",
        None,
        &[("TERN_ADMIN__TOKEN_SHA256", &hash), ("TERN_PUSH__BEARER", "udp")],
    );

    for presented in [None, Some("not-the-token"), Some(&hash[..])] {
        let refused = server.get("/metrics", presented);
        assert_eq!(refused.status, 401, "{presented:?}: {refused:?}");
        assert!(refused.head.to_ascii_lowercase().contains("www-authenticate: bearer"), "{refused:?}");
        assert!(!refused.body.contains("tern_"), "{refused:?}");
    }

    let metrics = server.get("/metrics", Some(&token));
    assert_eq!(metrics.status, 200, "{metrics:?}");
    for series in [
        "tern_mm1_submissions_total{status=\"ok\"} 0",
        "tern_mm1_submissions_total{status=\"error-permanent-message-format-corrupt\"} 0",
        "tern_mm1_submissions_total{status=\"error-transient-failure\"} 0",
        "tern_pushes_total{outcome=\"sent\"} 0",
        "tern_pushes_total{outcome=\"waiting\"} 0",
        "tern_pushes_total{outcome=\"failed\"} 0",
        "# HELP tern_pushes_total ",
    ] {
        assert!(metrics.body.contains(series), "{series} missing from\n{}", metrics.body);
    }

    // Probes need no token.
    let health = server.get("/health", None);
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let ready = server.get("/ready", None);
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"), "store up, no SMPP: ready");
}

#[test]
fn the_listen_address_is_logged_and_beyond_loopback_metrics_need_a_token() {
    let loopback = Server::start("admin-log-loopback", "127.0.0.1", None, &[]);
    let line = loopback.logged.iter().find(|l| l.contains("admin endpoint ready")).expect("the admin listen line");
    assert!(line.contains("INFO") && line.contains(&format!("listen={}", loopback.admin)), "{line}");
    assert!(!loopback.logged.iter().any(|l| l.contains("not on loopback")), "{:#?}", loopback.logged);
    assert_eq!(loopback.get("/metrics", None).status, 200, "no token: open on loopback");

    let open = Server::start("admin-log-any", "0.0.0.0", None, &[]);
    let port = open.admin.rsplit(':').next().unwrap();
    let line = open.logged.iter().find(|l| l.contains("admin endpoint ready")).expect("the admin listen line");
    assert!(line.contains(&format!("listen=0.0.0.0:{port}")), "{line}");
    let warning = open.logged.iter().find(|l| l.contains("not on loopback")).expect("a warning");
    assert!(warning.contains("WARN") && warning.contains("admin.token_sha256 is not set"), "{warning}");
    let refused = open.get("/metrics", None);
    assert_eq!(refused.status, 401, "no token beyond loopback: nobody gets /metrics: {refused:?}");
    assert_eq!(open.get("/health", None).status, 200);
    assert_eq!(open.get("/ready", None).status, 200);

    let (token, hash) = admin_token();
    let guarded = Server::start("admin-log-token", "0.0.0.0", None, &[("TERN_ADMIN__TOKEN_SHA256", &hash)]);
    let warning = guarded.logged.iter().find(|l| l.contains("not on loopback")).expect("a warning");
    assert!(warning.contains("with the bearer token"), "{warning}");
    assert_eq!(guarded.get("/metrics", None).status, 401);
    assert_eq!(guarded.get("/metrics", Some(&token)).status, 200);
    assert_eq!(guarded.get("/protection/held", None).status, 401, "held messages are behind the token too");
    let held = guarded.get("/protection/held", Some(&token));
    assert_eq!((held.status, held.body.as_str()), (200, "[]"), "nothing is held yet");
}

#[test]
fn ready_fails_while_the_smpp_link_is_not_bound_and_passes_once_it_is() {
    let port = free_port();
    let (token, hash) = admin_token();
    let config = format!("[push]\nbearer = \"smpp\"\n[[push.smpp.links]]\nport = {port}\n");
    let server = Server::start(
        "admin-ready-smpp",
        "127.0.0.1",
        Some(&config),
        &[("TERN_PUSH__BEARER", "smpp"), ("TERN_ADMIN__TOKEN_SHA256", &hash)],
    );
    let link = format!("127.0.0.1:{port}");

    // Nothing listens on the link's port yet.
    let ready = server.get("/ready", None);
    assert_eq!(ready.status, 503, "{ready:?}");
    assert_eq!(ready.body, "not ready: SMPP links not bound: 1 of 1\n", "no address without the token");
    let detailed = server.get("/ready", Some(&token));
    assert_eq!(detailed.body, format!("not ready: SMPP links not bound: {link}\n"));
    let metrics = server.get("/metrics", Some(&token)).body;
    for series in ["tern_smpp_bound", "tern_smpp_submitted_total", "tern_smpp_deliver_sm_total"] {
        let zero = format!("{series}{{link=\"{link}\"}} 0");
        assert!(metrics.contains(&zero), "{zero} missing from\n{metrics}");
    }

    let _smsc = Smsc::start(port);
    let ready = server.ready_becomes(200, Duration::from_secs(40));
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"), "bound to the SMSC: {ready:?}");
    let metrics = server.get("/metrics", Some(&token)).body;
    assert!(metrics.contains(&format!("tern_smpp_bound{{link=\"{link}\"}} 1")), "{metrics}");
}
