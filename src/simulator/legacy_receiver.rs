//! The simulated legacy service's webhook endpoint: receives the payment events sagaflow
//! forwards (`POST /legacy/webhooks/payments`), checks the signature with
//! `[providers.legacy_forward] secret`, and keeps each one (`GET /_sim/legacy/webhooks`;
//! `/_sim/stats` counts them per event id under `legacy.receive`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::{Value, json};

use super::state::{Sim, header, json_response};
use crate::providers::signature::{PARTNER_SIGNATURE_HEADER, verify_timestamped};

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/legacy/webhooks/payments", post(receive))
        .route("/_sim/legacy/webhooks", get(list))
}

async fn receive(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let s = sim.clone();
    sim.run("legacy.receive", async move {
        let (secret, tolerance) = {
            let state = s.lock();
            let p = &state.config.providers;
            (p.legacy_forward.secret.clone(), p.signature_tolerance)
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
        let Some(event_id) = header(&headers, "x-event-id").map(str::to_string) else {
            return json_response(400, json!({"error": "missing X-Event-Id"}));
        };
        let Ok(event) = serde_json::from_slice::<Value>(&body) else {
            return json_response(400, json!({"error": "body is not JSON"}));
        };
        s.lock().records.legacy_forwards.push(json!({
            "event_id": event_id,
            "event_type": header(&headers, "x-event-type"),
            "event": event,
        }));
        s.record_delivery("legacy.receive", &event_id);
        json_response(200, json!({"received": true}))
    })
    .await
}

async fn list(State(sim): State<Sim>) -> Response {
    json_response(200, json!({"webhooks": sim.lock().records.legacy_forwards}))
}
