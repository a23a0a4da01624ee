//! Start, read, list and operate sagas; deliver a signal to one. Handlers parse input into
//! newtypes, make one store call and map the result.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{ApiError, ApiJson, AppState};
use crate::engine::lifecycle::Event;
use crate::store::{Delivered, ListFilter, NewSaga, NewSignal, SagaRow, Started};
use crate::telemetry as m;

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub struct IdempotencyKey(pub String);

impl IdempotencyKey {
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let raw = headers.get("idempotency-key").ok_or_else(|| {
            ApiError::bad_request("missing_idempotency_key", "send an Idempotency-Key header")
        })?;
        let key = raw
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1-255 visible ASCII characters",
                )
            })?;
        Ok(Self(key.to_string()))
    }
}

/// A saga id from the path.
pub struct SagaId(pub Uuid);

impl SagaId {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        Uuid::parse_str(raw)
            .map(SagaId)
            .map_err(|_| ApiError::bad_request("invalid_id", "saga id must be a UUID"))
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    pub workflow: String,
    #[serde(default = "empty_object")]
    pub input: Value,
    pub business_key: Option<String>,
}

fn empty_object() -> Value {
    json!({})
}

#[derive(Debug, Serialize)]
pub struct StartResponse {
    pub saga_id: Uuid,
    pub workflow: String,
    pub workflow_version: i32,
    pub status: &'static str,
}

/// `POST /v1/sagas`: 202 when started, 200 when the key already started this same request,
/// 409 when the key was used for a different one.
pub async fn start(
    State(s): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<StartRequest>,
) -> Result<(StatusCode, Json<StartResponse>), ApiError> {
    let key = IdempotencyKey::from_headers(&headers)?;
    let def = s.rt.catalog.latest(&req.workflow).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_workflow",
            format!("no workflow named {:?}", req.workflow),
        )
    })?;
    if !req.input.is_object() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "input must be a JSON object",
        ));
    }
    if req.business_key.as_ref().is_some_and(|k| k.len() > 200) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "business_key is longer than 200 characters",
        ));
    }
    // serde_json's maps are sorted, so the same request always hashes the same.
    let canonical = serde_json::to_vec(&req).map_err(|_| ApiError::internal())?;
    let new = NewSaga {
        workflow: def.name.clone(),
        workflow_version: def.version,
        input: req.input,
        business_key: req.business_key,
        idempotency_key: Some(key.0),
        request_hash: Some(hex::encode(Sha256::digest(canonical))),
        actor: "api".into(),
    };
    let started = s.rt.store.start_saga(&new, s.rt.clock.now()).await?;
    let status = match started {
        Started::Created(_) => {
            metrics::counter!(m::SAGAS_STARTED_TOTAL, "workflow" => def.name.clone()).increment(1);
            s.rt.wake.notify_one();
            StatusCode::ACCEPTED
        }
        Started::Existing(_) => StatusCode::OK,
    };
    let current = s.rt.store.get_saga(started.id()).await?;
    Ok((
        status,
        Json(StartResponse {
            saga_id: started.id(),
            workflow: def.name.clone(),
            workflow_version: current.workflow_version,
            status: status_str(&current.status),
        }),
    ))
}

fn status_str(s: &str) -> &'static str {
    match s {
        "pending" => "pending",
        "running" => "running",
        "waiting" => "waiting",
        "compensating" => "compensating",
        "completed" => "completed",
        "compensated" => "compensated",
        "failed" => "failed",
        "parked" => "parked",
        "cancelled" => "cancelled",
        _ => "unknown",
    }
}

/// `GET /v1/sagas/{id}`: the saga, its next retry, its last error and its whole history.
pub async fn show(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = SagaId::parse(&id)?;
    let saga = s.rt.store.get_saga(id.0).await?;
    let history = s.rt.store.history(id.0).await?;
    let mut body = saga_json(&saga);
    body["history"] = json!(history);
    Ok(Json(body))
}

/// A saga as the API shows it: the row plus when it will next run, when that is a timer.
fn saga_json(saga: &SagaRow) -> Value {
    let mut v = json!(saga);
    let next_retry_at = match (saga.status.as_str(), saga.lease_owner.as_ref()) {
        ("running" | "compensating", None) => saga.next_run_at,
        _ => None,
    };
    v["next_retry_at"] = json!(next_retry_at);
    v
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    workflow: Option<String>,
    /// One status or several, comma-separated.
    status: Option<String>,
    business_key: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

const STATUSES: &[&str] = &[
    "pending",
    "running",
    "waiting",
    "compensating",
    "completed",
    "compensated",
    "failed",
    "parked",
    "cancelled",
];

/// `GET /v1/sagas`: newest first, keyset-paginated; `next_cursor` is absent on the last page.
pub async fn list(
    State(s): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 500",
        ));
    }
    let statuses: Vec<String> = q
        .status
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = statuses.iter().find(|s| !STATUSES.contains(&s.as_str())) {
        return Err(ApiError::bad_request(
            "invalid_status",
            format!("unknown status {bad:?}; use one of {}", STATUSES.join(", ")),
        ));
    }
    let after = q.cursor.as_deref().map(Cursor::decode).transpose()?;
    let page =
        s.rt.store
            .list_sagas(&ListFilter {
                workflow: q.workflow,
                statuses,
                business_key: q.business_key,
                after: after.map(|c| (c.created_at, c.id)),
                limit,
            })
            .await?;
    let items: Vec<Value> = page.items.iter().map(saga_json).collect();
    Ok(Json(json!({
        "items": items,
        "next_cursor": page.next.map(|(t, id)| Cursor { created_at: t, id }.encode()),
    })))
}

/// A keyset position, opaque to clients: hex of `<micros>:<uuid>`.
struct Cursor {
    created_at: DateTime<Utc>,
    id: Uuid,
}

impl Cursor {
    fn encode(&self) -> String {
        hex::encode(format!(
            "{}:{}",
            self.created_at.timestamp_micros(),
            self.id
        ))
    }

    fn decode(raw: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::bad_request("invalid_cursor", "cursor is not one this API issued");
        let text = String::from_utf8(hex::decode(raw).map_err(|_| bad())?).map_err(|_| bad())?;
        let (micros, id) = text.split_once(':').ok_or_else(bad)?;
        let created_at = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(bad)?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        Ok(Self { created_at, id })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    reason: String,
}

/// `POST /v1/sagas/{id}/{retry|resume|cancel}` with `{"reason": …}`; 409 when illegal.
pub async fn operate(
    State(s): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> Result<Json<Value>, ApiError> {
    let event = match action.as_str() {
        "retry" => Event::OperatorRetry,
        "resume" => Event::OperatorResume,
        "cancel" => Event::OperatorCancel,
        _ => return Err(ApiError::not_found("no such route")),
    };
    let id = SagaId::parse(&id)?;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.len() > 1000 {
        return Err(ApiError::bad_request(
            "reason_required",
            "give a reason of 1 to 1000 characters",
        ));
    }
    let saga = s.rt.store.get_saga(id.0).await?;
    let def =
        s.rt.definition(&saga.workflow, saga.workflow_version)
            .await?
            .ok_or_else(ApiError::internal)?;
    let state =
        s.rt.store
            .operator_action(id.0, event, &def, "operator", reason, s.rt.clock.now())
            .await?;
    s.rt.wake.notify_one();
    Ok(Json(
        json!({ "saga_id": id.0, "status": state.status(), "state": state }),
    ))
}

/// `POST /v1/sagas/{id}/signals/{name}`: delivers a signal; the `Idempotency-Key` header
/// deduplicates it. 202 when stored, 200 for a duplicate.
pub async fn signal(
    State(s): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(payload): ApiJson<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = SagaId::parse(&id)?;
    let key = IdempotencyKey::from_headers(&headers)?;
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::bad_request(
            "invalid_signal",
            "signal name must be 1 to 100 characters",
        ));
    }
    s.rt.store.get_saga(id.0).await?;
    let delivered =
        s.rt.store
            .deliver_signal(
                &NewSignal {
                    saga_id: Some(id.0),
                    correlation_key: None,
                    name: name.clone(),
                    dedup_key: format!("api:{}:{name}:{}", id.0, key.0),
                    payload,
                },
                s.rt.clock.now(),
            )
            .await?;
    let (status, result) = match delivered {
        Delivered::Accepted(_) => (StatusCode::ACCEPTED, "accepted"),
        Delivered::Duplicate => (StatusCode::OK, "duplicate"),
        Delivered::Uncorrelated => (StatusCode::ACCEPTED, "uncorrelated"),
    };
    metrics::counter!(m::SIGNALS_TOTAL, "source" => "api", "result" => result).increment(1);
    s.rt.wake.notify_one();
    Ok((
        status,
        Json(json!({ "saga_id": id.0, "signal": name, "result": result })),
    ))
}
