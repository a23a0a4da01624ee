//! Fulfilments: read one with its items and shipments, and add an operator's shipment for
//! what is left (drafted under the allocation guardrail; the saga books it with the courier).

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::addresses::{Destination, destination};
use super::{
    ItemQuantity, check_courier, conflict, invalid, no_such, parse_id, store_error, to_json,
};
use crate::api::auth::Principal;
use crate::api::{ApiError, ApiJson, AppState, tenancy};
use crate::domain::hardware::allocation::Ask;
use crate::families::hardware::SHIPMENT_DRAFTED;
use crate::families::hardware::store::NewShipment;
use crate::families::hardware::store::OrderPart;
use crate::store::NewSignal;

/// A fulfilment with its items (what each has left to ship) and its shipments.
#[utoipa::path(get, path = "/v1/fulfillments/{id}", operation_id = "show_fulfillment", tag = "hardware", params(("id" = String, Path, description = "fulfillment id")),
    responses((status = 200, description = "the fulfillment, items and shipments"),
        (status = 400, description = "id is not a UUID"), (status = 404, description = "no such fulfillment")))]
pub(crate) async fn show(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "fulfillment")?;
    let owner =
        s.rt.store
            .hardware_owner(OrderPart::Fulfillment, id)
            .await?;
    tenancy::visible(&who, owner.as_deref(), "fulfillment")?;
    let view =
        s.rt.store
            .fulfillment_view(id)
            .await?
            .ok_or_else(|| no_such("fulfillment"))?;
    Ok(Json(to_json(&view)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddShipment {
    pub items: Vec<ItemQuantity>,
    /// Where it goes: an address of the company's book or an ad-hoc one; the company's
    /// default shipping address when absent.
    #[serde(default)]
    pub destination: Option<Destination>,
    /// A configured courier; the order's when absent.
    #[serde(default)]
    pub courier: Option<String>,
}

/// Drafts another shipment of the fulfilment's remaining items. The draft and the signal that
/// tells the saga to book it commit together.
#[utoipa::path(post, path = "/v1/fulfillments/{id}/shipments", operation_id = "add_shipment", tag = "hardware", params(("id" = String, Path, description = "fulfillment id")),
    request_body = AddShipment,
    responses((status = 201, description = "the drafted shipment"), (status = 404, description = "no such fulfillment"),
        (status = 409, description = "the fulfillment is over, or a quantity exceeds what is left to ship"),
        (status = 422, description = "no items, an unknown SKU, a bad address or an unknown courier")))]
pub(crate) async fn add_shipment(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AddShipment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id, "fulfillment")?;
    let fulfillment =
        s.rt.store
            .fulfillment_view(id)
            .await?
            .ok_or_else(|| no_such("fulfillment"))?;
    let order =
        s.rt.store
            .hardware_order(fulfillment.fulfillment.order_id)
            .await?
            .ok_or_else(ApiError::internal)?;
    let saga_id = order
        .saga_id
        .ok_or_else(|| conflict("the order has no saga to book the shipment with"))?;
    if req.items.is_empty() {
        return Err(invalid("invalid_items", "items: give at least one item"));
    }
    let mut asks = Vec::with_capacity(req.items.len());
    for (i, item) in req.items.iter().enumerate() {
        let sku = item.sku.trim();
        let Some(open) = fulfillment.items.iter().find(|f| f.sku == sku) else {
            let known: Vec<&str> = fulfillment.items.iter().map(|f| f.sku.as_str()).collect();
            return Err(invalid(
                "unknown_sku",
                format!(
                    "items[{i}]: {sku} is not on this fulfillment; it has {}",
                    known.join(", ")
                ),
            ));
        };
        let quantity = i32::try_from(item.quantity)
            .ok()
            .filter(|q| *q >= 1)
            .ok_or_else(|| {
                invalid(
                    "invalid_quantity",
                    format!("items[{i}] ({sku}): quantity must be at least 1"),
                )
            })?;
        asks.push(Ask {
            item_id: open.id,
            quantity,
        });
    }
    let (address_id, address) = match &req.destination {
        Some(d) => destination(&s, &order.company_id, d, "destination").await?,
        None => {
            let default = s
                .rt
                .store
                .company(&order.company_id)
                .await?
                .and_then(|c| c.default_shipping_address_id)
                .ok_or_else(|| {
                    invalid(
                        "no_shipping_address",
                        format!(
                            "destination is required: company {} has no default shipping address",
                            order.company_id
                        ),
                    )
                })?;
            let row =
                s.rt.store
                    .address(default)
                    .await?
                    .ok_or_else(ApiError::internal)?;
            (Some(row.id), row.fields().snapshot())
        }
    };
    let courier = check_courier(
        &s.settings,
        req.courier.as_deref().unwrap_or(&order.courier_code),
    )?;
    let shipment_id = Uuid::now_v7();
    let new = NewShipment {
        id: shipment_id,
        fulfillment_id: id,
        address_id,
        address,
        courier_code: courier,
        asks,
        created_by: format!("operator:{}", who.name),
    };
    let signal = NewSignal {
        saga_id: Some(saga_id),
        correlation_key: None,
        name: SHIPMENT_DRAFTED.into(),
        dedup_key: format!("shipment-drafted:{shipment_id}"),
        payload: json!({ "shipment_id": shipment_id }),
    };
    s.rt.store
        .draft_shipment_with_signal(&new, &signal, s.rt.clock.now())
        .await
        .map_err(store_error("fulfillment"))?;
    s.rt.wake.notify_one();
    let view =
        s.rt.store
            .shipment_view(shipment_id)
            .await?
            .ok_or_else(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(to_json(&view)?)))
}
