//! What the hardware API does outside a saga step, each in one transaction: an operator's
//! extra shipment with the signal that books it, a draft cancelled by hand, and automation
//! retries or fallbacks when the saga need not move.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::automation::{fallback_automation_in, requeue_automation_in};
use super::orders::move_payment_in;
use super::shipments::{NewShipment, ShipmentRow, draft_shipment_in, move_shipment_in};
use crate::domain::hardware::order::PaymentEvent;
use crate::domain::hardware::shipment::{ShipmentEvent, ShipmentStatus};
use crate::store::{Error, NewSignal, Result, Store};

impl Store {
    /// Cancels a draft order that has no saga, recording who and why on `order.cancelled`.
    /// Checked under the order's row lock, so a checkout started meanwhile wins cleanly.
    pub(crate) async fn cancel_draft_order_because(
        &self,
        order_id: Uuid,
        actor: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let saga: Option<Option<Uuid>> =
            sqlx::query_scalar("SELECT saga_id FROM hardware_orders WHERE id = $1 FOR UPDATE")
                .bind(order_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(saga) = saga.ok_or(Error::NotFound)? {
            return Err(Error::Conflict(format!(
                "checkout was already sent for this order (saga {saga}); cancel it through the saga"
            )));
        }
        let moved = move_payment_in(
            &mut tx,
            order_id,
            PaymentEvent::Cancel,
            json!({ "by": actor, "reason": reason }),
            now,
        )
        .await?;
        if moved.is_none() {
            return Err(Error::Conflict("the order is already cancelled".into()));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drafts an operator's shipment under the allocation guardrail and, in the same
    /// transaction, delivers `signal` (the saga books the draft with the courier when it sees
    /// it): either both commit or neither.
    pub(crate) async fn draft_shipment_with_signal(
        &self,
        new: &NewShipment,
        signal: &NewSignal,
        now: DateTime<Utc>,
    ) -> Result<ShipmentRow> {
        let mut tx = self.pool().begin().await?;
        // Row locks in the one order a checkpoint takes them (saga, shipments, fulfilment,
        // its items): the signal's saga row first, or this and the ship step's checkpoint
        // could each hold what the other waits for.
        if let Some(saga_id) = signal.saga_id {
            sqlx::query("SELECT 1 FROM sagas WHERE id = $1 FOR UPDATE")
                .bind(saga_id)
                .execute(&mut *tx)
                .await?;
        }
        let row = draft_shipment_in(&mut tx, new, now).await?;
        Store::deliver_signal_in(&mut tx, signal, now).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Cancels a shipment by hand (a draft never booked with a courier); its quantities go
    /// back to the fulfilment. `None` when it already was cancelled.
    pub async fn cancel_shipment(
        &self,
        id: Uuid,
        detail: Value,
        now: DateTime<Utc>,
    ) -> Result<Option<ShipmentStatus>> {
        let mut tx = self.pool().begin().await?;
        let moved = move_shipment_in(&mut tx, id, ShipmentEvent::Cancel, detail, now).await?;
        tx.commit().await?;
        Ok(moved)
    }

    /// Queues a failed automation step again, on its own (its saga is not waiting on an
    /// operator). Returns the step's order.
    pub(crate) async fn requeue_automation(
        &self,
        id: Uuid,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Uuid> {
        let mut tx = self.pool().begin().await?;
        let order_id = requeue_automation_in(&mut tx, id, actor, now).await?;
        tx.commit().await?;
        Ok(order_id)
    }

    /// Records an operator's manual fallback for an automation step, on its own. Returns the
    /// step's order.
    pub(crate) async fn fallback_automation(
        &self,
        id: Uuid,
        note: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Uuid> {
        let mut tx = self.pool().begin().await?;
        let order_id = fallback_automation_in(&mut tx, id, note, actor, now).await?;
        tx.commit().await?;
        Ok(order_id)
    }
}
