//! The end of a bench run: every measurement in one `Report`, printed as a table and, with
//! `--json`, written as one JSON document.

use serde::Serialize;

use super::baseline::Baseline;
use super::end_to_end::EndToEndPair;
use super::finished::Explain;
use super::load::EngineRun;
use super::pgbench::Pgbench;
use super::provider_calls::ProviderCalls;
use super::sequential::Sequential;
use super::waiting::Waiting;

#[derive(Debug, Serialize)]
pub struct Report {
    pub date: String,
    pub command: String,
    /// The workflow the sequential, load and end-to-end runs started.
    pub workflow: String,
    pub sagas: usize,
    pub steps: usize,
    pub concurrency: usize,
    pub workers: usize,
    pub preload_finished: usize,
    pub baseline: Baseline,
    pub engine: EngineRun,
    pub sequential: Sequential,
    pub end_to_end: Option<EndToEndPair>,
    pub pgbench: Option<Pgbench>,
    /// What the provider gates cost a call when no limit binds (`--provider-calls`).
    pub provider_calls: Option<ProviderCalls>,
    pub ratios: Ratios,
    /// Engine steps/s ÷ baseline transactions/s (two-statement transaction).
    pub ratio_vs_baseline: f64,
    /// Engine steps/s ÷ the one-statement baseline (the stronger limit).
    pub ratio_vs_single_statement: f64,
    pub explain: Vec<Explain>,
    pub waiting: Option<Waiting>,
}

/// The engine's step rates against both same-run limits: the sqlx baseline (two statements)
/// and pgbench's saga-step script (absent without pgbench).
#[derive(Debug, Serialize)]
pub struct Ratios {
    pub load_steps_vs_baseline: f64,
    pub load_steps_vs_pgbench: Option<f64>,
    pub end_to_end_steps_vs_baseline: Option<f64>,
    pub end_to_end_steps_vs_pgbench: Option<f64>,
    pub baseline_vs_pgbench: Option<f64>,
}

impl Ratios {
    pub(super) fn of(
        base: &Baseline,
        pgbench: Option<&Pgbench>,
        load: &EngineRun,
        e2e: Option<&EndToEndPair>,
    ) -> Self {
        let pg = pgbench.and_then(|p| p.tx_per_sec);
        let e2e = e2e.map(|e| e.in_process.steps_per_sec);
        Self {
            load_steps_vs_baseline: load.steps_per_sec / base.tx_per_sec,
            load_steps_vs_pgbench: pg.map(|p| load.steps_per_sec / p),
            end_to_end_steps_vs_baseline: e2e.map(|s| s / base.tx_per_sec),
            end_to_end_steps_vs_pgbench: e2e.zip(pg).map(|(s, p)| s / p),
            baseline_vs_pgbench: pg.map(|p| base.tx_per_sec / p),
        }
    }
}

fn ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
}

pub(super) fn print_table(r: &Report) {
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
    match &r.pgbench {
        Some(p) => match (p.tx_per_sec, &p.skipped) {
            (Some(tps), _) => println!(
                "  pgbench saga-step script (C={}, {:.0} s)    {:>10.0} tx/s",
                p.clients, p.seconds, tps
            ),
            (None, why) => println!("  pgbench skipped: {}", why.as_deref().unwrap_or("-")),
        },
        None => println!("  pgbench not run (--pgbench-for 0s)"),
    }
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
    if let Some(e) = &r.end_to_end {
        println!(
            "end to end, {} clients starting {} sagas while the worker runs them:",
            e.in_process.clients, e.in_process.sagas
        );
        for (how, x) in [("in process", &e.in_process), ("POST /v1/sagas", &e.http)] {
            println!(
                "  {how:<15} starts {:>7.0}/s  sagas {:>7.1}/s  steps {:>7.0}/s  {:.2} commits/saga",
                x.starts_per_sec, x.sagas_per_sec, x.steps_per_sec, x.commits_per_saga
            );
        }
        println!(
            "  HTTP / in process: starts {:.2}x, sagas {:.2}x",
            e.http_starts_ratio, e.http_sagas_ratio
        );
    }
    if let Some(p) = &r.provider_calls {
        println!(
            "provider calls (reseller get_balance, simulator in process), {} each way from {} tasks:",
            p.calls, p.tasks
        );
        let ways = [
            ("no gates", &p.no_gates),
            ("default gates (breaker only)", &p.default_gates),
            ("rate + concurrency, never bind", &p.unbound_limits),
        ];
        for (how, x) in ways {
            println!(
                "  {how:<31} {:>8.0} calls/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
                x.calls_per_sec, x.p50_ms, x.p99_ms
            );
        }
        println!(
            "  calls/s vs no gates: default {:.2}x, limits {:.2}x; p50 vs no gates: default {:.2}x, limits {:.2}x",
            p.default_vs_none, p.limits_vs_none, p.default_vs_none_p50, p.limits_vs_none_p50
        );
    } else {
        println!("provider calls not run (--provider-calls 0)");
    }
    let x = &r.ratios;
    println!("steps/s against the same-run limits:        baseline   pgbench");
    println!(
        "  load run                                  {:>8.2}x {:>9}",
        x.load_steps_vs_baseline,
        ratio(x.load_steps_vs_pgbench)
    );
    println!(
        "  end to end (in process)                   {:>9} {:>9}",
        ratio(x.end_to_end_steps_vs_baseline),
        ratio(x.end_to_end_steps_vs_pgbench)
    );
    println!(
        "  baseline tx/s ÷ pgbench tx/s              {:>9}",
        ratio(x.baseline_vs_pgbench)
    );
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
