//! What the core builds and the store persists: a message to store with its recipients
//! ([`NewMessage`]), a recipient as it is read back with its message ([`Delivery`]), a message
//! with all its recipients ([`StoredMessage`]), the pushes and outbound jobs that are due
//! ([`DuePush`], [`DueOutbound`]), a message the protection stage holds back or keeps a copy of
//! ([`HoldKind`], [`HoldReason`], [`Held`]), and the durable changes the core decides on
//! ([`Change`]), which the store applies atomically. Plain data: no I/O here, and nothing of how the store
//! keeps it (a body is an opaque [`BlobRef`]).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::envelope::{BodyFormat, Envelope};
use super::report::{Report, ReportRoute};
use super::state::{OutboundState, RecipientState};

/// A message to store: its envelope, and its body exactly as received.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub envelope: Envelope,
    pub format: BodyFormat,
    /// Held by reference, so that an interface can hand over the buffer it read the body into
    /// (or a slice of it) without copying the body.
    pub body: Bytes,
    /// Per recipient of the envelope, in its order: what delivery needs.
    pub recipients: Vec<NewRecipient>,
}

#[derive(Debug, Clone)]
pub struct NewRecipient {
    pub address: String,
    /// The destination's stored name ([`super::envelope::Destination::name`]): `local`,
    /// `mm4:<peer>`, `mm3`, `reject`, `no-route`.
    pub destination: String,
    /// Retrieval token and Transaction-ID, for local recipients.
    pub token: Option<String>,
    pub transaction_id: Option<String>,
    pub state: RecipientState,
    pub status_text: Option<String>,
}

/// Where the store keeps one body: a reference only the store can read, handed back to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobRef(pub String);

/// A recipient with the message it belongs to.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub recipient: i64,
    pub address: String,
    /// Where it goes, by the destination's stored name (as [`NewRecipient::destination`]).
    pub route: String,
    pub state: RecipientState,
    pub transaction_id: Option<String>,
    pub envelope: Envelope,
    pub format: BodyFormat,
    pub body: BlobRef,
    /// Octets of the stored body.
    pub size: u64,
    pub expired: bool,
    /// When the recipient's read report was taken, if it was.
    pub read_at: Option<i64>,
    /// When the recipient confirmed its retrieval (m-notifyresp.ind Retrieved or
    /// m-acknowledge.ind), if it did.
    pub acked_at: Option<i64>,
}

/// A stored message with every recipient it has a row for (listed ones have none), as a
/// sender's request about it (cancel, replace) finds it.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: i64,
    pub envelope: Envelope,
    /// Its body is freed: nothing can be delivered or replaced any more.
    pub expired: bool,
    pub recipients: Vec<Delivery>,
}

/// A push that is due: a notification (built from its message's envelope), a report (written
/// as an MM1 PDU when it goes), or a PDU stored by an older release.
#[derive(Debug, Clone)]
pub struct DuePush {
    pub id: i64,
    pub msisdn: String,
    pub attempts: u32,
    pub what: PushContent,
}

#[derive(Debug, Clone)]
pub enum PushContent {
    Notification(Box<NotificationParts>),
    Report(Report),
    Pdu(Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct NotificationParts {
    pub recipient: i64,
    pub envelope: Envelope,
    pub size: u64,
    pub transaction_id: String,
    pub token: String,
}

/// What an outbound job carries: a message to forward to its recipients behind one
/// destination, a report, or an answer to a peer's request.
#[derive(Debug, Clone)]
pub enum OutboundJob {
    Forward { message: i64, envelope: Box<Envelope>, format: BodyFormat, body: BlobRef, recipients: Vec<(i64, String)> },
    Report(Report),
    Answer(PeerAnswer),
}

/// An answer owed to a peer that asked for one (MM4_forward.RES and the report .RES).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerAnswer {
    pub answers: AnswerKind,
    pub transaction_id: String,
    pub message_id: String,
    /// Whom the answer is addressed to (the requester's originator address).
    pub to: String,
    pub status: AnswerStatus,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerKind {
    Forward,
    DeliveryReport,
    ReadReport,
}

/// A request's outcome as a peer hears it, in neutral terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerStatus {
    Ok,
    Unspecified,
    ServiceDenied,
    FormatCorrupt,
    AddressUnresolved,
    NotFound,
    NetworkProblem,
    ContentNotAccepted,
    Unsupported,
}

/// A job of an outbound queue that is due, leased while it is sent.
#[derive(Debug, Clone)]
pub struct DueOutbound {
    pub id: i64,
    /// `mm4:<peer>` or `mm3`.
    pub destination: String,
    pub attempts: u32,
    pub expires_at: i64,
    pub job: OutboundJob,
}

/// How one outbound send ended: rescheduled at `next`, or closed in `state`.
#[derive(Debug, Clone)]
pub struct OutboundResult {
    pub id: i64,
    pub attempts: u32,
    pub next: Option<i64>,
    pub state: OutboundState,
    pub error: Option<String>,
}

/// One durable change. Conditional changes report whether they applied.
#[derive(Debug, Clone)]
pub enum Change {
    /// Store a message and its recipients: local recipients waiting for a notification get a
    /// pending push, recipients behind another interface one outbound job per destination. A
    /// message whose Message-ID is stored already applies nothing (a peer sending it again).
    Accept(Box<NewMessage>),
    /// Move a recipient to `to` if its state is one of `from`. When it moves, its pending
    /// notifications can be cancelled and a report queued, atomically.
    Transition {
        recipient: i64,
        from: &'static [RecipientState],
        to: RecipientState,
        status_text: Option<String>,
        now: i64,
        cancel_pushes: bool,
        report: Option<ReportRoute>,
    },
    /// The recipient's read report, taken once: the first one is recorded and its report for
    /// the sender queued; a repeated one applies nothing.
    ReadReport { recipient: i64, now: i64, report: Option<ReportRoute> },
    /// The recipient confirmed its retrieval; the first confirmation's time is kept.
    Confirmed { recipient: i64, now: i64 },
    /// Move many recipients to `to` if their state is one of `from` (as a notification batch
    /// goes out), with no status text, cancellation or report.
    TransitionMany { recipients: Vec<i64>, from: &'static [RecipientState], to: RecipientState, now: i64 },
    /// Queue a report or an answer for a destination's outbound queue (one that comes from
    /// no recipient transition, such as a peer's report about a message of ours).
    Enqueue { destination: String, job: OutboundJob, now: i64, expires_at: i64 },
    /// Queue a report for a local handset.
    PushReport { msisdn: String, report: Report, now: i64 },
    /// Take up to `limit` pushes due at `now` (pending, or leased with the lease run out) and
    /// mark them leased until `until` while a worker sends them: due again when the lease runs
    /// out, or at once when the store is opened again after a crash. The pushes taken come back
    /// to the caller of the lease (the store's `lease_due`).
    LeaseDue { now: i64, until: i64, limit: i64 },
    /// Sends finished: each push rescheduled, set aside or closed.
    PushResults(Vec<PushResult>),
    /// Pushes set aside because nothing could carry them (`waiting`) go back to the queue, each
    /// due when it was due before: a bearer may carry them now (an SMPP link bound).
    ResumeWaiting,
    /// Take up to `limit` outbound jobs due at `now`, leased until `until`, as pushes are.
    LeaseOutbound { now: i64, until: i64, limit: i64 },
    /// Outbound sends finished.
    OutboundResults(Vec<OutboundResult>),
    /// Give a message a new body (MM7 ReplaceReq): stored durably as an accepted message's is,
    /// and the message pointed at it with its new content type, and its new earliest delivery
    /// when given (rescheduling the notifications and forwards not gone yet), only while no
    /// recipient has fetched it (none retrieved or acknowledged) and it has not expired at
    /// `now`; otherwise it applies nothing. The old body no longer counts as live in its
    /// segment, so garbage collection frees it with the segment.
    Replace {
        message: i64,
        body: Bytes,
        content_type: String,
        format: BodyFormat,
        deliver_after: Option<i64>,
        now: i64,
    },
    /// The message expired: free its body and stop its pushes and forwards.
    Expire { message: i64 },
    /// Keep a message aside, whole (envelope, body, routed recipients), durably as an accepted
    /// message's body is kept, but invisible to delivery: no recipient rows, pushes or jobs.
    /// A quarantined message waits to be released (then stored as [`Change::Accept`] would) or
    /// deleted; an archive copy waits to be deleted. It may come in the same apply as the
    /// `Accept` of the same message, each with its own body. Always applies.
    Hold { message: Box<NewMessage>, kind: HoldKind, reason: HoldReason, now: i64 },
    /// SMSCs took pushes' parts under these message ids (for their delivery receipts).
    SmscIds(Vec<SmscId>),
    /// An SMSC delivery receipt: the final state of one part.
    Receipt { link: String, smsc_id: String, state: String, now: i64 },
}

/// Why the protection stage keeps a message aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldKind {
    /// Held instead of delivered, until an administrator releases or deletes it.
    Quarantine,
    /// A copy kept for data-loss prevention; the message itself went on or was blocked.
    Archive,
}

impl HoldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::Quarantine => "quarantine",
            HoldKind::Archive => "archive",
        }
    }
}

/// Why a message is held: what the protection stage decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldReason {
    /// The interface the message came in on.
    pub interface: String,
    /// The protection profile that decided.
    pub profile: String,
    /// The check that matched (`virus`, `spam`, `flood`...).
    pub check: String,
    /// What it found, for the administrator.
    pub detail: String,
}

/// A held message as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Held {
    pub id: i64,
    pub kind: HoldKind,
    pub message_id: String,
    pub sender: String,
    /// Every recipient the envelope names, in its order.
    pub recipients: Vec<String>,
    pub subject: Option<String>,
    /// Octets of the body.
    pub size: i64,
    pub reason: HoldReason,
    /// When it was held (Unix seconds).
    pub at: i64,
}

/// How one send ended: reschedule at `next`, close the push in `state` (`done`, `failed`), or
/// set it aside in state `waiting` until [`Change::ResumeWaiting`], due at `next` from then.
#[derive(Debug, Clone)]
pub struct PushResult {
    pub push: i64,
    pub attempts: u32,
    pub next: Option<i64>,
    pub state: &'static str,
    pub error: Option<String>,
}

/// The message id an SMSC (`link`) gave one part of a push.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SmscId {
    pub push: i64,
    pub link: String,
    pub id: String,
}
