//! `GET /v1/orders/{id}`: an order of any family. Each family with orders contributes an
//! [`OrderView`]; the first that knows the id answers.

use async_trait::async_trait;
use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use uuid::Uuid;

use super::auth::Principal;
use super::{ApiError, AppState, tenancy};

/// How one family shows its orders.
#[async_trait]
pub trait OrderView: Send + Sync {
    /// The order `id` as JSON with who owns it, or `None` when it is not one of this family's
    /// orders.
    async fn show(&self, state: &AppState, id: Uuid) -> Result<Option<Shown>, ApiError>;
}

/// A family's ear for verified provider events that no saga may be waiting for: the webhook
/// route tells every listener after the event's signal is stored.
#[async_trait]
pub trait SignalListener: Send + Sync {
    /// `signal` is the event's signal name, `payload` the provider's verified event.
    async fn heard(
        &self,
        state: &AppState,
        signal: &str,
        payload: &Value,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), ApiError>;
}

/// An order as its family shows it, and the service that created it (`None`: no service),
/// for the tenancy rule to decide who sees it.
pub struct Shown {
    pub body: Value,
    pub owner: Option<String>,
}

/// A hardware order (with lines, fulfilment, shipments, automation, invoice and payments) or
/// a data-bundle order.
#[utoipa::path(get, path = "/v1/orders/{id}", operation_id = "show_order", tag = "orders", params(("id" = String, Path, description = "order id")),
    responses((status = 200, description = "the order; `kind` is `hardware` for hardware orders"),
        (status = 400, description = "id is not a UUID"), (status = 404, description = "no such order")))]
pub(crate) async fn show(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = super::parse_id(&id, "order")?;
    for view in s.order_views.iter() {
        if let Some(shown) = view.show(&s, id).await? {
            tenancy::visible(&who, shown.owner.as_deref(), "order")?;
            return Ok(Json(shown.body));
        }
    }
    Err(ApiError::not_found("no such order"))
}
