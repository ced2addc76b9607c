//! What `tern serve` writes to stderr when stderr is a pipe, as under a service manager or a log
//! collector: plain text without colour codes, or with `TERN_LOG_FORMAT=json` one JSON object a
//! line.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `tern serve` with stderr to a pipe until it has listened and stopped (SIGTERM); its
/// stderr and the MM1 address.
fn serve_log(name: &str, format: Option<&str>) -> (String, String) {
    let data = common::scratch(name);
    let listen = format!("127.0.0.1:{}", common::free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tern"));
    cmd.arg("serve")
        .env("TERN_MM1__LISTEN", &listen)
        .env("TERN_ADMIN__LISTEN", format!("127.0.0.1:{}", common::free_port()))
        .env("TERN_STORE__DATA_DIR", &data)
        .env("TERN_LOG", "info")
        // NO_COLOR in the test's own environment would hide colour codes the relay would write.
        .env_remove("NO_COLOR")
        .env_remove("TERN_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(format) = format {
        cmd.env("TERN_LOG_FORMAT", format);
    }
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&listen).is_err() {
        assert!(Instant::now() < deadline, "tern serve did not start listening on {listen}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "tern serve exited with {}", out.status);
    (String::from_utf8(out.stderr).unwrap(), listen)
}

#[test]
fn a_log_to_a_pipe_has_no_colour_codes() {
    let (log, listen) = serve_log("log-text", None);
    assert!(!log.contains('\x1b'), "an escape sequence in the log:\n{log:?}");
    let ready = log.lines().find(|l| l.contains("MM1 ready")).unwrap_or_else(|| panic!("no MM1 ready in:\n{log}"));
    assert!(ready.contains(" INFO ") && ready.contains(&format!("listen={listen}")), "{ready}");
}

#[test]
fn a_json_log_is_one_object_a_line() {
    let (log, listen) = serve_log("log-json", Some("json"));
    assert!(!log.contains('\x1b'), "an escape sequence in the log:\n{log:?}");
    let lines: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect();
    assert!(lines.len() >= 3, "ready, stopping and stopped:\n{log}");
    for line in &lines {
        assert!(line["message"].is_string() && line["level"].is_string() && line["timestamp"].is_string(), "{line}");
    }
    let ready = lines.iter().find(|l| l["message"] == "MM1 ready").unwrap_or_else(|| panic!("no MM1 ready in:\n{log}"));
    // The event's fields sit beside the message, where a collector indexes them.
    assert_eq!((ready["level"].as_str(), ready["listen"].as_str()), (Some("INFO"), Some(listen.as_str())));
}

#[test]
fn an_unknown_log_format_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_tern"))
        .arg("serve")
        .env("TERN_LOG_FORMAT", "xml")
        .env("TERN_STORE__DATA_DIR", common::scratch("log-xml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TERN_LOG_FORMAT"), "{stderr}");
}
