//! The policy stage: what runs on every new message after its recipients are routed and before
//! it is accepted, whatever interface it came in on. It may refuse the message with a neutral
//! [`Refusal`] (each interface turns its kind into its own status: an m-send.conf status, an
//! SMTP reply, an MM4 or MM7 status code) or change it (a later screening stage replaces parts
//! and quarantines). Today it refuses a message that no recipient can take.

use super::envelope::{Destination, RejectStatus};
use super::model::NewMessage;

/// Why a message is not accepted, in terms every interface can answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The sender may not send this (a rule, a limit).
    ServiceDenied,
    /// A recipient (or the sender) is not an address this relay can use.
    AddressUnresolved,
    /// The message is malformed.
    FormatCorrupt,
    /// The content is not accepted (its size, its type).
    ContentNotAccepted,
    /// This relay does not carry this kind of message or recipient.
    Unsupported,
    /// The relay cannot take it now; the sender may try again.
    Transient,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub text: String,
}

impl Refusal {
    pub fn new(kind: RefusalKind, text: impl Into<String>) -> Refusal {
        Refusal { kind, text: text.into() }
    }
}

/// Runs the checks of the policy stage on a draft message, which they may change.
pub fn stage(draft: &mut NewMessage) -> Result<(), Refusal> {
    deliverable(draft)
}

/// A message is refused when every recipient was refused by a routing rule: the sender hears
/// the first rule's status and text. With at least one recipient that can take it, the refused ones
/// fail on their own (and are reported), so a group message still reaches the others.
fn deliverable(draft: &NewMessage) -> Result<(), Refusal> {
    let mut reasons = draft.envelope.recipients.iter().map(|r| match &r.destination {
        Destination::Reject { status, text } => Some((*status, text.as_str())),
        _ => None,
    });
    match reasons.next() {
        Some(Some((status, text))) if reasons.all(|r| r.is_some()) => {
            let kind = match status {
                RejectStatus::ServiceDenied => RefusalKind::ServiceDenied,
                RejectStatus::AddressUnresolved => RefusalKind::AddressUnresolved,
                RejectStatus::NotSupported => RefusalKind::Unsupported,
            };
            Err(Refusal::new(kind, text))
        }
        _ => Ok(()),
    }
}
