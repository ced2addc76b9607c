//! What the relay stores for a submission and the PDUs it builds from that later: the
//! notification each recipient gets, the retrieve-conf it fetches, and the reports that go
//! back to the sender. Fields shared by every recipient are encoded once, at acceptance.

use tern_codec::mms::{
    Address, Body, DeliveryInd, Header, Message, MessageType, NotificationInd, PreviouslySentBy, ReadOrigInd,
    ReadStatus, RetrieveConf, RetrieveStatus, SendReq, Sender, SenderVisibility, Status, TimeValue, Version,
};
use tern_codec::wsp::EncodedString;

use super::address::{self, AddressError, Normalized, Route};
use super::ids;
use super::model::{Delivery, NewMessage, NewRecipient};
use super::settings::{DeliveryConfig, RetrievalConfig, SubscribersConfig};
use super::state::RecipientState;

/// The version of the PDUs the relay starts: what handsets of every generation accept.
pub const VERSION: Version = Version::V1_2;

/// Whether a recipient's copy no longer leaves the relay: it confirmed having it more than
/// `after_ack_secs` ago.
pub fn retrieval_closed(d: &Delivery, now: i64, cfg: &RetrievalConfig) -> bool {
    let keep = i64::try_from(cfg.after_ack_secs).unwrap_or(i64::MAX);
    d.acked_at.is_some_and(|at| now.saturating_sub(at) > keep)
}

/// What acceptance takes from the configuration: the numbering plan, the expiry limits, and
/// whether notifications are compact (`push.compact`).
#[derive(Debug, Clone, Copy)]
pub struct Acceptance<'a> {
    pub subscribers: &'a SubscribersConfig,
    pub delivery: &'a DeliveryConfig,
    pub compact: bool,
}

/// Why a submission cannot be accepted as it is.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("no recipient")]
    NoRecipients,
    #[error("more than {0} recipients")]
    TooManyRecipients(usize),
    #[error("recipient {0}")]
    BadRecipient(#[source] AddressError),
}

/// Builds the stored form of a submission from `sender` (already identified) and the encoded
/// Content-Type field and body. A forwarded message names who sent it first.
pub fn message(
    req: &SendReq,
    body: Vec<u8>,
    sender: &Normalized,
    forwarded_from: Option<&Normalized>,
    now: i64,
    cfg: Acceptance<'_>,
) -> Result<NewMessage, SubmitError> {
    let (subs, delivery, compact) = (cfg.subscribers, cfg.delivery, cfg.compact);
    let listed = req.to.len() + req.cc.len() + req.bcc.len();
    if listed == 0 {
        return Err(SubmitError::NoRecipients);
    }
    if listed > subs.max_recipients {
        return Err(SubmitError::TooManyRecipients(subs.max_recipients));
    }
    let normalize = |a: &Address| address::normalize(a.text(), subs).map_err(SubmitError::BadRecipient);
    let to = req.to.iter().map(normalize).collect::<Result<Vec<_>, _>>()?;
    let cc = req.cc.iter().map(normalize).collect::<Result<Vec<_>, _>>()?;
    let bcc = req.bcc.iter().map(normalize).collect::<Result<Vec<_>, _>>()?;

    let expires_at = expiry(req.expiry, now, delivery);
    let deliver_after = match req.delivery_time {
        Some(TimeValue::Relative(s)) => now.saturating_add(clamp(s)),
        Some(TimeValue::Absolute(t)) => clamp(t).max(now),
        None => now,
    }
    .min(expires_at);

    let message_id = ids::message_id(now);
    let hidden = req.sender_visibility == Some(SenderVisibility::HIDE);
    let from = (!hidden).then(|| Sender::Address(Address::new(address::to_mms(sender))));
    let encoded_body = body;

    let retrieve = RetrieveConf {
        mms_version: Some(VERSION),
        message_id: Some(message_id.clone()),
        from: from.clone(),
        to: to.iter().map(|n| Address::new(address::to_mms(n))).collect(),
        cc: cc.iter().map(|n| Address::new(address::to_mms(n))).collect(),
        subject: req.subject.clone(),
        message_class: req.message_class.clone(),
        date: Some(u64::try_from(now).unwrap_or(0)),
        priority: req.priority,
        delivery_report: req.delivery_report,
        read_report: req.read_report,
        content_class: req.content_class,
        drm_content: req.drm_content,
        applic_id: req.applic_id.clone(),
        reply_applic_id: req.reply_applic_id.clone(),
        aux_applic_info: req.aux_applic_info.clone(),
        previously_sent_by: forwarded_from
            .map(|f| PreviouslySentBy { forwarded_count: 1, address: Address::new(address::to_mms(f)) })
            .into_iter()
            .collect(),
        ..RetrieveConf::default()
    };
    let retrieve = fields(&Message::new(retrieve));
    let size = encoded_body.len() + retrieve.len() + 40;
    // A compact notification leaves out what the handset shows only after retrieval anyway, so
    // that it fits one SMS more often.
    let notification = NotificationInd {
        mms_version: Some(VERSION),
        from: if compact { None } else { from },
        subject: if compact { None } else { req.subject.clone() },
        delivery_report: req.delivery_report,
        message_class: Some(req.message_class.clone().unwrap_or(tern_codec::mms::MessageClass::Personal)),
        priority: req.priority,
        message_size: Some(size as u64),
        content_class: req.content_class,
        drm_content: req.drm_content,
        applic_id: req.applic_id.clone(),
        reply_applic_id: req.reply_applic_id.clone(),
        aux_applic_info: req.aux_applic_info.clone(),
        ..NotificationInd::default()
    };

    let mut recipients: Vec<NewRecipient> = Vec::with_capacity(listed);
    for n in to.into_iter().chain(cc).chain(bcc) {
        if recipients.iter().any(|r| r.address == n.canonical) {
            continue;
        }
        let local = n.route == Route::Local;
        recipients.push(NewRecipient {
            token: local.then(ids::token),
            transaction_id: local.then(ids::transaction_id),
            state: if local { RecipientState::Accepted } else { RecipientState::NoRoute },
            status_text: (!local).then(|| format!("no route configured for {} recipients", n.route)),
            route: n.route.to_string(),
            address: n.canonical,
        });
    }
    Ok(NewMessage {
        message_id,
        sender: sender.canonical.clone(),
        date: now,
        expires_at,
        deliver_after,
        delivery_report: req.delivery_report == Some(true),
        read_report: req.read_report == Some(true),
        notification: fields(&Message::new(notification)),
        retrieve,
        body: encoded_body,
        recipients,
    })
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The expiry asked for, within the configured maximum; the default when none (or one already
/// past) is asked for.
fn expiry(asked: Option<TimeValue>, now: i64, cfg: &DeliveryConfig) -> i64 {
    let max = now.saturating_add(clamp(cfg.max_expiry_secs));
    let default = now.saturating_add(clamp(cfg.default_expiry_secs));
    match asked {
        Some(TimeValue::Relative(s)) if s > 0 => now.saturating_add(clamp(s)).min(max),
        Some(TimeValue::Absolute(t)) if clamp(t) > now => clamp(t).min(max),
        _ => default,
    }
}

/// A PDU's fields after the Message-Type, to be put behind a type and Transaction-ID later.
fn fields(m: &Message<'_>) -> Vec<u8> {
    m.encode().split_off(2)
}

/// Starts a PDU: Message-Type, then the Transaction-ID, as the order rule asks.
fn start(kind: MessageType, transaction_id: &str, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity + transaction_id.len() + 4);
    out.extend_from_slice(&[0x8C, kind.0]);
    Header::TransactionId(transaction_id.to_owned()).encode(&mut out);
    out
}

/// The m-notification.ind for one recipient, its expiry relative to `now`.
pub fn notification(template: &[u8], transaction_id: &str, url: &str, expires_at: i64, now: i64) -> Vec<u8> {
    let mut out = start(MessageType::NOTIFICATION_IND, transaction_id, template.len() + url.len() + 16);
    out.extend_from_slice(template);
    let left = u64::try_from(expires_at.saturating_sub(now)).unwrap_or(0).max(1);
    Header::Expiry(TimeValue::Relative(left)).encode(&mut out);
    Header::ContentLocation(url.to_owned()).encode(&mut out);
    out
}

/// The m-retrieve.conf a recipient fetches: its Transaction-ID, the shared fields, the body.
pub fn retrieve_conf(transaction_id: &str, fields: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = start(MessageType::RETRIEVE_CONF, transaction_id, fields.len() + body.len());
    out.extend_from_slice(fields);
    out.extend_from_slice(body);
    out
}

/// An m-retrieve.conf that carries only an error (no message): what a bad token gets.
pub fn retrieve_error(status: RetrieveStatus, text: &str, now: i64) -> Vec<u8> {
    let conf = RetrieveConf {
        mms_version: Some(VERSION),
        date: Some(u64::try_from(now).unwrap_or(0)),
        retrieve_status: Some(status),
        retrieve_text: Some(EncodedString::auto(text)),
        ..RetrieveConf::default()
    };
    let body = Body {
        content_type: tern_codec::wsp::ContentType::new("text/plain").with_charset(tern_codec::wsp::Charset::UTF_8),
        data: tern_codec::mms::BodyData::Single(text.as_bytes().into()),
    };
    Message::with_body(conf, body).encode()
}

/// The m-delivery.ind that tells the sender what became of the message for `recipient`.
pub fn delivery_report(message_id: &str, recipient: &Normalized, status: Status, now: i64) -> Vec<u8> {
    Message::new(DeliveryInd {
        mms_version: Some(VERSION),
        message_id: Some(message_id.to_owned()),
        to: vec![Address::new(address::to_mms(recipient))],
        date: Some(u64::try_from(now).unwrap_or(0)),
        status: Some(status),
        ..DeliveryInd::default()
    })
    .encode()
}

/// The m-read-orig.ind that passes a recipient's read report on to the sender.
pub fn read_report(message_id: &str, sender: &Normalized, reader: &Normalized, read: ReadStatus, now: i64) -> Vec<u8> {
    Message::new(ReadOrigInd {
        mms_version: Some(VERSION),
        message_id: Some(message_id.to_owned()),
        to: vec![Address::new(address::to_mms(sender))],
        from: Some(Sender::Address(Address::new(address::to_mms(reader)))),
        date: Some(u64::try_from(now).unwrap_or(0)),
        read_status: Some(read),
        ..ReadOrigInd::default()
    })
    .encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_codec::mms::{Pdu, RetrieveConf};

    fn subs() -> SubscribersConfig {
        SubscribersConfig::default()
    }

    /// Octets of the WSP push carrying the notification of a typical message: (full, compact).
    fn notification_push_sizes(base: &str) -> (usize, usize) {
        let req = SendReq {
            to: vec![Address::phone("+15550100002")],
            subject: Some(EncodedString::auto("Photo from the beach")),
            message_class: Some(tern_codec::mms::MessageClass::Personal),
            delivery_report: Some(true),
            ..SendReq::default()
        };
        let sender = address::normalize("+15550100001", &subs()).unwrap();
        let body = vec![0x84, 0xA3, 0x00];
        let url = format!("{base}/m/{}", ids::token());
        let size = |compact| {
            let (subscribers, delivery) = (subs(), DeliveryConfig::default());
            let cfg = Acceptance { subscribers: &subscribers, delivery: &delivery, compact };
            let m = message(&req, body.clone(), &sender, None, 0, cfg).unwrap();
            let pdu = notification(&m.notification, &ids::transaction_id(), &url, 604_800, 0);
            tern_codec::push::Push::mms(0, pdu).encode().len()
        };
        (size(false), size(true))
    }

    #[test]
    fn compact_notifications_with_a_short_alias_fit_one_sms() {
        // One SMS carries 133 octets of push after the 7-octet port header.
        let (full, compact) = notification_push_sizes("http://127.0.0.1:8002");
        assert!(full > 133, "a full notification needs two SMS: {full}");
        let (_, short) = notification_push_sizes("http://mms");
        assert!(compact < full && short <= 133, "full {full}, compact {compact}, compact with alias {short}");
    }

    #[test]
    fn expiry_is_bounded_and_defaulted() {
        let cfg = DeliveryConfig::default();
        assert_eq!(expiry(None, 1000, &cfg), 1000 + 604_800);
        assert_eq!(expiry(Some(TimeValue::Relative(60)), 1000, &cfg), 1060);
        assert_eq!(expiry(Some(TimeValue::Relative(u64::MAX)), 1000, &cfg), 1000 + 1_209_600);
        assert_eq!(expiry(Some(TimeValue::Absolute(500)), 1000, &cfg), 1000 + 604_800);
        assert_eq!(expiry(Some(TimeValue::Absolute(2000)), 1000, &cfg), 2000);
    }

    #[test]
    fn message_keeps_the_group_and_routes_each_recipient() {
        let req = SendReq {
            transaction_id: Some("t1".into()),
            to: vec![Address::new("+15550000002/TYPE=PLMN"), Address::new("+4930123456/TYPE=PLMN")],
            cc: vec![Address::new("friend@example.net"), Address::new("+15550000002/TYPE=PLMN")],
            subject: Some(EncodedString::auto("hi")),
            ..SendReq::default()
        };
        let body = Body {
            content_type: tern_codec::wsp::ContentType::new("text/plain"),
            data: tern_codec::mms::BodyData::Single(b"hello"[..].into()),
        };
        let sender = address::normalize("+15550000001", &subs()).unwrap();
        let mut encoded = Vec::new();
        body.encode(&mut encoded);
        let (subscribers, delivery) = (subs(), DeliveryConfig::default());
        let cfg = Acceptance { subscribers: &subscribers, delivery: &delivery, compact: false };
        let m = message(&req, encoded, &sender, None, 1000, cfg).unwrap();
        let states: Vec<_> = m.recipients.iter().map(|r| (r.address.as_str(), r.state, r.token.is_some())).collect();
        assert_eq!(
            states,
            [
                ("+15550000002", RecipientState::Accepted, true),
                ("+4930123456", RecipientState::NoRoute, false),
                ("friend@example.net", RecipientState::NoRoute, false),
            ]
        );
        assert_eq!(m.recipients[1].status_text.as_deref(), Some("no route configured for remote-plmn recipients"));
        let conf = retrieve_conf("tx", &m.retrieve, &m.body);
        let decoded = Message::decode(&conf).unwrap();
        let Pdu::RetrieveConf(RetrieveConf { to, cc, from, transaction_id, .. }) = &decoded.pdu else { panic!() };
        assert_eq!(transaction_id.as_deref(), Some("tx"));
        assert_eq!(to.len(), 2, "the whole To list");
        assert_eq!(cc.len(), 2, "the whole Cc list");
        assert_eq!(from.as_ref().map(|f| f.to_string()).as_deref(), Some("+15550000001/TYPE=PLMN"));
        let n = notification(&m.notification, "tx", "http://h/m/x", 1060, 1000);
        let Pdu::NotificationInd(n) = Message::decode(&n).unwrap().pdu else { panic!() };
        assert_eq!(n.expiry, Some(TimeValue::Relative(60)));
        assert_eq!(n.content_location.as_deref(), Some("http://h/m/x"));
        let size = n.message_size.unwrap();
        assert!(size >= conf.len() as u64 && size < conf.len() as u64 + 64, "{size} for {}", conf.len());
    }
}
