//! How every partner route answers a failure: `{success: false, errorCode, message}` with the
//! status (and `Retry-After` when rate limited), store and start errors logged and answered
//! as internal.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::engine::runtime::StartError;

/// An error in the partner's format.
#[derive(Debug)]
pub struct PartnerError {
    status: StatusCode,
    code: &'static str,
    message: String,
    pub(super) retry_after: Option<u64>,
}

impl PartnerError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(super) fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(super) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "internal error; try again later",
        )
    }
}

impl IntoResponse for PartnerError {
    fn into_response(self) -> Response {
        let body = json!({ "success": false, "errorCode": self.code, "message": self.message });
        let mut res = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

impl From<crate::store::Error> for PartnerError {
    fn from(e: crate::store::Error) -> Self {
        tracing::error!(error = %e, "partner request failed");
        PartnerError::internal()
    }
}

impl From<StartError> for PartnerError {
    fn from(e: StartError) -> Self {
        tracing::error!(error = %e, "partner request failed");
        PartnerError::internal()
    }
}
