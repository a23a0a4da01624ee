//! `GET /v1/partner/requests?account=&limit=`: the partner API's request log for support,
//! newest first, already masked when it was written (`api::request_log`). Operators only: the
//! log shows what partners sent, so viewers and services do not read it.

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::auth::{self, Tokens};
use crate::api::{ApiError, AppState, guard};

/// Most rows one call returns.
pub(crate) const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestsQuery {
    /// The partner account id (`T2MOBILE001`); all accounts when absent.
    account: Option<String>,
    /// Rows to return, 1-500; 50 when absent.
    limit: Option<i64>,
}

/// The operator routes over the request log.
pub(crate) fn routes(tokens: &Tokens) -> Router<AppState> {
    guard(tokens, auth::OPERATE)(Router::new().route("/v1/partner/requests", get(list)))
}

/// The logged partner API requests, newest first.
#[utoipa::path(get, path = "/v1/partner/requests", operation_id = "partner_requests", tag = "partner",
    params(RequestsQuery),
    responses((status = 200, description = "{requests: [...]}"), (status = 400, description = "bad account or limit")))]
pub(crate) async fn list(
    State(s): State<AppState>,
    query: Result<Query<RequestsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let account = q.account.as_deref().map(str::trim);
    if account.is_some_and(|a| a.is_empty() || a.len() > 100 || a.contains(char::is_control)) {
        return Err(ApiError::bad_request(
            "invalid_account",
            "account must be a partner account id of 1-100 characters",
        ));
    }
    let rows = s.rt.store.partner_requests(account, limit).await?;
    Ok(Json(json!({ "requests": rows })))
}
