//! The optional HTTP endpoint (`run --listen ADDR`): `/metrics` in Prometheus text format (the
//! same names a Collector produces), `/healthz` (the process is up) and `/readyz` (a poll cycle
//! completed with its exports acknowledged).

use crate::export::prometheus;
use crate::telemetry::Telemetry;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Clone)]
struct AppState {
    telemetry: Telemetry,
    ready: Arc<AtomicBool>,
}

/// Binds `addr` and serves until the process ends; returns the bound address.
pub async fn spawn(
    addr: SocketAddr,
    telemetry: Telemetry,
    ready: Arc<AtomicBool>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("--listen {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { telemetry, ready });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP endpoint stopped");
        }
    });
    Ok(bound)
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    match s.telemetry.collect() {
        Ok(rm) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            prometheus::render(&rm),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("metric collection failed: {e}\n"),
        ),
    }
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no poll cycle has completed with its exports acknowledged yet\n",
        )
    }
}
