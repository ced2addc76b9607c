//! The JSON view of a decoded message. Scripts rely on its shape: a top-level object with
//! `mms` (whenever an MMS PDU was found) and `push` / `sms` for the wrappers; absent headers
//! are null.

use serde_json::{Map, Value, json};
use tern_codec::mms::{Header, Message, Sender, TimeValue};
use tern_codec::push::Push;
use tern_codec::sms::tpdu::Tpdu;
use tern_codec::sms::udh::UserDataHeader;
use tern_codec::wsp::Part;

use super::detect::{Decoded, Segment};

pub fn render(d: &Decoded) -> String {
    value(d).to_string()
}

/// The object [`render`] prints, for callers that add keys of their own.
pub fn value(d: &Decoded) -> Value {
    let mut top = Map::new();
    if let Some(segments) = &d.sms {
        top.insert("sms".into(), sms(segments));
    }
    if let Some(p) = &d.push {
        top.insert("push".into(), push(p));
    }
    if let Some(m) = &d.mms {
        top.insert("mms".into(), mms(m));
    }
    if let Some(note) = &d.note {
        top.insert("note".into(), json!(note));
    }
    Value::Object(top)
}

pub fn mms(m: &Message<'_>) -> Value {
    let mut o = Map::new();
    o.insert("message_type".into(), json!(m.pdu.message_type().to_string()));
    for key in [
        "transaction_id",
        "mms_version",
        "from",
        "subject",
        "content_location",
        "message_size",
        "expiry",
        "message_id",
        "response_status",
        "retrieve_status",
        "status",
        "date",
    ] {
        o.insert(key.into(), Value::Null);
    }
    for key in ["to", "cc", "bcc"] {
        o.insert(key.into(), json!([]));
    }
    let mut all = Vec::new();
    for h in m.pdu.headers() {
        all.push(json!({ "name": h.name(), "value": h.value_text() }));
        let (key, value) = match &h {
            Header::TransactionId(v) => ("transaction_id", json!(v)),
            Header::MmsVersion(v) => ("mms_version", json!(v.to_string())),
            Header::From(Sender::Address(a)) => ("from", json!(a.text())),
            Header::From(Sender::InsertAddress) => ("from", json!("insert-address")),
            Header::Subject(v) => ("subject", json!(v.text)),
            Header::ContentLocation(v) => ("content_location", json!(v)),
            Header::MessageSize(v) => ("message_size", json!(v)),
            Header::Expiry(TimeValue::Relative(s)) => ("expiry", json!({ "relative": s })),
            Header::Expiry(TimeValue::Absolute(t)) => ("expiry", json!({ "absolute": t })),
            Header::MessageId(v) => ("message_id", json!(v)),
            Header::ResponseStatus(v) => ("response_status", json!(v.to_string())),
            Header::RetrieveStatus(v) => ("retrieve_status", json!(v.to_string())),
            Header::Status(v) => ("status", json!(v.to_string())),
            Header::Date(v) => ("date", json!(v)),
            Header::To(a) | Header::Cc(a) | Header::Bcc(a) => {
                let key = match h {
                    Header::To(_) => "to",
                    Header::Cc(_) => "cc",
                    _ => "bcc",
                };
                if let Some(Value::Array(list)) = o.get_mut(key) {
                    list.push(json!(a.text()));
                }
                continue;
            }
            _ => continue,
        };
        // The first occurrence wins, as in the typed PDU.
        if o.get(key).is_some_and(Value::is_null) {
            o.insert(key.into(), value);
        }
    }
    o.insert("headers".into(), Value::Array(all));
    let (content_type, parts) = match &m.body {
        Some(body) => {
            let parts: Vec<Value> = match &body.data {
                tern_codec::mms::BodyData::Multipart(parts) => parts.iter().map(part).collect(),
                tern_codec::mms::BodyData::Single(bytes) => vec![json!({
                    "content_type": body.content_type.media_type, "size": bytes.len(),
                    "content_id": null, "content_location": null, "name": body.content_type.params.name,
                })],
            };
            (json!(body.content_type.to_string()), parts)
        }
        None => (Value::Null, Vec::new()),
    };
    o.insert("content_type".into(), content_type);
    o.insert("parts".into(), Value::Array(parts));
    Value::Object(o)
}

fn part(p: &Part<'_>) -> Value {
    json!({
        "content_type": p.content_type.media_type,
        "charset": p.content_type.params.charset.map(|c| c.to_string()),
        "size": p.data.len(),
        "content_id": p.headers.content_id,
        "content_location": p.headers.content_location,
        "name": p.name(),
    })
}

fn push(p: &Push<'_>) -> Value {
    json!({
        "transaction_id": p.transaction_id,
        "pdu_type": "push",
        "content_type": p.content_type.to_string(),
        "application_id": p.application_id.as_ref().map(|a| a.to_string()),
        "content_length": p.content_length,
        "push_flag": p.push_flag,
        "headers": p.other.iter().map(|h| json!({ "name": h.name.to_string(), "value": h.value_text() })).collect::<Vec<_>>(),
        "body_size": p.body.len(),
    })
}

fn sms(segments: &[Segment]) -> Value {
    let list: Vec<Value> = segments.iter().map(segment).collect();
    let ports = segments.iter().find_map(|s| s.header.as_ref().and_then(UserDataHeader::ports));
    json!({
        "segments": list,
        "destination_port": ports.map(|p| p.0),
        "source_port": ports.map(|p| p.1),
    })
}

fn segment(s: &Segment) -> Value {
    let mut o = Map::new();
    o.insert("smsc".into(), json!(s.smsc.as_ref().map(ToString::to_string)));
    match &s.tpdu {
        Some(Tpdu::Deliver(d)) => {
            o.insert("tpdu".into(), json!("sms-deliver"));
            o.insert("originator".into(), json!(d.originator.to_string()));
            o.insert("pid".into(), json!(d.pid));
            o.insert("dcs".into(), json!(d.dcs));
        }
        Some(Tpdu::Submit(t)) => {
            o.insert("tpdu".into(), json!("sms-submit"));
            o.insert("destination".into(), json!(t.destination.to_string()));
            o.insert("pid".into(), json!(t.pid));
            o.insert("dcs".into(), json!(t.dcs));
        }
        None => {
            o.insert("tpdu".into(), Value::Null);
        }
    }
    let concat = s.header.as_ref().and_then(UserDataHeader::concat);
    o.insert(
        "concat".into(),
        json!(concat.map(|c| json!({ "reference": c.reference, "total": c.total, "seq": c.seq }))),
    );
    o.insert("payload_size".into(), json!(s.payload_len));
    Value::Object(o)
}
