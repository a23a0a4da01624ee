//! sagaflow: a durable saga orchestrator for order fulfilment, on Postgres.
//!
//! The flow of one order, module by module:
//! 1. [`api`] receives a start request and asks [`store`] to insert the saga and answer its
//!    idempotency key in one transaction.
//! 2. [`engine::worker`] claims runnable sagas in batches and holds a lease on them.
//! 3. [`steps`] run the action of the current step, calling [`providers`].
//! 4. [`engine::lifecycle`] (a pure statig decider) says what happens next.
//! 5. [`store`] checkpoints the saga row, its history event and any outbox and domain rows in
//!    one transaction, fenced by lease owner and row version.
//! 6. [`engine::scheduler`] fires durable timers and cron ticks; expired leases make sagas
//!    claimable again, which is how a crash is recovered.

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod engine;
pub mod families;
pub mod providers;
pub mod simulator;
pub mod steps;
pub mod store;
pub mod telemetry;

pub use app::App;
pub use config::Settings;
