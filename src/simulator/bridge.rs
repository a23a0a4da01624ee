//! The simulated legacy device/asset bridge: runs named automations once per idempotency key
//! with Bearer auth, and keeps every run for tests (`GET /_sim/bridge/automations`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::state::{Sim, bearer_ok, header, json_response};

/// The scenarios the bridge runs (the ones automation steps are made for); any other is 422
/// `unknown_scenario`.
pub use crate::families::hardware::SCENARIOS;

/// One automation the simulated bridge ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutomationRun {
    pub id: String,
    pub reference: String,
    /// The `Idempotency-Key` it came with.
    pub idempotency_key: Option<String>,
    pub scenario: String,
    pub order_id: String,
    pub sku: String,
    pub quantity: i32,
    pub payload: Value,
    /// RFC 3339.
    pub ran_at: String,
}

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/bridge/v1/automations", post(run_automation))
        .route("/_sim/bridge/automations", get(list_runs))
}

fn error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (status, json!({"error": {"code": code, "message": message}}))
}

/// The body as sent; every field optional so a missing one can be named.
#[derive(Deserialize)]
struct RunBody {
    reference: Option<String>,
    scenario: Option<String>,
    order_id: Option<String>,
    sku: Option<String>,
    quantity: Option<i32>,
    payload: Option<Value>,
}

/// A checked request: everything present and the scenario known.
struct Valid {
    reference: String,
    scenario: String,
    order_id: String,
    sku: String,
    quantity: i32,
    payload: Value,
}

fn validate(bytes: &[u8]) -> Result<Valid, (u16, Value)> {
    let body: RunBody = serde_json::from_slice(bytes)
        .map_err(|e| error(400, "invalid_request", &format!("invalid JSON body: {e}")))?;
    let text = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let (reference, scenario, order_id, sku) = (
        text(body.reference),
        text(body.scenario),
        text(body.order_id),
        text(body.sku),
    );
    let missing: Vec<&str> = [
        ("reference", reference.is_none()),
        ("scenario", scenario.is_none()),
        ("order_id", order_id.is_none()),
        ("sku", sku.is_none()),
        ("quantity", body.quantity.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, absent)| absent.then_some(name))
    .collect();
    let (Some(reference), Some(scenario), Some(order_id), Some(sku), Some(quantity)) =
        (reference, scenario, order_id, sku, body.quantity)
    else {
        return Err(error(
            400,
            "invalid_request",
            &format!("missing required fields: {}", missing.join(", ")),
        ));
    };
    if !SCENARIOS.contains(&scenario.as_str()) {
        return Err(error(
            422,
            "unknown_scenario",
            &format!(
                "unknown scenario {scenario:?}; expected one of {}",
                SCENARIOS.join(", ")
            ),
        ));
    }
    Ok(Valid {
        reference,
        scenario,
        order_id,
        sku,
        quantity,
        payload: body.payload.unwrap_or(Value::Null),
    })
}

async fn run_automation(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let s = sim.clone();
    sim.run("bridge.run_automation", async move {
        let api_key = s.lock().config.providers.bridge.api_key.clone();
        if !bearer_ok(&headers, api_key.expose()) {
            let (status, body) = error(401, "unauthorized", "invalid api key");
            return json_response(status, body);
        }
        let key = header(&headers, "idempotency-key")
            .filter(|k| !k.is_empty())
            .map(str::to_string);
        let s2 = s.clone();
        let key2 = key.clone();
        let bytes = body.clone();
        s.idempotent(
            "bridge.run_automation",
            key.as_deref(),
            &body,
            move || async move {
                let req = match validate(&bytes) {
                    Ok(req) => req,
                    Err(refused) => return refused,
                };
                let run = {
                    let mut state = s2.lock();
                    let n = state.records.next();
                    let run = AutomationRun {
                        id: format!("auto_{n:06}"),
                        reference: req.reference,
                        idempotency_key: key2.clone(),
                        scenario: req.scenario,
                        order_id: req.order_id,
                        sku: req.sku,
                        quantity: req.quantity,
                        payload: req.payload,
                        ran_at: Utc::now().to_rfc3339(),
                    };
                    state.records.automations.push(run.clone());
                    run
                };
                s2.record_delivery(
                    "bridge.run_automation",
                    key2.as_deref().unwrap_or(&run.reference),
                );
                (
                    201,
                    json!({
                        "id": run.id,
                        "status": "completed",
                        "message": format!(
                            "{} ran for order {} ({} x {})",
                            run.scenario, run.order_id, run.quantity, run.sku
                        ),
                        "reference": run.reference,
                        "scenario": run.scenario,
                    }),
                )
            },
        )
        .await
    })
    .await
}

async fn list_runs(State(sim): State<Sim>) -> Response {
    json_response(200, json!({"automations": sim.lock().records.automations}))
}
