//! The simulated AT-iShare API: signed requests, fulfilments idempotent by reference, and a
//! signed status webhook when a fulfilment completes or fails.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::callbacks;
use super::config::Outcome;
use super::events::ishare_event;
use super::records::IshareRecord;
use super::state::{Sim, header, json_response};
use crate::domain::phone::{Network, PhoneNumber};
use crate::providers::ishare::Fulfillment;
use crate::providers::signature::verify_ishare_request;
use crate::providers::webhooks;

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/v1/fulfillments", post(fulfill))
        .route("/v1/fulfillments/{reference}", get(verify))
}

fn refuse(status: u16, code: &str, message: &str, reference: Option<&str>) -> Response {
    json_response(
        status,
        json!({"success": false, "reference": reference, "errorCode": code, "message": message}),
    )
}

/// Key, timestamp within five minutes, and signature over `{t}.{METHOD}.{path}.{body}`.
fn authorised(sim: &Sim, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> bool {
    let cfg = sim.lock().config.providers.ishare.clone();
    let key_ok = header(headers, "x-ishare-key")
        .is_some_and(|k| !cfg.api_key.is_empty() && k == cfg.api_key.expose());
    let Some(t) = header(headers, "x-ishare-timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return false;
    };
    let fresh = (Utc::now().timestamp() - t).abs() <= 300;
    let path = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let signed = header(headers, "x-ishare-signature").is_some_and(|sig| {
        verify_ishare_request(
            cfg.api_secret.expose().as_bytes(),
            t,
            method.as_str(),
            path,
            body,
            sig,
        )
    });
    key_ok && fresh && signed
}

#[derive(Deserialize)]
struct FulfillBody {
    phone: String,
    size_gb: u32,
    reference: String,
}

async fn fulfill(
    State(sim): State<Sim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = sim.clone();
    sim.run("ishare.fulfill", async move {
        if !authorised(&s, &method, &uri, &headers, &body) {
            return refuse(401, "UNAUTHORIZED", "invalid key or signature", None);
        }
        let Ok(req) = serde_json::from_slice::<FulfillBody>(&body) else {
            return refuse(
                400,
                "INVALID_REQUEST",
                "phone, size_gb and reference are required",
                None,
            );
        };
        let reference = req.reference.as_str();
        if reference.is_empty() {
            return refuse(400, "INVALID_REQUEST", "reference is required", None);
        }
        let Ok(phone) = PhoneNumber::parse(&req.phone) else {
            return refuse(
                400,
                "INVALID_PHONE",
                "invalid phone number",
                Some(reference),
            );
        };
        if phone.check_network(Network::AirtelTigo).is_err() {
            return refuse(
                400,
                "NETWORK_MISMATCH",
                "phone is not on AirtelTigo",
                Some(reference),
            );
        }
        if req.size_gb == 0 || req.size_gb > 100 {
            return refuse(
                422,
                "INVALID_PACKAGE",
                "no package of that size",
                Some(reference),
            );
        }
        let delay = {
            let mut state = s.lock();
            if let Some(existing) = state.records.ishare.get(reference) {
                // Same reference: the same fulfilment, never a second delivery.
                return json_response(200, json!(existing.fulfillment));
            }
            let amount = f64::from(req.size_gb) * state.config.price_per_gb;
            if state.config.balance < amount {
                return refuse(
                    402,
                    "INSUFFICIENT_BALANCE",
                    "insufficient balance",
                    Some(reference),
                );
            }
            state.config.balance -= amount;
            let fulfillment = Fulfillment {
                success: true,
                reference: reference.to_string(),
                status: Some("pending".into()),
                message: Some("fulfilment accepted".into()),
                error_code: None,
            };
            state.records.ishare.insert(
                reference.to_string(),
                IshareRecord {
                    fulfillment,
                    phone: phone.as_national().to_string(),
                    size_gb: req.size_gb,
                },
            );
            state.config.completion_delay_ms
        };
        s.record_delivery("ishare.fulfill", reference);
        tracing::info!(reference, phone = %phone.masked(), "simulated ishare fulfilment");
        schedule_completion(&s, reference.to_string(), Duration::from_millis(delay));
        let state = s.lock();
        let record = state
            .records
            .ishare
            .get(reference)
            .map(|r| r.fulfillment.clone());
        json_response(201, json!(record))
    })
    .await
}

fn schedule_completion(sim: &Sim, reference: String, delay: Duration) {
    let s = sim.clone();
    callbacks::after(sim, delay, async move {
        let (record, secret, event_no) = {
            let mut state = s.lock();
            let event_no = state.records.next();
            let secret = state.config.providers.ishare.webhook_secret.clone();
            let default = state.config.default_outcome;
            let Some(phone) = state
                .records
                .ishare
                .get(&reference)
                .map(|r| r.phone.clone())
            else {
                return;
            };
            let outcome = state
                .config
                .outcomes
                .get(&phone)
                .copied()
                .unwrap_or(default);
            let Some(record) = state.records.ishare.get_mut(&reference) else {
                return;
            };
            match outcome {
                Outcome::Pending => return,
                Outcome::Completed => {
                    record.fulfillment.status = Some("completed".into());
                    record.fulfillment.message = Some("data delivered".into());
                }
                Outcome::Failed => {
                    record.fulfillment.status = Some("failed".into());
                    record.fulfillment.message = Some("delivery failed".into());
                    record.fulfillment.error_code = Some("DELIVERY_FAILED".into());
                }
            }
            (record.clone(), secret, event_no)
        };
        if record.fulfillment.status.as_deref() == Some("completed") {
            // The bundle reached the phone: the effect a customer would see twice.
            s.record_delivery("ishare.delivered", &reference);
        }
        let event = ishare_event(
            secret.expose(),
            &format!("evt_ishare_{event_no}"),
            &reference,
            record.fulfillment.status.as_deref().unwrap_or("pending"),
            &record.phone,
            record.size_gb,
            record.fulfillment.message.as_deref().unwrap_or(""),
            Utc::now(),
        );
        callbacks::send(&s, &webhooks::ishare::CONTRACT, &reference, event).await;
    });
}

async fn verify(
    State(sim): State<Sim>,
    Path(reference): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let s = sim.clone();
    sim.run("ishare.verify", async move {
        if !authorised(&s, &method, &uri, &headers, b"") {
            return refuse(401, "UNAUTHORIZED", "invalid key or signature", None);
        }
        let state = s.lock();
        match state.records.ishare.get(&reference) {
            Some(record) => json_response(200, json!(record.fulfillment)),
            None => refuse(
                404,
                "NOT_FOUND",
                "no fulfilment with that reference",
                Some(&reference),
            ),
        }
    })
    .await
}
