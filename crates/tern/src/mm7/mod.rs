//! The MM7 interface (3GPP TS 23.140 §7): value-added service providers (VASPs) submitting
//! messages to the relay and receiving messages and reports from it, as SOAP 1.1 over HTTP(S),
//! or as Nokia's EAIF. `soap.rs` and `eaif.rs` hold the wire forms both ways, without I/O;
//! `server.rs` is the endpoint, with the accounts' checks in `accounts.rs` and the mapping of a
//! submission in `submit.rs`, of a cancel or replace in `edit.rs`, of an EAIF submission in
//! `eaif_in.rs`; `outbound.rs` writes what leaves for a VASP and `client.rs` sends it.

pub mod accounts;
mod client;
pub mod eaif;
mod eaif_in;
mod edit;
pub mod outbound;
mod server;
pub mod soap;
mod submit;

pub use accounts::Accounts;
pub use client::{Client, SendError};
pub use server::{Mm7, router};
