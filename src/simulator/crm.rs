//! The simulated CRM: sales orders, one licence per sales order, and cancellation, with
//! `Zoho-oauthtoken` auth and idempotency keys.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use chrono::{Months, Utc};
use serde_json::{Value, json};

use super::state::{Sim, header, json_response};
use crate::providers::crm::{Licence, NewSalesOrder, SalesOrder};

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/crm/v1/sales_orders", post(create_sales_order))
        .route(
            "/crm/v1/sales_orders/{id}/licences",
            post(provision_licence),
        )
        .route("/crm/v1/sales_orders/{id}/cancel", post(cancel_sales_order))
}

fn error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (status, json!({"code": code, "message": message}))
}

fn authorised(sim: &Sim, headers: &HeaderMap) -> bool {
    let token = sim.lock().config.providers.crm.access_token.clone();
    header(headers, "authorization")
        .and_then(|v| v.strip_prefix("Zoho-oauthtoken "))
        .is_some_and(|t| !token.is_empty() && t == token.expose())
}

fn unauthorised() -> Response {
    let (status, body) = error(401, "INVALID_TOKEN", "invalid oauth token");
    json_response(status, body)
}

/// Months in a tenure such as `12_MONTHS` or `1_MONTH`; 12 when unreadable.
fn tenure_months(tenure: &str) -> u32 {
    tenure
        .split('_')
        .next()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(12)
}

async fn create_sales_order(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let s = sim.clone();
    sim.run("crm.create_sales_order", async move {
        if !authorised(&s, &headers) {
            return unauthorised();
        }
        let key = header(&headers, "idempotency-key").map(str::to_string);
        let s2 = s.clone();
        let key2 = key.clone();
        let bytes = body.clone();
        s.idempotent(
            "crm.create_sales_order",
            key.as_deref(),
            &body,
            move || async move {
                let Ok(order) = serde_json::from_slice::<NewSalesOrder>(&bytes) else {
                    return error(
                        400,
                        "INVALID_DATA",
                        "reference, customer, product_id, tenure and quantity are required",
                    );
                };
                if order.product_id.is_empty() || order.quantity == 0 {
                    return error(
                        422,
                        "INVALID_DATA",
                        "product_id and a positive quantity are required",
                    );
                }
                let created = {
                    let mut state = s2.lock();
                    let n = state.records.next();
                    let so = SalesOrder {
                        id: format!("SO-{n:06}"),
                        status: "confirmed".into(),
                        reference: Some(order.reference.clone()),
                    };
                    state.records.sales_orders.insert(so.id.clone(), so.clone());
                    so
                };
                s2.record_delivery(
                    "crm.create_sales_order",
                    key2.as_deref().unwrap_or(&created.id),
                );
                (201, json!(created))
            },
        )
        .await
    })
    .await
}

async fn provision_licence(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = sim.clone();
    sim.run("crm.provision_licence", async move {
        if !authorised(&s, &headers) {
            return unauthorised();
        }
        let key = header(&headers, "idempotency-key").map(str::to_string);
        let s2 = s.clone();
        let bytes = body.clone();
        s.idempotent(
            "crm.provision_licence",
            key.as_deref(),
            &body,
            move || async move {
                let tenure = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("tenure").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_default();
                let licence = {
                    let mut state = s2.lock();
                    let Some(so) = state.records.sales_orders.get(&id) else {
                        return error(404, "NOT_FOUND", "no such sales order");
                    };
                    if so.status == "cancelled" {
                        return error(422, "SALES_ORDER_CANCELLED", "the sales order is cancelled");
                    }
                    if let Some(existing) = state.records.licences.get(&id) {
                        // One licence per sales order: never provision twice.
                        return (200, json!(existing));
                    }
                    let n = state.records.next();
                    let today = Utc::now().date_naive();
                    let expires_on = today
                        .checked_add_months(Months::new(tenure_months(&tenure)))
                        .unwrap_or(today);
                    let licence = Licence {
                        activation_reference: format!("ACT-{n:08}"),
                        expires_on,
                        sales_order_id: id.clone(),
                    };
                    state.records.licences.insert(id.clone(), licence.clone());
                    licence
                };
                s2.record_delivery("crm.provision_licence", &id);
                (201, json!(licence))
            },
        )
        .await
    })
    .await
}

async fn cancel_sales_order(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = sim.clone();
    sim.run("crm.cancel_sales_order", async move {
        if !authorised(&s, &headers) {
            return unauthorised();
        }
        let key = header(&headers, "idempotency-key").map(str::to_string);
        let s2 = s.clone();
        s.idempotent(
            "crm.cancel_sales_order",
            key.as_deref(),
            &body,
            move || async move {
                let mut state = s2.lock();
                let Some(so) = state.records.sales_orders.get_mut(&id) else {
                    return error(404, "NOT_FOUND", "no such sales order");
                };
                let first = so.status != "cancelled";
                so.status = "cancelled".into();
                let so = so.clone();
                drop(state);
                if first {
                    s2.record_delivery("crm.cancel_sales_order", &id);
                }
                (200, json!(so))
            },
        )
        .await
    })
    .await
}
