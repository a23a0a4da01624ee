//! Timelines: everything that happened to an order or one shipment (business events, courier
//! events as received, and the saga's history) in causal order.

use axum::Json;
use axum::extract::{Extension, Path, State};
use serde_json::{Value, json};

use super::{no_such, parse_id, to_json};
use crate::api::auth::Principal;
use crate::api::{ApiError, AppState, tenancy};
use crate::families::hardware::store::OrderPart;

/// An order's timeline, oldest first.
#[utoipa::path(get, path = "/v1/orders/{id}/timeline", operation_id = "order_timeline", tag = "hardware", params(("id" = String, Path, description = "order id")),
    responses((status = 200, description = "`items`: the order's timeline, oldest first"),
        (status = 400, description = "id is not a UUID"), (status = 404, description = "no such hardware order")))]
pub(crate) async fn order(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "order")?;
    let order =
        s.rt.store
            .hardware_order(id)
            .await?
            .ok_or_else(|| no_such("order"))?;
    tenancy::visible(&who, Some(&order.created_by), "order")?;
    let items = s.rt.store.order_timeline(id).await?;
    Ok(Json(json!({ "items": to_json(&items)? })))
}

/// One shipment's timeline: its events, its items' automation, its courier events and its
/// saga's shipping and automation history.
#[utoipa::path(get, path = "/v1/shipments/{id}/timeline", operation_id = "shipment_timeline", tag = "hardware", params(("id" = String, Path, description = "shipment id")),
    responses((status = 200, description = "`items`: the shipment's timeline, oldest first"),
        (status = 400, description = "id is not a UUID"), (status = 404, description = "no such shipment")))]
pub(crate) async fn shipment(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "shipment")?;
    let owner = s.rt.store.hardware_owner(OrderPart::Shipment, id).await?;
    let owner = owner.ok_or_else(|| no_such("shipment"))?;
    tenancy::visible(&who, Some(&owner), "shipment")?;
    let items = s.rt.store.shipment_timeline(id).await?;
    Ok(Json(json!({ "items": to_json(&items)? })))
}
