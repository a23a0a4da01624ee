//! Business entities with their own typed rules, independent of the engine.

pub mod hardware;
pub mod legacy;
pub mod money;
pub mod order_code;
pub mod phone;
pub(crate) mod pii;
pub mod price_agreements;
pub mod pricing;
pub mod pricing_trace;
pub mod storable;
pub mod tenure;

/// A status string read from the database that no variant matches.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {entity} status {value:?}")]
pub struct UnknownStatus {
    pub entity: &'static str,
    pub value: String,
}

impl UnknownStatus {
    pub(crate) fn new(entity: &'static str, value: &str) -> Self {
        UnknownStatus {
            entity,
            value: value.to_string(),
        }
    }
}
