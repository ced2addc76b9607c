//! Messages and scratch data directories for the unit tests of the store and of the modules
//! that read it (the admin endpoint's held-message routes).

use std::ops::Deref;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::core::envelope::{BodyFormat, Destination, Envelope, Field, Origin, Recipient};
use crate::core::model::{HoldReason, NewMessage, NewRecipient};
use crate::core::state::RecipientState;

pub const SENDER: &str = "+15550100001";
pub const LOCAL: &str = "+15550100002";
pub const PEER: &str = "+15550200003";
pub const NOW: i64 = 1_900_000_000;

/// An empty data directory of its own under the system's temporary directory, removed with
/// everything in it when the test is done with it (also when the test fails): named by the
/// process, so that test runs side by side do not share one, each run would otherwise leave
/// its own behind.
pub fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("tern-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Scratch(dir)
}

/// A scratch directory; it derefs to its path.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A message from [`SENDER`] to a local subscriber and to a subscriber behind the MM4 peer
/// `peer`, each routed and waiting for delivery.
pub fn message(message_id: &str, body: &[u8]) -> NewMessage {
    let to = |address: &str, destination| Recipient { address: address.into(), field: Field::To, destination };
    let envelope = Envelope {
        message_id: message_id.into(),
        originator: SENDER.into(),
        recipients: vec![to(LOCAL, Destination::Local), to(PEER, Destination::Mm4 { peer: "peer".into() })],
        subject: Some("offer".into()),
        class: None,
        priority: None,
        date: NOW,
        expires_at: NOW + 3600,
        deliver_after: NOW,
        delivery_report: true,
        read_report: false,
        sender_visible: true,
        content_type: "application/vnd.wap.multipart.mixed".into(),
        forwarded_from: None,
        applic_id: None,
        reply_applic_id: None,
        aux_applic_info: None,
        content_class: None,
        drm: false,
        no_distribution: false,
        origin: Origin::Mm1,
    };
    let local = NewRecipient {
        address: LOCAL.into(),
        destination: "local".into(),
        token: Some(format!("token-{message_id}")),
        transaction_id: Some(format!("tx-{message_id}")),
        state: RecipientState::Accepted,
        status_text: None,
    };
    let peer = NewRecipient {
        address: PEER.into(),
        destination: "mm4:peer".into(),
        token: None,
        transaction_id: None,
        state: RecipientState::Accepted,
        status_text: Some("routed to peer".into()),
    };
    NewMessage { envelope, format: BodyFormat::Wsp, body: Bytes::copy_from_slice(body), recipients: vec![local, peer] }
}

pub fn reason() -> HoldReason {
    HoldReason { interface: "mm1".into(), profile: "default".into(), check: "virus".into(), detail: "EICAR".into() }
}
