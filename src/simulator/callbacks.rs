//! Background completions: run something after a delay (unless the simulator stops first) and
//! post the resulting signed webhook to the provider's configured callback URL.

use std::future::Future;
use std::time::Duration;

use super::events::{SignedEvent, post};
use super::state::{CallbackRecord, Sim};
use crate::providers::webhooks::Inbound;

/// Runs `work` after `delay`, abandoned if the simulator shuts down first.
pub(crate) fn after(sim: &Sim, delay: Duration, work: impl Future<Output = ()> + Send + 'static) {
    let cancel = sim.0.cancel.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = async { tokio::time::sleep(delay).await; work.await } => {}
        }
    });
}

/// Posts `event` to the callback URL configured for `to` and records the result under the
/// correlation key sagaflow will read for `id` (`reseller:123`).
pub(crate) async fn send(sim: &Sim, to: &Inbound, id: &str, event: SignedEvent) {
    let (provider, reference) = (to.name, (to.reference)(id));
    let url = {
        let state = sim.lock();
        let cb = &state.config.callbacks;
        match provider {
            "reseller" => cb.reseller.clone(),
            "ishare" => cb.ishare.clone(),
            "payments" => cb.payments.clone(),
            _ => cb.courier.clone(),
        }
    };
    let (status, error) = match &url {
        Some(url) => deliver(sim, url, &event).await,
        None => (None, Some("no callback url configured".to_string())),
    };
    tracing::debug!(provider, event_id = %event.event_id, status, "simulator webhook");
    sim.record_callback(CallbackRecord {
        provider: provider.to_string(),
        event_id: event.event_id,
        reference,
        url,
        status,
        error,
    });
}

/// How many times a webhook is posted before the simulator gives up on it.
const WEBHOOK_TRIES: u32 = 6;

/// Posts `event` to `url`, trying again with a growing pause (0.25 s doubling to 4 s) while
/// the receiver answers 5xx or 429 or cannot be reached, as real providers retry their
/// webhooks. Answers the last try's status or error.
async fn deliver(sim: &Sim, url: &str, event: &SignedEvent) -> (Option<u16>, Option<String>) {
    let mut pause = Duration::from_millis(250);
    let mut last = (None, None);
    for _ in 0..WEBHOOK_TRIES {
        last = match post(&sim.0.http, url, event).await {
            // Refused for good (a bad signature, an unknown reference): not worth another try.
            Ok(status) if status < 500 && status != 429 => return (Some(status), None),
            Ok(status) => (Some(status), None),
            Err(err) => (None, Some(err)),
        };
        tokio::select! {
            _ = sim.0.cancel.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(4));
    }
    last
}
