//! The couriers' inbound contract: tracking events signed `X-Courier-Signature: t=,v1=` with
//! the carrier's own secret, in the carrier's adapter (`flat` or `envelope`), normalised and
//! correlated by tracking number. The carrier is named by the path (`courier-<code>`), else by
//! the `X-Courier-Code` header, else it is the one whose secret signed the body.

use serde_json::json;

use super::{
    Inbound, InboundEvent, Webhook, WebhookError, non_empty, parse_json, required, stable_hash,
    text_at,
};
use crate::providers::config::{CarrierConfig, ProvidersConfig, WebhookAdapter};
use crate::providers::signature::{COURIER_SIGNATURE_HEADER, SignatureError, verify_timestamped};

pub const NAME: &str = "courier";

/// The header naming the courier when a courier posts to `/v1/webhooks/courier`.
pub const COURIER_CODE_HEADER: &str = "x-courier-code";

/// A shipment's tracking status changed (normalised by [`normalise_courier_status`]).
pub const TRACKING: &str = "courier.tracking";

/// The correlation key of a courier id: `courier:<id>`. A shipment's id is its carrier's code
/// and its tracking number: see [`shipment_reference`].
pub fn reference(id: &str) -> String {
    format!("{NAME}:{id}")
}

/// The correlation key of one carrier's tracking number: `courier:<carrier>:<tracking>`. The
/// carrier is part of it, so an event signed with one carrier's secret cannot reach another
/// carrier's shipment, and equal tracking numbers at two carriers do not collide. The hardware
/// timeline's SQL spells the same key (`'courier:' || lower(code) || ':' || tracking`).
pub fn shipment_reference(carrier: &str, tracking_number: &str) -> String {
    reference(&format!(
        "{}:{tracking_number}",
        carrier.to_ascii_lowercase()
    ))
}

pub const CONTRACT: Inbound = Inbound {
    name: NAME,
    signals: &[TRACKING],
    reference,
    also_at: |path| code_in_path(path).is_some(),
    verify,
};

/// The carrier code of `courier-<code>` (or `courier.<code>`).
fn code_in_path(path: &str) -> Option<&str> {
    path.strip_prefix("courier-")
        .or_else(|| path.strip_prefix("courier."))
}

fn verify(w: &Webhook<'_>) -> Result<InboundEvent, WebhookError> {
    let code = if w.path == NAME {
        w.header(COURIER_CODE_HEADER).map(str::to_ascii_lowercase)
    } else if let Some(code) = code_in_path(w.path) {
        Some(code.to_ascii_lowercase())
    } else {
        return Err(WebhookError::UnknownProvider(w.path.to_string()));
    };
    let signature = w.header(COURIER_SIGNATURE_HEADER);
    let now_unix = w.now.timestamp();
    let (code, carrier) = match code {
        Some(code) => {
            let carrier = w
                .cfg
                .courier
                .carriers
                .get(&code)
                .ok_or_else(|| WebhookError::UnknownProvider(format!("courier-{code}")))?;
            let secret = non_empty(carrier.webhook_secret.expose())?;
            verify_timestamped(
                secret,
                signature,
                w.body,
                now_unix,
                w.cfg.signature_tolerance,
            )
            .map_err(WebhookError::BadSignature)?;
            (code, carrier)
        }
        None => find_signing_carrier(w.cfg, signature, w.body, now_unix)?,
    };
    parse(&code, carrier, w.body)
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

fn parse(code: &str, carrier: &CarrierConfig, body: &[u8]) -> Result<InboundEvent, WebhookError> {
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
    // Carriers number their events each on their own: the carrier is part of the id, so one
    // carrier's event can never pass for a duplicate of another's.
    let event_id = match event_id {
        Some(id) => format!("{code}:{id}"),
        None => format!(
            "{code}-{tracking}-{status}-{}",
            stable_hash(&[occurred_at.as_deref().unwrap_or("")])
        ),
    };
    Ok(InboundEvent {
        provider: NAME,
        event_id,
        reference: shipment_reference(code, &tracking),
        signal: TRACKING,
        payload: json!({
            "courier": code,
            "tracking_number": tracking,
            "status": status,
            "occurred_at": occurred_at,
            "raw": raw,
        }),
    })
}
