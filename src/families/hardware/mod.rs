//! The `hardware_order` workflow's actions: price resolve (strict snapshots), checkout through
//! the payment processor (refund as compensation), fulfil, ship with a courier (cancel what
//! has not gone out), automate each delivered item through the legacy bridge, and invoice.
//! See `workflows/hardware_order.toml` and docs/workflows.md.

pub mod api;
mod automate;
mod checkout;
mod fulfill;
mod invoice;
mod price;
pub mod pricing;
mod settings;
mod ship;
pub mod store;
mod tracking;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

pub use settings::{HardwareSettings, SCENARIOS, ScenarioPolicy};

use crate::engine::action::{ActionRegistry, DomainWrite, StepContext, StepError};
use crate::families::hardware::store::{HardwareOrder, into_sqlx};
use crate::providers::Providers;
use crate::store::Store;

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
        self.store
            .hardware_order(input.order_id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| {
                StepError::permanent("order_missing", "the hardware order row is missing")
            })
    }
}

/// The saga input the API writes.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OrderInput {
    pub order_id: Uuid,
}

impl OrderInput {
    pub fn from_ctx(ctx: &StepContext) -> Result<Self, StepError> {
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

pub fn register(
    registry: &mut ActionRegistry,
    store: &Store,
    providers: &Arc<Providers>,
    settings: &HardwareSettings,
) {
    let deps = Deps {
        store: store.clone(),
        providers: providers.clone(),
        settings: Arc::new(settings.clone()),
    };
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
        .register("hardware.void_invoice", invoice::VoidInvoice);
}
