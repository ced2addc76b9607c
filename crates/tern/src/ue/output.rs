//! What the simulator prints: each step of a flow (a push received, a decision, a request and
//! the relay's answer, a file saved) as a headline with the decoded headers below it, rendered
//! by `tern decode`'s tree, or with `--json` as one JSON object a line.

use std::fmt::Display;
use std::io::Write;

use serde_json::{Value, json};
use tern_codec::mms::Message;

use super::client::{self, Answer};
use crate::decode::detect::Decoded;
use crate::decode::{json as djson, tree};

#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Output {
        Output { json }
    }

    /// One step: `headline` for people; for JSON, `fields` (an object) with `step` added.
    pub fn step(&self, step: &str, headline: impl Display, fields: Value) {
        self.emit(step, &headline.to_string(), fields, None);
    }

    /// A step that carries an MMS PDU, shown decoded below the headline (JSON: under `mms`).
    pub fn pdu(&self, step: &str, headline: impl Display, fields: Value, message: &Message<'_>) {
        self.emit(step, &headline.to_string(), fields, Some(message));
    }

    /// A push as received, with every layer it came in (SMS, WSP push, MMS PDU).
    pub fn push(&self, source: &str, decoded: &Decoded) {
        let text = if self.json {
            let mut value = djson::value(decoded);
            if let Value::Object(o) = &mut value {
                o.insert("step".into(), json!("push"));
                o.insert("source".into(), json!(source));
            }
            format!("{value}\n")
        } else {
            format!("== push from {source}\n{}", tree::render(decoded))
        };
        print(&text);
    }

    /// An HTTP answer: its PDU decoded, or the start of a body that is not one. Returns the PDU.
    pub fn answer(&self, url: &str, answer: &Answer) -> Option<Message<'static>> {
        let reason = reqwest::StatusCode::from_u16(answer.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
        let headline = format!("HTTP {} {reason} from {url}, {} octets", answer.status, answer.body.len());
        let mut fields = json!({
            "url": url, "http_status": answer.status, "content_type": answer.content_type, "size": answer.body.len(),
        });
        if answer.body.is_empty() {
            self.step("answer", headline, fields);
            return None;
        }
        match Message::decode(&answer.body) {
            Ok(message) => {
                self.pdu("answer", headline, fields, &message);
                Some(message.into_owned())
            }
            Err(e) => {
                let preview = client::preview(&answer.body);
                fields["preview"] = json!(preview);
                fields["error"] = json!(e.to_string());
                self.step("answer", format!("{headline}: not an MMS PDU ({e}): {preview}"), fields);
                None
            }
        }
    }

    /// Something a person should know that is not a step of the protocol (a refusal, an error
    /// that does not stop the simulator).
    pub fn note(&self, text: impl Display) {
        let text = text.to_string();
        self.step("note", format!("note: {text}"), json!({ "text": text }));
    }

    fn emit(&self, step: &str, headline: &str, fields: Value, message: Option<&Message<'_>>) {
        let text = if self.json {
            let mut object = match fields {
                Value::Object(o) => o,
                _ => serde_json::Map::new(),
            };
            object.insert("step".into(), json!(step));
            if let Some(m) = message {
                object.insert("mms".into(), djson::mms(m));
            }
            format!("{}\n", Value::Object(object))
        } else {
            let mut text = format!("{headline}\n");
            if let Some(m) = message {
                tree::mms(&mut text, m);
            }
            text
        };
        print(&text);
    }
}

/// Writes to standard output. A closed output (a pipe whose reader went away) is not a reason
/// to stop answering relays, so write errors are ignored rather than panicking as `print!` does.
fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
