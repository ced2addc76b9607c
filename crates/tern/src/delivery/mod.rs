//! The loops that do I/O between the store and the bearers and peers, outside `core` (which
//! decides what a push says and how an event moves a recipient, but does no I/O): the delivery
//! worker that sends due pushes and records how each went ([`worker`]), the outbound worker that
//! sends the MM4 and MM3 queues ([`outbound`]), the loop that records SMSC delivery receipts
//! ([`receipts`]), the sweeper that expires recipients and messages and frees their bodies
//! ([`sweeper`]), and the retry schedules ([`backoff`]).

mod backoff;
mod outbound;
mod receipts;
mod sweeper;
mod worker;

pub use backoff::backoff;
pub use outbound::outbound;
pub use receipts::receipts;
pub use sweeper::{sweep, sweeper};
pub use worker::worker;
