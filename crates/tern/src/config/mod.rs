//! The relay's configuration: the TOML file's schema and defaults, the `TERN_<SECTION>__<KEY>`
//! environment overrides (at any depth: `TERN_PUSH__SMPP__LINKS__0__PASSWORD`), and the checks
//! run before anything starts. `tern.example.toml` at the workspace root lists every key with its
//! default; a test keeps the two in step.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

// The tables the core decides by are its own types; the schema takes them as they are.
pub use crate::core::protection::ProtectionConfig;
pub use crate::core::routing::RoutingConfig;
pub use crate::core::settings::{DeliveryConfig, RetrievalConfig, SubscribersConfig};
pub use mm3::Mm3Config;
pub use mm4::{MM4_VERSION, Mm4Config, Mm4Peer, PeerAuth};
pub use mm7::{Mm7Config, Protocol as VaspProtocol, Vasp};

mod mm3;
mod mm4;
mod mm7;
pub use crate::smtp::{ClientConfig as SmtpClientConfig, ServerConfig as SmtpConfig};

/// Environment variables with this prefix and a `__` in their name override one key each.
const ENV_PREFIX: &str = "TERN_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("configuration: {0}")]
    Merged(Box<toml::de::Error>),
    #[error("invalid configuration: {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub mm1: Mm1Config,
    pub store: StoreConfig,
    pub subscribers: SubscribersConfig,
    pub identity: IdentityConfig,
    pub delivery: DeliveryConfig,
    pub retrieval: RetrievalConfig,
    pub push: PushConfig,
    pub routing: RoutingConfig,
    pub mm4: Mm4Config,
    pub mm3: Mm3Config,
    pub mm7: Mm7Config,
    pub protection: ProtectionConfig,
    /// The SMTP listener MM4 peers' mail and MM3 mail come in on (when either runs).
    pub smtp: SmtpConfig,
    /// How MM4 and MM3 mail leaves.
    pub smtp_out: SmtpClientConfig,
    pub outbound: OutboundConfig,
    pub admin: AdminConfig,
}

/// The retry schedule of the outbound queues (MM4 forwards and reports, MM3 mail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundConfig {
    /// Attempts per job before it fails (and its sender hears so); a job also fails when its
    /// message expires.
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles at each retry up to `max_backoff_secs`.
    pub initial_backoff_secs: u64,
    pub max_backoff_secs: u64,
    /// Jobs sent side by side.
    pub concurrency: usize,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig { max_attempts: 20, initial_backoff_secs: 60, max_backoff_secs: 3600, concurrency: 16 }
    }
}

impl Config {
    /// What the core's acceptance of a submission takes from the configuration.
    pub fn acceptance(&self) -> crate::core::accept::Acceptance<'_> {
        crate::core::accept::Acceptance { subscribers: &self.subscribers, delivery: &self.delivery }
    }

    /// The mail domain of subscribers' MM3 addresses.
    pub fn mm3_domain(&self) -> &str {
        if self.mm3.domain.is_empty() { &self.mm4.domain } else { &self.mm3.domain }
    }
}

/// The admin endpoint: Prometheus metrics, health and readiness, apart from MM1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Address and port of `/metrics` (Prometheus text), `/health` and `/ready`.
    pub listen: SocketAddr,
    /// SHA-256 of the bearer token that `/metrics` and every later admin route ask for, in hex
    /// (lower case once loaded); empty for none. Only the hash is configured, so the
    /// configuration does not hold the secret. Without a token those routes are open on a
    /// loopback `listen` and refused to everyone elsewhere.
    pub token_sha256: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig { listen: SocketAddr::from(([127, 0, 0, 1], 8003)), token_sha256: String::new() }
    }
}

/// The MM1 interface: where handsets POST their PDUs and fetch their messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mm1Config {
    pub listen: SocketAddr,
    /// If set, the only path MM1 POSTs are accepted on; otherwise any path is.
    pub path: Option<String>,
    /// Retrieval URLs handed out in notifications are `{public_base_url}/m/{token}`; never ends
    /// in '/' once loaded.
    pub public_base_url: String,
    /// Largest PDU accepted, in bytes.
    pub max_message_size: u64,
    /// How long a request's body may take to arrive, from the end of its headers.
    pub request_timeout_secs: u64,
    /// How long a client has to send a request's headers, counted from the connection's opening
    /// or from the end of the previous answer: the idle keep-alive timeout too.
    pub header_timeout_secs: u64,
    /// Longest pause within a request body, or in the client's taking of an answer, before the
    /// connection is cut.
    pub body_timeout_secs: u64,
    /// Most open MM1 connections; lowered at start to what the open-file limit allows.
    pub max_connections: usize,
    /// Bytes of request bodies and retrieved messages held in memory at once, over all requests.
    pub body_budget_bytes: u64,
    /// How long a request waits for body budget, and a new connection for a free slot, before it
    /// is answered 503.
    pub busy_wait_ms: u64,
}

impl Default for Mm1Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8002)),
            path: None,
            public_base_url: "http://127.0.0.1:8002".into(),
            max_message_size: 1_048_576,
            request_timeout_secs: 30,
            header_timeout_secs: 10,
            body_timeout_secs: 10,
            max_connections: 4096,
            body_budget_bytes: 64 << 20,
            busy_wait_ms: 2000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    /// Most submissions one group commit takes.
    pub commit_batch_max: usize,
    /// How long the committer waits for more work before committing; 0 commits what is queued
    /// as soon as the previous commit ends.
    pub commit_delay_us: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { data_dir: PathBuf::from("tern-data"), commit_batch_max: 256, commit_delay_us: 0 }
    }
}

/// Header enrichment: which proxy-added headers name the submitting subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Looked up in this order; the first with a usable value wins.
    pub headers: Vec<String>,
    /// Peers whose identity headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Refuse a submission that carries no usable identity.
    pub require: bool,
    pub from_mismatch: FromMismatch,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            headers: [
                "X-MSISDN",
                "X-WAP-Network-Client-MSISDN",
                "X-Nokia-MSISDN",
                "X-Up-Calling-Line-Id",
                "X-Hts-CLID",
            ]
            .map(String::from)
            .to_vec(),
            trusted_proxies: vec![
                IpNet::new_assert(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
                IpNet::new_assert(IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
            ],
            require: true,
            from_mismatch: FromMismatch::Reject,
        }
    }
}

/// What to do when a PDU's From names another subscriber than the trusted identity header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FromMismatch {
    /// Refuse the submission.
    #[default]
    Reject,
    /// Replace the From with the identity the proxy vouched for.
    Overwrite,
}

/// How notifications and reports reach handsets. Until a bearer is configured, pushes wait in
/// the queue (and say so): the relay never pretends a push went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    pub bearer: Bearer,
    /// Where the `udp` bearer sends WSP pushes (WDP over UDP, as to an IP-connected handset).
    pub udp_target: SocketAddr,
    /// Per-subscriber targets of the `udp` bearer, so that several simulated handsets can each
    /// get their own pushes; numbers not listed go to `udp_target`. Keys are canonical MSISDNs
    /// once loaded.
    pub udp_clients: BTreeMap<String, SocketAddr>,
    /// Most due pushes the delivery worker leases at once (it keeps a few such batches in flight).
    pub batch: u32,
    /// The `smpp` bearer: the SMSCs to bind to and how pushes are submitted.
    pub smpp: SmppConfig,
    /// The `pap` bearer: the Push Proxy Gateway that pushes are handed to.
    pub pap: PapConfig,
    /// Bearers for number ranges: the longest matching prefix wins; others use `bearer`.
    pub routes: Vec<PushRoute>,
    /// Notifications without From and Subject, so that more of them fit one SMS.
    pub compact: bool,
    /// Base of the retrieval URLs in notifications when set (a short host alias the handsets'
    /// gateway resolves, say `http://mms`), instead of `mm1.public_base_url`.
    pub notification_base_url: Option<String>,
}

/// One `[[push.routes]]` entry: pushes to numbers starting with `prefix` go by `bearer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRoute {
    /// An E.164 prefix with '+' ("+1555"), or the digits of local short codes ("13").
    pub prefix: String,
    pub bearer: Bearer,
}

/// PAP 2.0 to a Push Proxy Gateway (an operator's WAP gateway, Kannel's PPG).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PapConfig {
    /// The gateway's PAP URL.
    pub url: String,
    /// The gateway part of the push address: `WAPPUSH=+number/TYPE=PLMN@{ppg_domain}`.
    pub ppg_domain: String,
    /// The domain of the push-ids this relay gives its pushes.
    pub push_id_domain: String,
    /// PAP quality of service: "unconfirmed", "confirmed", "preferconfirmed" or "notspecified".
    pub delivery_method: String,
    /// Seconds to wait for the gateway's answer.
    pub timeout_secs: u64,
    /// PEM file of CA certificates trusted for an `https://` URL besides the system's, for a
    /// gateway whose certificate an operator's own CA signed.
    pub ca_file: Option<PathBuf>,
}

impl Default for PapConfig {
    fn default() -> Self {
        PapConfig {
            url: "http://127.0.0.1:18080/wappush".into(),
            ppg_domain: "ppg".into(),
            push_id_domain: "tern.invalid".into(),
            delivery_method: "unconfirmed".into(),
            timeout_secs: 10,
            ca_file: None,
        }
    }
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            bearer: Bearer::None,
            udp_target: SocketAddr::from(([127, 0, 0, 1], 2948)),
            udp_clients: BTreeMap::new(),
            batch: 256,
            smpp: SmppConfig::default(),
            pap: PapConfig::default(),
            routes: Vec::new(),
            compact: false,
            notification_base_url: None,
        }
    }
}

/// SMPP 3.4: pushes go out as binary submit_sm (the WAP push ports in a UDH or in TLVs), taking
/// weighted turns over the bound links; a link that is down is skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmppConfig {
    /// How a push is put into submit_sm.
    pub mode: SmppMode,
    /// data_coding of the short messages: 4 or 2 (8-bit data), or 0xF4..=0xF7 (8-bit with a class).
    pub data_coding: u8,
    /// Number concatenated segments with a 16-bit reference instead of an 8-bit one.
    pub concat_reference_16bit: bool,
    /// Ask the SMSC for delivery receipts (on a transceiver bind), which show in the recipient's
    /// status; only then are the SMSC's message ids kept.
    pub registered_delivery: bool,
    pub links: Vec<SmppLink>,
}

impl Default for SmppConfig {
    fn default() -> Self {
        // No link by default, so the default configuration needs no SMSC.
        SmppConfig {
            mode: SmppMode::Udh,
            data_coding: 4,
            concat_reference_16bit: false,
            registered_delivery: false,
            links: Vec::new(),
        }
    }
}

/// How a push becomes submit_sm (mms-notes §6). SMSCs differ in which they accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmppMode {
    /// One submit_sm a segment, each short_message a UDH (ports, concatenation) and its part.
    #[default]
    Udh,
    /// One submit_sm with the whole datagram (port UDH and push) in the message_payload TLV,
    /// leaving segmentation to the SMSC.
    Payload,
    /// No UDH: the ports in source_port/destination_port TLVs and, when segmented, the
    /// concatenation in sar_* TLVs, each short_message up to 140 octets of the push.
    Tlv,
}

/// One ESME bind to an SMSC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmppLink {
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub bind: SmppBind,
    pub source_addr: String,
    pub source_ton: u8,
    pub source_npi: u8,
    pub dest_ton: u8,
    pub dest_npi: u8,
    /// Most submit_sm awaiting their response at once.
    pub window: u32,
    /// Most submit_sm a second; 0 is unlimited.
    pub throughput: u32,
    /// Seconds between enquire_link keep-alives.
    pub enquire_link_secs: u64,
    /// Seconds the SMSC has to answer a request before it counts as failed.
    pub response_timeout_secs: u64,
    /// This link's share of the pushes relative to the other bound links' weights (1 to 100).
    pub weight: u32,
}

impl Default for SmppLink {
    fn default() -> Self {
        SmppLink {
            host: "127.0.0.1".into(),
            port: 2775,
            system_id: "mmsc".into(),
            password: "secret".into(),
            system_type: String::new(),
            bind: SmppBind::Transceiver,
            source_addr: "MMSC".into(),
            source_ton: 5,
            source_npi: 0,
            dest_ton: 1,
            dest_npi: 1,
            window: 10,
            throughput: 0,
            enquire_link_secs: 30,
            response_timeout_secs: 10,
            weight: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmppBind {
    /// bind_transceiver: the SMSC may also send deliver_sm (receipts) on the same link.
    #[default]
    Transceiver,
    /// bind_transmitter: submit only.
    Transmitter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bearer {
    /// No bearer: pushes stay queued with the error "no bearer configured".
    None,
    /// WDP over UDP to `udp_target`, or a subscriber's own `udp_clients` entry.
    Udp,
    /// SMPP 3.4 submit_sm to the SMSCs in `[push.smpp]`.
    Smpp,
    /// PAP to the Push Proxy Gateway in `[push.pap]`.
    Pap,
}

impl Config {
    /// Reads the file at `path` (defaults alone without one), applies the `TERN_<SECTION>__<KEY>`
    /// environment overrides (`__` between the keys of deeper tables), and validates the result.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let text = match path {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.into(), source })?),
            None => None,
        };
        let mut vars = Vec::new();
        for (name, value) in std::env::vars_os() {
            // A name that is not UTF-8 cannot be one of ours.
            let Some(name) = name.to_str().filter(|n| n.starts_with(ENV_PREFIX)) else { continue };
            let value = value
                .into_string()
                .map_err(|_| ConfigError::Env { var: name.to_owned(), message: "value is not valid UTF-8".into() })?;
            vars.push((name.to_owned(), value));
        }
        Self::from_sources(path.zip(text.as_deref()), vars)
    }

    /// `file` is the file's path (for messages) and text; `vars` the environment, which may
    /// hold unrelated variables.
    fn from_sources(
        file: Option<(&Path, &str)>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let table = match file {
            Some((path, text)) => {
                // Deserializing the file on its own first reports its mistakes with line and
                // column, which the merged table has lost.
                let parse_err = |e| ConfigError::Parse { path: path.into(), source: Box::new(e) };
                toml::from_str::<Config>(text).map_err(parse_err)?;
                toml::from_str::<Table>(text).map_err(parse_err)?
            }
            None => Table::new(),
        };
        let defaults = Table::try_from(Config::default())
            .map_err(|e| ConfigError::Invalid { key: "defaults", message: e.to_string() })?;
        let mut overrides: Vec<_> = vars.into_iter().filter(|(name, _)| is_override(name)).collect();
        // Sorted so that which bad variable gets reported does not depend on the environment's order.
        overrides.sort_by(|(a, _), (b, _)| override_order(a).cmp(&override_order(b)));
        let mut root = Value::Table(table);
        let mut made = Vec::new();
        for (var, raw) in &overrides {
            if let Some(steps) = apply_override(&mut root, &defaults, var, raw)? {
                made.push((var, steps));
            }
        }
        for (var, steps) in &made {
            check_made_entry(&root, var, steps)?;
        }
        let mut config: Config = root.try_into().map_err(|e| ConfigError::Merged(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| Err(ConfigError::Invalid { key, message: message.into() });

        let url = &mut self.mm1.public_base_url;
        let Some(scheme) = ["http://", "https://"].into_iter().find(|s| url.starts_with(s)) else {
            return invalid("mm1.public_base_url", "must start with http:// or https://");
        };
        if url.len() > scheme.len() && url.ends_with('/') {
            url.pop();
        }
        if url.len() == scheme.len() || url.ends_with('/') {
            return invalid("mm1.public_base_url", "must name a host and not end with '/'");
        }
        if self.mm1.path.as_ref().is_some_and(|p| !p.starts_with('/')) {
            return invalid("mm1.path", "must start with '/'");
        }
        if self.mm1.max_message_size == 0 {
            return invalid("mm1.max_message_size", "must be at least 1");
        }
        // Budget is taken in one piece per message, and a piece is counted in 32 bits.
        if self.mm1.max_message_size > u64::from(u32::MAX) {
            return invalid("mm1.max_message_size", "must be at most 4294967295");
        }
        if self.mm1.body_budget_bytes < self.mm1.max_message_size {
            return invalid("mm1.body_budget_bytes", "must be at least mm1.max_message_size");
        }
        for (key, value) in [
            ("mm1.request_timeout_secs", self.mm1.request_timeout_secs),
            ("mm1.header_timeout_secs", self.mm1.header_timeout_secs),
            ("mm1.body_timeout_secs", self.mm1.body_timeout_secs),
        ] {
            // A zero timeout would cut every request; "never" is what these settings exist to prevent.
            if value == 0 {
                return invalid(key, "must be at least 1");
            }
        }
        if self.mm1.max_connections == 0 {
            return invalid("mm1.max_connections", "must be at least 1");
        }
        self.validate_interconnect()?;
        self.validate_mm7()?;
        self.validate_protection()?;
        if self.store.commit_batch_max == 0 {
            return invalid("store.commit_batch_max", "must be at least 1");
        }

        let subs = &self.subscribers;
        if !is_digits(&subs.country_code) || subs.country_code.len() > 3 {
            return invalid("subscribers.country_code", "must be 1 to 3 digits");
        }
        if !subs.national_prefix.bytes().all(|b| b.is_ascii_digit()) {
            return invalid("subscribers.national_prefix", "must be digits (or empty)");
        }
        if !subs.international_prefix.bytes().all(|b| b.is_ascii_digit()) {
            return invalid("subscribers.international_prefix", "must be digits (or empty)");
        }
        if let Some(bad) = subs.local_short_codes.iter().find(|p| !is_digits(p)) {
            return invalid("subscribers.local_short_codes", &format!("{bad:?} is not digits"));
        }
        if let Some(bad) = subs.local.iter().find(|p| !p.strip_prefix('+').is_some_and(is_digits)) {
            return invalid("subscribers.local", &format!("{bad:?} is not '+' followed by digits"));
        }
        if subs.max_recipients == 0 {
            return invalid("subscribers.max_recipients", "must be at least 1");
        }

        if let Some(bad) = self.identity.headers.iter().find(|h| !is_header_name(h)) {
            return invalid("identity.headers", &format!("{bad:?} is not an HTTP header name"));
        }

        let d = &self.delivery;
        if d.max_attempts == 0 {
            return invalid("delivery.max_attempts", "must be at least 1");
        }
        if d.max_backoff_secs < d.initial_backoff_secs {
            return invalid("delivery.max_backoff_secs", "must not be less than initial_backoff_secs");
        }
        if d.max_expiry_secs < d.default_expiry_secs {
            return invalid("delivery.max_expiry_secs", "must not be less than default_expiry_secs");
        }
        if d.sweep_interval_secs == 0 {
            return invalid("delivery.sweep_interval_secs", "must be at least 1");
        }

        let smpp = &self.push.smpp;
        if let Some(route) = self.push.routes.iter().find(|r| {
            let digits = r.prefix.strip_prefix('+').unwrap_or(&r.prefix);
            digits.is_empty() || !is_digits(digits)
        }) {
            return invalid("push.routes", &format!("prefix {:?} is not '+' and digits, or digits", route.prefix));
        }
        self.push.udp_clients = canonical_udp_clients(std::mem::take(&mut self.push.udp_clients), &self.subscribers)?;
        if let Some(url) = &mut self.push.notification_base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return invalid("push.notification_base_url", "must start with http:// or https://");
            }
            if url.ends_with('/') {
                url.pop();
            }
        }
        let uses_smpp = self.push.bearer == Bearer::Smpp || self.push.routes.iter().any(|r| r.bearer == Bearer::Smpp);
        if uses_smpp && smpp.links.is_empty() {
            return invalid("push.smpp.links", "bearer \"smpp\" needs at least one link");
        }
        if !matches!(smpp.data_coding, 0x02 | 0x04 | 0xF4..=0xF7) {
            return invalid("push.smpp.data_coding", "must be an 8-bit data coding: 2, 4 or 0xF4 to 0xF7");
        }
        for link in &smpp.links {
            validate_smpp_link(link)?;
        }
        let pap = &self.push.pap;
        if !(pap.url.starts_with("http://") || pap.url.starts_with("https://")) {
            return invalid("push.pap.url", "must start with http:// or https://");
        }
        if !matches!(pap.delivery_method.as_str(), "unconfirmed" | "confirmed" | "preferconfirmed" | "notspecified") {
            return invalid(
                "push.pap.delivery_method",
                "must be unconfirmed, confirmed, preferconfirmed or notspecified",
            );
        }
        if pap.timeout_secs == 0 {
            return invalid("push.pap.timeout_secs", "must be at least 1");
        }

        let token = &mut self.admin.token_sha256;
        if !token.is_empty() && (token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit())) {
            return invalid("admin.token_sha256", "must be a SHA-256 in hex (64 digits), or empty for none");
        }
        token.make_ascii_lowercase();
        Ok(())
    }
}

/// The `udp_clients` keys written as pushes address subscribers (`+15550001` for `15550001` or
/// `+1 555 0001`), so that a key matches however it was spelt.
fn canonical_udp_clients(
    clients: BTreeMap<String, SocketAddr>,
    subs: &SubscribersConfig,
) -> Result<BTreeMap<String, SocketAddr>, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { key: "push.udp_clients", message };
    let mut canonical = BTreeMap::new();
    for (number, target) in clients {
        let n = crate::core::address::normalize(&number, subs).map_err(|e| invalid(e.to_string()))?;
        if !(n.is_phone() || n.route == crate::core::address::Route::Local) {
            return Err(invalid(format!("{number:?} is not a subscriber's number")));
        }
        if canonical.insert(n.canonical.clone(), target).is_some() {
            return Err(invalid(format!("{number:?} is listed twice (as {})", n.canonical)));
        }
    }
    Ok(canonical)
}

/// The limits are SMPP 3.4's C-Octet String sizes less the terminating NUL (§5.2), so a link that
/// loads can always bind and submit.
impl Config {
    /// MM4 peers, the routing rules that name them, and the outbound retry schedule.
    fn validate_interconnect(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if self.mm4.domain.is_empty() || !self.mm4.domain.contains('.') {
            return invalid("mm4.domain", format!("{:?} is not a domain", self.mm4.domain));
        }
        for (i, peer) in self.mm4.peers.iter().enumerate() {
            if peer.name.is_empty() || self.mm4.peers[..i].iter().any(|p| p.name == peer.name) {
                return invalid("mm4.peers.name", format!("{:?} is empty or named twice", peer.name));
            }
            if peer.domain.is_empty() {
                return invalid("mm4.peers.domain", format!("peer {} has no domain", peer.name));
            }
            if let Some(auth) = &peer.auth
                && crate::core::secret::TokenHash::from_hex(&auth.password_sha256).is_err()
            {
                return invalid("mm4.peers.auth.password_sha256", format!("peer {}: not a SHA-256 in hex", peer.name));
            }
        }
        for name in self.routing.peer_names() {
            if self.mm4.peer(name).is_none() {
                return invalid("routing", format!("names MM4 peer {name:?}, which [[mm4.peers]] does not list"));
            }
        }
        if self.outbound.max_attempts == 0 || self.outbound.concurrency == 0 {
            return invalid("outbound", "max_attempts and concurrency must be at least 1".into());
        }
        if self.outbound.max_backoff_secs < self.outbound.initial_backoff_secs {
            return invalid("outbound.max_backoff_secs", "must be at least outbound.initial_backoff_secs".into());
        }
        Ok(())
    }
}

impl Config {
    /// Protection profiles, and the policies that name them.
    fn validate_protection(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        let profiles = &self.protection.profiles;
        for (i, p) in profiles.iter().enumerate() {
            if p.name.is_empty() || profiles[..i].iter().any(|o| o.name == p.name) {
                return invalid("protection.profiles.name", format!("{:?} is empty or named twice", p.name));
            }
            let sums = p.checksums.iter().flat_map(|c| &c.sha256);
            if let Some(bad) = sums.into_iter().find(|d| d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit())) {
                return invalid("protection.profiles.checksums.sha256", format!("{bad:?} is not a SHA-256 in hex"));
            }
        }
        let sources = self.protection.policies.iter().flat_map(|p| &p.sources);
        if let Some(bad) = sources.into_iter().find(|s| !crate::core::protection::valid_source(s)) {
            return invalid(
                "protection.policies.sources",
                format!("{bad:?} is not peer:<name>, vasp:<name> or an address range"),
            );
        }
        if let Some(name) = self.protection.unknown_profiles().first() {
            return invalid("protection.policies.profile", format!("names profile {name:?}, which no profile has"));
        }
        for p in profiles {
            for (key, rate) in [("flood", &p.flood), ("duplicate", &p.duplicate)] {
                let Some(rate) = rate else { continue };
                let rising = rate.thresholds.windows(2).all(|w| w[0].count < w[1].count);
                if rate.thresholds.is_empty() || rate.thresholds.len() > 3 || !rising || rate.thresholds[0].count == 0 {
                    return invalid(
                        if key == "flood" { "protection.profiles.flood" } else { "protection.profiles.duplicate" },
                        format!("profile {:?}: one to three thresholds, counts above 0 and rising", p.name),
                    );
                }
                if rate.window_secs == 0 {
                    return invalid(
                        "protection.profiles.window_secs",
                        format!("profile {:?}: must be above 0", p.name),
                    );
                }
            }
            if p.spam.as_ref().is_some_and(|s| !(s.threshold.is_finite() && s.threshold > 0.0)) {
                return invalid("protection.profiles.spam.threshold", format!("profile {:?}: must be above 0", p.name));
            }
        }
        for (key, scanner) in
            [("protection.clamd", &self.protection.clamd), ("protection.spamd", &self.protection.spamd)]
        {
            if scanner.address.is_empty()
                || scanner.timeout_ms == 0
                || scanner.max_concurrent == 0
                || scanner.max_size == 0
            {
                return invalid(key, "address, timeout_ms, max_concurrent and max_size must all be set".into());
            }
        }
        let notify = &self.protection.notify;
        if notify.period_secs == 0 || notify.to.iter().chain([&notify.from]).any(|a| !a.contains('@')) {
            return invalid("protection.notify", "period_secs above 0, and from and to as e-mail addresses".into());
        }
        let relay_port = notify.relay.rsplit_once(':').map(|(host, port)| (host.is_empty(), port.parse::<u16>()));
        if !notify.relay.is_empty() && !matches!(relay_port, Some((false, Ok(_)))) {
            return invalid("protection.notify.relay", format!("{:?} is not host:port", notify.relay));
        }
        Ok(())
    }

    /// Content providers' accounts, and the rules that name them.
    fn validate_mm7(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        let vasps = &self.mm7.vasps;
        for (i, v) in vasps.iter().enumerate() {
            if v.name.is_empty() || vasps[..i].iter().any(|o| o.name == v.name) {
                return invalid("mm7.vasps.name", format!("{:?} is empty or named twice", v.name));
            }
            if v.username.is_empty() || vasps[..i].iter().any(|o| o.username == v.username) {
                return invalid("mm7.vasps.username", format!("VASP {}: empty or the same as another's", v.name));
            }
            if v.vasp_id.is_empty() {
                return invalid("mm7.vasps.vasp_id", format!("VASP {} has no VASPID", v.name));
            }
            if let Err(e) = crate::core::secret::PasswordHash::parse(&v.password_hash) {
                return invalid("mm7.vasps.password_hash", format!("VASP {}: {e}", v.name));
            }
            if !mm7::is_schema_name(&v.namespace) {
                return invalid("mm7.vasps.namespace", format!("VASP {}: {:?} is no MM7 schema", v.name, v.namespace));
            }
            if let Some(url) = &v.url
                && !reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
            {
                return invalid("mm7.vasps.url", format!("VASP {}: {url:?} is not an http(s) URL", v.name));
            }
            if v.url_username.is_some() != v.url_password.is_some() {
                return invalid(
                    "mm7.vasps.url_password",
                    format!("VASP {}: give url_username and url_password together", v.name),
                );
            }
            let taken = vasps[..i].iter().flat_map(|o| &o.short_codes).find(|c| v.short_codes.contains(c));
            if let Some(code) = taken {
                return invalid("mm7.vasps.short_codes", format!("short code {code} is given to two VASPs"));
            }
        }
        for name in self.routing.vasp_names() {
            if self.mm7.vasp(name).is_none() {
                return invalid("routing", format!("names VASP {name:?}, which [[mm7.vasps]] does not list"));
            }
        }
        Ok(())
    }
}

fn validate_smpp_link(link: &SmppLink) -> Result<(), ConfigError> {
    let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
    if link.host.is_empty() {
        return invalid("push.smpp.links.host", "must not be empty".into());
    }
    for (key, value, max) in [
        ("push.smpp.links.system_id", &link.system_id, 15),
        ("push.smpp.links.password", &link.password, 8),
        ("push.smpp.links.system_type", &link.system_type, 12),
        ("push.smpp.links.source_addr", &link.source_addr, 20),
    ] {
        if value.len() > max || !value.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return invalid(key, format!("{value:?} is not printable ASCII of at most {max} characters"));
        }
    }
    if link.window == 0 {
        return invalid("push.smpp.links.window", "must be at least 1".into());
    }
    if link.enquire_link_secs == 0 {
        return invalid("push.smpp.links.enquire_link_secs", "must be at least 1".into());
    }
    if link.response_timeout_secs == 0 {
        return invalid("push.smpp.links.response_timeout_secs", "must be at least 1".into());
    }
    // The bearer lays the weights out as a schedule of their sum, so they are kept small.
    if !(1..=100).contains(&link.weight) {
        return invalid("push.smpp.links.weight", "must be 1 to 100".into());
    }
    Ok(())
}

/// Other `TERN_` variables (no `__`) are left to whoever reads them.
fn is_override(name: &str) -> bool {
    name.strip_prefix(ENV_PREFIX).is_some_and(|rest| rest.contains("__"))
}

/// The order overrides are applied in: by their keys, an index by its value, so that the
/// entries of an array of tables are made in turn (`LINKS__2` before `LINKS__10`) and a whole
/// table comes before its keys.
fn override_order(name: &str) -> Vec<(Option<u64>, &str)> {
    name.split("__").map(|segment| (segment.parse().ok().filter(|_| is_digits(segment)), segment)).collect()
}

/// One step from a table of the configuration towards the key an override sets.
#[derive(Debug, Clone)]
enum Step {
    /// A section, a key of a section, or an entry of a map.
    Key(String),
    /// An entry of an array of tables, with that entry type's defaults, which say how its keys
    /// are read and fill it out when one key is checked alone.
    Index(usize, Table),
}

/// The defaults of one entry of the arrays of tables and maps, which are empty by default and
/// so cannot say how an override of an entry is read. A new array of tables or map in the
/// schema needs its line here before overrides can reach into it.
fn entry_template(path: &str) -> Option<Value> {
    match path {
        "push.smpp.links" => Value::try_from(SmppLink::default()).ok(),
        // A route has no defaults: these only say that both keys are text.
        "push.routes" => Value::try_from(PushRoute { prefix: String::new(), bearer: Bearer::None }).ok(),
        // Socket addresses, which are text.
        "push.udp_clients" => Some(Value::String(String::new())),
        // A peer's name and domain have no defaults; its optional tables are set key by key.
        "mm4.peers" => Value::try_from(Mm4Peer {
            name: String::new(),
            domain: String::new(),
            send: None,
            credentials: None,
            admit: Vec::new(),
            auth: None,
        })
        .ok(),
        "mm7.vasps" => Value::try_from(Vasp::default()).ok(),
        "protection.profiles" => Value::try_from(crate::core::protection::Profile::default()).ok(),
        // A policy's and an endpoint's keys are set one by one.
        "protection.policies" | "protection.endpoints" => Some(Value::Table(Table::new())),
        // A rule's keys are all text, and which of them a rule has is its meaning: an entry
        // starts empty and takes only the keys set.
        "routing.rules" => Some(Value::Table(Table::new())),
        _ => None,
    }
}

/// Walks `segments` (the variable's keys, lower case) down the defaults: the steps to the key,
/// and its default, if it has one. An unset option has none, nor has a key the schema lacks,
/// which the check of the key alone then refuses.
fn resolve(defaults: &Table, segments: &[String]) -> Result<(Vec<Step>, Option<Value>), String> {
    let mut steps = Vec::with_capacity(segments.len());
    let mut here = Some(Value::Table(defaults.clone()));
    for (depth, segment) in segments.iter().enumerate() {
        let path = segments[..depth].join(".");
        here = match here {
            Some(Value::Table(table)) => {
                // A map's entries have no defaults of their own: the template stands for all.
                let default = table.get(segment).cloned().or_else(|| entry_template(&path));
                steps.push(Step::Key(segment.clone()));
                default
            }
            Some(Value::Array(_)) => {
                let Some(Value::Table(template)) = entry_template(&path) else {
                    return Err(format!("{path} is a list of values: set it whole, comma-separated"));
                };
                let index = Some(segment).filter(|s| is_digits(s)).and_then(|s| s.parse().ok()).ok_or_else(|| {
                    format!("{path} is an array of tables: expected the index of an entry (0, 1, ...), not {segment:?}")
                })?;
                steps.push(Step::Index(index, template.clone()));
                Some(Value::Table(template))
            }
            Some(_) => return Err(format!("{path} is a single value, with no keys under it")),
            None => {
                steps.push(Step::Key(segment.clone()));
                None
            }
        };
    }
    Ok((steps, here))
}

/// `value` where `steps` lead, alone in otherwise empty tables, so that the schema can check it
/// by itself. An entry of an array of tables is filled out with its type's defaults unless it is
/// the value itself.
fn alone(steps: &[Step], value: Value) -> Value {
    steps.iter().enumerate().rev().fold(value, |inner, (at, step)| match step {
        Step::Key(key) => Value::Table(Table::from_iter([(key.clone(), inner)])),
        Step::Index(_, template) => match inner {
            Value::Table(keys) if at + 1 < steps.len() => {
                let mut entry = template.clone();
                entry.extend(keys);
                Value::Array(vec![Value::Table(entry)])
            }
            whole => Value::Array(vec![whole]),
        },
    })
}

/// The entry of `entries` at `index`, made (empty, so that serde fills in the entry type's
/// defaults) when the index is one past the end; also whether it was made.
fn entry_at<'a>(entries: &'a mut Vec<Value>, index: usize, path: &str) -> Result<(&'a mut Value, bool), String> {
    let made = index == entries.len();
    if made {
        entries.push(Value::Table(Table::new()));
    }
    let count = entries.len();
    match entries.get_mut(index) {
        Some(entry) => Ok((entry, made)),
        None => Err(format!("{path} has no entry {index}: the next new entry is {count}")),
    }
}

/// Puts `value` where `steps` lead in the merged table, making the tables and arrays on the
/// way; returns how many steps lead to an entry of an array of tables that it made, if it did.
fn set(root: &mut Value, steps: &[Step], value: Value) -> Result<Option<usize>, String> {
    let mut made = None;
    let mut path = Vec::new();
    let mut here = root;
    for (at, step) in steps.iter().enumerate() {
        let last = at + 1 == steps.len();
        here = match (step, here) {
            (Step::Key(key), Value::Table(table)) if last => {
                table.insert(key.clone(), value);
                return Ok(made);
            }
            (Step::Key(key), Value::Table(table)) => {
                path.push(key.clone());
                let fresh = match steps.get(at + 1) {
                    Some(Step::Index(..)) => Value::Array(Vec::new()),
                    _ => Value::Table(Table::new()),
                };
                table.entry(key.clone()).or_insert(fresh)
            }
            (Step::Index(index, _), Value::Array(entries)) => {
                let (entry, new) = entry_at(entries, *index, &path.join("."))?;
                if new {
                    made = Some(at + 1);
                }
                path.push(index.to_string());
                if last {
                    *entry = value;
                    return Ok(made);
                }
                entry
            }
            _ => return Err(format!("{} in the file is not a table or an array of tables", path.join("."))),
        };
    }
    Ok(made)
}

/// The value `steps` lead to in the merged table.
fn get<'a>(root: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(root, |here, step| match step {
        Step::Key(key) => here.get(key.as_str()),
        Step::Index(index, _) => here.get(*index),
    })
}

/// Sets one key from `TERN_<KEY>__<KEY>...`, and returns the steps to the entry of an array of
/// tables it made, if it made one. The default's type says how to read the text: a string stays
/// text (so `+1555` is not taken for a number), an array is split on commas, and anything else
/// is read as a TOML value, falling back to a string.
fn apply_override(root: &mut Value, defaults: &Table, var: &str, raw: &str) -> Result<Option<Vec<Step>>, ConfigError> {
    let env_err = |message: String| ConfigError::Env { var: var.to_owned(), message };
    let rest = var.strip_prefix(ENV_PREFIX).unwrap_or(var);
    let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    if segments.iter().any(String::is_empty) {
        return Err(env_err("expected TERN_<SECTION>__<KEY>, with __ between the keys of deeper tables".into()));
    }
    let (steps, default) = resolve(defaults, &segments).map_err(env_err)?;

    let value = match default {
        Some(Value::String(_)) => Value::String(raw.to_owned()),
        Some(Value::Array(_)) => Value::Array(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect(),
        ),
        // Keys without a default (options) and non-text keys.
        _ => raw.parse::<Value>().unwrap_or_else(|_| Value::String(raw.to_owned())),
    };

    // Checking the key alone against the schema names the variable at fault, which an error
    // from the merged table could not.
    alone(&steps, value.clone()).try_into::<Config>().map_err(|e| env_err(one_line(&e)))?;

    let made = set(root, &steps, value).map_err(env_err)?;
    Ok(made.map(|depth| steps[..depth].to_vec()))
}

/// An entry of an array of tables made by an override must be whole once every override is in:
/// a route, which has no defaults, needs both its keys.
fn check_made_entry(root: &Value, var: &str, steps: &[Step]) -> Result<(), ConfigError> {
    let entry = get(root, steps).cloned().unwrap_or_else(|| Value::Table(Table::new()));
    alone(steps, entry).try_into::<Config>().map(drop).map_err(|e| ConfigError::Env {
        var: var.to_owned(),
        message: format!("the entry it adds is incomplete: {}", one_line(&e)),
    })
}

fn one_line(e: &toml::de::Error) -> String {
    e.to_string().trim_end().replace('\n', " ")
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// RFC 9110 token.
fn is_header_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn from_toml(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_sources(Some((Path::new("test.toml"), text)), vars(env))
    }

    #[test]
    fn example_file_is_the_defaults() {
        let example = include_str!("../../../../tern.example.toml");
        assert_eq!(from_toml(example, &[]).unwrap(), Config::default());
        // The file must not lean on serde's defaults: every key is spelled out.
        let table: Table = toml::from_str(example).unwrap();
        let defaults = Table::try_from(Config::default()).unwrap();
        for (section, keys) in &defaults {
            for key in keys.as_table().unwrap().keys() {
                assert!(table[section].get(key).is_some(), "{section}.{key} missing from tern.example.toml");
            }
        }
    }

    #[test]
    fn no_file_no_env_is_defaults() {
        let config = Config::from_sources(None, vars(&[("PATH", "/bin"), ("TERN_CONFIG", "x")])).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn documented_defaults() {
        let c = Config::default();
        assert_eq!(c.mm1.listen.to_string(), "127.0.0.1:8002");
        assert_eq!(c.identity.trusted_proxies[0].to_string(), "127.0.0.0/8");
        assert_eq!(c.identity.trusted_proxies[1].to_string(), "::1/128");
        assert_eq!(c.delivery.default_expiry_secs, 604_800);
        assert_eq!(c.delivery.max_expiry_secs, 1_209_600);
    }

    #[test]
    fn file_values_are_read() {
        let c = from_toml(
            r#"
            [mm1]
            listen = "0.0.0.0:80"
            path = "/mms"
            public_base_url = "https://mms.example.net/"
            [subscribers]
            local = ["+4470", "+4471"]
            [identity]
            trusted_proxies = ["10.0.0.0/8"]
            from_mismatch = "overwrite"
            "#,
            &[],
        )
        .unwrap();
        assert_eq!(c.mm1.listen.port(), 80);
        assert_eq!(c.mm1.path.as_deref(), Some("/mms"));
        assert_eq!(c.mm1.public_base_url, "https://mms.example.net");
        assert_eq!(c.subscribers.local, ["+4470", "+4471"]);
        assert_eq!(c.identity.trusted_proxies, ["10.0.0.0/8".parse::<IpNet>().unwrap()]);
        assert_eq!(c.identity.from_mismatch, FromMismatch::Overwrite);
        assert_eq!(c.store, StoreConfig::default());
    }

    #[test]
    fn env_overrides_each_kind_of_key() {
        let c = from_toml(
            "[mm1]\nlisten = \"127.0.0.1:1\"\n",
            &[
                ("TERN_MM1__LISTEN", "0.0.0.0:8002"),
                ("TERN_MM1__PATH", "/mm1"),
                ("TERN_MM1__MAX_MESSAGE_SIZE", "300000"),
                ("TERN_MM1__MAX_CONNECTIONS", "100"),
                ("TERN_MM1__BODY_BUDGET_BYTES", "1000000"),
                ("TERN_STORE__DATA_DIR", "/var/lib/tern"),
                ("TERN_SUBSCRIBERS__LOCAL", "+1555, +1666"),
                ("TERN_SUBSCRIBERS__COUNTRY_CODE", "44"),
                ("TERN_IDENTITY__REQUIRE", "false"),
                ("TERN_IDENTITY__TRUSTED_PROXIES", "10.0.0.0/8,fd00::/8"),
                ("TERN_IDENTITY__FROM_MISMATCH", "overwrite"),
                ("tern_delivery__max_attempts", "not ours: lower case prefix"),
            ],
        )
        .unwrap();
        assert_eq!(c.mm1.listen.to_string(), "0.0.0.0:8002");
        assert_eq!(c.mm1.path.as_deref(), Some("/mm1"));
        assert_eq!(c.mm1.max_message_size, 300_000);
        assert_eq!((c.mm1.max_connections, c.mm1.body_budget_bytes), (100, 1_000_000));
        assert_eq!(c.store.data_dir, Path::new("/var/lib/tern"));
        assert_eq!(c.subscribers.local, ["+1555", "+1666"]);
        assert_eq!(c.subscribers.country_code, "44");
        assert!(!c.identity.require);
        assert_eq!(c.identity.trusted_proxies.len(), 2);
        assert_eq!(c.identity.from_mismatch, FromMismatch::Overwrite);
        assert_eq!(c.delivery, DeliveryConfig::default());
    }

    #[test]
    fn empty_env_list_clears_it() {
        let c = from_toml("", &[("TERN_IDENTITY__HEADERS", "")]).unwrap();
        assert!(c.identity.headers.is_empty());
    }

    #[test]
    fn env_errors_name_the_variable() {
        for (var, value) in [
            ("TERN_NOPE__LISTEN", "x"),
            ("TERN_MM1__NOPE", "x"),
            ("TERN_MM1__", "x"),
            ("TERN_MM1__LISTEN", "not an address"),
            ("TERN_DELIVERY__MAX_ATTEMPTS", "many"),
            ("TERN_IDENTITY__REQUIRE", "yes"),
        ] {
            match from_toml("", &[(var, value)]) {
                Err(ConfigError::Env { var: v, .. }) => assert_eq!(v, var),
                other => panic!("{var}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn env_overrides_reach_keys_of_nested_tables() {
        let c = from_toml(
            "[push.pap]\nurl = \"http://ppg.example.net/wappush\"\n",
            &[
                ("TERN_PUSH__PAP__URL", "https://ppg.example.net:8443/wappush"),
                ("TERN_PUSH__PAP__TIMEOUT_SECS", "3"),
                ("TERN_PUSH__PAP__CA_FILE", "/etc/tern/ppg-ca.pem"),
                ("TERN_PUSH__SMPP__MODE", "tlv"),
                ("TERN_PUSH__SMPP__DATA_CODING", "0xF5"),
                ("TERN_PUSH__SMPP__REGISTERED_DELIVERY", "true"),
            ],
        )
        .unwrap();
        assert_eq!(c.push.pap.url, "https://ppg.example.net:8443/wappush");
        assert_eq!(c.push.pap.timeout_secs, 3);
        assert_eq!(c.push.pap.ca_file.as_deref(), Some(Path::new("/etc/tern/ppg-ca.pem")));
        assert_eq!(c.push.pap.ppg_domain, PapConfig::default().ppg_domain);
        assert_eq!((c.push.smpp.mode, c.push.smpp.data_coding), (SmppMode::Tlv, 0xF5));
        assert!(c.push.smpp.registered_delivery);
    }

    #[test]
    fn env_overrides_reach_into_the_files_smpp_links_and_add_more() {
        let file = "[push]\nbearer = \"smpp\"\n[[push.smpp.links]]\nhost = \"smsc1\"\nsystem_id = \"tern\"\n";
        let c = from_toml(
            file,
            &[
                ("TERN_PUSH__SMPP__LINKS__0__PASSWORD", "s3cr3t"),
                // Text by its default's type, though it reads as a number.
                ("TERN_PUSH__SMPP__LINKS__0__SYSTEM_ID", "12345"),
                ("TERN_PUSH__SMPP__LINKS__1__HOST", "smsc2"),
                ("TERN_PUSH__SMPP__LINKS__1__PORT", "2776"),
                ("TERN_PUSH__SMPP__LINKS__1__BIND", "transmitter"),
            ],
        )
        .unwrap();
        let links = &c.push.smpp.links;
        assert_eq!(links.len(), 2);
        assert_eq!((links[0].host.as_str(), links[0].password.as_str()), ("smsc1", "s3cr3t"));
        assert_eq!(links[0].system_id, "12345");
        let added = SmppLink { host: "smsc2".into(), port: 2776, bind: SmppBind::Transmitter, ..SmppLink::default() };
        assert_eq!(links[1], added, "a link added from the environment has the defaults for the rest");
    }

    #[test]
    fn env_overrides_alone_can_make_links_and_routes_in_order() {
        // Given in no particular order, as the environment gives them; link 10 comes after 9.
        let mut env = vec![("TERN_PUSH__BEARER".to_owned(), "smpp".to_owned())];
        for n in (0..=10).rev() {
            env.push((format!("TERN_PUSH__SMPP__LINKS__{n}__PORT"), (3000 + n).to_string()));
        }
        env.push(("TERN_PUSH__ROUTES__0__PREFIX".into(), "+1666".into()));
        env.push(("TERN_PUSH__ROUTES__0__BEARER".into(), "udp".into()));
        let c = Config::from_sources(None, env).unwrap();
        let ports: Vec<u16> = c.push.smpp.links.iter().map(|l| l.port).collect();
        assert_eq!(ports, (3000..=3010).collect::<Vec<_>>());
        assert_eq!(c.push.smpp.links[10], SmppLink { port: 3010, ..SmppLink::default() });
        assert_eq!(c.push.routes, [PushRoute { prefix: "+1666".into(), bearer: Bearer::Udp }]);
    }

    #[test]
    fn env_overrides_alone_can_make_mm4_peers_and_routing_rules() {
        let env = vec![
            ("TERN_MM4__ENABLED".to_owned(), "true".to_owned()),
            ("TERN_MM4__PEERS__0__NAME".into(), "b".into()),
            ("TERN_MM4__PEERS__0__DOMAIN".into(), "mms.mnc002.mcc001.gprs".into()),
            ("TERN_MM4__PEERS__0__ADMIT".into(), "127.0.0.0/8,10.0.0.0/8".into()),
            // The optional tables of a peer, and a rule, are written whole, as TOML inline tables.
            ("TERN_MM4__PEERS__0__SEND".into(), r#"{ via = "relay", host = "mx.b.example", port = 2526 }"#.into()),
            ("TERN_ROUTING__RULES__0".into(), r#"{ prefix = "+1556", action = "mm4", peer = "b" }"#.into()),
        ];
        let c = Config::from_sources(None, env).unwrap();
        let peer = &c.mm4.peers[0];
        assert_eq!((peer.name.as_str(), peer.domain.as_str(), peer.admit.len()), ("b", "mms.mnc002.mcc001.gprs", 2));
        assert_eq!(peer.send, Some(crate::smtp::SendTarget::Relay { host: "mx.b.example".into(), port: 2526 }));
        assert_eq!(c.routing.peer_names().collect::<Vec<_>>(), ["b"]);
        let wrong = vec![(
            "TERN_ROUTING__RULES__0".to_owned(),
            r#"{ prefix = "+1556", action = "mm4", peer = "zz" }"#.to_owned(),
        )];
        assert!(Config::from_sources(None, wrong).is_err(), "a rule naming no peer is refused");
    }

    #[test]
    fn env_overrides_add_map_entries() {
        let c = from_toml(
            "[push.udp_clients]\n\"+15550001\" = \"127.0.0.1:1\"\n",
            // A name cannot hold a '+': the numbers are written with a prefix of the numbering plan.
            &[("TERN_PUSH__UDP_CLIENTS__0015550002", "127.0.0.1:2"), ("TERN_PUSH__UDP_CLIENTS__05550003", "[::1]:3")],
        )
        .unwrap();
        let clients: Vec<String> = c.push.udp_clients.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(clients, ["+15550001=127.0.0.1:1", "+15550002=127.0.0.1:2", "+15550003=[::1]:3"]);
    }

    #[test]
    fn deep_env_errors_name_the_variable() {
        let link = "[[push.smpp.links]]\nhost = \"smsc1\"\n";
        for (file, var, value) in [
            ("", "TERN_PUSH__PAP__NOPE", "x"),
            ("", "TERN_PUSH__PAP__TIMEOUT_SECS", "soon"),
            ("", "TERN_PUSH__PAP__URL__HOST", "x"),
            ("", "TERN_PUSH____URL", "x"),
            ("", "TERN_PUSH__SMPP__MODE", "sar"),
            ("", "TERN_PUSH__SMPP__LINKS__1__HOST", "a gap: there is no link 0"),
            (link, "TERN_PUSH__SMPP__LINKS__2__HOST", "a gap: link 1 is missing"),
            (link, "TERN_PUSH__SMPP__LINKS__FIRST__HOST", "x"),
            (link, "TERN_PUSH__SMPP__LINKS__0__NOPE", "x"),
            (link, "TERN_PUSH__SMPP__LINKS__0__PORT", "many"),
            (link, "TERN_PUSH__SMPP__LINKS__0__BIND", "receiver"),
            (link, "TERN_PUSH__SMPP__LINKS__0__", "x"),
            ("", "TERN_SUBSCRIBERS__LOCAL__0", "+1555"),
            ("", "TERN_PUSH__ROUTES__0__PREFIX", "+1666 (a route needs its bearer too)"),
            ("", "TERN_PUSH__UDP_CLIENTS__0015550002", "not an address"),
        ] {
            match from_toml(file, &[(var, value)]) {
                Err(ConfigError::Env { var: v, .. }) => assert_eq!(v, var),
                other => panic!("{var}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn deep_env_overrides_are_validated_too() {
        let err = from_toml("", &[("TERN_PUSH__SMPP__LINKS__0__PASSWORD", "ninechars")]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { key: "push.smpp.links.password", .. }), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(matches!(from_toml("[mm1]\nlistn = \"1.2.3.4:5\"\n", &[]), Err(ConfigError::Parse { .. })));
        assert!(matches!(from_toml("[mm2]\n", &[]), Err(ConfigError::Parse { .. })));
        assert!(matches!(from_toml("[mm1\n", &[]), Err(ConfigError::Parse { .. })));
    }

    #[test]
    fn validation() {
        for (text, key) in [
            (
                "[[protection.profiles]]\nname = \"p\"\nflood = { thresholds = [{ count = 20, actions = [] }, { count = 10, actions = [] }] }",
                "protection.profiles.flood",
            ),
            ("[[protection.profiles]]\nname = \"p\"\nduplicate = { thresholds = [] }", "protection.profiles.duplicate"),
            (
                "[[protection.profiles]]\nname = \"p\"\nflood = { window_secs = 0, thresholds = [{ count = 1, actions = [] }] }",
                "protection.profiles.window_secs",
            ),
            ("[[protection.profiles]]\nname = \"p\"\nspam = { threshold = 0.0 }", "protection.profiles.spam.threshold"),
            ("[protection.clamd]\nmax_concurrent = 0", "protection.clamd"),
            ("[protection.spamd]\naddress = \"\"", "protection.spamd"),
            ("[protection.notify]\nto = [\"noc\"]", "protection.notify"),
            ("[protection.notify]\nrelay = \"smtp.example\"", "protection.notify.relay"),
            ("[[protection.policies]]\nsources = [\"gateway\"]\nprofile = \"p\"", "protection.policies.sources"),
            ("[mm1]\npublic_base_url = \"ftp://x\"", "mm1.public_base_url"),
            ("[mm1]\npublic_base_url = \"http://x//\"", "mm1.public_base_url"),
            ("[mm1]\npath = \"mm1\"", "mm1.path"),
            ("[mm1]\nbody_budget_bytes = 1000", "mm1.body_budget_bytes"),
            ("[mm1]\nmax_message_size = 5000000000\nbody_budget_bytes = 5000000000", "mm1.max_message_size"),
            ("[mm1]\nheader_timeout_secs = 0", "mm1.header_timeout_secs"),
            ("[mm1]\nbody_timeout_secs = 0", "mm1.body_timeout_secs"),
            ("[mm1]\nmax_connections = 0", "mm1.max_connections"),
            ("[subscribers]\nlocal = [\"1555\"]", "subscribers.local"),
            ("[subscribers]\nlocal = [\"+\"]", "subscribers.local"),
            ("[subscribers]\nlocal = [\"+15a\"]", "subscribers.local"),
            ("[subscribers]\ncountry_code = \"+1\"", "subscribers.country_code"),
            ("[identity]\nheaders = [\"X MSISDN\"]", "identity.headers"),
            ("[delivery]\nmax_attempts = 0", "delivery.max_attempts"),
            ("[delivery]\nmax_expiry_secs = 10", "delivery.max_expiry_secs"),
            ("[delivery]\nmax_backoff_secs = 10", "delivery.max_backoff_secs"),
            ("[admin]\ntoken_sha256 = \"abc\"", "admin.token_sha256"),
            (&format!("[admin]\ntoken_sha256 = \"{}\"", "g".repeat(64)), "admin.token_sha256"),
        ] {
            match from_toml(text, &[]) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_example_smpp_link_is_the_default_link() {
        // The commented-out link in tern.example.toml, uncommented, must read as the defaults.
        let example = include_str!("../../../../tern.example.toml");
        let start = example.find("# [[push.smpp.links]]").unwrap();
        let link: String = example[start..]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let c = from_toml(&format!("[push]\nbearer = \"smpp\"\n[push.smpp]\n{link}"), &[]).unwrap();
        assert_eq!(c.push.smpp.links, [SmppLink::default()]);
    }

    #[test]
    fn smpp_links_are_read_and_checked() {
        let c = from_toml(
            "[push]\nbearer = \"smpp\"\n[push.smpp]\nmode = \"tlv\"\ndata_coding = 0xF5\n[[push.smpp.links]]\n\
             port = 1\nweight = 3\n[[push.smpp.links]]\nhost = \"smsc2\"\nbind = \"transmitter\"\nwindow = 1\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.push.bearer, Bearer::Smpp);
        assert_eq!((c.push.smpp.mode, c.push.smpp.data_coding), (SmppMode::Tlv, 0xF5));
        assert_eq!(c.push.smpp.links.len(), 2);
        assert_eq!((c.push.smpp.links[0].port, c.push.smpp.links[0].host.as_str()), (1, "127.0.0.1"));
        assert_eq!((c.push.smpp.links[0].weight, c.push.smpp.links[1].weight), (3, 1));
        assert_eq!(c.push.smpp.links[1].bind, SmppBind::Transmitter);
        let link = |extra: &str| format!("[push.smpp]\n[[push.smpp.links]]\n{extra}\n");
        for (text, key) in [
            ("[push]\nbearer = \"smpp\"".to_owned(), "push.smpp.links"),
            ("[push.smpp]\ndata_coding = 0".to_owned(), "push.smpp.data_coding"),
            (link("window = 0"), "push.smpp.links.window"),
            (link("system_id = \"sixteen-chars-id\""), "push.smpp.links.system_id"),
            (link("password = \"ninechars\""), "push.smpp.links.password"),
            (link("source_addr = \"MM\\u0000SC\""), "push.smpp.links.source_addr"),
            (link("host = \"\""), "push.smpp.links.host"),
            (link("response_timeout_secs = 0"), "push.smpp.links.response_timeout_secs"),
            (link("weight = 0"), "push.smpp.links.weight"),
            (link("weight = 101"), "push.smpp.links.weight"),
        ] {
            match from_toml(&text, &[]) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(from_toml(&link("bind = \"receiver\""), &[]), Err(ConfigError::Parse { .. })));
        assert!(matches!(from_toml("[push.smpp]\nmode = \"sar\"", &[]), Err(ConfigError::Parse { .. })));
        let c = from_toml(&link(""), &[("TERN_PUSH__BEARER", "smpp")]).unwrap();
        assert_eq!(c.push.smpp.links, [SmppLink::default()]);
    }

    #[test]
    fn udp_clients_are_keyed_by_canonical_number() {
        let c =
            from_toml("[push.udp_clients]\n\"0015550001\" = \"127.0.0.1:29481\"\n\"+1 555 0002\" = \"[::1]:9\"\n", &[])
                .unwrap();
        let keys: Vec<&str> = c.push.udp_clients.keys().map(String::as_str).collect();
        assert_eq!(keys, ["+15550001", "+15550002"]);
        assert_eq!(c.push.udp_clients["+15550002"].to_string(), "[::1]:9");
        // The commented-out table in tern.example.toml, uncommented, reads too.
        let example = include_str!("../../../../tern.example.toml");
        let start = example.find("# [push.udp_clients]").unwrap();
        let table: String =
            example[start..].lines().map_while(|l| l.strip_prefix("# ")).map(|l| format!("{l}\n")).collect();
        assert_eq!(from_toml(&table, &[]).unwrap().push.udp_clients.len(), 2, "{table}");
        let c = from_toml("", &[("TERN_PUSH__UDP_CLIENTS", "{ \"+15550003\" = \"127.0.0.1:1\" }")]).unwrap();
        assert_eq!(c.push.udp_clients["+15550003"].port(), 1);
        for text in [
            "[push.udp_clients]\n\"+15550001\" = \"127.0.0.1:1\"\n\"15550001\" = \"127.0.0.1:2\"",
            "[push.udp_clients]\n\"someone@example.net\" = \"127.0.0.1:1\"",
            "[push.udp_clients]\n\"\" = \"127.0.0.1:1\"",
        ] {
            match from_toml(text, &[]) {
                Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "push.udp_clients", "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(
            from_toml("[push.udp_clients]\n\"+15550001\" = \"not an address\"", &[]),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn the_admin_token_hash_is_read_from_the_environment_in_lower_case() {
        let hash = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        let c = from_toml("", &[("TERN_ADMIN__TOKEN_SHA256", hash)]).unwrap();
        assert_eq!(c.admin.token_sha256, hash.to_ascii_lowercase());
        // A hash of digits alone stays text rather than being read as a number.
        let digits = "1".repeat(64);
        assert_eq!(from_toml("", &[("TERN_ADMIN__TOKEN_SHA256", &digits)]).unwrap().admin.token_sha256, digits);
        assert!(from_toml("", &[("TERN_ADMIN__TOKEN_SHA256", "")]).unwrap().admin.token_sha256.is_empty());
    }

    #[test]
    fn env_override_is_validated_too() {
        let err = from_toml("", &[("TERN_SUBSCRIBERS__LOCAL", "+1555,1666")]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { key: "subscribers.local", .. }), "{err}");
    }
}
