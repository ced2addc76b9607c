//! `tern ue load` against a real `tern serve`: every planned submission is answered, every
//! recipient's copy is pushed, retrieved and acknowledged (as the relay's store shows), and the
//! summary's counts and latencies say so; against a relay that is not there it fails and names
//! why.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{Relay, free_port};
use serde_json::Value;

/// A UDP port nobody holds right now, for the load generator to take the relay's pushes on.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn load(args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tern")).args(["ue", "load", "--json"]).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (out.status.success(), summary, format!("stdout: {stdout}\nstderr: {stderr}"))
}

#[test]
fn every_submission_is_answered_retrieved_and_reported() {
    let port = free_udp_port();
    let target = format!("127.0.0.1:{port}");
    let relay = Relay::start("ue-load", &[("TERN_PUSH__UDP_TARGET", &target)]);
    let url = format!("{}/mms", relay.base);
    let (ok, s, out) = load(&[
        "--relay",
        &url,
        "--rate",
        "50",
        "--duration",
        "2",
        "--recipients",
        "2",
        "--handsets",
        "10",
        "--size",
        "3000",
        "--delivery-report",
        "--retrieve",
        &target,
    ]);
    assert!(ok, "{out}");
    assert_eq!(s["planned"], 100, "{out}");
    assert_eq!(s["answers"], serde_json::json!({ "ok": 100 }), "{out}");
    assert_eq!(s["expected_retrievals"], 200, "{out}");
    assert_eq!(s["retrievals"], serde_json::json!({ "ok": 200 }), "{out}");
    assert_eq!(s["notifyresp_errors"], 0, "{out}");
    assert_eq!(s["delivery_reports"], 200, "{out}");
    assert_eq!(s["send_latency"]["count"], 100, "{out}");
    assert_eq!(s["end_to_end_latency"]["count"], 200, "{out}");
    let e2e = &s["end_to_end_latency"];
    assert!(e2e["p50_ms"].as_f64().unwrap() <= e2e["max_ms"].as_f64().unwrap(), "{out}");
    // The relay saw what the summary claims: 100 messages, each of 2 recipients retrieved.
    let states = relay.query("SELECT state, count(*) FROM recipients GROUP BY state");
    assert_eq!(states, [["retrieved".to_owned(), "200".to_owned()]], "{out}");
    let senders = relay.query("SELECT count(DISTINCT sender) FROM messages");
    assert_eq!(senders, [["10".to_owned()]], "{out}");
}

#[test]
fn a_relay_that_is_not_there_is_named_in_the_counts() {
    let url = format!("http://127.0.0.1:{}/mms", free_port());
    let (ok, s, out) = load(&["--relay", &url, "--rate", "20", "--duration", "0.5"]);
    assert!(!ok, "{out}");
    assert_eq!(s["answers"], serde_json::json!({ "connection failed": 10 }), "{out}");
    assert!(out.contains("accepted none"), "{out}");
}

#[test]
fn impossible_settings_are_refused_before_anything_is_sent() {
    for args in [
        &["--rate", "0"][..],
        &["--recipients", "10", "--handsets", "10"],
        &["--number-base", "+98", "--handsets", "5"],
        &["--duration", "-1"],
    ] {
        let mut all = vec!["--relay", "http://127.0.0.1:9/mms"];
        all.extend_from_slice(args);
        let (ok, s, out) = load(&all);
        assert!(!ok && s.is_null(), "{args:?}: {out}");
    }
}
