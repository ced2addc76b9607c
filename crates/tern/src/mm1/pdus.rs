//! The MM1 PDUs the relay writes from the neutral model: the notification each local recipient
//! gets, the m-retrieve.conf it fetches, the reports pushed to a local sender, and the mapping
//! of the envelope's values to MMS header values and back.

use tern_codec::mms::{
    self, Address, Body, DeliveryInd, Header, Message, MessageType, NotificationInd, PreviouslySentBy, ReadOrigInd,
    RetrieveConf, RetrieveStatus, Sender, Status, TimeValue, Version,
};
use tern_codec::wsp::EncodedString;

use crate::core::envelope::{Class, Envelope, Field, Priority};
use crate::core::report::{DeliveryStatus, ReadStatus, Report, ReportKind};

/// The version of the PDUs the relay starts: what handsets of every generation accept.
pub const VERSION: Version = Version::V1_2;

/// A canonical address as MMS header text: numbers get `/TYPE=PLMN`.
pub fn mms_address(canonical: &str) -> Address {
    if canonical.starts_with('+') { Address::new(format!("{canonical}/TYPE=PLMN")) } else { Address::new(canonical) }
}

pub fn class_to_mms(c: &Class) -> mms::MessageClass {
    match c {
        Class::Personal => mms::MessageClass::Personal,
        Class::Advertisement => mms::MessageClass::Advertisement,
        Class::Informational => mms::MessageClass::Informational,
        Class::Auto => mms::MessageClass::Auto,
        Class::Other(s) => mms::MessageClass::Other(s.clone()),
    }
}

pub fn class_from_mms(c: &mms::MessageClass) -> Class {
    match c {
        mms::MessageClass::Personal => Class::Personal,
        mms::MessageClass::Advertisement => Class::Advertisement,
        mms::MessageClass::Informational => Class::Informational,
        mms::MessageClass::Auto => Class::Auto,
        mms::MessageClass::Other(s) => Class::Other(s.clone()),
    }
}

pub fn priority_to_mms(p: Priority) -> mms::Priority {
    match p {
        Priority::Low => mms::Priority::LOW,
        Priority::Normal => mms::Priority::NORMAL,
        Priority::High => mms::Priority::HIGH,
    }
}

/// An unassigned priority octet reads as no priority.
pub fn priority_from_mms(p: mms::Priority) -> Option<Priority> {
    match p {
        mms::Priority::LOW => Some(Priority::Low),
        mms::Priority::NORMAL => Some(Priority::Normal),
        mms::Priority::HIGH => Some(Priority::High),
        _ => None,
    }
}

/// The envelope's content class as its MMS octet; a name MMS does not assign is left out.
fn content_class(env: &Envelope) -> Option<mms::ContentClass> {
    let name = env.content_class.as_deref()?;
    (0x80..=0xFF).map(mms::ContentClass).find(|c| c.name() == Some(name))
}

fn date(t: i64) -> Option<u64> {
    Some(u64::try_from(t).unwrap_or(0))
}

fn from(env: &Envelope) -> Option<Sender> {
    env.sender_visible.then(|| Sender::Address(mms_address(&env.originator)))
}

/// Starts a PDU: Message-Type, then the Transaction-ID, as the order rule asks.
fn start(kind: MessageType, transaction_id: &str, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity + transaction_id.len() + 4);
    out.extend_from_slice(&[0x8C, kind.0]);
    Header::TransactionId(transaction_id.to_owned()).encode(&mut out);
    out
}

/// The m-retrieve.conf header fields after the Transaction-ID.
fn retrieve_fields(env: &Envelope) -> Vec<u8> {
    let list = |field| env.listed(field).map(|r| mms_address(&r.address)).collect();
    let conf = RetrieveConf {
        mms_version: Some(VERSION),
        message_id: Some(env.message_id.clone()),
        from: from(env),
        to: list(Field::To),
        cc: list(Field::Cc),
        subject: env.subject.as_deref().map(EncodedString::auto),
        message_class: env.class.as_ref().map(class_to_mms),
        date: date(env.date),
        priority: env.priority.map(priority_to_mms),
        delivery_report: Some(env.delivery_report),
        read_report: Some(env.read_report),
        applic_id: env.applic_id.clone(),
        reply_applic_id: env.reply_applic_id.clone(),
        aux_applic_info: env.aux_applic_info.clone(),
        content_class: content_class(env),
        drm_content: env.drm.then_some(true),
        distribution_indicator: env.no_distribution.then_some(false),
        previously_sent_by: env
            .forwarded_from
            .iter()
            .map(|f| PreviouslySentBy { forwarded_count: 1, address: mms_address(f) })
            .collect(),
        ..RetrieveConf::default()
    };
    Message::new(conf).encode().split_off(2)
}

/// At least as many octets as the m-retrieve.conf's own fields take, and not many more: each
/// field's value with room for its header octet, lengths and terminator. A notification tells
/// the handset the size it will fetch; writing those fields for every notification to count
/// them exactly would cost more than the rest of the notification.
fn fields_size(env: &Envelope) -> u64 {
    // Message-Type, MMS-Version, Date, the report flags, Message-Class, Priority, Content-Class
    // and DRM-Content.
    const FIXED: usize = 24;
    // A header octet, a value length, an address-type token, `/TYPE=PLMN` and a terminator.
    let address = |a: &str| a.len() + 14;
    let text = |t: &Option<String>| t.as_ref().map_or(0, |t| t.len() + 6);
    let listed: usize = env.recipients.iter().filter(|r| r.field != Field::Bcc).map(|r| address(&r.address)).sum();
    let from = if env.sender_visible { address(&env.originator) } else { 0 };
    let forwarded = env.forwarded_from.as_deref().map_or(0, |f| address(f) + 4);
    let total = FIXED
        + env.message_id.len()
        + 2
        + from
        + listed
        + text(&env.subject)
        + text(&env.applic_id)
        + text(&env.reply_applic_id)
        + text(&env.aux_applic_info)
        + forwarded
        + if env.no_distribution { 2 } else { 0 }
        + env.class.as_ref().map_or(0, |c| match c {
            Class::Other(token) => token.len() + 2,
            _ => 0,
        });
    total as u64
}

/// The m-retrieve.conf a recipient fetches: its Transaction-ID, the envelope's fields and the
/// body in its MM1 form (the WSP Content-Type field and multipart).
pub fn retrieve_conf(env: &Envelope, transaction_id: &str, body: &[u8]) -> Vec<u8> {
    let mut out = retrieve_conf_head(env, transaction_id, body.len());
    out.extend_from_slice(body);
    out
}

/// The m-retrieve.conf's own fields, which the stored body follows on the wire: what a
/// retrieval sends first, before the body as it was read (room is kept for a body of
/// `body_len` octets, for a caller that appends it).
pub fn retrieve_conf_head(env: &Envelope, transaction_id: &str, body_len: usize) -> Vec<u8> {
    let fields = retrieve_fields(env);
    let mut out = start(MessageType::RETRIEVE_CONF, transaction_id, fields.len() + body_len);
    out.extend_from_slice(&fields);
    out
}

/// The m-notification.ind for one recipient, its expiry relative to `now`. A compact one leaves
/// out what the handset shows only after retrieval anyway (From, Subject), so that it fits one
/// SMS more often.
pub fn notification(env: &Envelope, size: u64, transaction_id: &str, url: &str, now: i64, compact: bool) -> Vec<u8> {
    // What the handset will fetch: the body and the retrieve-conf's own fields.
    let size = size + fields_size(env) + transaction_id.len() as u64 + 4;
    let ind = NotificationInd {
        mms_version: Some(VERSION),
        from: if compact { None } else { from(env) },
        subject: if compact { None } else { env.subject.as_deref().map(EncodedString::auto) },
        delivery_report: env.delivery_report.then_some(true),
        message_class: Some(env.class.as_ref().map_or(mms::MessageClass::Personal, class_to_mms)),
        priority: env.priority.map(priority_to_mms),
        message_size: Some(size),
        applic_id: env.applic_id.clone(),
        reply_applic_id: env.reply_applic_id.clone(),
        aux_applic_info: env.aux_applic_info.clone(),
        content_class: content_class(env),
        drm_content: env.drm.then_some(true),
        distribution_indicator: env.no_distribution.then_some(false),
        ..NotificationInd::default()
    };
    let fields = Message::new(ind).encode().split_off(2);
    let mut out = start(MessageType::NOTIFICATION_IND, transaction_id, fields.len() + url.len() + 16);
    out.extend_from_slice(&fields);
    let left = u64::try_from(env.expires_at.saturating_sub(now)).unwrap_or(0).max(1);
    Header::Expiry(TimeValue::Relative(left)).encode(&mut out);
    Header::ContentLocation(url.to_owned()).encode(&mut out);
    out
}

/// An m-retrieve.conf that carries only an error (no message): what a bad token gets.
pub fn retrieve_error(status: RetrieveStatus, text: &str, now: i64) -> Vec<u8> {
    let conf = RetrieveConf {
        mms_version: Some(VERSION),
        date: date(now),
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

pub fn delivery_status(s: DeliveryStatus) -> Status {
    match s {
        DeliveryStatus::Retrieved => Status::RETRIEVED,
        DeliveryStatus::Rejected => Status::REJECTED,
        DeliveryStatus::Deferred => Status::DEFERRED,
        DeliveryStatus::Expired => Status::EXPIRED,
        DeliveryStatus::Unrecognised => Status::UNRECOGNISED,
        DeliveryStatus::Forwarded => Status::FORWARDED,
        DeliveryStatus::Indeterminate => Status::INDETERMINATE,
        DeliveryStatus::Unreachable => Status::UNREACHABLE,
    }
}

/// A report for a local sender, as the PDU pushed to its handset: m-delivery.ind or
/// m-read-orig.ind.
pub fn report(r: &Report) -> Vec<u8> {
    match r.kind {
        ReportKind::Delivery(status) => Message::new(DeliveryInd {
            mms_version: Some(VERSION),
            message_id: Some(r.message_id.clone()),
            to: vec![mms_address(&r.about)],
            date: date(r.date),
            status: Some(delivery_status(status)),
            ..DeliveryInd::default()
        })
        .encode(),
        ReportKind::Read(status) => Message::new(ReadOrigInd {
            mms_version: Some(VERSION),
            message_id: Some(r.message_id.clone()),
            to: vec![mms_address(&r.to)],
            from: Some(Sender::Address(mms_address(&r.about))),
            date: date(r.date),
            read_status: Some(match status {
                ReadStatus::Read => mms::ReadStatus::READ,
                ReadStatus::DeletedUnread => mms::ReadStatus::DELETED_WITHOUT_BEING_READ,
            }),
            ..ReadOrigInd::default()
        })
        .encode(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::core::envelope::{Destination, Origin, Recipient};
    use tern_codec::mms::Pdu;

    fn envelope() -> Envelope {
        let r = |a: &str, field| Recipient { address: a.into(), field, destination: Destination::Local };
        Envelope {
            message_id: "m1".into(),
            originator: "+15550000001".into(),
            recipients: vec![
                r("+15550000002", Field::To),
                r("+4930123456", Field::To),
                r("friend@example.net", Field::Cc),
                r("+15550000003", Field::Bcc),
            ],
            subject: Some("Photo from the beach".into()),
            class: Some(Class::Personal),
            priority: None,
            date: 1000,
            expires_at: 1060,
            deliver_after: 1000,
            delivery_report: true,
            read_report: false,
            sender_visible: true,
            content_type: "application/vnd.wap.multipart.related".into(),
            forwarded_from: None,
            applic_id: None,
            reply_applic_id: None,
            aux_applic_info: None,
            content_class: Some("image-basic".into()),
            drm: false,
            no_distribution: false,
            origin: Origin::Mm1,
        }
    }

    #[test]
    fn retrieve_conf_lists_to_and_cc_but_never_bcc() {
        let body = {
            let b = Body {
                content_type: tern_codec::wsp::ContentType::new("text/plain"),
                data: tern_codec::mms::BodyData::Single(b"hello"[..].into()),
            };
            let mut out = Vec::new();
            b.encode(&mut out);
            out
        };
        let conf = retrieve_conf(&envelope(), "tx", &body);
        let decoded = Message::decode(&conf).unwrap();
        let Pdu::RetrieveConf(RetrieveConf { to, cc, from, transaction_id, subject, .. }) = &decoded.pdu else {
            panic!()
        };
        assert_eq!(transaction_id.as_deref(), Some("tx"));
        let to: Vec<_> = to.iter().map(|a| a.text().to_owned()).collect();
        assert_eq!(to, ["+15550000002/TYPE=PLMN", "+4930123456/TYPE=PLMN"]);
        assert_eq!(cc.iter().map(|a| a.text()).collect::<Vec<_>>(), ["friend@example.net"]);
        assert_eq!(from.as_ref().map(|f| f.to_string()).as_deref(), Some("+15550000001/TYPE=PLMN"));
        assert_eq!(subject.as_ref().map(|s| s.text.as_str()), Some("Photo from the beach"));
        let Pdu::RetrieveConf(RetrieveConf { content_class, .. }) = &decoded.pdu else { panic!() };
        assert_eq!(*content_class, Some(mms::ContentClass::IMAGE_BASIC), "the declared content class is passed on");

        let n = notification(&envelope(), body.len() as u64, "tx", "http://h/m/x", 1000, false);
        let Pdu::NotificationInd(n) = Message::decode(&n).unwrap().pdu else { panic!() };
        assert_eq!(n.expiry, Some(TimeValue::Relative(60)));
        assert_eq!(n.content_location.as_deref(), Some("http://h/m/x"));
        let size = n.message_size.unwrap();
        assert!(size >= conf.len() as u64 && size < conf.len() as u64 + 64, "{size} for {}", conf.len());
    }

    #[test]
    fn the_announced_size_covers_the_retrieve_conf_and_little_more() {
        let variants = [
            envelope(),
            Envelope { subject: Some("Grüße aus Köln, ünd viel mehr Text".into()), ..envelope() },
            Envelope {
                sender_visible: false,
                class: Some(Class::Other("x-custom-class".into())),
                applic_id: Some("com.example.app".into()),
                reply_applic_id: Some("com.example.reply".into()),
                forwarded_from: Some("+15550000009".into()),
                priority: Some(Priority::High),
                ..envelope()
            },
            Envelope { subject: None, recipients: envelope().recipients[..1].to_vec(), ..envelope() },
        ];
        for env in variants {
            let conf = retrieve_conf(&env, "tx", &[]);
            let n = notification(&env, 0, "tx", "http://h/m/x", 1000, false);
            let Pdu::NotificationInd(n) = Message::decode(&n).unwrap().pdu else { panic!() };
            let size = n.message_size.unwrap();
            assert!(size >= conf.len() as u64 && size < conf.len() as u64 + 64, "{size} for {}: {env:?}", conf.len());
        }
    }

    /// Octets of the WSP push carrying the notification of a typical message: (full, compact).
    fn notification_push_sizes(base: &str) -> (usize, usize) {
        let env = Envelope { recipients: envelope().recipients[..1].to_vec(), expires_at: 604_800, ..envelope() };
        let url = format!("{base}/m/{}", crate::core::ids::token());
        let size = |compact| {
            let pdu = notification(&env, 3, &crate::core::ids::transaction_id(), &url, 0, compact);
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
    fn reports_carry_the_status_and_addresses() {
        let r = Report {
            message_id: "m1".into(),
            about: "+15550000002".into(),
            to: "+15550000001".into(),
            kind: ReportKind::Delivery(DeliveryStatus::Retrieved),
            date: 5,
        };
        let Pdu::DeliveryInd(d) = Message::decode(&report(&r)).unwrap().pdu else { panic!() };
        assert_eq!((d.status, d.message_id.as_deref()), (Some(Status::RETRIEVED), Some("m1")));
        assert_eq!(d.to[0].text(), "+15550000002/TYPE=PLMN");
        let read = Report { kind: ReportKind::Read(ReadStatus::Read), ..r };
        let Pdu::ReadOrigInd(o) = Message::decode(&report(&read)).unwrap().pdu else { panic!() };
        assert_eq!(o.read_status, Some(mms::ReadStatus::READ));
        assert_eq!(o.to[0].text(), "+15550000001/TYPE=PLMN");
    }
}
