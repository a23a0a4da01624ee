//! The console's actions: retry, resume or cancel one saga, and bulk retry from the
//! needs-attention page. Operators only, CSRF-checked, each with a required reason.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use uuid::Uuid;

use super::csrf_ok;
use crate::api::auth::Principal;
use crate::api::ops::bulk::{BulkRequest, prepare, start};
use crate::api::sagas::{SagaId, apply_action};
use crate::api::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ActionForm {
    pub reason: String,
    pub csrf: String,
}

/// Refuses anyone but an operator posting this session's CSRF token.
pub(crate) fn guard(who: &Principal, csrf: &str) -> Result<(), Box<Response>> {
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
                Html("Only operators can act on sagas."),
            )
                .into_response(),
        ));
    }
    Ok(())
}

pub(crate) fn notice(path: &str, text: &str) -> Response {
    let q = serde_urlencoded::to_string([("notice", text)]).unwrap_or_default();
    Redirect::to(&format!("{path}?{q}")).into_response()
}

/// Applies one action and returns to the saga with what happened.
#[utoipa::path(post, path = "/ui/sagas/{id}/{action}", tag = "console",
    params(("id" = String, Path, description = "saga id"), ("action" = String, Path, description = "retry, resume or cancel")),
    responses((status = 303, description = "back to the saga")))]
pub async fn operate(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Err(res) = guard(&who, &f.csrf) {
        return *res;
    }
    let id = match SagaId::parse(&id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let path = format!("/ui/sagas/{}", id.0);
    match apply_action(&s, &who, id.0, &action, &f.reason).await {
        Ok(state) => notice(
            &path,
            &format!("{action} recorded; the saga is now {}", state.status()),
        ),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND => {
            notice(&path, &format!("Not done: {}", e.message))
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct BulkForm {
    pub reason: String,
    pub csrf: String,
    /// Chosen saga ids; none means every failed or parked saga.
    #[serde(default)]
    pub ids: Vec<Uuid>,
}

/// Starts a bulk retry job and shows its progress page.
#[utoipa::path(post, path = "/ui/attention/retry", tag = "console",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "csrf, reason and any number of ids"),
    responses((status = 303, description = "to the job's progress")))]
pub(crate) async fn bulk_retry(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    body: axum::body::Bytes,
) -> Response {
    // Repeated `ids` fields need the pairs form; axum's Form would keep only one.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let form = BulkForm {
        reason: get("reason"),
        csrf: get("csrf"),
        ids: pairs
            .iter()
            .filter(|(k, _)| k == "ids")
            .filter_map(|(_, v)| v.parse().ok())
            .collect(),
    };
    if let Err(res) = guard(&who, &form.csrf) {
        return *res;
    }
    let req = BulkRequest {
        action: "retry".into(),
        filter: form
            .ids
            .is_empty()
            .then(|| crate::api::ops::search::SearchParams {
                status: Some("failed,parked".into()),
                ..Default::default()
            }),
        ids: (!form.ids.is_empty()).then_some(form.ids),
        reason: form.reason,
        dry_run: false,
    };
    let result: Result<Uuid, ApiError> = async {
        let (job, _) = prepare(&s, &who, req).await?;
        start(&s, &job).await
    }
    .await;
    match result {
        Ok(id) => Redirect::to(&format!("/ui/jobs/{id}")).into_response(),
        Err(e) if e.status.is_client_error() => {
            notice("/ui/attention", &format!("Not started: {}", e.message))
        }
        Err(e) => e.into_response(),
    }
}
