//! The outbox topic `partner_webhook`: signed partner notifications (ORDER_FULFILLED,
//! EXPIRY_REMINDER…) written by steps in their checkpoint and delivered by the relay.
//!
//! Payload: `{"partner": "<name in [providers.partner_webhooks.partners]>", "event_type": …,
//! "event_id": …, "body": {…}}`. Secrets stay in config, never in the outbox row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::engine::outbox::{Delivery, DeliveryOutcome, OutboxHandler};
use crate::providers::partner_webhooks::{self, OutboundWebhook, PartnerWebhookClient};
use crate::store::OutboxItem;

pub const TOPIC: &str = "partner_webhook";

#[derive(Debug, Deserialize)]
struct Payload {
    partner: String,
    event_type: String,
    event_id: String,
    body: Value,
}

pub struct PartnerWebhookHandler {
    pub client: PartnerWebhookClient,
}

fn failed(error: String) -> Delivery {
    Delivery {
        outcome: DeliveryOutcome::Failed,
        status_code: None,
        latency_ms: 0,
        error: Some(error),
        retry_after: None,
    }
}

#[async_trait]
impl OutboxHandler for PartnerWebhookHandler {
    async fn deliver(&self, item: &OutboxItem, _now: DateTime<Utc>) -> Delivery {
        let payload: Payload = match serde_json::from_value(item.payload.clone()) {
            Ok(p) => p,
            Err(e) => return failed(format!("unreadable partner webhook payload: {e}")),
        };
        let Some(partner) = self.client.partner(&payload.partner) else {
            return failed(format!("partner {:?} is not configured", payload.partner));
        };
        let body = match serde_json::to_vec(&payload.body) {
            Ok(b) => b,
            Err(e) => return failed(e.to_string()),
        };
        let webhook = OutboundWebhook {
            url: &partner.url,
            secret: partner.secret.expose(),
            event_id: &payload.event_id,
            event_type: &payload.event_type,
            body: &body,
        };
        // The signature's timestamp is for the receiver's freshness check, so it is wall-clock
        // time, not the engine clock (which tests move by hand).
        let r = self.client.deliver(&webhook, Utc::now()).await;
        Delivery {
            outcome: match r.outcome {
                partner_webhooks::DeliveryOutcome::Delivered => DeliveryOutcome::Delivered,
                partner_webhooks::DeliveryOutcome::Retry => DeliveryOutcome::Retry,
                partner_webhooks::DeliveryOutcome::Failed => DeliveryOutcome::Failed,
            },
            status_code: r.status,
            latency_ms: r.latency_ms,
            error: r.error,
            retry_after: r.retry_after,
        }
    }
}
