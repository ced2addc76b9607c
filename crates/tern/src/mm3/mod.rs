//! MM3, the interface to e-mail: messages out as ordinary MIME mail, mail in as MMS content.
//! `wire` owns the mail formats, without I/O.

pub mod inbound;
pub mod wire;
