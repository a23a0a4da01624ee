//! The simulated SMS gateway: accepts a message once per idempotency key. Logs only the masked
//! number.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use super::state::{Sim, bearer_ok, header, json_response};
use crate::domain::phone::PhoneNumber;

pub(crate) fn routes() -> Router<Sim> {
    Router::new().route("/sms/v1/messages", post(send))
}

#[derive(Deserialize)]
struct SendBody {
    to: String,
    text: String,
    #[serde(default)]
    reference: Option<String>,
}

async fn send(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let s = sim.clone();
    sim.run("sms.send", async move {
        let key = s.lock().config.providers.sms.api_key.clone();
        if !bearer_ok(&headers, key.expose()) {
            return json_response(401, json!({"error": {"message": "invalid api key"}}));
        }
        let key = header(&headers, "idempotency-key").map(str::to_string);
        let s2 = s.clone();
        let bytes = body.clone();
        let key2 = key.clone();
        s.idempotent("sms.send", key.as_deref(), &body, move || async move {
            let Ok(req) = serde_json::from_slice::<SendBody>(&bytes) else {
                return (
                    400,
                    json!({"error": {"message": "to and text are required"}}),
                );
            };
            let Ok(phone) = PhoneNumber::parse(&req.to) else {
                return (400, json!({"error": {"message": "invalid recipient"}}));
            };
            if req.text.is_empty() || req.text.len() > 918 {
                return (
                    422,
                    json!({"error": {"message": "text must be 1 to 918 characters"}}),
                );
            }
            let id = {
                let mut state = s2.lock();
                let n = state.records.next();
                let id = format!("SM{n:010}");
                state.records.sms.insert(
                    id.clone(),
                    json!({"to": phone.as_national(), "text": req.text}),
                );
                id
            };
            let delivery = key2.or(req.reference.clone()).unwrap_or_else(|| id.clone());
            s2.record_delivery("sms.send", &delivery);
            tracing::info!(to = %phone.masked(), message_id = %id, "simulated sms");
            (200, json!({"message_id": id, "status": "queued"}))
        })
        .await
    })
    .await
}
