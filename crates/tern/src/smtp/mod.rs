//! The SMTP transport under MM4 (relay to relay) and MM3 (e-mail), knowing nothing of MMS: the
//! interfaces plug into it. `server.rs` is an RFC 5321 server whose session loop calls a
//! [`Handler`] at each step (connect, AUTH, MAIL, RCPT, the message after DATA), with its
//! limits and STARTTLS (`tls.rs`); `client.rs` sends one raw RFC 5322 message to a relay or a
//! domain's MX and says whether a failure is worth a retry; `reply.rs` is the reply both sides
//! speak in.

mod client;
mod reply;
mod server;

pub use client::{Accepted, Client, ClientConfig, ClientTls, Credentials, SendError, SendTarget, SetupError};
pub use reply::Reply;

/// A mail with its SMTP envelope, as an interface writes it for the client to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub from: String,
    pub to: Vec<String>,
    pub mail: Vec<u8>,
}
pub use crate::tls::{TlsError, TlsFiles};
pub use server::{Handler, ServerConfig, Session, serve};
