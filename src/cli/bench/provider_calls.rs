//! A bench section (`--provider-calls N`): what the provider gates cost a call when no limit
//! binds. The built-in simulator runs in this process and the reseller's `get_balance` is
//! called N times from 16 tasks three ways, in interleaved rounds so a noisy neighbour hurts
//! all three alike: no gates, the default gates (only the cached breaker and pause check), and
//! gates with a rate and concurrency far above the load (a bucket UPDATE and a permit insert
//! and delete in Postgres per call).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use sqlx::postgres::PgPoolOptions;

use sagaflow::providers::gates::LimitsConfig;
use sagaflow::providers::reseller::ResellerClient;
use sagaflow::providers::{Gates, Providers};
use sagaflow::simulator::{SimulatorConfig, start};

/// Concurrent callers, as a worker running 16 steps at once would make.
const TASKS: usize = 16;
/// Each way's calls are split over this many rounds, the order of the ways turning each round.
const ROUNDS: usize = 5;
/// Untimed calls per way first: connections opened, caches and statements warm.
const WARM_UP: usize = 2 * TASKS;

#[derive(Debug, Serialize)]
pub struct ProviderCalls {
    /// Calls made each way.
    pub calls: usize,
    pub tasks: usize,
    pub rounds: usize,
    /// a) no gates attached to the client.
    pub no_gates: CallRun,
    /// b) gates with the default limits: rate and concurrency off, breaker on.
    pub default_gates: CallRun,
    /// c) gates with a rate (1,000,000 per second) and concurrency (1,000) that never bind.
    pub unbound_limits: CallRun,
    /// Calls/s of b ÷ calls/s of a.
    pub default_vs_none: f64,
    /// Calls/s of c ÷ calls/s of a.
    pub limits_vs_none: f64,
    /// p50 latency of b ÷ p50 of a.
    pub default_vs_none_p50: f64,
    /// p50 latency of c ÷ p50 of a.
    pub limits_vs_none_p50: f64,
}

#[derive(Debug, Serialize)]
pub struct CallRun {
    pub calls_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// What one way accumulated over its rounds.
#[derive(Default)]
struct Tally {
    latencies_ms: Vec<f64>,
    seconds: f64,
}

impl Tally {
    fn run(mut self) -> CallRun {
        self.latencies_ms.sort_by(f64::total_cmp);
        let n = self.latencies_ms.len();
        CallRun {
            calls_per_sec: n as f64 / self.seconds.max(f64::EPSILON),
            p50_ms: pct(&self.latencies_ms, 0.5),
            p99_ms: pct(&self.latencies_ms, 0.99),
        }
    }
}

/// The limits of way c: far above what 16 callers can reach, so every call pays the Postgres
/// work and none is held. 100,000 per 100 ms is 1,000,000 per second within the checked range.
fn unbound() -> LimitsConfig {
    LimitsConfig {
        rate: 100_000,
        per: Duration::from_millis(100),
        concurrency: 1_000,
        ..LimitsConfig::default()
    }
}

/// Runs the three ways against a simulator started here, the gates keeping their state in the
/// database at `url` (migrated already).
pub(super) async fn provider_calls(url: &str, calls: usize) -> anyhow::Result<ProviderCalls> {
    let sim = start(SimulatorConfig::default())
        .await
        .context("starting the provider simulator")?;
    let cfg = sim.providers_config();
    // A pool of its own, closed at the end, so its commits are flushed before the next phase
    // counts commits.
    let pool = PgPoolOptions::new()
        .max_connections(TASKS as u32 + 4)
        .connect(url)
        .await?;
    let holder = |way: &str| format!("bench-{way}-{}", std::process::id());
    let defaults = Gates::start(
        pool.clone(),
        &[("reseller", &LimitsConfig::default())],
        holder("default"),
    )
    .await?;
    let limited = Gates::start(pool.clone(), &[("reseller", &unbound())], holder("limits")).await?;
    let ways: [ResellerClient; 3] = [
        Providers::from_config(&cfg)?.reseller,
        Providers::from_config(&cfg)?.with_gates(&defaults).reseller,
        Providers::from_config(&cfg)?.with_gates(&limited).reseller,
    ];
    let result = async {
        for client in &ways {
            burst(client, WARM_UP).await?;
        }
        let mut tallies: [Tally; 3] = Default::default();
        for round in 0..ROUNDS {
            let share = calls / ROUNDS + usize::from(round < calls % ROUNDS);
            for k in 0..3 {
                let way = (round + k) % 3;
                let (lat, secs) = burst(&ways[way], share).await?;
                tallies[way].latencies_ms.extend(lat);
                tallies[way].seconds += secs;
            }
        }
        Ok::<_, anyhow::Error>(tallies)
    }
    .await;
    pool.close().await;
    sim.shutdown().await;
    let [a, b, c] = result?.map(Tally::run);
    Ok(ProviderCalls {
        calls,
        tasks: TASKS,
        rounds: ROUNDS,
        default_vs_none: b.calls_per_sec / a.calls_per_sec,
        limits_vs_none: c.calls_per_sec / a.calls_per_sec,
        default_vs_none_p50: b.p50_ms / a.p50_ms.max(f64::EPSILON),
        limits_vs_none_p50: c.p50_ms / a.p50_ms.max(f64::EPSILON),
        no_gates: a,
        default_gates: b,
        unbound_limits: c,
    })
}

/// `calls` calls of `get_balance` shared by [`TASKS`] tasks: every latency in ms, and the
/// wall time. Any failed or held call fails the bench: it would not be measuring the gates.
async fn burst(client: &ResellerClient, calls: usize) -> anyhow::Result<(Vec<f64>, f64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let (client, next) = (client.clone(), next.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < calls {
                let t = Instant::now();
                let attempt = client.get_balance().await;
                if let Err(e) = attempt.result {
                    bail!("get_balance failed: {e}");
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok(lat)
        });
    }
    let mut all = Vec::with_capacity(calls);
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    Ok((all, started.elapsed().as_secs_f64()))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
