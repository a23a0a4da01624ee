//! `POST /v1/pricing/sync` starts the price sync (operators; `sagaflow pricing sync` calls it),
//! and `GET /v1/pricing/resolutions/{order_item_id}` shows the full resolution behind a line's
//! price snapshot.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::{actor, no_such, parse_id};
use crate::api::auth::Principal;
use crate::api::sagas::IdempotencyKey;
use crate::api::{ApiError, AppState, tenancy};
use crate::engine::runtime::StartSaga;
use crate::families::hardware::price_sync::WORKFLOW;
use crate::store::Started;

/// Starts a price sync saga now. An `Idempotency-Key` makes a retry answer the first saga.
#[utoipa::path(post, path = "/v1/pricing/sync", operation_id = "start_price_sync", tag = "hardware",
    params(("Idempotency-Key" = Option<String>, Header, description = "optional; a retry answers the first saga")),
    responses((status = 202, description = "the sync saga: saga_id")))]
pub(crate) async fn start(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = match headers.contains_key("idempotency-key") {
        true => Some(IdempotencyKey::from_headers(&headers)?.0),
        false => None,
    };
    let start = StartSaga {
        workflow: WORKFLOW.into(),
        input: json!({}),
        business_key: None,
        // Scoped by caller, as every key the API stores.
        idempotency_key: key.map(|k| format!("{WORKFLOW}:{}:{k}", who.name)),
        request_hash: Some(WORKFLOW.to_string()),
        actor: actor(&who),
    };
    let saga = match s.rt.start(start, None).await? {
        Started::Created(id) | Started::Existing(id) => id,
    };
    Ok((StatusCode::ACCEPTED, Json(json!({ "saga_id": saga }))))
}

/// The resolution recorded when the line's snapshot locked: the scope it was priced in, the
/// price it got, and every agreement and price-book entry weighed with why it won or lost. A
/// service reaches only its own orders' lines.
#[utoipa::path(get, path = "/v1/pricing/resolutions/{order_item_id}", operation_id = "show_pricing_resolution", tag = "hardware",
    params(("order_item_id" = String, Path, description = "order line (item) id")),
    responses((status = 200, description = "the resolution"), (status = 400, description = "id is not a UUID"),
        (status = 404, description = "no such order item, or its snapshot is still provisional")))]
pub(crate) async fn resolution(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "order item")?;
    let Some((order_id, owner)) = s.rt.store.order_item_owner(id).await? else {
        return Err(no_such("order item"));
    };
    tenancy::visible(&who, Some(&owner), "order item")?;
    let (_, _, locked, resolved_at, resolution) =
        s.rt.store.pricing_resolution(id).await?.ok_or_else(|| {
            ApiError::not_found(
                "no resolution recorded for this order item yet: its price is provisional until checkout locks the snapshot",
            )
        })?;
    Ok(Json(json!({
        "order_item_id": id,
        "order_id": order_id,
        "locked": locked,
        "resolved_at": resolved_at,
        "resolution": resolution,
    })))
}
