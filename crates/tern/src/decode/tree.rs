//! The dissector-style tree view of a decoded message, outermost layer first.

use std::fmt::Write;

/// Appends one line to the tree (writing to a `String` cannot fail).
macro_rules! emit {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

use tern_codec::mms::{BodyData, Message};
use tern_codec::push::Push;
use tern_codec::sms::tpdu::Tpdu;
use tern_codec::sms::udh::{InformationElement, UserDataHeader};
use tern_codec::wsp::Part;

use super::detect::{Decoded, Segment};

pub fn render(d: &Decoded) -> String {
    let mut out = String::new();
    if let Some(segments) = &d.sms {
        sms(&mut out, segments);
    }
    if let Some(p) = &d.push {
        push(&mut out, p);
    }
    if let Some(m) = &d.mms {
        mms(&mut out, m);
    }
    if let Some(note) = &d.note {
        emit!(out, "Note: {note}");
    }
    out
}

fn sms(out: &mut String, segments: &[Segment]) {
    emit!(out, "Short Message Service ({} segment{})", segments.len(), if segments.len() == 1 { "" } else { "s" });
    for (i, s) in segments.iter().enumerate() {
        emit!(out, "    Segment {}", i + 1);
        if let Some(smsc) = &s.smsc {
            emit!(out, "        SMSC: {smsc}");
        }
        match &s.tpdu {
            Some(Tpdu::Deliver(d)) => {
                emit!(out, "        TPDU: SMS-DELIVER from {}, PID {:#04x}, DCS {:#04x}", d.originator, d.pid, d.dcs);
            }
            Some(Tpdu::Submit(t)) => {
                emit!(out, "        TPDU: SMS-SUBMIT to {}, PID {:#04x}, DCS {:#04x}", t.destination, t.pid, t.dcs);
            }
            None => {}
        }
        if let Some(h) = &s.header {
            udh(out, h);
        }
        emit!(out, "        Payload: {} octets", s.payload_len);
    }
}

fn udh(out: &mut String, h: &UserDataHeader) {
    emit!(out, "        User-Data-Header");
    for ie in &h.elements {
        match ie {
            InformationElement::Ports16 { dst, src } => {
                emit!(out, "            Ports (16 bit): destination {dst}, source {src}")
            }
            InformationElement::Ports8 { dst, src } => {
                emit!(out, "            Ports (8 bit): destination {dst}, source {src}")
            }
            InformationElement::Concat8 { reference, total, seq } => {
                emit!(out, "            Concatenation (8-bit reference {reference}): {seq} of {total}")
            }
            InformationElement::Concat16 { reference, total, seq } => {
                emit!(out, "            Concatenation (16-bit reference {reference}): {seq} of {total}")
            }
            InformationElement::Other { id, data } => emit!(out, "            IE {id:#04x}: {}", hex::encode(data)),
        }
    }
}

fn push(out: &mut String, p: &Push<'_>) {
    emit!(out, "Wireless Session Protocol, Push");
    emit!(out, "    Transaction ID: {:#04x}", p.transaction_id);
    emit!(out, "    PDU Type: Push (0x06)");
    emit!(out, "    Content-Type: {}", p.content_type);
    if let Some(app) = &p.application_id {
        emit!(out, "    X-Wap-Application-Id: {app}");
    }
    if let Some(len) = p.content_length {
        emit!(out, "    Content-Length: {len}");
    }
    if let Some(flag) = p.push_flag {
        emit!(out, "    Push-Flag: {flag:#04x}");
    }
    for h in &p.other {
        emit!(out, "    {h}");
    }
    emit!(out, "    Data: {} octets", p.body.len());
}

pub fn mms(out: &mut String, m: &Message<'_>) {
    let kind = m.pdu.message_type();
    emit!(out, "MMS Message Encapsulation, Type: {kind}");
    emit!(out, "    X-Mms-Message-Type: {kind} ({:#04x})", kind.0);
    for h in m.pdu.headers() {
        emit!(out, "    {h}");
    }
    let Some(body) = &m.body else { return };
    emit!(out, "    Content-Type: {}", body.content_type);
    match &body.data {
        BodyData::Multipart(parts) => {
            emit!(out, "    Multipart: {} part{}", parts.len(), if parts.len() == 1 { "" } else { "s" });
            for (i, p) in parts.iter().enumerate() {
                part(out, i + 1, p);
            }
        }
        BodyData::Single(bytes) => {
            emit!(out, "    Data: {} octets", bytes.len());
        }
    }
}

fn part(out: &mut String, n: usize, p: &Part<'_>) {
    emit!(out, "        Part {n}: {}, {} octets", p.content_type, p.data.len());
    let h = &p.headers;
    if let Some(id) = &h.content_id {
        emit!(out, "            Content-ID: {id}");
    }
    if let Some(location) = &h.content_location {
        emit!(out, "            Content-Location: {location}");
    }
    if let Some(d) = &h.content_disposition {
        emit!(out, "            Content-Disposition: {}", d.kind);
    }
    if let Some(cte) = &h.content_transfer_encoding {
        emit!(out, "            Content-Transfer-Encoding: {cte}");
    }
    for raw in &h.other {
        emit!(out, "            {raw}");
    }
}
