//! A simulated partner endpoint that receives sagaflow's signed webhooks, checks the
//! signature, and counts each event id it accepted.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use chrono::Utc;
use serde_json::json;

use super::state::{Sim, header, json_response};
use crate::providers::signature::{PARTNER_SIGNATURE_HEADER, verify_timestamped};

pub(crate) fn routes() -> Router<Sim> {
    Router::new().route("/partner/{name}/webhooks", post(receive))
}

async fn receive(
    State(sim): State<Sim>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = sim.clone();
    sim.run("partner.receive", async move {
        let (secret, tolerance) = {
            let state = s.lock();
            let providers = &state.config.providers;
            (
                providers
                    .partner_webhooks
                    .partners
                    .get(&name)
                    .map(|p| p.secret.clone()),
                providers.signature_tolerance,
            )
        };
        let Some(secret) = secret else {
            return json_response(404, json!({"error": "unknown partner"}));
        };
        if let Err(err) = verify_timestamped(
            secret.expose().as_bytes(),
            header(&headers, PARTNER_SIGNATURE_HEADER),
            &body,
            Utc::now().timestamp(),
            tolerance,
        ) {
            return json_response(401, json!({"error": err.to_string()}));
        }
        let Some(event_id) = header(&headers, "x-event-id") else {
            return json_response(400, json!({"error": "missing X-Event-Id"}));
        };
        if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
            return json_response(400, json!({"error": "body is not JSON"}));
        }
        s.record_delivery("partner.receive", event_id);
        json_response(200, json!({"received": true}))
    })
    .await
}
