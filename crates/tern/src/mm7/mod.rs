//! The MM7 interface (3GPP TS 23.140 §7): value-added service providers (VASPs) submitting
//! messages to the relay and receiving messages and reports from it, as SOAP 1.1 over HTTP.
//! `soap.rs` holds the SOAP messages both ways, without I/O.

pub mod soap;
