//! The `partner_subscription` workflow (accept, price, CRM sales order plus licence, signed
//! ORDER_FULFILLED / ORDER_FAILED webhooks), the `partner_renewal` workflow
//! (SUBSCRIPTION_RENEWED) and the daily `licence_expiry_reminder` cron workflow.

pub mod api;
mod fulfil;
mod reminders;
mod renewal;
mod settings;
pub mod store;
mod webhook;
pub mod webhook_delivery;

use std::sync::Arc;

use serde::Deserialize;
use uuid::Uuid;

pub use settings::{PartnerAccount, PartnerSettings, ProductSeed};

use crate::engine::action::{ActionRegistry, StepContext, StepError};
use crate::providers::Providers;
use crate::store::Store;

/// What the actions share.
#[derive(Clone)]
pub(crate) struct Deps {
    pub store: Store,
    pub providers: Arc<Providers>,
    pub settings: PartnerSettings,
}

/// The `partner_subscription` saga input the API writes.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OrderInput {
    pub partner_order_id: Uuid,
    /// The partner's orderId.
    pub order_id: String,
    pub product_id: String,
    pub tenure: String,
    /// Where this partner's webhooks go (`[providers.partner_webhooks.partners]`).
    pub webhook: String,
}

impl OrderInput {
    pub fn from_ctx(ctx: &StepContext) -> Result<Self, StepError> {
        ctx.input_as()
    }
}

pub(crate) use super::db_error;

/// A failed CRM call as a step error.
pub(crate) use super::provider_error as crm_error;

pub fn register(
    registry: &mut ActionRegistry,
    store: &Store,
    providers: &Arc<Providers>,
    settings: &PartnerSettings,
) {
    let deps = Deps {
        store: store.clone(),
        providers: providers.clone(),
        settings: settings.clone(),
    };
    registry
        .register("partner.accept", fulfil::Accept(deps.clone()))
        .register("partner.order_failed", webhook::OrderFailed)
        .register("partner.price_resolve", fulfil::PriceResolve(deps.clone()))
        .register("partner.fulfil", fulfil::Fulfil(deps.clone()))
        .register(
            "partner.cancel_sales_order",
            fulfil::CancelSalesOrder(deps.clone()),
        )
        .register("partner.notify", webhook::OrderFulfilled)
        .register("partner.renew", renewal::Renew(deps.clone()))
        .register(
            "partner.cancel_renewal",
            renewal::CancelRenewal(deps.clone()),
        )
        .register("partner.renewed", renewal::Renewed)
        .register("partner.expiry_reminders", reminders::ExpiryReminders(deps));
}
