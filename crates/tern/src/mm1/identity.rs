//! Header enrichment: who is submitting, as vouched for by the operator's WAP gateway or proxy
//! in an MSISDN header, and whether that proxy is one to believe.
//!
//! A proxy that appends its header instead of replacing the handset's, or that sets one of the
//! configured headers and leaves the others as the handset sent them, would let the handset
//! choose its number if any one header were taken on trust. So every configured header present
//! must name the same subscriber, each at most once: a request whose identity headers repeat
//! or disagree is [`Identity::Conflicting`] and refused.

use std::net::IpAddr;

use crate::config::{IdentityConfig, SubscribersConfig};
use crate::core::address::{self, Normalized};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A trusted proxy named the subscriber; `header` is the configured name that did.
    Trusted { msisdn: Normalized, header: String },
    /// Identity headers are present but the peer is not a trusted proxy, so they prove nothing.
    Untrusted,
    /// A trusted proxy's request whose identity headers repeat or name different subscribers:
    /// what it says cannot be told from what the handset added.
    Conflicting(String),
    /// No identity header at all, or a trusted proxy sent none with a usable phone number.
    Absent,
}

pub fn identify<'a>(
    peer: IpAddr,
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    cfg: &IdentityConfig,
    subs: &SubscribersConfig,
) -> Identity {
    // (index in the configured order, value).
    let mut found: Vec<(usize, &[u8])> = headers
        .into_iter()
        .filter_map(|(name, value)| cfg.headers.iter().position(|h| h.eq_ignore_ascii_case(name)).map(|i| (i, value)))
        .collect();
    if found.is_empty() {
        return Identity::Absent;
    }
    if !is_trusted(peer, cfg) {
        return Identity::Untrusted;
    }
    found.sort_by_key(|&(i, _)| i);
    if let Some(pair) = found.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Identity::Conflicting(format!("{} is repeated", cfg.headers[pair[0].0]));
    }
    // Every non-empty value must name the same subscriber; an unreadable value next to a
    // number is a disagreement too, since the proxy's cannot be told from the handset's.
    let mut named: Option<(usize, Normalized)> = None;
    let mut unreadable: Option<usize> = None;
    for (i, value) in found {
        for item in value.split(|b| *b == b',').filter(|item| !item.trim_ascii().is_empty()) {
            match msisdn(item, subs) {
                Some(n) => match &named {
                    Some((first, m)) if m.canonical != n.canonical => {
                        return Identity::Conflicting(format!(
                            "{} and {} name different subscribers",
                            cfg.headers[*first], cfg.headers[i]
                        ));
                    }
                    Some(_) => {}
                    None => named = Some((i, n)),
                },
                None => unreadable = unreadable.or(Some(i)),
            }
        }
    }
    match (named, unreadable) {
        (Some((i, _)), Some(j)) => Identity::Conflicting(format!(
            "{} names a subscriber and {} holds something else",
            cfg.headers[i], cfg.headers[j]
        )),
        (Some((i, msisdn)), None) => Identity::Trusted { msisdn, header: cfg.headers[i].clone() },
        (None, _) => Identity::Absent,
    }
}

fn is_trusted(peer: IpAddr, cfg: &IdentityConfig) -> bool {
    // A dual-stack listener sees IPv4 clients as `::ffff:a.b.c.d`, which IPv4 CIDRs must match.
    let canonical = peer.to_canonical();
    cfg.trusted_proxies.iter().any(|net| net.contains(&peer) || net.contains(&canonical))
}

/// Gateways write the number as `+15551234567`, `15551234567`, `0015551234567`,
/// `tel:+15551234567` or `+15551234567/TYPE=PLMN`. (A comma-separated list, as an appending
/// proxy makes of a repeated header, is taken apart by the caller.)
fn msisdn(value: &[u8], subs: &SubscribersConfig) -> Option<Normalized> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let number = match value.get(..4) {
        Some(scheme) if scheme.eq_ignore_ascii_case("tel:") => &value[4..],
        _ => value,
    };
    // tel: URI parameters (`;phone-context=...`) are not part of the number.
    let number = number.split(';').next()?;
    address::normalize(number, subs).ok().filter(Normalized::is_phone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::address::Route;

    const TRUSTED: &str = "127.0.0.1";
    const UNTRUSTED: &str = "192.0.2.7";

    fn run(peer: &str, headers: &[(&str, &str)]) -> Identity {
        let cfg = IdentityConfig::default();
        let subs = SubscribersConfig::default();
        identify(peer.parse().unwrap(), headers.iter().map(|(n, v)| (*n, v.as_bytes())), &cfg, &subs)
    }

    fn trusted(number: &str, header: &str) -> Identity {
        let msisdn = address::normalize(number, &SubscribersConfig::default()).unwrap();
        Identity::Trusted { msisdn, header: header.into() }
    }

    #[test]
    fn trusted_peer() {
        let id = run(TRUSTED, &[("Host", "mmsc"), ("x-msisdn", "+15551234567")]);
        assert_eq!(id, trusted("+15551234567", "X-MSISDN"));
        let Identity::Trusted { msisdn, .. } = id else { unreachable!() };
        assert_eq!(msisdn.route, Route::Local);
        assert_eq!(run("::1", &[("X-MSISDN", "+15551234567")]), trusted("+15551234567", "X-MSISDN"));
    }

    #[test]
    fn untrusted_peer() {
        assert_eq!(run(UNTRUSTED, &[("X-MSISDN", "+15551234567")]), Identity::Untrusted);
        // Present is enough: the value does not matter when the peer is not believed.
        assert_eq!(run(UNTRUSTED, &[("X-Hts-CLID", "garbage")]), Identity::Untrusted);
    }

    #[test]
    fn absent() {
        assert_eq!(run(TRUSTED, &[]), Identity::Absent);
        assert_eq!(run(UNTRUSTED, &[("Host", "mmsc"), ("X-Other-MSISDN", "+15551234567")]), Identity::Absent);
        assert_eq!(run(TRUSTED, &[("X-MSISDN", "unknown"), ("X-Nokia-MSISDN", "")]), Identity::Absent);
    }

    fn conflicting(id: Identity) -> bool {
        matches!(id, Identity::Conflicting(_))
    }

    #[test]
    fn headers_that_disagree_are_refused() {
        // A proxy that sets X-Up-Calling-Line-Id and leaves the handset's X-MSISDN in place.
        assert!(conflicting(run(TRUSTED, &[("X-MSISDN", "+15550000666"), ("X-Up-Calling-Line-Id", "+15550000001")])));
        // A proxy that appends its header: two lines, or one comma-separated list.
        assert!(conflicting(run(TRUSTED, &[("X-MSISDN", "+15550000666"), ("X-MSISDN", "+15550000001")])));
        assert!(conflicting(run(TRUSTED, &[("X-MSISDN", "+15550000666, +15550000001")])));
        // Repeated, even with the same value: the proxy appended rather than replaced.
        assert!(conflicting(run(TRUSTED, &[("X-MSISDN", "+15550000001"), ("x-msisdn", "+15550000001")])));
        // Something that is not a number beside one that is.
        assert!(conflicting(run(TRUSTED, &[("X-MSISDN", "anonymous"), ("X-Nokia-MSISDN", "15551234567")])));
        let bytes = [("X-MSISDN", b"\xff\xfe".as_slice()), ("X-Nokia-MSISDN", b"+15551234567".as_slice())];
        let id = identify(TRUSTED.parse().unwrap(), bytes, &IdentityConfig::default(), &SubscribersConfig::default());
        assert!(conflicting(id));
    }

    #[test]
    fn headers_that_agree_are_one_identity() {
        let id = run(TRUSTED, &[("X-Hts-CLID", "15550000001"), ("X-MSISDN", "+15550000001")]);
        assert_eq!(id, trusted("+15550000001", "X-MSISDN"));
        let id = run(TRUSTED, &[("X-Nokia-MSISDN", "tel:+15550000002"), ("X-WAP-Network-Client-MSISDN", "")]);
        assert_eq!(id, trusted("+15550000002", "X-Nokia-MSISDN"));
        assert_eq!(run(TRUSTED, &[("X-MSISDN", "+15551234567, 0015551234567")]), trusted("+15551234567", "X-MSISDN"));
    }

    #[test]
    fn value_forms() {
        for value in [
            "+15551234567",
            "15551234567",
            "0015551234567",
            "tel:+15551234567",
            "TEL:+15551234567;phone-context=example.net",
            "+15551234567/TYPE=PLMN",
            "  +15551234567\t",
        ] {
            assert_eq!(run(TRUSTED, &[("X-MSISDN", value)]), trusted("+15551234567", "X-MSISDN"), "{value:?}");
        }
        assert_eq!(run(TRUSTED, &[("X-MSISDN", "12345")]), Identity::Absent);
    }

    #[test]
    fn ipv4_mapped_peer_matches_ipv4_cidr() {
        assert_eq!(run("::ffff:127.0.0.1", &[("X-MSISDN", "+15551234567")]), trusted("+15551234567", "X-MSISDN"));
        assert_eq!(run("::ffff:192.0.2.7", &[("X-MSISDN", "+15551234567")]), Identity::Untrusted);
    }

    #[test]
    fn remote_numbers_are_identities_too() {
        let id = run(TRUSTED, &[("X-MSISDN", "+447700900123")]);
        let Identity::Trusted { msisdn, .. } = id else { panic!("{id:?}") };
        assert_eq!(msisdn.route, Route::RemotePlmn);
    }
}
