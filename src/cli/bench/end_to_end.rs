//! The end-to-end measurement: clients start sagas while the worker runs them, so starts and
//! steps compete for the same Postgres, as they do in production. Starts go through
//! `Runtime::start` in process or through `POST /v1/sagas` (`http_starts.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use sagaflow::app::App;
use sagaflow::engine::StartSaga;

use super::http_starts::HttpStarter;
use super::meters::{commits, settle_stats};
use super::profile::{self, Profile};

/// How the clients start sagas.
#[derive(Clone)]
pub(super) enum Starter {
    /// `Runtime::start`, the call behind every route that starts a saga.
    InProcess,
    /// `POST /v1/sagas` against this node's API on a local port.
    Http(HttpStarter),
}

#[derive(Debug, Serialize)]
pub struct EndToEnd {
    pub sagas: usize,
    pub clients: usize,
    /// Until the last client's last start returned.
    pub start_seconds: f64,
    pub starts_per_sec: f64,
    /// From the first start until every saga has finished.
    pub run_seconds: f64,
    pub sagas_per_sec: f64,
    pub steps_per_sec: f64,
    /// Every commit in the database over the run (starts, claims, checkpoints, and for HTTP the
    /// route's read of the new saga), per saga.
    pub commits_per_saga: f64,
    /// Where the time went: statements per saga and the CPU split.
    pub profile: Profile,
}

/// Both variants side by side, with HTTP's rates as a share of in-process ones.
#[derive(Debug, Serialize)]
pub struct EndToEndPair {
    pub in_process: EndToEnd,
    pub http: EndToEnd,
    pub http_starts_ratio: f64,
    pub http_sagas_ratio: f64,
}

/// `n` sagas of `workflow` started by `clients` clients while this process's worker runs
/// them; returns once every one has finished.
pub(super) async fn end_to_end(
    app: &App,
    n: usize,
    clients: usize,
    steps: usize,
    workflow: &str,
    starter: Starter,
) -> anyhow::Result<EndToEnd> {
    let pool = app.store().pool().clone();
    let tag = match starter {
        Starter::InProcess => "e2e-inproc",
        Starter::Http(_) => "e2e-http",
    };
    // Before the commit count: the profile's own reset is not the run's.
    let profiling = profile::begin(&pool).await;
    settle_stats().await;
    let before = commits(&pool).await?;
    let stop = CancellationToken::new();
    // A running worker registers itself with the runtime, so a start hands the saga over in
    // memory when it has room, as on a node that serves the API and runs a worker.
    let worker = tokio::spawn(app.worker("bench-e2e").run(stop.clone()));
    let t = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let (rt, next, starter) = (app.rt.clone(), next.clone(), starter.clone());
        let workflow = workflow.to_string();
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= n {
                    return anyhow::Ok(());
                }
                let key = format!("bench-{tag}-{i}");
                match &starter {
                    Starter::InProcess => {
                        rt.start(
                            StartSaga {
                                workflow: workflow.clone(),
                                input: json!({}),
                                business_key: Some(key.clone()),
                                idempotency_key: Some(key),
                                request_hash: None,
                                actor: "bench".into(),
                            },
                            None,
                        )
                        .await?;
                    }
                    Starter::Http(http) => http.start(&workflow, &key).await?,
                }
            }
        });
    }
    let starting = tokio::spawn(async move {
        while let Some(r) = tasks.join_next().await {
            r??;
        }
        anyhow::Ok(t.elapsed())
    });
    let mut polls = 0i64;
    let like = format!("bench-{tag}-%");
    let mut start_took = None;
    let mut starting = Some(starting);
    loop {
        if let Some(s) = starting.take_if(|s| s.is_finished()) {
            start_took = Some(s.await??);
        }
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sagas WHERE finished_at IS NULL")
            .fetch_one(&pool)
            .await?;
        polls += 1;
        if left == 0
            && let Some(took) = start_took
        {
            let run = t.elapsed();
            stop.cancel();
            worker.await?;
            let profile = profile::end(&pool, profiling, n).await;
            // Reading the statements is one more transaction of ours.
            let polls = polls + profile.statements.as_ref().map_or(0, |_| 1);
            let spans = Spans { start: took, run };
            return finish(
                &pool, n, clients, steps, spans, before, polls, &like, profile,
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How long the starts took, and the whole run.
struct Spans {
    start: Duration,
    run: Duration,
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    pool: &sqlx::PgPool,
    n: usize,
    clients: usize,
    steps: usize,
    spans: Spans,
    before: i64,
    polls: i64,
    like: &str,
    profile: Profile,
) -> anyhow::Result<EndToEnd> {
    let done: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sagas WHERE business_key LIKE $1 AND status = 'completed'",
    )
    .bind(like)
    .fetch_one(pool)
    .await?;
    if done != n as i64 {
        anyhow::bail!("end-to-end run: {done} of {n} sagas completed");
    }
    settle_stats().await;
    // Our own polls and the completion count above are transactions too.
    let after = commits(pool).await? - polls - 1;
    let (start_s, run_s) = (spans.start.as_secs_f64(), spans.run.as_secs_f64());
    Ok(EndToEnd {
        sagas: n,
        clients,
        start_seconds: start_s,
        starts_per_sec: n as f64 / start_s,
        run_seconds: run_s,
        sagas_per_sec: n as f64 / run_s,
        steps_per_sec: (n * steps) as f64 / run_s,
        commits_per_saga: (after - before) as f64 / n.max(1) as f64,
        profile,
    })
}
