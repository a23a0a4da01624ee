//! The outbox as operators see it: rows, their delivery log, and replay.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Principal;
use super::{ApiError, ApiJson, AppState};
use crate::store::{Actor, OutboxItem};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    saga_id: Option<Uuid>,
    status: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/outbox?saga_id=&status=pending|delivered|dead&limit=`
#[utoipa::path(get, path = "/v1/outbox", tag = "outbox", params(("saga_id" = Option<String>, Query, description = "one saga's rows"), ("status" = Option<String>, Query, description = "pending, delivered or dead"), ("limit" = Option<i64>, Query, description = "page size")),
    responses((status = 200, description = "outbox rows")))]
pub async fn list(
    State(s): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    if let Some(st) = q
        .status
        .as_deref()
        .filter(|st| !["pending", "delivered", "dead"].contains(st))
    {
        return Err(ApiError::bad_request(
            "invalid_status",
            format!("unknown outbox status {st:?}"),
        ));
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 500",
        ));
    }
    let items =
        s.rt.store
            .list_outbox(q.saga_id, q.status.as_deref(), limit)
            .await?;
    Ok(Json(json!({ "items": items })))
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request("invalid_id", "outbox id must be a number"))
}

/// `GET /v1/outbox/{id}`: the row and every delivery attempt.
#[utoipa::path(get, path = "/v1/outbox/{id}", tag = "outbox", params(("id" = i64, Path, description = "outbox row id")),
    responses((status = 200, description = "the row and its delivery attempts")))]
pub async fn show(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (item, deliveries) = s.rt.store.outbox_item(parse_id(&id)?).await?;
    Ok(Json(json!({ "item": item, "deliveries": deliveries })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    reason: String,
}

/// `POST /v1/outbox/{id}/replay` with `{"reason": …}`: deliver again now.
#[utoipa::path(post, path = "/v1/outbox/{id}/replay", tag = "outbox", params(("id" = i64, Path, description = "outbox row id")),
    request_body = Object, responses((status = 200, description = "queued for delivery again")))]
pub async fn replay(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReplayRequest>,
) -> Result<Json<Value>, ApiError> {
    let item = replay_row(&s, &who, parse_id(&id)?, &req.reason).await?;
    Ok(Json(json!({ "item": item })))
}

/// Queues a row for delivery again now, with the operator's reason in the saga's audit trail;
/// the API and the console's replay button both come here.
pub(crate) async fn replay_row(
    s: &AppState,
    who: &Principal,
    id: i64,
    reason: &str,
) -> Result<OutboxItem, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "reason_required",
            "give a reason for the replay",
        ));
    }
    let actor = Actor {
        name: who.name.clone(),
        role: who.role.as_str().into(),
        reason: reason.to_string(),
        job_id: None,
    };
    let item =
        s.rt.store
            .replay_outbox_audited(id, &actor, s.rt.clock.now())
            .await?;
    tracing::info!(outbox_id = id, reason = %reason, actor = %who.name, "outbox row replayed by an operator");
    Ok(item)
}
