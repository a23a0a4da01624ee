//! Automation steps: one per delivered shipment item, run against the legacy device/asset
//! bridge under its scenario's policy; failed ones wait for an operator's retry or fallback.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::events::{DomainEvent, emit_in};
use super::{decide, lock_status};
use crate::domain::hardware::automation::{self, AutomationEvent, AutomationStatus};
use crate::store::{Error, Result, Store};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct AutomationRow {
    pub id: Uuid,
    pub shipment_item_id: Uuid,
    pub order_id: Uuid,
    pub scenario: String,
    pub payload: Value,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempted_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub bridge_reference: Option<String>,
    pub fallback_note: Option<String>,
    pub fallback_triggered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How one attempt at the bridge went.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Succeeded {
        reference: String,
    },
    /// `retry_at` is `None` once attempts are spent.
    Failed {
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

pub(crate) const COLUMNS: &str =
    "id, shipment_item_id, order_id, scenario, payload, status, attempts, max_attempts,
    next_attempt_at, last_attempted_at, last_error, bridge_reference, fallback_note,
    fallback_triggered_at, created_at, updated_at";

impl Store {
    pub(crate) async fn automation_step(&self, id: Uuid) -> Result<Option<AutomationRow>> {
        Ok(sqlx::query_as::<_, AutomationRow>(&format!(
            "SELECT {COLUMNS} FROM automation_steps WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub(crate) async fn automation_steps_for_order(
        &self,
        order_id: Uuid,
    ) -> Result<Vec<AutomationRow>> {
        let mut conn = self.pool().acquire().await?;
        Ok(automation_steps_in(&mut conn, order_id).await?)
    }
}

pub(crate) async fn automation_steps_in(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> Result<Vec<AutomationRow>, sqlx::Error> {
    sqlx::query_as::<_, AutomationRow>(&format!(
        "SELECT {COLUMNS} FROM automation_steps WHERE order_id = $1 ORDER BY created_at, id"
    ))
    .bind(order_id)
    .fetch_all(conn)
    .await
}

/// Queues one automation step per item of a delivered shipment, each for its line's scenario
/// with that scenario's attempt limit, and `automation.step_queued` for each.
pub async fn queue_automation_in(
    conn: &mut PgConnection,
    shipment_id: Uuid,
    max_attempts: &BTreeMap<String, u32>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let items: Vec<(Uuid, Uuid, String, String, i32, String)> = sqlx::query_as(
        "SELECT si.id, f.order_id, oi.scenario, oi.sku, si.quantity, s.tracking_number
         FROM shipment_items si
         JOIN shipments s ON s.id = si.shipment_id
         JOIN fulfillment_items fi ON fi.id = si.fulfillment_item_id
         JOIN fulfillment_orders f ON f.id = fi.fulfillment_id
         JOIN hardware_order_items oi ON oi.id = fi.order_item_id
         WHERE si.shipment_id = $1 ORDER BY oi.line_no",
    )
    .bind(shipment_id)
    .fetch_all(&mut *conn)
    .await?;
    for (shipment_item_id, order_id, scenario, sku, quantity, tracking) in items {
        let id = Uuid::now_v7();
        let payload = json!({ "sku": sku, "quantity": quantity, "shipment_id": shipment_id, "tracking_number": tracking });
        let limit = max_attempts.get(&scenario).copied().unwrap_or(3) as i32;
        let inserted = sqlx::query(
            "INSERT INTO automation_steps (id, shipment_item_id, order_id, scenario, payload, status,
                 max_attempts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $7) ON CONFLICT (shipment_item_id) DO NOTHING",
        )
        .bind(id)
        .bind(shipment_item_id)
        .bind(order_id)
        .bind(&scenario)
        .bind(&payload)
        .bind(limit)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 1 {
            let event = DomainEvent {
                event_type: "automation.step_queued",
                aggregate_id: id,
                order_id,
                payload: json!({ "scenario": scenario, "sku": sku, "quantity": quantity, "shipment_id": shipment_id }),
                source_module: "automation",
            };
            emit_in(conn, &event, now).await?;
        }
    }
    Ok(())
}

/// Records one attempt: success, a retry with its time, or failure for good with
/// `automation.step_failed`.
pub async fn record_attempt_in(
    conn: &mut PgConnection,
    id: Uuid,
    outcome: &AttemptOutcome,
    now: DateTime<Utc>,
) -> Result<Option<AutomationStatus>> {
    let from: AutomationStatus = lock_status(conn, "automation_steps", id).await?;
    let (event, target) = match outcome {
        AttemptOutcome::Succeeded { .. } => (AutomationEvent::Succeed, AutomationStatus::Succeeded),
        AttemptOutcome::Failed {
            retry_at: Some(_), ..
        } => (
            AutomationEvent::FailAttempt { exhausted: false },
            AutomationStatus::Retrying,
        ),
        AttemptOutcome::Failed { retry_at: None, .. } => (
            AutomationEvent::FailAttempt { exhausted: true },
            AutomationStatus::Failed,
        ),
    };
    // A retrying step failing again stays retrying: that is a move, not a replay.
    let to = match (from, target) {
        (AutomationStatus::Retrying, AutomationStatus::Retrying) => AutomationStatus::Retrying,
        _ => match decide(from, event, automation::apply, target)? {
            Some(to) => to,
            None => return Ok(None),
        },
    };
    let (error, retry_at, reference) = match outcome {
        AttemptOutcome::Succeeded { reference } => (None, None, Some(reference.as_str())),
        AttemptOutcome::Failed { error, retry_at } => (Some(error.as_str()), *retry_at, None),
    };
    let (order_id, scenario, attempts, max): (Uuid, String, i32, i32) = sqlx::query_as(
        "UPDATE automation_steps SET status = $2, attempts = attempts + 1, last_attempted_at = $3,
             next_attempt_at = $4, last_error = coalesce($5, last_error),
             bridge_reference = coalesce($6, bridge_reference), updated_at = $3
         WHERE id = $1 RETURNING order_id, scenario, attempts, max_attempts",
    )
    .bind(id)
    .bind(to.as_str())
    .bind(now)
    .bind(retry_at)
    .bind(error)
    .bind(reference)
    .fetch_one(&mut *conn)
    .await?;
    let event_type = match to {
        AutomationStatus::Succeeded => "automation.step_succeeded",
        AutomationStatus::Failed => "automation.step_failed",
        _ => "automation.attempt_failed",
    };
    let event = DomainEvent {
        event_type,
        aggregate_id: id,
        order_id,
        payload: json!({
            "scenario": scenario, "attempt": attempts, "max_attempts": max,
            "error": error, "retry_at": retry_at, "bridge_reference": reference,
        }),
        source_module: "automation",
    };
    emit_in(conn, &event, now).await?;
    Ok(Some(to))
}

/// An operator's retry: a failed step is queued again with a fresh set of attempts.
pub(crate) async fn requeue_automation_in(
    conn: &mut PgConnection,
    id: Uuid,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let from: AutomationStatus = lock_status(conn, "automation_steps", id).await?;
    automation::apply(from, AutomationEvent::Retry)?;
    let (order_id, scenario): (Uuid, String) = sqlx::query_as(
        "UPDATE automation_steps SET status = 'queued', attempts = 0, next_attempt_at = NULL, updated_at = $2
         WHERE id = $1 RETURNING order_id, scenario",
    )
    .bind(id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let event = DomainEvent {
        event_type: "automation.step_queued",
        aggregate_id: id,
        order_id,
        payload: json!({ "scenario": scenario, "retry_by": actor }),
        source_module: "automation",
    };
    emit_in(conn, &event, now).await?;
    Ok(order_id)
}

/// An operator ran the scenario's manual fallback: the step is resolved with their note.
pub(crate) async fn fallback_automation_in(
    conn: &mut PgConnection,
    id: Uuid,
    note: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let from: AutomationStatus = lock_status(conn, "automation_steps", id).await?;
    automation::apply(from, AutomationEvent::Fallback)?;
    let (order_id, scenario): (Uuid, String) = sqlx::query_as(
        "UPDATE automation_steps SET status = 'fallback_triggered', fallback_note = $2,
             fallback_triggered_at = $3, next_attempt_at = NULL, updated_at = $3
         WHERE id = $1 RETURNING order_id, scenario",
    )
    .bind(id)
    .bind(note)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let event = DomainEvent {
        event_type: "automation.fallback_triggered",
        aggregate_id: id,
        order_id,
        payload: json!({ "scenario": scenario, "note": note, "by": actor }),
        source_module: "automation",
    };
    emit_in(conn, &event, now).await?;
    Ok(order_id)
}

/// True when no automation step of the order is still failed.
pub(crate) async fn no_failed_automation_in(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> Result<bool, Error> {
    Ok(sqlx::query_scalar(
        "SELECT NOT EXISTS (SELECT 1 FROM automation_steps WHERE order_id = $1 AND status = 'failed')",
    )
    .bind(order_id)
    .fetch_one(conn)
    .await?)
}
