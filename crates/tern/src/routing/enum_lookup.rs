//! ENUM lookups (RFC 6116) for number portability: the NAPTR records of a number's owner name,
//! the ones of the configured service, rewritten by their regexp into the URI of the relay that
//! serves the number now. Answers, and the absence of one, are cached for their configured
//! times; a lookup that fails or takes too long is no answer, and the caller routes by prefix.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::rdata::NAPTR;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

use crate::core::routing::{EnumConfig, Ported, enum_name};

/// Regexps come from the DNS: bound what compiling one may cost.
const REGEX_SIZE_LIMIT: usize = 64 * 1024;

/// Where the system's resolvers are listed when `servers` is empty.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Looks numbers up in ENUM, through a cache.
#[derive(Debug)]
pub struct EnumResolver {
    resolver: TokioResolver,
    suffix: String,
    service: String,
    timeout: Duration,
    positive: Duration,
    negative: Duration,
    cache: Mutex<Cache>,
}

impl EnumResolver {
    pub fn new(cfg: &EnumConfig) -> anyhow::Result<EnumResolver> {
        let servers = if cfg.servers.is_empty() {
            let text = std::fs::read_to_string(RESOLV_CONF).with_context(|| format!("reading {RESOLV_CONF}"))?;
            let servers = nameservers(&text);
            anyhow::ensure!(!servers.is_empty(), "{RESOLV_CONF} names no nameserver for ENUM lookups");
            servers
        } else {
            cfg.servers.clone()
        };
        let name_servers = servers
            .iter()
            .map(|addr| {
                let (mut udp, mut tcp) = (ConnectionConfig::udp(), ConnectionConfig::tcp());
                udp.port = addr.port();
                tcp.port = addr.port();
                NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
            })
            .collect();
        let timeout = Duration::from_millis(cfg.timeout_ms);
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        // One try within the timeout: a retry would only outlast it.
        opts.attempts = 1;
        // This cache keeps answers for the configured times; a second one below would stretch them.
        opts.cache_size = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        let resolver = Resolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        )
        .with_options(opts)
        .build()
        .context("building the ENUM resolver")?;
        Ok(EnumResolver {
            resolver,
            suffix: cfg.suffix.clone(),
            service: cfg.service.clone(),
            timeout,
            positive: Duration::from_secs(cfg.cache_secs),
            negative: Duration::from_secs(cfg.negative_cache_secs),
            cache: Mutex::new(Cache::new(cfg.cache_entries)),
        })
    }

    /// The relay ENUM names for `e164` (`+15550100200`), if it names one.
    pub async fn lookup(&self, e164: &str) -> Option<Ported> {
        if let Some(answer) = self.cache_lock().get(e164, Instant::now()) {
            count("cached");
            return answer;
        }
        let name = enum_name(e164, &self.suffix)?;
        let answer =
            match tokio::time::timeout(self.timeout, self.resolver.lookup(name.as_str(), RecordType::NAPTR)).await {
                Ok(Ok(lookup)) => select(e164, lookup.answers(), &self.service),
                Ok(Err(e)) if e.is_no_records_found() => None,
                Err(_) | Ok(Err(NetError::Timeout)) => {
                    count("timeout");
                    tracing::warn!(number = e164, name, timeout_ms = self.timeout.as_millis(), "ENUM lookup timed out");
                    return None;
                }
                Ok(Err(e)) => {
                    count("error");
                    tracing::warn!(number = e164, name, error = %e, "ENUM lookup failed");
                    return None;
                }
            };
        count(if answer.is_some() { "hit" } else { "miss" });
        let ttl = if answer.is_some() { self.positive } else { self.negative };
        let now = Instant::now();
        self.cache_lock().put(e164, answer.clone(), now + ttl, now);
        answer
    }

    /// The cache stays usable after a panic elsewhere: its entries are whole at every step.
    fn cache_lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn count(outcome: &'static str) {
    metrics::counter!("tern_enum_lookups_total", "outcome" => outcome).increment(1);
}

/// The `nameserver` lines of a resolv.conf, on port 53.
fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten()
        })
        .filter_map(|ip| ip.parse().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The first usable answer among the terminal (`u`) NAPTR records of `service`, lowest order and
/// preference first, their regexps applied to the number.
fn select(e164: &str, records: &[Record], service: &str) -> Option<Ported> {
    let mut naptrs: Vec<&NAPTR> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::NAPTR(n) => Some(n),
            _ => None,
        })
        .filter(|n| n.flags.eq_ignore_ascii_case(b"u") && offers(&n.services, service))
        .collect();
    naptrs.sort_by_key(|n| (n.order, n.preference));
    naptrs.into_iter().find_map(|n| {
        let Ok(expr) = std::str::from_utf8(&n.regexp) else {
            tracing::warn!(number = e164, "ENUM regexp is not UTF-8; record ignored");
            return None;
        };
        match rewrite(expr, e164) {
            Ok(Some(uri)) => Ported::from_uri(&uri).or_else(|| {
                tracing::warn!(number = e164, uri, "ENUM answer names no relay; record ignored");
                None
            }),
            Ok(None) => None,
            Err(why) => {
                tracing::warn!(number = e164, regexp = expr, why, "ENUM regexp not understood; record ignored");
                None
            }
        }
    })
}

/// Whether a NAPTR services field (`E2U+mms:mailto`, several enumservices joined by '+')
/// offers `wanted` (`E2U+mms` for any subtype of `mms`, `E2U+mms:mailto` for that one), without
/// regard to case.
fn offers(services: &[u8], wanted: &str) -> bool {
    let services = String::from_utf8_lossy(services).to_ascii_lowercase();
    let wanted = wanted.to_ascii_lowercase();
    let (Some(have), Some(want)) = (services.strip_prefix("e2u+"), wanted.strip_prefix("e2u+")) else {
        return false;
    };
    let (want_type, want_subtype) = match want.split_once(':') {
        Some((t, s)) => (t, Some(s)),
        None => (want, None),
    };
    have.split('+').any(|enumservice| {
        let mut parts = enumservice.split(':');
        parts.next() == Some(want_type) && want_subtype.is_none_or(|s| parts.any(|p| p == s))
    })
}

/// Applies a NAPTR substitution expression (`!^(.*)$!mailto:\1@mms.example!`, RFC 3402: any
/// delimiter, `i` as the only flag, `\1`..`\9` in the replacement) to `subject`. `Ok(None)` when
/// the pattern does not match; `Err` when the expression is malformed.
fn rewrite(expr: &str, subject: &str) -> Result<Option<String>, &'static str> {
    let mut chars = expr.chars();
    let delim = chars.next().ok_or("empty")?;
    if delim.is_ascii_digit() || delim == '\\' || delim == 'i' {
        return Err("not a delimiter");
    }
    // Split at unescaped delimiters; an escaped delimiter stands for itself, other escapes stay
    // for the regex and the replacement to read.
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in chars {
        let part = parts.last_mut().ok_or("empty")?;
        match (escaped, c) {
            (true, c) => {
                if c != delim {
                    part.push('\\');
                }
                part.push(c);
                escaped = false;
            }
            (false, '\\') => escaped = true,
            (false, c) if c == delim => parts.push(String::new()),
            (false, c) => part.push(c),
        }
    }
    let [pattern, replacement, flags] = parts.as_slice() else {
        return Err("not three parts");
    };
    if escaped || !(flags.is_empty() || flags == "i") {
        return Err("bad flags");
    }
    let re = regex::RegexBuilder::new(pattern)
        .case_insensitive(flags == "i")
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|_| "bad pattern")?;
    let Some(caps) = re.captures(subject) else {
        return Ok(None);
    };
    let mut out = String::with_capacity(replacement.len() + subject.len());
    let mut chars = replacement.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(d @ '0'..='9') => {
                    let group = d as usize - '0' as usize;
                    out.push_str(caps.get(group).map_or("", |m| m.as_str()));
                }
                Some(other) => out.push(other),
                None => return Err("replacement ends in a backslash"),
            },
            c => out.push(c),
        }
    }
    Ok(Some(out))
}

/// Answers by number, each until its expiry, at most `max` of them.
#[derive(Debug)]
struct Cache {
    entries: HashMap<String, (Option<Ported>, Instant)>,
    max: usize,
}

impl Cache {
    fn new(max: usize) -> Cache {
        Cache { entries: HashMap::new(), max }
    }

    /// `Some(answer)` while one is kept, `answer` being `None` for a negative one.
    fn get(&mut self, key: &str, now: Instant) -> Option<Option<Ported>> {
        match self.entries.get(key) {
            Some((answer, until)) if *until > now => Some(answer.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&mut self, key: &str, answer: Option<Ported>, until: Instant, now: Instant) {
        if self.max == 0 || until <= now {
            return;
        }
        if self.entries.len() >= self.max && !self.entries.contains_key(key) {
            self.entries.retain(|_, (_, u)| *u > now);
            if self.entries.len() >= self.max {
                // Drop the eighth nearest its expiry at once, so that a full cache sorts this
                // out once per many inserts rather than at each.
                let mut expiries: Vec<Instant> = self.entries.values().map(|(_, u)| *u).collect();
                let nth = (expiries.len() / 8).max(1) - 1;
                let (_, threshold, _) = expiries.select_nth_unstable(nth);
                let threshold = *threshold;
                self.entries.retain(|_, (_, u)| *u > threshold);
            }
        }
        self.entries.insert(key.to_owned(), (answer, until));
    }
}

#[cfg(test)]
mod tests {
    use hickory_resolver::proto::rr::Name;

    use super::*;

    fn naptr(order: u16, preference: u16, flags: &str, services: &str, regexp: &str) -> Record {
        let rdata = NAPTR::new(
            order,
            preference,
            flags.as_bytes().into(),
            services.as_bytes().into(),
            regexp.as_bytes().into(),
            Name::root(),
        );
        Record::from_rdata(Name::root(), 60, RData::NAPTR(rdata))
    }

    #[test]
    fn rewrites() {
        let n = "+15550100200";
        let ok = |e: &str| rewrite(e, n).unwrap().unwrap();
        assert_eq!(ok("!^(.*)$!mailto:\\1@mms.example!"), "mailto:+15550100200@mms.example");
        assert_eq!(ok("!^.*$!mms:+15550100200@mms.example!"), "mms:+15550100200@mms.example");
        assert_eq!(ok("!^\\+1(.*)$!mailto:\\1@b.example!"), "mailto:5550100200@b.example");
        assert_eq!(ok("/^(.*)$/mailto:\\1@a\\/b.example/"), "mailto:+15550100200@a/b.example");
        assert_eq!(ok("!^(.*)$!\\0@x.example!"), "+15550100200@x.example");
        assert_eq!(ok("!^\\+1(555)(.*)$!mailto:\\2@\\1.example!i"), "mailto:0100200@555.example");
        assert_eq!(rewrite("!^\\+44(.*)$!mailto:\\1@uk.example!", n), Ok(None));
        for bad in ["", "1^(.*)$1x1", "!^(.*)$!x", "!^(.*)$!x!g", "!(!x!", "!^(.*)$!x\\!"] {
            assert!(rewrite(bad, n).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn services() {
        for (have, want, yes) in [
            ("E2U+mms:mailto", "E2U+mms", true),
            ("e2u+MMS", "E2U+mms", true),
            ("E2U+sip+mms:mailto", "E2U+mms", true),
            ("E2U+mms:mailto", "E2U+mms:mailto", true),
            ("E2U+mms:tel", "E2U+mms:mailto", false),
            ("E2U+mms", "E2U+mms:mailto", false),
            ("E2U+email:mailto", "E2U+mms", false),
            ("E2U+mmsx", "E2U+mms", false),
            ("E2U+sip", "E2U+mms", false),
            ("mms", "E2U+mms", false),
        ] {
            assert_eq!(offers(have.as_bytes(), want), yes, "{have} for {want}");
        }
    }

    #[test]
    fn selects_by_service_flags_order_and_preference() {
        let n = "+15550100200";
        let to = |d: &str| format!("!^(.*)$!mailto:\\1@{d}!");
        let records = [
            naptr(10, 10, "u", "E2U+sip", &to("sip.example")),
            naptr(20, 10, "u", "E2U+mms:mailto", &to("late.example")),
            naptr(10, 20, "u", "E2U+mms:mailto", &to("second.example")),
            naptr(10, 5, "", "E2U+mms:mailto", &to("not-terminal.example")),
            naptr(10, 10, "U", "E2U+mms:mailto", &to("first.example")),
        ];
        assert_eq!(select(n, &records, "E2U+mms").unwrap().domain, "first.example");
        // A record that rewrites to no relay, or does not match, gives way to the next.
        let records = [
            naptr(10, 10, "u", "E2U+mms", "!^(.*)$!tel:\\1!"),
            naptr(10, 20, "u", "E2U+mms", "!^\\+44(.*)$!mailto:\\1@uk.example!"),
            naptr(10, 30, "u", "E2U+mms", "!(!broken!"),
            naptr(10, 40, "u", "E2U+mms", &to("mms.mnc002.mcc001.gprs")),
        ];
        let p = select(n, &records, "E2U+mms").unwrap();
        assert_eq!(
            (p.uri.as_str(), p.domain.as_str()),
            ("mailto:+15550100200@mms.mnc002.mcc001.gprs", "mms.mnc002.mcc001.gprs")
        );
        assert_eq!(select(n, &records[..3], "E2U+mms"), None);
        assert_eq!(select(n, &[], "E2U+mms"), None);
    }

    #[test]
    fn resolv_conf() {
        let text =
            "# comment\nsearch example\nnameserver 10.0.0.1\nnameserver ::1\nnameserver bogus\noptions ndots:2\n";
        assert_eq!(nameservers(text), vec!["10.0.0.1:53".parse().unwrap(), "[::1]:53".parse().unwrap()]);
    }

    #[test]
    fn cache_keeps_answers_until_their_expiry() {
        let t0 = Instant::now();
        let secs = Duration::from_secs;
        let answer = Ported::from_uri("mailto:x@a.example");
        let mut cache = Cache::new(10);
        cache.put("+1", answer.clone(), t0 + secs(10), t0);
        cache.put("+2", None, t0 + secs(5), t0);
        cache.put("+3", answer.clone(), t0, t0);
        assert_eq!(cache.get("+1", t0 + secs(9)), Some(answer.clone()));
        assert_eq!(cache.get("+2", t0 + secs(4)), Some(None));
        assert_eq!(cache.get("+2", t0 + secs(5)), None);
        assert_eq!(cache.get("+3", t0), None, "a zero time keeps nothing");
        assert_eq!(cache.get("+1", t0 + secs(10)), None);
        assert!(cache.entries.is_empty());
        Cache::new(0).put("+1", None, t0 + secs(1), t0);
    }

    #[test]
    fn a_full_cache_drops_the_entries_nearest_expiry() {
        let t0 = Instant::now();
        let mut cache = Cache::new(16);
        for i in 0..16u64 {
            cache.put(&format!("+{i}"), None, t0 + Duration::from_secs(100 + i), t0);
        }
        cache.put("+99", None, t0 + Duration::from_secs(1000), t0);
        assert_eq!(cache.entries.len(), 15);
        assert!(!cache.entries.contains_key("+0") && !cache.entries.contains_key("+1"));
        assert!(cache.entries.contains_key("+2") && cache.entries.contains_key("+99"));
        // Expired entries go first, before any live one.
        let later = t0 + Duration::from_secs(110);
        for i in 0..100u64 {
            cache.put(&format!("+x{i}"), None, later + Duration::from_secs(50), later);
            assert!(cache.entries.len() <= 16);
        }
        assert!(cache.entries.contains_key("+99"));
    }
}
