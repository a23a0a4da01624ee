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
        /// Run on a private PostgreSQL cluster of its own, started from the installed
        /// binaries (no DATABASE_URL, no system server, no system file touched).
        #[arg(long)]
        embedded: bool,
        /// Where the embedded cluster keeps its data; kept between runs, so a restart on the
        /// same directory finds every saga. Default: `$XDG_DATA_HOME/sagaflow/postgres`
        /// (`~/.local/share/...`), or `/var/lib/sagaflow/postgres` as root. A second node on
        /// a directory in use is refused.
        #[arg(long, requires = "embedded")]
        data_dir: Option<PathBuf>,
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
    /// Operate pricing through a running server's HTTP API (the price sync).
    Pricing(cli::PricingArgs),
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
    let cli = Cli::parse();
    // The demo logs to a file in its own directory, so it sets tracing up itself.
    if !matches!(cli.command, Command::Demo(_)) {
        sagaflow::telemetry::init_tracing();
    }
    // Crash tests only: reads `FAILPOINTS` (see `engine::worker::crash_point`).
    #[cfg(feature = "failpoints")]
    let _crash_points = fail::FailScenario::setup();
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
        Command::Serve {
            role,
            embedded,
            data_dir,
        } => {
            let mut settings = Settings::load().context("loading settings")?;
            // Kept until serve returns: dropping it stops the cluster cleanly.
            let _cluster = if embedded {
                let dir = data_dir.unwrap_or_else(|| sagaflow::embedded::default_dir("postgres"));
                let started = std::time::Instant::now();
                let cluster = sagaflow::embedded::start_with_database(&dir, "sagaflow").await?;
                println!(
                    "embedded PostgreSQL: {} (data {}, log {}, up in {} ms)",
                    cluster.url("sagaflow"),
                    cluster.data_dir().display(),
                    cluster.log().display(),
                    started.elapsed().as_millis()
                );
                settings.database.url = cluster.url("sagaflow");
                Some(cluster)
            } else {
                None
            };
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
        Command::Pricing(args) => cli::pricing(args).await,
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
