//! The `partner_renewal` workflow: a new CRM sales order and licence for another tenure, the
//! licence's expiry pushed out, then a SUBSCRIPTION_RENEWED webhook.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::webhook::partner_event;
use super::{Deps, crm_error, db_error};
use crate::domain::tenure::Tenure;
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::partner::store::renew_licence_in;
use crate::providers::crm::{Customer, NewSalesOrder};

/// The saga input `POST /v1/partner/subscriptions/{ref}/renewals` writes.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RenewalInput {
    pub partner_id: String,
    pub activation_reference: String,
    pub tenure: String,
    pub webhook: String,
}

impl RenewalInput {
    fn from_ctx(ctx: &StepContext) -> Result<Self, StepError> {
        ctx.input_as()
    }
}

fn sales_order_key(ctx: &StepContext) -> String {
    format!("{}:renew:sales-order", ctx.saga_id)
}

/// The sales order for a renewal, built from the licence and its original order.
async fn renewal_order(
    deps: &Deps,
    ctx: &StepContext,
    input: &RenewalInput,
) -> Result<(NewSalesOrder, crate::families::partner::store::LicenceRow), StepError> {
    let licence = deps
        .store
        .licence_by_activation(&input.partner_id, &input.activation_reference)
        .await
        .map_err(db_error)?
        .ok_or_else(|| StepError::permanent("licence_not_found", "no such licence"))?;
    let po = deps
        .store
        .partner_order(licence.partner_order_id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| StepError::permanent("order_missing", "the licence's order is missing"))?;
    let order = NewSalesOrder {
        reference: format!("{}-renewal-{}", po.order_id, ctx.saga_id.simple()),
        customer: Customer {
            id: po.customer_id,
            name: po.customer_name,
            email: po.customer_email,
        },
        product_id: licence.product_id.clone(),
        tenure: input.tenure.clone(),
        quantity: 1,
    };
    Ok((order, licence))
}

pub(crate) struct Renew(pub Deps);

#[async_trait]
impl Action for Renew {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let input = RenewalInput::from_ctx(ctx)?;
        let tenure: Tenure = input
            .tenure
            .parse()
            .map_err(|e: String| StepError::permanent("invalid_tenure", e))?;
        let (new_order, licence) = renewal_order(&self.0, ctx, &input).await?;
        let crm = &self.0.providers.crm;
        let so = crm
            .create_sales_order(&new_order, &sales_order_key(ctx))
            .await
            .result
            .map_err(crm_error)?;
        crm.provision_licence(
            &so.id,
            &licence.product_id,
            tenure.as_str(),
            &format!("{}:licence", ctx.idempotency_key),
        )
        .await
        .result
        .map_err(crm_error)?;
        // The new term starts when the current one ends (or today, if it already lapsed).
        let from = licence.expires_on.max(ctx.now.date_naive());
        let expires_on = tenure.expiry_from(from);
        let (id, now) = (licence.id, ctx.now);
        Ok(StepOutcome::done(json!({
            "sales_order_id": so.id,
            "order_id": licence.order_id,
            "product_id": licence.product_id,
            "expires_on": expires_on,
        }))
        .with_write(Box::new(move |conn| {
            Box::pin(async move { renew_licence_in(conn, id, expires_on, now).await })
        })))
    }

    fn effect(&self) -> Effect {
        Effect::ProviderKey { provider: "crm" }
    }
}

/// Cancels the renewal's sales order. Replaying the create's key finds it; if the create never
/// happened that replay makes one, which is cancelled straight away.
pub(crate) struct CancelRenewal(pub Deps);

#[async_trait]
impl Action for CancelRenewal {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let input = RenewalInput::from_ctx(ctx)?;
        let (new_order, _) = match renewal_order(&self.0, ctx, &input).await {
            Ok(found) => found,
            // No licence: nothing could have been ordered.
            Err(StepError::Permanent { .. }) => {
                return Ok(StepOutcome::done(json!({ "cancelled": null })));
            }
            Err(e) => return Err(e),
        };
        let crm = &self.0.providers.crm;
        let so = crm
            .create_sales_order(&new_order, &sales_order_key(ctx))
            .await
            .result
            .map_err(crm_error)?;
        crm.cancel_sales_order(&so.id, &ctx.idempotency_key)
            .await
            .result
            .map_err(crm_error)?;
        Ok(StepOutcome::done(json!({ "cancelled": so.id })))
    }

    fn effect(&self) -> Effect {
        Effect::ProviderKey { provider: "crm" }
    }
}

pub(crate) struct Renewed;

#[async_trait]
impl Action for Renewed {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let input = RenewalInput::from_ctx(ctx)?;
        let renew = ctx.output_of("renew").cloned().unwrap_or_default();
        let body = json!({
            "orderId": renew["order_id"],
            "activationReference": input.activation_reference,
            "productId": renew["product_id"],
            "tenure": input.tenure,
            "expiresOn": renew["expires_on"],
            "status": "RENEWED",
        });
        let event_id = format!("{}:SUBSCRIPTION_RENEWED", ctx.saga_id);
        Ok(
            StepOutcome::done(json!({ "event_id": event_id })).with_outbox(partner_event(
                &input.webhook,
                "SUBSCRIPTION_RENEWED",
                event_id.clone(),
                body,
                ctx.now,
            )),
        )
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}
