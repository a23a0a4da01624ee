//! `sagaflow sagas …`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct SagasArgs {}

pub async fn sagas(_args: SagasArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
