//! The `data_bundle` workflow's actions: validate the phone against the network, resolve the
//! price, debit the wallet (refund as compensation), fulfil through the reseller or AT-iShare,
//! notify the customer and write a receipt. See `workflows/data_bundle.toml`.

pub mod api;
mod checkout;
pub mod customer_sms;
mod fulfill;
mod lookup;
mod notify;
mod settings;
pub mod store;
mod validate;

use std::sync::Arc;

use serde::Deserialize;
use uuid::Uuid;

pub use settings::{BundleSettings, LowBalance, PackageSeed, package_id};

use crate::domain::phone::{Network, PhoneNumber};
use crate::engine::action::{ActionRegistry, StepContext, StepError};
use crate::providers::Providers;
use crate::store::Store;

/// Gauge: the reseller balance seen at the last pre-check, in GHS (label `provider`).
pub const RESELLER_BALANCE: &str = "sagaflow_reseller_balance";

/// What the actions share.
#[derive(Clone)]
pub(crate) struct Deps {
    pub store: Store,
    pub providers: Arc<Providers>,
    pub settings: BundleSettings,
}

/// The saga input the API writes.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OrderInput {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub network: Network,
    pub size_gb: u32,
    pub phone_number: String,
    pub order_code: String,
}

impl OrderInput {
    pub fn from_ctx(ctx: &StepContext) -> Result<Self, StepError> {
        ctx.input_as()
    }

    pub fn phone(&self) -> Result<PhoneNumber, StepError> {
        PhoneNumber::parse(&self.phone_number)
            .map_err(|e| StepError::permanent("invalid_phone", e.to_string()))
    }
}

/// The saga's step key without the `:undo` suffix a compensation adds.
pub(crate) fn step_key(ctx: &StepContext, step: &str) -> String {
    format!("{}:{step}", ctx.saga_id)
}

pub(crate) use super::db_error;

pub fn register(
    registry: &mut ActionRegistry,
    store: &Store,
    providers: &Arc<Providers>,
    settings: &BundleSettings,
) {
    metrics::describe_gauge!(
        RESELLER_BALANCE,
        "Provider wallet balance (GHS) seen at the last fulfilment pre-check."
    );
    let deps = Deps {
        store: store.clone(),
        providers: providers.clone(),
        settings: settings.clone(),
    };
    registry
        .register("data_bundle.validate", validate::Validate)
        .register("data_bundle.fail_order", validate::FailOrder(deps.clone()))
        .register(
            "data_bundle.price_resolve",
            validate::PriceResolve(deps.clone()),
        )
        .register("data_bundle.checkout", checkout::Checkout(deps.clone()))
        .register("data_bundle.refund", checkout::Refund)
        .register("data_bundle.fulfill", fulfill::Fulfill(deps.clone()))
        .register("data_bundle.poll", fulfill::Poll(deps.clone()))
        .register("data_bundle.notify", notify::Notify(deps.clone()))
        .register("data_bundle.invoice", notify::Invoice);
}
