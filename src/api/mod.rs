//! The HTTP API (axum): starting and operating sagas, signals, provider webhooks, the outbox,
//! health and metrics.

mod error;
mod health;
mod json;
mod orders;
mod outbox;
mod partner;
mod sagas;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use error::ApiError;
pub use json::ApiJson;

use crate::config::Settings;
use crate::engine::runtime::Runtime;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub rt: Arc<Runtime>,
    pub settings: Arc<Settings>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl AppState {
    pub fn new(rt: Arc<Runtime>, settings: Settings) -> Self {
        Self {
            rt,
            settings: Arc::new(settings),
            metrics: crate::telemetry::prometheus(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let limit = state.settings.server.body_limit_bytes;
    Router::new()
        .route("/v1/sagas", post(sagas::start).get(sagas::list))
        .route("/v1/sagas/{id}", get(sagas::show))
        .route("/v1/sagas/{id}/signals/{name}", post(sagas::signal))
        .route("/v1/sagas/{id}/{action}", post(sagas::operate))
        .route("/v1/webhooks/{provider}", post(webhooks::receive))
        .route("/v1/outbox", get(outbox::list))
        .route("/v1/outbox/{id}", get(outbox::show))
        .route("/v1/outbox/{id}/replay", post(outbox::replay))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(orders::routes())
        .merge(partner::routes(&state))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
