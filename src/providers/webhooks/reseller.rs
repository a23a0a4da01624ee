//! The reseller's inbound contract: `order.status_changed` webhooks signed
//! `X-Webhook-Signature: sha256=<hex HMAC of the raw body>`, correlated by the reseller's order id.

use super::{
    Inbound, InboundEvent, Webhook, WebhookError, non_empty, nowhere, parse_json, required,
    stable_hash, text_at,
};
use crate::providers::signature::{RESELLER_SIGNATURE_HEADER, verify_reseller};

pub const NAME: &str = "reseller";

/// An order's status changed.
pub const ORDER_STATUS: &str = "reseller.order_status";

/// The correlation key of one of the reseller's order ids: `reseller:123`.
pub fn reference(order_id: &str) -> String {
    format!("{NAME}:{order_id}")
}

pub const CONTRACT: Inbound = Inbound {
    name: NAME,
    signals: &[ORDER_STATUS],
    reference,
    also_at: nowhere,
    verify,
};

fn verify(w: &Webhook<'_>) -> Result<InboundEvent, WebhookError> {
    let secret = non_empty(w.cfg.reseller.webhook_secret.expose())?;
    verify_reseller(secret, w.header(RESELLER_SIGNATURE_HEADER), w.body)
        .map_err(WebhookError::BadSignature)?;
    parse(w.body)
}

fn parse(body: &[u8]) -> Result<InboundEvent, WebhookError> {
    let payload = parse_json(body)?;
    let order_id = required(&payload, "/order/id")?;
    let status = required(&payload, "/order/status")?;
    let when = text_at(&payload, "/order/updated_at")
        .or_else(|| text_at(&payload, "/timestamp"))
        .unwrap_or_default();
    // The reseller sends no event id; the same order, status and update time is the same event.
    let event_id = format!("order-{order_id}-{status}-{}", stable_hash(&[&when]));
    Ok(InboundEvent {
        provider: NAME,
        event_id,
        reference: reference(&order_id),
        signal: ORDER_STATUS,
        payload,
    })
}
