//! Fulfilment orders (one per paid order) and their items, each tracking the quantity not yet
//! allocated to a live shipment.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::events::{DomainEvent, emit_in};
use super::shipments::{ShipmentView, shipments_of_in};
use super::{decide, lock_status};
use crate::domain::hardware::allocation::Open;
use crate::domain::hardware::fulfillment::{self, FulfillmentEvent, FulfillmentStatus};
use crate::store::{Result, Store};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct FulfillmentRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct FulfillmentItemRow {
    pub id: Uuid,
    pub order_item_id: Uuid,
    pub sku: String,
    pub quantity: i32,
    /// Not yet allocated to a shipment that is still live.
    pub remaining: i32,
}

/// A fulfilment with its items and shipments.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FulfillmentView {
    #[serde(flatten)]
    pub fulfillment: FulfillmentRow,
    pub items: Vec<FulfillmentItemRow>,
    pub shipments: Vec<ShipmentView>,
}

impl Store {
    pub(crate) async fn fulfillment_view(&self, id: Uuid) -> Result<Option<FulfillmentView>> {
        let mut conn = self.pool().acquire().await?;
        let Some(fulfillment) = fulfillment_in(&mut conn, id).await? else {
            return Ok(None);
        };
        let items = fulfillment_items_in(&mut conn, id).await?;
        let shipments = shipments_of_in(&mut conn, id).await?;
        Ok(Some(FulfillmentView {
            fulfillment,
            items,
            shipments,
        }))
    }

    pub(crate) async fn fulfillment_for_order(
        &self,
        order_id: Uuid,
    ) -> Result<Option<FulfillmentRow>> {
        Ok(sqlx::query_as::<_, FulfillmentRow>(
            "SELECT id, order_id, status, created_at, updated_at FROM fulfillment_orders WHERE order_id = $1",
        )
        .bind(order_id)
        .fetch_optional(self.pool())
        .await?)
    }
}

pub(crate) async fn fulfillment_in(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<FulfillmentRow>, sqlx::Error> {
    sqlx::query_as::<_, FulfillmentRow>(
        "SELECT id, order_id, status, created_at, updated_at FROM fulfillment_orders WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub(crate) async fn fulfillment_items_in(
    conn: &mut PgConnection,
    fulfillment_id: Uuid,
) -> Result<Vec<FulfillmentItemRow>, sqlx::Error> {
    sqlx::query_as::<_, FulfillmentItemRow>(
        "SELECT fi.id, fi.order_item_id, fi.sku, fi.quantity, fi.remaining
         FROM fulfillment_items fi JOIN hardware_order_items oi ON oi.id = fi.order_item_id
         WHERE fi.fulfillment_id = $1 ORDER BY oi.line_no",
    )
    .bind(fulfillment_id)
    .fetch_all(conn)
    .await
}

/// The items with what is left, locked: allocation reads and writes them in one transaction.
pub(crate) async fn open_items_in(
    conn: &mut PgConnection,
    fulfillment_id: Uuid,
) -> Result<Vec<Open>, sqlx::Error> {
    let rows: Vec<(Uuid, String, i32)> = sqlx::query_as(
        "SELECT fi.id, fi.sku, fi.remaining FROM fulfillment_items fi
         JOIN hardware_order_items oi ON oi.id = fi.order_item_id
         WHERE fi.fulfillment_id = $1 ORDER BY oi.line_no FOR UPDATE OF fi",
    )
    .bind(fulfillment_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(item_id, sku, remaining)| Open {
            item_id,
            sku,
            remaining,
        })
        .collect())
}

/// Creates the fulfilment order of a paid order with one item per line, and
/// `fulfillment.created`. Does nothing when the order already has one.
pub async fn create_fulfillment_in(
    conn: &mut PgConnection,
    id: Uuid,
    order_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO fulfillment_orders (id, order_id, status, created_at, updated_at)
         VALUES ($1, $2, 'ready_to_prepare', $3, $3) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(id)
    .bind(order_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(());
    }
    let items: Vec<(Uuid, String, i32)> = sqlx::query_as(
        "SELECT id, sku, quantity FROM hardware_order_items WHERE order_id = $1 ORDER BY line_no",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    for (order_item_id, sku, quantity) in &items {
        sqlx::query(
            "INSERT INTO fulfillment_items (id, fulfillment_id, order_item_id, sku, quantity, remaining)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(order_item_id)
        .bind(sku)
        .bind(quantity)
        .execute(&mut *conn)
        .await?;
    }
    let event = DomainEvent {
        event_type: "fulfillment.created",
        aggregate_id: id,
        order_id,
        payload: json!({
            "items": items.iter().map(|(_, sku, q)| json!({"sku": sku, "quantity": q})).collect::<Vec<_>>(),
        }),
        source_module: "fulfillment",
    };
    emit_in(conn, &event, now).await
}

fn target(event: FulfillmentEvent) -> FulfillmentStatus {
    match event {
        FulfillmentEvent::ShipmentReady => FulfillmentStatus::AwaitingShipment,
        FulfillmentEvent::ShipmentInTransit => FulfillmentStatus::InTransit,
        FulfillmentEvent::AllDelivered => FulfillmentStatus::Completed,
        FulfillmentEvent::Cancel => FulfillmentStatus::Cancelled,
    }
}

/// Moves a fulfilment and records `fulfillment.<new status>`. A fulfilment in transit that
/// sees another shipment readied stays in transit without an event.
pub(crate) async fn move_fulfillment_in(
    conn: &mut PgConnection,
    id: Uuid,
    event: FulfillmentEvent,
    now: DateTime<Utc>,
) -> Result<Option<FulfillmentStatus>> {
    let from: FulfillmentStatus = lock_status(conn, "fulfillment_orders", id).await?;
    let Some(to) = decide(from, event, fulfillment::apply, target(event))? else {
        return Ok(None);
    };
    if to == from {
        return Ok(None);
    }
    let order_id: Uuid = sqlx::query_scalar(
        "UPDATE fulfillment_orders SET status = $2, updated_at = $3 WHERE id = $1 RETURNING order_id",
    )
    .bind(id)
    .bind(to.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let event_type = match to {
        FulfillmentStatus::ReadyToPrepare => "fulfillment.created",
        FulfillmentStatus::AwaitingShipment => "fulfillment.awaiting_shipment",
        FulfillmentStatus::InTransit => "fulfillment.in_transit",
        FulfillmentStatus::Completed => "fulfillment.completed",
        FulfillmentStatus::Cancelled => "fulfillment.cancelled",
    };
    let event = DomainEvent {
        event_type,
        aggregate_id: id,
        order_id,
        payload: json!({ "from": from.as_str(), "to": to.as_str() }),
        source_module: "fulfillment",
    };
    emit_in(conn, &event, now).await?;
    Ok(Some(to))
}

/// Cancels the order's fulfilment while nothing has gone out (drafts are cancelled with it,
/// giving their quantities back). A completed fulfilment stays completed; one with goods in
/// transit cannot be undone here and says so.
pub(crate) async fn cancel_fulfillment_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let id: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM fulfillment_orders WHERE order_id = $1")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(id) = id else {
        return Ok(());
    };
    let status: FulfillmentStatus = lock_status(conn, "fulfillment_orders", id).await?;
    if status == FulfillmentStatus::Completed {
        return Ok(());
    }
    let drafts: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM shipments WHERE fulfillment_id = $1 AND status = 'draft'",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    for shipment in drafts {
        super::shipments::move_shipment_in(
            conn,
            shipment,
            crate::domain::hardware::shipment::ShipmentEvent::Cancel,
            json!({ "reason": "order undone" }),
            now,
        )
        .await?;
    }
    move_fulfillment_in(conn, id, FulfillmentEvent::Cancel, now).await?;
    Ok(())
}
