//! `sagaflow bench`: the engine's throughput and latency against the rate at which this
//! Postgres commits a bare checkpoint, measured in the same run, so the ratio means something
//! on a shared, noisy machine.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::json;
use sqlx::{Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use sagaflow::app::App;
use sagaflow::config::Settings;
use sagaflow::store::{NewSaga, Store};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Database to run in; a scratch database `<name>_bench_<random>` is created beside it and
    /// dropped.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// Sagas in the load run.
    #[arg(long, default_value_t = 10_000)]
    pub sagas: usize,
    /// Steps per saga (the sample_six workflow has 6).
    #[arg(long, default_value_t = 6)]
    pub steps: usize,
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
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub date: String,
    pub command: String,
    pub sagas: usize,
    pub steps: usize,
    pub concurrency: usize,
    pub workers: usize,
    pub preload_finished: usize,
    pub baseline: Baseline,
    pub engine: EngineRun,
    pub sequential: Sequential,
    /// Engine steps/s ÷ baseline transactions/s (two-statement transaction).
    pub ratio_vs_baseline: f64,
    /// Engine steps/s ÷ the one-statement baseline (the stronger limit).
    pub ratio_vs_single_statement: f64,
    pub explain: Vec<Explain>,
    pub waiting: Option<Waiting>,
}

#[derive(Debug, Serialize)]
pub struct Waiting {
    pub sagas: usize,
    pub seconds_to_all_waiting: f64,
    /// Highest resident set sampled while the sagas were in flight, this process included.
    pub worker_rss_mb: f64,
}

#[derive(Debug, Serialize)]
pub struct Baseline {
    pub seconds: f64,
    /// BEGIN; UPDATE saga-like row; INSERT history row; COMMIT.
    pub tx_per_sec: f64,
    /// The same UPDATE + INSERT as one statement (how the engine checkpoints).
    pub single_statement_per_sec: f64,
}

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

#[derive(Debug, Serialize)]
pub struct Sequential {
    pub sagas: usize,
    /// Started leased to this process's worker and run at once (what `POST /v1/sagas` does
    /// on a node that also runs a worker).
    pub handoff: Latency,
    /// Queued, then claimed by a worker (a node without a worker, or no room).
    pub claimed: Latency,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub saga_p50_ms: f64,
    pub saga_p99_ms: f64,
    pub commits_per_saga: f64,
}

#[derive(Debug, Serialize)]
pub struct Explain {
    pub query: &'static str,
    pub plan: String,
}

pub async fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.steps != 6 {
        bail!("the bench workflow (sample_six) has 6 steps; --steps must be 6");
    }
    let scratch = ScratchDb::create(&args.database_url).await?;
    let result = run(&args, &scratch.url).await;
    scratch.drop_it().await?;
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
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
    let app = App::build(settings.clone()).await?;
    let pool = app.store().pool().clone();

    let baseline = baseline(&pool, args.concurrency, args.baseline_for).await?;
    if args.preload_finished > 0 {
        preload(&pool, args.preload_finished).await?;
    }
    let sequential = sequential(&app, args.sequential).await?;
    let engine = load_run(&app, args, url).await?;
    let explain = explain(&pool).await?;
    let waiting = if args.waiting > 0 {
        Some(waiting_run(&app, args.waiting, args.concurrency).await?)
    } else {
        None
    };
    Ok(Report {
        date: chrono::Utc::now().to_rfc3339(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
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
        explain,
        waiting,
    })
}

/// A throwaway database beside the one given, so the bench never touches real data.
struct ScratchDb {
    admin: String,
    name: String,
    url: String,
}

impl ScratchDb {
    async fn create(url: &str) -> anyhow::Result<Self> {
        let (base, db) = url
            .rsplit_once('/')
            .context("database URL has no database name")?;
        let db = db.split('?').next().unwrap_or(db);
        // Unique per run, so two benches (or a bench and its smoke test) on one server never
        // drop each other's database.
        let name = format!("{db}_bench_{:08x}", rand::random::<u32>());
        let admin = url.to_string();
        let mut conn = PgConnection::connect(&admin)
            .await
            .context("connecting to the database")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        Ok(Self {
            admin,
            url: format!("{base}/{name}"),
            name,
        })
    }

    async fn drop_it(self) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&self.admin).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}

async fn commits(pool: &PgPool) -> anyhow::Result<i64> {
    // Statistics are flushed lazily; clear this backend's snapshot and read the shared value.
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Waits until every backend has flushed its transaction counts: Postgres 15 flushes an idle
/// backend's statistics at most every 10 s, so a shorter wait would credit one phase's
/// commits to the next.
async fn settle_stats() {
    tokio::time::sleep(Duration::from_millis(11_000)).await;
}

async fn baseline(pool: &PgPool, concurrency: usize, for_: Duration) -> anyhow::Result<Baseline> {
    sqlx::raw_sql(
        "CREATE TABLE bench_rows (id bigint PRIMARY KEY, state jsonb NOT NULL, version bigint NOT NULL, updated_at timestamptz NOT NULL);
         CREATE TABLE bench_events (row_id bigint NOT NULL, seq bigint NOT NULL, kind text NOT NULL, detail jsonb NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (row_id, seq))",
    )
    .execute(pool)
    .await?;
    sqlx::query("INSERT INTO bench_rows SELECT g, '{}', 0, now() FROM generate_series(1, $1) g")
        .bind(concurrency as i64 * 64)
        .execute(pool)
        .await?;
    let two = drive(pool, concurrency, for_, false).await?;
    let one = drive(pool, concurrency, for_, true).await?;
    Ok(Baseline {
        seconds: for_.as_secs_f64(),
        tx_per_sec: two,
        single_statement_per_sec: one,
    })
}

/// Runs checkpoint-like transactions from `concurrency` clients for `for_`; returns tx/s.
async fn drive(
    pool: &PgPool,
    concurrency: usize,
    for_: Duration,
    single: bool,
) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + for_;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..concurrency {
        let (pool, done) = (pool.clone(), done.clone());
        tasks.spawn(async move {
            let mut i: i64 = 0;
            while Instant::now() < stop {
                let row = client as i64 * 64 + (i % 64) + 1;
                let state = json!({ "state": "running", "step": i % 6, "attempt": 1 });
                if single {
                    sqlx::query(
                        "WITH u AS (UPDATE bench_rows SET state = $2, version = version + 1, updated_at = now() WHERE id = $1 RETURNING id, version)
                         INSERT INTO bench_events SELECT id, version, 'step_succeeded', $2, now() FROM u",
                    )
                    .bind(row)
                    .bind(&state)
                    .execute(&pool)
                    .await?;
                } else {
                    let mut tx = pool.begin().await?;
                    let version: i64 = sqlx::query_scalar(
                        "UPDATE bench_rows SET state = $2, version = version + 1, updated_at = now() WHERE id = $1 RETURNING version",
                    )
                    .bind(row)
                    .bind(&state)
                    .fetch_one(&mut *tx)
                    .await?;
                    sqlx::query("INSERT INTO bench_events VALUES ($1, $2, 'step_succeeded', $3, now())")
                        .bind(row)
                        .bind(version)
                        .bind(&state)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                }
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            Ok::<_, sqlx::Error>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / for_.as_secs_f64())
}

/// Finished sagas (with history) that the claim and ops queries must not notice.
async fn preload(pool: &PgPool, n: usize) -> anyhow::Result<()> {
    let bar = ProgressBar::new(n as u64);
    bar.set_style(ProgressStyle::with_template(
        "preloading finished sagas {bar:40} {pos}/{len}",
    )?);
    let chunk = 100_000usize;
    let mut done = 0;
    while done < n {
        let k = chunk.min(n - done) as i64;
        sqlx::query(
            "WITH s AS (
                INSERT INTO sagas (id, workflow, workflow_version, business_key, idempotency_key, status, state, data,
                                   attempt, next_run_at, event_seq, created_at, updated_at, finished_at)
                SELECT gen_random_uuid(), 'sample_six', 1, 'old-' || g, 'old-' || gen_random_uuid(), 'completed',
                       '{\"state\":\"completed\"}', '{\"input\":{},\"steps\":{}}', 1, NULL, 2,
                       now() - interval '30 days', now() - interval '30 days', now() - interval '30 days'
                FROM generate_series(1, $1) g
                RETURNING id, created_at
             )
             INSERT INTO saga_events (saga_id, seq, kind, detail, actor, created_at)
             SELECT id, seq, CASE seq WHEN 1 THEN 'saga_created' ELSE 'saga_completed' END, '{}', 'system', created_at
             FROM s, generate_series(1, 2) seq",
        )
        .bind(k)
        .execute(pool)
        .await?;
        done += k as usize;
        bar.set_position(done as u64);
    }
    bar.finish_and_clear();
    sqlx::query("ANALYZE sagas").execute(pool).await?;
    sqlx::query("ANALYZE saga_events").execute(pool).await?;
    Ok(())
}

fn new_saga(i: usize, tag: &str) -> NewSaga {
    NewSaga {
        workflow: "sample_six".into(),
        workflow_version: 1,
        input: json!({}),
        business_key: Some(format!("bench-{tag}-{i}")),
        idempotency_key: Some(format!("bench-{tag}-{i}")),
        request_hash: None,
        actor: "bench".into(),
    }
}

/// One saga at a time, end to end, both ways a saga can start.
async fn sequential(app: &App, n: usize) -> anyhow::Result<Sequential> {
    let handoff = one_at_a_time(app, n, true).await?;
    let claimed = one_at_a_time(app, n, false).await?;
    Ok(Sequential {
        sagas: n,
        handoff,
        claimed,
    })
}

/// Times start-to-completed for `n` sagas run one after another.
async fn one_at_a_time(app: &App, n: usize, handoff: bool) -> anyhow::Result<Latency> {
    let store = app.store();
    let worker = app.worker("bench-seq");
    let lease = chrono::Duration::from_std(app.settings.worker.lease)?;
    let tag = if handoff { "seq-handoff" } else { "seq-claim" };
    settle_stats().await;
    let before = commits(store.pool()).await?;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let now = app.rt.clock.now();
        if handoff {
            // Inserted already leased to the worker, which runs all six steps under that lease.
            let (_, claimed) = store
                .start_saga_claimed(&new_saga(i, tag), now, worker.id(), now + lease)
                .await?;
            worker
                .run_claimed(claimed.context("a fresh key always starts a saga")?)
                .await;
        } else {
            store.start_saga(&new_saga(i, tag), now).await?;
            // One claim, then all six steps under that lease; returns when the final
            // checkpoint (status completed) has committed.
            let claimed = worker.process_one().await?;
            if claimed != 1 {
                bail!("sequential run claimed {claimed} sagas, expected 1");
            }
        }
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    settle_stats().await;
    // The `commits` read itself is a transaction too.
    let after = commits(store.pool()).await? - 1;
    lat.sort_by(f64::total_cmp);
    Ok(Latency {
        saga_p50_ms: pct(&lat, 0.5),
        saga_p99_ms: pct(&lat, 0.99),
        commits_per_saga: (after - before) as f64 / n.max(1) as f64,
    })
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn load_run(app: &App, args: &BenchArgs, url: &str) -> anyhow::Result<EngineRun> {
    let store = app.store().clone();
    let pool = store.pool().clone();
    let n = args.sagas;
    settle_stats().await;
    let before = commits(&pool).await?;

    let t = Instant::now();
    start_all(&store, app, n, args.concurrency, |i| new_saga(i, "load")).await?;
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
async fn start_all(
    store: &Store,
    app: &App,
    n: usize,
    concurrency: usize,
    saga: fn(usize) -> NewSaga,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (store, next, clock) = (store.clone(), next.clone(), app.rt.clock.clone());
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

/// Starts `n` sagas whose deliver step waits for a signal that never comes, runs them until
/// all wait, and samples this process's resident memory meanwhile.
async fn waiting_run(app: &App, n: usize, concurrency: usize) -> anyhow::Result<Waiting> {
    let store = app.store().clone();
    let pool = store.pool().clone();
    start_all(&store, app, n, concurrency, |i| NewSaga {
        workflow: "sample".into(),
        input: json!({ "steps": { "deliver": { "wait": true } } }),
        ..new_saga(i, "wait")
    })
    .await?;
    let stop = CancellationToken::new();
    let worker = tokio::spawn(app.worker("bench-wait").run(stop.clone()));
    let t = Instant::now();
    let mut peak_kb = 0;
    loop {
        peak_kb = peak_kb.max(current_rss(std::process::id()));
        let waiting: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sagas WHERE status = 'waiting'")
                .fetch_one(&pool)
                .await?;
        if waiting as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = t.elapsed().as_secs_f64();
    peak_kb = peak_kb.max(current_rss(std::process::id()));
    stop.cancel();
    worker.await?;
    Ok(Waiting {
        sagas: n,
        seconds_to_all_waiting: seconds,
        worker_rss_mb: peak_kb as f64 / 1024.0,
    })
}

/// Current resident set of a process in KiB (`VmRSS`), 0 when unreadable.
fn current_rss(pid: u32) -> u64 {
    proc_status_kb(pid, "VmRSS:")
}

fn proc_status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Peak resident set of a process in KiB (`VmHWM`), 0 when unreadable.
fn peak_rss(pid: u32) -> u64 {
    proc_status_kb(pid, "VmHWM:")
}

async fn explain(pool: &PgPool) -> anyhow::Result<Vec<Explain>> {
    let queries: [(&'static str, &str); 3] = [
        (
            "claim",
            "EXPLAIN SELECT id FROM sagas WHERE next_run_at <= now() ORDER BY next_run_at LIMIT 32 FOR UPDATE SKIP LOCKED",
        ),
        (
            "list by status",
            "EXPLAIN SELECT id FROM sagas WHERE status = ANY('{failed,parked}') ORDER BY created_at DESC, id DESC LIMIT 51",
        ),
        (
            "history",
            "EXPLAIN SELECT * FROM saga_events WHERE saga_id = '01900000-0000-7000-8000-000000000000' ORDER BY seq",
        ),
    ];
    let mut out = Vec::new();
    for (name, sql) in queries {
        let lines: Vec<String> = sqlx::query_scalar(sql).fetch_all(pool).await?;
        out.push(Explain {
            query: name,
            plan: lines.join("\n"),
        });
    }
    Ok(out)
}

fn print_table(r: &Report) {
    println!("sagaflow bench  {}  ({})", r.date, r.command);
    println!(
        "  sagas {} x {} steps, concurrency {}, worker processes {}, preloaded finished {}",
        r.sagas, r.steps, r.concurrency, r.workers, r.preload_finished
    );
    println!("baseline (same run, same concurrency):");
    println!(
        "  checkpoint transaction (UPDATE + INSERT)     {:>10.0} tx/s",
        r.baseline.tx_per_sec
    );
    println!(
        "  same as one statement                        {:>10.0} tx/s",
        r.baseline.single_statement_per_sec
    );
    println!("engine under load:");
    println!(
        "  starts                                       {:>10.0} /s",
        r.engine.starts_per_sec
    );
    println!(
        "  sagas                                        {:>10.1} /s",
        r.engine.sagas_per_sec
    );
    println!(
        "  steps                                        {:>10.0} /s",
        r.engine.steps_per_sec
    );
    println!(
        "  steps/s ÷ baseline tx/s                      {:>10.2}x",
        r.ratio_vs_baseline
    );
    println!(
        "  steps/s ÷ one-statement baseline             {:>10.2}x",
        r.ratio_vs_single_statement
    );
    println!(
        "  commits per saga (start to finish)           {:>10.2}",
        r.engine.commits_per_saga
    );
    println!(
        "  saga p50 / p99                               {:>7.1} / {:.1} ms",
        r.engine.saga_p50_ms, r.engine.saga_p99_ms
    );
    println!(
        "  step p50 / p99                               {:>7.2} / {:.2} ms",
        r.engine.step_p50_ms, r.engine.step_p99_ms
    );
    println!(
        "  worker peak RSS                              {:>10.1} MB",
        r.engine.worker_peak_rss_mb
    );
    println!(
        "engine, one saga at a time ({} sagas each way):",
        r.sequential.sagas
    );
    let ways = [
        ("handed to this process's worker", &r.sequential.handoff),
        ("queued, then claimed", &r.sequential.claimed),
    ];
    for (how, l) in ways {
        println!(
            "  {how:<33} p50 {:>6.2} ms  p99 {:>6.2} ms  {:.2} commits/saga",
            l.saga_p50_ms, l.saga_p99_ms, l.commits_per_saga
        );
    }
    if let Some(w) = &r.waiting {
        println!(
            "{} sagas waiting on a signal: all waiting after {:.1} s, worker RSS {:.1} MB",
            w.sagas, w.seconds_to_all_waiting, w.worker_rss_mb
        );
    }
    for e in &r.explain {
        println!("EXPLAIN {}:\n  {}", e.query, e.plan.replace('\n', "\n  "));
    }
}
