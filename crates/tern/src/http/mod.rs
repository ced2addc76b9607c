//! What the HTTP interfaces (MM1 for handsets, MM7 and EAIF for content providers) share: the
//! listener that bounds their connections.

pub mod listener;

pub use listener::{Limits, Meters, connection_cap, serve};
