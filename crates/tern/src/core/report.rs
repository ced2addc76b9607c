//! Reports in neutral form: what became of a message for one recipient (a delivery report) or
//! whether the recipient read it (a read report). The core decides that a report is due and
//! where it goes (back the way the message came); the interface that carries it writes it as
//! its own PDU or mail when it goes out.

use serde::{Deserialize, Serialize};

/// How long a report queued for a peer waits for it before it is given up: long enough to
/// outlast a peer's outage, and independent of its message's expiry (an `Expired` report is
/// made at that very moment).
pub const REPORT_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// What became of a message for one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryStatus {
    Retrieved,
    Rejected,
    Deferred,
    Expired,
    Unrecognised,
    Forwarded,
    Indeterminate,
    /// The next relay or the mail system refused it for good, or it could not be reached
    /// before the message expired.
    Unreachable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadStatus {
    Read,
    DeletedUnread,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "status", rename_all = "kebab-case")]
pub enum ReportKind {
    Delivery(DeliveryStatus),
    Read(ReadStatus),
}

/// One report about `message_id` for the recipient `about`, to the message's originator `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub message_id: String,
    /// The recipient the report is about, canonical.
    pub about: String,
    /// Who gets the report: the message's originator, canonical.
    pub to: String,
    pub kind: ReportKind,
    /// Unix seconds.
    pub date: i64,
}

/// Where a report goes: pushed to a handset of this relay, or queued for an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportRoute {
    /// To the local originator's handset, as an MM1 PDU.
    Push { msisdn: String, report: Report },
    /// Out over an interface's queue (`mm4:<peer>`), as that interface writes it.
    Outbound { destination: String, report: Report },
}
