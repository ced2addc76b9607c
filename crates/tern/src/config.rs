//! The relay's configuration: the TOML file's schema and defaults, the `TERN_<SECTION>__<KEY>`
//! environment overrides, and the checks run before anything starts. `tern.example.toml` at the
//! workspace root lists every key with its default; a test keeps the two in step.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

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

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub mm1: Mm1Config,
    pub store: StoreConfig,
    pub subscribers: SubscribersConfig,
    pub identity: IdentityConfig,
    pub delivery: DeliveryConfig,
    pub push: PushConfig,
    pub admin: AdminConfig,
}

/// The admin endpoint: Prometheus metrics and health, apart from MM1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Address and port of `/metrics` (Prometheus text) and `/health`.
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig { listen: SocketAddr::from(([127, 0, 0, 1], 8003)) }
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

/// The numbering plan of the subscribers, used to bring addresses to E.164.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubscribersConfig {
    /// Digits, without '+'.
    pub country_code: String,
    /// Dialled before a national number ("0" in `05551234567`); empty if there is none.
    pub national_prefix: String,
    /// Dialled before an international number ("00" in `0015551234567`); empty if none.
    pub international_prefix: String,
    /// E.164 prefixes, '+' included, of the numbers this relay serves.
    pub local: Vec<String>,
    /// Numeric short codes (prefixes, no '+') given to this relay's own handsets, as in a lab.
    pub local_short_codes: Vec<String>,
    /// Most recipients (To, Cc and Bcc together) one submission may name.
    pub max_recipients: usize,
}

impl Default for SubscribersConfig {
    fn default() -> Self {
        Self {
            country_code: "1".into(),
            national_prefix: "0".into(),
            international_prefix: "00".into(),
            local: vec!["+1555".into()],
            local_short_codes: Vec::new(),
            max_recipients: 100,
        }
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Notification attempts per recipient before giving up.
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles at each retry up to `max_backoff_secs`.
    pub initial_backoff_secs: u64,
    pub max_backoff_secs: u64,
    /// Expiry of a message that asks for none.
    pub default_expiry_secs: u64,
    /// Longest expiry a message may ask for; longer requests are cut to it.
    pub max_expiry_secs: u64,
    /// How often expired messages and due retries are looked for.
    pub sweep_interval_secs: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff_secs: 30,
            max_backoff_secs: 3600,
            default_expiry_secs: 7 * 24 * 3600,
            max_expiry_secs: 14 * 24 * 3600,
            sweep_interval_secs: 60,
        }
    }
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
}

impl Default for PapConfig {
    fn default() -> Self {
        PapConfig {
            url: "http://127.0.0.1:18080/wappush".into(),
            ppg_domain: "ppg".into(),
            push_id_domain: "tern.invalid".into(),
            delivery_method: "unconfirmed".into(),
            timeout_secs: 10,
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
    /// environment overrides, and validates the result.
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
        let mut table = match file {
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
        overrides.sort();
        for (var, raw) in &overrides {
            apply_override(&mut table, &defaults, var, raw)?;
        }
        let mut config: Config = table.try_into().map_err(|e| ConfigError::Merged(Box::new(e)))?;
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

/// Sets one key from `TERN_<SECTION>__<KEY>`. The default's type says how to read the text: a
/// string stays text (so `+1555` is not taken for a number), an array is split on commas, and
/// anything else is read as a TOML value, falling back to a string.
fn apply_override(table: &mut Table, defaults: &Table, var: &str, raw: &str) -> Result<(), ConfigError> {
    let env_err = |message: String| ConfigError::Env { var: var.to_owned(), message };
    let rest = var.strip_prefix(ENV_PREFIX).unwrap_or(var);
    let Some((section, key)) = rest.split_once("__") else {
        return Err(env_err("expected TERN_<SECTION>__<KEY>".into()));
    };
    let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
    if section.is_empty() || key.is_empty() {
        return Err(env_err("expected TERN_<SECTION>__<KEY>".into()));
    }

    let value = match defaults.get(&section).and_then(Value::as_table).and_then(|s| s.get(&key)) {
        Some(Value::String(_)) => Value::String(raw.to_owned()),
        Some(Value::Array(_)) => Value::Array(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect(),
        ),
        // Keys without a default (options) and non-text keys.
        _ => raw.parse::<Value>().unwrap_or_else(|_| Value::String(raw.to_owned())),
    };

    // Checking the key alone against the schema names the variable at fault, which an error
    // from the merged table could not.
    let mut alone = Table::new();
    alone.insert(section.clone(), Value::Table(Table::from_iter([(key.clone(), value.clone())])));
    alone.try_into::<Config>().map_err(|e| env_err(e.to_string().trim_end().replace('\n', " ")))?;

    let slot = table.entry(section).or_insert_with(|| Value::Table(Table::new()));
    let Value::Table(section_table) = slot else {
        return Err(env_err("its section in the file is not a table".into()));
    };
    section_table.insert(key, value);
    Ok(())
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
        let example = include_str!("../../../tern.example.toml");
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
    fn unknown_file_keys_are_refused() {
        assert!(matches!(from_toml("[mm1]\nlistn = \"1.2.3.4:5\"\n", &[]), Err(ConfigError::Parse { .. })));
        assert!(matches!(from_toml("[mm2]\n", &[]), Err(ConfigError::Parse { .. })));
        assert!(matches!(from_toml("[mm1\n", &[]), Err(ConfigError::Parse { .. })));
    }

    #[test]
    fn validation() {
        for (text, key) in [
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
        let example = include_str!("../../../tern.example.toml");
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
        let example = include_str!("../../../tern.example.toml");
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
    fn env_override_is_validated_too() {
        let err = from_toml("", &[("TERN_SUBSCRIBERS__LOCAL", "+1555,1666")]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { key: "subscribers.local", .. }), "{err}");
    }
}
