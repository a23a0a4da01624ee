//! `validate` (the phone against the network), `price_resolve` (the quoted price of an active
//! package) and `fail_order`, the last compensation to run: it marks the order failed and tells
//! the customer, after the refund has committed.

use async_trait::async_trait;
use serde_json::json;

use super::{Deps, OrderInput, db_error};
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::data_bundle::store::{NewNotification, fail_order_in, notify_in_app_in};

/// The message the customer gets when the order cannot be delivered.
pub(crate) const FINAL_FAILURE_TEXT: &str = "Unable to complete order. Contact support.";

pub(crate) struct Validate;

#[async_trait]
impl Action for Validate {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        let phone = order.phone()?;
        phone
            .check_network(order.network)
            .map_err(|e| StepError::permanent("network_mismatch", e.to_string()))?;
        Ok(StepOutcome::done(
            json!({ "phone": phone.masked(), "network": order.network }),
        ))
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

pub(crate) struct PriceResolve(pub Deps);

#[async_trait]
impl Action for PriceResolve {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        let row = self
            .0
            .store
            .bundle_order(order.order_id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| StepError::permanent("order_missing", "the order row is missing"))?;
        crate::families::own_row(ctx, Some(row.saga_id), "order")?;
        // The price quoted when the order was placed stands, even if the catalogue changed
        // since; the package must still be on sale.
        let package = self
            .0
            .store
            .package(&row.package_id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| {
                StepError::permanent(
                    "package_unavailable",
                    format!("package {} is no longer on sale", row.package_id),
                )
            })?;
        Ok(StepOutcome::done(json!({
            "package_id": package.id,
            "price_minor": row.price_minor,
        })))
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

pub(crate) struct FailOrder(pub Deps);

#[async_trait]
impl Action for FailOrder {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        // Failing an order (and texting its customer) is for its own saga only.
        let row = self
            .0
            .store
            .bundle_order(order.order_id)
            .await
            .map_err(db_error)?;
        if let Some(row) = &row {
            crate::families::own_row(ctx, Some(row.saga_id), "order")?;
        }
        // The SMS goes out before this checkpoint, but only after the refund's checkpoint
        // (compensations run newest first and checkout's refund comes before this one).
        let sms = match order.phone() {
            Ok(phone) => {
                let attempt = self
                    .0
                    .providers
                    .sms
                    .send(&phone, FINAL_FAILURE_TEXT, &ctx.idempotency_key)
                    .await;
                match attempt.result {
                    Ok(sent) => json!({ "message_id": sent.message_id }),
                    // Held by a provider gate: never sent, so wait rather than fail.
                    Err(e @ crate::providers::Error::Held { .. }) => {
                        return Err(crate::families::provider_error(e));
                    }
                    Err(e) if e.retryable() => {
                        return Err(StepError::retryable(e.code(), e.to_string()));
                    }
                    // A refused SMS must not keep the order from being closed.
                    Err(e) => json!({ "error": e.code() }),
                }
            }
            Err(_) => json!({ "error": "invalid_phone" }),
        };
        let now = ctx.now;
        let note = NewNotification {
            user_id: order.user_id,
            order_id: Some(order.order_id),
            kind: "failed".into(),
            message: format!("Order {}: {FINAL_FAILURE_TEXT}", order.order_code),
            dedup_key: ctx.idempotency_key.clone(),
        };
        let order_id = order.order_id;
        Ok(
            StepOutcome::done(json!({ "sms": sms })).with_write(Box::new(move |conn| {
                Box::pin(async move {
                    fail_order_in(conn, order_id, now).await?;
                    notify_in_app_in(conn, &note, now).await.map(drop)
                })
            })),
        )
    }

    fn effect(&self) -> Effect {
        Effect::ProviderKey { provider: "sms" }
    }
}
