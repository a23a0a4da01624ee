//! The provider simulator: every provider API with in-memory state, on a real port.

/// Arguments of `sagaflow simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Port to listen on.
    #[arg(long, default_value_t = 8081)]
    pub port: u16,
}
