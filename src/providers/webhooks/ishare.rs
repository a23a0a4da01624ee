//! AT-iShare's inbound contract: `fulfillment.updated` webhooks signed
//! `X-ISHARE-SIGNATURE: t=,v1=`, correlated by the reference we submitted the order under.

use super::{
    Inbound, InboundEvent, Webhook, WebhookError, non_empty, nowhere, parse_json, required,
    stable_hash, text_at,
};
use crate::providers::signature::{ISHARE_SIGNATURE_HEADER, verify_timestamped};

pub const NAME: &str = "ishare";

/// A fulfilment's status changed.
pub const ORDER_STATUS: &str = "ishare.order_status";

/// The correlation key of one of our AT-iShare references: `ishare:<reference>`.
pub fn reference(our_reference: &str) -> String {
    format!("{NAME}:{our_reference}")
}

pub const CONTRACT: Inbound = Inbound {
    name: NAME,
    signals: &[ORDER_STATUS],
    reference,
    also_at: nowhere,
    verify,
};

fn verify(w: &Webhook<'_>) -> Result<InboundEvent, WebhookError> {
    let secret = non_empty(w.cfg.ishare.webhook_secret.expose())?;
    verify_timestamped(
        secret,
        w.header(ISHARE_SIGNATURE_HEADER),
        w.body,
        w.now.timestamp(),
        w.cfg.signature_tolerance,
    )
    .map_err(WebhookError::BadSignature)?;
    parse(w.body)
}

fn parse(body: &[u8]) -> Result<InboundEvent, WebhookError> {
    let payload = parse_json(body)?;
    let our_reference = required(&payload, "/reference")?;
    let status = required(&payload, "/status")?;
    let event_id = text_at(&payload, "/id").unwrap_or_else(|| {
        let when = text_at(&payload, "/occurred_at").unwrap_or_default();
        format!("{our_reference}-{status}-{}", stable_hash(&[&when]))
    });
    Ok(InboundEvent {
        provider: NAME,
        event_id,
        reference: reference(&our_reference),
        signal: ORDER_STATUS,
        payload,
    })
}
