//! The workflow families: one folder each, owning its actions and compensations, its SQL,
//! its routes, its settings, its metrics and its seeds. This file is the one list that names
//! them.

pub mod data_bundle;
pub mod hardware;
pub mod ops_bulk;
pub mod partner;

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::PgPool;

use crate::config::Settings;
use crate::engine::action::ActionRegistry;
use crate::engine::outbox::OutboxHandler;
use crate::providers::Providers;
use crate::store::Store;

/// A database error as a step error: worth another attempt once the database answers.
pub(crate) fn db_error(e: impl std::fmt::Display) -> crate::engine::action::StepError {
    crate::engine::action::StepError::retryable("database", e.to_string())
}

/// A provider's error as a step error: retryable ones keep the provider's `Retry-After`.
pub(crate) fn provider_error(e: crate::providers::Error) -> crate::engine::action::StepError {
    use crate::engine::action::StepError;
    if e.retryable() {
        StepError::Retryable {
            code: e.code().to_string(),
            message: e.to_string(),
            retry_after: e.retry_after(),
        }
    } else {
        StepError::permanent(e.code(), e.to_string())
    }
}

/// Every built-in action.
pub fn registry(pool: &PgPool, providers: &Arc<Providers>, settings: &Settings) -> ActionRegistry {
    let mut registry = ActionRegistry::default();
    crate::steps::sample::register(&mut registry, pool);
    ops_bulk::register(&mut registry, pool);
    let store = Store::new(pool.clone());
    data_bundle::register(&mut registry, &store, providers, &settings.bundles);
    partner::register(&mut registry, &store, providers, &settings.partner);
    hardware::register(&mut registry, &store, providers, &settings.hardware);
    registry
}

/// Upserts the catalogues configured in `[bundles]`, `[partner]` and `[hardware]`; run at
/// start-up.
pub async fn seed_catalogues(
    store: &Store,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::store::Result<()> {
    store.seed_packages(&settings.bundles.packages, now).await?;
    store
        .seed_partner_products(&settings.partner.products, now)
        .await?;
    store
        .seed_price_book(&settings.hardware.price_book, now)
        .await
}

/// Every outbox topic's delivery handler.
pub fn outbox_handlers(providers: &Providers) -> HashMap<String, Arc<dyn OutboxHandler>> {
    let mut handlers: HashMap<String, Arc<dyn OutboxHandler>> = HashMap::new();
    handlers.insert(
        data_bundle::customer_sms::TOPIC.into(),
        Arc::new(data_bundle::customer_sms::CustomerSmsHandler {
            client: providers.sms.clone(),
        }),
    );
    handlers.insert(
        partner::webhook_delivery::TOPIC.into(),
        Arc::new(partner::webhook_delivery::PartnerWebhookHandler {
            client: providers.partner_webhooks.clone(),
        }),
    );
    handlers
}
