//! Operator queries: saga search with every filter, keyset pages in either direction, the
//! streamed export, per-workflow stats and queue depths.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Serialize;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::{Result, SagaRow, Store};

const COLUMNS: &str = "id, workflow, workflow_version, business_key, status, state, data, current_step, attempt, \
     next_run_at, lease_owner, lease_expires_at, last_error, created_at, updated_at, finished_at";

/// Every filter the ops API, the CLI and the console search by. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct SagaSearch {
    pub workflow: Option<String>,
    pub statuses: Vec<String>,
    /// Matches the business key or an order code / partner orderId in the input.
    pub key: Option<String>,
    /// A phone number in national form (`0244123456`); stored numbers are normalised too.
    pub phone: Option<String>,
    /// The `network` (or `provider`) named in the input, case-insensitive.
    pub network: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// The step currently running (or waiting, parked, compensating).
    pub step: Option<String>,
    /// `last_error.code`.
    pub error_code: Option<String>,
    /// Only sagas whose first history event has this actor (a service reads its own).
    pub started_by: Option<String>,
    pub ids: Vec<Uuid>,
}

/// Which way a page runs; ascending is "oldest first" (needs attention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// A page of search results and the keyset position of its last row when more follow.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub items: Vec<SagaRow>,
    pub next: Option<(DateTime<Utc>, Uuid)>,
}

fn push_filters(q: &mut QueryBuilder<'_, Postgres>, f: &SagaSearch) {
    if let Some(w) = &f.workflow {
        q.push(" AND workflow = ").push_bind(w.clone());
    }
    if !f.statuses.is_empty() {
        q.push(" AND status = ANY(")
            .push_bind(f.statuses.clone())
            .push(")");
    }
    if let Some(k) = &f.key {
        q.push(" AND (business_key = ")
            .push_bind(k.clone())
            .push(" OR data->'input'->>'order_code' = ")
            .push_bind(k.clone())
            .push(" OR data->'input'->>'orderId' = ")
            .push_bind(k.clone())
            .push(")");
    }
    if let Some(p) = &f.phone {
        q.push(" AND (ops_phone(business_key) = ")
            .push_bind(p.clone())
            .push(" OR ops_phone(data->'input'->>'phone') = ")
            .push_bind(p.clone())
            .push(" OR ops_phone(data->'input'->>'msisdn') = ")
            .push_bind(p.clone())
            // The data-bundle workflow's input names it `phone_number`.
            .push(" OR ops_phone(data->'input'->>'phone_number') = ")
            .push_bind(p.clone())
            .push(")");
    }
    if let Some(n) = &f.network {
        q.push(
            " AND upper(coalesce(data->'input'->>'network', data->'input'->>'provider')) = upper(",
        )
        .push_bind(n.clone())
        .push(")");
    }
    if let Some(t) = f.created_from {
        q.push(" AND created_at >= ").push_bind(t);
    }
    if let Some(t) = f.created_to {
        q.push(" AND created_at < ").push_bind(t);
    }
    if let Some(s) = &f.step {
        q.push(" AND current_step = ").push_bind(s.clone());
    }
    if let Some(c) = &f.error_code {
        q.push(" AND last_error->>'code' = ").push_bind(c.clone());
    }
    if let Some(a) = &f.started_by {
        q.push(" AND EXISTS (SELECT 1 FROM saga_events e WHERE e.saga_id = sagas.id AND e.seq = 1 AND e.actor = ")
            .push_bind(a.clone())
            .push(")");
    }
    if !f.ids.is_empty() {
        q.push(" AND id = ANY(").push_bind(f.ids.clone()).push(")");
    }
}

/// One CSV line of the export.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportRow {
    pub id: Uuid,
    pub workflow: String,
    pub status: String,
    pub business_key: Option<String>,
    pub current_step: Option<String>,
    pub attempt: i32,
    pub error_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Per-workflow outcomes over a window.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WorkflowStats {
    pub workflow: String,
    pub started: i64,
    pub completed: i64,
    pub compensated: i64,
    pub failed: i64,
    pub parked: i64,
    pub in_flight: i64,
    /// completed / (completed + compensated + failed + cancelled); null when none finished.
    pub success_rate: Option<f64>,
    pub p50_seconds: Option<f64>,
    pub p95_seconds: Option<f64>,
    pub retries_per_saga: f64,
}

/// Queue depth of one (workflow, step).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct QueueRow {
    pub workflow: String,
    pub step: String,
    /// Due now, not yet claimed.
    pub waiting: i64,
    /// Held by a live worker lease.
    pub running: i64,
    /// Due later: a retry delay or a wait's timeout.
    pub delayed: i64,
    /// Held for an outside event or an operator, with no timer.
    pub idle: i64,
    pub oldest_waiting_seconds: Option<f64>,
    /// Failed attempts (retried, parked or compensating) in the last hour.
    pub recent_failures: i64,
}

/// Counts the console's overview shows.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Overview {
    pub in_flight: i64,
    pub completed_today: i64,
    pub compensated_today: i64,
    pub finished_today: i64,
    pub needs_attention: i64,
}

impl Store {
    /// A keyset page of sagas matching `f`, stable on (created_at, id).
    pub(crate) async fn search_sagas(
        &self,
        f: &SagaSearch,
        order: Order,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<SearchPage> {
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM sagas WHERE true"));
        push_filters(&mut q, f);
        let (cmp, dir) = match order {
            Order::NewestFirst => ("<", "DESC"),
            Order::OldestFirst => (">", "ASC"),
        };
        if let Some((ts, id)) = after {
            q.push(format!(" AND (created_at, id) {cmp} ("))
                .push_bind(ts)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        q.push(format!(" ORDER BY created_at {dir}, id {dir} LIMIT "))
            .push_bind(limit + 1);
        let mut items: Vec<SagaRow> = q.build_query_as().fetch_all(&self.pool).await?;
        let next = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|r| (r.created_at, r.id))
        } else {
            None
        };
        Ok(SearchPage { items, next })
    }

    /// The ids of every saga matching `f` (bulk targets), newest first, at most `cap`.
    pub(crate) async fn search_ids(&self, f: &SagaSearch, cap: i64) -> Result<Vec<Uuid>> {
        let mut q = QueryBuilder::new("SELECT id FROM sagas WHERE true");
        push_filters(&mut q, f);
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(cap);
        Ok(q.build_query_scalar().fetch_all(&self.pool).await?)
    }

    /// Streams every matching row from one server-side cursor: memory stays flat however many
    /// rows there are.
    pub(crate) fn export_sagas(&self, f: SagaSearch) -> BoxStream<'static, Result<ExportRow>> {
        // The cursor lives as long as the download: on the long-read pool, so twenty slow
        // clients wait for each other rather than take the workers' connections.
        let pool = self.reads.clone();
        let (tx, rx) = futures::channel::mpsc::channel::<Result<ExportRow>>(64);
        tokio::spawn(async move {
            let mut tx = tx;
            let mut q = QueryBuilder::new(
                "SELECT id, workflow, status, business_key, current_step, attempt, \
                 last_error->>'code' AS error_code, created_at, finished_at FROM sagas WHERE true",
            );
            push_filters(&mut q, &f);
            q.push(" ORDER BY created_at DESC, id DESC");
            let mut rows = q.build_query_as::<ExportRow>().fetch(&pool);
            while let Some(row) = rows.next().await {
                let item = row.map_err(super::Error::from);
                let stop = item.is_err();
                if futures::SinkExt::send(&mut tx, item).await.is_err() || stop {
                    break;
                }
            }
        });
        rx.boxed()
    }

    /// Outcomes of sagas started since `since`, and in-flight counts, per workflow.
    pub(crate) async fn workflow_stats(&self, since: DateTime<Utc>) -> Result<Vec<WorkflowStats>> {
        Ok(sqlx::query_as(
            "WITH s AS (
                SELECT id, workflow, status, created_at, finished_at, created_at >= $1 AS recent
                FROM sagas WHERE created_at >= $1 OR finished_at IS NULL
             ), r AS (
                SELECT e.saga_id, count(*) AS n FROM saga_events e JOIN s ON s.id = e.saga_id AND s.recent
                WHERE e.kind IN ('step_retry_scheduled', 'compensation_retry_scheduled', 'operator_retry')
                GROUP BY e.saga_id
             )
             SELECT s.workflow,
                count(*) FILTER (WHERE recent) AS started,
                count(*) FILTER (WHERE recent AND status = 'completed') AS completed,
                count(*) FILTER (WHERE recent AND status = 'compensated') AS compensated,
                count(*) FILTER (WHERE recent AND status = 'failed') AS failed,
                count(*) FILTER (WHERE recent AND status = 'parked') AS parked,
                count(*) FILTER (WHERE finished_at IS NULL) AS in_flight,
                (count(*) FILTER (WHERE recent AND status = 'completed'))::float8
                    / NULLIF(count(*) FILTER (WHERE recent AND status IN ('completed', 'compensated', 'failed', 'cancelled')), 0)
                    AS success_rate,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)::float8)
                    FILTER (WHERE recent AND status = 'completed') AS p50_seconds,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)::float8)
                    FILTER (WHERE recent AND status = 'completed') AS p95_seconds,
                coalesce(sum(r.n) FILTER (WHERE recent), 0)::float8
                    / greatest(count(*) FILTER (WHERE recent), 1) AS retries_per_saga
             FROM s LEFT JOIN r ON r.saga_id = s.id
             GROUP BY s.workflow ORDER BY s.workflow",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Depth of every (workflow, step) queue of unfinished sagas at `now`.
    pub async fn queues(&self, now: DateTime<Utc>) -> Result<Vec<QueueRow>> {
        Ok(sqlx::query_as(
            "WITH q AS (
                SELECT workflow, coalesce(current_step, '') AS step,
                    count(*) FILTER (WHERE lease_owner IS NULL AND next_run_at <= $1) AS waiting,
                    count(*) FILTER (WHERE lease_owner IS NOT NULL AND lease_expires_at > $1) AS running,
                    count(*) FILTER (WHERE lease_owner IS NULL AND next_run_at > $1) AS delayed,
                    count(*) FILTER (WHERE next_run_at IS NULL) AS idle,
                    extract(epoch FROM $1 - min(next_run_at) FILTER (WHERE lease_owner IS NULL AND next_run_at <= $1))::float8
                        AS oldest_waiting_seconds
                FROM sagas WHERE finished_at IS NULL GROUP BY 1, 2
             ), f AS (
                SELECT s.workflow, coalesce(e.step, '') AS step, count(*) AS n
                FROM saga_events e JOIN sagas s ON s.id = e.saga_id
                WHERE e.created_at >= $1 - interval '1 hour'
                  AND e.kind IN ('step_failed', 'step_retry_scheduled', 'step_parked',
                                 'compensation_failed', 'compensation_retry_scheduled')
                GROUP BY 1, 2
             )
             SELECT coalesce(q.workflow, f.workflow) AS workflow, coalesce(q.step, f.step) AS step,
                coalesce(q.waiting, 0) AS waiting, coalesce(q.running, 0) AS running,
                coalesce(q.delayed, 0) AS delayed, coalesce(q.idle, 0) AS idle,
                q.oldest_waiting_seconds, coalesce(f.n, 0) AS recent_failures
             FROM q FULL JOIN f ON f.workflow = q.workflow AND f.step = q.step
             ORDER BY 1, 2",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The console's headline numbers; "today" is since `day_start`.
    pub async fn overview(&self, day_start: DateTime<Utc>) -> Result<Overview> {
        Ok(sqlx::query_as(
            "SELECT
                count(*) FILTER (WHERE finished_at IS NULL AND status NOT IN ('failed', 'parked')) AS in_flight,
                count(*) FILTER (WHERE status = 'completed' AND finished_at >= $1) AS completed_today,
                count(*) FILTER (WHERE status = 'compensated' AND finished_at >= $1) AS compensated_today,
                count(*) FILTER (WHERE finished_at >= $1) AS finished_today,
                count(*) FILTER (WHERE status IN ('failed', 'parked')) AS needs_attention
             FROM sagas",
        )
        .bind(day_start)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The actor of a saga's first history event: who started it.
    pub(crate) async fn started_by(&self, id: Uuid) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT actor FROM saga_events WHERE saga_id = $1 AND seq = 1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
