//! The outbox topic `customer_sms`: a text message a step decided to send in the same
//! checkpoint that recorded why, delivered by the relay once that checkpoint has committed.
//!
//! Payload: `{"to": "<phone>", "text": …, "key": "<idempotency key and message reference>"}`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::phone::PhoneNumber;
use crate::engine::action::OutboxRow;
use crate::engine::outbox::{Delivery, DeliveryOutcome, OutboxHandler};
use crate::providers::sms::SmsClient;
use crate::store::OutboxItem;

pub const TOPIC: &str = "customer_sms";

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    to: PhoneNumber,
    text: String,
    key: String,
}

/// The outbox row that sends `text` to `to` once, under `key`.
pub fn row(to: &PhoneNumber, text: &str, key: &str) -> OutboxRow {
    let payload = Payload {
        to: to.clone(),
        text: text.to_string(),
        key: key.to_string(),
    };
    OutboxRow {
        topic: TOPIC.into(),
        destination: Some(to.masked()),
        // A phone number and two strings always serialise.
        payload: serde_json::to_value(&payload).unwrap_or_default(),
    }
}

pub struct CustomerSmsHandler {
    pub client: SmsClient,
}

#[async_trait]
impl OutboxHandler for CustomerSmsHandler {
    async fn deliver(&self, item: &OutboxItem, _now: DateTime<Utc>) -> Delivery {
        let payload: Payload = match serde_json::from_value(item.payload.clone()) {
            Ok(p) => p,
            Err(e) => {
                return Delivery {
                    outcome: DeliveryOutcome::Failed,
                    status_code: None,
                    latency_ms: 0,
                    error: Some(format!("unreadable customer SMS payload: {e}")),
                    retry_after: None,
                };
            }
        };
        let sent = self
            .client
            .send(&payload.to, &payload.text, &payload.key)
            .await;
        let outcome = match &sent.result {
            Ok(_) => DeliveryOutcome::Delivered,
            Err(e) if e.retryable() => DeliveryOutcome::Retry,
            Err(e) => {
                // Not a step, so nothing parks; counted so the refused key still alerts.
                crate::families::credentials::credentials_rejected(e);
                DeliveryOutcome::Failed
            }
        };
        Delivery {
            outcome,
            status_code: sent.exchange.status,
            latency_ms: sent.exchange.latency_ms,
            error: sent.result.as_ref().err().map(ToString::to_string),
            retry_after: sent.result.as_ref().err().and_then(|e| e.retry_after()),
        }
    }
}
