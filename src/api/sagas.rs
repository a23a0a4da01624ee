//! Start, read, list and operate sagas; deliver a signal to one. Handlers parse input into
//! newtypes, make one store call and map the result.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::auth::{Principal, Revealed, Role};
use super::ops::search::{Cursor, PageParams, SearchParams};
use super::{ApiError, ApiJson, AppState, tenancy};
use crate::engine::definition::WorkflowDef;
use crate::engine::lifecycle::{Event, SagaState};
use crate::engine::policy::{SignalSource, StartPolicy};
use crate::engine::runtime::StartSaga;
use crate::providers::webhooks;
use crate::store::{Actor, Delivered, NewSignal, SagaRow, Started};
use crate::telemetry as m;

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub struct IdempotencyKey(pub String);

impl IdempotencyKey {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
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

/// A caller's key for `POST /v1/sagas` as stored: scoped to the caller, so one caller can
/// neither read another's saga through a key nor take a key first; and prefixed `api:`, so no
/// key from outside can be one the server makes itself (`cron:…`, a family's `hardware_order:…`).
pub(crate) fn api_key(who: &Principal, key: &IdempotencyKey) -> String {
    format!("api:{}:{}", who.name, key.0)
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

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    pub workflow: String,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
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
    pub status: String,
}

#[utoipa::path(post, path = "/v1/sagas", tag = "sagas", request_body = StartRequest,
    params(("Idempotency-Key" = String, Header, description = "1-255 visible ASCII characters")),
    responses((status = 202, description = "started"), (status = 200, description = "this key already started this request"),
               (status = 409, description = "this key started a different request"),
               (status = 403, description = "the workflow is not started through this route")))]
/// `POST /v1/sagas`: 202 when started, 200 when the key already started this same request,
/// 409 when the key was used for a different one.
pub async fn start(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
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
    if def.start != StartPolicy::Api {
        return Err(start_refused(&def.name, def.start));
    }
    if !req.input.is_object() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "input must be a JSON object",
        ));
    }
    // Checked at the door against the family's schema, so a saga never starts on input its
    // steps would only refuse later.
    if let Some(check) = s.input_checks.get(def.name.as_str()) {
        check(&req.input).map_err(|reason| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                format!("input for {}: {reason}", def.name),
            )
        })?;
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
    let start = StartSaga {
        workflow: def.name.clone(),
        input: req.input,
        business_key: req.business_key,
        idempotency_key: Some(api_key(&who, &key)),
        request_hash: Some(hex::encode(Sha256::digest(canonical))),
        actor: who.start_actor(),
    };
    let started = s.rt.start(start, None).await?;
    // A new saga is answered from what was just written (the start pins the latest loaded
    // version, `def`); only a replayed key needs the saga read back, as it may be anywhere.
    let (status, workflow_version, saga_status) = match started {
        Started::Created(_) => (StatusCode::ACCEPTED, def.version, "pending".to_string()),
        Started::Existing(id) => {
            let current = s.rt.store.get_saga(id).await?;
            (StatusCode::OK, current.workflow_version, current.status)
        }
    };
    Ok((
        status,
        Json(StartResponse {
            saga_id: started.id(),
            workflow: def.name.clone(),
            workflow_version,
            status: saga_status,
        }),
    ))
}

/// 403 for a workflow this route may not start: the others begin where their rows are written
/// (a family's route), on a schedule or inside the server, never from a caller's saga input
/// that could name another order.
fn start_refused(workflow: &str, policy: StartPolicy) -> ApiError {
    let how = match policy {
        StartPolicy::Api => "through this route",
        StartPolicy::Family => "through its family's own routes",
        StartPolicy::Cron => "by its cron job",
        StartPolicy::System => "inside the server",
    };
    ApiError::new(
        StatusCode::FORBIDDEN,
        "start_policy",
        format!("the {workflow} workflow starts only {how}"),
    )
}

/// `GET /v1/sagas/{id}`: the saga, its next retry, its last error and its whole history. A
/// service token sees only the sagas it started.
#[utoipa::path(get, path = "/v1/sagas/{id}", tag = "sagas",
    params(("id" = Uuid, Path, description = "saga id")),
    responses((status = 200, description = "the saga with its history"), (status = 404, description = "no such saga")))]
pub async fn show(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = SagaId::parse(&id)?;
    check_owner(&s, &who, id.0).await?;
    let saga = s.rt.store.get_saga(id.0).await?;
    let history = s.rt.store.history(id.0).await?;
    let mut body = saga_json(&saga, s.rt.clock.now());
    body["history"] = json!(history);
    Ok(Json(body))
}

/// `POST /v1/sagas/{id}/reveal` with `{"reason": …}`: the saga as `GET` shows it, with its
/// phone numbers and e-mail addresses unmasked, for an operator; recorded in the audit trail
/// with the reason before anything is shown.
#[utoipa::path(post, path = "/v1/sagas/{id}/reveal", tag = "sagas",
    params(("id" = Uuid, Path, description = "saga id")), request_body = ActionRequest,
    responses((status = 200, description = "the saga with its history, personal data unmasked"), (status = 404, description = "no such saga")))]
pub(crate) async fn reveal(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> Result<(Extension<Revealed>, Json<Value>), ApiError> {
    let id = SagaId::parse(&id)?;
    let reason = check_reason(&req.reason)?;
    let saga = s.rt.store.get_saga(id.0).await?;
    let actor = Actor {
        name: who.name.clone(),
        role: who.role.as_str().into(),
        reason,
        job_id: None,
    };
    s.rt.store
        .record_reveal(id.0, &actor, &saga.status, s.rt.clock.now())
        .await?;
    let history = s.rt.store.history(id.0).await?;
    let mut body = saga_json(&saga, s.rt.clock.now());
    body["history"] = json!(history);
    Ok((Extension(Revealed), Json(body)))
}

/// A service may touch only sagas it started; others get 404 so ids do not leak.
pub(crate) async fn check_owner(s: &AppState, who: &Principal, id: Uuid) -> Result<(), ApiError> {
    if tenancy::tenant(who).is_none() {
        return Ok(());
    }
    let actor = s.rt.store.started_by(id).await?;
    tenancy::visible(who, tenancy::saga_owner(actor.as_deref()), "saga")
}

/// A saga as the API shows it: the row plus when it will next run when that is a timer, how
/// long since it last changed, and the code of why it stopped (needs attention).
pub(crate) fn saga_json(saga: &SagaRow, now: DateTime<Utc>) -> Value {
    let mut v = json!(saga);
    let next_retry_at = match (saga.status.as_str(), saga.lease_owner.as_ref()) {
        ("running" | "compensating", None) => saga.next_run_at,
        _ => None,
    };
    v["next_retry_at"] = json!(next_retry_at);
    v["age_seconds"] = json!((now - saga.updated_at).num_seconds().max(0));
    v["reason_code"] = json!(
        saga.last_error
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
    );
    v
}

/// The list query: every search filter plus paging.
#[derive(Debug)]
pub struct ListQuery {
    pub search: SearchParams,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub order: Option<String>,
}

impl ListQuery {
    pub fn page(&self) -> PageParams {
        PageParams {
            limit: self.limit,
            cursor: self.cursor.clone(),
            order: self.order.clone(),
        }
    }
}

/// `GET /v1/sagas`: search, keyset-paginated and stably sorted on (created_at, id);
/// `next_cursor` is absent on the last page. `status=failed,parked&order=oldest` is the
/// needs-attention list (each item has `reason_code` and `age_seconds`).
#[utoipa::path(get, path = "/v1/sagas", tag = "sagas", params(SearchParams, PageParams),
    responses((status = 200, description = "a page of sagas"), (status = 400, description = "bad filter or tampered cursor")))]
pub async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = parse_list_query(query)?;
    let mut search = q.search.to_search()?;
    if who.role == Role::Service {
        search.started_by = Some(who.start_actor());
    }
    let (limit, after, order) = q.page().parse()?;
    let page =
        s.rt.store
            .search_sagas(&search, order, after, limit)
            .await?;
    let now = s.rt.clock.now();
    let items: Vec<Value> = page.items.iter().map(|r| saga_json(r, now)).collect();
    Ok(Json(json!({
        "items": items,
        "next_cursor": page.next.map(|(t, id)| Cursor { created_at: t, id }.encode()),
    })))
}

/// Splits a query string into search filters and paging; an unknown key is a 400.
pub(crate) fn parse_list_query(
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<ListQuery, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let mut search = serde_json::Map::new();
    let mut page = ListQuery {
        search: SearchParams::default(),
        limit: None,
        cursor: None,
        order: None,
    };
    for (k, v) in pairs {
        match k.as_str() {
            "limit" => {
                page.limit = Some(v.parse().map_err(|_| {
                    ApiError::bad_request("invalid_limit", "limit must be between 1 and 500")
                })?)
            }
            "cursor" => page.cursor = Some(v),
            "order" => page.order = Some(v),
            _ => {
                search.insert(k, Value::String(v));
            }
        }
    }
    page.search = serde_json::from_value(Value::Object(search))
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    Ok(page)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// Why; recorded in the history and the audit trail.
    pub reason: String,
}

/// `POST /v1/sagas/{id}/{retry|resume|cancel}` with `{"reason": …}`; 409 when illegal. The
/// history event and the audit row both carry the token's name.
#[utoipa::path(post, path = "/v1/sagas/{id}/{action}", tag = "sagas",
    params(("id" = Uuid, Path, description = "saga id"), ("action" = String, Path, description = "retry, resume or cancel")),
    request_body = ActionRequest,
    responses((status = 200, description = "the saga's new state"), (status = 409, description = "not legal in the saga's state")))]
pub async fn operate(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, action)): Path<(String, String)>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> Result<Json<Value>, ApiError> {
    if action_event(&action).is_none() {
        return Err(ApiError::not_found("no such route"));
    }
    let id = SagaId::parse(&id)?;
    let state = apply_action(&s, &who, id.0, &action, &req.reason).await?;
    Ok(Json(
        json!({ "saga_id": id.0, "status": state.status(), "state": state }),
    ))
}

/// The operator event an action name means.
pub(crate) fn action_event(action: &str) -> Option<Event> {
    match action {
        "retry" => Some(Event::OperatorRetry),
        "resume" => Some(Event::OperatorResume),
        "cancel" => Some(Event::OperatorCancel),
        _ => None,
    }
}

/// A reason of 1 to 1000 characters, trimmed.
pub(crate) fn check_reason(reason: &str) -> Result<String, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 1000 {
        return Err(ApiError::bad_request(
            "reason_required",
            "give a reason of 1 to 1000 characters",
        ));
    }
    Ok(reason.to_string())
}

/// One operator action on one saga, audited; shared by the API and the console.
pub(crate) async fn apply_action(
    s: &AppState,
    who: &Principal,
    id: Uuid,
    action: &str,
    reason: &str,
) -> Result<SagaState, ApiError> {
    let event = action_event(action).ok_or_else(|| ApiError::not_found("no such route"))?;
    let reason = check_reason(reason)?;
    let actor = Actor {
        name: who.name.clone(),
        role: who.role.as_str().into(),
        reason,
        job_id: None,
    };
    Ok(s.rt.operate(id, event, &actor, None).await?)
}

/// `POST /v1/sagas/{id}/signals/{name}`: delivers a signal; the `Idempotency-Key` header
/// deduplicates it. 202 when stored, 200 for a duplicate. Who may send it is what the waits of
/// the saga's workflow declare: a provider's signal never comes this way (403 for every
/// caller), an operator's needs a `reason` in the body and is audited, a service may send only
/// to the sagas it started.
#[utoipa::path(post, path = "/v1/sagas/{id}/signals/{name}", tag = "sagas",
    params(("id" = Uuid, Path, description = "saga id"), ("name" = String, Path, description = "signal name"),
           ("Idempotency-Key" = String, Header, description = "deduplicates the signal")),
    request_body = Object,
    responses((status = 202, description = "stored"), (status = 200, description = "a duplicate"),
               (status = 403, description = "the caller is not a source this signal may come from"),
               (status = 422, description = "no step of the saga's workflow waits for this signal")))]
pub async fn signal(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(payload): ApiJson<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = SagaId::parse(&id)?;
    check_owner(&s, &who, id.0).await?;
    let key = IdempotencyKey::from_headers(&headers)?;
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::bad_request(
            "invalid_signal",
            "signal name must be 1 to 100 characters",
        ));
    }
    let saga = s.rt.store.get_saga(id.0).await?;
    let def =
        s.rt.definition(&saga.workflow, saga.workflow_version)
            .await?
            .ok_or_else(ApiError::internal)?;
    let sources = signal_sources(&def, &name)?;
    let reason = match who.role {
        Role::Operator if sources.contains(&SignalSource::Operator) => Some(check_reason(
            payload.get("reason").and_then(Value::as_str).unwrap_or(""),
        )?),
        Role::Service if sources.contains(&SignalSource::Service) => None,
        _ => return Err(wrong_source(&name, &sources)),
    };
    let signal = NewSignal {
        saga_id: Some(id.0),
        correlation_key: None,
        name: name.clone(),
        dedup_key: format!("api:{}:{name}:{}", id.0, key.0),
        payload,
    };
    let now = s.rt.clock.now();
    let delivered = match reason {
        Some(reason) => {
            let actor = Actor {
                name: who.name.clone(),
                role: who.role.as_str().into(),
                reason,
                job_id: None,
            };
            s.rt.store
                .deliver_signal_audited(&signal, &actor, &saga.status, now)
                .await?
        }
        None => s.rt.store.deliver_signal(&signal, now).await?,
    };
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

/// Where `name` may come from for a saga of `def`. A provider's signal is refused here
/// whatever the definition says; a definition stored before sources were declared keeps the
/// old rule (operators and the owning service).
fn signal_sources(def: &WorkflowDef, name: &str) -> Result<Vec<SignalSource>, ApiError> {
    if webhooks::produces(name) {
        return Err(wrong_source(name, &[SignalSource::Provider]));
    }
    match def.signal_sources(name) {
        Some(sources) if sources.contains(&SignalSource::Provider) => {
            Err(wrong_source(name, &sources))
        }
        Some(sources) if sources.is_empty() => {
            Ok(vec![SignalSource::Operator, SignalSource::Service])
        }
        Some(sources) => Ok(sources),
        None => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_signal",
            format!("no step of the {} workflow waits for {name:?}", def.name),
        )),
    }
}

fn wrong_source(name: &str, sources: &[SignalSource]) -> ApiError {
    let from: Vec<&str> = sources.iter().map(|s| s.as_str()).collect();
    let message = if sources.contains(&SignalSource::Provider) {
        format!("{name:?} comes only from its provider's signed webhook")
    } else {
        format!("{name:?} may come only from: {}", from.join(", "))
    };
    ApiError::new(StatusCode::FORBIDDEN, "signal_source", message)
}
