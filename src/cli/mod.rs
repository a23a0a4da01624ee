//! Subcommands that talk to a running server over HTTP, and the demo.

mod bench;
mod client;
mod demo;
mod pricing;
mod render;
mod sagas;

pub use bench::{BenchArgs, bench};
pub use demo::{DemoArgs, demo};
pub use pricing::{PricingArgs, pricing};
pub use sagas::{SagasArgs, sagas};
