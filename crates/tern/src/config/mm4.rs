//! The `[mm4]` table: this relay's MMS domain and how it names itself to other operators, and
//! each peer operator's relay: its domain, where mail for it goes, and how its mail is admitted.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::smtp::{Credentials, SendTarget};

/// The X-Mms-3GPP-MMS-Version written by default: the last release of TS 23.140.
pub const MM4_VERSION: &str = "6.10.0";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mm4Config {
    /// Whether MM4 runs: forwards to peers leave, and peers' mail is taken on `[smtp]`.
    pub enabled: bool,
    /// This relay's MMS domain, as peers address its subscribers (`+E164/TYPE=PLMN@domain`).
    pub domain: String,
    /// X-Mms-Originator-System; `system-user@<domain>` when empty.
    pub originator_system: String,
    /// X-Mms-3GPP-MMS-Version written on outbound mail.
    pub version: String,
    /// Whether forwards and reports ask the peer for an MM4 answer (X-Mms-Ack-Request).
    pub ack_request: bool,
    pub peers: Vec<Mm4Peer>,
}

impl Default for Mm4Config {
    fn default() -> Self {
        Mm4Config {
            enabled: false,
            domain: "mms.mnc001.mcc001.gprs".into(),
            originator_system: String::new(),
            version: MM4_VERSION.into(),
            ack_request: true,
            peers: Vec::new(),
        }
    }
}

impl Mm4Config {
    pub fn originator_system(&self) -> String {
        if self.originator_system.is_empty() {
            format!("system-user@{}", self.domain)
        } else {
            self.originator_system.clone()
        }
    }

    pub fn peer(&self, name: &str) -> Option<&Mm4Peer> {
        self.peers.iter().find(|p| p.name == name)
    }
}

/// Another operator's relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mm4Peer {
    /// The name routing rules use (`action = "mm4", peer = "<name>"`).
    pub name: String,
    /// Its MMS domain (`mms.mnc002.mcc001.gprs`): its subscribers' addresses and ENUM answers
    /// name it.
    pub domain: String,
    /// Where mail for it goes; the MX of `domain` when not given.
    #[serde(default)]
    pub send: Option<SendTarget>,
    /// AUTH credentials to give its relay, if it wants them.
    #[serde(default)]
    pub credentials: Option<Credentials>,
    /// The address ranges its mail may come from. Mail from anywhere else is refused unless
    /// it authenticates as this peer.
    #[serde(default)]
    pub admit: Vec<IpNet>,
    /// A user name and the SHA-256 (hex) of the password with which it may authenticate
    /// instead of, or as well as, coming from `admit`.
    #[serde(default)]
    pub auth: Option<PeerAuth>,
}

impl Mm4Peer {
    pub fn target(&self) -> SendTarget {
        self.send.clone().unwrap_or_else(|| SendTarget::Mx { domain: self.domain.clone(), port: 25 })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerAuth {
    pub username: String,
    pub password_sha256: String,
}
