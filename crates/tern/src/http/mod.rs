//! What the HTTP interfaces (MM1 for handsets, MM7 and EAIF for content providers) share: the
//! listener that bounds their connections, and the socket it gives hyper.

pub mod listener;
mod socket;

pub use listener::{Limits, Meters, connection_cap, serve};
pub use socket::FileSends;
