//! Outbound clients for every provider sagaflow delivers through, and signature checks on what
//! they send back.

pub mod config;

pub use config::ProvidersConfig;
