//! `invoice`: makes sure the order's invoice is issued and every payment allocated (prepaid
//! orders were invoiced at payment, so this usually confirms it), leaving the balance on the
//! order. The compensation voids the invoice.

use async_trait::async_trait;
use serde_json::json;

use super::{Deps, OrderInput, db_error, domain_write};
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::hardware::store::{allocate_payments_in, issue_invoice_in, void_invoice_in};

pub(crate) struct Invoice(pub Deps);

#[async_trait]
impl Action for Invoice {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = self.0.order(ctx).await?;
        if order.payment_status != "paid" {
            return Err(StepError::permanent(
                "order_not_paid",
                format!("cannot invoice the order: it is {}", order.payment_status),
            ));
        }
        let existing = self
            .0
            .store
            .invoice_for_order(order.id)
            .await
            .map_err(db_error)?;
        let (order_id, now) = (order.id, ctx.now);
        Ok(StepOutcome::done(json!({
            "invoice_number": existing.as_ref().and_then(|i| i.number.clone()),
            "issued_at_payment": existing.is_some(),
        }))
        .with_write(domain_write(move |conn| {
            Box::pin(async move {
                issue_invoice_in(conn, order_id, now).await?;
                allocate_payments_in(conn, order_id, now).await
            })
        })))
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

pub(crate) struct VoidInvoice;

#[async_trait]
impl Action for VoidInvoice {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let input = OrderInput::from_ctx(ctx)?;
        let (order_id, now) = (input.order_id, ctx.now);
        Ok(
            StepOutcome::done(json!({ "voided": true })).with_write(domain_write(move |conn| {
                Box::pin(void_invoice_in(conn, order_id, "order undone", now))
            })),
        )
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}
