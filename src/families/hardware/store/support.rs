//! Support's maintenance writes, each in one transaction with its domain event: closing an
//! order whose checkout failed or expired, creating a paid order's missing fulfilment,
//! queueing automation for a delivered shipment, and correcting a step not yet run.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::automation::queue_automation_in;
use super::events::{DomainEvent, emit_in};
use super::fulfillment::create_fulfillment_in;
use super::orders::{lock_status_of_order, move_payment_in};
use super::{AutomationRow, lock_status};
use crate::domain::hardware::automation::AutomationStatus;
use crate::domain::hardware::order::{PaymentEvent, PaymentStatus};
use crate::domain::hardware::shipment::ShipmentStatus;
use crate::store::{Error, Result, Store};

/// The order's saga, when one still runs (an order it drives is not support's to move).
async fn running_saga_in(conn: &mut PgConnection, order_id: Uuid) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT s.id FROM hardware_orders o JOIN sagas s ON s.id = o.saga_id
         WHERE o.id = $1 AND s.status NOT IN ('completed', 'compensated', 'cancelled')",
    )
    .bind(order_id)
    .fetch_optional(conn)
    .await?)
}

impl Store {
    /// Closes an order support gives up on: a draft nobody checked out, or a failed or
    /// expired checkout. Anything the lifecycle or a running saga holds is a conflict.
    pub(crate) async fn support_cancel_order(
        &self,
        order_id: Uuid,
        actor: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let from: PaymentStatus = lock_status_of_order(&mut tx, order_id).await?;
        if let Some(saga) = running_saga_in(&mut tx, order_id).await? {
            return Err(Error::Conflict(format!(
                "the order's saga {saga} is running: cancel the order through it"
            )));
        }
        if from == PaymentStatus::Cancelled {
            return Err(Error::Conflict("the order is already cancelled".into()));
        }
        crate::domain::hardware::order::apply(from, PaymentEvent::Cancel)?;
        let payload = json!({ "by": actor, "reason": reason, "from": from.as_str() });
        move_payment_in(&mut tx, order_id, PaymentEvent::Cancel, payload, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates the fulfilment of a paid order that has none. Returns its id.
    pub(crate) async fn support_create_fulfillment(
        &self,
        order_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Uuid> {
        let mut tx = self.pool().begin().await?;
        let status: PaymentStatus = lock_status_of_order(&mut tx, order_id).await?;
        if status != PaymentStatus::Paid {
            return Err(Error::Conflict(format!(
                "only a paid order is fulfilled: it is {}",
                status.as_str()
            )));
        }
        let existing: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM fulfillment_orders WHERE order_id = $1")
                .bind(order_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(f) = existing {
            return Err(Error::Conflict(format!(
                "the order already has fulfilment {f}"
            )));
        }
        let id = Uuid::now_v7();
        create_fulfillment_in(&mut tx, id, order_id, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Queues automation steps for a delivered shipment's items that have none. Returns the
    /// new steps.
    pub(crate) async fn support_queue_automation(
        &self,
        shipment_id: Uuid,
        max_attempts: &BTreeMap<String, u32>,
        now: DateTime<Utc>,
    ) -> Result<Vec<AutomationRow>> {
        let mut tx = self.pool().begin().await?;
        let status: ShipmentStatus = lock_status(&mut tx, "shipments", shipment_id).await?;
        if status != ShipmentStatus::Delivered {
            return Err(Error::Conflict(format!(
                "automation runs on delivered items: the shipment is {}",
                status.as_str()
            )));
        }
        let before: Vec<Uuid> = step_ids_in(&mut tx, shipment_id).await?;
        queue_automation_in(&mut tx, shipment_id, max_attempts, now).await?;
        let after: Vec<Uuid> = step_ids_in(&mut tx, shipment_id).await?;
        let new: Vec<Uuid> = after
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect();
        if new.is_empty() {
            return Err(Error::Conflict(
                "every item of the shipment already has its automation step".into(),
            ));
        }
        let rows = sqlx::query_as::<_, AutomationRow>(&format!(
            "SELECT {} FROM automation_steps WHERE id = ANY($1) ORDER BY created_at, id",
            super::automation::COLUMNS
        ))
        .bind(&new)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Corrects a step nothing is running: its scenario or payload, while it is queued or
    /// failed.
    pub(crate) async fn support_edit_automation(
        &self,
        id: Uuid,
        scenario: Option<&str>,
        payload: Option<&Value>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<AutomationRow> {
        let mut tx = self.pool().begin().await?;
        let status: AutomationStatus = lock_status(&mut tx, "automation_steps", id).await?;
        if !matches!(status, AutomationStatus::Queued | AutomationStatus::Failed) {
            return Err(Error::Conflict(format!(
                "cannot edit the automation step: it is {}",
                status.as_str()
            )));
        }
        let row = sqlx::query_as::<_, AutomationRow>(&format!(
            "UPDATE automation_steps SET scenario = coalesce($2, scenario),
                 payload = coalesce($3, payload), updated_at = $4
             WHERE id = $1 RETURNING {}",
            super::automation::COLUMNS
        ))
        .bind(id)
        .bind(scenario)
        .bind(payload)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let event = DomainEvent {
            event_type: "automation.step_edited",
            aggregate_id: id,
            order_id: row.order_id,
            payload: json!({ "by": actor, "scenario": row.scenario, "payload": row.payload }),
            source_module: "automation",
        };
        emit_in(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(row)
    }
}

async fn step_ids_in(conn: &mut PgConnection, shipment_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT a.id FROM automation_steps a JOIN shipment_items si ON si.id = a.shipment_item_id
         WHERE si.shipment_id = $1",
    )
    .bind(shipment_id)
    .fetch_all(conn)
    .await
}
