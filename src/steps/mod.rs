//! The actions and compensations of each workflow family, registered by the names workflow
//! files use.

pub mod ops_bulk;
pub mod partner_webhook;
pub mod sample;

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::PgPool;

use crate::engine::action::ActionRegistry;
use crate::engine::outbox::OutboxHandler;
use crate::providers::Providers;

/// Every built-in action.
pub fn registry(pool: &PgPool) -> ActionRegistry {
    let mut registry = ActionRegistry::default();
    sample::register(&mut registry, pool);
    ops_bulk::register(&mut registry, pool);
    registry
}

/// Every outbox topic's delivery handler.
pub fn outbox_handlers(providers: &Providers) -> HashMap<String, Arc<dyn OutboxHandler>> {
    let mut handlers: HashMap<String, Arc<dyn OutboxHandler>> = HashMap::new();
    handlers.insert(
        partner_webhook::TOPIC.into(),
        Arc::new(partner_webhook::PartnerWebhookHandler {
            client: providers.partner_webhooks.clone(),
        }),
    );
    handlers
}
