//! The actions and compensations of each workflow family, registered by the names workflow
//! files use.

pub mod sample;

use sqlx::PgPool;

use crate::engine::action::ActionRegistry;

/// Every built-in action.
pub fn registry(pool: &PgPool) -> ActionRegistry {
    let mut registry = ActionRegistry::default();
    sample::register(&mut registry, pool);
    registry
}
