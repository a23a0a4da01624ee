//! The end of a bench run: every measurement in one `Report`, printed as a table or, with
//! `--json`, as one JSON document.

use serde::Serialize;

use super::baseline::Baseline;
use super::finished::Explain;
use super::load::EngineRun;
use super::sequential::Sequential;
use super::waiting::Waiting;

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
