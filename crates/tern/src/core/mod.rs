//! The relay's core: what a message is, where it goes, and what happens to it between
//! submission and delivery, independent of the interface it came in on.

pub mod address;
pub mod compose;
pub mod events;
pub mod ids;
pub mod model;
pub mod settings;
pub mod state;
