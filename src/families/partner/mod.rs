//! The `partner_subscription` workflow (accept, price, CRM sales order plus licence, signed
//! ORDER_FULFILLED / ORDER_FAILED webhooks), the `partner_renewal` workflow
//! (SUBSCRIPTION_RENEWED) and the daily cron workflows `licence_expiry_reminder`
//! (EXPIRY_REMINDER) and `licence_expiry` (EXPIRED, SUBSCRIPTION_EXPIRED).

pub mod api;
pub mod console;
mod expiry;
mod fulfil;
mod reminders;
mod renewal;
mod request_prune;
mod requests;
mod settings;
pub mod store;
pub mod store_console;
pub mod store_requests;
mod webhook;
pub mod webhook_delivery;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::OpenApi;
use uuid::Uuid;

pub use settings::{PartnerAccount, PartnerSettings, ProductSeed};

use crate::api::AppState;
use crate::api::auth::Tokens;
use crate::engine::action::{ActionRegistry, StepContext, StepError};
use crate::engine::hooks::SagaHooks;
use crate::engine::outbox::OutboxHandler;
use crate::families::family::{self, Context, Family};
use crate::providers::Providers;
use crate::store::Store;
use crate::telemetry::OrderKpis;

/// The order workflow partners start (`workflows/partner_subscription.toml`).
pub const WORKFLOW: &str = "partner_subscription";
/// The renewal workflow (`workflows/partner_renewal.toml`).
pub const RENEWAL: &str = "partner_renewal";

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
    pub(crate) fn from_ctx(ctx: &StepContext) -> Result<Self, StepError> {
        ctx.input_as()
    }
}

pub(crate) use super::db_error;

/// A failed CRM call as a step error.
pub(crate) use super::provider_error as crm_error;

/// The partner family: its settings are the `[partner]` table.
pub struct Partner {
    deps: Deps,
}

impl Partner {
    pub fn new(cx: &Context<'_>) -> Result<Self, family::Error> {
        Ok(Self {
            deps: Deps {
                store: cx.store.clone(),
                providers: cx.providers.clone(),
                settings: cx.settings.section("partner")?,
            },
        })
    }
}

#[async_trait]
impl Family for Partner {
    fn name(&self) -> &'static str {
        "partner"
    }

    fn periodic_jobs(&self) -> Vec<crate::engine::periodic::PeriodicJob> {
        request_prune::jobs(&self.deps)
    }

    fn register_actions(&self, registry: &mut ActionRegistry) {
        let deps = &self.deps;
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
            .register(
                "partner.expiry_reminders",
                reminders::ExpiryReminders(deps.clone()),
            )
            .register(
                "partner.expire_licences",
                expiry::ExpireLicences(deps.clone()),
            );
    }

    fn workflows(&self) -> Vec<(&'static str, Arc<dyn SagaHooks>)> {
        vec![(
            WORKFLOW,
            Arc::new(OrderKpis {
                kind: WORKFLOW,
                placed_at_start: true,
            }),
        )]
    }

    fn routes(&self, tokens: &Tokens) -> Router<AppState> {
        api::routes(&self.deps.settings, self.deps.store.clone()).merge(requests::routes(tokens))
    }

    fn console_routes(&self) -> Router<AppState> {
        console::routes()
    }

    fn openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        let mut doc = api::Doc::openapi();
        doc.merge(console::Doc::openapi());
        Some(doc)
    }

    async fn seed(&self, store: &Store, now: DateTime<Utc>) -> crate::store::Result<()> {
        store
            .seed_partner_products(&self.deps.settings.products, now)
            .await
    }

    fn outbox_handlers(&self) -> Vec<(&'static str, Arc<dyn OutboxHandler>)> {
        vec![(
            webhook_delivery::TOPIC,
            Arc::new(webhook_delivery::PartnerWebhookHandler {
                client: self.deps.providers.partner_webhooks.clone(),
            }),
        )]
    }
}
