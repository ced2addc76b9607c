//! The `[mm3]` table: e-mail in and out. Subscribers have the address `+number@<domain>`;
//! messages to e-mail addresses leave as ordinary mail, and mail to a subscriber's address
//! becomes an MMS for it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::smtp::SendTarget;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mm3Config {
    /// Whether MM3 runs: e-mail recipients are routed to it, and mail is taken on `[smtp]`.
    pub enabled: bool,
    /// The mail domain of subscribers' addresses; `[mm4].domain` when empty.
    pub domain: String,
    /// A smarthost all outbound mail goes through; the MX of each recipient's domain when not
    /// given.
    pub send: Option<SendTarget>,
    /// Whether the SMIL presentation goes along as an attachment (mail readers show it as a
    /// file, so it is left out by default).
    pub keep_smil: bool,
    /// The address ranges mail may come in from (the operator's mail gateways).
    pub admit: Vec<IpNet>,
    /// The largest mail taken, in octets.
    pub max_message_size: usize,
}

impl Default for Mm3Config {
    fn default() -> Self {
        Mm3Config {
            enabled: false,
            domain: String::new(),
            send: None,
            keep_smil: false,
            admit: vec![
                IpNet::new_assert(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
                IpNet::new_assert(IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
            ],
            max_message_size: 1024 * 1024,
        }
    }
}
