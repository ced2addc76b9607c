//! The settings the core decides by, as the configuration's `[subscribers]`, `[delivery]` and
//! `[retrieval]` tables give them: the numbering plan that addresses are normalized and routed
//! by, the expiry and retry limits of delivery, and how long a retrieval URL is honoured. They
//! are plain data with their defaults; `config` reads them from the file and the environment
//! and validates them.

use serde::{Deserialize, Serialize};

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

/// How long a recipient's retrieval URL is honoured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrievalConfig {
    /// Seconds the URL still serves the message after the recipient confirmed it has it
    /// (m-notifyresp.ind Retrieved, m-acknowledge.ind): long enough for a handset that fetches
    /// again after a glitch, short enough that a leaked URL soon stops working.
    pub after_ack_secs: u64,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        RetrievalConfig { after_ack_secs: 300 }
    }
}
