//! `domain_events`: what happened to an order, fulfilment, shipment, invoice or automation
//! step, written in the same transaction as the change.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// One event to record.
#[derive(Debug, Clone)]
pub struct DomainEvent {
    /// `order.paid`, `shipment.delivered`, …
    pub event_type: &'static str,
    pub aggregate_id: Uuid,
    /// The hardware order the aggregate belongs to.
    pub order_id: Uuid,
    pub payload: Value,
    /// The module that made the change: `orders`, `payments`, `fulfillment`, `shipments`,
    /// `automation`, `billing`.
    pub source_module: &'static str,
}

/// A stored event.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EventRow {
    pub id: i64,
    pub event_type: String,
    pub aggregate_id: Uuid,
    /// `None` for events about no order (the legacy syncs').
    pub order_id: Option<Uuid>,
    pub payload: Value,
    pub source_module: String,
    pub created_at: DateTime<Utc>,
}

pub(crate) async fn emit_in(
    conn: &mut PgConnection,
    event: &DomainEvent,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO domain_events (event_type, aggregate_id, order_id, payload, source_module, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event.event_type)
    .bind(event.aggregate_id)
    .bind(event.order_id)
    .bind(&event.payload)
    .bind(event.source_module)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

impl crate::store::Store {}
