//! Inbound provider webhooks, without a database: verify the signature over the raw bytes
//! first, then parse the body into an [`InboundEvent`] the engine can deduplicate, store and
//! correlate to a saga.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::config::{CarrierConfig, ProvidersConfig, WebhookAdapter};
use super::signature::{
    COURIER_SIGNATURE_HEADER, ISHARE_SIGNATURE_HEADER, RESELLER_SIGNATURE_HEADER,
    STRIPE_SIGNATURE_HEADER, SignatureError, verify_reseller, verify_timestamped,
};

/// The header naming the courier when a courier posts to `/v1/webhooks/courier`.
pub const COURIER_CODE_HEADER: &str = "x-courier-code";

/// A verified provider event, ready to be stored as a signal.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundEvent {
    /// `reseller`, `ishare`, `payments` or `courier`.
    pub provider: String,
    /// Deduplication key: the provider's event id, or a stable hash of what the event says.
    pub event_id: String,
    /// Correlation key, namespaced: `reseller:123`, `ishare:<ref>`, `payments:cs_…`,
    /// `courier:<tracking number>`.
    pub reference: String,
    /// Signal name: `reseller.order_status`, `ishare.order_status`, `payments.checkout`,
    /// `payments.refund`, `payments.event`, `courier.tracking`.
    pub signal: String,
    /// The event body (couriers: normalised, with the original under `raw`).
    pub payload: Value,
}

/// Why an inbound webhook was refused. Map to 404/401/400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("unknown webhook provider {0:?}")]
    UnknownProvider(String),
    #[error("bad webhook signature: {0}")]
    BadSignature(SignatureError),
    #[error("malformed webhook body: {0}")]
    Malformed(String),
}

/// Verifies and parses one inbound webhook. `provider` is the path segment of
/// `POST /v1/webhooks/{provider}`: `reseller`, `ishare`, `payments`, `courier` (courier named
/// by the `X-Courier-Code` header, or found by whose secret signed it) or `courier-<code>`.
pub fn verify_inbound(
    provider: &str,
    headers: &HeaderMap,
    body: &[u8],
    cfg: &ProvidersConfig,
    now: DateTime<Utc>,
) -> Result<InboundEvent, WebhookError> {
    let now_unix = now.timestamp();
    let tolerance = cfg.signature_tolerance;
    match provider {
        "reseller" => {
            let secret = non_empty(cfg.reseller.webhook_secret.expose())?;
            verify_reseller(secret, header(headers, RESELLER_SIGNATURE_HEADER), body)
                .map_err(WebhookError::BadSignature)?;
            parse_reseller(body)
        }
        "ishare" => {
            let secret = non_empty(cfg.ishare.webhook_secret.expose())?;
            verify_timestamped(
                secret,
                header(headers, ISHARE_SIGNATURE_HEADER),
                body,
                now_unix,
                tolerance,
            )
            .map_err(WebhookError::BadSignature)?;
            parse_ishare(body)
        }
        "payments" => {
            let secret = non_empty(cfg.payments.webhook_secret.expose())?;
            verify_timestamped(
                secret,
                header(headers, STRIPE_SIGNATURE_HEADER),
                body,
                now_unix,
                tolerance,
            )
            .map_err(WebhookError::BadSignature)?;
            parse_payments(body)
        }
        _ => {
            let code = if provider == "courier" {
                header(headers, COURIER_CODE_HEADER).map(str::to_ascii_lowercase)
            } else if let Some(code) = provider
                .strip_prefix("courier-")
                .or_else(|| provider.strip_prefix("courier."))
            {
                Some(code.to_ascii_lowercase())
            } else {
                return Err(WebhookError::UnknownProvider(provider.to_string()));
            };
            let signature = header(headers, COURIER_SIGNATURE_HEADER);
            let (code, carrier) = match code {
                Some(code) => {
                    let carrier =
                        cfg.courier.carriers.get(&code).ok_or_else(|| {
                            WebhookError::UnknownProvider(format!("courier-{code}"))
                        })?;
                    let secret = non_empty(carrier.webhook_secret.expose())?;
                    verify_timestamped(secret, signature, body, now_unix, tolerance)
                        .map_err(WebhookError::BadSignature)?;
                    (code, carrier)
                }
                None => find_signing_carrier(cfg, signature, body, now_unix)?,
            };
            parse_courier(&code, carrier, body)
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An empty secret would accept anything signed with an empty key: refuse instead.
fn non_empty(secret: &str) -> Result<&[u8], WebhookError> {
    if secret.is_empty() {
        Err(WebhookError::BadSignature(SignatureError::Mismatch))
    } else {
        Ok(secret.as_bytes())
    }
}

/// Without a courier code, the carrier is the one whose secret verifies the signature.
fn find_signing_carrier<'a>(
    cfg: &'a ProvidersConfig,
    signature: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(String, &'a CarrierConfig), WebhookError> {
    let mut last = SignatureError::Missing;
    for (code, carrier) in &cfg.courier.carriers {
        if carrier.webhook_secret.is_empty() {
            continue;
        }
        match verify_timestamped(
            carrier.webhook_secret.expose().as_bytes(),
            signature,
            body,
            now_unix,
            cfg.signature_tolerance,
        ) {
            Ok(()) => return Ok((code.clone(), carrier)),
            Err(SignatureError::Mismatch) => last = SignatureError::Mismatch,
            Err(other) => return Err(WebhookError::BadSignature(other)),
        }
    }
    Err(WebhookError::BadSignature(last))
}

fn parse_json(body: &[u8]) -> Result<Value, WebhookError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(WebhookError::Malformed("body is not a JSON object".into()))
    }
}

/// A string or integer field as text.
fn text_at(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn required(value: &Value, pointer: &str) -> Result<String, WebhookError> {
    text_at(value, pointer).ok_or_else(|| WebhookError::Malformed(format!("missing {pointer}")))
}

fn stable_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update(b"\x1f");
    }
    hex::encode(&hasher.finalize()[..16])
}

fn parse_reseller(body: &[u8]) -> Result<InboundEvent, WebhookError> {
    let payload = parse_json(body)?;
    let order_id = required(&payload, "/order/id")?;
    let status = required(&payload, "/order/status")?;
    let when = text_at(&payload, "/order/updated_at")
        .or_else(|| text_at(&payload, "/timestamp"))
        .unwrap_or_default();
    // The reseller sends no event id; the same order, status and update time is the same event.
    let event_id = format!("order-{order_id}-{status}-{}", stable_hash(&[&when]));
    Ok(InboundEvent {
        provider: "reseller".into(),
        event_id,
        reference: format!("reseller:{order_id}"),
        signal: "reseller.order_status".into(),
        payload,
    })
}

fn parse_ishare(body: &[u8]) -> Result<InboundEvent, WebhookError> {
    let payload = parse_json(body)?;
    let reference = required(&payload, "/reference")?;
    let status = required(&payload, "/status")?;
    let event_id = text_at(&payload, "/id").unwrap_or_else(|| {
        let when = text_at(&payload, "/occurred_at").unwrap_or_default();
        format!("{reference}-{status}-{}", stable_hash(&[&when]))
    });
    Ok(InboundEvent {
        provider: "ishare".into(),
        event_id,
        reference: format!("ishare:{reference}"),
        signal: "ishare.order_status".into(),
        payload,
    })
}

fn parse_payments(body: &[u8]) -> Result<InboundEvent, WebhookError> {
    let payload = parse_json(body)?;
    let event_id = required(&payload, "/id")?;
    let kind = required(&payload, "/type")?;
    let object_id = required(&payload, "/data/object/id")?;
    let (signal, reference) = if kind.starts_with("checkout.session.") {
        ("payments.checkout", object_id)
    } else if kind.starts_with("refund.") || kind == "charge.refunded" {
        let intent = text_at(&payload, "/data/object/payment_intent").unwrap_or(object_id);
        ("payments.refund", intent)
    } else {
        ("payments.event", object_id)
    };
    Ok(InboundEvent {
        provider: "payments".into(),
        event_id,
        reference: format!("payments:{reference}"),
        signal: signal.into(),
        payload,
    })
}

/// Maps a courier's status word to sagaflow's tracking statuses.
pub fn normalise_courier_status(raw: &str) -> String {
    let key = raw.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    match key.as_str() {
        "label_created" | "pre_transit" | "created" | "accepted" => "label_created".into(),
        "in_transit" | "transit" | "picked_up" => "in_transit".into(),
        "out_for_delivery" => "out_for_delivery".into(),
        "delivered" => "delivered".into(),
        "exception" | "failure" | "failed" => "exception".into(),
        "returned" | "return_to_sender" => "returned".into(),
        "cancelled" | "canceled" | "voided" => "cancelled".into(),
        _ => key,
    }
}

fn parse_courier(
    code: &str,
    carrier: &CarrierConfig,
    body: &[u8],
) -> Result<InboundEvent, WebhookError> {
    let raw = parse_json(body)?;
    let (event_id, tracking, status, occurred_at) = match carrier.webhook_adapter {
        WebhookAdapter::Flat => (
            text_at(&raw, "/event_id"),
            required(&raw, "/tracking_number")?,
            required(&raw, "/status")?,
            text_at(&raw, "/occurred_at"),
        ),
        WebhookAdapter::Envelope => (
            text_at(&raw, "/event/id"),
            required(&raw, "/data/trackingNumber")?,
            required(&raw, "/data/statusCode")?,
            text_at(&raw, "/data/timestamp"),
        ),
    };
    let status = normalise_courier_status(&status);
    let event_id = event_id.unwrap_or_else(|| {
        format!(
            "{code}-{tracking}-{status}-{}",
            stable_hash(&[occurred_at.as_deref().unwrap_or("")])
        )
    });
    Ok(InboundEvent {
        provider: "courier".into(),
        event_id,
        reference: format!("courier:{tracking}"),
        signal: "courier.tracking".into(),
        payload: json!({
            "courier": code,
            "tracking_number": tracking,
            "status": status,
            "occurred_at": occurred_at,
            "raw": raw,
        }),
    })
}
