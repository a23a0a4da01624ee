//! `price_resolve`: re-prices the order against the company's agreements and the current price
//! book in strict mode and locks every line's snapshot with its full
//! resolution; its compensation closes an order that never got paid.

use async_trait::async_trait;
use serde_json::json;

use super::pricing::{PriceOrderError, reprice_order, repriced_total};
use super::{Deps, OrderInput, db_error, domain_write};
use crate::domain::pricing::PricingError;
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::hardware::store::{
    cancel_unpaid_in, lock_snapshots_in, record_resolutions_in,
};

pub(crate) struct PriceResolve(pub Deps);

#[async_trait]
impl Action for PriceResolve {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = self.0.order(ctx).await?;
        let items = self
            .0
            .store
            .hardware_order_items(order.id)
            .await
            .map_err(db_error)?;
        let repriced = reprice_order(
            &self.0.store,
            &order,
            &items,
            self.0.settings.strict_prices,
            ctx.now,
        )
        .await
        .map_err(|e| match e {
            PriceOrderError::Pricing(
                p @ (PricingError::OutOfRange { .. } | PricingError::TotalTooLarge),
            ) => StepError::permanent("amount_too_large", p.to_string()),
            PriceOrderError::Pricing(p) => StepError::permanent("price_not_synced", p.to_string()),
            PriceOrderError::Store(s) => db_error(s),
        })?;
        let (lines, traces) = (repriced.lines, repriced.traces);
        // Bounded by the repricing above; refused rather than overflowed all the same.
        let total = repriced_total(&items, &lines)
            .map_err(|e| StepError::permanent("amount_too_large", e.to_string()))?;
        // Fixed here, once, so every checkout attempt sends the processor the same request
        // under its idempotency key.
        let expires = crate::engine::clock::later(ctx.now, self.0.settings.checkout_expires_after);
        let output = json!({
            "checkout_expires_at": expires.timestamp(),
            "total_minor": total,
            "currency": order.currency,
            "lines": lines.iter().map(|(n, p)| json!({
                "line": n, "sku": p.sku, "source": p.source, "unit_amount_minor": p.unit_amount_minor,
                "processor_price_id": p.processor_price_id,
            })).collect::<Vec<_>>(),
        });
        let (order_id, now) = (order.id, ctx.now);
        Ok(
            StepOutcome::done(output).with_write(domain_write(move |conn| {
                Box::pin(async move {
                    lock_snapshots_in(&mut *conn, order_id, &lines, now).await?;
                    // The resolution behind each snapshot, kept with it.
                    Ok(record_resolutions_in(conn, order_id, &traces, true, now).await?)
                })
            })),
        )
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

/// Runs last when a saga is undone: an order that never reached payment is cancelled, so no
/// draft or open checkout is left behind. Paid, refunded or expired orders keep their state.
pub(crate) struct CloseOrder;

#[async_trait]
impl Action for CloseOrder {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let input = OrderInput::from_ctx(ctx)?;
        let (order_id, now) = (input.order_id, ctx.now);
        Ok(
            StepOutcome::done(json!({ "closed": true })).with_write(domain_write(move |conn| {
                Box::pin(cancel_unpaid_in(conn, order_id, now))
            })),
        )
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}
