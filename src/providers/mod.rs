//! Outbound clients for every provider sagaflow delivers through, and signature checks on what
//! they send back.
//!
//! Every client call returns an [`Attempt`]: the redacted [`Exchange`] (log it) and a typed
//! result whose [`Error`] says whether a retry can help.

pub mod bridge;
pub mod config;
pub mod courier;
pub mod crm;
pub mod error;
pub mod exchange;
pub mod gates;
pub mod ishare;
pub mod legacy_forward;
pub mod metrics;
pub mod partner_webhooks;
pub mod payments;
pub mod reseller;
pub mod retry_after;
pub mod secret;
pub mod signature;
pub mod sms;
mod transport;
pub mod webhooks;

mod clients;
pub use clients::Providers;

pub use config::ProvidersConfig;
pub use error::Error;
pub use exchange::{Attempt, Exchange};
pub use gates::Gates;
pub use secret::Secret;
