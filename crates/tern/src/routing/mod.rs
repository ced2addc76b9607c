//! Routing with its I/O: the [`Router`] asks ENUM about numbers when `[routing.enum]` is
//! enabled, then lets the core's rules decide (`core::routing::route`).

pub mod enum_lookup;

use crate::core::address::Normalized;
use crate::core::envelope::Destination;
use crate::core::routing::{Match, RoutingConfig, route};
use crate::core::settings::SubscribersConfig;

use enum_lookup::EnumResolver;

/// Decides each recipient's destination, by the rules and by ENUM.
#[derive(Debug)]
pub struct Router {
    cfg: RoutingConfig,
    subs: SubscribersConfig,
    own_domain: String,
    peers: Vec<(String, String)>,
    enum_resolver: Option<EnumResolver>,
}

impl Router {
    /// `own_domain` is this relay's MM4 domain; `peers` lists each MM4 peer as (name, domain).
    /// Fails only when ENUM is enabled and no resolver can be set up.
    pub fn new(
        cfg: RoutingConfig,
        subs: SubscribersConfig,
        own_domain: String,
        peers: Vec<(String, String)>,
    ) -> anyhow::Result<Router> {
        let enum_resolver = if cfg.enum_lookup.enabled { Some(EnumResolver::new(&cfg.enum_lookup)?) } else { None };
        Ok(Router { cfg, subs, own_domain, peers, enum_resolver })
    }

    /// Where `n` goes. Only a number is looked up in ENUM, and not one an exact-number rule
    /// routes, since that rule would win over any answer.
    pub async fn destination(&self, n: &Normalized) -> Destination {
        let ported = match &self.enum_resolver {
            Some(resolver) if n.is_phone() && n.canonical.starts_with('+') && !self.has_number_rule(&n.canonical) => {
                resolver.lookup(&n.canonical).await
            }
            _ => None,
        };
        route(n, ported.as_ref(), &self.cfg, &self.subs, &self.own_domain, &self.peers)
    }

    fn has_number_rule(&self, number: &str) -> bool {
        self.cfg.rules.iter().any(|r| matches!(&r.matches, Match::Number(n) if n == number))
    }
}
