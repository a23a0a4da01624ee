//! `sagaflow demo`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How many sagas to run.
    #[arg(long, default_value_t = 60)]
    pub sagas: usize,
}

pub async fn demo(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
