//! Protection: named profiles of checks on a message, each check with the actions it takes when
//! it matches; the policies that choose profiles by interface, source, sender and recipients;
//! and the endpoint filters that block, log or exempt senders by their address. This module is
//! the configuration and the decisions, pure: asking the scanners (clamd, spamd), counting in the
//! store and the actions' I/O are in `crate::protect`, which asks these types what to do.
//!
//! - `checks.rs`: the content checks that need no scanner (real file type, part size, checksum,
//!   banned words).
//! - `patterns.rs`: address patterns (wildcards or regular expressions) for policies and
//!   endpoints.
//! - `verdict.rs`: what one message's decisions add up to (block, quarantine, replace, archive,
//!   notify), and the thresholds of the flood and duplicate checks.

mod checks;
mod patterns;
mod verdict;

pub use checks::{Part, content_decisions, real_type, text_of};
pub use patterns::{AddressPattern, PatternError};
pub use verdict::{Replaced, Verdict};

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The `[protection]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProtectionConfig {
    pub profiles: Vec<Profile>,
    pub policies: Vec<Policy>,
    /// Carrier endpoint filters, tried in order on the sender's address; the first that
    /// matches applies.
    pub endpoints: Vec<Endpoint>,
    /// The virus scanner the profiles' `virus` checks ask.
    pub clamd: ScannerConfig,
    /// The spam scorer the profiles' `spam` checks ask.
    pub spamd: ScannerConfig,
    /// Where the `notify` action's mail goes, and how often at most.
    pub notify: NotifyConfig,
}

impl Default for ProtectionConfig {
    fn default() -> ProtectionConfig {
        ProtectionConfig {
            profiles: Vec::new(),
            policies: Vec::new(),
            endpoints: Vec::new(),
            clamd: ScannerConfig::clamd(),
            spamd: ScannerConfig::spamd(),
            notify: NotifyConfig::default(),
        }
    }
}

/// Where a message is screened: the interface it came in on, or its retrieval by a handset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interface {
    /// Sent by a handset of this relay.
    Mm1Sent,
    /// Fetched by a handset of this relay (screened again, with the scanner's signatures of
    /// the moment).
    Mm1Retrieved,
    Mm3,
    Mm4,
    Mm7,
}

impl Interface {
    pub const ALL: [Interface; 5] =
        [Interface::Mm1Sent, Interface::Mm1Retrieved, Interface::Mm3, Interface::Mm4, Interface::Mm7];

    pub fn name(self) -> &'static str {
        match self {
            Interface::Mm1Sent => "mm1-sent",
            Interface::Mm1Retrieved => "mm1-retrieved",
            Interface::Mm3 => "mm3",
            Interface::Mm4 => "mm4",
            Interface::Mm7 => "mm7",
        }
    }
}

/// Which profile screens which messages. Every list that is not empty must match: the
/// interface, the source (`peer:<name>` for an MM4 peer, `vasp:<name>` for a content provider,
/// or an address range such as `10.20.0.0/16` that the connection came from), the sender, and
/// at least one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub interfaces: Vec<Interface>,
    pub sources: Vec<String>,
    pub senders: Vec<AddressPattern>,
    pub recipients: Vec<AddressPattern>,
    pub profile: String,
}

/// A carrier endpoint filter: senders whose address matches `pattern` get `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub pattern: AddressPattern,
    pub action: EndpointAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointAction {
    /// Every message of the sender is refused, before any scan.
    Block,
    /// The sender's messages are not screened at all.
    Exempt,
    /// The sender's messages are screened, but never counted or judged by the flood and
    /// duplicate checks.
    ExemptFlood,
    /// The sender's messages are logged and counted, then screened as any other.
    Log,
}

impl EndpointAction {
    pub fn name(self) -> &'static str {
        match self {
            EndpointAction::Block => "block",
            EndpointAction::Exempt => "exempt",
            EndpointAction::ExemptFlood => "exempt-flood",
            EndpointAction::Log => "log",
        }
    }
}

/// What a check does when it matches. Several can be given; a message takes the strongest
/// of block, quarantine and replace, and every log, archive and notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Logged and counted; the message goes on.
    Log,
    /// A copy of the message is kept in the archive (for data-loss prevention); the message
    /// goes on unless another action stops it.
    Archive,
    /// The message is held, not delivered, until an administrator releases or deletes it.
    Quarantine,
    /// The administrator hears of it, at most once per notification period.
    Notify,
    /// The offending parts (every part, for a check on the whole message) are replaced by the
    /// profile's replacement text.
    Replace,
    /// Refused with the interface's answer; nothing is delivered.
    Block,
}

impl Action {
    pub const ALL: [Action; 6] =
        [Action::Log, Action::Archive, Action::Quarantine, Action::Notify, Action::Replace, Action::Block];

    pub fn name(self) -> &'static str {
        match self {
            Action::Log => "log",
            Action::Archive => "archive",
            Action::Quarantine => "quarantine",
            Action::Notify => "notify",
            Action::Replace => "replace",
            Action::Block => "block",
        }
    }
}

/// The checks, by the names decisions, logs and metrics give them.
pub const CHECKS: [&str; 9] =
    ["endpoint", "virus", "spam", "file-filter", "checksum", "banned-words", "flood", "duplicate", "scanner-down"];

/// What the profile's text says when none is configured.
pub const DEFAULT_REPLACEMENT: &str = "Content removed by the operator's filter.";

/// A named set of checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    /// The text that replaces a part (the `replace` action), is fetched instead of a blocked
    /// message on MM1 retrieval, and answers a blocked sender.
    pub replacement: String,
    /// A sender whose message is blocked for a virus is told what was found.
    pub inform_sender: bool,
    pub virus: Option<VirusCheck>,
    pub spam: Option<SpamCheck>,
    pub file_filter: Option<FileFilter>,
    pub checksums: Option<Checksums>,
    pub banned_words: Option<BannedWords>,
    pub flood: Option<RateCheck>,
    pub duplicate: Option<RateCheck>,
}

impl Default for Profile {
    fn default() -> Profile {
        Profile {
            name: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_owned(),
            inform_sender: false,
            virus: None,
            spam: None,
            file_filter: None,
            checksums: None,
            banned_words: None,
            flood: None,
            duplicate: None,
        }
    }
}

/// What a check that needs a scanner does when the scanner cannot answer (down, too slow,
/// or answering nonsense).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// The message goes on unscanned, and the failure is logged and counted.
    #[default]
    Open,
    /// The message is refused with a transient error: the sender tries again later.
    Closed,
}

/// Every part scanned by clamd.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VirusCheck {
    pub actions: Vec<Action>,
    pub on_error: OnError,
}

/// The subject and text parts scored by spamd; the message matches at `threshold` points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpamCheck {
    pub threshold: f64,
    pub actions: Vec<Action>,
    pub on_error: OnError,
}

impl Default for SpamCheck {
    fn default() -> SpamCheck {
        SpamCheck { threshold: 5.0, actions: Vec::new(), on_error: OnError::Open }
    }
}

/// Parts by their real type and their size.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileFilter {
    /// Real media types matched (`application/x-executable`, or `image/*` for a whole kind),
    /// read from the part's first bytes whatever it declares.
    pub types: Vec<String>,
    /// A part's declared type that is not its real one matches too (a picture sent as text).
    pub mislabelled: bool,
    /// Parts larger than this match, in octets; 0 for no limit.
    pub max_part_size: usize,
    pub actions: Vec<Action>,
}

/// Parts by the SHA-256 of their bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Checksums {
    /// Lower-case hex digests.
    pub sha256: Vec<String>,
    pub actions: Vec<Action>,
}

/// Words and phrases with scores; a message whose subject and text parts score at least the
/// threshold matches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BannedWords {
    pub words: Vec<ScoredWord>,
    pub threshold: u32,
    pub actions: Vec<Action>,
}

/// A word or phrase, matched whole and in any case, and what each occurrence scores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoredWord {
    pub word: String,
    pub score: u32,
}

/// Messages counted per window: by sender (flood) or by content (duplicate). Each threshold
/// has its own actions; a message takes the actions of the highest threshold its count has
/// reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateCheck {
    /// The window's length: a count starts at the first message and ends this many seconds
    /// later.
    pub window_secs: u64,
    /// Up to three, in rising order of `count`.
    pub thresholds: Vec<Threshold>,
}

impl Default for RateCheck {
    fn default() -> RateCheck {
        RateCheck { window_secs: 60, thresholds: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// The message that makes the window's count reach this, and every later one in the
    /// window, take these actions (unless a higher threshold is reached).
    pub count: u64,
    pub actions: Vec<Action>,
}

impl RateCheck {
    /// The highest threshold `count` has reached.
    pub fn reached(&self, count: u64) -> Option<&Threshold> {
        self.thresholds.iter().filter(|t| count >= t.count).max_by_key(|t| t.count)
    }
}

/// A scanner's address and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScannerConfig {
    /// `host:port` for TCP, or the path of a unix socket (starting with `/`).
    pub address: String,
    /// Longest a scan of one message may take, connection included.
    pub timeout_ms: u64,
    /// Most scans in flight at once; more wait their turn (within the timeout).
    pub max_concurrent: usize,
    /// Most octets sent to the scanner for one part (clamd) or message (spamd); beyond it the
    /// scanner's answer could not be trusted, so a larger one counts as a scanner error.
    pub max_size: usize,
}

impl ScannerConfig {
    pub fn clamd() -> ScannerConfig {
        ScannerConfig {
            address: "127.0.0.1:3310".into(),
            timeout_ms: 10_000,
            max_concurrent: 16,
            max_size: 25 * 1024 * 1024,
        }
    }

    pub fn spamd() -> ScannerConfig {
        ScannerConfig { address: "127.0.0.1:783".into(), timeout_ms: 10_000, max_concurrent: 16, max_size: 512 * 1024 }
    }
}

impl Default for ScannerConfig {
    fn default() -> ScannerConfig {
        ScannerConfig::clamd()
    }
}

/// The administrator's notifications: one mail per period at most, summing up what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Addresses the notification goes to; none to only log it.
    pub to: Vec<String>,
    /// Its From address.
    pub from: String,
    /// `host:port` of the mail relay it goes through; empty for the MX of each address's
    /// domain.
    pub relay: String,
    /// At most one notification per this many seconds.
    pub period_secs: u64,
}

impl Default for NotifyConfig {
    fn default() -> NotifyConfig {
        NotifyConfig { to: Vec::new(), from: "tern@localhost".into(), relay: String::new(), period_secs: 3600 }
    }
}

/// What a decision was about, for the verdict: a part (by its index) or the whole message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Part(usize),
    Message,
}

/// What matched: the profile, the check, why, and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub profile: String,
    pub check: &'static str,
    pub detail: String,
    pub scope: Scope,
    pub actions: Vec<Action>,
}

impl Decision {
    pub fn takes(&self, action: Action) -> bool {
        self.actions.contains(&action)
    }

    pub fn blocks(&self) -> bool {
        self.takes(Action::Block)
    }
}

/// Who a message is from and to, and where it came from: what policies and endpoints match.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub interface: Interface,
    /// `peer:<name>` or `vasp:<name>`, for messages from another relay or a content provider.
    pub source: Option<&'a str>,
    /// The network address the message came from, if known.
    pub client: Option<IpAddr>,
    pub sender: &'a str,
    pub recipients: &'a [String],
}

impl ProtectionConfig {
    /// The profiles whose policies match `subject`, each once, in the policies' order.
    pub fn profiles_for(&self, subject: &Subject<'_>) -> Vec<&Profile> {
        let mut out: Vec<&Profile> = Vec::new();
        let named = self.policies.iter().filter(|p| p.matches(subject)).map(|p| p.profile.as_str());
        for name in named {
            if let Some(profile) = self.profiles.iter().find(|p| p.name == name)
                && !out.iter().any(|p| p.name == name)
            {
                out.push(profile);
            }
        }
        out
    }

    /// Whether any policy may name `interface` (a policy without interfaces names them all),
    /// so its messages' content must be read.
    pub fn screens(&self, interface: Interface) -> bool {
        self.policies.iter().any(|p| p.interfaces.is_empty() || p.interfaces.contains(&interface))
    }

    /// The first endpoint filter that matches `sender`.
    pub fn endpoint(&self, sender: &str) -> Option<EndpointAction> {
        self.endpoints.iter().find(|e| e.pattern.matches(sender)).map(|e| e.action)
    }

    /// Whether a profile some policy uses has a check that needs clamd (or spamd).
    pub fn uses_clamd(&self) -> bool {
        self.used_profiles().any(|p| p.virus.is_some())
    }

    pub fn uses_spamd(&self) -> bool {
        self.used_profiles().any(|p| p.spam.is_some())
    }

    fn used_profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.iter().filter(|p| self.policies.iter().any(|pol| pol.profile == p.name))
    }

    /// The profile names policies use that no profile has, for the configuration's check.
    pub fn unknown_profiles(&self) -> Vec<&str> {
        self.policies
            .iter()
            .map(|p| p.profile.as_str())
            .filter(|name| !self.profiles.iter().any(|p| p.name == *name))
            .collect()
    }
}

/// Whether a policy's source entry names where `s` came from: its peer or content provider by
/// name, or an address range holding the address it connected from.
fn source_matches(entry: &str, s: &Subject<'_>) -> bool {
    if entry.starts_with("peer:") || entry.starts_with("vasp:") {
        return s.source == Some(entry);
    }
    entry.parse::<IpNet>().is_ok_and(|net| s.client.is_some_and(|ip| net.contains(&ip.to_canonical())))
}

/// A source entry a policy may give: `peer:<name>`, `vasp:<name>`, or an address range.
pub fn valid_source(entry: &str) -> bool {
    entry.strip_prefix("peer:").or_else(|| entry.strip_prefix("vasp:")).is_some_and(|name| !name.is_empty())
        || entry.parse::<IpNet>().is_ok()
}

impl Policy {
    fn matches(&self, s: &Subject<'_>) -> bool {
        (self.interfaces.is_empty() || self.interfaces.contains(&s.interface))
            && (self.sources.is_empty() || self.sources.iter().any(|x| source_matches(x, s)))
            && (self.senders.is_empty() || self.senders.iter().any(|p| p.matches(s.sender)))
            && (self.recipients.is_empty() || s.recipients.iter().any(|r| self.recipients.iter().any(|p| p.matches(r))))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pattern(p: &str) -> AddressPattern {
        AddressPattern::new(p).unwrap()
    }

    #[test]
    fn policies_choose_profiles_by_interface_source_sender_and_recipient() {
        let profile = |name: &str| Profile { name: name.into(), ..Profile::default() };
        let cfg = ProtectionConfig {
            profiles: vec![profile("peers"), profile("handsets"), profile("vip")],
            policies: vec![
                Policy {
                    interfaces: vec![Interface::Mm4],
                    sources: vec!["peer:other".into()],
                    profile: "peers".into(),
                    ..Policy::default()
                },
                Policy {
                    interfaces: vec![Interface::Mm1Sent],
                    senders: vec![pattern("+1555*")],
                    profile: "handsets".into(),
                    ..Policy::default()
                },
                Policy { recipients: vec![pattern("re:^\\+1555019")], profile: "vip".into(), ..Policy::default() },
                Policy { interfaces: vec![Interface::Mm1Sent], profile: "handsets".into(), ..Policy::default() },
            ],
            ..ProtectionConfig::default()
        };
        let names = |interface, source, sender, to: &str| {
            let to = [to.to_owned()];
            let s = Subject { interface, source, client: None, sender, recipients: &to };
            cfg.profiles_for(&s).iter().map(|p| p.name.clone()).collect::<Vec<_>>()
        };
        assert_eq!(names(Interface::Mm4, Some("peer:other"), "+4470", "+15550100002"), ["peers"]);
        assert!(names(Interface::Mm4, Some("peer:third"), "+4470", "+15550100002").is_empty());
        assert!(names(Interface::Mm4, None, "+4470", "+15550100002").is_empty());
        assert_eq!(names(Interface::Mm1Sent, None, "+15550100001", "+15550100002"), ["handsets"], "once");
        assert_eq!(names(Interface::Mm7, Some("vasp:news"), "1234", "+15550190000"), ["vip"]);
        assert!(cfg.screens(Interface::Mm7), "a policy without interfaces names them all");
    }

    #[test]
    fn policies_choose_by_the_address_range_a_message_came_from() {
        let cfg = ProtectionConfig {
            profiles: vec![Profile { name: "gateways".into(), ..Profile::default() }],
            policies: vec![Policy {
                sources: vec!["10.0.0.0/8".into(), "2001:db8::/32".into()],
                profile: "gateways".into(),
                ..Policy::default()
            }],
            ..ProtectionConfig::default()
        };
        let chosen = |client: Option<&str>| {
            let client = client.map(|c| c.parse().unwrap());
            let s = Subject { interface: Interface::Mm3, source: None, client, sender: "a@b.example", recipients: &[] };
            cfg.profiles_for(&s).len()
        };
        assert_eq!(chosen(Some("10.1.2.3")), 1);
        assert_eq!(chosen(Some("::ffff:10.1.2.3")), 1, "an IPv4 address mapped into IPv6");
        assert_eq!(chosen(Some("2001:db8::25")), 1);
        assert_eq!(chosen(Some("192.168.1.1")), 0);
        assert_eq!(chosen(None), 0);
        assert!(valid_source("peer:b") && valid_source("10.0.0.0/8") && !valid_source("peer:") && !valid_source("b"));
    }

    #[test]
    fn thresholds_take_the_highest_reached() {
        let t = |count, action| Threshold { count, actions: vec![action] };
        let rate = RateCheck {
            window_secs: 60,
            thresholds: vec![t(10, Action::Log), t(30, Action::Block), t(20, Action::Notify)],
        };
        assert_eq!(rate.reached(9), None);
        assert_eq!(rate.reached(10).unwrap().count, 10);
        assert_eq!(rate.reached(29).unwrap().actions, [Action::Notify]);
        assert_eq!(rate.reached(35).unwrap().actions, [Action::Block]);
    }

    #[test]
    fn endpoints_apply_in_order_and_unknown_profiles_are_found() {
        let cfg = ProtectionConfig {
            endpoints: vec![
                Endpoint { pattern: pattern("+15550100009"), action: EndpointAction::Exempt },
                Endpoint { pattern: pattern("+1555010000?"), action: EndpointAction::Block },
            ],
            policies: vec![Policy { profile: "nowhere".into(), ..Policy::default() }],
            ..ProtectionConfig::default()
        };
        assert_eq!(cfg.endpoint("+15550100009"), Some(EndpointAction::Exempt));
        assert_eq!(cfg.endpoint("+15550100001"), Some(EndpointAction::Block));
        assert_eq!(cfg.endpoint("+15550100010"), None);
        assert_eq!(cfg.unknown_profiles(), ["nowhere"]);
    }
}
