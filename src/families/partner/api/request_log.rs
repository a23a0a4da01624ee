//! The partner API's request log: a layer around every `/v1/partner` route that records each
//! request after it is answered, admitted or refused (a bad key, bad JSON, the rate limit):
//! the account its key matched, a masked hint of the key, the path, the status and both
//! bodies. Phone numbers and e-mail addresses are masked (`domain::pii`), fields named like
//! keys, secrets or tokens are blanked, and each body is cut to [`MAX_LOGGED`] bytes, so the
//! log holds nothing a partner's customer or key could be read back from.
//!
//! Bodies are buffered to be logged: a request declaring more than [`MAX_BUFFERED`] bytes is
//! passed on unread (the handler refuses it as too large) and logged without its body.

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{PartnerApi, PartnerError, same};
use crate::domain::pii::{mask_json, mask_text};
use crate::families::partner::store_requests::NewPartnerRequest;

/// Most bytes of each body kept in the log.
pub(crate) const MAX_LOGGED: usize = 4096;
/// Most bytes of a body read to log it: above the server's body limit, which refuses it anyway.
const MAX_BUFFERED: usize = 1 << 20;

/// Records the request and its answer, then returns the answer unchanged.
pub(super) async fn record(
    Extension(api): Extension<Arc<PartnerApi>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    // The wall clock: when the request really arrived, whatever the engine's clock says.
    let received_at = Utc::now();
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let (request_body, body) = if declared.is_some_and(|n| n > MAX_BUFFERED) {
        (
            Some("(body not logged: over the size limit)".to_string()),
            body,
        )
    } else {
        match to_bytes(body, MAX_BUFFERED).await {
            Ok(bytes) => (logged_body(&bytes), Body::from(bytes)),
            Err(_) => {
                let answer = PartnerError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    "request body is over the size limit",
                )
                .into_response();
                let entry = entry(&api, &parts.headers, &parts, received_at, started);
                return finish(
                    &api,
                    entry,
                    Some("(body over the size limit)".into()),
                    answer,
                )
                .await;
            }
        }
    };
    let entry = entry(&api, &parts.headers, &parts, received_at, started);
    let answer = next.run(Request::from_parts(parts, body)).await;
    finish(&api, entry, request_body, answer).await
}

/// What is known of the request before it is answered.
fn entry(
    api: &PartnerApi,
    headers: &HeaderMap,
    parts: &axum::http::request::Parts,
    received_at: chrono::DateTime<Utc>,
    started: Instant,
) -> (NewPartnerRequest, Instant) {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim())
        .filter(|k| !k.is_empty());
    let partner_id = key.and_then(|k| {
        let hash = hex::encode(Sha256::digest(k.as_bytes()));
        api.accounts
            .iter()
            .find(|a| {
                same(
                    a.key_sha256.to_ascii_lowercase().as_bytes(),
                    hash.as_bytes(),
                )
            })
            .map(|a| a.id.clone())
    });
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |pq| pq.as_str());
    let row = NewPartnerRequest {
        partner_id,
        key_hint: key.map(key_hint),
        method: parts.method.as_str().to_string(),
        path: bounded(mask_text(path).into_owned()),
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(|k| bounded(mask_text(k).into_owned())),
        status: 0,
        request_body: None,
        response_body: None,
        duration_ms: 0,
        received_at,
    };
    (row, started)
}

/// Buffers the answer to log its body, writes the row and hands the answer back. A failed
/// write is logged and the partner still gets its answer.
async fn finish(
    api: &PartnerApi,
    (mut row, started): (NewPartnerRequest, Instant),
    request_body: Option<String>,
    answer: Response,
) -> Response {
    let (parts, body) = answer.into_parts();
    let bytes = to_bytes(body, MAX_BUFFERED).await.unwrap_or_default();
    row.status = i32::from(parts.status.as_u16());
    row.request_body = request_body;
    row.response_body = logged_body(&bytes);
    row.duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    if let Err(e) = api.store.record_partner_request(&row).await {
        tracing::warn!(error = %e, "partner request not logged");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A body as it is logged: JSON with its strings masked and key-like fields blanked, anything
/// else as masked text; cut to [`MAX_LOGGED`] bytes. `None` when empty.
fn logged_body(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let text = match serde_json::from_slice::<Value>(bytes) {
        Ok(mut v) => {
            blank_secrets(&mut v);
            mask_json(&mut v);
            v.to_string()
        }
        Err(_) => mask_text(&String::from_utf8_lossy(bytes)).into_owned(),
    };
    Some(bounded(text))
}

/// Blanks the values of fields whose names say they hold a credential.
fn blank_secrets(v: &mut Value) {
    match v {
        Value::Object(fields) => {
            for (name, value) in fields.iter_mut() {
                let n = name.to_ascii_lowercase().replace(['_', '-'], "");
                let secret = n == "key"
                    || ["apikey", "secret", "token", "password", "authorization"]
                        .iter()
                        .any(|s| n.contains(s));
                if secret {
                    *value = Value::String("****".into());
                } else {
                    blank_secrets(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(blank_secrets),
        _ => {}
    }
}

/// The first four characters of a key, the rest masked: enough to tell two keys apart.
fn key_hint(key: &str) -> String {
    let shown: String = key.chars().take(4).collect();
    if key.chars().count() <= 8 {
        "****".into()
    } else {
        format!("{shown}****")
    }
}

/// `text` cut to [`MAX_LOGGED`] bytes at a character boundary, marked when cut.
fn bounded(mut text: String) -> String {
    if text.len() <= MAX_LOGGED {
        return text;
    }
    let mut end = MAX_LOGGED;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str("…(cut)");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_masked_blanked_and_bounded() {
        let body = br#"{"customerPhone":"+233241234567","customerEmail":"ama@example.com","apiKey":"sk_live_123","nested":{"token":"t"},"orderId":"T2M-1"}"#;
        let logged = logged_body(body).unwrap();
        assert!(!logged.contains("241234567"), "{logged}");
        assert!(!logged.contains("ama@example.com"), "{logged}");
        assert!(!logged.contains("sk_live_123"), "{logged}");
        assert!(logged.contains("024****567"), "{logged}");
        assert!(logged.contains("T2M-1"), "{logged}");
        assert!(!logged.contains("\"t\""), "{logged}");
        let raw = logged_body(b"{\"customerPhone\": \"0241234567\"").unwrap();
        assert!(!raw.contains("0241234567"), "{raw}");
        let big = logged_body("é".repeat(5000).as_bytes()).unwrap();
        assert!(big.len() <= MAX_LOGGED + "…(cut)".len(), "{}", big.len());
        assert!(big.ends_with("…(cut)"));
        assert_eq!(logged_body(b""), None);
    }

    #[test]
    fn keys_show_four_characters_at_most() {
        assert_eq!(key_hint("sim_partner_api_key"), "sim_****");
        assert_eq!(key_hint("short"), "****");
    }
}
