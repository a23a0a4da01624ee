//! Retrying data-bundle orders from the console: one order from its page or its row, or the
//! chosen failed orders at once. Operators only, with this session's CSRF token and a reason,
//! audited like the saga actions.
//!
//! What a retry does depends on where the order stands:
//! - its saga is failed, parked, or waiting to retry a failed attempt: the saga's own retry
//!   (`apply_action`), which runs the step again now;
//! - it was refunded (its saga `compensated`): it is placed again as a new order and saga,
//!   linked to it (`data_bundle::reorder`), or refused with the wallet's shortfall.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use uuid::Uuid;

use super::pages::{BundleQuery, retry_label};
use crate::api::auth::Principal;
use crate::api::sagas::{apply_action, check_reason};
use crate::api::ui::actions::{ActionForm, guard};
use crate::api::{ApiError, AppState};
use crate::families::data_bundle::reorder::place_again;

/// Most orders one bulk retry takes: one page of the list and then some.
const MAX_BULK: usize = 100;

/// Where one order's retry left it: the order to show and what happened.
struct Retried {
    land_on: Uuid,
    what: String,
}

fn conflict(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "not_retryable", message)
}

/// Retries order `id` as its state calls for (see the module's notes).
async fn retry_order(
    s: &AppState,
    who: &Principal,
    id: Uuid,
    reason: &str,
) -> Result<Retried, ApiError> {
    let line =
        s.rt.store
            .bundle_line(id)
            .await?
            .ok_or_else(|| ApiError::not_found("no such data-bundle order"))?;
    match retry_label(&line.state, &line.saga_status) {
        "Place again" => {
            let r = place_again(s, who, id, reason).await?;
            let what = if r.created {
                format!(
                    "{} placed again as {}: a new order that debits the wallet GHS {}",
                    line.order_code,
                    r.order.order_code,
                    crate::domain::money::Minor(r.order.price_minor)
                )
            } else {
                format!(
                    "{} was placed again already, as {}",
                    line.order_code, r.order.order_code
                )
            };
            Ok(Retried {
                land_on: r.order.id,
                what,
            })
        }
        "Retry" => {
            let state = apply_action(s, who, line.saga_id, "retry", reason).await?;
            Ok(Retried {
                land_on: id,
                what: format!(
                    "{} retried; its saga is now {}",
                    line.order_code,
                    state.status()
                ),
            })
        }
        _ => Err(conflict(format!(
            "{} is {} (saga {}); only failed orders are retried",
            line.order_code, line.state, line.saga_status
        ))),
    }
}

fn to(path: &str, query: &str, notice: &str) -> Response {
    let n = serde_urlencoded::to_string([("notice", notice)]).unwrap_or_default();
    let sep = if query.is_empty() { "" } else { "&" };
    Redirect::to(&format!("{path}?{query}{sep}{n}")).into_response()
}

/// Retries one order from its page; back to the order it landed on (the new one when it was
/// placed again) with what happened, or why not.
#[utoipa::path(post, path = "/ui/bundles/{id}/retry", tag = "console",
    params(("id" = String, Path, description = "order id")),
    responses((status = 303, description = "to the order, with what happened"), (status = 403, description = "not an operator, or a stale form"),
        (status = 404, description = "no such order")))]
pub async fn retry(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Err(res) = guard(&who, &f.csrf) {
        return *res;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return ApiError::bad_request("invalid_id", "an order id is a UUID").into_response();
    };
    match retry_order(&s, &who, id, &f.reason).await {
        Ok(r) => to(&format!("/ui/bundles/{}", r.land_on), "", &r.what),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND => to(
            &format!("/ui/bundles/{id}"),
            "",
            &format!("Not done: {}", e.message),
        ),
        Err(e) => e.into_response(),
    }
}

/// Retries the chosen orders (`ids`), or the one whose row button was pressed (`one`), each as
/// its state calls for; back to the list, its filters kept, with what happened to each.
#[utoipa::path(post, path = "/ui/bundles/retry", tag = "console",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "csrf, reason, back, and any number of ids or one"),
    responses((status = 303, description = "to the list, with what happened to each order"), (status = 403, description = "not an operator, or a stale form")))]
pub async fn bulk_retry(
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
    if let Err(res) = guard(&who, &get("csrf")) {
        return *res;
    }
    // Only the list's own filters go back into the address.
    let back = serde_urlencoded::from_str::<BundleQuery>(&get("back"))
        .map(|q| q.filters_query(q.status.as_deref().filter(|s| !s.is_empty())))
        .unwrap_or_default();
    let one = get("one");
    let raw: Vec<&str> = if one.is_empty() {
        pairs
            .iter()
            .filter(|(k, _)| k == "ids")
            .map(|(_, v)| v.as_str())
            .collect()
    } else {
        vec![one.as_str()]
    };
    let mut ids: Vec<Uuid> = Vec::with_capacity(raw.len());
    for r in raw {
        match Uuid::parse_str(r) {
            Ok(id) if !ids.contains(&id) => ids.push(id),
            Ok(_) => {}
            Err(_) => {
                return ApiError::bad_request("invalid_id", format!("{r:?} is not an order id"))
                    .into_response();
            }
        }
    }
    let refuse = |why: String| to("/ui/bundles", &back, &format!("Not done: {why}"));
    if ids.is_empty() {
        return refuse("choose at least one failed order".into());
    }
    if ids.len() > MAX_BULK {
        return refuse(format!(
            "{} orders chosen; retry at most {MAX_BULK} at once",
            ids.len()
        ));
    }
    // A missing reason refuses the lot before anything is retried.
    let reason = match check_reason(&get("reason")) {
        Ok(r) => r,
        Err(e) => return refuse(e.message),
    };
    let (mut done, mut not) = (Vec::new(), Vec::new());
    for id in &ids {
        match retry_order(&s, &who, *id, &reason).await {
            Ok(r) => done.push(r.what),
            Err(e) if e.status.is_client_error() => not.push(e.message),
            Err(e) => return e.into_response(),
        }
    }
    let mut text = format!("Retried {} of {}", done.len(), ids.len());
    if !done.is_empty() {
        text.push_str(&format!(": {}", done.join("; ")));
    }
    if !not.is_empty() {
        text.push_str(&format!(". Not done: {}", not.join("; ")));
    }
    to("/ui/bundles", &back, &text)
}
