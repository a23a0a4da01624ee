//! The fan-out to legacy: delivers the outbox rows the webhook route writes for each verified
//! payment event (`providers::legacy_forward::TOPIC`), as the processor sent it, signed. Every
//! attempt lands in the outbox's delivery log; a dead row is replayed with
//! `POST /v1/outbox/{id}/replay`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::engine::outbox::{Delivery, DeliveryOutcome, OutboxHandler};
use crate::providers::legacy_forward::LegacyForwardClient;
use crate::providers::partner_webhooks;
use crate::store::OutboxItem;

/// What the webhook route stored.
#[derive(Deserialize)]
struct Payload {
    event_id: String,
    signal: String,
    /// The processor's body, byte for byte.
    body: String,
}

pub(crate) struct Forwarder(pub LegacyForwardClient);

#[async_trait]
impl OutboxHandler for Forwarder {
    async fn deliver(&self, item: &OutboxItem, _now: DateTime<Utc>) -> Delivery {
        let payload: Payload = match serde_json::from_value(item.payload.clone()) {
            Ok(p) => p,
            Err(e) => {
                return Delivery {
                    outcome: DeliveryOutcome::Failed,
                    status_code: None,
                    latency_ms: 0,
                    error: Some(format!("unreadable forward payload: {e}")),
                    retry_after: None,
                };
            }
        };
        // Wall-clock time: the receiver checks the signature's timestamp against its own clock.
        let r = self
            .0
            .deliver(
                &payload.event_id,
                &payload.signal,
                payload.body.as_bytes(),
                Utc::now(),
            )
            .await;
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
