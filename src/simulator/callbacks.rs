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
        Some(url) => match post(&sim.0.http, url, &event).await {
            Ok(status) => (Some(status), None),
            Err(err) => (None, Some(err)),
        },
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
