//! `GET /v1/job-runs?queue=&status=&saga_id=&limit=&window=`: the steps of queued workflows
//! (see `engine::queues`) as support thinks of jobs — queue, status, attempt and max attempts,
//! progress, last error, next retry, a link to the record the step works on and to its saga —
//! with each queue's limit, counts and wait and processing averages. A service token sees
//! only the jobs of sagas it started; viewers and operators see all.

use std::collections::BTreeMap;

use axum::Extension;
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::Principal;
use super::{ApiError, AppState, tenancy};
use crate::store::{JobRunFilter, JobRunRow, JobTotals};

const STATUSES: [&str; 5] = ["queued", "active", "completed", "failed", "delayed"];

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobRunQuery {
    /// Only this queue (`orders`, `shipments`, `automation` or another configured one).
    pub queue: Option<String>,
    /// Only this status: queued, active, completed, failed or delayed.
    pub status: Option<String>,
    /// Only the steps of this saga.
    pub saga_id: Option<String>,
    /// At most this many job runs, newest first (default 50, at most 500).
    pub limit: Option<i64>,
    /// How far back the averages look, such as `1h` or `24h` (default 24h, at most 90d).
    pub window: Option<String>,
}

/// One queue's limit, counts by status and averages over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueSummary {
    pub queue: String,
    /// At most this many run at once across the nodes (`None`: no limit configured here).
    pub concurrency: Option<u32>,
    pub counts: BTreeMap<String, i64>,
    /// Average seconds an attempt waited from due to running, and ran; `None` before any ran.
    pub avg_wait_seconds: Option<f64>,
    pub avg_processing_seconds: Option<f64>,
}

/// Folds (queue, status) totals into one summary per queue, every configured queue included
/// (with zero counts) so an idle queue still shows its limit. Averages are per attempt run.
pub(crate) fn summarise(limits: &BTreeMap<String, u32>, totals: &[JobTotals]) -> Vec<QueueSummary> {
    let mut queues: BTreeMap<String, (QueueSummary, i64, i64, i64)> = BTreeMap::new();
    let empty = |queue: &str| {
        let counts = STATUSES.iter().map(|s| (s.to_string(), 0)).collect();
        (
            QueueSummary {
                queue: queue.to_string(),
                concurrency: limits.get(queue).copied(),
                counts,
                avg_wait_seconds: None,
                avg_processing_seconds: None,
            },
            0,
            0,
            0,
        )
    };
    for queue in limits.keys() {
        queues.insert(queue.clone(), empty(queue));
    }
    for t in totals {
        let entry = queues
            .entry(t.queue.clone())
            .or_insert_with(|| empty(&t.queue));
        *entry.0.counts.entry(t.status.clone()).or_default() += t.jobs;
        entry.1 += t.runs;
        entry.2 += t.wait_ms;
        entry.3 += t.run_ms;
    }
    queues
        .into_values()
        .map(|(mut q, runs, wait_ms, run_ms)| {
            if runs > 0 {
                q.avg_wait_seconds = Some(wait_ms as f64 / runs as f64 / 1000.0);
                q.avg_processing_seconds = Some(run_ms as f64 / runs as f64 / 1000.0);
            }
            q
        })
        .collect()
}

/// A job run as the API shows it: the brief's field names, snake_case as the rest of the API.
fn job_json(r: &JobRunRow) -> Value {
    json!({
        "id": format!("{}:{}", r.saga_id, r.step),
        "queue": r.queue,
        "name": r.step,
        "workflow": r.workflow,
        "status": r.status,
        "progress": r.progress,
        "attempt": r.attempt,
        "max_attempts": r.max_attempts,
        "last_error": r.last_error,
        "next_retry_at": r.next_retry_at,
        "related_entity": r.related,
        "saga": { "id": r.saga_id, "business_key": r.business_key, "href": format!("/v1/sagas/{}", r.saga_id) },
        "queued_at": r.queued_at,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    })
}

/// Checks the query; a bad value is a 400 naming it.
fn filter(
    q: &JobRunQuery,
    who: &Principal,
) -> Result<(JobRunFilter, i64, std::time::Duration), ApiError> {
    if let Some(queue) = &q.queue
        && !crate::engine::queues::valid_name(queue)
    {
        return Err(ApiError::bad_request(
            "invalid_queue",
            "queue is lowercase letters, digits, _ and -",
        ));
    }
    if let Some(status) = &q.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_status",
            format!("status is one of {}", STATUSES.join(", ")),
        ));
    }
    let saga_id = q
        .saga_id
        .as_deref()
        .map(|id| super::parse_id(id, "saga"))
        .transpose()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 500",
        ));
    }
    let window = humantime::parse_duration(q.window.as_deref().unwrap_or("24h"))
        .ok()
        .filter(|w| w.as_secs() > 0 && w.as_secs() <= 90 * 86_400)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_window",
                "window is a duration such as 24h, up to 90d",
            )
        })?;
    let started_by = tenancy::tenant(who).map(|_| who.start_actor());
    Ok((
        JobRunFilter {
            queue: q.queue.clone(),
            status: q.status.clone(),
            started_by,
            saga_id,
        },
        limit,
        window,
    ))
}

#[utoipa::path(get, path = "/v1/job-runs", tag = "ops", params(JobRunQuery),
    responses((status = 200, description = "{items: [job run], queues: [{queue, concurrency, counts, avg_wait_seconds, avg_processing_seconds}], window_seconds}"),
        (status = 400, description = "bad filter")))]
pub async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    query: Result<Query<JobRunQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let (f, limit, window) = filter(&q, &who)?;
    let rows = s.rt.store.job_runs(&f, limit).await?;
    let since =
        s.rt.clock.now() - chrono::Duration::from_std(window).map_err(|_| ApiError::internal())?;
    // The averages cover the queue (and tenant) asked for, whatever the status filter.
    let totals =
        s.rt.store
            .job_totals(
                &JobRunFilter {
                    status: None,
                    ..f.clone()
                },
                since,
            )
            .await?;
    let limits = match &f.queue {
        Some(queue) => {
            s.rt.worker
                .queues
                .iter()
                .filter(|(k, _)| *k == queue)
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        }
        None => s.rt.worker.queues.clone(),
    };
    Ok(Json(json!({
        "items": rows.iter().map(job_json).collect::<Vec<_>>(),
        "queues": summarise(&limits, &totals),
        "window_seconds": window.as_secs(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(
        queue: &str,
        status: &str,
        jobs: i64,
        runs: i64,
        wait_ms: i64,
        run_ms: i64,
    ) -> JobTotals {
        JobTotals {
            queue: queue.into(),
            status: status.into(),
            jobs,
            runs,
            wait_ms,
            run_ms,
        }
    }

    #[test]
    fn averages_are_per_attempt_run_across_statuses() {
        let limits = crate::engine::queues::default_limits();
        let out = summarise(
            &limits,
            &[
                totals("orders", "completed", 3, 4, 8_000, 2_000),
                totals("orders", "delayed", 1, 1, 2_000, 500),
                totals("automation", "active", 1, 0, 0, 0),
            ],
        );
        let names: Vec<&str> = out.iter().map(|q| q.queue.as_str()).collect();
        assert_eq!(names, ["automation", "orders", "shipments"]);
        let orders = &out[1];
        assert_eq!(orders.concurrency, Some(5));
        assert_eq!(orders.counts["completed"], 3);
        assert_eq!(orders.counts["delayed"], 1);
        assert_eq!(orders.counts["failed"], 0);
        assert_eq!(orders.avg_wait_seconds, Some(2.0), "10 s over 5 runs");
        assert_eq!(
            orders.avg_processing_seconds,
            Some(0.5),
            "2.5 s over 5 runs"
        );
        let automation = &out[0];
        assert_eq!(automation.counts["active"], 1);
        assert_eq!(automation.avg_wait_seconds, None, "nothing has run yet");
        let shipments = &out[2];
        assert_eq!(shipments.concurrency, Some(10));
        assert!(shipments.counts.values().all(|n| *n == 0));
    }

    #[test]
    fn a_queue_with_jobs_but_no_limit_here_still_shows() {
        let out = summarise(
            &BTreeMap::new(),
            &[totals("retarget", "failed", 2, 2, 0, 4_000)],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].concurrency, None);
        assert_eq!(out[0].avg_processing_seconds, Some(2.0));
        assert_eq!(out[0].avg_wait_seconds, Some(0.0));
    }
}
