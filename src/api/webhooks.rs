//! `POST /v1/webhooks/{provider}`: verify the signature over the raw bytes before parsing,
//! then store the event as a signal for the saga its reference names (deduplicated by the
//! provider's event id) and wake that saga, in one transaction. The providers, their
//! verification and their metric labels are `providers::webhooks::INBOUND`. With
//! `[providers.legacy_forward] enabled`, a new payment event also gets an outbox row in that
//! transaction, which forwards it to the legacy service.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::providers::legacy_forward;
use crate::providers::webhooks::{self, Webhook, WebhookError};
use crate::store::{Delivered, Forward, NewSignal};
use crate::telemetry as m;

/// 200 accepted or duplicate, 202 kept for a reference no saga has registered yet, 401 bad
/// signature, 400 malformed, 404 unknown provider, 413 too large. Only 200/202 change anything.
#[utoipa::path(post, path = "/v1/webhooks/{provider}", tag = "webhooks", security(()),
    params(("provider" = String, Path, description = "reseller, ishare, payments or a courier")),
    request_body(content = String, description = "the provider's signed body"),
    responses((status = 200, description = "accepted or duplicate"), (status = 202, description = "kept for a later saga"), (status = 401, description = "bad signature")))]
pub async fn receive(
    State(s): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = body.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "request body is over the size limit",
        )
    })?;
    let now = s.rt.clock.now();
    let Some(contract) = webhooks::inbound(&provider) else {
        let e = WebhookError::UnknownProvider(provider);
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_provider",
            e.to_string(),
        ));
    };
    let webhook = Webhook {
        path: &provider,
        headers: &headers,
        body: &body,
        cfg: &s.settings.providers,
        now,
    };
    let event = contract.verify(&webhook).map_err(|e| {
        let (status, code, result) = match &e {
            WebhookError::UnknownProvider(_) => (StatusCode::NOT_FOUND, "unknown_provider", None),
            WebhookError::BadSignature(_) => (StatusCode::UNAUTHORIZED, "bad_signature", Some("bad_signature")),
            WebhookError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed", Some("malformed")),
        };
        // The path is caller-chosen: only a known provider's name becomes a metric label.
        if let Some(result) = result {
            metrics::counter!(m::WEBHOOKS_RECEIVED_TOTAL, "provider" => contract.name, "result" => result).increment(1);
        }
        ApiError::new(status, code, e.to_string())
    })?;
    let signal = NewSignal {
        saga_id: None,
        correlation_key: Some(event.reference.clone()),
        name: event.signal.to_string(),
        dedup_key: format!("{}:{}", event.provider, event.event_id),
        payload: event.payload,
    };
    // The legacy service still hears the processor's events: each verified one, once.
    let forward = (contract.name == webhooks::payments::CONTRACT.name
        && s.settings.providers.legacy_forward.enabled)
        .then(|| Forward {
            topic: legacy_forward::TOPIC,
            payload: json!({
                "provider": event.provider,
                "event_id": event.event_id,
                "signal": event.signal,
                "reference": event.reference,
                "received_at": now,
                "body": String::from_utf8_lossy(&body),
            }),
        });
    let delivered =
        s.rt.store
            .deliver_signal_forwarding(&signal, forward.as_ref(), now)
            .await?;
    let (status, result) = match delivered {
        Delivered::Accepted(_) => (StatusCode::OK, "accepted"),
        Delivered::Duplicate => (StatusCode::OK, "duplicate"),
        Delivered::Uncorrelated => (StatusCode::ACCEPTED, "uncorrelated"),
    };
    metrics::counter!(m::WEBHOOKS_RECEIVED_TOTAL, "provider" => event.provider, "result" => result)
        .increment(1);
    if let Delivered::Accepted(_) = delivered {
        s.rt.wake.notify_one();
    }
    // Events no saga waits for (a checkout opened from a family's own page, say) go to the
    // families that listen. Listeners are idempotent, so a redelivery after a failed first
    // try still records the event.
    for listener in s.signal_listeners.iter() {
        listener
            .heard(&s, &signal.name, &signal.payload, now)
            .await?;
    }
    Ok((
        status,
        Json(json!({ "result": result, "event_id": event.event_id, "reference": event.reference })),
    ))
}
