//! Subcommands that talk to a running server over HTTP, and the demo.

mod client;
mod demo;
mod render;
mod sagas;

pub use demo::{DemoArgs, demo};
pub use sagas::{SagasArgs, sagas};
