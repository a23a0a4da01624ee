//! Bulk jobs: an `ops_bulk` saga plus its targets, created together; progress is the count of
//! targets acted on.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Result, StartWrite, Store};

/// A bulk job as submitted: the action, who asked and why, and the sagas it targets.
#[derive(Debug, Clone)]
pub struct NewBulkJob {
    pub action: String,
    pub reason: String,
    pub actor: String,
    pub role: String,
    pub targets: Vec<Uuid>,
}

impl NewBulkJob {
    /// The job saga's input.
    pub fn input(&self) -> serde_json::Value {
        serde_json::json!({ "action": self.action, "reason": self.reason, "total": self.targets.len() })
    }

    /// Records the job and its targets in its saga's start transaction (see
    /// `engine::Runtime::start`); the job's id is its saga's.
    pub fn record(self) -> StartWrite {
        Box::new(move |conn, id, now| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO bulk_jobs (id, action, reason, actor, role, total, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(&self.action)
                .bind(&self.reason)
                .bind(&self.actor)
                .bind(&self.role)
                .bind(i32::try_from(self.targets.len()).unwrap_or(i32::MAX))
                .bind(now)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO bulk_job_items (job_id, saga_id) SELECT $1, unnest($2::uuid[])",
                )
                .bind(id)
                .bind(&self.targets)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
    }
}

/// A bulk job's progress.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BulkProgress {
    pub id: Uuid,
    pub action: String,
    pub reason: String,
    pub actor: String,
    pub total: i32,
    pub done: i64,
    pub failed: i64,
    /// The job saga's status: running while targets remain, completed after.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A target the job has not acted on yet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BulkItem {
    pub saga_id: Uuid,
}

impl Store {
    pub(crate) async fn bulk_job(&self, id: Uuid) -> Result<BulkProgress> {
        sqlx::query_as(
            "SELECT j.id, j.action, j.reason, j.actor, j.total,
                (SELECT count(*) FROM bulk_job_items i WHERE i.job_id = j.id AND i.outcome = 'done') AS done,
                (SELECT count(*) FROM bulk_job_items i WHERE i.job_id = j.id AND i.outcome = 'failed') AS failed,
                s.status, j.created_at, s.finished_at
             FROM bulk_jobs j JOIN sagas s ON s.id = j.id WHERE j.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(super::Error::NotFound)
    }

    /// The job's settings and the targets still to act on, a batch at a time.
    pub(crate) async fn bulk_open_items(&self, job: Uuid, limit: i64) -> Result<Vec<BulkItem>> {
        Ok(sqlx::query_as(
            "SELECT saga_id FROM bulk_job_items WHERE job_id = $1 AND outcome IS NULL ORDER BY saga_id LIMIT $2",
        )
        .bind(job)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records that acting on one target failed (illegal in its state, or gone).
    pub(crate) async fn bulk_item_failed(&self, job: Uuid, saga: Uuid, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE bulk_job_items SET outcome = 'failed', error = $3 WHERE job_id = $1 AND saga_id = $2",
        )
        .bind(job)
        .bind(saga)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The job's row: action, reason, actor and role.
    pub(crate) async fn bulk_settings(
        &self,
        job: Uuid,
    ) -> Result<(String, String, String, String)> {
        sqlx::query_as("SELECT action, reason, actor, role FROM bulk_jobs WHERE id = $1")
            .bind(job)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(super::Error::NotFound)
    }
}
