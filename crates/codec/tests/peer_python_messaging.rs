//! python-messaging, an independent MMS decoder, reads what Tern encodes: message type,
//! transaction ID, version, addresses, subject (decoded through its charset), content
//! location and part content types, over many generated variants.
//!
//! python-messaging implements MMS 1.0 only (message types up to m-delivery-ind, fields up to
//! X-Mms-Transaction-Id) and keeps headers in a dict, so a repeated To shows only its last
//! value; the cases are cut to what it implements. tshark checks every type and field.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::cases;
use serde_json::Value;

#[test]
fn python_messaging_reads_every_message_type_and_generated_variants() {
    let python = common::python_messaging();
    let cases: Vec<_> = cases::all(300).iter().filter_map(cases::mms_1_0).collect();
    assert!(cases.len() > 250, "enough MMS 1.0 cases");
    let dir = common::scratch("python-messaging");
    let mut cmd = Command::new(python);
    cmd.arg(common::root().join("crates/codec/tests/peers/python_messaging_read.py"));
    for (i, case) in cases.iter().enumerate() {
        let path = dir.join(format!("{i:04}.mms"));
        std::fs::write(&path, case.message.encode()).unwrap();
        cmd.arg(path);
    }
    let lines: Vec<Value> = common::run(&mut cmd).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), cases.len());
    let mut failures = Vec::new();
    for (case, got) in cases.iter().zip(&lines) {
        let e = &case.expect;
        let expected = serde_json::json!({
            "message_type": case.message.pdu.message_type().to_string(),
            "transaction_id": e.transaction_id,
            "version": e.version,
            "from": e.from.as_ref().map(|f| f.clone().unwrap_or_else(|| "<not inserted>".to_owned())),
            "to": e.to.last().into_iter().collect::<Vec<_>>(),
            "subject": e.subject,
            "content_location": e.content_location,
            "parts": e.parts,
        });
        let mut seen = got.clone();
        if let Some(o) = seen.as_object_mut() {
            o.remove("path");
            o.remove("content_type");
        }
        if seen != expected {
            failures.push(format!("{}:\n  python-messaging: {seen}\n  tern:             {expected}", case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
