//! Works out what each input unit is and peels the layers: SMS TPDU or user data (reassembled
//! across segments) -> WSP push -> MMS PDU.

use std::borrow::Cow;
use std::collections::BTreeMap;

use anyhow::{anyhow, bail};
use tern_codec::mms::Message;
use tern_codec::push::Push;
use tern_codec::sms::segment::Reassembler;
use tern_codec::sms::tpdu::{self, Direction, Tpdu};
use tern_codec::sms::udh::{UserData, UserDataHeader};

/// One decoded message, with the wrappers it came in.
#[derive(Debug)]
pub struct Decoded {
    pub sms: Option<Vec<Segment>>,
    pub push: Option<Push<'static>>,
    pub mms: Option<Message<'static>>,
    /// Why decoding stopped before an MMS PDU (a push of another content type, say).
    pub note: Option<String>,
}

/// One SMS of a (possibly concatenated) WDP datagram.
#[derive(Debug)]
pub struct Segment {
    pub smsc: Option<tpdu::Address>,
    pub tpdu: Option<Tpdu>,
    pub header: Option<UserDataHeader>,
    pub payload_len: usize,
}

/// Pending segments of concatenated messages are dropped beyond this many.
const MAX_PENDING: usize = 64;

pub fn decode(units: &[Vec<u8>]) -> anyhow::Result<Vec<Decoded>> {
    let mut out = Vec::new();
    let mut reassembler = Reassembler::new(MAX_PENDING);
    let mut groups: BTreeMap<(String, u16, u8), Vec<Segment>> = BTreeMap::new();
    for (n, unit) in units.iter().enumerate() {
        let which = if units.len() > 1 { format!("unit {}: ", n + 1) } else { String::new() };
        if let Some(message) = try_mms(unit) {
            out.push(Decoded { sms: None, push: None, mms: Some(message), note: None });
            continue;
        }
        if let Ok(push) = Push::decode(unit) {
            out.push(from_push(push, None));
            continue;
        }
        let Some((segment, sender, user_data)) = as_sms(unit) else {
            bail!("{which}{}", explain(unit));
        };
        let key =
            segment.header.as_ref().and_then(UserDataHeader::concat).map(|c| (sender.clone(), c.reference, c.total));
        let done = reassembler.push(&sender, &user_data);
        let segments = match key {
            Some(key) => {
                groups.entry(key.clone()).or_default().push(segment);
                if done.is_none() {
                    continue;
                }
                groups.remove(&key).unwrap_or_default()
            }
            None => vec![segment],
        };
        let Some(done) = done else { continue };
        out.push(from_payload(segments, done.payload)?);
    }
    if let Some(((_, reference, total), segments)) = groups.into_iter().next() {
        bail!("incomplete concatenated SMS: reference {reference} has {} of {total} segments", segments.len());
    }
    Ok(out)
}

fn try_mms(bytes: &[u8]) -> Option<Message<'static>> {
    Message::decode(bytes).ok().map(Message::into_owned)
}

/// The SMS reading of a unit: a TPDU (with or without the SMSC address in front, as modems
/// print it) or bare user data with a header.
fn as_sms(bytes: &[u8]) -> Option<(Segment, String, UserData<'_>)> {
    for direction in [Direction::ToMobile, Direction::FromMobile] {
        let framed =
            tpdu::decode_with_smsc(bytes, direction).or_else(|_| Tpdu::decode(bytes, direction).map(|t| (None, t)));
        if let Ok((smsc, tpdu)) = framed
            && let Some((sender, header, payload_len)) = tpdu_user_data(&tpdu)
        {
            let segment = Segment { smsc, tpdu: Some(tpdu), header, payload_len };
            // The reassembler needs user data that borrows from the unit, so parse again.
            let user_data = reparse(bytes, &segment)?;
            return Some((segment, sender, user_data));
        }
    }
    let user_data = UserData::decode(bytes, true).ok()?;
    let header = user_data.header.clone()?;
    if header.ports().is_none() && header.concat().is_none() {
        return None;
    }
    let segment = Segment { smsc: None, tpdu: None, header: Some(header), payload_len: user_data.payload.len() };
    Some((segment, String::new(), user_data))
}

fn tpdu_user_data(tpdu: &Tpdu) -> Option<(String, Option<UserDataHeader>, usize)> {
    let (sender, ud) = match tpdu {
        Tpdu::Deliver(d) => (d.originator.to_string(), d.user_data().ok()?),
        Tpdu::Submit(s) => (s.destination.to_string(), s.user_data().ok()?),
    };
    Some((sender, ud.header.clone(), ud.payload.len()))
}

/// The user data of a unit already known to be a TPDU, borrowed from the unit itself.
fn reparse<'a>(unit: &'a [u8], segment: &Segment) -> Option<UserData<'a>> {
    let tpdu = segment.tpdu.as_ref()?;
    let (udhi, ud) = match tpdu {
        Tpdu::Deliver(d) => (d.udhi, &d.user_data),
        Tpdu::Submit(s) => (s.udhi, &s.user_data),
    };
    let start = unit.len().checked_sub(ud.len())?;
    UserData::decode(unit.get(start..)?, udhi).ok()
}

fn from_payload(segments: Vec<Segment>, payload: Vec<u8>) -> anyhow::Result<Decoded> {
    if let Some(message) = try_mms(&payload) {
        return Ok(Decoded { sms: Some(segments), push: None, mms: Some(message), note: None });
    }
    let push = Push::decode(&payload).map_err(|e| anyhow!("SMS payload is not a WSP push: {e}"))?;
    Ok(from_push(push, Some(segments)))
}

pub fn from_push(push: Push<'_>, sms: Option<Vec<Segment>>) -> Decoded {
    let push = Push { body: Cow::Owned(push.body.into_owned()), ..push };
    if !push.is_mms() {
        let note = Some(format!("push content is {}, not an MMS PDU", push.content_type.media_type));
        return Decoded { sms, push: Some(push), mms: None, note };
    }
    match Message::decode(&push.body) {
        Ok(message) => {
            let mms = Some(message.into_owned());
            Decoded { sms, push: Some(push), mms, note: None }
        }
        Err(e) => {
            let note = Some(format!("the pushed MMS PDU does not decode: {e}"));
            Decoded { sms, push: Some(push), mms: None, note }
        }
    }
}

/// Why a unit is none of the things we decode, naming each attempt's error.
fn explain(bytes: &[u8]) -> String {
    let mms = Message::decode(bytes).err().map_or_else(String::new, |e| e.to_string());
    let push = Push::decode(bytes).err().map_or_else(String::new, |e| e.to_string());
    let sms = UserData::decode(bytes, true)
        .err()
        .map_or_else(|| "no port or concatenation header".to_owned(), |e| e.to_string());
    format!("not an MMS PDU ({mms}); not a WSP push ({push}); not SMS user data or a TPDU ({sms})")
}
