//! Subcommands that talk to a running server over HTTP, and the demo.

mod bench;
mod client;
mod demo;
mod render;
mod sagas;

pub use bench::{BenchArgs, bench};
pub use demo::{DemoArgs, demo};
pub use sagas::{SagasArgs, sagas};
