//! The `[mm7]` table: the HTTP(S) endpoint content providers (VASPs) submit to, and each
//! VASP's account: who it is, how it proves it, where it may connect from, which addresses it
//! may send as, how fast and how much, and where its messages and reports go.

use std::net::SocketAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::tls::TlsFiles;

/// The MM7 schema written to a VASP that does not name one.
pub const MM7_NAMESPACE: &str = "REL-6-MM7-1-4";
/// The MM7Version written with it.
pub const MM7_VERSION: &str = "6.8.0";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mm7Config {
    /// Whether the MM7 and EAIF endpoint runs and messages to VASPs leave.
    pub enabled: bool,
    /// Where VASPs POST their SOAP requests (any path) and EAIF submissions.
    pub listen: SocketAddr,
    /// The certificate chain and key that make the endpoint HTTPS; plain HTTP when not set.
    pub tls: Option<TlsFiles>,
    /// The MMSRelayServerID written in requests to VASPs; `[mm4].domain` when empty.
    pub relay_server_id: String,
    /// The largest HTTP request taken, SOAP envelope and content together, in octets.
    pub max_message_size: usize,
    /// How long a VASP has to send the whole of a request once it is let in, in seconds.
    pub request_timeout_secs: u64,
    /// How long a VASP's receiver has to answer a request, in seconds.
    pub timeout_secs: u64,
    pub vasps: Vec<Vasp>,
}

impl Default for Mm7Config {
    fn default() -> Self {
        Mm7Config {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 8007)),
            tls: None,
            relay_server_id: String::new(),
            max_message_size: 2 * 1024 * 1024,
            request_timeout_secs: 60,
            timeout_secs: 30,
            vasps: Vec::new(),
        }
    }
}

/// Whether `name` is one of the MM7 schemas of TS 23.140 (the last part of its namespace URI).
pub fn is_schema_name(name: &str) -> bool {
    let minor = |prefix: &str, last: u8| {
        name.strip_prefix(prefix).is_some_and(|d| matches!(d.as_bytes(), [b] if (b'0'..=last).contains(b)))
    };
    minor("REL-5-MM7-1-", b'3') || minor("REL-6-MM7-1-", b'4')
}

impl Mm7Config {
    pub fn vasp(&self, name: &str) -> Option<&Vasp> {
        self.vasps.iter().find(|v| v.name == name)
    }
}

/// How a VASP talks to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// 3GPP MM7: SOAP 1.1 with attachments.
    #[default]
    Mm7,
    /// Nokia's External Application Interface: a binary MMS PDU with `X-NOKIA-MMSC-*` headers.
    Eaif,
}

/// A content provider's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Vasp {
    /// The name routing rules use (`action = "mm7", vasp = "<name>"`) and the logs show.
    pub name: String,
    /// Its VASPID; a SubmitReq that names another is refused.
    pub vasp_id: String,
    /// The VASIDs (its services) it may name; any when empty.
    pub vas_ids: Vec<String>,
    /// HTTP Basic user name.
    pub username: String,
    /// The Argon2 hash of its password in PHC form (`$argon2id$v=19$...`), as
    /// `tern hash-password` writes it; the password itself is never configured.
    pub password_hash: String,
    /// The address ranges it may connect from; anywhere when empty.
    pub admit: Vec<IpNet>,
    /// Its short codes: it may send from them, and handsets' messages to them go to it.
    pub short_codes: Vec<String>,
    /// Other sender addresses (numbers, e-mail addresses) it may send as.
    pub senders: Vec<String>,
    /// Messages per second it may submit; 0 for no limit.
    pub throughput: u32,
    /// Messages per day (UTC) it may submit; 0 for no limit.
    pub daily_quota: u64,
    /// Where DeliverReq and reports go (its receiver); none leave for it when not set.
    pub url: Option<String>,
    /// HTTP Basic credentials the relay gives its receiver, if it wants them.
    pub url_username: Option<String>,
    pub url_password: Option<String>,
    /// MM7 schema of the requests the relay sends it (`REL-5-MM7-1-0` .. `REL-6-MM7-1-4`).
    pub namespace: String,
    /// MM7Version written with them.
    pub mm7_version: String,
    /// Whether it gets delivery and read reports on the messages it submits that ask for them.
    pub reports: bool,
    /// MM7 or EAIF, for what the relay sends it; it may submit either way.
    pub protocol: Protocol,
}

impl Default for Vasp {
    fn default() -> Self {
        Vasp {
            name: String::new(),
            vasp_id: String::new(),
            vas_ids: Vec::new(),
            username: String::new(),
            password_hash: String::new(),
            admit: Vec::new(),
            short_codes: Vec::new(),
            senders: Vec::new(),
            throughput: 0,
            daily_quota: 0,
            url: None,
            url_username: None,
            url_password: None,
            namespace: MM7_NAMESPACE.into(),
            mm7_version: MM7_VERSION.into(),
            reports: true,
            protocol: Protocol::Mm7,
        }
    }
}

impl Vasp {
    /// Whether `canonical` is an address it may send as.
    pub fn may_send_as(&self, canonical: &str) -> bool {
        self.short_codes.iter().chain(&self.senders).any(|a| a.eq_ignore_ascii_case(canonical))
    }

    /// Whether a connection from `ip` may be this VASP's.
    pub fn admits(&self, ip: std::net::IpAddr) -> bool {
        self.admit.is_empty() || self.admit.iter().any(|net| net.contains(&ip))
    }
}
