//! The legacy mirrors over HTTP: `POST /v1/legacy-sync/{entity}/refresh` starts a refresh
//! (operators), `GET /v1/legacy-sync/reports` lists what drift detection flagged (operators and
//! viewers). Legacy records are internal: service tokens reach neither.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{actor, invalid, to_json};
use crate::api::auth::Principal;
use crate::api::{ApiError, ApiJson, AppState};
use crate::domain::legacy::{Drift, Entity};
use crate::engine::runtime::StartSaga;
use crate::families::hardware::legacy_sync::{SYNC_REQUESTED, SYNC_WORKFLOW};
use crate::families::hardware::store::{ReportFilter, emit_legacy_event_in};
use crate::store::Started;

/// Most ids one refresh names.
const MAX_IDS: usize = 100;
/// Longest legacy id.
const MAX_ID_LEN: usize = 200;

fn entity(raw: &str) -> Result<Entity, ApiError> {
    Entity::parse(raw).ok_or_else(|| {
        ApiError::not_found(format!(
            "no legacy entity {raw:?}: use company, asset or device"
        ))
    })
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// Only these legacy ids (at most 100); every record of the entity when absent.
    #[serde(default)]
    pub ids: Option<Vec<String>>,
}

/// Starts a refresh saga of one entity's mirrors and records `legacy.sync_requested` with it.
#[utoipa::path(post, path = "/v1/legacy-sync/{entity}/refresh", operation_id = "refresh_legacy_mirrors", tag = "hardware",
    params(("entity" = String, Path, description = "company, asset or device")), request_body = RefreshRequest,
    responses((status = 202, description = "the refresh saga: saga_id, entity"), (status = 404, description = "no such entity"),
        (status = 422, description = "an empty, too long or repeated id list")))]
pub(crate) async fn refresh(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let entity = entity(&raw)?;
    let ids = match req.ids {
        None => None,
        Some(ids) => {
            let ids: Vec<String> = ids.iter().map(|i| i.trim().to_string()).collect();
            let mut seen = std::collections::BTreeSet::new();
            if ids.is_empty() || ids.len() > MAX_IDS {
                return Err(invalid(
                    "invalid_ids",
                    format!(
                        "ids: give 1 to {MAX_IDS} legacy ids, or leave ids out to refresh every record"
                    ),
                ));
            }
            if let Some(bad) = ids.iter().find(|i| {
                i.is_empty() || i.chars().count() > MAX_ID_LEN || !seen.insert(i.as_str())
            }) {
                return Err(invalid(
                    "invalid_ids",
                    format!(
                        "ids: {bad:?} is empty, longer than {MAX_ID_LEN} characters or repeated"
                    ),
                ));
            }
            Some(ids)
        }
    };
    let input = json!({ "entity": entity, "ids": ids });
    let requested = json!({ "entity": entity, "ids": ids, "requested_by": actor(&who) });
    let start = StartSaga {
        workflow: SYNC_WORKFLOW.into(),
        input,
        business_key: None,
        idempotency_key: None,
        request_hash: None,
        actor: actor(&who),
    };
    // The request is recorded with the saga, in its start transaction.
    let write: crate::store::StartWrite = Box::new(move |conn, saga_id, now| {
        Box::pin(async move {
            Ok(emit_legacy_event_in(conn, SYNC_REQUESTED, saga_id, &requested, now).await?)
        })
    });
    let saga = match s.rt.start(start, Some(write)).await? {
        Started::Created(id) | Started::Existing(id) => id,
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "saga_id": saga, "entity": entity })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    entity: Option<String>,
    kind: Option<String>,
    /// Only reports no later check has resolved.
    #[serde(default)]
    open: bool,
    limit: Option<i64>,
}

/// Drift reports, newest first: which mirror is missing, orphaned, stale or inconsistent, and
/// when a later check found it in agreement again.
#[utoipa::path(get, path = "/v1/legacy-sync/reports", operation_id = "list_legacy_sync_reports", tag = "hardware",
    params(("entity" = Option<String>, Query, description = "company, asset or device"),
        ("kind" = Option<String>, Query, description = "missing_mirror, orphaned, stale or inconsistent"),
        ("open" = Option<bool>, Query, description = "only unresolved reports"), ("limit" = Option<i64>, Query, description = "1 to 500, 100 by default")),
    responses((status = 200, description = "the reports"), (status = 400, description = "a bad query")))]
pub(crate) async fn reports(
    State(s): State<AppState>,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    if let Some(e) = q.entity.as_deref().filter(|e| Entity::parse(e).is_none()) {
        return Err(ApiError::bad_request(
            "invalid_entity",
            format!("unknown entity {e:?}: use company, asset or device"),
        ));
    }
    let kinds = [
        Drift::MissingMirror,
        Drift::Orphaned,
        Drift::Stale,
        Drift::Inconsistent,
    ];
    if let Some(k) = q
        .kind
        .as_deref()
        .filter(|k| !kinds.iter().any(|d| d.as_str() == *k))
    {
        return Err(ApiError::bad_request(
            "invalid_kind",
            format!("unknown kind {k:?}: use missing_mirror, orphaned, stale or inconsistent"),
        ));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 500",
        ));
    }
    let filter = ReportFilter {
        entity: q.entity,
        kind: q.kind,
        open_only: q.open,
    };
    let rows = s.rt.store.legacy_reports(&filter, limit).await?;
    Ok(Json(json!({ "items": to_json(&rows)? })))
}
