//! The simulated processor's prices: `POST /v1/prices` (form-encoded, Bearer secret key,
//! `Idempotency-Key`, `lookup_key` with `transfer_lookup_key` as Stripe takes them) and
//! `GET /v1/prices/{id}`. A checkout line naming a price created here charges its amount.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::state::{Sim, bearer_ok, header, json_response};
use crate::providers::payments::Price;

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/v1/prices", post(create_price))
        .route("/v1/prices/{id}", get(get_price))
        .route("/_sim/payments/prices", get(list_prices))
}

fn stripe_error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"type": "invalid_request_error", "code": code, "message": message}}),
    )
}

fn authorised(sim: &Sim, headers: &HeaderMap) -> bool {
    let key = sim.lock().config.providers.payments.secret_key.clone();
    bearer_ok(headers, key.expose())
}

fn price_json(price: &Price) -> Value {
    let mut value = json!(price);
    if let Some(map) = value.as_object_mut() {
        map.insert("object".into(), json!("price"));
    }
    value
}

/// A created price's amount, for checkout lines that name it.
pub(crate) fn amount_of(sim: &Sim, id: &str) -> Option<i64> {
    let state = sim.lock();
    state
        .records
        .prices
        .get(id)
        .filter(|p| p.active != Some(false))
        .and_then(|p| p.unit_amount)
}

/// The checked form: a positive amount, a three-letter currency and a product name.
fn validate(params: &BTreeMap<String, String>) -> Result<(String, i64), (u16, Value)> {
    let currency = params
        .get("currency")
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .ok_or_else(|| {
            stripe_error(
                400,
                "parameter_missing",
                "Missing or invalid param: currency.",
            )
        })?
        .to_ascii_lowercase();
    let amount = params
        .get("unit_amount")
        .and_then(|a| a.parse::<i64>().ok())
        .filter(|a| *a > 0)
        .ok_or_else(|| {
            stripe_error(
                400,
                "parameter_invalid",
                "unit_amount must be a positive integer.",
            )
        })?;
    if params
        .get("product_data[name]")
        .is_none_or(String::is_empty)
        && params.get("product").is_none_or(String::is_empty)
    {
        return Err(stripe_error(
            400,
            "parameter_missing",
            "Missing required param: product or product_data[name].",
        ));
    }
    Ok((currency, amount))
}

async fn create_price(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let s = sim.clone();
    sim.run("payments.create_price", async move {
        if !authorised(&s, &headers) {
            let (status, body) = stripe_error(401, "invalid_api_key", "Invalid API Key provided");
            return json_response(status, body);
        }
        let key = header(&headers, "idempotency-key").map(str::to_string);
        let (s2, key2, bytes) = (s.clone(), key.clone(), body.clone());
        s.idempotent("payments.create_price", key.as_deref(), &body, move || async move {
            let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes) else {
                return stripe_error(400, "parameter_invalid", "Invalid form body");
            };
            let params: BTreeMap<String, String> = pairs.into_iter().collect();
            let (currency, amount) = match validate(&params) {
                Ok(v) => v,
                Err(refused) => return refused,
            };
            let lookup_key = params.get("lookup_key").cloned();
            let transfer = params.get("transfer_lookup_key").map(String::as_str) == Some("true");
            let metadata = params
                .iter()
                .filter_map(|(k, v)| {
                    Some((k.strip_prefix("metadata[")?.strip_suffix(']')?.to_string(), v.clone()))
                })
                .collect();
            let price = {
                let mut state = s2.lock();
                if let Some(lk) = &lookup_key {
                    let holder = state
                        .records
                        .prices
                        .values_mut()
                        .find(|p| p.lookup_key.as_deref() == Some(lk.as_str()));
                    match holder {
                        Some(_) if !transfer => {
                            return stripe_error(
                                400,
                                "lookup_key_exists",
                                &format!("A price with lookup key {lk} already exists; send transfer_lookup_key=true to move it."),
                            );
                        }
                        // The key moves to the new price, as Stripe's transfer does.
                        Some(old) => old.lookup_key = None,
                        None => {}
                    }
                }
                let n = state.records.next();
                let price = Price {
                    id: format!("price_sim{n:06}"),
                    active: Some(true),
                    currency: Some(currency),
                    unit_amount: Some(amount),
                    lookup_key,
                    metadata,
                };
                state.records.prices.insert(price.id.clone(), price.clone());
                price
            };
            s2.record_delivery("payments.create_price", key2.as_deref().unwrap_or(&price.id));
            (200, price_json(&price))
        })
        .await
    })
    .await
}

async fn get_price(State(sim): State<Sim>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let s = sim.clone();
    sim.run("payments.get_price", async move {
        if !authorised(&s, &headers) {
            let (status, body) = stripe_error(401, "invalid_api_key", "Invalid API Key provided");
            return json_response(status, body);
        }
        let price = s.lock().records.prices.get(&id).cloned();
        match price {
            Some(p) => json_response(200, price_json(&p)),
            None => {
                let (status, body) =
                    stripe_error(404, "resource_missing", &format!("No such price: '{id}'"));
                json_response(status, body)
            }
        }
    })
    .await
}

async fn list_prices(State(sim): State<Sim>) -> Response {
    let prices: Vec<Price> = sim.lock().records.prices.values().cloned().collect();
    json_response(200, json!({ "prices": prices }))
}
