//! sagaflow: a durable saga orchestrator for order fulfilment, on Postgres.
//!
//! The flow of one order, module by module:
//! 1. A route in [`api`] or a family's own (in [`families`]), a cron tick or a bulk job calls
//!    [`engine::Runtime::start`], which inserts the saga, the caller's rows and the answer to
//!    its idempotency key in one transaction.
//! 2. [`engine::worker`] claims runnable sagas in batches and holds a lease on them (or takes
//!    one handed over in memory by the start).
//! 3. The family's action runs the current step, calling [`providers`].
//! 4. [`engine::lifecycle`] (a pure statig decider) says what happens next, and
//!    [`engine::transition`] turns that into one saga-row update.
//! 5. [`store`] checkpoints the saga row, its history event and any outbox and domain rows in
//!    one transaction, fenced by lease owner and row version.
//! 6. [`engine::scheduler`] fires durable timers and cron ticks; expired leases make sagas
//!    claimable again, which is how a crash is recovered.
//!
//! Below them sit [`domain`] (typed entities and their rules) and [`config`]; [`simulator`]
//! plays every provider for the tests and the demo; [`app`] assembles a node.

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod embedded;
pub mod engine;
pub mod families;
pub mod providers;
pub mod safety;
pub mod simulator;
pub mod store;
pub mod telemetry;

pub use app::App;
pub use config::Settings;
