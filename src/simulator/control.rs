//! The simulator's own endpoints: `/_sim/config`, `/_sim/stats` (with each endpoint's
//! requests in flight, the most at once and arrival times), `/_sim/stats/reset`, `/_sim/reset` and
//! `/_sim/courier/{tracking}/advance`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::config::ConfigPatch;
use super::courier::advance;
use super::state::{Sim, json_response};

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/_sim/config", get(get_config).post(patch_config))
        .route("/_sim/stats", get(stats))
        .route("/_sim/reset", post(reset))
        .route("/_sim/stats/reset", post(reset_stats))
        .route("/_sim/courier/{tracking}/advance", post(advance_shipment))
        .route("/_sim/health", get(|| async { "ok" }))
}

async fn get_config(State(sim): State<Sim>) -> Response {
    json_response(200, json!(sim.config()))
}

async fn patch_config(State(sim): State<Sim>, Json(patch): Json<ConfigPatch>) -> Response {
    let mut state = sim.lock();
    match state.config.apply(patch) {
        Ok(()) => json_response(200, json!(state.config)),
        Err(message) => json_response(400, json!({"error": message})),
    }
}

async fn stats(State(sim): State<Sim>) -> Response {
    json_response(200, json!(sim.lock().stats))
}

async fn reset_stats(State(sim): State<Sim>) -> Response {
    sim.reset_stats();
    json_response(200, json!({"reset": "stats"}))
}

async fn reset(State(sim): State<Sim>) -> Response {
    sim.reset();
    json_response(200, json!({"reset": true}))
}

#[derive(Deserialize)]
struct AdvanceBody {
    status: String,
}

async fn advance_shipment(
    State(sim): State<Sim>,
    Path(tracking): Path<String>,
    Json(body): Json<AdvanceBody>,
) -> Response {
    if !sim.lock().records.shipments.contains_key(&tracking) {
        return json_response(404, json!({"error": "no such tracking number"}));
    }
    advance(&sim, &tracking, &body.status).await;
    json_response(
        200,
        json!({"tracking_number": tracking, "status": body.status}),
    )
}
