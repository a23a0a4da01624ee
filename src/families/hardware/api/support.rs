//! Support's maintenance routes: an order's status moved where the lifecycle lets support
//! move it (closing an order whose checkout failed, expired or never went), a paid order's
//! missing fulfilment, automation queued for a delivered shipment, and a step corrected
//! before it runs. Anything else is a 409 naming the state. Operators only.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::orders::order_json;
use super::{actor, conflict, invalid, no_such, parse_id, required, store_error, text, to_json};
use crate::api::auth::Principal;
use crate::api::sagas::check_reason;
use crate::api::{ApiError, ApiJson, AppState};
use crate::domain::hardware::order::PaymentStatus;
use crate::families::hardware::{HardwareSettings, SCENARIOS};
use crate::store;

/// A lifecycle refusal is 409 `illegal_transition` with the state; the rest as usual.
fn support_error(what: &'static str) -> impl Fn(store::Error) -> ApiError {
    move |e| match e {
        store::Error::Conflict(m) => conflict(m),
        other => store_error(what)(other),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// The payment status wanted. Support may only close an order: `cancelled`.
    pub status: Option<String>,
    /// Why, recorded on the order's event.
    pub reason: Option<String>,
}

/// Moves an order's payment status as support may: `cancelled`, for a draft or a failed or
/// expired checkout whose saga is over. Every other move belongs to the saga (409).
#[utoipa::path(patch, path = "/v1/orders/{id}/status", operation_id = "set_hardware_order_status", tag = "hardware",
    params(("id" = String, Path, description = "order id")), request_body = StatusChange,
    responses((status = 200, description = "the order"), (status = 404, description = "no such hardware order"),
        (status = 409, description = "a move the lifecycle or a running saga does not allow"),
        (status = 400, description = "no reason"), (status = 422, description = "an unknown status")))]
pub(crate) async fn set_order_status(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<StatusChange>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "order")?;
    let wanted = required("status", &req.status)?;
    let target: PaymentStatus = wanted.parse().map_err(|_| {
        invalid(
            "invalid_status",
            format!("status {wanted:?} is not an order payment status"),
        )
    })?;
    let reason = check_reason(req.reason.as_deref().unwrap_or(""))?;
    let order =
        s.rt.store
            .hardware_order(id)
            .await?
            .ok_or_else(|| no_such("hardware order"))?;
    if target != PaymentStatus::Cancelled {
        return Err(conflict(format!(
            "support cannot move the order to {}: it is {}, and only the checkout saga moves it there",
            target.as_str(),
            order.payment_status
        )));
    }
    s.rt.store
        .support_cancel_order(id, &actor(&who), &reason, s.rt.clock.now())
        .await
        .map_err(support_error("hardware order"))?;
    let body = order_json(&s, id).await?.ok_or_else(ApiError::internal)?;
    Ok(Json(body))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFulfillment {
    pub order_id: Option<String>,
}

/// Creates a paid order's fulfilment when it has none (the saga makes it on payment; this
/// mends an order whose saga stopped first).
#[utoipa::path(post, path = "/v1/fulfillments", operation_id = "create_fulfillment", tag = "hardware", request_body = NewFulfillment,
    responses((status = 201, description = "the fulfilment with its items"),
        (status = 404, description = "no such hardware order"),
        (status = 409, description = "the order is not paid, or has a fulfilment")))]
pub(crate) async fn create_fulfillment(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<NewFulfillment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let order = required("order_id", &req.order_id)?;
    let order = parse_id(&order, "order")?;
    let id =
        s.rt.store
            .support_create_fulfillment(order, s.rt.clock.now())
            .await
            .map_err(support_error("hardware order"))?;
    let view =
        s.rt.store
            .fulfillment_view(id)
            .await?
            .ok_or_else(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(to_json(&view)?)))
}

/// Queues the automation steps a delivered shipment's items lack (each item's scenario and
/// policy, as delivery would have).
#[utoipa::path(post, path = "/v1/shipments/{id}/automation-steps", operation_id = "queue_automation_steps", tag = "hardware",
    params(("id" = String, Path, description = "shipment id")),
    responses((status = 201, description = "{automation_steps: [...]}, the new steps"),
        (status = 404, description = "no such shipment"),
        (status = 409, description = "the shipment is not delivered, or every item has its step")))]
pub(crate) async fn queue_automation(
    State(s): State<AppState>,
    Extension(settings): Extension<Arc<HardwareSettings>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id, "shipment")?;
    let steps =
        s.rt.store
            .support_queue_automation(id, &settings.max_attempts(), s.rt.clock.now())
            .await
            .map_err(support_error("shipment"))?;
    s.rt.wake.notify_one();
    Ok((
        StatusCode::CREATED,
        Json(json!({ "automation_steps": steps })),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutomationChange {
    #[serde(default)]
    pub scenario: Option<String>,
    /// Replaces the step's payload (an object).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
}

/// Corrects a queued or failed automation step's scenario or payload before it runs again.
#[utoipa::path(patch, path = "/v1/automation-steps/{id}", operation_id = "edit_automation_step", tag = "hardware",
    params(("id" = String, Path, description = "automation step id")), request_body = AutomationChange,
    responses((status = 200, description = "the step"), (status = 404, description = "no such automation step"),
        (status = 409, description = "the step is retrying, succeeded or settled by a fallback"),
        (status = 422, description = "nothing to change, an unknown scenario, or a payload that is not an object")))]
pub(crate) async fn edit_automation(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AutomationChange>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "automation step")?;
    let scenario = text("scenario", &req.scenario)?;
    if let Some(sc) = &scenario
        && !SCENARIOS.contains(&sc.as_str())
    {
        return Err(invalid(
            "unknown_scenario",
            format!(
                "unknown scenario {sc:?}; use one of: {}",
                SCENARIOS.join(", ")
            ),
        ));
    }
    if req.payload.as_ref().is_some_and(|p| !p.is_object()) {
        return Err(invalid("invalid_body", "payload must be an object"));
    }
    if scenario.is_none() && req.payload.is_none() {
        return Err(invalid("nothing_to_change", "the body changes nothing"));
    }
    let row =
        s.rt.store
            .support_edit_automation(
                id,
                scenario.as_deref(),
                req.payload.as_ref(),
                &actor(&who),
                s.rt.clock.now(),
            )
            .await
            .map_err(support_error("automation step"))?;
    Ok(Json(to_json(&row)?))
}
