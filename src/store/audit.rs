//! Operator actions, the store's half: lock the saga row for the engine (`engine::operator`
//! decides), then write the decision with the one transition writer, its history event (actor
//! = the token's name) and the `operator_actions` row in the same transaction. Also the audit
//! trail's reader.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::checkpoint::{Fence, RowWrite, write_row};
use super::{Error, NewEvent, Result, Store};
use crate::engine::lifecycle::{Event, SagaState};
use crate::engine::transition::SagaRowUpdate;

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
pub(crate) fn action_name(event: &Event) -> &'static str {
    match event {
        Event::OperatorRetry => "retry",
        Event::OperatorResume => "resume",
        Event::OperatorCancel => "cancel",
        _ => "other",
    }
}

/// A saga row locked for an operator's action. The transaction holds `SELECT … FOR UPDATE`
/// from [`Store::lock_saga`] until [`LockedSaga::commit`], so no checkpoint or other operator
/// can change the row between the engine reading its state and writing its decision. Dropped
/// without a commit, it rolls back and the lock goes with it.
pub struct LockedSaga {
    tx: Transaction<'static, Postgres>,
    pub id: Uuid,
    pub state: SagaState,
    /// The version under the lock; the write bumps it, which fences out a worker that holds
    /// the lease (its next checkpoint matches no row and is dropped).
    pub version: i64,
    /// For the wait guard, as for a worker: see `engine::transition::WaitGuard`.
    pub signal_seq: i64,
}

/// What an operator's action writes besides the row update: its history event, by
/// `operator:<name>`, and the audit row.
pub struct OperatorWrite<'a> {
    pub row: &'a SagaRowUpdate,
    pub event: NewEvent,
    pub actor: &'a Actor,
    /// The audit trail's name of the action (see [`action_name`]).
    pub action: &'static str,
    pub now: DateTime<Utc>,
}

impl Store {
    /// Opens a transaction and locks saga `id` in it, for an operator's action.
    pub(crate) async fn lock_saga(&self, id: Uuid) -> Result<LockedSaga> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(Value, i64, i64)> =
            sqlx::query_as("SELECT state, version, signal_seq FROM sagas WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let (state, version, signal_seq) = row.ok_or(Error::NotFound)?;
        let state = serde_json::from_value(state).map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok(LockedSaga {
            tx,
            id,
            state,
            version,
            signal_seq,
        })
    }
}

impl LockedSaga {
    /// The locked transaction, for a domain write that must commit with the action.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Writes the action with the transition writer every checkpoint uses, then its audit row
    /// (and a bulk job's item outcome) in the same transaction, and commits.
    pub async fn commit(mut self, w: OperatorWrite<'_>) -> Result<()> {
        let from = self.state.status();
        let actor = format!("operator:{}", w.actor.name);
        let written = write_row(
            &mut self.tx,
            &RowWrite {
                saga_id: self.id,
                fence: Fence::RowLock {
                    version: self.version,
                },
                row: w.row,
                events: std::slice::from_ref(&w.event),
                actor: &actor,
                consume_signal: None,
                outbox: &[],
                correlations: &[],
                now: w.now,
            },
        )
        .await?;
        if written.is_none() {
            return Err(Error::Corrupt(
                "a locked saga row changed under its lock".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO operator_actions (saga_id, action, actor, role, reason, from_status, to_status, job_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(self.id)
        .bind(w.action)
        .bind(&w.actor.name)
        .bind(&w.actor.role)
        .bind(&w.actor.reason)
        .bind(from)
        .bind(w.row.state.status())
        .bind(w.actor.job_id)
        .bind(w.now)
        .execute(&mut *self.tx)
        .await?;
        if let Some(job) = w.actor.job_id {
            sqlx::query(
                "UPDATE bulk_job_items SET outcome = 'done', error = NULL WHERE job_id = $1 AND saga_id = $2",
            )
            .bind(job)
            .bind(self.id)
            .execute(&mut *self.tx)
            .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}

impl Store {
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

impl Store {
    /// An operator's signal: stored (see [`Store::deliver_signal`]) with its audit row in one
    /// transaction, so no operator's message reaches a saga unrecorded. A duplicate changes
    /// nothing and records nothing.
    pub(crate) async fn deliver_signal_audited(
        &self,
        signal: &super::NewSignal,
        actor: &Actor,
        status: &str,
        now: DateTime<Utc>,
    ) -> Result<super::Delivered> {
        let saga_id = signal.saga_id.ok_or(Error::NotFound)?;
        let mut tx = self.pool.begin().await?;
        let delivered = Self::deliver_signal_in(&mut tx, signal, now).await?;
        if delivered != super::Delivered::Duplicate {
            let action = format!("signal:{}", signal.name);
            insert_audit_in(&mut tx, saga_id, &action, actor, (status, status), now).await?;
        }
        tx.commit().await?;
        Ok(delivered)
    }
}

impl Store {
    /// Records that an operator saw a saga's personal data unmasked.
    pub(crate) async fn record_reveal(
        &self,
        saga_id: Uuid,
        actor: &Actor,
        status: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_audit_in(&mut conn, saga_id, "reveal", actor, (status, status), now).await
    }
}

/// One `operator_actions` row for an action that does not move the saga itself (a signal, a
/// reveal of personal data): `from` and `to` are the status it had.
pub(crate) async fn insert_audit_in(
    conn: &mut PgConnection,
    saga_id: Uuid,
    action: &str,
    actor: &Actor,
    (from, to): (&str, &str),
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO operator_actions (saga_id, action, actor, role, reason, from_status, to_status, job_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(saga_id)
    .bind(action)
    .bind(&actor.name)
    .bind(&actor.role)
    .bind(&actor.reason)
    .bind(from)
    .bind(to)
    .bind(actor.job_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
