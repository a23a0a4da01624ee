//! `GET /v1/providers` (operators and viewers): every configured provider with its limits,
//! breaker, pauses and last error. `POST /v1/providers/{provider}/pause` and `/resume`
//! (operators): hold or release every call to a provider, or to one of its endpoints, with a
//! reason, audited in `provider_actions`. A resume wakes the sagas held on that provider; a
//! provider-wide one also closes its open breaker (the operator vouches for it: a rotated key).

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use super::json::ApiJson;
use super::{ApiError, AppState};
use crate::providers::gates::{Gates, PauseBy};

/// The longest reason kept: enough for a ticket link and a sentence.
const MAX_REASON: usize = 500;
const MAX_ENDPOINT: usize = 100;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// Why (required for a pause, at most 500 characters); recorded in the audit.
    pub reason: Option<String>,
    /// Only this endpoint (such as `create_order`); the whole provider when absent.
    pub endpoint: Option<String>,
}

fn gates(s: &AppState) -> Result<&Arc<Gates>, ApiError> {
    s.gates.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "gates_unavailable",
            "provider gates are not running on this server",
        )
    })
}

fn db(e: sqlx::Error) -> ApiError {
    tracing::error!(error = %e, "provider gates");
    ApiError::internal()
}

/// The provider, known, and the request checked, as who acts and why (for the audit) and on
/// which endpoint; nothing is written before this passes.
fn checked<'a>(
    gates: &Gates,
    provider: &str,
    who: &'a Principal,
    req: &'a PauseRequest,
    reason_required: bool,
) -> Result<(PauseBy<'a>, &'a str), ApiError> {
    if !gates.knows(provider) {
        return Err(ApiError::not_found(format!("no provider named {provider}")));
    }
    let reason = req.reason.as_deref().map(str::trim).unwrap_or("");
    if reason_required && reason.is_empty() {
        return Err(ApiError::bad_request(
            "reason_required",
            "say why: a pause needs a reason",
        ));
    }
    if reason.chars().count() > MAX_REASON {
        return Err(ApiError::bad_request(
            "reason_too_long",
            format!("the reason is over {MAX_REASON} characters"),
        ));
    }
    let endpoint = req.endpoint.as_deref().map(str::trim).unwrap_or("");
    if endpoint.len() > MAX_ENDPOINT || endpoint.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_endpoint",
            format!("an endpoint name is at most {MAX_ENDPOINT} printable characters"),
        ));
    }
    let by = PauseBy {
        actor: &who.name,
        role: who.role.as_str(),
        reason,
    };
    Ok((by, endpoint))
}

#[utoipa::path(get, path = "/v1/providers", tag = "ops",
    responses((status = 200, description = "{items: [{provider, limits, breaker: {state, failures, opened_at, last_error, last_error_at}, pauses: [{endpoint, reason, paused_by, paused_at}]}]}")))]
pub async fn list(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let items = gates(&s)?.status().await.map_err(db)?;
    Ok(Json(json!({ "items": items })))
}

#[utoipa::path(post, path = "/v1/providers/{provider}/pause", tag = "ops",
    params(("provider" = String, Path, description = "provider name, as GET /v1/providers lists it")),
    request_body = PauseRequest,
    responses((status = 200, description = "paused"), (status = 400, description = "no reason, or a bad one"),
        (status = 404, description = "no such provider")))]
pub async fn pause(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(provider): Path<String>,
    ApiJson(req): ApiJson<PauseRequest>,
) -> Result<Json<Value>, ApiError> {
    let g = gates(&s)?;
    let (by, endpoint) = checked(g, &provider, &who, &req, true)?;
    let now = s.rt.clock.now();
    g.pause(&provider, endpoint, &by, now).await.map_err(db)?;
    Ok(Json(
        json!({ "provider": provider, "endpoint": endpoint, "paused": true, "paused_at": now }),
    ))
}

#[utoipa::path(post, path = "/v1/providers/{provider}/resume", tag = "ops",
    params(("provider" = String, Path, description = "provider name, as GET /v1/providers lists it")),
    request_body = PauseRequest,
    responses((status = 200, description = "resumed; `woken` sagas held on it run now"),
        (status = 404, description = "no such provider"), (status = 409, description = "neither paused nor, provider-wide, held by an open breaker")))]
pub async fn resume(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(provider): Path<String>,
    ApiJson(req): ApiJson<PauseRequest>,
) -> Result<Json<Value>, ApiError> {
    let g = gates(&s)?;
    let (by, endpoint) = checked(g, &provider, &who, &req, false)?;
    let now = s.rt.clock.now();
    if !g.resume(&provider, endpoint, &by, now).await.map_err(db)? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_paused",
            format!(
                "{provider} has no pause on this endpoint to lift and no open breaker to close"
            ),
        ));
    }
    let woken = s.rt.store.wake_held(&provider, now).await?;
    s.rt.wake.notify_waiters();
    Ok(Json(
        json!({ "provider": provider, "endpoint": endpoint, "paused": false, "woken": woken }),
    ))
}
