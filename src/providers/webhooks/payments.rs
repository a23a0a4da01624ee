//! The payment processor's inbound contract: Stripe-style events signed
//! `Stripe-Signature: t=,v1=`, correlated by the object they are about (a checkout session, or
//! the payment intent a refund belongs to).

use super::{
    Inbound, InboundEvent, Webhook, WebhookError, non_empty, nowhere, parse_json, required, text_at,
};
use crate::providers::signature::{STRIPE_SIGNATURE_HEADER, verify_timestamped};

pub const NAME: &str = "payments";

/// `checkout.session.*`: a checkout session was paid, failed or expired.
pub const CHECKOUT: &str = "payments.checkout";
/// `refund.*` and `charge.refunded`.
pub const REFUND: &str = "payments.refund";
/// Any other event.
pub const EVENT: &str = "payments.event";

/// The correlation key of a processor object id: `payments:cs_…`.
pub fn reference(object_id: &str) -> String {
    format!("{NAME}:{object_id}")
}

pub const CONTRACT: Inbound = Inbound {
    name: NAME,
    signals: &[CHECKOUT, REFUND, EVENT],
    reference,
    also_at: nowhere,
    verify,
};

fn verify(w: &Webhook<'_>) -> Result<InboundEvent, WebhookError> {
    let secret = non_empty(w.cfg.payments.webhook_secret.expose())?;
    verify_timestamped(
        secret,
        w.header(STRIPE_SIGNATURE_HEADER),
        w.body,
        w.now.timestamp(),
        w.cfg.signature_tolerance,
    )
    .map_err(WebhookError::BadSignature)?;
    parse(w.body)
}

fn parse(body: &[u8]) -> Result<InboundEvent, WebhookError> {
    let payload = parse_json(body)?;
    let event_id = required(&payload, "/id")?;
    let kind = required(&payload, "/type")?;
    let object_id = required(&payload, "/data/object/id")?;
    let (signal, object) = if kind.starts_with("checkout.session.") {
        (CHECKOUT, object_id)
    } else if kind.starts_with("refund.") || kind == "charge.refunded" {
        let intent = text_at(&payload, "/data/object/payment_intent").unwrap_or(object_id);
        (REFUND, intent)
    } else {
        (EVENT, object_id)
    };
    Ok(InboundEvent {
        provider: NAME,
        event_id,
        reference: reference(&object),
        signal,
        payload,
    })
}
