//! The Tern MMSC as a library: the relay (configuration, core, store, the MM1 interface, the
//! delivery loops, the push bearers, the admin endpoint, the intake every interface hands new
//! messages to, routing, the protection stage and the clients of the virus and spam scanners it
//! asks, the MM4 and MM3 interfaces with their mail formats and the SMTP transport under them,
//! the MM7 SOAP messages, and the wire-neutral message content) and the tools built on it (`decode`, the `ue` handset
//! simulator, `demo`). The `tern` binary is a thin command line over it (`main.rs`); tests and
//! later crates can run the relay in-process through [`serve::serve`].

pub mod admin;
pub mod config;
pub mod content;
pub mod core;
pub mod decode;
pub mod delivery;
pub mod demo;
pub mod http;
pub mod intake;
pub mod logging;
pub mod mailroom;
pub mod mm1;
pub mod mm3;
pub mod mm4;
pub mod mm7;
pub mod protect;
pub mod push;
pub mod routing;
pub mod scanners;
pub mod serve;
pub mod smtp;
pub mod store;
pub mod tls;
pub mod ue;
