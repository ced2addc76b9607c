//! The one way in for a new message, whatever interface it came from: a neutral
//! [`Submission`] is checked (recipients named, within limits, each one well formed), its
//! recipients routed (by the caller, which may look numbers up in ENUM), then passed through
//! the policy stage ([`super::policy`]) and built into the [`NewMessage`] the store keeps.
//! Interfaces translate their wire form into a submission and a [`Refusal`] back into their
//! own status.

use std::net::IpAddr;

use bytes::Bytes;

use super::address::{self, Normalized};
use super::envelope::{BodyFormat, Class, Destination, Envelope, Field, Origin, Priority, Recipient};
use super::ids;
use super::model::{NewMessage, NewRecipient};
use super::policy::{self, Refusal, RefusalKind};
use super::settings::{DeliveryConfig, SubscribersConfig};
use super::state::RecipientState;

/// A time as an interface gives it: seconds from now, or a Unix time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Relative(u64),
    Absolute(u64),
}

/// A message as an interface received it, before routing.
#[derive(Debug, Clone)]
pub struct Submission {
    pub origin: Origin,
    /// The sender, already identified by the interface.
    pub originator: Normalized,
    /// Recipients as written on the wire, with the field each was listed in.
    pub recipients: Vec<(Field, String)>,
    /// Addresses the message lists in To or Cc that another relay delivers (an MM4 forward
    /// names every recipient but is sent to each relay for its own): kept for display only.
    pub listed: Vec<(Field, String)>,
    pub subject: Option<String>,
    pub class: Option<Class>,
    pub priority: Option<Priority>,
    pub expiry: Option<When>,
    pub delivery_time: Option<When>,
    pub delivery_report: bool,
    pub read_report: bool,
    pub sender_visible: bool,
    pub content_type: String,
    pub format: BodyFormat,
    /// The body exactly as received.
    pub body: Bytes,
    pub forwarded_from: Option<String>,
    pub applic_id: Option<String>,
    pub reply_applic_id: Option<String>,
    pub aux_applic_info: Option<String>,
    pub content_class: Option<String>,
    pub drm: bool,
    /// The originator does not allow recipients to pass it on.
    pub no_distribution: bool,
    /// The Message-ID the originating relay gave it (MM4); this relay makes one otherwise.
    pub message_id: Option<String>,
    /// The date the originator gave it, if any; the time of acceptance otherwise.
    pub date: Option<i64>,
    /// The network address it came from (the handsets' proxy, the peer's or the mail gateway's
    /// MTA, the content provider), for the protection policies that choose by it.
    pub client: Option<IpAddr>,
}

impl Submission {
    /// A message from `originator` with this body and no recipients yet, asking for nothing:
    /// no reports, no expiry or delivery time of its own, the sender shown.
    pub fn new(origin: Origin, originator: Normalized, content_type: String, format: BodyFormat, body: Bytes) -> Self {
        Submission {
            origin,
            originator,
            recipients: Vec::new(),
            listed: Vec::new(),
            subject: None,
            class: None,
            priority: None,
            expiry: None,
            delivery_time: None,
            delivery_report: false,
            read_report: false,
            sender_visible: true,
            content_type,
            format,
            body,
            forwarded_from: None,
            applic_id: None,
            reply_applic_id: None,
            aux_applic_info: None,
            content_class: None,
            drm: false,
            no_distribution: false,
            message_id: None,
            date: None,
            client: None,
        }
    }
}

/// What acceptance takes from the configuration: the numbering plan and the expiry limits.
#[derive(Debug, Clone, Copy)]
pub struct Acceptance<'a> {
    pub subscribers: &'a SubscribersConfig,
    pub delivery: &'a DeliveryConfig,
}

/// The recipients of `sub`, normalized and deduplicated, in their order; refused when there are
/// none, too many, or one is not an address.
pub fn addressed(sub: &Submission, cfg: Acceptance<'_>) -> Result<Vec<(Field, Normalized)>, Refusal> {
    let subs = cfg.subscribers;
    if sub.recipients.is_empty() {
        return Err(Refusal::new(RefusalKind::AddressUnresolved, "no recipient"));
    }
    if sub.recipients.len() > subs.max_recipients {
        return Err(Refusal::new(RefusalKind::ServiceDenied, format!("more than {} recipients", subs.max_recipients)));
    }
    let mut out: Vec<(Field, Normalized)> = Vec::with_capacity(sub.recipients.len());
    for (field, raw) in &sub.recipients {
        let n = address::normalize(raw, subs)
            .map_err(|e| Refusal::new(RefusalKind::AddressUnresolved, format!("recipient {e}")))?;
        if !out.iter().any(|(_, seen)| seen.canonical == n.canonical) {
            out.push((*field, n));
        }
    }
    Ok(out)
}

/// Builds the stored message from a submission whose recipients the caller routed, after the
/// policy stage took it.
pub fn message(
    sub: Submission,
    routed: Vec<(Field, Normalized, Destination)>,
    now: i64,
    cfg: Acceptance<'_>,
) -> Result<NewMessage, Refusal> {
    let expires_at = expiry(sub.expiry, now, cfg.delivery);
    let deliver_after = match sub.delivery_time {
        Some(When::Relative(s)) => now.saturating_add(clamp(s)),
        Some(When::Absolute(t)) => clamp(t).max(now),
        None => now,
    }
    .min(expires_at);
    let mut recipients: Vec<Recipient> = routed
        .into_iter()
        .map(|(field, n, destination)| Recipient { address: n.canonical, field, destination })
        .collect();
    for (field, raw) in &sub.listed {
        // A listed address this relay cannot read is shown to no one rather than refusing the
        // message for it: the relay that sent it delivers it.
        if let Ok(n) = address::normalize(raw, cfg.subscribers)
            && !recipients.iter().any(|r| r.address == n.canonical)
        {
            recipients.push(Recipient { address: n.canonical, field: *field, destination: Destination::Listed });
        }
    }
    let envelope = Envelope {
        message_id: sub.message_id.unwrap_or_else(|| ids::message_id(now)),
        originator: sub.originator.canonical,
        recipients,
        subject: sub.subject,
        class: sub.class,
        priority: sub.priority,
        date: sub.date.unwrap_or(now),
        expires_at,
        deliver_after,
        delivery_report: sub.delivery_report,
        read_report: sub.read_report,
        sender_visible: sub.sender_visible,
        content_type: sub.content_type,
        forwarded_from: sub.forwarded_from,
        applic_id: sub.applic_id,
        reply_applic_id: sub.reply_applic_id,
        aux_applic_info: sub.aux_applic_info,
        content_class: sub.content_class,
        drm: sub.drm,
        no_distribution: sub.no_distribution,
        origin: sub.origin,
    };
    let mut draft = NewMessage { recipients: Vec::new(), envelope, format: sub.format, body: sub.body };
    policy::stage(&mut draft)?;
    draft.recipients =
        draft.envelope.recipients.iter().filter(|r| r.destination != Destination::Listed).map(new_recipient).collect();
    Ok(draft)
}

/// What delivery needs of one recipient, by where it goes.
fn new_recipient(r: &Recipient) -> NewRecipient {
    let (state, status_text, local) = match &r.destination {
        Destination::Local => (RecipientState::Accepted, None, true),
        Destination::Mm4 { .. } | Destination::Mm3 | Destination::Mm7 { .. } => (RecipientState::Accepted, None, false),
        Destination::Reject { text, .. } => (RecipientState::Failed, Some(text.clone()), false),
        Destination::NoRoute { reason } => (RecipientState::NoRoute, Some(reason.clone()), false),
        // Left out by the caller: another relay delivers it.
        Destination::Listed => (RecipientState::NoRoute, None, false),
    };
    NewRecipient {
        address: r.address.clone(),
        destination: r.destination.name(),
        token: local.then(ids::token),
        transaction_id: local.then(ids::transaction_id),
        state,
        status_text,
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The expiry asked for, within the configured maximum; the default when none (or one already
/// past) is asked for.
fn expiry(asked: Option<When>, now: i64, cfg: &DeliveryConfig) -> i64 {
    let max = now.saturating_add(clamp(cfg.max_expiry_secs));
    let default = now.saturating_add(clamp(cfg.default_expiry_secs));
    match asked {
        Some(When::Relative(s)) if s > 0 => now.saturating_add(clamp(s)).min(max),
        Some(When::Absolute(t)) if clamp(t) > now => clamp(t).min(max),
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::core::envelope::RejectStatus;

    fn submission(to: &[&str]) -> Submission {
        let subs = SubscribersConfig::default();
        let sender = address::normalize("+15550000001", &subs).unwrap();
        let content_type = "application/vnd.wap.multipart.mixed".into();
        Submission {
            recipients: to.iter().map(|a| (Field::To, (*a).to_owned())).collect(),
            subject: Some("hi".into()),
            delivery_report: true,
            ..Submission::new(Origin::Mm1, sender, content_type, BodyFormat::Wsp, Bytes::from_static(&[0xA3, 0x00]))
        }
    }

    #[test]
    fn expiry_is_bounded_and_defaulted() {
        let cfg = DeliveryConfig::default();
        assert_eq!(expiry(None, 1000, &cfg), 1000 + 604_800);
        assert_eq!(expiry(Some(When::Relative(60)), 1000, &cfg), 1060);
        assert_eq!(expiry(Some(When::Relative(u64::MAX)), 1000, &cfg), 1000 + 1_209_600);
        assert_eq!(expiry(Some(When::Absolute(500)), 1000, &cfg), 1000 + 604_800);
        assert_eq!(expiry(Some(When::Absolute(2000)), 1000, &cfg), 2000);
    }

    #[test]
    fn recipients_are_normalized_deduplicated_and_bounded() {
        let (subscribers, delivery) = (SubscribersConfig::default(), DeliveryConfig::default());
        let cfg = Acceptance { subscribers: &subscribers, delivery: &delivery };
        let sub = submission(&["+15550000002/TYPE=PLMN", "friend@Example.NET", "05550000002"]);
        let got: Vec<_> = addressed(&sub, cfg).unwrap().into_iter().map(|(_, n)| n.canonical).collect();
        assert_eq!(got, ["+15550000002", "friend@example.net"]);
        assert_eq!(addressed(&submission(&[]), cfg).unwrap_err().kind, RefusalKind::AddressUnresolved);
        assert_eq!(addressed(&submission(&["nonsense!"]), cfg).unwrap_err().kind, RefusalKind::AddressUnresolved);
        let many: Vec<String> = (0..101).map(|i| format!("+1555000{i:04}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(addressed(&submission(&many), cfg).unwrap_err().kind, RefusalKind::ServiceDenied);
    }

    #[test]
    fn each_recipient_gets_its_destination_state() {
        let (subscribers, delivery) = (SubscribersConfig::default(), DeliveryConfig::default());
        let cfg = Acceptance { subscribers: &subscribers, delivery: &delivery };
        let sub = submission(&["+15550000002", "+4930123456", "a@example.net", "+4930999999"]);
        let mut routed: Vec<_> =
            addressed(&sub, cfg).unwrap().into_iter().map(|(f, n)| (f, n, Destination::Local)).collect();
        routed[1].2 = Destination::Mm4 { peer: "b".into() };
        routed[2].2 = Destination::Mm3;
        routed[3].2 = Destination::Reject { status: RejectStatus::ServiceDenied, text: "barred".into() };
        let m = message(sub, routed, 1000, cfg).unwrap();
        let got: Vec<_> = m
            .recipients
            .iter()
            .map(|r| (r.destination.as_str(), r.state, r.token.is_some(), r.status_text.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("local", RecipientState::Accepted, true, None),
                ("mm4:b", RecipientState::Accepted, false, None),
                ("mm3", RecipientState::Accepted, false, None),
                ("reject", RecipientState::Failed, false, Some("barred")),
            ]
        );
        assert_eq!(m.envelope.expires_at, 1000 + 604_800);
    }

    #[test]
    fn a_message_no_recipient_can_take_is_refused() {
        let (subscribers, delivery) = (SubscribersConfig::default(), DeliveryConfig::default());
        let cfg = Acceptance { subscribers: &subscribers, delivery: &delivery };
        let sub = submission(&["+4930123456"]);
        let routed = addressed(&sub, cfg)
            .unwrap()
            .into_iter()
            .map(|(f, n)| {
                let text = "no interconnect with +49".into();
                (f, n, Destination::Reject { status: RejectStatus::AddressUnresolved, text })
            })
            .collect();
        let refusal = message(sub, routed, 1000, cfg).unwrap_err();
        assert_eq!((refusal.kind, refusal.text.as_str()), (RefusalKind::AddressUnresolved, "no interconnect with +49"));
    }
}
