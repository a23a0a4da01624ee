//! The actions and compensations of each workflow family, registered by name.

pub mod sample;
