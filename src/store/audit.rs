//! Operator actions with their audit row: the lifecycle decides, and the saga update, its
//! history event (actor = the token's name) and the `operator_actions` row commit together.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Error, Result, Store, WAKE_CHANNEL};
use crate::engine::action::DomainWrite;
use crate::engine::definition::WorkflowDef;
use crate::engine::lifecycle::{self, Event, Next, SagaState};

/// Who acts and why; `job_id` is set when a bulk job acts on the operator's behalf.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub role: String,
    pub reason: String,
    pub job_id: Option<Uuid>,
}

/// One row of the audit trail.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditRow {
    pub id: i64,
    pub saga_id: Uuid,
    pub action: String,
    pub actor: String,
    pub role: String,
    pub reason: String,
    pub from_status: String,
    pub to_status: String,
    pub job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// The audit-trail name of an operator event.
pub fn action_name(event: &Event) -> &'static str {
    match event {
        Event::OperatorRetry => "retry",
        Event::OperatorResume => "resume",
        Event::OperatorCancel => "cancel",
        _ => "other",
    }
}

impl Store {
    /// Applies an operator's retry, resume or cancel: decided by the lifecycle, recorded in the
    /// history with the operator's name and reason, fenced against any worker holding the saga
    /// (the version bump drops that worker's next checkpoint), and written to the audit table
    /// (with a bulk job's item outcome) in the same transaction.
    pub async fn operator_action_audited(
        &self,
        id: Uuid,
        event: Event,
        def: &Arc<WorkflowDef>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<SagaState> {
        self.operator_action_audited_with(id, event, def, actor, now, None)
            .await
    }

    /// [`Store::operator_action_audited`] with a domain write (an automation step requeued, a
    /// fallback recorded) that commits in the same transaction, after the saga row is locked.
    pub async fn operator_action_audited_with(
        &self,
        id: Uuid,
        event: Event,
        def: &Arc<WorkflowDef>,
        actor: &Actor,
        now: DateTime<Utc>,
        write: Option<DomainWrite>,
    ) -> Result<SagaState> {
        let mut tx = self.pool.begin().await?;
        let state: Option<Value> =
            sqlx::query_scalar("SELECT state FROM sagas WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let state: SagaState = serde_json::from_value(state.ok_or(Error::NotFound)?)
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        let decision = lifecycle::decide(def, &state, &event, now, rand::random::<f64>())?;
        if let Some(write) = write {
            write(&mut tx).await?;
        }
        let next_run_at = match decision.next {
            Next::Now => Some(now),
            Next::At(t) => Some(t),
            Next::Idle => None,
        };
        let step_name = decision
            .state
            .step()
            .and_then(|i| def.steps.get(i))
            .map(|s| s.name.clone());
        let new_state =
            serde_json::to_value(&decision.state).map_err(|e| Error::Corrupt(e.to_string()))?;
        let mut detail = json!({
            "reason": actor.reason,
            "from": state.status(),
            "to": decision.state.status(),
            "role": actor.role,
        });
        if let Some(job) = actor.job_id {
            detail["job_id"] = json!(job);
        }
        sqlx::query(
            "WITH u AS (
                UPDATE sagas SET status = $2, state = $3, current_step = $4, attempt = $5, next_run_at = $6,
                       lease_owner = NULL, lease_expires_at = NULL, version = version + 1,
                       event_seq = event_seq + 1, updated_at = $7,
                       finished_at = CASE WHEN $8 THEN $7 ELSE NULL END
                WHERE id = $1 RETURNING id, event_seq
             )
             INSERT INTO saga_events (saga_id, seq, step, kind, attempt, detail, actor, created_at)
             SELECT id, event_seq, $4, $9, $5, $10, $11, $7 FROM u",
        )
        .bind(id)
        .bind(decision.state.status())
        .bind(&new_state)
        .bind(&step_name)
        .bind(decision.state.attempt() as i32)
        .bind(next_run_at)
        .bind(now)
        .bind(decision.state.is_terminal())
        .bind(decision.kind)
        .bind(&detail)
        .bind(format!("operator:{}", actor.name))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO operator_actions (saga_id, action, actor, role, reason, from_status, to_status, job_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(action_name(&event))
        .bind(&actor.name)
        .bind(&actor.role)
        .bind(&actor.reason)
        .bind(state.status())
        .bind(decision.state.status())
        .bind(actor.job_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if let Some(job) = actor.job_id {
            sqlx::query(
                "UPDATE bulk_job_items SET outcome = 'done', error = NULL WHERE job_id = $1 AND saga_id = $2",
            )
            .bind(job)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        if next_run_at.is_some() {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(WAKE_CHANNEL)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(decision.state)
    }

    /// The audit trail, newest first, optionally for one saga; `before` is the last id seen.
    pub async fn audit(
        &self,
        saga_id: Option<Uuid>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        Ok(sqlx::query_as(
            "SELECT id, saga_id, action, actor, role, reason, from_status, to_status, job_id, created_at
             FROM operator_actions
             WHERE ($1::uuid IS NULL OR saga_id = $1) AND ($2::bigint IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(saga_id)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
