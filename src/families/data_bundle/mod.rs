//! The `data_bundle` workflow's actions: validate the phone against the network, resolve the
//! price, debit the wallet (refund as compensation), fulfil through the reseller or AT-iShare,
//! notify the customer and write a receipt. See `workflows/data_bundle.toml`.

pub mod api;
pub mod balance;
mod checkout;
pub mod console;
pub mod customer_sms;
mod fulfill;
mod lookup;
pub mod metrics;
mod notify;
pub mod reorder;
mod settings;
pub mod status;
pub mod store;
mod validate;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::OpenApi;
use uuid::Uuid;

pub use settings::{BundleSettings, LowBalance, PackageSeed, package_id};

use crate::api::auth::Tokens;
use crate::api::{AppState, OrderView};
use crate::domain::phone::{Network, PhoneNumber};
use crate::engine::action::{ActionRegistry, StepContext, StepError};
use crate::engine::hooks::SagaHooks;
use crate::engine::outbox::OutboxHandler;
use crate::families::family::{self, Context, Family};
use crate::providers::Providers;
use crate::store::Store;

pub use metrics::RESELLER_BALANCE;

/// The workflow this family runs (`workflows/data_bundle.toml`).
pub const WORKFLOW: &str = "data_bundle";

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
    pub(crate) fn from_ctx(ctx: &StepContext) -> Result<Self, StepError> {
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

/// The data-bundle family: its settings are the `[bundles]` table.
pub struct DataBundle {
    deps: Deps,
}

impl DataBundle {
    pub fn new(cx: &Context<'_>) -> Result<Self, family::Error> {
        Ok(Self {
            deps: Deps {
                store: cx.store.clone(),
                providers: cx.providers.clone(),
                settings: cx.settings.section("bundles")?,
            },
        })
    }
}

#[async_trait]
impl Family for DataBundle {
    fn name(&self) -> &'static str {
        "data_bundle"
    }

    fn register_actions(&self, registry: &mut ActionRegistry) {
        let deps = &self.deps;
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

    fn workflows(&self) -> Vec<(&'static str, Arc<dyn SagaHooks>)> {
        vec![(WORKFLOW, Arc::new(metrics::Kpis))]
    }

    fn routes(&self, tokens: &Tokens) -> Router<AppState> {
        api::routes(tokens).merge(balance::routes(
            tokens,
            self.deps.settings.low_balance_threshold,
        ))
    }

    fn console_routes(&self) -> Router<AppState> {
        console::routes()
    }

    fn openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        let mut doc = api::Doc::openapi();
        doc.merge(balance::Doc::openapi());
        doc.merge(console::Doc::openapi());
        Some(doc)
    }

    fn order_view(&self) -> Option<Arc<dyn OrderView>> {
        Some(Arc::new(api::BundleOrders))
    }

    async fn seed(&self, store: &Store, now: DateTime<Utc>) -> crate::store::Result<()> {
        store.seed_packages(&self.deps.settings.packages, now).await
    }

    fn outbox_handlers(&self) -> Vec<(&'static str, Arc<dyn OutboxHandler>)> {
        vec![(
            customer_sms::TOPIC,
            Arc::new(customer_sms::CustomerSmsHandler {
                client: self.deps.providers.sms.clone(),
            }),
        )]
    }

    fn describe_metrics(&self) {
        metrics::describe();
    }

    fn periodic_jobs(&self) -> Vec<crate::engine::periodic::PeriodicJob> {
        balance::jobs(&self.deps)
    }
}
