//! Typed values of MMS header fields (OMA-MMS-ENC §7.3): the octet enumerations, the version,
//! time values, From, Message-Class and the structured 1.1/1.2 values.

use super::address::Address;
use crate::wsp::{EncodedString, Params};

/// An enumeration sent as one octet. Unknown octets are kept, so nothing is lost in a round trip.
pub trait Octet: Copy {
    fn from_octet(octet: u8) -> Self;
    fn octet(self) -> u8;
}

macro_rules! octet_enum {
    ($(#[$doc:meta])* $Name:ident { $($Const:ident = $v:literal => $label:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $Name(pub u8);

        impl $Name {
            $(pub const $Const: $Name = $Name($v);)*

            /// The spec's name for the value, if it is one the spec assigns.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some($label),)*
                    _ => None,
                }
            }
        }

        impl Octet for $Name {
            fn from_octet(octet: u8) -> Self {
                $Name(octet)
            }
            fn octet(self) -> u8 {
                self.0
            }
        }

        impl std::fmt::Display for $Name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "{:#04x}", self.0),
                }
            }
        }
    };
}

octet_enum! {
    /// X-Mms-Message-Type (§7.3.30).
    MessageType {
        SEND_REQ = 0x80 => "m-send-req",
        SEND_CONF = 0x81 => "m-send-conf",
        NOTIFICATION_IND = 0x82 => "m-notification-ind",
        NOTIFYRESP_IND = 0x83 => "m-notifyresp-ind",
        RETRIEVE_CONF = 0x84 => "m-retrieve-conf",
        ACKNOWLEDGE_IND = 0x85 => "m-acknowledge-ind",
        DELIVERY_IND = 0x86 => "m-delivery-ind",
        READ_REC_IND = 0x87 => "m-read-rec-ind",
        READ_ORIG_IND = 0x88 => "m-read-orig-ind",
        FORWARD_REQ = 0x89 => "m-forward-req",
        FORWARD_CONF = 0x8A => "m-forward-conf",
        MBOX_STORE_REQ = 0x8B => "m-mbox-store-req",
        MBOX_STORE_CONF = 0x8C => "m-mbox-store-conf",
        MBOX_VIEW_REQ = 0x8D => "m-mbox-view-req",
        MBOX_VIEW_CONF = 0x8E => "m-mbox-view-conf",
        MBOX_UPLOAD_REQ = 0x8F => "m-mbox-upload-req",
        MBOX_UPLOAD_CONF = 0x90 => "m-mbox-upload-conf",
        MBOX_DELETE_REQ = 0x91 => "m-mbox-delete-req",
        MBOX_DELETE_CONF = 0x92 => "m-mbox-delete-conf",
        MBOX_DESCR = 0x93 => "m-mbox-descr",
        DELETE_REQ = 0x94 => "m-delete-req",
        DELETE_CONF = 0x95 => "m-delete-conf",
        CANCEL_REQ = 0x96 => "m-cancel-req",
        CANCEL_CONF = 0x97 => "m-cancel-conf",
    }
}

octet_enum! {
    /// X-Mms-Response-Status (§7.3.48). 0xC0..=0xDF are transient, 0xE0..=0xFF permanent.
    ResponseStatus {
        OK = 0x80 => "ok",
        UNSPECIFIED = 0x81 => "error-unspecified",
        SERVICE_DENIED = 0x82 => "error-service-denied",
        MESSAGE_FORMAT_CORRUPT = 0x83 => "error-message-format-corrupt",
        SENDING_ADDRESS_UNRESOLVED = 0x84 => "error-sending-address-unresolved",
        MESSAGE_NOT_FOUND = 0x85 => "error-message-not-found",
        NETWORK_PROBLEM = 0x86 => "error-network-problem",
        CONTENT_NOT_ACCEPTED = 0x87 => "error-content-not-accepted",
        UNSUPPORTED_MESSAGE = 0x88 => "error-unsupported-message",
        TRANSIENT_FAILURE = 0xC0 => "error-transient-failure",
        TRANSIENT_SENDING_ADDRESS_UNRESOLVED = 0xC1 => "error-transient-sending-address-unresolved",
        TRANSIENT_MESSAGE_NOT_FOUND = 0xC2 => "error-transient-message-not-found",
        TRANSIENT_NETWORK_PROBLEM = 0xC3 => "error-transient-network-problem",
        TRANSIENT_PARTIAL_SUCCESS = 0xC4 => "error-transient-partial-success",
        PERMANENT_FAILURE = 0xE0 => "error-permanent-failure",
        PERMANENT_SERVICE_DENIED = 0xE1 => "error-permanent-service-denied",
        PERMANENT_MESSAGE_FORMAT_CORRUPT = 0xE2 => "error-permanent-message-format-corrupt",
        PERMANENT_SENDING_ADDRESS_UNRESOLVED = 0xE3 => "error-permanent-sending-address-unresolved",
        PERMANENT_MESSAGE_NOT_FOUND = 0xE4 => "error-permanent-message-not-found",
        PERMANENT_CONTENT_NOT_ACCEPTED = 0xE5 => "error-permanent-content-not-accepted",
        PERMANENT_REPLY_CHARGING_LIMITATIONS_NOT_MET = 0xE6 => "error-permanent-reply-charging-limitations-not-met",
        PERMANENT_REPLY_CHARGING_REQUEST_NOT_ACCEPTED = 0xE7 => "error-permanent-reply-charging-request-not-accepted",
        PERMANENT_REPLY_CHARGING_FORWARDING_DENIED = 0xE8 => "error-permanent-reply-charging-forwarding-denied",
        PERMANENT_REPLY_CHARGING_NOT_SUPPORTED = 0xE9 => "error-permanent-reply-charging-not-supported",
        PERMANENT_ADDRESS_HIDING_NOT_SUPPORTED = 0xEA => "error-permanent-address-hiding-not-supported",
        PERMANENT_LACK_OF_PREPAID = 0xEB => "error-permanent-lack-of-prepaid",
    }
}

impl ResponseStatus {
    pub fn is_transient(self) -> bool {
        (0xC0..=0xDF).contains(&self.0)
    }
}

octet_enum! {
    /// X-Mms-Retrieve-Status (§7.3.50); numbered differently from Response-Status.
    RetrieveStatus {
        OK = 0x80 => "ok",
        TRANSIENT_FAILURE = 0xC0 => "error-transient-failure",
        TRANSIENT_MESSAGE_NOT_FOUND = 0xC1 => "error-transient-message-not-found",
        TRANSIENT_NETWORK_PROBLEM = 0xC2 => "error-transient-network-problem",
        PERMANENT_FAILURE = 0xE0 => "error-permanent-failure",
        PERMANENT_SERVICE_DENIED = 0xE1 => "error-permanent-service-denied",
        PERMANENT_MESSAGE_NOT_FOUND = 0xE2 => "error-permanent-message-not-found",
        PERMANENT_CONTENT_UNSUPPORTED = 0xE3 => "error-permanent-content-unsupported",
    }
}

octet_enum! {
    /// X-Mms-Status (§7.3.54), in m-notifyresp-ind and m-delivery-ind.
    Status {
        EXPIRED = 0x80 => "expired",
        RETRIEVED = 0x81 => "retrieved",
        REJECTED = 0x82 => "rejected",
        DEFERRED = 0x83 => "deferred",
        UNRECOGNISED = 0x84 => "unrecognised",
        INDETERMINATE = 0x85 => "indeterminate",
        FORWARDED = 0x86 => "forwarded",
        UNREACHABLE = 0x87 => "unreachable",
    }
}

octet_enum! {
    /// X-Mms-Store-Status (§7.3.58).
    StoreStatus {
        SUCCESS = 0x80 => "success",
        TRANSIENT_FAILURE = 0xC0 => "error-transient-failure",
        TRANSIENT_NETWORK_PROBLEM = 0xC1 => "error-transient-network-problem",
        PERMANENT_FAILURE = 0xE0 => "error-permanent-failure",
        PERMANENT_SERVICE_DENIED = 0xE1 => "error-permanent-service-denied",
        PERMANENT_MESSAGE_FORMAT_CORRUPT = 0xE2 => "error-permanent-message-format-corrupt",
        PERMANENT_MESSAGE_NOT_FOUND = 0xE3 => "error-permanent-message-not-found",
        PERMANENT_MMBOX_FULL = 0xE4 => "error-permanent-mmbox-full",
    }
}

octet_enum! {
    /// X-Mms-Read-Status (§7.3.38).
    ReadStatus {
        READ = 0x80 => "read",
        DELETED_WITHOUT_BEING_READ = 0x81 => "deleted-without-being-read",
    }
}

octet_enum! {
    /// X-Mms-Priority (§7.3.35).
    Priority {
        LOW = 0x80 => "low",
        NORMAL = 0x81 => "normal",
        HIGH = 0x82 => "high",
    }
}

octet_enum! {
    /// X-Mms-Sender-Visibility (§7.3.52).
    SenderVisibility {
        HIDE = 0x80 => "hide",
        SHOW = 0x81 => "show",
    }
}

octet_enum! {
    /// X-Mms-Reply-Charging (§7.3.43).
    ReplyCharging {
        REQUESTED = 0x80 => "requested",
        REQUESTED_TEXT_ONLY = 0x81 => "requested-text-only",
        ACCEPTED = 0x82 => "accepted",
        ACCEPTED_TEXT_ONLY = 0x83 => "accepted-text-only",
    }
}

octet_enum! {
    /// X-Mms-MM-State (§7.3.33).
    MmState {
        DRAFT = 0x80 => "draft",
        SENT = 0x81 => "sent",
        NEW = 0x82 => "new",
        RETRIEVED = 0x83 => "retrieved",
        FORWARDED = 0x84 => "forwarded",
    }
}

octet_enum! {
    /// X-Mms-Content-Class (§7.3.9).
    ContentClass {
        TEXT = 0x80 => "text",
        IMAGE_BASIC = 0x81 => "image-basic",
        IMAGE_RICH = 0x82 => "image-rich",
        VIDEO_BASIC = 0x83 => "video-basic",
        VIDEO_RICH = 0x84 => "video-rich",
        MEGAPIXEL = 0x85 => "megapixel",
        CONTENT_BASIC = 0x86 => "content-basic",
        CONTENT_RICH = 0x87 => "content-rich",
    }
}

octet_enum! {
    /// X-Mms-Recommended-Retrieval-Mode (§7.3.39).
    RetrievalMode {
        MANUAL = 0x80 => "manual",
    }
}

octet_enum! {
    /// X-Mms-Cancel-Status (§7.3.7).
    CancelStatus {
        RECEIVED = 0x80 => "cancel-request-successfully-received",
        CORRUPTED = 0x81 => "cancel-request-corrupted",
    }
}

octet_enum! {
    /// The operation of X-Mms-MM-Flags (§7.3.32).
    FlagOp {
        ADD = 0x80 => "add",
        REMOVE = 0x81 => "remove",
        FILTER = 0x82 => "filter",
    }
}

octet_enum! {
    /// What X-Mms-Mbox-Totals / X-Mms-Mbox-Quotas count (§7.3.26).
    QuotaKind {
        MESSAGES = 0x80 => "messages",
        SIZE = 0x81 => "size",
    }
}

/// X-Mms-MMS-Version: major and minor (1.3 is `Version { major: 1, minor: 3 }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
}

impl Version {
    pub const V1_0: Version = Version { major: 1, minor: 0 };
    pub const V1_1: Version = Version { major: 1, minor: 1 };
    pub const V1_2: Version = Version { major: 1, minor: 2 };
    pub const V1_3: Version = Version { major: 1, minor: 3 };
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// X-Mms-Expiry, X-Mms-Delivery-Time, X-Mms-Reply-Charging-Deadline (§7.3.20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeValue {
    /// Seconds since 1970-01-01 UTC.
    Absolute(u64),
    /// Seconds from now.
    Relative(u64),
}

/// From (§7.3.21): an address, or the token asking the relay to insert the sender's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sender {
    Address(Address),
    InsertAddress,
}

impl std::fmt::Display for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sender::Address(a) => a.fmt(f),
            Sender::InsertAddress => f.write_str("insert-address"),
        }
    }
}

/// X-Mms-Message-Class (§7.3.27).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageClass {
    Personal,
    Advertisement,
    Informational,
    Auto,
    /// A token-text class, or an unassigned octet written as `0xNN`.
    Other(String),
}

impl std::fmt::Display for MessageClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MessageClass::Personal => "personal",
            MessageClass::Advertisement => "advertisement",
            MessageClass::Informational => "informational",
            MessageClass::Auto => "auto",
            MessageClass::Other(s) => s,
        })
    }
}

/// X-Mms-Previously-Sent-By (§7.3.23).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PreviouslySentBy {
    pub forwarded_count: u64,
    pub address: Address,
}

/// X-Mms-Previously-Sent-Date (§7.3.24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PreviouslySentDate {
    pub forwarded_count: u64,
    pub date: u64,
}

/// X-Mms-MM-Flags (§7.3.32).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MmFlags {
    pub op: FlagOp,
    pub flag: EncodedString,
}

/// X-Mms-Element-Descriptor (§7.3.18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementDescriptor {
    pub reference: String,
    pub params: Params,
}

/// X-Mms-Mbox-Totals / X-Mms-Mbox-Quotas (§7.3.26, §7.3.25).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    pub kind: QuotaKind,
    pub value: u64,
}
