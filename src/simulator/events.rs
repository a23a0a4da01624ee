//! Signed provider webhooks: the bodies the simulator (and the replay commands) send, and
//! posting them.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::providers::config::{CarrierConfig, WebhookAdapter};
use crate::providers::reseller::ResellerOrder;
use crate::providers::signature::{
    COURIER_SIGNATURE_HEADER, ISHARE_SIGNATURE_HEADER, RESELLER_SIGNATURE_HEADER,
    STRIPE_SIGNATURE_HEADER, sign_reseller, sign_timestamped,
};
use crate::providers::webhooks::COURIER_CODE_HEADER;

/// A webhook ready to post: body bytes and its headers.
#[derive(Debug, Clone)]
pub struct SignedEvent {
    pub event_id: String,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// `order.status_changed`, signed `X-Webhook-Signature: sha256=…`.
pub fn reseller_event(secret: &str, order: &ResellerOrder, now: DateTime<Utc>) -> SignedEvent {
    let body = bytes(&json!({
        "event": "order.status_changed",
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "order": order,
    }));
    SignedEvent {
        event_id: format!("order-{}-{}", order.id, order.status),
        headers: vec![(
            RESELLER_SIGNATURE_HEADER,
            sign_reseller(secret.as_bytes(), &body),
        )],
        body,
    }
}

/// AT-iShare `fulfillment.updated`, signed `X-ISHARE-SIGNATURE: t=…,v1=…`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn ishare_event(
    secret: &str,
    event_id: &str,
    reference: &str,
    status: &str,
    phone: &str,
    size_gb: u32,
    message: &str,
    now: DateTime<Utc>,
) -> SignedEvent {
    let body = bytes(&json!({
        "id": event_id,
        "event": "fulfillment.updated",
        "reference": reference,
        "status": status,
        "phone": phone,
        "size_gb": size_gb,
        "message": message,
        "occurred_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }));
    SignedEvent {
        event_id: event_id.to_string(),
        headers: vec![(
            ISHARE_SIGNATURE_HEADER,
            sign_timestamped(secret.as_bytes(), now.timestamp(), &body),
        )],
        body,
    }
}

/// A Stripe-shaped event (`checkout.session.completed`…) about `object`, signed
/// `Stripe-Signature: t=…,v1=…`.
pub fn payment_event(
    secret: &str,
    event_id: &str,
    event_type: &str,
    object: &Value,
    now: DateTime<Utc>,
) -> SignedEvent {
    let body = bytes(&json!({
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": now.timestamp(),
        "livemode": false,
        "data": {"object": object},
    }));
    SignedEvent {
        event_id: event_id.to_string(),
        headers: vec![(
            STRIPE_SIGNATURE_HEADER,
            sign_timestamped(secret.as_bytes(), now.timestamp(), &body),
        )],
        body,
    }
}

/// A courier tracking event in the carrier's adapter shape, signed
/// `X-Courier-Signature: t=…,v1=…`, with `X-Courier-Code`.
pub fn courier_event(
    code: &str,
    carrier: &CarrierConfig,
    event_id: &str,
    tracking_number: &str,
    status: &str,
    now: DateTime<Utc>,
) -> SignedEvent {
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let value = match carrier.webhook_adapter {
        WebhookAdapter::Flat => json!({
            "event_id": event_id,
            "tracking_number": tracking_number,
            "status": status,
            "occurred_at": at,
        }),
        WebhookAdapter::Envelope => json!({
            "event": {"id": event_id, "type": "tracking.updated"},
            "data": {
                "trackingNumber": tracking_number,
                "statusCode": status.to_ascii_uppercase(),
                "timestamp": at,
            },
        }),
    };
    let body = bytes(&value);
    SignedEvent {
        event_id: event_id.to_string(),
        headers: vec![
            (
                COURIER_SIGNATURE_HEADER,
                sign_timestamped(
                    carrier.webhook_secret.expose().as_bytes(),
                    now.timestamp(),
                    &body,
                ),
            ),
            (COURIER_CODE_HEADER, code.to_string()),
        ],
        body,
    }
}

/// Posts a signed event; `Ok(status)` or the transport error text.
pub async fn post(http: &reqwest::Client, url: &str, event: &SignedEvent) -> Result<u16, String> {
    let mut request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(event.body.clone());
    for (name, value) in &event.headers {
        request = request.header(*name, value);
    }
    match request.send().await {
        Ok(response) => Ok(response.status().as_u16()),
        Err(err) => Err(err.to_string()),
    }
}
