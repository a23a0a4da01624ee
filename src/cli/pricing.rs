//! `sagaflow pricing sync`: starts the price sync on a running server (as an operator) and,
//! with `--wait`, follows the saga until it ends and prints what was synced.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use reqwest::Method;
use serde_json::Value;

use super::client::{Client, Connection};

#[derive(Debug, clap::Args)]
pub struct PricingArgs {
    #[command(flatten)]
    pub conn: Connection,
    #[command(subcommand)]
    pub command: PricingCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum PricingCommand {
    /// Give the payment processor a price for every unsynced price-book entry and agreement.
    Sync {
        /// Wait for the sync to end (at most this many seconds) and print what it synced.
        #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "60")]
        wait: Option<u64>,
    },
}

pub async fn pricing(args: PricingArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.conn)?;
    match args.command {
        PricingCommand::Sync { wait } => {
            let started = client.json(Method::POST, "/v1/pricing/sync", None).await?;
            let Some(saga) = started["saga_id"].as_str().map(str::to_string) else {
                bail!("the server answered without a saga id: {started}");
            };
            let Some(seconds) = wait else {
                println!("price sync started: saga {saga}");
                return Ok(ExitCode::SUCCESS);
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
            loop {
                let view = client
                    .json(Method::GET, &format!("/v1/sagas/{saga}"), None)
                    .await?;
                match view["status"].as_str().unwrap_or_default() {
                    "completed" => {
                        print_synced(&view);
                        return Ok(ExitCode::SUCCESS);
                    }
                    status @ ("compensated" | "failed" | "parked" | "cancelled") => {
                        eprintln!(
                            "price sync saga {saga} ended {status}: {}",
                            view["last_error"]
                        );
                        return Ok(ExitCode::FAILURE);
                    }
                    _ if tokio::time::Instant::now() >= deadline => {
                        eprintln!("price sync saga {saga} is still running");
                        return Ok(ExitCode::FAILURE);
                    }
                    _ => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        }
    }
}

/// One line per synced price, from the `sync` step's output in the saga's data.
fn print_synced(view: &Value) {
    let synced = view["data"]["steps"]["sync"]["synced"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    println!("price sync done: {} price(s) synced", synced.len());
    for s in synced {
        println!(
            "  {} {} (revision {}) -> {}",
            s["kind"].as_str().unwrap_or("?"),
            s["id"].as_str().unwrap_or("?"),
            s["revision"],
            s["processor_price_id"].as_str().unwrap_or("?")
        );
    }
}
