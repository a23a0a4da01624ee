//! `GET /v1/orders/{id}`: an order of any family. Each family with orders contributes an
//! [`OrderView`]; the first that knows the id answers.

use async_trait::async_trait;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use uuid::Uuid;

use super::{ApiError, AppState};

/// How one family shows its orders.
#[async_trait]
pub trait OrderView: Send + Sync {
    /// The order `id` as JSON, or `None` when it is not one of this family's orders.
    async fn show(&self, state: &AppState, id: Uuid) -> Result<Option<Value>, ApiError>;
}

/// A hardware order (with lines, fulfilment, shipments, automation, invoice and payments) or
/// a data-bundle order.
#[utoipa::path(get, path = "/v1/orders/{id}", operation_id = "show_order", tag = "orders", params(("id" = String, Path, description = "order id")),
    responses((status = 200, description = "the order; `kind` is `hardware` for hardware orders"),
        (status = 400, description = "id is not a UUID"), (status = 404, description = "no such order")))]
pub(crate) async fn show(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = super::parse_id(&id, "order")?;
    for view in s.order_views.iter() {
        if let Some(body) = view.show(&s, id).await? {
            return Ok(Json(body));
        }
    }
    Err(ApiError::not_found("no such order"))
}
