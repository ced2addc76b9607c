//! MM4, the interface between relays (3GPP TS 23.140 §8): messages and reports as RFC 5322
//! mail over SMTP. `wire` owns the mail formats, without I/O.

pub mod inbound;
pub mod outbound;
pub mod wire;
