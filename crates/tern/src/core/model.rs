//! What the core builds and the store persists: a message to store with its recipients
//! ([`NewMessage`]), a recipient as it is read back with its message ([`Delivery`]), the pushes
//! that are due ([`DuePush`]), and the durable changes the core decides on ([`Change`]), which
//! the store applies atomically. Plain data: no I/O here.

use super::state::RecipientState;

/// A message to store, with everything needed to notify and serve it later.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message_id: String,
    pub sender: String,
    pub date: i64,
    pub expires_at: i64,
    pub deliver_after: i64,
    pub delivery_report: bool,
    pub read_report: bool,
    /// Encoded m-notification.ind fields shared by every recipient.
    pub notification: Vec<u8>,
    /// Encoded m-retrieve.conf fields that follow the Transaction-ID.
    pub retrieve: Vec<u8>,
    /// The Content-Type field and the body, as they end the m-retrieve.conf.
    pub body: Vec<u8>,
    pub recipients: Vec<NewRecipient>,
}

#[derive(Debug, Clone)]
pub struct NewRecipient {
    pub address: String,
    pub route: String,
    pub token: Option<String>,
    pub transaction_id: Option<String>,
    pub state: RecipientState,
    pub status_text: Option<String>,
}

/// A recipient with the message it belongs to, as the MM1 handlers need them.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub recipient: i64,
    pub address: String,
    pub state: RecipientState,
    pub transaction_id: Option<String>,
    pub message_id: String,
    pub sender: String,
    pub expires_at: i64,
    pub expired: bool,
    pub delivery_report: bool,
    pub read_report: bool,
    /// When the recipient's read report was taken, if it was.
    pub read_at: Option<i64>,
    /// When the recipient confirmed its retrieval (m-notifyresp.ind Retrieved or
    /// m-acknowledge.ind), if it did.
    pub acked_at: Option<i64>,
    pub retrieve: Vec<u8>,
    pub body: Location,
}

/// A push that is due, with what is needed to build a notification.
#[derive(Debug, Clone)]
pub struct DuePush {
    pub id: i64,
    pub msisdn: String,
    pub attempts: u32,
    /// A stored PDU (a report); `None` for a notification, built from the fields below.
    pub pdu: Option<Vec<u8>>,
    pub notification: Option<NotificationParts>,
}

#[derive(Debug, Clone)]
pub struct NotificationParts {
    pub recipient: i64,
    pub template: Vec<u8>,
    pub transaction_id: String,
    pub token: String,
    pub expires_at: i64,
}

/// Where the store keeps one body, and its checksum: a reference that only the store reads,
/// handed back to it to read the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub segment: i64,
    pub offset: u64,
    pub length: u64,
    /// CRC-32 of the body; `None` for bodies stored before checksums were kept, which are checked
    /// by length only.
    pub crc: Option<u32>,
}

/// One durable change. Conditional changes report whether they applied.
#[derive(Debug, Clone)]
pub enum Change {
    /// Store a message and its recipients; local recipients waiting for a notification get a
    /// pending push.
    Accept(Box<NewMessage>),
    /// Move a recipient to `to` if its state is one of `from`. When it moves, its pending
    /// notifications can be cancelled and a report (`msisdn`, `pdu`) queued, atomically.
    Transition {
        recipient: i64,
        from: &'static [RecipientState],
        to: RecipientState,
        status_text: Option<String>,
        now: i64,
        cancel_pushes: bool,
        report: Option<(String, Vec<u8>)>,
    },
    /// The recipient's read report, taken once: the first one is recorded and its report for
    /// the sender (`msisdn`, `pdu`) queued; a repeated one applies nothing.
    ReadReport { recipient: i64, now: i64, report: Option<(String, Vec<u8>)> },
    /// The recipient confirmed its retrieval; the first confirmation's time is kept.
    Confirmed { recipient: i64, now: i64 },
    /// Move many recipients to `to` if their state is one of `from` (as a notification batch
    /// goes out), with no status text, cancellation or report.
    TransitionMany { recipients: Vec<i64>, from: &'static [RecipientState], to: RecipientState, now: i64 },
    /// Take up to `limit` pushes due at `now` (pending, or leased with the lease run out) and
    /// mark them leased until `until` while a worker sends them: due again when the lease runs
    /// out, or at once when the store is opened again after a crash. The pushes taken come back
    /// to the caller of the lease (the store's `lease_due`). Finding and leasing them in the
    /// writer's transaction keeps the due queue off the read connections.
    LeaseDue { now: i64, until: i64, limit: i64 },
    /// Sends finished: each push rescheduled or closed.
    PushResults(Vec<PushResult>),
    /// The message expired: free its body and stop its pushes.
    Expire { message: i64 },
    /// SMSCs took pushes' parts under these message ids (for their delivery receipts).
    SmscIds(Vec<SmscId>),
    /// An SMSC delivery receipt: the final state of one part.
    Receipt { link: String, smsc_id: String, state: String, now: i64 },
    /// Drop the row of a dead segment whose file was removed.
    ForgetSegment { segment: i64 },
}

/// How one send ended: reschedule at `next`, or close the push in `state` (`done`, `failed`).
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
