//! API errors: JSON `{"error": {"code", "message"}}` with a fitting status. Internal error text
//! is logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::error;

use crate::store;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response()
    }
}

impl From<crate::engine::runtime::StartError> for ApiError {
    fn from(e: crate::engine::runtime::StartError) -> Self {
        match e {
            crate::engine::runtime::StartError::UnknownWorkflow(name) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "workflow_unavailable",
                format!("the {name} workflow is not loaded on this server"),
            ),
            crate::engine::runtime::StartError::Store(e) => e.into(),
        }
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::NotFound => ApiError::not_found("no such saga"),
            store::Error::IdempotencyConflict { saga_id } => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_conflict",
                format!(
                    "this Idempotency-Key already started saga {saga_id} with a different request"
                ),
            ),
            store::Error::Illegal(illegal) => ApiError::new(
                StatusCode::CONFLICT,
                "illegal_transition",
                illegal.to_string(),
            ),
            store::Error::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "illegal_transition", message)
            }
            store::Error::Invalid(message) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
            }
            other => {
                error!(error = %other, "request failed");
                ApiError::internal()
            }
        }
    }
}
