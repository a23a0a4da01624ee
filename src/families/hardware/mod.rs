//! The `hardware_order` workflow's actions: price resolve (strict snapshots), checkout through
//! the payment processor (refund as compensation), fulfil, ship with a courier (cancel what
//! has not gone out), automate each delivered item through the legacy bridge, and invoice.
//! See `workflows/hardware_order.toml` and docs/workflows.md.

pub mod api;
mod automate;
mod checkout;
mod console;
mod fulfill;
mod invoice;
pub(crate) mod invoice_pdf;
mod legacy_forward;
mod legacy_sync;
pub mod metrics;
mod overdue;
pub(crate) mod portal;
mod price;
mod price_sync;
pub mod pricing;
mod settings;
mod ship;
pub mod store;
mod tracking;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::OpenApi;
use uuid::Uuid;

pub use settings::{HardwareSettings, SCENARIOS, ScenarioPolicy};

use crate::api::auth::Tokens;
use crate::api::{AppState, OrderView};
use crate::engine::action::{ActionRegistry, DomainWrite, StepContext, StepError};
use crate::engine::hooks::SagaHooks;
use crate::engine::outbox::OutboxHandler;
use crate::families::family::{self, Context, Family};
use crate::families::hardware::store::{HardwareOrder, into_sqlx};
use crate::providers::Providers;
use crate::store::Store;
use crate::telemetry::OrderKpis;

/// The workflow's name, as `POST /v1/orders/{id}/send-checkout` starts it.
pub const WORKFLOW: &str = "hardware_order";

/// The signal an operator's extra shipment sends its saga, so the ship step books it.
pub const SHIPMENT_DRAFTED: &str = "hardware.shipment_drafted";

/// What the actions share.
#[derive(Clone)]
pub(crate) struct Deps {
    pub store: Store,
    pub providers: Arc<Providers>,
    pub settings: Arc<HardwareSettings>,
}

impl Deps {
    /// The saga's order, which must exist: the API created it before starting the saga.
    async fn order(&self, ctx: &StepContext) -> Result<HardwareOrder, StepError> {
        let input = OrderInput::from_ctx(ctx)?;
        let order = self
            .store
            .hardware_order(input.order_id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| {
                StepError::permanent("order_missing", "the hardware order row is missing")
            })?;
        super::own_row(ctx, order.saga_id, "hardware order")?;
        // The job run links the order unless the step names something closer.
        ctx.report
            .relate("order", order.id, Some(format!("/v1/orders/{}", order.id)));
        Ok(order)
    }
}

/// The saga input the API writes.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OrderInput {
    pub order_id: Uuid,
}

impl OrderInput {
    pub(crate) fn from_ctx(ctx: &StepContext) -> Result<Self, StepError> {
        ctx.input_as()
    }
}

pub(crate) use super::db_error;

/// A domain write whose body returns store errors: an illegal transition aborts the
/// checkpoint with its message instead of writing half a change.
pub(crate) fn domain_write<F>(f: F) -> DomainWrite
where
    F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<(), crate::store::Error>>
        + Send
        + Sync
        + 'static,
{
    Box::new(move |conn| {
        let fut = f(conn);
        Box::pin(async move { fut.await.map_err(into_sqlx) })
    })
}

/// The hardware family: its settings are the `[hardware]` table.
pub struct Hardware {
    deps: Deps,
}

impl Hardware {
    pub fn new(cx: &Context<'_>) -> Result<Self, family::Error> {
        Ok(Self {
            deps: Deps {
                store: cx.store.clone(),
                providers: cx.providers.clone(),
                settings: Arc::new(cx.settings.section("hardware")?),
            },
        })
    }
}

#[async_trait]
impl Family for Hardware {
    fn name(&self) -> &'static str {
        "hardware"
    }

    fn register_actions(&self, registry: &mut ActionRegistry) {
        let deps = &self.deps;
        registry
            .register("hardware.price_resolve", price::PriceResolve(deps.clone()))
            .register("hardware.close_order", price::CloseOrder)
            .register("hardware.checkout", checkout::Checkout(deps.clone()))
            .register("hardware.checkout_poll", checkout::Poll(deps.clone()))
            .register("hardware.refund", checkout::Refund(deps.clone()))
            .register("hardware.fulfill", fulfill::Fulfill(deps.clone()))
            .register(
                "hardware.cancel_fulfillment",
                fulfill::CancelFulfillment(deps.clone()),
            )
            .register("hardware.ship", ship::Ship(deps.clone()))
            .register("hardware.track_shipments", ship::Track(deps.clone()))
            .register(
                "hardware.cancel_shipments",
                ship::CancelShipments(deps.clone()),
            )
            .register("hardware.automate", automate::Automate(deps.clone()))
            .register("hardware.invoice", invoice::Invoice(deps.clone()))
            .register("hardware.void_invoice", invoice::VoidInvoice)
            .register("hardware.mark_overdue", overdue::MarkOverdue(deps.clone()))
            .register("hardware.price_sync", price_sync::PriceSync(deps.clone()))
            .register(
                "hardware.price_health",
                price_sync::PriceHealth(deps.clone()),
            )
            .register(
                "hardware.legacy_refresh",
                legacy_sync::Refresh(deps.clone()),
            )
            .register(
                "hardware.legacy_drift",
                legacy_sync::DetectDrift(deps.clone()),
            );
    }

    fn workflows(&self) -> Vec<(&'static str, Arc<dyn SagaHooks>)> {
        vec![(
            WORKFLOW,
            Arc::new(OrderKpis {
                kind: WORKFLOW,
                placed_at_start: false,
            }),
        )]
    }

    fn routes(&self, tokens: &Tokens) -> Router<AppState> {
        api::routes(
            tokens,
            self.deps.settings.clone(),
            self.deps.providers.clone(),
        )
    }

    fn console_routes(&self) -> Router<AppState> {
        console::routes(self.deps.settings.clone(), self.deps.providers.clone())
    }

    fn openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        let mut doc = api::Doc::openapi();
        doc.merge(console::Doc::openapi());
        Some(doc)
    }

    fn order_view(&self) -> Option<Arc<dyn OrderView>> {
        Some(Arc::new(api::orders::HardwareOrders))
    }

    fn signal_listener(&self) -> Option<Arc<dyn crate::api::SignalListener>> {
        Some(Arc::new(portal::PortalCheckouts))
    }

    async fn seed(&self, store: &Store, now: DateTime<Utc>) -> crate::store::Result<()> {
        store
            .seed_price_book(&self.deps.settings.price_book, now)
            .await
    }

    fn outbox_handlers(&self) -> Vec<(&'static str, Arc<dyn OutboxHandler>)> {
        vec![(
            crate::providers::legacy_forward::TOPIC,
            Arc::new(legacy_forward::Forwarder(
                self.deps.providers.legacy_forward.clone(),
            )),
        )]
    }

    fn describe_metrics(&self) {
        metrics::describe();
    }

    fn signals(&self) -> &'static [&'static str] {
        &[SHIPMENT_DRAFTED]
    }
}
