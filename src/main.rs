//! The `sagaflow` command line: serve a node, migrate, check workflows, operate sagas, run
//! the demo and the provider simulator.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use sagaflow::app::{App, Role};
use sagaflow::config::Settings;
use sagaflow::engine::definition::{Catalog, Known};

#[path = "cli/mod.rs"]
mod cli;

#[derive(Parser)]
#[command(
    name = "sagaflow",
    version,
    about = "A durable saga orchestrator for order fulfilment"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node: the HTTP API, workers and the scheduler, or one of them.
    Serve {
        #[arg(long, value_enum, default_value = "all")]
        role: Role,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Validate or draw the workflow definitions.
    Workflows {
        #[command(subcommand)]
        command: WorkflowsCommand,
    },
    /// Inspect and operate sagas through a running server's HTTP API.
    Sagas(cli::SagasArgs),
    /// Run a demo: a server, a worker and a batch of sample orders, with a summary.
    Demo(cli::DemoArgs),
    /// Measure engine throughput and latency against this Postgres's checkpoint rate.
    Bench(cli::BenchArgs),
    /// Run the provider simulator, or replay courier and payment events against a server.
    Simulate(sagaflow::simulator::SimulateArgs),
}

#[derive(Subcommand)]
enum WorkflowsCommand {
    /// Check every definition against the registered actions; exit 1 on any error.
    Check {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print a workflow as a Mermaid flowchart.
    Graph {
        name: String,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    sagaflow::telemetry::init_tracing();
    // Crash tests only: reads `FAILPOINTS` (see `engine::worker::crash_point`).
    #[cfg(feature = "failpoints")]
    let _crash_points = fail::FailScenario::setup();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { role } => {
            let settings = Settings::load().context("loading settings")?;
            let app = App::build(settings).await?;
            let shutdown = CancellationToken::new();
            tokio::spawn(cancel_on_signal(shutdown.clone()));
            app.serve(role, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let settings = Settings::load().context("loading settings")?;
            let pool = sqlx::PgPool::connect(&settings.database.url)
                .await
                .context("connecting to the database")?;
            sagaflow::store::Store::new(pool).migrate().await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Workflows { command } => workflows(command),
        Command::Sagas(args) => cli::sagas(args).await,
        Command::Demo(args) => cli::demo(args).await,
        Command::Bench(args) => cli::bench(args).await,
        Command::Simulate(args) => {
            sagaflow::simulator::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn workflows(command: WorkflowsCommand) -> anyhow::Result<ExitCode> {
    let settings = Settings::load().context("loading settings")?;
    let dir = match &command {
        WorkflowsCommand::Check { dir } | WorkflowsCommand::Graph { dir, .. } => {
            dir.clone().unwrap_or(settings.workflows.dir.clone())
        }
    };
    // Actions only need their names here; the lazy pool never connects.
    let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy(&settings.database.url)?;
    let providers = std::sync::Arc::new(sagaflow::providers::Providers::from_config(
        &settings.providers,
    )?);
    let families = sagaflow::families::assemble(&sagaflow::families::Context {
        store: &sagaflow::store::Store::new(pool),
        providers: &providers,
        settings: &settings,
    })?;
    let known = Known {
        action: &|name| families.registry.contains(name),
        signal: &|name| families.declares_signal(name),
        provider_signal: &|name| sagaflow::providers::webhooks::produces(name),
        require_policy: true,
    };
    let catalog = match Catalog::load_dir(&dir, &known) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            return Ok(ExitCode::from(1));
        }
    };
    match command {
        WorkflowsCommand::Check { .. } => {
            let mut names: Vec<String> = catalog
                .all()
                .map(|d| format!("{} v{} ({} steps)", d.name, d.version, d.steps.len()))
                .collect();
            names.sort();
            for n in names {
                println!("ok  {n}");
            }
            Ok(ExitCode::SUCCESS)
        }
        WorkflowsCommand::Graph { name, .. } => match catalog.latest(&name) {
            Some(def) => {
                print!("{}", def.mermaid());
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!("no workflow named {name:?} in {}", dir.display());
                Ok(ExitCode::from(1))
            }
        },
    }
}

/// Cancels on SIGTERM or Ctrl-C, so the node drains instead of dying mid-step.
async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: draining in-flight steps");
    token.cancel();
}
