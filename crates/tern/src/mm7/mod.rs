//! The MM7 interface (3GPP TS 23.140 §7): value-added service providers (VASPs) submitting
//! messages to the relay and receiving messages and reports from it, as SOAP 1.1 over HTTP.
//! `soap.rs` holds the SOAP messages both ways, without I/O; `eaif.rs` the same for Nokia's
//! EAIF, the binary-PDU-over-HTTP interface older VASPs use instead.

pub mod eaif;
pub mod soap;
