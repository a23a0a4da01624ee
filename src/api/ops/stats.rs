//! `GET /v1/stats` (per-workflow outcomes over a window) and `GET /v1/queues` (depth per
//! workflow and step).

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// How far back, such as `24h` or `7d` (default 24h, at most 90d).
    pub window: Option<String>,
}

#[utoipa::path(get, path = "/v1/stats", tag = "ops", params(StatsQuery),
    responses((status = 200, description = "{window_seconds, workflows: [WorkflowStats]}")))]
pub async fn stats(
    State(s): State<AppState>,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let window = humantime::parse_duration(q.window.as_deref().unwrap_or("24h"))
        .ok()
        .filter(|w| w.as_secs() > 0 && w.as_secs() <= 90 * 86_400)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_window",
                "window is a duration such as 24h, up to 90d",
            )
        })?;
    let since =
        s.rt.clock.now() - chrono::Duration::from_std(window).map_err(|_| ApiError::internal())?;
    let rows = s.rt.store.workflow_stats(since).await?;
    Ok(Json(
        json!({ "window_seconds": window.as_secs(), "since": since, "workflows": rows }),
    ))
}

#[utoipa::path(get, path = "/v1/queues", tag = "ops",
    responses((status = 200, description = "{queues: [QueueRow]}")))]
pub async fn queues(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let rows = s.rt.store.queues(s.rt.clock.now()).await?;
    Ok(Json(json!({ "queues": rows })))
}
