//! The admin endpoint, on its own port (`admin.listen`, loopback by default) so that handsets
//! never see it: `/health` and `/ready`, open to all, and `/metrics` (Prometheus text) and the
//! held-message routes under `/protection/held` ([`held`]), which like every admin route added
//! later sit behind the bearer token of [`token`]. This module owns the routes, who may use
//! them, and what readiness means.

mod held;
pub mod metrics;
pub mod token;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::push::smpp::LinkStates;
use crate::store::Store;
use token::TokenHash;

/// Longest wait for the store's answer in `/ready`: a store slower than this is not ready to
/// take traffic, and an orchestrator's probe must not hang on it.
const STORE_WAIT: Duration = Duration::from_secs(2);

/// Who may use the guarded routes.
#[derive(Debug, Clone)]
pub enum Access {
    /// Whoever presents the token whose hash this is.
    Token(TokenHash),
    /// Everyone: there is no token, and the endpoint listens on loopback only.
    Loopback,
    /// No one: there is no token, and the endpoint is reachable from other hosts.
    Refused,
}

impl Access {
    /// The access `admin.token_sha256` (validated: empty or 64 hex digits) gives an endpoint
    /// listening on `listen`.
    pub fn new(token_sha256: &str, listen: SocketAddr) -> anyhow::Result<Access> {
        if !token_sha256.is_empty() {
            return Ok(Access::Token(
                TokenHash::from_hex(token_sha256).map_err(|e| anyhow::anyhow!("admin.token_sha256: {e}"))?,
            ));
        }
        Ok(if is_loopback(listen) { Access::Loopback } else { Access::Refused })
    }

    /// Whether a request with these headers may use the guarded routes.
    fn admits(&self, headers: &HeaderMap) -> bool {
        match self {
            Access::Loopback => true,
            Access::Refused => false,
            Access::Token(hash) => bearer(headers).is_some_and(|token| hash.matches(token)),
        }
    }
}

/// Logs where the endpoint listens and who may use its guarded routes, and warns when other
/// hosts can reach it.
pub fn announce(listen: SocketAddr, access: &Access) {
    let metrics = match access {
        Access::Token(_) => "bearer token",
        Access::Loopback => "open on loopback",
        Access::Refused => "refused: no token",
    };
    tracing::info!(%listen, metrics, "admin endpoint ready");
    match access {
        _ if is_loopback(listen) => {}
        Access::Refused => tracing::warn!(
            %listen,
            "the admin endpoint is not on loopback and admin.token_sha256 is not set: /metrics and \
             /protection/held refuse every request (`tern admin-token` makes a token)"
        ),
        _ => tracing::warn!(
            %listen,
            "the admin endpoint is not on loopback: other hosts reach /health and /ready, and /metrics and \
             /protection/held with the bearer token"
        ),
    }
}

/// Whether only this host can reach `addr`. An IPv4 address mapped into IPv6 counts as the
/// IPv4 address it carries.
pub fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then(|| token.trim_ascii())
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct Admin {
    pub metrics: PrometheusHandle,
    pub store: Store,
    /// The SMPP links in use (none without the SMPP bearer), run by the delivery thread.
    pub links: LinkStates,
    pub access: Access,
}

pub fn router(admin: Admin) -> Router {
    // Routes added here are guarded; only health and readiness are open, for probes.
    let guarded = Router::new()
        .route("/metrics", get(|State(admin): State<Admin>| std::future::ready(admin.metrics.render())))
        .merge(held::routes())
        .route_layer(middleware::from_fn_with_state(admin.clone(), guard));
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .merge(guarded)
        .with_state(admin)
}

async fn guard(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    if admin.access.admits(request.headers()) {
        return next.run(request).await;
    }
    let mut refused = (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
    refused.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"tern-admin\""));
    refused
}

/// 200 "ready" when the store answers and every SMPP link in use is bound; otherwise 503
/// naming what is not. Open to all, since orchestrators probe it without credentials; only a
/// caller the guarded routes admit learns the store's error and the links' addresses, others
/// learn which part is not ready.
async fn ready(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    let detailed = admin.access.admits(&headers);
    let mut missing = Vec::new();
    let store = match tokio::time::timeout(STORE_WAIT, admin.store.ready()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {STORE_WAIT:?}")),
    };
    if let Some(why) = store {
        missing.push(if detailed { format!("store ({why})") } else { "store".to_owned() });
    }
    let unbound = admin.links.unbound();
    if !unbound.is_empty() {
        missing.push(if detailed {
            format!("SMPP links not bound: {}", unbound.join(", "))
        } else {
            format!("SMPP links not bound: {} of {}", unbound.len(), admin.links.names().count())
        });
    }
    if missing.is_empty() {
        return (StatusCode::OK, "ready\n").into_response();
    }
    (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {}\n", missing.join("; "))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_the_host_alone() {
        for addr in ["127.0.0.1:1", "127.9.9.9:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
            assert!(is_loopback(addr.parse().unwrap()), "{addr}");
        }
        for addr in ["0.0.0.0:1", "[::]:1", "10.0.0.1:1", "[::ffff:10.0.0.1]:1"] {
            assert!(!is_loopback(addr.parse().unwrap()), "{addr}");
        }
    }

    #[test]
    fn the_bearer_token_is_read_from_the_authorization_header() {
        let with = |value: &str| HeaderMap::from_iter([(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap())]);
        assert_eq!(bearer(&with("Bearer abc")), Some(&b"abc"[..]));
        assert_eq!(bearer(&with("bearer  abc ")), Some(&b"abc"[..]));
        assert_eq!(bearer(&with("Basic abc")), None);
        assert_eq!(bearer(&with("Bearer")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn access_without_a_token_depends_on_where_the_endpoint_listens() {
        let headers = HeaderMap::new();
        assert!(Access::new("", "127.0.0.1:8003".parse().unwrap()).unwrap().admits(&headers));
        assert!(!Access::new("", "0.0.0.0:8003".parse().unwrap()).unwrap().admits(&headers));
        let token = Access::new(&token::hash_hex(b"s3cret"), "127.0.0.1:8003".parse().unwrap()).unwrap();
        assert!(!token.admits(&headers), "a configured token is asked for on loopback too");
        let with = HeaderMap::from_iter([(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3cret"))]);
        assert!(token.admits(&with));
        let wrong = HeaderMap::from_iter([(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3cre"))]);
        assert!(!token.admits(&wrong));
    }
}
