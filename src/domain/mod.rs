//! Business entities with their own typed rules, independent of the engine.

pub mod hardware;
pub mod money;
pub mod order_code;
pub mod phone;
pub mod pricing;
pub mod storable;
pub mod tenure;
