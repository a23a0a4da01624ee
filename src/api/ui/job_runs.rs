//! Job runs in the console: each queue's wait and processing averages for the queue overview,
//! and one job run's page (a step of a queued workflow) with its progress, next retry, last
//! error and links to its saga and to the record it works on.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::Value;

use super::pages::{chrome, masked};
use super::view::{opt_when, pretty, render, short_id, when};
use crate::api::auth::Principal;
use crate::api::job_runs::summarise;
use crate::api::sagas::SagaId;
use crate::api::{ApiError, AppState};
use crate::store::{JobRunFilter, JobRunRow};

/// How far back the queue overview's averages look.
const WINDOW_HOURS: i64 = 24;
/// Job runs the queue overview lists.
const RECENT: i64 = 25;

/// One queue's line of the overview.
pub struct QueueAverage {
    pub queue: String,
    pub limit: String,
    pub queued: i64,
    pub active: i64,
    pub delayed: i64,
    pub failed: i64,
    pub completed: i64,
    pub avg_wait: String,
    pub avg_processing: String,
}

/// One job run in a table.
pub struct JobRunLine {
    pub href: String,
    pub queue: String,
    pub step: String,
    pub business_key: String,
    pub saga_short: String,
    pub status: String,
    pub attempt: String,
    pub progress: i16,
    pub updated: String,
}

fn seconds(v: Option<f64>) -> String {
    match v {
        Some(s) if s < 1.0 => format!("{:.0} ms", s * 1000.0),
        Some(s) => format!("{s:.1} s"),
        None => "—".into(),
    }
}

/// A job run's page, by its saga and step.
fn href(r: &JobRunRow) -> String {
    format!("/ui/job-runs/{}/{}", r.saga_id, r.step)
}

fn line(r: &JobRunRow) -> JobRunLine {
    JobRunLine {
        href: href(r),
        queue: r.queue.clone(),
        step: r.step.clone(),
        business_key: masked(r.business_key.as_deref().unwrap_or("—")),
        saga_short: short_id(&r.saga_id),
        status: r.status.clone(),
        attempt: format!("{} of {}", r.attempt, r.max_attempts),
        progress: r.progress,
        updated: when(&r.updated_at),
    }
}

/// Each queue's limit, counts by status and averages over the last day, and the newest job
/// runs; for `/ui/queues`.
pub(crate) async fn overview(
    s: &AppState,
) -> Result<(Vec<QueueAverage>, Vec<JobRunLine>), ApiError> {
    let since = s.rt.clock.now() - chrono::Duration::hours(WINDOW_HOURS);
    let all = JobRunFilter::default();
    let totals = s.rt.store.job_totals(&all, since).await?;
    let count = |q: &crate::api::job_runs::QueueSummary, k: &str| {
        q.counts.get(k).copied().unwrap_or_default()
    };
    let queues = summarise(&s.rt.worker.queues, &totals)
        .iter()
        .map(|q| QueueAverage {
            queue: q.queue.clone(),
            limit: q
                .concurrency
                .map(|c| c.to_string())
                .unwrap_or_else(|| "—".into()),
            queued: count(q, "queued"),
            active: count(q, "active"),
            delayed: count(q, "delayed"),
            failed: count(q, "failed"),
            completed: count(q, "completed"),
            avg_wait: seconds(q.avg_wait_seconds),
            avg_processing: seconds(q.avg_processing_seconds),
        })
        .collect();
    let recent = s.rt.store.job_runs(&all, RECENT).await?;
    Ok((queues, recent.iter().map(line).collect()))
}

/// Where the console shows the record a job run works on: `/ui/<kind>s/{id}` (`automation_step`
/// becomes `/ui/automation-steps/…`); the record's family serves that page.
fn console_href(related: &Value) -> Option<(String, String, String)> {
    let kind = related.get("kind")?.as_str()?;
    let id = related.get("id")?.as_str()?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !ok(kind) || !ok(id) {
        return None;
    }
    let label = kind.replace('_', " ");
    Some((
        label,
        id.to_string(),
        format!("/ui/{}s/{id}", kind.replace('_', "-")),
    ))
}

#[derive(askama::Template)]
#[template(path = "job_run.html")]
pub struct JobRunPage {
    pub chrome: super::view::Chrome,
    pub queue: String,
    pub step: String,
    pub workflow: String,
    pub status: String,
    pub attempt: i32,
    pub max_attempts: i32,
    pub progress: i16,
    pub saga_id: String,
    pub saga_short: String,
    pub business_key: String,
    pub next_retry: String,
    pub last_error: String,
    pub related: Option<(String, String, String)>,
    pub related_api: String,
    pub queued: String,
    pub started: String,
    pub finished: String,
}

/// One job run: a step of a queued workflow's saga.
#[utoipa::path(get, path = "/ui/job-runs/{saga}/{step}", tag = "console",
    params(("saga" = String, Path, description = "saga id"), ("step" = String, Path, description = "step name")),
    responses((status = 200, description = "HTML"), (status = 404, description = "no such job run")))]
pub async fn show(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((saga, step)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let saga = SagaId::parse(&saga)?;
    let filter = JobRunFilter {
        saga_id: Some(saga.0),
        ..Default::default()
    };
    // A saga has one job run per queued step: a handful of rows.
    let run =
        s.rt.store
            .job_runs(&filter, 100)
            .await?
            .into_iter()
            .find(|r| r.step == step)
            .ok_or_else(|| ApiError::not_found("no such job run"))?;
    let related = run.related.as_ref().and_then(console_href);
    let related_api = run
        .related
        .as_ref()
        .and_then(|r| r.get("href"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let last_error = run
        .last_error
        .as_ref()
        .map(|e| match (e.get("code"), e.get("message")) {
            (Some(c), Some(m)) => format!(
                "{}: {}",
                c.as_str().unwrap_or_default(),
                m.as_str().unwrap_or_default()
            ),
            _ => pretty(e),
        })
        .map(|e| masked(&e))
        .unwrap_or_default();
    Ok(render(&JobRunPage {
        chrome: chrome(&who, "queues"),
        queue: run.queue.clone(),
        step: run.step.clone(),
        workflow: run.workflow.clone(),
        status: run.status.clone(),
        attempt: run.attempt,
        max_attempts: run.max_attempts,
        progress: run.progress,
        saga_id: run.saga_id.to_string(),
        saga_short: short_id(&run.saga_id),
        business_key: masked(run.business_key.as_deref().unwrap_or("—")),
        next_retry: opt_when(&run.next_retry_at),
        last_error,
        related,
        related_api,
        queued: when(&run.queued_at),
        started: opt_when(&run.started_at),
        finished: opt_when(&run.finished_at),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn related_records_link_to_their_console_page() {
        let (label, id, href) =
            console_href(&json!({"kind": "automation_step", "id": "a-1"})).unwrap();
        assert_eq!((label.as_str(), id.as_str()), ("automation step", "a-1"));
        assert_eq!(href, "/ui/automation-steps/a-1");
        assert!(console_href(&json!({"kind": "order", "id": "../x"})).is_none());
        assert!(console_href(&json!({"id": "x"})).is_none());
    }

    #[test]
    fn averages_read_in_ms_below_a_second() {
        assert_eq!(seconds(Some(0.25)), "250 ms");
        assert_eq!(seconds(Some(2.0)), "2.0 s");
        assert_eq!(seconds(None), "—");
    }
}
