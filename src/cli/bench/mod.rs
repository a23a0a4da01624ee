//! `sagaflow bench`: the engine's throughput and latency against the rate at which this
//! Postgres commits a bare checkpoint, measured in the same run, so the ratio means something
//! on a shared, noisy machine.
//!
//! The run, in order: a scratch database (`scratch.rs`), the bare-checkpoint baseline
//! (`baseline.rs`), pgbench's saga-step script when pgbench is installed (`pgbench.rs`),
//! provider calls with and without the provider gates (`provider_calls.rs`), finished sagas
//! preloaded if asked (`finished.rs`), one saga at a time (`sequential.rs`), the
//! load run (`load.rs`), starts and steps together, in process and over HTTP
//! (`end_to_end.rs`, `http_starts.rs`), the query plans (`finished.rs`), sagas left waiting
//! (`waiting.rs`), then the report (`report.rs`). `meters.rs` reads commits and memory.

mod baseline;
mod end_to_end;
mod finished;
mod http_starts;
mod load;
mod meters;
mod pgbench;
mod profile;
mod provider_calls;
mod report;
mod scratch;
mod sequential;
mod waiting;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

use sagaflow::app::App;
use sagaflow::config::Settings;
use sagaflow::store::NewSaga;

use baseline::baseline;
use end_to_end::{EndToEndPair, Starter, end_to_end};
use finished::{explain, preload};
use load::load_run;
use pgbench::pgbench;
use provider_calls::provider_calls;
use report::{Ratios, Report, print_table};
use scratch::ScratchDb;
use sequential::sequential;
use waiting::waiting_run;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Database to run in; a scratch database `<name>_bench_<random>` is created beside it and
    /// dropped.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// Sagas in the load run.
    #[arg(long, default_value_t = 10_000)]
    pub sagas: usize,
    /// Steps per saga (both bench workflows have 6).
    #[arg(long, default_value_t = 6)]
    pub steps: usize,
    /// The workflow the sequential, load and end-to-end runs start: `sample_six` (six internal
    /// no-ops, which share one checkpoint) or `sample_six_effects` (six no-ops that declare an
    /// outside effect, so each step commits on its own).
    #[arg(long, default_value = "sample_six", value_parser = ["sample_six", "sample_six_effects"])]
    pub workflow: String,
    /// Client concurrency: baseline connections, and sagas a worker runs at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Worker processes (`sagaflow serve --role worker`); 0 runs one worker in this process.
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Sagas run one at a time for the sequential latency.
    #[arg(long, default_value_t = 200)]
    pub sequential: usize,
    /// Finished sagas to load before the run (the "millions of finished sagas" check).
    #[arg(long, default_value_t = 0)]
    pub preload_finished: usize,
    /// After the load run, start this many sagas that end up waiting for a signal and report
    /// the worker's resident memory with all of them in flight.
    #[arg(long, default_value_t = 0)]
    pub waiting: usize,
    /// Baseline duration.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub baseline_for: Duration,
    /// Sagas in each end-to-end run (clients start them while the worker runs them, once in
    /// process and once over HTTP); 0 skips both.
    #[arg(long, default_value_t = 5_000)]
    pub end_to_end: usize,
    /// Clients starting sagas in the end-to-end runs.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// How long pgbench runs its saga-step script (when pgbench is installed); 0s skips it.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub pgbench_for: Duration,
    /// Reseller calls made each of three ways (no provider gates, default gates, gates with
    /// limits that never bind) against the built-in simulator, from 16 tasks; 0 skips it.
    #[arg(long, default_value_t = 3_000)]
    pub provider_calls: usize,
    /// Write every figure as one JSON document to FILE (`-`, or no FILE: print it instead of
    /// the table).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub json: Option<PathBuf>,
}

pub async fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.steps != 6 {
        bail!("the bench workflows have 6 steps; --steps must be 6");
    }
    let scratch = ScratchDb::create(&args.database_url).await?;
    let result = run(&args, &scratch.url).await;
    scratch.drop_it().await?;
    let report = result?;
    let doc = serde_json::to_string_pretty(&report)?;
    match &args.json {
        Some(f) if f.as_os_str() == "-" => println!("{doc}"),
        Some(f) => {
            std::fs::write(f, doc + "\n").with_context(|| format!("writing {}", f.display()))?;
            print_table(&report);
        }
        None => print_table(&report),
    }
    Ok(ExitCode::SUCCESS)
}

async fn run(args: &BenchArgs, url: &str) -> anyhow::Result<Report> {
    let mut settings = Settings::load().context("loading settings")?;
    settings.database.url = url.to_string();
    settings.database.max_connections = (args.concurrency as u32 + 4).max(8);
    settings.worker.concurrency = args.concurrency;
    settings.worker.claim_batch = args.concurrency.max(1) as i64;
    settings.worker.poll_interval = Duration::from_millis(20);
    let token = http_starts::add_service_token(&mut settings);
    let app = App::build(settings.clone()).await?;
    let pool = app.store().pool().clone();

    // The baseline gets a pool of its own, closed when it is done: a backend that exits
    // flushes its commit count at once, so none of the baseline's commits can be credited
    // late to the first engine phase (one saga at a time, handed over).
    let base_pool = PgPoolOptions::new()
        .max_connections(args.concurrency as u32 + 2)
        .connect(url)
        .await?;
    let baseline = baseline(&base_pool, args.concurrency, args.baseline_for).await;
    base_pool.close().await;
    let baseline = baseline?;
    let pgbench = if args.pgbench_for.is_zero() {
        None
    } else {
        Some(pgbench(&args.database_url, args.concurrency, args.pgbench_for).await?)
    };
    let provider_calls = if args.provider_calls > 0 {
        Some(provider_calls(url, args.provider_calls).await?)
    } else {
        None
    };
    if args.preload_finished > 0 {
        preload(&pool, args.preload_finished).await?;
    }
    let sequential = sequential(&app, args.sequential, &args.workflow).await?;
    let engine = load_run(&app, args, url).await?;
    let end_to_end = if args.end_to_end > 0 {
        Some(both_ways(&app, args, token).await?)
    } else {
        None
    };
    let explain = explain(&pool).await?;
    let waiting = if args.waiting > 0 {
        Some(waiting_run(&app, args.waiting, args.concurrency).await?)
    } else {
        None
    };
    let ratios = Ratios::of(&baseline, pgbench.as_ref(), &engine, end_to_end.as_ref());
    Ok(Report {
        date: chrono::Utc::now().to_rfc3339(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        workflow: args.workflow.clone(),
        sagas: args.sagas,
        steps: args.steps,
        concurrency: args.concurrency,
        workers: args.workers,
        preload_finished: args.preload_finished,
        ratio_vs_baseline: engine.steps_per_sec / baseline.tx_per_sec,
        ratio_vs_single_statement: engine.steps_per_sec / baseline.single_statement_per_sec,
        baseline,
        engine,
        sequential,
        end_to_end,
        pgbench,
        provider_calls,
        ratios,
        explain,
        waiting,
    })
}

/// The end-to-end run in process, then over HTTP against this node's own API.
async fn both_ways(app: &App, args: &BenchArgs, token: String) -> anyhow::Result<EndToEndPair> {
    let (n, c) = (args.end_to_end, args.clients);
    let w = args.workflow.as_str();
    let in_process = end_to_end(app, n, c, args.steps, w, Starter::InProcess).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let http = http_starts::serve_api(app.router(), token, stop.clone()).await?;
    let http = end_to_end(app, n, c, args.steps, w, Starter::Http(http)).await;
    stop.cancel();
    let http = http?;
    Ok(EndToEndPair {
        http_starts_ratio: http.starts_per_sec / in_process.starts_per_sec,
        http_sagas_ratio: http.sagas_per_sec / in_process.sagas_per_sec,
        in_process,
        http,
    })
}

/// The version new sagas of `workflow` start on: the loaded file's, as `Runtime::start` would
/// pin them (the bench inserts through the store to measure it alone).
fn version_of(app: &App, workflow: &str) -> i32 {
    app.rt.catalog.latest(workflow).map_or(1, |d| d.version)
}

fn new_saga(workflow: &str, i: usize, tag: &str, version: i32) -> NewSaga {
    NewSaga {
        workflow: workflow.into(),
        workflow_version: version,
        input: json!({}),
        business_key: Some(format!("bench-{tag}-{i}")),
        idempotency_key: Some(format!("bench-{tag}-{i}")),
        request_hash: None,
        actor: "bench".into(),
    }
}
