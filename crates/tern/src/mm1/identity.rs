//! Header enrichment: who is submitting, as vouched for by the operator's WAP gateway or proxy
//! in an MSISDN header, and whether that proxy is one to believe.

use std::net::IpAddr;

use crate::config::{IdentityConfig, SubscribersConfig};
use crate::core::address::{self, Normalized};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A trusted proxy named the subscriber; `header` is the configured name that did.
    Trusted { msisdn: Normalized, header: String },
    /// Identity headers are present but the peer is not a trusted proxy, so they prove nothing.
    Untrusted,
    /// No identity header at all, or a trusted proxy sent none with a usable phone number.
    Absent,
}

pub fn identify<'a>(
    peer: IpAddr,
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    cfg: &IdentityConfig,
    subs: &SubscribersConfig,
) -> Identity {
    // (index in the configured order, value), so the configured order wins over the request's.
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
    // Stable, so repeated headers keep their request order.
    found.sort_by_key(|&(i, _)| i);
    found
        .into_iter()
        .find_map(|(i, value)| {
            msisdn(value, subs).map(|msisdn| Identity::Trusted { msisdn, header: cfg.headers[i].clone() })
        })
        .unwrap_or(Identity::Absent)
}

fn is_trusted(peer: IpAddr, cfg: &IdentityConfig) -> bool {
    // A dual-stack listener sees IPv4 clients as `::ffff:a.b.c.d`, which IPv4 CIDRs must match.
    let canonical = peer.to_canonical();
    cfg.trusted_proxies.iter().any(|net| net.contains(&peer) || net.contains(&canonical))
}

/// Gateways write the number as `+15551234567`, `15551234567`, `0015551234567`,
/// `tel:+15551234567` or `+15551234567/TYPE=PLMN`; some send a comma-separated list, of which
/// the first is the subscriber's.
fn msisdn(value: &[u8], subs: &SubscribersConfig) -> Option<Normalized> {
    let value = std::str::from_utf8(value).ok()?;
    let first = value.split(',').next()?.trim();
    let number = match first.get(..4) {
        Some(scheme) if scheme.eq_ignore_ascii_case("tel:") => &first[4..],
        _ => first,
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

    #[test]
    fn configured_order_wins_over_request_order() {
        let id = run(TRUSTED, &[("X-Hts-CLID", "+15550000001"), ("X-Nokia-MSISDN", "+15550000002")]);
        assert_eq!(id, trusted("+15550000002", "X-Nokia-MSISDN"));
        let id = run(TRUSTED, &[("X-Up-Calling-Line-Id", "+15550000003"), ("X-MSISDN", "+15550000004")]);
        assert_eq!(id, trusted("+15550000004", "X-MSISDN"));
    }

    #[test]
    fn unusable_values_are_skipped() {
        let id = run(
            TRUSTED,
            &[("X-MSISDN", "anonymous"), ("X-WAP-Network-Client-MSISDN", "12345"), ("X-Nokia-MSISDN", "15551234567")],
        );
        assert_eq!(id, trusted("+15551234567", "X-Nokia-MSISDN"));
        let ours = IdentityConfig::default();
        let id = identify(
            TRUSTED.parse().unwrap(),
            [("X-MSISDN", b"\xff\xfe".as_slice()), ("X-MSISDN", b"+15551234567".as_slice())],
            &ours,
            &SubscribersConfig::default(),
        );
        assert_eq!(id, trusted("+15551234567", "X-MSISDN"));
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
            "+15551234567, +15559999999",
        ] {
            assert_eq!(run(TRUSTED, &[("X-MSISDN", value)]), trusted("+15551234567", "X-MSISDN"), "{value:?}");
        }
        // Only the first of a list counts.
        assert_eq!(run(TRUSTED, &[("X-MSISDN", "bogus, +15551234567")]), Identity::Absent);
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
