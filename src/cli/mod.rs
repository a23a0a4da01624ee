//! Subcommands that talk to a running server over HTTP, and the demo.

mod demo;
mod sagas;

pub use demo::{DemoArgs, demo};
pub use sagas::{SagasArgs, sagas};
