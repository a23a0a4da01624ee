//! Shipments: read one, change a draft's destination or courier, and report what a courier
//! without webhooks said (applied by the saga exactly like a courier webhook).

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::addresses::{Destination, destination};
use super::{
    actor, check_courier, conflict, invalid, no_such, parse_id, store_error, text_up_to, to_json,
};
use crate::api::auth::Principal;
use crate::api::{ApiError, ApiJson, AppState, tenancy};
use crate::domain::hardware::shipment::{self, ShipmentEvent, ShipmentStatus};
use crate::families::hardware::store::OrderPart;
use crate::providers::webhooks;
use crate::store::NewSignal;

/// A shipment with its items.
#[utoipa::path(get, path = "/v1/shipments/{id}", operation_id = "show_shipment", tag = "hardware", params(("id" = String, Path, description = "shipment id")),
    responses((status = 200, description = "the shipment and its items"),
        (status = 400, description = "id is not a UUID"), (status = 404, description = "no such shipment")))]
pub(crate) async fn show(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "shipment")?;
    let owner = s.rt.store.hardware_owner(OrderPart::Shipment, id).await?;
    tenancy::visible(&who, owner.as_deref(), "shipment")?;
    let view =
        s.rt.store
            .shipment_view(id)
            .await?
            .ok_or_else(|| no_such("shipment"))?;
    Ok(Json(to_json(&view)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditShipment {
    /// A new destination: an address of the company's book or an ad-hoc one.
    #[serde(default)]
    pub destination: Option<Destination>,
    /// A configured courier.
    #[serde(default)]
    pub courier: Option<String>,
}

/// Changes a draft's destination or courier (before the courier is booked).
#[utoipa::path(patch, path = "/v1/shipments/{id}", operation_id = "edit_shipment", tag = "hardware", params(("id" = String, Path, description = "shipment id")),
    request_body = EditShipment,
    responses((status = 200, description = "the shipment, changed"), (status = 404, description = "no such shipment"),
        (status = 409, description = "the shipment is past draft"),
        (status = 422, description = "nothing to change, a bad address or an unknown courier")))]
pub(crate) async fn edit(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<EditShipment>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "shipment")?;
    let current =
        s.rt.store
            .shipment_view(id)
            .await?
            .ok_or_else(|| no_such("shipment"))?;
    let company =
        s.rt.store
            .company_of_shipment(id)
            .await?
            .ok_or_else(|| no_such("shipment"))?;
    let destination = match &req.destination {
        Some(d) => Some(destination(&s, &company, d, "destination").await?),
        None => None,
    };
    let courier = req
        .courier
        .map(|c| check_courier(&s.settings, &c))
        .transpose()?;
    if current.shipment.status != ShipmentStatus::Draft.as_str() {
        return Err(conflict(format!(
            "cannot edit the shipment: it is {}",
            current.shipment.status
        )));
    }
    let destination = destination.filter(|(id, a)| {
        *a != current.shipment.address_snapshot || *id != current.shipment.address_id
    });
    let courier = courier.filter(|c| *c != current.shipment.courier_code);
    if destination.is_none() && courier.is_none() {
        return Err(invalid(
            "nothing_to_change",
            "the body changes nothing: send a different address or courier",
        ));
    }
    s.rt.store
        .edit_draft_shipment(
            id,
            destination.as_ref().map(|(id, a)| (*id, a)),
            courier.as_deref(),
            s.rt.clock.now(),
        )
        .await
        .map_err(store_error("shipment"))?;
    let view =
        s.rt.store
            .shipment_view(id)
            .await?
            .ok_or_else(|| no_such("shipment"))?;
    Ok(Json(to_json(&view)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    /// `in_transit`, `delivered` or `cancelled`.
    pub status: String,
    /// What the courier said, for the timeline.
    #[serde(default)]
    pub note: Option<String>,
}

/// An operator reports a courier's status for a courier without webhooks. A booked shipment
/// gets it as a tracking event its saga applies (202); a draft can only be cancelled, which
/// happens at once (200).
#[utoipa::path(post, path = "/v1/shipments/{id}/status", operation_id = "report_shipment_status", tag = "hardware", params(("id" = String, Path, description = "shipment id")),
    request_body = StatusReport,
    responses((status = 202, description = "tracking event delivered to the saga: shipment_id, status, requested"),
        (status = 200, description = "the draft, cancelled"), (status = 404, description = "no such shipment"),
        (status = 409, description = "not a legal move from the shipment's state"),
        (status = 422, description = "unknown status")))]
pub(crate) async fn report_status(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<StatusReport>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id, "shipment")?;
    let requested = req.status.trim();
    let event = match requested {
        "in_transit" => ShipmentEvent::Dispatch,
        "delivered" => ShipmentEvent::Deliver,
        "cancelled" => ShipmentEvent::Cancel,
        other => {
            return Err(invalid(
                "invalid_status",
                format!("status {other:?} must be in_transit, delivered or cancelled"),
            ));
        }
    };
    let note = text_up_to("note", &req.note, 1000)?;
    let view =
        s.rt.store
            .shipment_view(id)
            .await?
            .ok_or_else(|| no_such("shipment"))?;
    let current: ShipmentStatus = view
        .shipment
        .status
        .parse()
        .map_err(|_| ApiError::internal())?;
    shipment::apply(current, event).map_err(|e| conflict(e.to_string()))?;
    let source = format!("operator:{}", who.name);
    let now = s.rt.clock.now();
    match (&view.shipment.tracking_number, current) {
        (Some(tracking), _) => {
            let signal = NewSignal {
                saga_id: None,
                correlation_key: Some(webhooks::courier::shipment_reference(
                    &view.shipment.courier_code,
                    tracking,
                )),
                name: webhooks::courier::TRACKING.into(),
                dedup_key: format!("operator:{id}:{requested}"),
                payload: json!({
                    "courier": view.shipment.courier_code,
                    "tracking_number": tracking,
                    "status": requested,
                    "occurred_at": now,
                    "source": source,
                    "note": note,
                }),
            };
            s.rt.store.deliver_signal(&signal, now).await?;
            s.rt.wake.notify_one();
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({
                    "shipment_id": id,
                    "status": current.as_str(),
                    "requested": requested,
                })),
            ))
        }
        (None, ShipmentStatus::Draft) => {
            s.rt.store
                .cancel_shipment(id, json!({ "by": actor(&who), "note": note }), now)
                .await
                .map_err(store_error("shipment"))?;
            let view =
                s.rt.store
                    .shipment_view(id)
                    .await?
                    .ok_or_else(|| no_such("shipment"))?;
            Ok((StatusCode::OK, Json(to_json(&view)?)))
        }
        (None, other) => Err(conflict(format!(
            "the shipment is {other} but has no tracking number to report against"
        ))),
    }
}
