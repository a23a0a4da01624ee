//! Business entities with their own typed rules, independent of the engine.

pub mod phone;
