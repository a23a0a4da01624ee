//! Automation steps an operator resolves: retry a failed one, or record the scenario's manual
//! fallback. When the order's saga is parked on the step, the saga is retried in the same
//! audited transaction so the step's state and the saga move together.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{actor, conflict, no_such, parse_id, store_error};
use crate::api::auth::Principal;
use crate::api::sagas::{ActionRequest, check_reason};
use crate::api::{ApiError, ApiJson, AppState};
use crate::domain::hardware::automation::{self, AutomationEvent, AutomationStatus};
use crate::engine::action::DomainWrite;
use crate::engine::lifecycle::Event;
use crate::families::hardware::store::{
    AutomationRow, fallback_automation_in, no_failed_automation_in, requeue_automation_in,
};
use crate::store::{self, Actor, SagaRow};

const STEP: &str = "automation step";

/// Why a domain write inside an audited saga action gave up, kept for the handler (the
/// transaction itself only carries an `sqlx::Error`).
enum Aborted {
    Domain(store::Error),
    /// Another step of the order failed meanwhile: the saga must stay parked.
    StillFailing,
}

type Slot = Arc<Mutex<Option<Aborted>>>;

/// Keeps `e` in `slot` and answers the error that aborts the transaction.
fn abort(slot: &Slot, e: store::Error) -> sqlx::Error {
    match e {
        store::Error::Db(e) => e,
        other => {
            let message = other.to_string();
            if let Ok(mut held) = slot.lock() {
                *held = Some(Aborted::Domain(other));
            }
            sqlx::Error::Protocol(message)
        }
    }
}

fn take(slot: &Slot) -> Option<Aborted> {
    slot.lock().ok().and_then(|mut held| held.take())
}

/// The step, legal for `event`: 404 when unknown, 409 with its state when not.
async fn step_for(
    s: &AppState,
    id: Uuid,
    event: AutomationEvent,
) -> Result<AutomationRow, ApiError> {
    let step =
        s.rt.store
            .automation_step(id)
            .await?
            .ok_or_else(|| no_such(STEP))?;
    let from: AutomationStatus = step.status.parse().map_err(|_| ApiError::internal())?;
    automation::apply(from, event).map_err(|e| conflict(e.to_string()))?;
    Ok(step)
}

/// The saga of the step's order, if checkout started one.
async fn saga_of(s: &AppState, order_id: Uuid) -> Result<Option<SagaRow>, ApiError> {
    let Some(order) = s.rt.store.hardware_order(order_id).await? else {
        return Ok(None);
    };
    match order.saga_id {
        Some(id) => Ok(Some(s.rt.store.get_saga(id).await?)),
        None => Ok(None),
    }
}

/// Retries the parked `saga` with `write` committing in the same audited transaction; the
/// saga's new status, or why the write gave up.
async fn retry_saga_with(
    s: &AppState,
    who: &Principal,
    saga: &SagaRow,
    reason: String,
    write: DomainWrite,
    slot: &Slot,
) -> Result<Result<String, Aborted>, ApiError> {
    let def =
        s.rt.definition(&saga.workflow, saga.workflow_version)
            .await?
            .ok_or_else(ApiError::internal)?;
    let who = Actor {
        name: who.name.clone(),
        role: who.role.as_str().into(),
        reason,
        job_id: None,
    };
    let done = crate::engine::operator::apply_with(
        &s.rt.store,
        saga.id,
        Event::OperatorRetry,
        &def,
        &who,
        s.rt.clock.now(),
        Some(write),
    )
    .await;
    match (done, take(slot)) {
        (Ok(state), _) => Ok(Ok(state.status().to_string())),
        (Err(_), Some(aborted)) => Ok(Err(aborted)),
        (Err(e), None) => Err(ApiError::from(e)),
    }
}

/// Queues a failed step again with a fresh set of attempts; a saga parked on it is retried
/// in the same transaction.
#[utoipa::path(post, path = "/v1/automation-steps/{id}/retry", operation_id = "retry_automation_step", tag = "hardware",
    params(("id" = String, Path, description = "automation step id")), request_body = ActionRequest,
    responses((status = 202, description = "queued: automation_step_id, status, saga_status"),
        (status = 404, description = "no such automation step"), (status = 409, description = "the step is not failed")))]
pub(crate) async fn retry(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id, STEP)?;
    let saga_status = retry_step(&s, &who, id, &req.reason).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "automation_step_id": id, "status": "queued", "saga_status": saga_status })),
    ))
}

/// The retry itself, for the API and the console alike: the step's order's saga status after
/// it (`None` when checkout started no saga).
pub(crate) async fn retry_step(
    s: &AppState,
    who: &Principal,
    id: Uuid,
    reason: &str,
) -> Result<Option<String>, ApiError> {
    let reason = check_reason(reason)?;
    let step = step_for(s, id, AutomationEvent::Retry).await?;
    let saga = saga_of(s, step.order_id).await?;
    let by = actor(who);
    let now = s.rt.clock.now();
    let saga_status = match saga {
        Some(saga) if saga.status == "parked" => {
            let slot: Slot = Arc::default();
            let held = slot.clone();
            let write: DomainWrite = Box::new(move |conn| {
                Box::pin(async move {
                    requeue_automation_in(conn, id, &by, now)
                        .await
                        .map(|_| ())
                        .map_err(|e| abort(&held, e))
                })
            });
            match retry_saga_with(s, who, &saga, reason, write, &slot).await? {
                Ok(status) => Some(status),
                Err(Aborted::Domain(e)) => return Err(store_error(STEP)(e)),
                Err(Aborted::StillFailing) => return Err(ApiError::internal()),
            }
        }
        saga => {
            s.rt.store
                .requeue_automation(id, &by, now)
                .await
                .map_err(store_error(STEP))?;
            saga.map(|s| s.status)
        }
    };
    s.rt.wake.notify_one();
    Ok(saga_status)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FallbackRequest {
    /// What the operator did by hand (1 to 1000 characters).
    pub note: String,
    /// Also run the step's scenario through the legacy bridge now (the legacy operation),
    /// under its own correlation id; a bridge failure is 502 and records nothing.
    #[serde(default)]
    pub launch_legacy: bool,
}

/// Records that the operator ran the scenario's manual fallback for a failed (or retrying)
/// step. When that leaves no step of the order failed and its saga is parked, the saga is
/// retried in the same transaction so it moves on.
#[utoipa::path(post, path = "/v1/automation-steps/{id}/fallback", operation_id = "fallback_automation_step", tag = "hardware",
    params(("id" = String, Path, description = "automation step id")), request_body = FallbackRequest,
    responses((status = 200, description = "resolved: automation_step_id, status, saga_status"),
        (status = 400, description = "note missing or too long"),
        (status = 404, description = "no such automation step"), (status = 409, description = "the step is neither failed nor retrying"),
        (status = 502, description = "launch_legacy: the bridge did not run the legacy operation; nothing recorded")))]
pub(crate) async fn fallback(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Extension(providers): Extension<Arc<crate::providers::Providers>>,
    Extension(settings): Extension<Arc<crate::families::hardware::HardwareSettings>>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<FallbackRequest>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, STEP)?;
    fallback_step(
        &s,
        &who,
        &providers,
        &settings,
        id,
        &req.note,
        req.launch_legacy,
    )
    .await
    .map(Json)
}

/// The fallback itself, for the API and the console alike: the answer's body.
pub(crate) async fn fallback_step(
    s: &AppState,
    who: &Principal,
    providers: &Arc<crate::providers::Providers>,
    settings: &Arc<crate::families::hardware::HardwareSettings>,
    id: Uuid,
    note: &str,
    launch_legacy: bool,
) -> Result<Value, ApiError> {
    let note = note.trim().to_string();
    if note.is_empty() || note.chars().count() > 1000 {
        return Err(ApiError::bad_request(
            "note_required",
            "give a note of 1 to 1000 characters",
        ));
    }
    let step = step_for(s, id, AutomationEvent::Fallback).await?;
    let order_id = step.order_id;
    let saga = saga_of(s, order_id).await?;
    let others_failed =
        s.rt.store
            .automation_steps_for_order(order_id)
            .await?
            .iter()
            .any(|a| a.id != id && a.status == AutomationStatus::Failed.as_str());
    let by = actor(who);
    let legacy_operation = match launch_legacy {
        true => Some(
            super::legacy_operation::launch(
                s,
                providers,
                settings,
                &step,
                saga.as_ref().map(|g| g.id),
                &by,
            )
            .await?,
        ),
        false => None,
    };
    let now = s.rt.clock.now();
    let mut saga_status = saga.as_ref().map(|s| s.status.clone());
    let mut done = false;
    if let Some(saga) = saga
        .as_ref()
        .filter(|s| s.status == "parked" && !others_failed)
    {
        let slot: Slot = Arc::default();
        let held = slot.clone();
        let (by, text) = (by.clone(), note.clone());
        let write: DomainWrite = Box::new(move |conn| {
            Box::pin(async move {
                fallback_automation_in(conn, id, &text, &by, now)
                    .await
                    .map_err(|e| abort(&held, e))?;
                if !no_failed_automation_in(conn, order_id)
                    .await
                    .map_err(|e| abort(&held, e))?
                {
                    if let Ok(mut h) = held.lock() {
                        *h = Some(Aborted::StillFailing);
                    }
                    return Err(sqlx::Error::Protocol(
                        "another automation step failed".into(),
                    ));
                }
                Ok(())
            })
        });
        match retry_saga_with(s, who, saga, note.clone(), write, &slot).await? {
            Ok(status) => {
                saga_status = Some(status);
                done = true;
            }
            Err(Aborted::Domain(e)) => return Err(store_error(STEP)(e)),
            // Another step failed meanwhile: record the fallback alone below.
            Err(Aborted::StillFailing) => {}
        }
    }
    if !done {
        s.rt.store
            .fallback_automation(id, &note, &by, now)
            .await
            .map_err(store_error(STEP))?;
    }
    s.rt.wake.notify_one();
    let mut body = json!({
        "automation_step_id": id,
        "status": AutomationStatus::FallbackTriggered.as_str(),
        "saga_status": saga_status,
    });
    if let Some(op) = legacy_operation {
        body["legacy_operation"] = op;
    }
    Ok(body)
}
