//! The simulated couriers (every configured carrier under `/courier/{code}`): labels with
//! tracking numbers, tracking, cancellation before pickup, and signed progress events
//! (in_transit, then delivered; or cancelled).

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::{Value, json};

use super::callbacks;
use super::events::{SignedEvent, courier_event};
use super::records::{Records, ShipmentRecord};
use super::state::{Sim, State as SimState, bearer_ok, header, json_response};
use crate::providers::courier::{ALREADY_IN_TRANSIT, NewShipment, Shipment, TrackingEvent};
use crate::providers::webhooks;

/// The status of a cancelled shipment; auto-progress never moves it on.
const CANCELLED: &str = "cancelled";

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/courier/{code}/v1/shipments", post(create_shipment))
        .route(
            "/courier/{code}/v1/shipments/{tracking}/tracking",
            get(get_tracking),
        )
        .route(
            "/courier/{code}/v1/shipments/{tracking}/cancel",
            post(cancel_shipment),
        )
        .route("/courier/{code}/track/{tracking}", get(public_tracking))
}

fn error(status: u16, message: &str) -> (u16, Value) {
    (status, json!({"error": {"message": message}}))
}

/// `None` when the courier is unknown, else whether the Bearer key is right.
fn authorised(sim: &Sim, code: &str, headers: &HeaderMap) -> Option<bool> {
    let key = sim
        .lock()
        .config
        .providers
        .courier
        .carriers
        .get(code)
        .map(|c| c.api_key.clone())?;
    Some(bearer_ok(headers, key.expose()))
}

fn refuse(status: u16, message: &str) -> Response {
    let (status, body) = error(status, message);
    json_response(status, body)
}

async fn create_shipment(
    State(sim): State<Sim>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = sim.clone();
    sim.run("courier.create_shipment", async move {
        match authorised(&s, &code, &headers) {
            None => return refuse(404, "unknown courier"),
            Some(false) => return refuse(401, "invalid api key"),
            Some(true) => {}
        }
        let key = header(&headers, "idempotency-key").map(str::to_string);
        let slot = format!("courier.create_shipment:{code}");
        let s2 = s.clone();
        let key2 = key.clone();
        let bytes = body.clone();
        s.idempotent(&slot, key.as_deref(), &body, move || async move {
            let Ok(req) = serde_json::from_slice::<NewShipment>(&bytes) else {
                return error(400, "reference, to and parcels are required");
            };
            if req.parcels.is_empty() || req.to.country.is_empty() || req.to.postal_code.is_empty()
            {
                return error(422, "address incomplete or no parcels");
            }
            let (shipment, delay, auto) = {
                let mut state = s2.lock();
                let n = state.records.next();
                let tracking = format!("{}{n:010}SIM", code.to_ascii_uppercase());
                let shipment = Shipment {
                    id: format!("shp_{n:06}"),
                    tracking_number: tracking.clone(),
                    label_url: Some(format!(
                        "{}/courier/{code}/labels/{tracking}.pdf",
                        s2.0.base_url
                    )),
                    status: "label_created".into(),
                };
                state.records.shipments.insert(
                    tracking,
                    ShipmentRecord {
                        courier: code.clone(),
                        shipment: shipment.clone(),
                        events: vec![TrackingEvent {
                            status: "label_created".into(),
                            occurred_at: Utc::now().to_rfc3339(),
                            description: Some("Label created".into()),
                        }],
                    },
                );
                (
                    shipment,
                    state.config.courier_step_delay_ms,
                    state.config.courier_auto_progress,
                )
            };
            s2.record_delivery(
                "courier.create_shipment",
                key2.as_deref().unwrap_or(&shipment.tracking_number),
            );
            if auto {
                schedule_progress(
                    &s2,
                    shipment.tracking_number.clone(),
                    Duration::from_millis(delay),
                );
            }
            (201, json!(shipment))
        })
        .await
    })
    .await
}

fn schedule_progress(sim: &Sim, tracking: String, step: Duration) {
    let s = sim.clone();
    callbacks::after(sim, step, async move {
        if advance_unless_cancelled(&s, &tracking, "in_transit").await {
            tokio::time::sleep(step).await;
            advance_unless_cancelled(&s, &tracking, "delivered").await;
        }
    });
}

/// Moves a shipment to `status` (tracking event included) under the lock and signs the courier
/// event to post; `None` for an unknown shipment or courier.
fn move_to(state: &mut SimState, tracking: &str, status: &str) -> Option<SignedEvent> {
    let n = state.records.next();
    let record = state.records.shipments.get_mut(tracking)?;
    record.shipment.status = status.to_string();
    record.events.push(TrackingEvent {
        status: status.to_string(),
        occurred_at: Utc::now().to_rfc3339(),
        description: (status == CANCELLED).then(|| "Shipment cancelled".to_string()),
    });
    let code = record.courier.clone();
    let carrier = state.config.providers.courier.carriers.get(&code)?;
    Some(courier_event(
        &code,
        carrier,
        &format!("evt_{code}_{n:06}"),
        tracking,
        status,
        Utc::now(),
    ))
}

async fn post_event(sim: &Sim, tracking: &str, event: SignedEvent) {
    callbacks::send(sim, &webhooks::courier::CONTRACT, tracking, event).await;
}

/// Moves a shipment to `status` and posts the signed courier event (`/_sim/courier/…/advance`:
/// any status, `cancelled` included).
pub(crate) async fn advance(sim: &Sim, tracking: &str, status: &str) {
    let event = move_to(&mut sim.lock(), tracking, status);
    if let Some(event) = event {
        post_event(sim, tracking, event).await;
    }
}

/// Auto-progress: as [`advance`], but a cancelled (or vanished) shipment stays as it is.
/// Returns whether the shipment moved.
async fn advance_unless_cancelled(sim: &Sim, tracking: &str, status: &str) -> bool {
    let event = {
        let mut state = sim.lock();
        match state.records.shipments.get(tracking) {
            Some(record) if record.shipment.status != CANCELLED => {
                move_to(&mut state, tracking, status)
            }
            _ => None,
        }
    };
    match event {
        Some(event) => {
            post_event(sim, tracking, event).await;
            true
        }
        None => false,
    }
}

fn tracking_json(tracking: &str, record: &ShipmentRecord) -> Value {
    json!({
        "tracking_number": tracking,
        "status": record.shipment.status,
        "events": record.events,
    })
}

/// The shipment of `code` with this tracking number.
fn shipment_of<'a>(records: &'a Records, code: &str, tracking: &str) -> Option<&'a ShipmentRecord> {
    records
        .shipments
        .get(tracking)
        .filter(|r| r.courier == code)
}

/// `POST /courier/{code}/v1/shipments/{tracking}/cancel`: a shipment still at `label_created`
/// is cancelled (signed `cancelled` event, no further progress); an already cancelled one
/// answers as it is; one the courier has picked up is 409 `already_in_transit`.
async fn cancel_shipment(
    State(sim): State<Sim>,
    Path((code, tracking)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = sim.clone();
    sim.run("courier.cancel_shipment", async move {
        match authorised(&s, &code, &headers) {
            None => return refuse(404, "unknown courier"),
            Some(false) => return refuse(401, "invalid api key"),
            Some(true) => {}
        }
        let key = header(&headers, "idempotency-key").map(str::to_string);
        let slot = format!("courier.cancel_shipment:{code}");
        // The path is part of the request: the same key for another shipment is refused.
        let mut request = format!("/v1/shipments/{tracking}/cancel\n").into_bytes();
        request.extend_from_slice(&body);
        let s2 = s.clone();
        let key2 = key.clone();
        s.idempotent(&slot, key.as_deref(), &request, move || async move {
            let (event, answer) = {
                let mut state = s2.lock();
                let Some(record) = shipment_of(&state.records, &code, &tracking) else {
                    return error(404, "no such tracking number");
                };
                let status = record.shipment.status.clone();
                match status.as_str() {
                    CANCELLED => (None, tracking_json(&tracking, record)),
                    "label_created" => {
                        let event = move_to(&mut state, &tracking, CANCELLED);
                        let Some(record) = state.records.shipments.get(&tracking) else {
                            return error(404, "no such tracking number");
                        };
                        (event, tracking_json(&tracking, record))
                    }
                    other => {
                        return (
                            409,
                            json!({"error": {"code": ALREADY_IN_TRANSIT, "message": format!(
                                "shipment {tracking} is already {other} and can no longer be cancelled"
                            )}}),
                        );
                    }
                }
            };
            if let Some(event) = event {
                s2.record_delivery("courier.cancel_shipment", key2.as_deref().unwrap_or(&tracking));
                let s3 = s2.clone();
                let tracking = tracking.clone();
                callbacks::after(&s2, Duration::ZERO, async move {
                    post_event(&s3, &tracking, event).await;
                });
            }
            (200, answer)
        })
        .await
    })
    .await
}

async fn get_tracking(
    State(sim): State<Sim>,
    Path((code, tracking)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let s = sim.clone();
    sim.run("courier.get_tracking", async move {
        match authorised(&s, &code, &headers) {
            None => return refuse(404, "unknown courier"),
            Some(false) => return refuse(401, "invalid api key"),
            Some(true) => {}
        }
        let state = s.lock();
        match shipment_of(&state.records, &code, &tracking) {
            Some(record) => json_response(200, tracking_json(&tracking, record)),
            None => refuse(404, "no such tracking number"),
        }
    })
    .await
}

async fn public_tracking(
    State(sim): State<Sim>,
    Path((code, tracking)): Path<(String, String)>,
) -> Response {
    let state = sim.lock();
    match state
        .records
        .shipments
        .get(&tracking)
        .filter(|r| r.courier == code)
    {
        Some(record) => json_response(
            200,
            json!({"tracking_number": tracking, "status": record.shipment.status}),
        ),
        None => refuse(404, "no such tracking number"),
    }
}
