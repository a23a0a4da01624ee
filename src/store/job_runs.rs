//! Reading job runs (`queues.rs` writes them): a list filtered by queue, status and tenant,
//! and per-queue totals for the wait and processing averages. A job run's recorded status is
//! corrected by its saga: one left active while its step waited for an outside event is
//! completed once the saga moved past the step, failed once the saga failed on it; one that
//! failed is queued again once an operator retried or resumed the saga on it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{Result, Store};

/// One job run as support sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobRunRow {
    pub saga_id: Uuid,
    pub workflow: String,
    pub business_key: Option<String>,
    pub step: String,
    pub queue: String,
    pub status: String,
    pub attempt: i32,
    pub max_attempts: i32,
    pub progress: i16,
    pub related: Option<Value>,
    pub last_error: Option<Value>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Totals of one (queue, status) over a window, for the averages.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct JobTotals {
    pub queue: String,
    pub status: String,
    pub jobs: i64,
    /// Attempts that ran, and their summed wait and run times.
    pub runs: i64,
    pub wait_ms: i64,
    pub run_ms: i64,
}

/// What a job-run listing asks for.
#[derive(Debug, Clone, Default)]
pub struct JobRunFilter {
    pub queue: Option<String>,
    pub status: Option<String>,
    /// Only jobs of sagas this actor started (`service:<name>`): a service's own.
    pub started_by: Option<String>,
    pub saga_id: Option<Uuid>,
}

/// The job runs with their status as their saga has it now (see the file's note).
const EFFECTIVE: &str = "
    SELECT j.saga_id, s.workflow, s.business_key, j.step, j.queue,
           CASE WHEN j.status IN ('queued', 'active', 'delayed') THEN
                CASE WHEN s.current_step IS DISTINCT FROM j.step OR s.status = 'completed' THEN 'completed'
                     WHEN s.status IN ('failed', 'compensating', 'compensated', 'parked', 'cancelled') THEN 'failed'
                     ELSE j.status END
                -- An operator retried or resumed the step it failed on: it is due again.
                WHEN j.status = 'failed' AND s.current_step = j.step AND s.status IN ('running', 'waiting')
                     THEN 'queued'
                ELSE j.status END AS status,
           j.attempt, j.max_attempts, j.progress, j.related, j.last_error, j.next_retry_at,
           j.queued_at, j.started_at, j.finished_at, j.created_at, j.updated_at
    FROM job_runs j JOIN sagas s ON s.id = j.saga_id
    WHERE ($1::text IS NULL OR j.queue = $1)
      AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM saga_events e
                                        WHERE e.saga_id = j.saga_id AND e.seq = 1 AND e.actor = $2))
      AND ($3::uuid IS NULL OR j.saga_id = $3)";

impl Store {
    /// The newest job runs first, at most `limit`.
    pub async fn job_runs(&self, f: &JobRunFilter, limit: i64) -> Result<Vec<JobRunRow>> {
        let sql = format!(
            "SELECT * FROM ({EFFECTIVE}) jr WHERE ($4::text IS NULL OR jr.status = $4)
             ORDER BY jr.updated_at DESC, jr.saga_id, jr.step LIMIT $5"
        );
        Ok(sqlx::query_as::<_, JobRunRow>(&sql)
            .bind(&f.queue)
            .bind(&f.started_by)
            .bind(f.saga_id)
            .bind(&f.status)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// Per (queue, status) totals of the job runs touched since `since`.
    pub async fn job_totals(
        &self,
        f: &JobRunFilter,
        since: DateTime<Utc>,
    ) -> Result<Vec<JobTotals>> {
        let sql = format!(
            "SELECT jr.queue, jr.status, count(*) AS jobs, COALESCE(sum(j.runs), 0)::bigint AS runs,
                    COALESCE(sum(j.wait_ms), 0)::bigint AS wait_ms, COALESCE(sum(j.run_ms), 0)::bigint AS run_ms
             FROM ({EFFECTIVE}) jr JOIN job_runs j ON j.saga_id = jr.saga_id AND j.step = jr.step
             WHERE jr.updated_at >= $4
             GROUP BY jr.queue, jr.status ORDER BY jr.queue, jr.status"
        );
        Ok(sqlx::query_as::<_, JobTotals>(&sql)
            .bind(&f.queue)
            .bind(&f.started_by)
            .bind(f.saga_id)
            .bind(since)
            .fetch_all(self.pool())
            .await?)
    }
}
