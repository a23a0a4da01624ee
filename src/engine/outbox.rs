//! The outbox relay: delivers rows that checkpoints wrote, by topic, with exponential retries,
//! a log line per attempt, and `dead` rows for an operator to replay.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use super::clock::{Clock, later};
use super::retry::RetryPolicy;
use super::unwind;
use crate::store::{self, AttemptRecord, OutboxItem, Store};
use crate::telemetry as m;

/// How one attempt went.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub outcome: DeliveryOutcome,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// The receiver's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Worth another attempt later.
    Retry,
    /// Retrying cannot help; the row goes `dead` for an operator.
    Failed,
}

/// Delivers rows of one topic.
#[async_trait]
pub trait OutboxHandler: Send + Sync + 'static {
    async fn deliver(&self, item: &OutboxItem, now: DateTime<Utc>) -> Delivery;
}

pub struct OutboxRelay {
    store: Store,
    clock: Arc<dyn Clock>,
    handlers: HashMap<String, Arc<dyn OutboxHandler>>,
    policy: RetryPolicy,
    poll: Duration,
}

impl OutboxRelay {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        handlers: HashMap<String, Arc<dyn OutboxHandler>>,
    ) -> Self {
        Self {
            store,
            clock,
            handlers,
            // 5s, 10s, 20s … capped at an hour; ten attempts span about three hours.
            policy: RetryPolicy::Exponential {
                initial: Duration::from_secs(5),
                multiplier: 2.0,
                cap: Duration::from_secs(3600),
                jitter: 0.1,
                max_attempts: 10,
            },
            poll: Duration::from_millis(500),
        }
    }

    /// Delivers every row due now, once each. Returns how many were attempted.
    pub async fn deliver_due(&self) -> store::Result<usize> {
        let now = self.clock.now();
        let lease = later(now, Duration::from_secs(60));
        let items = self.store.claim_outbox(now, lease, 32).await?;
        let n = items.len();
        let runs = items.iter().map(|item| self.deliver_one(item));
        for result in futures::future::join_all(runs).await {
            result?;
        }
        Ok(n)
    }

    async fn deliver_one(&self, item: &OutboxItem) -> store::Result<()> {
        let now = self.clock.now();
        let delivery = match self.handlers.get(&item.topic) {
            // A handler that panics fails this attempt only: the row backs off like any other
            // failed attempt (and goes dead when they are spent), and the relay carries on.
            Some(h) => unwind::catch(h.deliver(item, now))
                .await
                .unwrap_or_else(|panic| {
                    error!(outbox_id = item.id, topic = %item.topic, attempt = item.attempts, %panic,
                        "outbox handler panicked; the row backs off as a failed attempt");
                    Delivery {
                        outcome: DeliveryOutcome::Retry,
                        status_code: None,
                        latency_ms: 0,
                        error: Some(format!("the {} handler panicked: {panic}", item.topic)),
                        retry_after: None,
                    }
                }),
            None => Delivery {
                outcome: DeliveryOutcome::Retry,
                status_code: None,
                latency_ms: 0,
                error: Some(format!("no handler for topic {} on this node", item.topic)),
                retry_after: None,
            },
        };
        let retry_at = match delivery.outcome {
            DeliveryOutcome::Retry => {
                let next = u32::try_from(item.attempts).unwrap_or(0).saturating_add(1);
                self.policy.delay_before(next, rand::random()).map(|d| {
                    // The receiver's Retry-After wins when longer; `later` saturates, so no
                    // number a receiver sends can overflow the date.
                    later(now, d.max(delivery.retry_after.unwrap_or_default()))
                })
            }
            _ => None,
        };
        let outcome = match delivery.outcome {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retry => "retry",
            DeliveryOutcome::Failed => "failed",
        };
        metrics::counter!(m::OUTBOX_ATTEMPTS_TOTAL, "topic" => item.topic.clone(), "outcome" => outcome).increment(1);
        if delivery.outcome != DeliveryOutcome::Delivered {
            metrics::counter!(m::OUTBOX_FAILURES_TOTAL, "topic" => item.topic.clone()).increment(1);
            warn!(outbox_id = item.id, topic = %item.topic, attempt = item.attempts, error = ?delivery.error, "outbox delivery failed");
        }
        let record = AttemptRecord {
            outcome,
            status_code: delivery.status_code,
            latency_ms: delivery.latency_ms,
            error: delivery.error,
            retry_at,
        };
        self.store
            .record_delivery(item, &record, self.clock.now())
            .await
    }

    /// Delivers until `shutdown`. A panic anywhere in a round (a handler's is caught per row
    /// already) is logged and the next round goes on after the poll interval.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let delivered = match unwind::catch(self.deliver_due()).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    error!(error = %e, "outbox relay failed");
                    0
                }
                Err(panic) => {
                    error!(%panic, "outbox relay round panicked; carrying on");
                    0
                }
            };
            if delivered == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = shutdown.cancelled() => return,
                }
            } else if shutdown.is_cancelled() {
                return;
            }
        }
    }
}
