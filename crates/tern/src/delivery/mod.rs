//! The loops that do I/O between the store and the bearers, outside `core` (which decides what
//! a push says and how an event moves a recipient, but does no I/O): the delivery worker that
//! sends due pushes and records how each went ([`worker`]), the loop that records SMSC delivery
//! receipts ([`receipts`]), the sweeper that expires recipients and messages and frees their
//! bodies ([`sweeper`]), and the retry schedule they share ([`backoff`]).

mod backoff;
mod receipts;
mod sweeper;
mod worker;

pub use backoff::backoff;
pub use receipts::receipts;
pub use sweeper::{sweep, sweeper};
pub use worker::worker;
