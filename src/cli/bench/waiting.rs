//! Last measurement of a bench run (`--waiting`): sagas left waiting for a signal that never
//! comes, and the worker's memory with all of them in flight.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use sagaflow::app::App;
use sagaflow::store::NewSaga;

use super::load::start_all;
use super::meters::current_rss;
use super::{new_saga, version_of};

#[derive(Debug, Serialize)]
pub struct Waiting {
    pub sagas: usize,
    pub seconds_to_all_waiting: f64,
    /// Highest resident set sampled while the sagas were in flight, this process included.
    pub worker_rss_mb: f64,
}

/// Starts `n` sagas whose deliver step waits for a signal that never comes, runs them until
/// all wait, and samples this process's resident memory meanwhile.
pub(super) async fn waiting_run(
    app: &App,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Waiting> {
    let store = app.store().clone();
    let pool = store.pool().clone();
    let version = version_of(app, "sample");
    start_all(&store, app, n, concurrency, move |i| NewSaga {
        input: json!({ "steps": { "deliver": { "wait": true } } }),
        ..new_saga("sample", i, "wait", version)
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
