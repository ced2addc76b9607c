//! The relay's core: what a message is, where it goes, and what happens to it between
//! submission and delivery, independent of the interface it came in on. It does no I/O and uses
//! no other module of the crate: the store persists what it builds, the delivery loops and the
//! interfaces call into it.

pub mod accept;
pub mod address;
pub mod envelope;
pub mod events;
pub mod ids;
pub mod model;
pub mod policy;
pub mod protection;
pub mod report;
pub mod routing;
pub mod secret;
pub mod settings;
pub mod state;
