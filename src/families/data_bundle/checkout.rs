//! `checkout` debits the wallet (once per saga, by ledger key) and its compensation refunds
//! exactly what was debited, or nothing when no debit was made.

use async_trait::async_trait;
use serde_json::json;

use super::{Deps, OrderInput, db_error, step_key};
use crate::domain::money::Minor;
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::data_bundle::status::{FulfillmentStatus, OrderStatus};
use crate::families::data_bundle::store::{debit_wallet_in, refund_wallet_in, set_order_status_in};

pub(crate) struct Checkout(pub Deps);

#[async_trait]
impl Action for Checkout {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        let price = ctx
            .output_of("price_resolve")
            .and_then(|o| o["price_minor"].as_i64())
            .ok_or_else(|| StepError::permanent("price_missing", "price_resolve left no price"))?;
        let key = ctx.idempotency_key.clone();
        let store = &self.0.store;
        if !store.ledger_has(&key).await.map_err(db_error)? {
            let balance = store
                .wallet_balance(order.user_id)
                .await
                .map_err(db_error)?
                .unwrap_or(0);
            if balance < price {
                return Err(StepError::permanent(
                    "insufficient_funds",
                    format!(
                        "wallet balance {} GHS is less than the price {} GHS",
                        Minor(balance),
                        Minor(price)
                    ),
                ));
            }
        }
        // The debit itself commits with the checkpoint. Its UPDATE is guarded, so a concurrent
        // spend that got there first aborts this checkpoint and the rerun reports the shortfall.
        let (user, order_id, now) = (order.user_id, order.order_id, ctx.now);
        Ok(
            StepOutcome::done(json!({ "debited_minor": price })).with_write(Box::new(
                move |conn| {
                    Box::pin(async move {
                        debit_wallet_in(conn, user, order_id, price, &key, now).await?;
                        set_order_status_in(
                            conn,
                            order_id,
                            OrderStatus::Pending,
                            FulfillmentStatus::Processing,
                            now,
                        )
                        .await
                    })
                },
            )),
        )
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

pub(crate) struct Refund;

#[async_trait]
impl Action for Refund {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let debit_key = step_key(ctx, "checkout");
        let refund_key = ctx.idempotency_key.clone();
        let now = ctx.now;
        Ok(
            StepOutcome::done(json!({ "refunded": true })).with_write(Box::new(move |conn| {
                Box::pin(async move { refund_wallet_in(conn, &debit_key, &refund_key, now).await })
            })),
        )
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}
