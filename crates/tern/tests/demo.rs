//! `tern demo`: one command, the whole flow. It must exit 0 having shown each step in order
//! (submission, notification, retrieval, answer, delivery report), leave Bob with Alice's
//! picture byte for byte, and the relay's store with the message retrieved.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use serde_json::Value;

#[test]
fn the_demo_shows_the_whole_flow_and_leaves_its_traces() {
    let dir = common::scratch("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_tern")).args(["demo", "--json", "--keep"]).arg(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!("stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{all}");
    let steps: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Each step with the PDU it carried, or the method of a request without one.
    let flow: Vec<String> = steps
        .iter()
        .map(|s| {
            let step = s["step"].as_str().unwrap();
            match (s["mms"]["message_type"].as_str(), s["method"].as_str(), s["http_status"].as_u64()) {
                (Some(kind), _, _) => format!("{step} {kind}"),
                (None, Some(method), _) => format!("{step} {method}"),
                (None, None, Some(status)) => format!("{step} {status}"),
                _ => step.to_owned(),
            }
        })
        .filter(|s| !s.starts_with("saved") && !s.starts_with("scene"))
        .collect();
    assert_eq!(
        flow,
        [
            "start",
            "request m-send-req",
            "answer m-send-conf",
            "push m-notification-ind",
            "decision",
            "request GET",
            "answer m-retrieve-conf",
            "request m-notifyresp-ind",
            "answer 204",
            "push m-delivery-ind",
            "report",
            "done",
        ],
        "{all}"
    );
    let message_id = steps.iter().find_map(|s| s["mms"]["message_id"].as_str()).unwrap();
    let picture = std::fs::read(dir.join("bob-inbox").join(message_id).join("tern.png")).unwrap();
    assert_eq!(picture, std::fs::read(common::root().join("samples/tern.png")).unwrap());
    let db = dir.join("relay/tern.db");
    let states = Command::new("sqlite3").arg(&db).arg("SELECT state FROM recipients").output();
    match states {
        Ok(o) => assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "retrieved", "{all}"),
        Err(e) => panic!("PEER MISSING: sqlite3 ({e}); apt-get install -y sqlite3"),
    }
}
