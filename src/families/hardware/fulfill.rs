//! `fulfill`: a paid order gets its fulfilment order, one item per line with everything still
//! to ship. The compensation cancels it while nothing has gone out.

use async_trait::async_trait;
use serde_json::json;
use uuid::Uuid;

use super::{Deps, OrderInput, db_error, domain_write};
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::hardware::store::{cancel_fulfillment_in, create_fulfillment_in};

pub(crate) struct Fulfill(pub Deps);

#[async_trait]
impl Action for Fulfill {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = self.0.order(ctx).await?;
        if order.payment_status != "paid" {
            return Err(StepError::permanent(
                "order_not_paid",
                format!("cannot fulfil the order: it is {}", order.payment_status),
            ));
        }
        let (id, order_id, now) = (Uuid::now_v7(), order.id, ctx.now);
        ctx.report
            .relate("fulfillment", id, Some(format!("/v1/fulfillments/{id}")));
        Ok(
            StepOutcome::done(json!({ "fulfillment_id": id })).with_write(domain_write(
                move |conn| {
                    Box::pin(
                        async move { Ok(create_fulfillment_in(conn, id, order_id, now).await?) },
                    )
                },
            )),
        )
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

pub(crate) struct CancelFulfillment(pub Deps);

#[async_trait]
impl Action for CancelFulfillment {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let input = OrderInput::from_ctx(ctx)?;
        let fulfillment = self
            .0
            .store
            .fulfillment_for_order(input.order_id)
            .await
            .map_err(db_error)?;
        // Checked here as well as in the write, so goods on the road fail this compensation
        // (the saga waits for an operator) instead of aborting its checkpoint.
        if let Some(f) = &fulfillment
            && f.status == "in_transit"
        {
            return Err(StepError::permanent(
                "goods_in_transit",
                "cannot cancel the fulfillment: it is in_transit",
            ));
        }
        let (order_id, now) = (input.order_id, ctx.now);
        Ok(
            StepOutcome::done(json!({ "cancelled": true })).with_write(domain_write(move |conn| {
                Box::pin(cancel_fulfillment_in(conn, order_id, now))
            })),
        )
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}
