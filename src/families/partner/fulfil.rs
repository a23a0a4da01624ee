//! `accept`, `price_resolve`, and `fulfil` (CRM sales order, then the licence) with its
//! compensation, which cancels the sales order.

use async_trait::async_trait;
use serde_json::json;

use super::{Deps, OrderInput, crm_error, db_error};
use crate::domain::tenure::Tenure;
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::partner::store::{NewLicence, PartnerOrder, fulfil_partner_order_in};
use crate::providers::crm::{Customer, NewSalesOrder};

async fn load(
    deps: &Deps,
    ctx: &StepContext,
    order: &OrderInput,
) -> Result<PartnerOrder, StepError> {
    let po = deps
        .store
        .partner_order(order.partner_order_id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| StepError::permanent("order_missing", "the partner order row is missing"))?;
    crate::families::own_row(ctx, Some(po.saga_id), "partner order")?;
    Ok(po)
}

fn sales_order(po: &PartnerOrder) -> NewSalesOrder {
    NewSalesOrder {
        reference: po.order_id.clone(),
        customer: Customer {
            id: po.customer_id.clone(),
            name: po.customer_name.clone(),
            email: po.customer_email.clone(),
        },
        product_id: po.product_id.clone(),
        tenure: po.tenure.clone(),
        quantity: 1,
    }
}

/// The key the sales order is created under; the compensation replays it to learn the id.
fn sales_order_key(saga: uuid::Uuid) -> String {
    format!("{saga}:fulfil:sales-order")
}

pub(crate) struct Accept(pub Deps);

#[async_trait]
impl Action for Accept {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        let po = load(&self.0, ctx, &order).await?;
        Ok(StepOutcome::done(
            json!({ "order_id": po.order_id, "status": po.status }),
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
        let tenure: Tenure = order
            .tenure
            .parse()
            .map_err(|e: String| StepError::permanent("invalid_tenure", e))?;
        let products = self.0.store.partner_products().await.map_err(db_error)?;
        let product = products
            .into_iter()
            .find(|p| p.id == order.product_id)
            .ok_or_else(|| {
                StepError::permanent(
                    "product_not_found",
                    format!("product {} is not in the catalogue", order.product_id),
                )
            })?;
        let price = match tenure {
            Tenure::OneMonth => product.price_1_month_minor,
            Tenure::TwelveMonths => product.price_12_months_minor,
        };
        Ok(StepOutcome::done(
            json!({ "price_minor": price, "currency": product.currency }),
        ))
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

pub(crate) struct Fulfil(pub Deps);

#[async_trait]
impl Action for Fulfil {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        let po = load(&self.0, ctx, &order).await?;
        let crm = &self.0.providers.crm;
        let sales_order_id = match &po.sales_order_id {
            Some(id) => id.clone(),
            None => {
                // Noted before the call, so the compensation knows a sales order may exist
                // even if the answer is lost.
                self.0
                    .store
                    .note_sales_order(po.id, None, ctx.now)
                    .await
                    .map_err(db_error)?;
                let created = crm
                    .create_sales_order(&sales_order(&po), &sales_order_key(ctx.saga_id))
                    .await
                    .result
                    .map_err(crm_error)?;
                self.0
                    .store
                    .note_sales_order(po.id, Some(&created.id), ctx.now)
                    .await
                    .map_err(db_error)?;
                created.id
            }
        };
        let licence = crm
            .provision_licence(
                &sales_order_id,
                &po.product_id,
                &po.tenure,
                &format!("{}:licence", ctx.idempotency_key),
            )
            .await
            .result
            .map_err(crm_error)?;
        let price = ctx
            .output_of("price_resolve")
            .and_then(|o| o["price_minor"].as_i64())
            .unwrap_or_default();
        let row = NewLicence {
            partner_order_id: po.id,
            partner_id: po.partner_id.clone(),
            activation_reference: licence.activation_reference.clone(),
            sales_order_id: sales_order_id.clone(),
            product_id: po.product_id.clone(),
            customer_id: po.customer_id.clone(),
            tenure: po.tenure.clone(),
            expires_on: licence.expires_on,
        };
        let now = ctx.now;
        Ok(StepOutcome::done(json!({
            "sales_order_id": sales_order_id,
            "activation_reference": licence.activation_reference,
            "expires_on": licence.expires_on,
        }))
        .with_write(Box::new(move |conn| {
            Box::pin(async move { fulfil_partner_order_in(conn, &row, price, now).await })
        })))
    }

    fn effect(&self) -> Effect {
        Effect::ProviderKey { provider: "crm" }
    }
}

/// Cancels the sales order `fulfil` created, if any. Cancelling twice is fine at the CRM.
pub(crate) struct CancelSalesOrder(pub Deps);

#[async_trait]
impl Action for CancelSalesOrder {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        let po = load(&self.0, ctx, &order).await?;
        let crm = &self.0.providers.crm;
        let id = match (&po.sales_order_id, po.sales_order_attempted) {
            (Some(id), _) => id.clone(),
            // The create's answer was lost: replaying its key returns the order if it exists
            // (and creates it otherwise, which the cancel below then undoes).
            (None, true) => {
                crm.create_sales_order(&sales_order(&po), &sales_order_key(ctx.saga_id))
                    .await
                    .result
                    .map_err(crm_error)?
                    .id
            }
            (None, false) => return Ok(StepOutcome::done(json!({ "cancelled": null }))),
        };
        match crm
            .cancel_sales_order(&id, &ctx.idempotency_key)
            .await
            .result
        {
            Ok(so) => Ok(StepOutcome::done(
                json!({ "cancelled": so.id, "status": so.status }),
            )),
            Err(crate::providers::Error::NotFound { .. }) => Ok(StepOutcome::done(
                json!({ "cancelled": null, "sales_order_id": id }),
            )),
            Err(e) => Err(crm_error(e)),
        }
    }

    fn effect(&self) -> Effect {
        Effect::ProviderKey { provider: "crm" }
    }
}
