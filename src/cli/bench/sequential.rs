//! Second measurement of a bench run: latency with one saga in flight, started both ways a
//! saga can start (handed to this process's worker, or queued and claimed).

use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;

use sagaflow::app::App;

use super::meters::{commits, settle_stats};
use super::{new_saga, version_of};

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

/// One saga at a time, end to end, both ways a saga can start.
pub(super) async fn sequential(app: &App, n: usize, workflow: &str) -> anyhow::Result<Sequential> {
    let handoff = one_at_a_time(app, n, true, workflow).await?;
    let claimed = one_at_a_time(app, n, false, workflow).await?;
    Ok(Sequential {
        sagas: n,
        handoff,
        claimed,
    })
}

/// Times start-to-completed for `n` sagas run one after another.
async fn one_at_a_time(
    app: &App,
    n: usize,
    handoff: bool,
    workflow: &str,
) -> anyhow::Result<Latency> {
    let store = app.store();
    let worker = app.worker("bench-seq");
    let lease = chrono::Duration::from_std(app.settings.worker.lease)?;
    let tag = if handoff { "seq-handoff" } else { "seq-claim" };
    settle_stats().await;
    let before = commits(store.pool()).await?;
    let mut lat = Vec::with_capacity(n);
    let version = version_of(app, workflow);
    for i in 0..n {
        let t = Instant::now();
        let now = app.rt.clock.now();
        if handoff {
            // Inserted already leased to the worker, which runs all six steps under that lease.
            let (_, claimed) = store
                .start_saga_claimed(
                    &new_saga(workflow, i, tag, version),
                    now,
                    worker.id(),
                    now + lease,
                )
                .await?;
            worker
                .run_claimed(claimed.context("a fresh key always starts a saga")?)
                .await;
        } else {
            store
                .start_saga(&new_saga(workflow, i, tag, version), now)
                .await?;
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
