//! The fan-out to the legacy service: one verified payment-processor event, forwarded as the
//! processor sent it, signed (`X-Signature: t=…,v1=…` over `"{t}.{body}"`, as partner webhooks
//! are) and classified for the outbox's delivery log. The outbox row is written with the stored
//! webhook (`api::webhooks`); its relay, retries and replay are the engine's.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::config::LegacyForwardConfig;
use super::error::Error;
use super::partner_webhooks::{DeliveryOutcome, DeliveryResult, signed_headers};
use super::transport::{Call, JSON, Transport};

/// The outbox topic of a forwarded event.
pub const TOPIC: &str = "legacy.payment_forward";

/// Delivers forwarded events to the legacy service.
#[derive(Debug, Clone)]
pub struct LegacyForwardClient {
    transport: Transport,
    url: String,
    secret: String,
    enabled: bool,
}

impl LegacyForwardClient {
    pub fn new(cfg: &LegacyForwardConfig) -> Result<Self, Error> {
        let mut transport = Transport::new(
            "legacy_forward",
            "http://legacy",
            cfg.timeout,
            [cfg.secret.expose()],
        )?;
        transport.client = super::transport::client(
            cfg.timeout,
            cfg.timeout.min(Duration::from_secs(5)),
            "sagaflow-legacy-forward/1",
        )
        .map_err(|e| Error::Config(format!("legacy_forward: {e}")))?;
        Ok(LegacyForwardClient {
            transport,
            url: cfg.url.clone(),
            secret: cfg.secret.expose().to_string(),
            enabled: cfg.enabled,
        })
    }

    /// Whether verified payment events are forwarded at all (`[providers.legacy_forward]
    /// enabled`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Signs and delivers one event's body, once, and classifies what happened: 2xx
    /// delivered; a timeout, 408, 409, 425, 429 or 5xx worth a retry; anything else failed.
    pub async fn deliver(
        &self,
        event_id: &str,
        event_type: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> DeliveryResult {
        let mut builder = self
            .transport
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, JSON)
            .body(body.to_vec());
        for (name, value) in signed_headers(&self.secret, event_id, event_type, body, now) {
            builder = builder.header(name, value);
        }
        let (exchange, result) = self
            .transport
            .execute(Call {
                endpoint: "forward",
                builder,
                method: "POST",
                url: self.url.clone(),
                body: Some(String::from_utf8_lossy(body).into_owned()),
                idempotency_key: Some(event_id.to_string()),
            })
            .await;
        let (outcome, error, retry_after) = match &result {
            Ok(_) => (DeliveryOutcome::Delivered, None, None),
            Err(err) => {
                let retry = err.retryable() || matches!(exchange.status, Some(408 | 425));
                let outcome = match retry {
                    true => DeliveryOutcome::Retry,
                    false => DeliveryOutcome::Failed,
                };
                (outcome, Some(err.to_string()), err.retry_after())
            }
        };
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

impl LegacyForwardClient {
    /// Puts the shared provider gates in front of every call.
    pub(crate) fn gate(&mut self, gates: &std::sync::Arc<super::gates::Gates>) {
        self.transport.gates = Some(gates.clone());
    }
}
