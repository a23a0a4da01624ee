//! The simulated MTN-style reseller: `/api/orders` and `/api/balance`, with no idempotency
//! keys (like the real one) and an order history searchable by `reference`.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::callbacks;
use super::config::Outcome;
use super::events::reseller_event;
use super::state::{Sim, header, json_response};
use crate::domain::phone::{Network, PhoneNumber};
use crate::providers::reseller::ResellerOrder;
use crate::providers::webhooks;

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/api/orders", get(list_orders).post(create_order))
        .route("/api/balance", get(balance))
}

fn authorised(sim: &Sim, headers: &HeaderMap) -> bool {
    let expected = sim.lock().config.providers.reseller.api_key.clone();
    header(headers, "x-api-key").is_some_and(|k| !expected.is_empty() && k == expected.expose())
}

fn refuse(status: u16, message: &str) -> Response {
    json_response(status, json!({"success": false, "message": message}))
}

fn now_text() -> String {
    Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

#[derive(Deserialize)]
struct CreateBody {
    recipient_phone: String,
    network: String,
    size_gb: u32,
    #[serde(default)]
    reference: Option<String>,
}

async fn create_order(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let s = sim.clone();
    sim.run("reseller.create_order", async move {
        if !authorised(&s, &headers) {
            return refuse(401, "Invalid API key");
        }
        let Ok(req) = serde_json::from_slice::<CreateBody>(&body) else {
            return refuse(400, "Invalid parameters");
        };
        let Ok(network) = req.network.parse::<Network>() else {
            return refuse(400, "Invalid network");
        };
        let Ok(phone) = PhoneNumber::parse(&req.recipient_phone) else {
            return refuse(400, "Invalid phone number");
        };
        if phone.check_network(network).is_err() {
            return refuse(400, "Phone number does not match network");
        }
        if req.size_gb == 0 || req.size_gb > 100 {
            return refuse(404, "Plan not found");
        }
        let (order, delay) = {
            let mut state = s.lock();
            let amount = f64::from(req.size_gb) * state.config.price_per_gb;
            if state.config.balance < amount {
                return refuse(402, "Insufficient balance");
            }
            state.config.balance -= amount;
            let id = i64::try_from(state.records.next()).unwrap_or(i64::MAX) + 1000;
            let now = now_text();
            let order = ResellerOrder {
                id,
                status: "pending".into(),
                message: Some("Order received".into()),
                amount: Some(amount),
                recipient_phone: phone.as_national().to_string(),
                plan_name: Some(format!("{network} {}GB", req.size_gb)),
                network: network.as_str().to_string(),
                size_mb: Some(u64::from(req.size_gb) * 1024),
                reference: req.reference.clone(),
                created_at: Some(now.clone()),
                updated_at: Some(now),
            };
            state.records.reseller_orders.insert(id, order.clone());
            (order, state.config.completion_delay_ms)
        };
        let key = order
            .reference
            .clone()
            .unwrap_or_else(|| format!("order-{}", order.id));
        s.record_delivery("reseller.create_order", &key);
        tracing::info!(order_id = order.id, phone = %phone.masked(), "simulated reseller order");
        schedule_completion(&s, order.id, phone, Duration::from_millis(delay));
        json_response(
            200,
            json!({"success": true, "order_id": order.id, "message": "Order created successfully"}),
        )
    })
    .await
}

fn schedule_completion(sim: &Sim, id: i64, phone: PhoneNumber, delay: Duration) {
    let s = sim.clone();
    callbacks::after(sim, delay, async move {
        let (order, secret) = {
            let mut state = s.lock();
            let outcome = state
                .config
                .outcomes
                .get(phone.as_national())
                .copied()
                .unwrap_or(state.config.default_outcome);
            let secret = state.config.providers.reseller.webhook_secret.clone();
            let Some(order) = state.records.reseller_orders.get_mut(&id) else {
                return;
            };
            match outcome {
                Outcome::Pending => return,
                Outcome::Completed => {
                    order.status = "completed".into();
                    order.message = Some("Order processed successfully".into());
                }
                Outcome::Failed => {
                    order.status = "failed".into();
                    order.message = Some("Delivery failed at the network".into());
                }
            }
            order.updated_at = Some(now_text());
            (order.clone(), secret)
        };
        if order.status == "completed" {
            // The bundle reached the phone: the effect a customer would see twice.
            let key = order
                .reference
                .clone()
                .unwrap_or_else(|| format!("order-{id}"));
            s.record_delivery("reseller.delivered", &key);
        }
        let event = reseller_event(secret.expose(), &order, Utc::now());
        callbacks::send(&s, &webhooks::reseller::CONTRACT, &id.to_string(), event).await;
    });
}

#[derive(Deserialize)]
struct HistoryQuery {
    reference: Option<String>,
    recipient_phone: Option<String>,
    limit: Option<usize>,
    /// 1-based; the real reseller pages its history the same way.
    page: Option<usize>,
}

async fn list_orders(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Query(query): Query<HistoryQuery>,
) -> Response {
    let s = sim.clone();
    sim.run("reseller.list_orders", async move {
        if !authorised(&s, &headers) {
            return refuse(401, "Invalid API key");
        }
        let phone = query
            .recipient_phone
            .as_deref()
            .and_then(|p| PhoneNumber::parse(p).ok());
        let state = s.lock();
        let orders: Vec<&ResellerOrder> = state
            .records
            .reseller_orders
            .values()
            .rev()
            .filter(|o| {
                query
                    .reference
                    .as_ref()
                    .is_none_or(|r| o.reference.as_ref() == Some(r))
            })
            .filter(|o| {
                phone
                    .as_ref()
                    .is_none_or(|p| o.recipient_phone == p.as_national())
            })
            .skip(
                query
                    .page
                    .unwrap_or(1)
                    .saturating_sub(1)
                    .saturating_mul(query.limit.unwrap_or(50)),
            )
            .take(query.limit.unwrap_or(50))
            .collect();
        json_response(200, json!({"success": true, "orders": orders}))
    })
    .await
}

async fn balance(State(sim): State<Sim>, headers: HeaderMap) -> Response {
    let s = sim.clone();
    sim.run("reseller.balance", async move {
        if !authorised(&s, &headers) {
            return refuse(401, "Invalid API key");
        }
        let balance = s.lock().config.balance;
        json_response(
            200,
            json!({"success": true, "balance": balance, "currency": "GHS"}),
        )
    })
    .await
}
