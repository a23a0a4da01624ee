//! The `price_sync` workflow: `sync` makes the payment processor hold a price for every
//! unsynced price-book entry and price agreement, then marks each synced with its processor
//! price id; `report` refreshes the agreement gauges once that has committed. Started by
//! `POST /v1/pricing/sync`, `sagaflow pricing sync` and the `[cron.price_sync]` job.

use async_trait::async_trait;
use chrono::Duration;
use serde_json::json;

use super::metrics as hm;
use super::{Deps, db_error, domain_write};
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::hardware::store::{PriceToSync, mark_price_synced_in};
use crate::families::provider_error;
use crate::providers::Error as ProviderError;
use crate::providers::payments::NewPrice;

/// The workflow's name.
pub const WORKFLOW: &str = "price_sync";

/// Most prices one run syncs; the rest wait for the next run (the cron job comes back).
const BATCH: i64 = 200;

/// The processor's idempotency key for one revision of one price: a retry, a crashed run's
/// re-run and an overlapping run all send the same key, so the processor creates one price
/// per revision; a changed amount is a new revision and gets a new price.
pub(crate) fn price_key(item: &PriceToSync) -> String {
    format!("price_sync:{}:{}:r{}", item.kind, item.id, item.revision)
}

pub(crate) struct PriceSync(pub Deps);

impl PriceSync {
    /// The processor price that charges `item`: its current price when the processor still
    /// holds it active at this amount and currency, else a new one created under the
    /// revision's key (the lookup key moves to it, as a Stripe price change does).
    async fn price_for(&self, item: &PriceToSync) -> Result<String, StepError> {
        let payments = &self.0.providers.payments;
        if let Some(current) = &item.processor_price_id {
            match payments.get_price(current).await.result {
                Ok(p)
                    if p.active != Some(false)
                        && p.unit_amount == Some(item.unit_amount_minor)
                        && p.currency
                            .as_deref()
                            .is_some_and(|c| c.eq_ignore_ascii_case(&item.currency)) =>
                {
                    return Ok(p.id);
                }
                Ok(_) | Err(ProviderError::NotFound { .. }) => {}
                Err(e) => return Err(provider_error(e)),
            }
        }
        let request = NewPrice {
            currency: item.currency.clone(),
            unit_amount: item.unit_amount_minor,
            product_name: format!("{} {}", item.sku, item.product_name),
            lookup_key: Some(format!("{}:{}", item.kind, item.id)),
            transfer_lookup_key: true,
            metadata: [
                ("kind".to_string(), item.kind.clone()),
                ("id".to_string(), item.id.clone()),
                ("revision".to_string(), item.revision.to_string()),
            ]
            .into(),
        };
        Ok(payments
            .create_price(&request, &price_key(item))
            .await
            .result
            .map_err(provider_error)?
            .id)
    }
}

#[async_trait]
impl Action for PriceSync {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let items = self
            .0
            .store
            .prices_to_sync(ctx.now, BATCH)
            .await
            .map_err(db_error)?;
        let mut synced = Vec::with_capacity(items.len());
        for item in items {
            match self.price_for(&item).await {
                Ok(price) => synced.push((item, price)),
                Err(e) => {
                    metrics::counter!(hm::PRICE_SYNC_FAILURES_TOTAL, "kind" => kind_label(&item.kind))
                        .increment(1);
                    // Prices already created stay created: the retry finds them under their keys.
                    return Err(e);
                }
            }
        }
        let output = json!({
            "synced": synced.iter().map(|(item, price)| json!({
                "kind": item.kind, "id": item.id, "revision": item.revision, "processor_price_id": price,
            })).collect::<Vec<_>>(),
        });
        let now = ctx.now;
        Ok(
            StepOutcome::done(output).with_write(domain_write(move |conn| {
                Box::pin(async move {
                    for (item, price) in &synced {
                        // A price edited meanwhile keeps its new revision unsynced for the
                        // next run.
                        mark_price_synced_in(&mut *conn, item, price, now).await?;
                    }
                    Ok(())
                })
            })),
        )
    }

    fn effect(&self) -> Effect {
        Effect::ProviderKey {
            provider: "payments",
        }
    }
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "agreement" => "agreement",
        _ => "entry",
    }
}

/// How far ahead an agreement's end counts as soon.
pub(crate) const EXPIRING_WITHIN_DAYS: i64 = 14;

/// Sets the agreement gauges from the database; run after the sync committed, and by the
/// agreement routes after each change.
pub(crate) async fn refresh_gauges(
    store: &crate::store::Store,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::store::Result<(i64, i64)> {
    let (unsynced, expiring) = store
        .agreement_health(now, Duration::days(EXPIRING_WITHIN_DAYS))
        .await?;
    metrics::gauge!(hm::PRICE_AGREEMENTS_UNSYNCED).set(unsynced as f64);
    metrics::gauge!(hm::PRICE_AGREEMENTS_EXPIRING).set(expiring as f64);
    // Only some nodes set these; the alerts read the node that read them last.
    metrics::gauge!(hm::PRICE_AGREEMENTS_CHECKED).set(now.timestamp() as f64);
    Ok((unsynced, expiring))
}

/// `report`: the gauges after the sync.
pub(crate) struct PriceHealth(pub Deps);

#[async_trait]
impl Action for PriceHealth {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let (unsynced, expiring) = refresh_gauges(&self.0.store, ctx.now)
            .await
            .map_err(db_error)?;
        Ok(StepOutcome::done(json!({
            "unsynced_agreements": unsynced,
            "expiring_agreements": expiring,
        })))
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}
