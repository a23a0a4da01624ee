//! After a partner is admitted, what a write request must carry: an `Idempotency-Key`, a JSON
//! body within the size limit and its required fields, each refused in the partner's format.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};

use super::PartnerError;

pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<String, PartnerError> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .ok_or_else(|| {
            PartnerError::invalid(
                "MISSING_IDEMPOTENCY_KEY",
                "send an Idempotency-Key header of 1-255 visible ASCII characters",
            )
        })
}

/// Reads a JSON body, answering malformed or oversized bodies in the partner's format.
pub(super) fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, PartnerError> {
    let body = body.map_err(|_| {
        PartnerError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "request body is over the size limit",
        )
    })?;
    serde_json::from_slice(&body)
        .map_err(|e| PartnerError::invalid("INVALID_JSON", format!("body is not valid JSON: {e}")))
}

pub(super) fn required<'a>(
    value: &'a Option<String>,
    field: &str,
) -> Result<&'a str, PartnerError> {
    value
        .as_deref()
        .map(str::trim)
        // Control characters are refused: Postgres would refuse a NUL with a 500.
        .filter(|v| !v.is_empty() && v.len() <= 200 && !v.contains(char::is_control))
        .ok_or_else(|| {
            PartnerError::invalid(
                "VALIDATION_ERROR",
                format!("{field} is required (at most 200 characters, no control characters)"),
            )
        })
}
