//! Timelines: an order's (or one shipment's) domain events, the courier events that reached
//! it and its saga's history, merged into one causal sequence.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::FromRow;
use uuid::Uuid;

use crate::providers::webhooks::courier;
use crate::store::{Result, Store};

/// One line of a timeline.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// `courier` (a tracking event as received), `domain` (a business change) or `saga` (the
    /// saga's own history).
    pub source: String,
    /// `shipment.delivered`, `in_transit`, `step_succeeded`, …
    pub kind: String,
    /// The entity the line is about (a shipment, invoice, …) or the saga.
    pub subject: Option<Uuid>,
    pub step: Option<String>,
    pub actor: Option<String>,
    pub detail: Value,
}

/// Ordered by writing transaction, which puts a cause before its effect: a courier event is
/// stored before the checkpoint that consumes it. Within one checkpoint the domain rows (what
/// the step did) come before its history event. `$2` is the courier's tracking signal and `$3`
/// what its correlation keys start with, both from the courier's inbound contract.
const UNION: &str = "
    SELECT at, source, kind, subject, step, actor, detail FROM (
    SELECT created_at AS at, 'domain' AS source, event_type AS kind, aggregate_id AS subject,
           NULL::text AS step, NULL::text AS actor, payload AS detail, xact, 1 AS rank, id AS seq
    FROM domain_events WHERE {domain}
    UNION ALL
    SELECT g.received_at, 'courier', coalesce(g.payload->>'status', g.name), NULL::uuid, NULL, NULL,
           g.payload - 'raw', g.xact, 0, g.id
    FROM saga_signals g WHERE g.name = $2 AND {courier}
    UNION ALL
    SELECT e.created_at, 'saga', e.kind, e.saga_id, e.step, e.actor, e.detail, e.xact, 2, e.seq
    FROM saga_events e WHERE {saga}
    ) t ORDER BY xact, rank, seq";

/// What every courier correlation key starts with (`courier:`); the carrier's code and the
/// tracking number follow, as `courier::shipment_reference` puts them.
fn courier_key_prefix() -> String {
    courier::reference("")
}

impl Store {
    /// Everything that happened to an order, oldest first.
    pub(crate) async fn order_timeline(&self, order_id: Uuid) -> Result<Vec<TimelineEntry>> {
        let sql = UNION
            .replace("{domain}", "order_id = $1")
            .replace(
                "{courier}",
                "g.correlation_key IN (SELECT $3 || lower(s.courier_code) || ':' || s.tracking_number FROM shipments s
                   JOIN fulfillment_orders f ON f.id = s.fulfillment_id
                   WHERE f.order_id = $1 AND s.tracking_number IS NOT NULL)",
            )
            .replace(
                "{saga}",
                "e.saga_id = (SELECT saga_id FROM hardware_orders WHERE id = $1)",
            );
        Ok(sqlx::query_as::<_, TimelineEntry>(&sql)
            .bind(order_id)
            .bind(courier::TRACKING)
            .bind(courier_key_prefix())
            .fetch_all(self.pool())
            .await?)
    }

    /// One shipment: its own events and its items' automation, its courier events, and its
    /// saga's `ship` and `automate` history.
    pub(crate) async fn shipment_timeline(&self, shipment_id: Uuid) -> Result<Vec<TimelineEntry>> {
        let sql = UNION
            .replace(
                "{domain}",
                "(aggregate_id = $1 OR payload->>'shipment_id' = $1::text
                  OR aggregate_id IN (SELECT a.id FROM automation_steps a
                                      JOIN shipment_items si ON si.id = a.shipment_item_id
                                      WHERE si.shipment_id = $1))",
            )
            .replace(
                "{courier}",
                "g.correlation_key = (SELECT $3 || lower(courier_code) || ':' || tracking_number FROM shipments WHERE id = $1)",
            )
            .replace(
                "{saga}",
                "e.step IN ('ship', 'automate') AND e.saga_id = (SELECT o.saga_id FROM shipments s
                   JOIN fulfillment_orders f ON f.id = s.fulfillment_id
                   JOIN hardware_orders o ON o.id = f.order_id WHERE s.id = $1)",
            );
        Ok(sqlx::query_as::<_, TimelineEntry>(&sql)
            .bind(shipment_id)
            .bind(courier::TRACKING)
            .bind(courier_key_prefix())
            .fetch_all(self.pool())
            .await?)
    }
}
