//! Routing: where each normalized recipient goes (this relay, an MM4 peer, MM3, a refusal, or
//! nowhere), decided by the `[routing]` rules, the local number ranges and, for a ported number,
//! what ENUM said. Pure: the ENUM lookup itself is done by the caller, which hands its answer in
//! as a [`Ported`].

use serde::{Deserialize, Serialize};

use super::address::{Normalized, Route};
use super::envelope::{Destination, RejectStatus};
use super::settings::SubscribersConfig;

/// The `[routing]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// The routing rules, most specific first whatever their order: an exact number, then the
    /// longest number prefix (the local ranges of `[subscribers]` count as prefixes that route
    /// locally, and lose a tie to a rule), then an e-mail domain.
    pub rules: Vec<Rule>,
    /// The MM4 peer for numbers that no rule, ENUM answer or local range routes; unset parks
    /// them as no-route.
    pub default_peer: Option<String>,
    /// Where e-mail addresses that no rule names go.
    pub email_default: EmailDefault,
    /// ENUM lookups for number portability.
    #[serde(rename = "enum")]
    pub enum_lookup: EnumConfig,
}

impl RoutingConfig {
    /// Every MM4 peer name the rules and `default_peer` use, for the configuration to check
    /// against its `[[mm4.peers]]`.
    pub fn peer_names(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .filter_map(|rule| match &rule.action {
                Action::Mm4 { peer } => Some(peer.as_str()),
                _ => None,
            })
            .chain(self.default_peer.as_deref())
    }

    /// Every content provider the rules name, for the configuration to check against its
    /// `[[mm7.vasps]]`.
    pub fn vasp_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().filter_map(|rule| match &rule.action {
            Action::Mm7 { vasp } => Some(vasp.as_str()),
            _ => None,
        })
    }
}

/// Where e-mail addresses without a rule go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmailDefault {
    /// Out over MM3, the e-mail interface.
    #[default]
    Mm3,
    /// Parked as no-route, as a relay without MM3 needs.
    NoRoute,
}

/// One routing rule: what it matches and what it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RuleText", into = "RuleText")]
pub struct Rule {
    pub matches: Match,
    pub action: Action,
}

/// What a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// One E.164 number, '+' included.
    Number(String),
    /// The E.164 numbers beginning with this, '+' included.
    Prefix(String),
    /// One short code (digits or letters), as handsets dial it.
    ShortCode(String),
    /// E-mail addresses at this domain (lower case); written with a leading dot (`.example.net`),
    /// at its subdomains too (`mail.example.net`, and `example.net` itself).
    Domain(String),
}

/// What a rule does with the recipients it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A subscriber of this relay (numbers only).
    Local,
    /// Over MM4 to this peer.
    Mm4 { peer: String },
    /// Over MM3 (e-mail domains only).
    Mm3,
    /// To this content provider (VASP) over MM7 or EAIF.
    Mm7 { vasp: String },
    /// Refused, with this status and text.
    Reject { status: RejectStatus, text: String },
}

/// A rule as the configuration writes it: one of `number`, `prefix` or `domain`; `action`;
/// `peer` for mm4; `status` and `text` for reject.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RuleText {
    #[serde(skip_serializing_if = "Option::is_none")]
    number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    short_code: Option<String>,
    action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vasp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<RejectStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

impl TryFrom<RuleText> for Rule {
    type Error = String;

    fn try_from(mut t: RuleText) -> Result<Self, String> {
        let matches = match (t.number.take(), t.prefix.take(), t.domain.take(), t.short_code.take()) {
            (Some(n), None, None, None) if is_e164(&n) => Match::Number(n),
            (Some(n), None, None, None) => {
                return Err(format!("rule number {n:?} is not an E.164 number such as +15550100"));
            }
            (None, Some(p), None, None) if p.len() > 1 && is_e164_prefix(&p) => Match::Prefix(p),
            (None, Some(p), None, None) => return Err(format!("rule prefix {p:?} is not '+' and digits")),
            (None, None, Some(d), None) if is_domain(d.strip_prefix('.').unwrap_or(&d)) => {
                Match::Domain(d.to_ascii_lowercase())
            }
            (None, None, Some(d), None) => return Err(format!("rule domain {d:?} is not a domain name")),
            (None, None, None, Some(c)) if is_short_code(&c) => Match::ShortCode(c),
            (None, None, None, Some(c)) => {
                return Err(format!("rule short_code {c:?} is not 1 to 20 letters and digits"));
            }
            _ => return Err("a rule names exactly one of number, prefix, domain or short_code".into()),
        };
        let on_number = !matches!(matches, Match::Domain(_));
        let action = match t.action.as_str() {
            "local" if on_number => Action::Local,
            "local" => return Err("action local is for numbers; an e-mail domain goes mm3, mm4 or reject".into()),
            "mm3" if !on_number => Action::Mm3,
            "mm3" => return Err("action mm3 is for e-mail domains; a number goes local, mm4 or reject".into()),
            "mm4" => match t.peer.take() {
                Some(peer) if !peer.is_empty() => Action::Mm4 { peer },
                _ => return Err("action mm4 needs a peer".into()),
            },
            "mm7" => match t.vasp.take() {
                Some(vasp) if !vasp.is_empty() => Action::Mm7 { vasp },
                _ => return Err("action mm7 needs a vasp".into()),
            },
            "reject" => Action::Reject {
                status: t.status.take().unwrap_or(RejectStatus::ServiceDenied),
                text: t.text.take().unwrap_or_default(),
            },
            other => return Err(format!("unknown action {other:?}: local, mm4, mm3, mm7 or reject")),
        };
        // What the action did not take was misplaced: say so rather than ignore it.
        if t.peer.is_some() {
            return Err("peer is only for action mm4".into());
        }
        if t.vasp.is_some() {
            return Err("vasp is only for action mm7".into());
        }
        if t.status.is_some() || t.text.is_some() {
            return Err("status and text are only for action reject".into());
        }
        Ok(Rule { matches, action })
    }
}

impl From<Rule> for RuleText {
    fn from(rule: Rule) -> Self {
        let mut t = RuleText::default();
        match rule.matches {
            Match::Number(n) => t.number = Some(n),
            Match::Prefix(p) => t.prefix = Some(p),
            Match::Domain(d) => t.domain = Some(d),
            Match::ShortCode(c) => t.short_code = Some(c),
        }
        t.action = match rule.action {
            Action::Local => "local".into(),
            Action::Mm4 { peer } => {
                t.peer = Some(peer);
                "mm4".into()
            }
            Action::Mm3 => "mm3".into(),
            Action::Mm7 { vasp } => {
                t.vasp = Some(vasp);
                "mm7".into()
            }
            Action::Reject { status, text } => {
                t.status = Some(status);
                t.text = Some(text);
                "reject".into()
            }
        };
        t
    }
}

fn is_e164_prefix(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
}

fn is_e164(s: &str) -> bool {
    is_e164_prefix(s) && (7..=16).contains(&s.len()) && !s.starts_with("+0")
}

fn is_short_code(c: &str) -> bool {
    (1..=20).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_domain(d: &str) -> bool {
    !d.is_empty()
        && d.split('.').all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// The `[routing.enum]` table: ENUM (RFC 6116) lookups of numbers that may have been ported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnumConfig {
    /// Look numbers up at all.
    pub enabled: bool,
    /// The zone the reversed digits are looked up under.
    pub suffix: String,
    /// DNS servers as `address:port`, asked over UDP (TCP for long answers); empty asks the
    /// system's resolvers (`nameserver` in /etc/resolv.conf, port 53).
    pub servers: Vec<std::net::SocketAddr>,
    /// How long one lookup may take; past it the number is routed as if there were no answer.
    pub timeout_ms: u64,
    /// How long an answer naming a relay is kept.
    pub cache_secs: u64,
    /// How long "no such number" (or no usable record) is kept.
    pub negative_cache_secs: u64,
    /// Most numbers kept in the cache; the entries nearest their expiry are dropped first.
    pub cache_entries: usize,
    /// The ENUM service whose NAPTR records are used, compared without regard to case:
    /// `E2U+mms` takes any `mms` enumservice (`E2U+mms`, `E2U+mms:mailto`, `E2U+mms:tel`...),
    /// `E2U+mms:mailto` only that subtype.
    pub service: String,
}

impl Default for EnumConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            suffix: "e164.arpa".into(),
            servers: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 5353))],
            timeout_ms: 500,
            cache_secs: 300,
            negative_cache_secs: 60,
            cache_entries: 100_000,
            service: "E2U+mms".into(),
        }
    }
}

/// What ENUM says of a number: the relay that serves it now.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ported {
    /// The URI the NAPTR record gave (`mailto:+15550100200@mms.mnc001.mcc001.gprs`).
    pub uri: String,
    /// Its domain, lower case: the relay.
    pub domain: String,
}

impl Ported {
    /// Reads a `mailto:` or `mms:` URI of the form `scheme:user@domain`; anything else names
    /// no relay.
    pub fn from_uri(uri: &str) -> Option<Ported> {
        let (scheme, rest) = uri.split_once(':')?;
        if !scheme.eq_ignore_ascii_case("mailto") && !scheme.eq_ignore_ascii_case("mms") {
            return None;
        }
        // A mailto URI may carry `?subject=...` headers; they say nothing of the relay.
        let address = rest.split('?').next().unwrap_or(rest);
        let (user, domain) = address.rsplit_once('@')?;
        let domain = domain.strip_suffix('.').unwrap_or(domain).to_ascii_lowercase();
        (!user.is_empty() && is_domain(&domain)).then(|| Ported { uri: uri.to_owned(), domain })
    }
}

/// The ENUM owner name of an E.164 number: its digits reversed, dot-separated, under `suffix`
/// (`+15550100200` under `e164.arpa` is `0.0.2.0.0.1.0.5.5.5.1.e164.arpa.`). `None` for what
/// is not a number.
pub fn enum_name(e164: &str, suffix: &str) -> Option<String> {
    let digits = e164.strip_prefix('+').filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))?;
    let mut name = String::with_capacity(digits.len() * 2 + suffix.len() + 1);
    for digit in digits.chars().rev() {
        name.push(digit);
        name.push('.');
    }
    name.push_str(suffix.trim_matches('.'));
    name.push('.');
    Some(name)
}

/// The MM4 domain 3GPP TS 23.140 gives an operator by its PLMN: `mms.mnc001.mcc001.gprs`, the
/// codes padded with zeros to three digits.
pub fn plmn_domain(mcc: &str, mnc: &str) -> String {
    format!("mms.mnc{mnc:0>3}.mcc{mcc:0>3}.gprs")
}

/// Where `address` goes. `ported` is the ENUM answer for a number, when there was one; `peers`
/// lists each MM4 peer as (name, domain); `own_domain` is this relay's MM4 domain.
pub fn route(
    address: &Normalized,
    ported: Option<&Ported>,
    cfg: &RoutingConfig,
    subs: &SubscribersConfig,
    own_domain: &str,
    peers: &[(String, String)],
) -> Destination {
    let canonical = address.canonical.as_str();
    match address.route {
        Route::Email => route_email(canonical, cfg),
        Route::Local | Route::RemotePlmn if canonical.starts_with('+') => {
            route_number(canonical, ported, cfg, subs, own_domain, peers)
        }
        // A short code: a rule naming it first (a content provider's code goes to it), then
        // the ones normalization already called this relay's handsets'.
        Route::Local | Route::RemotePlmn | Route::ShortCode => {
            if let Some(rule) = cfg
                .rules
                .iter()
                .find(|r| matches!(&r.matches, Match::ShortCode(c) if c.eq_ignore_ascii_case(canonical)))
            {
                return act(&rule.action);
            }
            let served = canonical.bytes().all(|b| b.is_ascii_digit())
                && subs.local_short_codes.iter().any(|p| canonical.starts_with(p.as_str()));
            if served {
                Destination::Local
            } else {
                Destination::NoRoute { reason: format!("short code {canonical} is served by no one here") }
            }
        }
    }
}

fn route_number(
    number: &str,
    ported: Option<&Ported>,
    cfg: &RoutingConfig,
    subs: &SubscribersConfig,
    own_domain: &str,
    peers: &[(String, String)],
) -> Destination {
    if let Some(rule) = cfg.rules.iter().find(|r| matches!(&r.matches, Match::Number(n) if n == number)) {
        return act(&rule.action);
    }
    if let Some(ported) = ported {
        if ported.domain.eq_ignore_ascii_case(own_domain) {
            return Destination::Local;
        }
        if let Some((name, _)) = peers.iter().find(|(_, domain)| domain.eq_ignore_ascii_case(&ported.domain)) {
            return Destination::Mm4 { peer: name.clone() };
        }
        // Served by a relay this one has no peering with: only a default peer (a hub) may reach it.
        return match &cfg.default_peer {
            Some(peer) => Destination::Mm4 { peer: peer.clone() },
            None => Destination::NoRoute {
                reason: format!("{number} is served by {}, which no MM4 peer is", ported.domain),
            },
        };
    }
    let rule = cfg
        .rules
        .iter()
        .filter_map(|r| match &r.matches {
            Match::Prefix(p) if number.starts_with(p.as_str()) => Some((p.len(), &r.action)),
            _ => None,
        })
        .max_by_key(|(len, _)| *len);
    let local = subs.local.iter().filter(|p| number.starts_with(p.as_str())).map(String::len).max();
    match (rule, local) {
        (Some((len, action)), Some(local)) if len >= local => act(action),
        (_, Some(_)) => Destination::Local,
        (Some((_, action)), None) => act(action),
        (None, None) => match &cfg.default_peer {
            Some(peer) => Destination::Mm4 { peer: peer.clone() },
            None => Destination::NoRoute { reason: format!("no route to {number}") },
        },
    }
}

fn route_email(address: &str, cfg: &RoutingConfig) -> Destination {
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
    // An exact domain beats every subdomain pattern; among patterns the longest wins.
    let rule = cfg
        .rules
        .iter()
        .filter_map(|r| match &r.matches {
            Match::Domain(d) if d == domain => Some((usize::MAX, &r.action)),
            Match::Domain(d) if d.starts_with('.') && (domain.ends_with(d.as_str()) || domain == &d[1..]) => {
                Some((d.len(), &r.action))
            }
            _ => None,
        })
        .max_by_key(|(len, _)| *len);
    match (rule, cfg.email_default) {
        (Some((_, action)), _) => act(action),
        (None, EmailDefault::Mm3) => Destination::Mm3,
        (None, EmailDefault::NoRoute) => Destination::NoRoute { reason: format!("no route to e-mail domain {domain}") },
    }
}

fn act(action: &Action) -> Destination {
    match action {
        Action::Local => Destination::Local,
        Action::Mm4 { peer } => Destination::Mm4 { peer: peer.clone() },
        Action::Mm3 => Destination::Mm3,
        Action::Mm7 { vasp } => Destination::Mm7 { vasp: vasp.clone() },
        Action::Reject { status, text } => Destination::Reject { status: *status, text: text.clone() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::address::normalize;

    const OWN: &str = "mms.mnc001.mcc001.gprs";

    fn peers() -> Vec<(String, String)> {
        vec![
            ("berlin".into(), "mms.mnc002.mcc262.gprs".into()),
            ("rival".into(), "mms.mnc002.mcc001.gprs".into()),
            ("hub".into(), "mms.hub.example".into()),
        ]
    }

    fn config(toml_text: &str) -> RoutingConfig {
        toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text}: {e}"))
    }

    const RULES: &str = r#"
        rules = [
            { number = "+15550100999", action = "reject", status = "service-denied", text = "barred" },
            { number = "+15560100001", action = "local" },
            { number = "+15550100500", action = "mm4", peer = "hub" },
            { prefix = "+4930", action = "mm4", peer = "berlin" },
            { prefix = "+49", action = "reject", status = "not-supported", text = "no German traffic" },
            { prefix = "+1555099", action = "reject", status = "address-unresolved" },
            { prefix = "+1", action = "mm4", peer = "rival" },
            { domain = "example.net", action = "mm3" },
            { domain = ".example.net", action = "reject", status = "service-denied", text = "no subdomains" },
            { domain = ".partner.example", action = "mm4", peer = "hub" },
            { domain = "blocked.example", action = "reject" },
            { short_code = "4444", action = "mm7", vasp = "news" },
            { short_code = "4242", action = "reject", text = "retired" },
        ]
    "#;

    fn mm4(peer: &str) -> Destination {
        Destination::Mm4 { peer: peer.into() }
    }

    fn reject(status: RejectStatus, text: &str) -> Destination {
        Destination::Reject { status, text: text.into() }
    }

    fn no_route() -> Destination {
        Destination::NoRoute { reason: String::new() }
    }

    fn ported(domain: &str) -> Ported {
        Ported::from_uri(&format!("mailto:+10@{domain}")).unwrap()
    }

    /// A no-route is compared by kind only: its reason is for people.
    fn same(a: &Destination, b: &Destination) -> bool {
        match (a, b) {
            (Destination::NoRoute { .. }, Destination::NoRoute { .. }) => true,
            _ => a == b,
        }
    }

    #[test]
    fn routes_as_the_table_says() {
        let rules = config(RULES);
        let with_default = RoutingConfig { default_peer: Some("hub".into()), ..config(RULES) };
        let bare = RoutingConfig::default();
        let no_mail = config("email_default = \"no-route\"");
        let subs = SubscribersConfig { local_short_codes: vec!["42".into()], ..SubscribersConfig::default() };
        let (them, us, stranger) = (ported("mms.mnc002.mcc001.gprs"), ported(OWN), ported("mms.unknown.example"));

        let cases: Vec<(&str, &str, Option<&Ported>, &RoutingConfig, Destination)> = vec![
            // No rules: today's behaviour.
            ("local range", "+15550100001", None, &bare, Destination::Local),
            ("other range", "+447700900123", None, &bare, no_route()),
            ("e-mail, default mm3", "a@example.org", None, &bare, Destination::Mm3),
            ("e-mail, default no-route", "a@example.org", None, &no_mail, no_route()),
            ("served short code", "4242", None, &bare, Destination::Local),
            ("other short code", "5000", None, &bare, no_route()),
            ("alphanumeric short code", "VoteNow", None, &rules, no_route()),
            ("a content provider's short code", "4444", None, &rules, Destination::Mm7 { vasp: "news".into() }),
            (
                "short code rule before the served ones",
                "4242",
                None,
                &rules,
                reject(RejectStatus::ServiceDenied, "retired"),
            ),
            // Exact numbers come first, even inside the local range and against ENUM.
            ("number rule in local range", "+15550100999", None, &rules, reject(RejectStatus::ServiceDenied, "barred")),
            (
                "number rule beats ENUM",
                "+15550100999",
                Some(&them),
                &rules,
                reject(RejectStatus::ServiceDenied, "barred"),
            ),
            ("number rule local outside range", "+15560100001", None, &rules, Destination::Local),
            ("number rule to a peer", "+15550100500", Some(&us), &rules, mm4("hub")),
            // Longest prefix; the local range is a prefix too, and loses to a longer rule.
            ("longest prefix", "+493012345678", None, &rules, mm4("berlin")),
            ("shorter prefix", "+4989123456", None, &rules, reject(RejectStatus::NotSupported, "no German traffic")),
            ("rule longer than local range", "+15550991234", None, &rules, reject(RejectStatus::AddressUnresolved, "")),
            ("local range longer than rule", "+15550100001", None, &rules, Destination::Local),
            ("rule shorter, outside range", "+12125550100", None, &rules, mm4("rival")),
            ("no rule, default peer", "+447700900123", None, &with_default, mm4("hub")),
            ("no rule, no default peer", "+447700900123", None, &rules, no_route()),
            // ENUM: ported out of our range, ported in from another.
            ("ported out", "+15550100001", Some(&them), &rules, mm4("rival")),
            ("ported in", "+12125550100", Some(&us), &rules, Destination::Local),
            ("ported in, no rules", "+447700900123", Some(&us), &bare, Destination::Local),
            ("ported to an unknown relay", "+15550100001", Some(&stranger), &rules, no_route()),
            ("ported to an unknown relay, hub", "+15550100001", Some(&stranger), &with_default, mm4("hub")),
            // Domains: exact, then the longest subdomain pattern, then the default.
            ("exact domain", "a@example.net", None, &rules, Destination::Mm3),
            ("subdomain", "a@mail.example.net", None, &rules, reject(RejectStatus::ServiceDenied, "no subdomains")),
            ("pattern matches its own domain", "a@partner.example", None, &rules, mm4("hub")),
            ("pattern matches deep subdomains", "a@x.y.partner.example", None, &rules, mm4("hub")),
            ("not a subdomain", "a@notpartner.example", None, &rules, Destination::Mm3),
            (
                "domain reject, default status",
                "a@blocked.example",
                None,
                &rules,
                reject(RejectStatus::ServiceDenied, ""),
            ),
            ("sub of an exact-only domain", "a@x.blocked.example", None, &rules, Destination::Mm3),
        ];
        for (what, raw, ported, cfg, want) in cases {
            let n = normalize(raw, &subs).unwrap_or_else(|e| panic!("{what}: {e}"));
            let got = route(&n, ported, cfg, &subs, OWN, &peers());
            assert!(same(&got, &want), "{what}: {raw} went {got:?}, not {want:?}");
        }
    }

    #[test]
    fn a_short_code_does_not_meet_number_rules() {
        let cfg = config(r#"rules = [{ prefix = "+4", action = "local" }]"#);
        let n = normalize("4242", &SubscribersConfig::default()).unwrap();
        assert!(same(&route(&n, None, &cfg, &SubscribersConfig::default(), OWN, &peers()), &no_route()));
    }

    #[test]
    fn no_route_says_why() {
        let n = normalize("+447700900123", &SubscribersConfig::default()).unwrap();
        let got = route(&n, None, &RoutingConfig::default(), &SubscribersConfig::default(), OWN, &peers());
        assert_eq!(got, Destination::NoRoute { reason: "no route to +447700900123".into() });
    }

    #[test]
    fn malformed_rules_are_refused() {
        for (text, says) in [
            (r#"{ action = "local" }"#, "exactly one"),
            (r#"{ number = "+1555", prefix = "+1", action = "local" }"#, "exactly one"),
            (r#"{ number = "15550100", action = "local" }"#, "E.164"),
            (r#"{ number = "+1555", action = "local" }"#, "E.164"),
            (r#"{ prefix = "+", action = "local" }"#, "'+' and digits"),
            (r#"{ prefix = "+1-555", action = "local" }"#, "'+' and digits"),
            (r#"{ domain = "a..b", action = "mm3" }"#, "domain name"),
            (r#"{ domain = "example.net", action = "local" }"#, "action local is for numbers"),
            (r#"{ prefix = "+1", action = "mm3" }"#, "action mm3 is for e-mail"),
            (r#"{ prefix = "+1", action = "mm4" }"#, "needs a peer"),
            (r#"{ prefix = "+1", action = "mm4", peer = "" }"#, "needs a peer"),
            (r#"{ prefix = "+1", action = "local", peer = "hub" }"#, "only for action mm4"),
            (r#"{ prefix = "+1", action = "mm4", peer = "hub", text = "x" }"#, "only for action reject"),
            (r#"{ prefix = "+1", action = "drop" }"#, "unknown action"),
            (r#"{ short_code = "44 44", action = "mm7", vasp = "news" }"#, "letters and digits"),
            (r#"{ short_code = "4444", action = "mm7" }"#, "needs a vasp"),
            (r#"{ prefix = "+1", action = "mm4", peer = "hub", vasp = "news" }"#, "only for action mm7"),
            (r#"{ prefix = "+1", action = "reject", status = "busy" }"#, "unknown variant"),
            (r#"{ prefix = "+1", action = "local", colour = "red" }"#, "unknown field"),
        ] {
            let err = toml::from_str::<RoutingConfig>(&format!("rules = [{text}]")).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
        assert!(toml::from_str::<RoutingConfig>("default = 1").is_err());
        assert!(toml::from_str::<RoutingConfig>("[enum]\nttl = 1").is_err());
    }

    #[test]
    fn config_defaults_and_round_trip() {
        let cfg = RoutingConfig::default();
        assert!(cfg.rules.is_empty() && cfg.default_peer.is_none());
        assert_eq!(cfg.email_default, EmailDefault::Mm3);
        let e = &cfg.enum_lookup;
        assert!(!e.enabled);
        assert_eq!((e.suffix.as_str(), e.service.as_str()), ("e164.arpa", "E2U+mms"));
        assert_eq!(e.servers, vec!["127.0.0.1:5353".parse().unwrap()]);
        assert_eq!((e.timeout_ms, e.cache_secs, e.negative_cache_secs, e.cache_entries), (500, 300, 60, 100_000));
        assert_eq!(config(""), cfg);

        let rules = config(RULES);
        let again: RoutingConfig = toml::from_str(&toml::to_string(&rules).unwrap()).unwrap();
        assert_eq!(again, rules);
        let e = config("[enum]\nenabled = true\nservers = []\ntimeout_ms = 200").enum_lookup;
        assert!(e.enabled && e.servers.is_empty() && e.timeout_ms == 200);
    }

    #[test]
    fn peer_names_cover_rules_and_default() {
        let cfg = RoutingConfig { default_peer: Some("hub".into()), ..config(RULES) };
        let names: Vec<&str> = cfg.peer_names().collect();
        assert_eq!(names, ["hub", "berlin", "rival", "hub", "hub"]);
    }

    #[test]
    fn ported_uris() {
        let p = Ported::from_uri("mailto:+15550100200@MMS.mnc001.mcc001.gprs.").unwrap();
        assert_eq!(p.domain, "mms.mnc001.mcc001.gprs");
        assert_eq!(p.uri, "mailto:+15550100200@MMS.mnc001.mcc001.gprs.");
        assert_eq!(Ported::from_uri("MMS:+15550100200@mms.example").unwrap().domain, "mms.example");
        assert_eq!(Ported::from_uri("mailto:a@b.example?subject=x").unwrap().domain, "b.example");
        for uri in
            ["sip:+15550100200@sip.example", "tel:+15550100200", "mailto:@b.example", "mailto:a@", "mailto:a", "x"]
        {
            assert_eq!(Ported::from_uri(uri), None, "{uri}");
        }
    }

    #[test]
    fn enum_owner_names() {
        assert_eq!(enum_name("+15550100200", "e164.arpa").unwrap(), "0.0.2.0.0.1.0.5.5.5.1.e164.arpa.");
        assert_eq!(enum_name("+4930123", ".e164.example.").unwrap(), "3.2.1.0.3.9.4.e164.example.");
        for bad in ["15550100200", "+", "+1555a", "a@b.example"] {
            assert_eq!(enum_name(bad, "e164.arpa"), None, "{bad}");
        }
    }

    #[test]
    fn plmn_domains() {
        assert_eq!(plmn_domain("001", "01"), "mms.mnc001.mcc001.gprs");
        assert_eq!(plmn_domain("262", "2"), "mms.mnc002.mcc262.gprs");
        assert_eq!(plmn_domain("310", "410"), "mms.mnc410.mcc310.gprs");
        assert_eq!(plmn_domain("1", "001"), "mms.mnc001.mcc001.gprs");
    }

    #[test]
    fn reject_status_names() {
        for status in [RejectStatus::ServiceDenied, RejectStatus::AddressUnresolved, RejectStatus::NotSupported] {
            let text = toml::to_string(&RuleText { status: Some(status), ..RuleText::default() }).unwrap();
            assert!(text.contains(&format!("status = \"{}\"", status.name())), "{text}");
        }
    }
}
