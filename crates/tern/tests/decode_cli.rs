//! `tern decode` as a user runs it: JSON contract on shipped samples and real vectors, SMS
//! reassembly from hex lines, standard input, and a non-zero exit with a clear message on
//! input that is none of the things it decodes.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus() -> PathBuf {
    let dir = root().join("../shared/conformance");
    assert!(dir.is_dir(), "the conformance corpus is missing: expected {}", dir.display());
    dir
}

fn tern(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn json(args: &[&str], stdin: Option<&[u8]>) -> Vec<Value> {
    let out = tern(args, stdin);
    assert!(out.status.success(), "tern {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn send_req_sample_as_json() {
    let v = &json(&["decode", "--json", "samples/m-send-req.mms"], None)[0];
    let mms = &v["mms"];
    assert_eq!(mms["message_type"], "m-send-req");
    assert_eq!(mms["transaction_id"], "T-0001-send");
    assert_eq!(mms["mms_version"], "1.2");
    assert_eq!(mms["from"], "insert-address");
    assert_eq!(mms["to"], serde_json::json!(["+15550100002/TYPE=PLMN"]));
    assert_eq!(mms["cc"], serde_json::json!([]));
    assert_eq!(mms["subject"], "Photo from the beach");
    assert_eq!(mms["expiry"], serde_json::json!({ "relative": 604800 }));
    assert!(mms["content_location"].is_null() && mms["response_status"].is_null());
    let parts = mms["parts"].as_array().unwrap();
    let types: Vec<&str> = parts.iter().map(|p| p["content_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["application/smil", "image/gif", "text/plain"]);
    assert_eq!(parts[1]["size"], 42);
    assert_eq!(parts[1]["content_id"], "<beach.gif>");
    assert_eq!(parts[1]["name"], "beach.gif");
    assert!(v.get("push").is_none() && v.get("sms").is_none());
}

#[test]
fn tree_view_reads_like_a_dissector() {
    let out = tern(&["decode", "samples/m-notification-ind.mms"], None);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("MMS Message Encapsulation, Type: m-notification-ind\n"), "{text}");
    assert!(text.contains("    X-Mms-Content-Location: http://127.0.0.1:8002/m/"), "{text}");
    assert!(text.contains("    X-Mms-Expiry: +604800 s"), "{text}");
}

#[test]
fn sms_deliver_hex_lines_reassemble_through_push_to_mms() {
    let file = corpus().join("python-messaging/sms_wap_push/sms-deliver_pdus.hex.txt");
    let all = json(&["decode", "--json", "--hex", file.to_str().unwrap()], None);
    assert_eq!(all.len(), 3, "three concatenated pushes in the file");
    let first = &all[0];
    assert_eq!(first["sms"]["segments"].as_array().unwrap().len(), 2);
    assert_eq!(first["sms"]["destination_port"], 2948);
    assert_eq!(first["sms"]["segments"][0]["concat"]["reference"], 40846);
    assert_eq!(first["push"]["application_id"], "x-wap-application:mms.ua");
    assert_eq!(first["mms"]["message_type"], "m-notification-ind");
    assert_eq!(first["mms"]["from"], "+447785342749/TYPE=PLMN");
    assert_eq!(first["mms"]["content_location"], "http://promms/servlets/NOK5CiKcoTMYSG4MBSwAAsKv14FUHAAAAAAAA");
    let si = &all[2];
    assert!(si.get("mms").is_none(), "the third push is a Service Indication");
    assert!(si["note"].as_str().unwrap().contains("application/vnd.wap.sic"));
}

#[test]
fn push_from_standard_input_and_a_bare_push_file() {
    let push = std::fs::read(corpus().join("nuntium/ofono_push_decode_test__TestDecodeTMobileUSA.bin")).unwrap();
    let v = &json(&["decode", "--json", "-"], Some(&push))[0];
    assert_eq!(v["push"]["transaction_id"], 0xC0);
    assert_eq!(v["mms"]["message_size"], 991_647);
    assert_eq!(v["mms"]["mms_version"], "1.2");
    let hex: String = push.iter().map(|b| format!("{b:02X}")).collect();
    let v = &json(&["decode", "--json", "--hex", "-"], Some(hex.as_bytes()))[0];
    assert_eq!(v["mms"]["from"], "+19199033488/TYPE=PLMN");
}

#[test]
fn every_corpus_vector_decodes_and_the_malformed_one_is_refused() {
    let mut checked = 0;
    let mut stack = vec![corpus()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.to_string_lossy().into_owned();
            if !(name.ends_with(".mms") || name.ends_with(".MMS") || name.ends_with(".bin")) {
                continue;
            }
            let out = tern(&["decode", "--json", &name], None);
            if name.ends_with("TestDecodeNonPushPDU.bin") {
                assert!(!out.status.success(), "{name} is malformed on purpose");
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains("not a WSP push (unexpected octet 0x07 in PDU type at byte 1)"), "{err}");
            } else {
                assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
                let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                assert!(v.get("mms").is_some() || v.get("note").is_some(), "{name}: {v}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 59, "vectors checked: {checked}");
}

#[test]
fn undecodable_input_exits_non_zero_with_a_reason() {
    let out = tern(&["decode", "-"], Some(b"<html>Failure to Query from Radius Server</html>"));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("tern: cannot decode -: not an MMS PDU ("), "{err}");
    assert!(out.stdout.is_empty());

    let out = tern(&["decode", "--hex", "-"], Some(b"8c 82 zz"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not hex"));

    let truncated = &std::fs::read(root().join("samples/m-send-req.mms")).unwrap()[..100];
    let out = tern(&["decode", "-"], Some(truncated));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at byte"), "the error names the offset: {err}");
}
