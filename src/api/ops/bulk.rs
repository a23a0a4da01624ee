//! `POST /v1/sagas/bulk` starts a durable bulk job (an `ops_bulk` saga) or, with `dry_run`,
//! lists what it would touch; `GET /v1/jobs/{id}` reports its progress.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::search::SearchParams;
use crate::api::auth::Principal;
use crate::api::sagas::{SagaId, action_event, check_reason};
use crate::api::{ApiError, ApiJson, AppState};
use crate::engine::runtime::StartSaga;
use crate::store::{BulkProgress, NewBulkJob};

/// The most sagas one bulk job may target.
pub const MAX_TARGETS: i64 = 10_000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// retry, resume or cancel.
    pub action: String,
    /// Target the sagas this search finds…
    pub filter: Option<SearchParams>,
    /// …or exactly these.
    pub ids: Option<Vec<Uuid>>,
    pub reason: String,
    /// Only report what would be touched.
    #[serde(default)]
    pub dry_run: bool,
}

/// Submits a bulk job; 202 with its id, or 200 with the targets for a dry run.
#[utoipa::path(post, path = "/v1/sagas/bulk", tag = "ops", request_body = BulkRequest,
    responses((status = 202, description = "job started: {job_id, total}"), (status = 200, description = "dry run: {total, ids}")))]
pub async fn submit(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    ApiJson(req): ApiJson<BulkRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (job, dry_run) = prepare(&s, &who, req).await?;
    if dry_run {
        return Ok((
            StatusCode::OK,
            Json(
                json!({ "dry_run": true, "action": job.action, "total": job.targets.len(), "ids": job.targets }),
            ),
        ));
    }
    let id = start(&s, &job).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "job_id": id, "total": job.targets.len() })),
    ))
}

/// Checks a request and resolves its targets.
pub(crate) async fn prepare(
    s: &AppState,
    who: &Principal,
    req: BulkRequest,
) -> Result<(NewBulkJob, bool), ApiError> {
    if action_event(&req.action).is_none() {
        return Err(ApiError::bad_request(
            "invalid_action",
            "action is retry, resume or cancel",
        ));
    }
    let reason = check_reason(&req.reason)?;
    let mut search = match (&req.filter, &req.ids) {
        (Some(f), None) => f.to_search()?,
        (None, Some(ids)) if !ids.is_empty() => crate::store::SagaSearch {
            ids: ids.clone(),
            ..Default::default()
        },
        _ => {
            return Err(ApiError::bad_request(
                "invalid_targets",
                "give either a non-empty `ids` list or a `filter`",
            ));
        }
    };
    // The job never targets other bulk jobs.
    if search.workflow.as_deref() == Some("ops_bulk") {
        return Err(ApiError::bad_request(
            "invalid_targets",
            "bulk jobs cannot target bulk jobs",
        ));
    }
    if search.ids.is_empty() && search.workflow.is_none() && search.statuses.is_empty() {
        return Err(ApiError::bad_request(
            "filter_too_wide",
            "a bulk filter must name a workflow or a status",
        ));
    }
    search.ids.sort();
    let targets = s.rt.store.search_ids(&search, MAX_TARGETS + 1).await?;
    if targets.len() as i64 > MAX_TARGETS {
        return Err(ApiError::bad_request(
            "too_many_targets",
            format!("a bulk job may target at most {MAX_TARGETS} sagas; narrow the filter"),
        ));
    }
    Ok((
        NewBulkJob {
            action: req.action,
            reason,
            actor: who.name.clone(),
            role: who.role.as_str().into(),
            targets,
        },
        req.dry_run,
    ))
}

/// Starts the job saga (an `ops_bulk` saga) with its targets.
pub async fn start(s: &AppState, job: &NewBulkJob) -> Result<Uuid, ApiError> {
    let start = StartSaga {
        workflow: "ops_bulk".into(),
        input: job.input(),
        business_key: None,
        idempotency_key: None,
        request_hash: None,
        actor: format!("operator:{}", job.actor),
    };
    Ok(s.rt.start(start, Some(job.clone().record())).await?.id())
}

/// A bulk job's progress: done, failed and total.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "ops",
    params(("id" = Uuid, Path, description = "job id")),
    responses((status = 200, body = BulkProgress), (status = 404, description = "no such job")))]
pub async fn show(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BulkProgress>, ApiError> {
    let id = SagaId::parse(&id)?;
    match s.rt.store.bulk_job(id.0).await {
        Ok(p) => Ok(Json(p)),
        Err(crate::store::Error::NotFound) => Err(ApiError::not_found("no such job")),
        Err(e) => Err(e.into()),
    }
}
