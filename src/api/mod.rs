//! The HTTP API core (axum): starting and operating sagas, signals, provider webhooks, the
//! outbox, orders of any family, the ops API, the web console, health, metrics and the OpenAPI
//! document. Each workflow family adds its own routes through [`Extensions`].

pub mod auth;
mod error;
mod health;
mod http_metrics;
mod job_runs;
mod json;
pub mod ops;
mod orders;
pub(crate) mod outbox;
pub(crate) mod providers;
pub mod sagas;
pub(crate) mod tenancy;
pub mod ui;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};

pub use error::ApiError;
pub use json::ApiJson;
pub use orders::{OrderView, Shown, SignalListener};

use crate::config::{DocsAccess, Settings};
use crate::engine::runtime::Runtime;
use auth::{Allow, Tokens};

/// An id from the path: 400 `invalid_id` unless it is a UUID.
pub(crate) fn parse_id(raw: &str, what: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map_err(|_| ApiError::bad_request("invalid_id", format!("{what} id must be a UUID")))
}

/// A family's check of a workflow's input, run by `POST /v1/sagas` before anything is
/// stored: the reason it is refused, for a 422.
pub type InputCheck = fn(&serde_json::Value) -> Result<(), String>;

/// What the workflow families add to the API: their routes, their part of the API document,
/// the views `GET /v1/orders/{id}` asks and the input checks of the workflows callers start.
#[derive(Default)]
pub struct Extensions {
    pub routes: Router<AppState>,
    /// Console pages, which the console serves behind its session.
    pub console_routes: Router<AppState>,
    pub openapi: utoipa::openapi::OpenApi,
    pub order_views: Vec<Arc<dyn OrderView>>,
    pub signal_listeners: Vec<Arc<dyn SignalListener>>,
    pub input_checks: Vec<(&'static str, InputCheck)>,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub rt: Arc<Runtime>,
    pub settings: Arc<Settings>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Each family's view of its orders, asked in turn.
    pub order_views: Arc<[Arc<dyn OrderView>]>,
    /// The families listening for verified provider events no saga waits for.
    pub signal_listeners: Arc<[Arc<dyn SignalListener>]>,
    /// The whole API document: the core's and every family's.
    pub openapi: Arc<utoipa::openapi::OpenApi>,
    /// Each `api` workflow's input check, by workflow, from its family.
    pub input_checks: Arc<std::collections::HashMap<&'static str, InputCheck>>,
    /// The provider gates, for `/v1/providers`; `None` where no gates run.
    pub gates: Option<Arc<crate::providers::Gates>>,
}

impl AppState {
    pub fn new(rt: Arc<Runtime>, settings: Settings, ext: &Extensions) -> Self {
        let mut openapi = ops::openapi::core();
        openapi.merge(ext.openapi.clone());
        Self {
            rt,
            settings: Arc::new(settings),
            metrics: crate::telemetry::prometheus(),
            order_views: ext.order_views.clone().into(),
            signal_listeners: ext.signal_listeners.clone().into(),
            openapi: Arc::new(openapi),
            input_checks: Arc::new(ext.input_checks.iter().copied().collect()),
            gates: None,
        }
    }
}

/// A route group's guard: a bearer token whose role `allow` lists. Other route groups (the
/// order and partner routes) wrap their own routers with it the same way.
pub(crate) fn guard(
    tokens: &Tokens,
    allow: Allow,
) -> impl Fn(Router<AppState>) -> Router<AppState> {
    let tokens = tokens.clone();
    move |r: Router<AppState>| {
        r.route_layer(middleware::from_fn_with_state(
            (tokens.clone(), allow),
            auth::require_bearer,
        ))
    }
}

/// The whole API: the core routes, `families` (each family's own, already guarded) and the
/// families' `console` pages (put behind the console's session here).
pub fn router(state: AppState, families: Router<AppState>, console: Router<AppState>) -> Router {
    let limit = state.settings.server.body_limit_bytes;
    let tokens = Tokens::from_settings(&state.settings.auth);
    let start = guard(&tokens, auth::START)(Router::new().route("/v1/sagas", post(sagas::start)));
    let read_or_service = guard(&tokens, auth::READ_OR_SERVICE)(
        Router::new()
            .route("/v1/sagas", get(sagas::list))
            .route("/v1/sagas/export.csv", get(ops::export::export))
            .route("/v1/sagas/{id}", get(sagas::show))
            .route("/v1/orders/{id}", get(orders::show))
            .route("/v1/job-runs", get(job_runs::list)),
    );
    let signal = guard(&tokens, auth::SIGNAL)(
        Router::new().route("/v1/sagas/{id}/signals/{name}", post(sagas::signal)),
    );
    let read = guard(&tokens, auth::READ)(
        Router::new()
            .route("/v1/audit", get(ops::audit::list))
            .route("/v1/stats", get(ops::stats::stats))
            .route("/v1/queues", get(ops::stats::queues))
            .route("/v1/jobs/{id}", get(ops::bulk::show))
            .route("/v1/outbox", get(outbox::list))
            .route("/v1/outbox/{id}", get(outbox::show))
            .route("/v1/providers", get(providers::list)),
    );
    let operate = guard(&tokens, auth::OPERATE)(
        Router::new()
            .route("/v1/sagas/bulk", post(ops::bulk::submit))
            .route("/v1/sagas/{id}/reveal", post(sagas::reveal))
            .route("/v1/sagas/{id}/{action}", post(sagas::operate))
            .route("/v1/outbox/{id}/replay", post(outbox::replay))
            .route("/v1/providers/{provider}/pause", post(providers::pause))
            .route("/v1/providers/{provider}/resume", post(providers::resume)),
    );
    // Open: providers authenticate by signature, probes need no token.
    let open = Router::new()
        .route("/v1/webhooks/{provider}", post(webhooks::receive))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    // The document and the metrics say what the server runs and how busy it is: served as
    // `[server] docs_access` says; `/metrics` always on `metrics_bind` when that is set.
    let mut docs = Router::new();
    if state.settings.server.docs_access != DocsAccess::Closed {
        docs = docs.route("/openapi.json", get(ops::openapi::document));
        if state.settings.server.metrics_bind.is_none() {
            docs = docs.route("/metrics", get(health::metrics));
        }
    }
    let docs = match state.settings.server.docs_access {
        DocsAccess::Token => guard(&tokens, auth::ANY_TOKEN)(docs),
        DocsAccess::Open | DocsAccess::Closed => docs,
    };
    Router::new()
        .merge(start)
        .merge(read_or_service)
        .merge(signal)
        .merge(read)
        .merge(operate)
        .merge(open)
        .merge(docs)
        .merge(families)
        .merge(ui::router(state.clone(), tokens, console))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(http_metrics::track))
        .with_state(state)
}

/// `/metrics` alone, for `[server] metrics_bind`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(health::metrics))
        .with_state(state)
}
