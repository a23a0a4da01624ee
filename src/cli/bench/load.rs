//! The main measurement of a bench run: `--sagas` sagas started up front, then run to the end
//! by one in-process worker or `--workers` worker processes, for throughput, latency, commits
//! per saga and worker memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use sagaflow::app::App;
use sagaflow::store::{NewSaga, Store};

use super::meters::{commits, peak_rss, settle_stats};
use super::{BenchArgs, new_saga, version_of};

#[derive(Debug, Serialize)]
pub struct EngineRun {
    pub start_seconds: f64,
    pub starts_per_sec: f64,
    pub run_seconds: f64,
    pub sagas_per_sec: f64,
    pub steps_per_sec: f64,
    pub commits_per_saga: f64,
    pub saga_p50_ms: f64,
    pub saga_p99_ms: f64,
    pub step_p50_ms: f64,
    pub step_p99_ms: f64,
    pub worker_peak_rss_mb: f64,
}

pub(super) async fn load_run(app: &App, args: &BenchArgs, url: &str) -> anyhow::Result<EngineRun> {
    let store = app.store().clone();
    let pool = store.pool().clone();
    let n = args.sagas;
    settle_stats().await;
    let before = commits(&pool).await?;

    let t = Instant::now();
    let version = version_of(app, &args.workflow);
    let workflow = args.workflow.clone();
    start_all(&store, app, n, args.concurrency, move |i| {
        new_saga(&workflow, i, "load", version)
    })
    .await?;
    let start_seconds = t.elapsed().as_secs_f64();

    let bar = ProgressBar::new(n as u64);
    bar.set_style(ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} sagas completed",
    )?);
    let stop = CancellationToken::new();
    let mut children = Vec::new();
    let mut local = None;
    let t = Instant::now();
    if args.workers == 0 {
        local = Some(tokio::spawn(app.worker("bench").run(stop.clone())));
    } else {
        for _ in 0..args.workers {
            children.push(spawn_worker(url, args.concurrency)?);
        }
    }
    let mut polls = 0i64;
    let mut peak_rss_kb = 0u64;
    loop {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sagas WHERE finished_at IS NULL")
            .fetch_one(&pool)
            .await?;
        polls += 1;
        bar.set_position((n as i64 - left) as u64);
        for pid in children
            .iter()
            .map(|c| c.id())
            .chain(args.workers.eq(&0).then(std::process::id))
        {
            peak_rss_kb = peak_rss_kb.max(peak_rss(pid));
        }
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run_seconds = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    stop.cancel();
    if let Some(w) = local {
        w.await?;
    }
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    settle_stats().await;
    let after = commits(&pool).await? - 1 - polls;
    let (saga_p50, saga_p99): (f64, f64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.99) WITHIN GROUP (ORDER BY d)
         FROM (SELECT extract(epoch FROM finished_at - created_at) * 1000 AS d
               FROM sagas WHERE business_key LIKE 'bench-load-%') x",
    )
    .fetch_one(&pool)
    .await?;
    let (step_p50, step_p99): (f64, f64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.99) WITHIN GROUP (ORDER BY d)
         FROM (SELECT extract(epoch FROM e.created_at - lag(e.created_at) OVER (PARTITION BY e.saga_id ORDER BY e.seq)) * 1000 AS d, e.kind
               FROM saga_events e JOIN sagas s ON s.id = e.saga_id WHERE s.business_key LIKE 'bench-load-%') x
         WHERE kind = 'step_succeeded' AND d IS NOT NULL",
    )
    .fetch_one(&pool)
    .await?;
    Ok(EngineRun {
        start_seconds,
        starts_per_sec: n as f64 / start_seconds,
        run_seconds,
        sagas_per_sec: n as f64 / run_seconds,
        steps_per_sec: (n * args.steps) as f64 / run_seconds,
        commits_per_saga: (after - before) as f64 / n as f64,
        saga_p50_ms: saga_p50,
        saga_p99_ms: saga_p99,
        step_p50_ms: step_p50,
        step_p99_ms: step_p99,
        worker_peak_rss_mb: peak_rss_kb as f64 / 1024.0,
    })
}

/// Starts every saga through the store API from `concurrency` clients.
pub(super) async fn start_all(
    store: &Store,
    app: &App,
    n: usize,
    concurrency: usize,
    saga: impl Fn(usize) -> NewSaga + Clone + Send + 'static,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (store, next, clock) = (store.clone(), next.clone(), app.rt.clock.clone());
        let saga = saga.clone();
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= n {
                    return Ok::<_, sagaflow::store::Error>(());
                }
                store.start_saga(&saga(i), clock.now()).await?;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

fn spawn_worker(url: &str, concurrency: usize) -> anyhow::Result<std::process::Child> {
    Ok(std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--role", "worker"])
        .env("DATABASE_URL", url)
        .env("SAGAFLOW_WORKER__CONCURRENCY", concurrency.to_string())
        .env("SAGAFLOW_WORKER__CLAIM_BATCH", concurrency.to_string())
        .env("SAGAFLOW_WORKER__POLL_INTERVAL", "20ms")
        .env(
            "SAGAFLOW_DATABASE__MAX_CONNECTIONS",
            (concurrency + 4).to_string(),
        )
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()?)
}
