//! An operator's retry or fallback of an automation step from the order's page. They call
//! the API's own functions (`api::automation`), so the rules, the saga's audited retry and the
//! answers are the same; here the form is CSRF-checked, operators only, and the operator is
//! sent back to the order with what happened.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use uuid::Uuid;

use super::HardwareSettings;
use crate::api::auth::Principal;
use crate::api::ui::csrf_ok;
use crate::api::{ApiError, AppState, parse_id};
use crate::families::hardware::api::automation::{fallback_step, retry_step};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RetryForm {
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub csrf: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FallbackForm {
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub csrf: String,
    /// A ticked box: also run the scenario through the legacy bridge now.
    #[serde(default)]
    pub launch_legacy: Option<String>,
}

/// Refuses anyone but an operator posting this session's CSRF token.
fn guard(who: &Principal, csrf: &str) -> Result<(), Box<Response>> {
    if !csrf_ok(who, csrf) {
        return Err(Box::new(
            (
                StatusCode::FORBIDDEN,
                Html("This form has expired; reload the page and try again."),
            )
                .into_response(),
        ));
    }
    if !who.can_operate() {
        return Err(Box::new(
            (
                StatusCode::FORBIDDEN,
                Html("Only operators can retry or resolve automation steps."),
            )
                .into_response(),
        ));
    }
    Ok(())
}

/// The step and its order, or the answer for an unknown one.
async fn step_order(s: &AppState, raw: &str) -> Result<(Uuid, Uuid), ApiError> {
    let id = parse_id(raw, "automation step")?;
    let step =
        s.rt.store
            .automation_step(id)
            .await?
            .ok_or_else(|| ApiError::not_found("no such automation step"))?;
    Ok((id, step.order_id))
}

/// Back to the order's step with what happened; a refusal (bad input, wrong state) is said
/// there too, and nothing changed.
fn back(order: Uuid, step: Uuid, result: Result<String, ApiError>) -> Response {
    let text = match result {
        Ok(text) => text,
        Err(e) if e.status.is_client_error() => format!("Not done: {}", e.message),
        Err(e) => return e.into_response(),
    };
    let q = serde_urlencoded::to_string([("notice", text)]).unwrap_or_default();
    Redirect::to(&format!("/ui/orders/{order}?{q}#step-{step}")).into_response()
}

/// Queues a failed step again with fresh attempts, with the operator's reason.
#[utoipa::path(post, path = "/ui/automation-steps/{id}/retry", tag = "console",
    params(("id" = String, Path, description = "automation step id")),
    responses((status = 303, description = "back to the order"), (status = 403, description = "not an operator, or no CSRF token")))]
pub async fn retry(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Form(f): Form<RetryForm>,
) -> Response {
    if let Err(res) = guard(&who, &f.csrf) {
        return *res;
    }
    let (id, order) = match step_order(&s, &id).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let done = retry_step(&s, &who, id, &f.reason).await.map(|saga| {
        format!(
            "Retry queued; the order's saga is {}",
            saga.unwrap_or_else(|| "not started".into())
        )
    });
    back(order, id, done)
}

/// Records the scenario's manual fallback with the operator's note.
#[utoipa::path(post, path = "/ui/automation-steps/{id}/fallback", tag = "console",
    params(("id" = String, Path, description = "automation step id")),
    responses((status = 303, description = "back to the order"), (status = 403, description = "not an operator, or no CSRF token")))]
pub async fn fallback(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Extension(providers): Extension<Arc<crate::providers::Providers>>,
    Extension(settings): Extension<Arc<HardwareSettings>>,
    Path(id): Path<String>,
    Form(f): Form<FallbackForm>,
) -> Response {
    if let Err(res) = guard(&who, &f.csrf) {
        return *res;
    }
    let (id, order) = match step_order(&s, &id).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let launch = f.launch_legacy.is_some();
    let done = fallback_step(&s, &who, &providers, &settings, id, &f.note, launch)
        .await
        .map(|body| {
            let saga = body["saga_status"].as_str().unwrap_or("not started");
            format!("Fallback recorded; the order's saga is {saga}")
        });
    back(order, id, done)
}
