//! The neutral message model: what every interface (MM1 handsets, MM4 peers, MM3 e-mail, MM7
//! content providers) says about a message, in one typed envelope, with the body kept by reference as it was
//! received. Interfaces map their wire form to and from it; the core routes, screens and stores
//! it. Plain data, serialisable so that the store can keep it whole without knowing any wire
//! format.

use serde::{Deserialize, Serialize};

/// Where a recipient goes, as routing decided it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "kebab-case")]
pub enum Destination {
    /// A subscriber of this relay: notified over the push bearers, retrieved over MM1.
    Local,
    /// Another operator's relay over MM4: the peer's name in `[[mm4.peers]]`.
    Mm4 { peer: String },
    /// An e-mail address, over MM3.
    Mm3,
    /// A content provider (VASP) over MM7 or EAIF: its name in `[[mm7.vasps]]`.
    Mm7 { vasp: String },
    /// Refused by a routing rule, with the status and text the rule gives.
    Reject { status: RejectStatus, text: String },
    /// No rule sends this kind of recipient anywhere.
    NoRoute { reason: String },
    /// Named in the message's To or Cc, but delivered by another relay (the one that sent the
    /// message here, which forwards each relay only its own recipients): listed, not delivered.
    Listed,
}

impl Destination {
    /// The name stored with the recipient.
    pub fn name(&self) -> String {
        match self {
            Destination::Local => "local".into(),
            Destination::Mm4 { peer } => format!("mm4:{peer}"),
            Destination::Mm3 => "mm3".into(),
            Destination::Mm7 { vasp } => format!("mm7:{vasp}"),
            Destination::Reject { .. } => "reject".into(),
            Destination::NoRoute { .. } => "no-route".into(),
            Destination::Listed => "listed".into(),
        }
    }
}

/// Why a routing rule refuses a recipient, as a neutral token: each interface answers it with its
/// own code (an MM1 Response-Status, an MM4 or MM7 status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectStatus {
    /// The operator does not serve this recipient for this sender.
    ServiceDenied,
    /// The address names no one this relay can reach.
    AddressUnresolved,
    /// A kind of recipient this relay does not handle.
    NotSupported,
}

impl RejectStatus {
    /// The token, as the configuration writes it.
    pub fn name(self) -> &'static str {
        match self {
            RejectStatus::ServiceDenied => "service-denied",
            RejectStatus::AddressUnresolved => "address-unresolved",
            RejectStatus::NotSupported => "not-supported",
        }
    }
}

/// To, Cc or Bcc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    To,
    Cc,
    Bcc,
}

/// One recipient as the sender addressed it, with where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// Canonical: `+E164`, `user@domain`, or a short code.
    pub address: String,
    pub field: Field,
    pub destination: Destination,
}

/// X-Mms-Message-Class, MM4's `X-Mms-Message-Class`, MM7's `MessageClass`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Personal,
    Advertisement,
    Informational,
    Auto,
    /// A class token no standard names, kept as given.
    Other(String),
}

impl Class {
    /// The class a text token names (MM4's and MM7's spelling, in any case).
    pub fn from_token(value: &str) -> Class {
        match value.to_ascii_lowercase().as_str() {
            "personal" => Class::Personal,
            "advertisement" => Class::Advertisement,
            "informational" => Class::Informational,
            "auto" => Class::Auto,
            _ => Class::Other(value.to_owned()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
}

/// The interface a message came in on, and what it needs to answer there later (reports go
/// back the way the message came).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "kebab-case")]
pub enum Origin {
    /// A handset of this relay.
    Mm1,
    /// Another operator's relay: its peer name and the MM4 Transaction-ID it gave.
    Mm4 { peer: String, transaction_id: String },
    /// An e-mail from outside.
    Mm3,
    /// A content provider (VASP) over MM7 or EAIF: its name in `[[mm7.vasps]]`, and what its
    /// request said of the service, for its reports and for charging.
    Mm7 {
        vasp: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vas_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service_code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        linked_id: Option<String>,
    },
}

/// How the stored body is written: the bytes are kept exactly as received, and the interface
/// that serves them in another form converts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BodyFormat {
    /// An MM1 body: the WSP Content-Type field, then the WSP multipart (or single entity).
    Wsp,
    /// A MIME entity: its header fields (Content-Type and the like), a blank line, the content.
    Mime,
}

/// Everything about a message but its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// This relay's Message-ID for it (or the originating relay's, for MM4).
    pub message_id: String,
    /// The originator, canonical.
    pub originator: String,
    pub recipients: Vec<Recipient>,
    pub subject: Option<String>,
    pub class: Option<Class>,
    pub priority: Option<Priority>,
    /// Unix seconds.
    pub date: i64,
    pub expires_at: i64,
    /// Earliest delivery (Unix seconds).
    pub deliver_after: i64,
    pub delivery_report: bool,
    pub read_report: bool,
    /// False when the sender asked to be hidden from the recipients.
    pub sender_visible: bool,
    /// The media type of the content (`application/vnd.wap.multipart.related`, `multipart/mixed`,
    /// `text/plain`...), as the interface that took the message read it: the WSP body's own from
    /// MM1, the mail's from MM4, the content a handset will be shown from MM3.
    pub content_type: String,
    /// For a forwarded message, who sent it first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_from: Option<String>,
    /// MMS 1.3 application addressing, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applic_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_applic_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux_applic_info: Option<String>,
    /// The content class the sender declared (OMA's names: `text`, `image-basic`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_class: Option<String>,
    /// Whether the sender marked the content as DRM-protected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drm: bool,
    /// Whether the originator asked that recipients not pass the message on (MM7's
    /// DistributionIndicator false): handsets are told so, and the relay forwards it for no one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_distribution: bool,
    pub origin: Origin,
}

impl Envelope {
    /// The recipients listed in `field`.
    pub fn listed(&self, field: Field) -> impl Iterator<Item = &Recipient> {
        self.recipients.iter().filter(move |r| r.field == field)
    }
}
