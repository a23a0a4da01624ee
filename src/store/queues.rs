//! The queues' shared slots and the job runs written beside them (`engine::queues`). A slot
//! is taken for one attempt of a step of its queue, in the statement that marks the job run
//! active, and freed with the statement that records how the attempt ended. A slot whose
//! holder's lease ran out is free again: a dead node holds no slot past its leases.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{Result, Store};

/// A saga about to run an attempt of a queued step.
#[derive(Debug, Clone)]
pub(crate) struct SlotClaim<'a> {
    pub queue: &'a str,
    pub limit: u32,
    pub saga_id: Uuid,
    pub owner: &'a str,
    /// The holder's lease: the slot frees itself then unless the heartbeat extends it.
    pub held_until: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// The job run to mark; `None` for a compensation, which takes a slot but is not a job.
    pub job: Option<JobMark<'a>>,
}

/// The step's job run as an attempt starts (or waits for its queue).
#[derive(Debug, Clone)]
pub(crate) struct JobMark<'a> {
    pub step: &'a str,
    pub attempt: i32,
    pub max_attempts: i32,
    /// When the attempt became due; kept from an earlier wait for the queue.
    pub due_at: DateTime<Utc>,
}

/// How an attempt ended, for its job run.
#[derive(Debug, Clone)]
pub(crate) struct JobEnd {
    pub status: &'static str,
    pub progress: Option<u8>,
    pub related: Option<Value>,
    pub last_error: Option<Value>,
    pub next_retry_at: Option<DateTime<Utc>>,
}

/// The job-run upsert both the slot claim and the queue wait use: `queued_at` survives a
/// wait for the queue by the same attempt, so the wait counts from when the step was due.
const JOB_UPSERT: &str = "ON CONFLICT (saga_id, step) DO UPDATE SET
        queue = EXCLUDED.queue, status = EXCLUDED.status, max_attempts = EXCLUDED.max_attempts,
        queued_at = CASE WHEN job_runs.status = 'queued' AND job_runs.attempt = EXCLUDED.attempt
                         THEN job_runs.queued_at ELSE EXCLUDED.queued_at END,
        progress = CASE WHEN job_runs.attempt = EXCLUDED.attempt THEN job_runs.progress ELSE 0 END,
        attempt = EXCLUDED.attempt, started_at = EXCLUDED.started_at, finished_at = NULL,
        next_retry_at = EXCLUDED.next_retry_at, updated_at = EXCLUDED.updated_at";

impl Store {
    /// Adds the slot rows the limits need; existing rows (and their holders) stay.
    pub(crate) async fn ensure_queue_slots(&self, limits: &BTreeMap<String, u32>) -> Result<()> {
        for (queue, limit) in limits {
            sqlx::query(
                "INSERT INTO queue_slots (queue, slot)
                 SELECT $1, n FROM generate_series(0, $2 - 1) AS n
                 ON CONFLICT DO NOTHING",
            )
            .bind(queue)
            .bind(*limit as i32)
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    /// Takes a free slot of the queue (one numbered below `limit`, unheld or held past its
    /// lease) and marks the job run active, in one statement. `None`: the queue is full.
    pub(crate) async fn take_queue_slot(&self, c: &SlotClaim<'_>) -> Result<Option<i32>> {
        let job = c.job.as_ref();
        let sql = format!(
            "WITH free AS (
                SELECT queue, slot FROM queue_slots
                WHERE queue = $1 AND slot < $2 AND (saga_id IS NULL OR held_until <= $6)
                ORDER BY slot LIMIT 1
                FOR UPDATE SKIP LOCKED
             ), took AS (
                UPDATE queue_slots q SET saga_id = $3, owner = $4, held_until = $5
                FROM free WHERE q.queue = free.queue AND q.slot = free.slot
                RETURNING q.slot
             ), job AS (
                INSERT INTO job_runs (saga_id, step, queue, status, attempt, max_attempts,
                                      queued_at, started_at, created_at, updated_at)
                SELECT $3, $7, $1, 'active', $8, $9, $10, $6, $6, $6 FROM took WHERE $7::text IS NOT NULL
                {JOB_UPSERT}
             )
             SELECT slot FROM took"
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(c.queue)
            .bind(c.limit as i32)
            .bind(c.saga_id)
            .bind(c.owner)
            .bind(c.held_until)
            .bind(c.now)
            .bind(job.map(|j| j.step))
            .bind(job.map_or(0, |j| j.attempt))
            .bind(job.map_or(0, |j| j.max_attempts))
            .bind(job.map(|j| j.due_at))
            .fetch_optional(self.pool())
            .await?)
    }

    /// Frees the slot and records how the attempt ended on its job run (`end`: `None` for a
    /// compensation), in one statement. A slot another holder took after this one's lease ran
    /// out is left alone.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn free_queue_slot(
        &self,
        queue: &str,
        slot: i32,
        saga_id: Uuid,
        owner: &str,
        step: &str,
        end: Option<&JobEnd>,
        ran: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "WITH freed AS (
                UPDATE queue_slots SET saga_id = NULL, owner = NULL, held_until = NULL
                WHERE queue = $1 AND slot = $2 AND saga_id = $3 AND owner = $4
             )
             UPDATE job_runs SET status = $6, progress = COALESCE($7, CASE WHEN $6 = 'completed' THEN 100 ELSE progress END),
                    related = COALESCE($8, related), last_error = $9, next_retry_at = $10,
                    finished_at = CASE WHEN $6 IN ('completed', 'failed') THEN $11 END,
                    runs = runs + 1,
                    wait_ms = wait_ms + GREATEST(0, (extract(epoch FROM started_at - queued_at) * 1000)::bigint),
                    run_ms = run_ms + $12,
                    updated_at = $11
             WHERE saga_id = $3 AND step = $5 AND $6::text IS NOT NULL",
        )
        .bind(queue)
        .bind(slot)
        .bind(saga_id)
        .bind(owner)
        .bind(step)
        .bind(end.map(|e| e.status))
        .bind(end.and_then(|e| e.progress.map(i16::from)))
        .bind(end.and_then(|e| e.related.clone()))
        .bind(end.and_then(|e| e.last_error.clone()))
        .bind(end.and_then(|e| e.next_retry_at))
        .bind(now)
        .bind(i64::try_from(ran.as_millis()).unwrap_or(i64::MAX))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Frees every slot `owner` holds: a drain that cut its steps short gives their slots
    /// back with their sagas rather than leave them to the leases.
    pub(crate) async fn free_queue_slots_of(&self, owner: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE queue_slots SET saga_id = NULL, owner = NULL, held_until = NULL WHERE owner = $1",
        )
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// The queue is full: gives the saga back without a state change, due at `retry_at`, and
    /// marks its job run queued. False when the lease is no longer ours.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn wait_for_queue(
        &self,
        saga_id: Uuid,
        owner: &str,
        version: i64,
        queue: &str,
        job: Option<&JobMark<'_>>,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let sql = format!(
            "WITH given AS (
                UPDATE sagas SET lease_owner = NULL, lease_expires_at = NULL, next_run_at = $4
                WHERE id = $1 AND lease_owner = $2 AND version = $3
                RETURNING id
             ), job AS (
                INSERT INTO job_runs (saga_id, step, queue, status, attempt, max_attempts,
                                      queued_at, started_at, next_retry_at, created_at, updated_at)
                SELECT id, $6, $5, 'queued', $7, $8, $9, NULL, NULL, $10, $10 FROM given WHERE $6::text IS NOT NULL
                {JOB_UPSERT}
             )
             SELECT count(*) FROM given"
        );
        let given: i64 = sqlx::query_scalar(&sql)
            .bind(saga_id)
            .bind(owner)
            .bind(version)
            .bind(retry_at)
            .bind(queue)
            .bind(job.map(|j| j.step))
            .bind(job.map_or(0, |j| j.attempt))
            .bind(job.map_or(0, |j| j.max_attempts))
            .bind(job.map(|j| j.due_at))
            .bind(now)
            .fetch_one(self.pool())
            .await?;
        Ok(given == 1)
    }

    /// Extends a held slot with its holder's lease, and writes a changed progress report,
    /// in one statement (the heartbeat's companion for queued steps).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn beat_queue_slot(
        &self,
        queue: &str,
        slot: i32,
        saga_id: Uuid,
        owner: &str,
        held_until: DateTime<Utc>,
        step: &str,
        report: Option<(Option<u8>, Option<Value>)>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let changed = report.is_some();
        let (progress, related) = report.unwrap_or((None, None));
        sqlx::query(
            "WITH held AS (
                UPDATE queue_slots SET held_until = $5
                WHERE queue = $1 AND slot = $2 AND saga_id = $3 AND owner = $4
             )
             UPDATE job_runs SET progress = COALESCE($7, progress), related = COALESCE($8, related), updated_at = $9
             WHERE saga_id = $3 AND step = $6 AND $10",
        )
        .bind(queue)
        .bind(slot)
        .bind(saga_id)
        .bind(owner)
        .bind(held_until)
        .bind(step)
        .bind(progress.map(i16::from))
        .bind(related)
        .bind(now)
        .bind(changed)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
