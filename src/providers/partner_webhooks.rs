//! Outbound partner webhooks: sign one outbox payload (`X-Signature: t=…,v1=…` over
//! `"{t}.{body}"`), deliver it, and classify the result for the delivery log. The outbox loop,
//! its retries and replay live in the engine.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{PartnerConfig, PartnerWebhooksConfig};
use super::error::Error;
use super::exchange::Exchange;
use super::metrics::PARTNER_WEBHOOK_DELIVERIES_TOTAL;
use super::signature::sign_timestamped;
use super::transport::{Call, JSON, Transport};

/// The header carrying the event id, which partners deduplicate on.
pub const EVENT_ID_HEADER: &str = "X-Event-Id";
/// The header carrying the event type (`ORDER_FULFILLED`…).
pub const EVENT_TYPE_HEADER: &str = "X-Event-Type";

/// One outbox payload to deliver.
#[derive(Debug, Clone, Copy)]
pub struct OutboundWebhook<'a> {
    pub url: &'a str,
    /// The partner's signing secret.
    pub secret: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// The JSON body exactly as stored; these bytes are signed and sent.
    pub body: &'a [u8],
}

/// What the delivery log records about one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// 2xx: done.
    Delivered,
    /// Timeout, connection failure, 408, 409, 425, 429 or 5xx: try again later.
    Retry,
    /// Any other answer: retrying cannot help; park it for an operator (replay).
    Failed,
}

/// One delivery attempt's result.
#[derive(Debug, Clone)]
pub struct DeliveryResult {
    pub outcome: DeliveryOutcome,
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// The error, when not delivered.
    pub error: Option<String>,
    /// The partner's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
    pub exchange: Exchange,
}

/// The headers a signed delivery carries, besides `Content-Type`.
pub(crate) fn signed_headers(
    secret: &str,
    event_id: &str,
    event_type: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "X-Signature",
            sign_timestamped(secret.as_bytes(), now.timestamp(), body),
        ),
        (EVENT_ID_HEADER, event_id.to_string()),
        (EVENT_TYPE_HEADER, event_type.to_string()),
        ("Idempotency-Key", event_id.to_string()),
    ]
}

/// Delivers signed webhooks to partners.
#[derive(Debug, Clone)]
pub struct PartnerWebhookClient {
    transport: Transport,
    partners: BTreeMap<String, PartnerConfig>,
}

impl PartnerWebhookClient {
    pub fn new(cfg: &PartnerWebhooksConfig) -> Result<Self, Error> {
        let secrets: Vec<&str> = cfg.partners.values().map(|p| p.secret.expose()).collect();
        let mut transport =
            Transport::new("partner_webhooks", "http://partner", cfg.timeout, secrets)?;
        transport.client = super::transport::client(
            cfg.timeout,
            cfg.timeout.min(Duration::from_secs(5)),
            &cfg.user_agent,
        )
        .map_err(|e| Error::Config(format!("partner_webhooks: {e}")))?;
        Ok(PartnerWebhookClient {
            transport,
            partners: cfg.partners.clone(),
        })
    }

    /// A configured partner's URL and secret.
    pub fn partner(&self, name: &str) -> Option<&PartnerConfig> {
        self.partners.get(name)
    }

    /// Signs and delivers one payload, once, and classifies what happened.
    pub async fn deliver(
        &self,
        webhook: &OutboundWebhook<'_>,
        now: DateTime<Utc>,
    ) -> DeliveryResult {
        let mut builder = self
            .transport
            .client
            .post(webhook.url)
            .header(reqwest::header::CONTENT_TYPE, JSON)
            .body(webhook.body.to_vec());
        for (name, value) in signed_headers(
            webhook.secret,
            webhook.event_id,
            webhook.event_type,
            webhook.body,
            now,
        ) {
            builder = builder.header(name, value);
        }
        let (exchange, result) = self
            .transport
            .execute(Call {
                endpoint: "deliver",
                builder,
                method: "POST",
                url: webhook.url.to_string(),
                body: Some(String::from_utf8_lossy(webhook.body).into_owned()),
                idempotency_key: Some(webhook.event_id.to_string()),
            })
            .await;
        let (outcome, error, retry_after) = match &result {
            Ok(_) => (DeliveryOutcome::Delivered, None, None),
            Err(err) => {
                let retry = err.retryable() || matches!(exchange.status, Some(408 | 425));
                let outcome = if retry {
                    DeliveryOutcome::Retry
                } else {
                    DeliveryOutcome::Failed
                };
                (outcome, Some(err.to_string()), err.retry_after())
            }
        };
        let label = match outcome {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retry => "retryable",
            DeliveryOutcome::Failed => "permanent",
        };
        metrics::counter!(PARTNER_WEBHOOK_DELIVERIES_TOTAL, "outcome" => label).increment(1);
        DeliveryResult {
            outcome,
            status: exchange.status,
            latency_ms: exchange.latency_ms,
            error,
            retry_after,
            exchange,
        }
    }
}

impl PartnerWebhookClient {
    /// Puts the shared provider gates in front of every call.
    pub(crate) fn gate(&mut self, gates: &std::sync::Arc<super::gates::Gates>) {
        self.transport.gates = Some(gates.clone());
    }
}
