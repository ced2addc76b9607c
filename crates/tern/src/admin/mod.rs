//! The admin endpoint, on its own port (`admin.listen`, loopback by default): `/metrics` in the
//! Prometheus text format and `/health`. Kept off the MM1 port so that handsets never see it.

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the process-wide metrics recorder; what it records is rendered by `/metrics`.
pub fn recorder() -> anyhow::Result<PrometheusHandle> {
    Ok(PrometheusBuilder::new().install_recorder()?)
}

pub fn router(metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(move || std::future::ready(metrics.render())))
        .route("/health", get(|| async { "ok\n" }))
}
