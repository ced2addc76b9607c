//! The receipts loop: SMSC delivery receipts, as the SMPP bearer takes them, recorded in the
//! store one by one.

use crate::core::ids;
use crate::core::model::Change;
use crate::push::Receipt;
use crate::store::Store;

/// Records SMSC delivery receipts as they come: the push's part is marked with the final state,
/// and the recipient's status text says what the SMSC saw.
pub async fn receipts(store: Store, mut receipts: tokio::sync::mpsc::UnboundedReceiver<Receipt>) {
    while let Some(r) = receipts.recv().await {
        let change = Change::Receipt { link: r.link, smsc_id: r.smsc_id, state: r.state, now: ids::now() };
        if let Err(e) = store.apply(vec![change]).await {
            tracing::error!(error = %e, "cannot record a delivery receipt");
        }
    }
}
