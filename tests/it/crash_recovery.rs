//! Crash recovery and graceful shutdown with real `sagaflow serve --role worker` processes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::PgPool;

use sagaflow::app::App;

use crate::support;
use crate::support::Process as Worker;

const LEASE_SECS: u64 = 2;

fn spawn_worker(db_url: &str) -> Worker {
    let child = Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .args(["serve", "--role", "worker"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", db_url)
        .env("SAGAFLOW_WORKER__LEASE", format!("{LEASE_SECS}s"))
        .env("SAGAFLOW_WORKER__POLL_INTERVAL", "100ms")
        .env("SAGAFLOW_WORKER__SHUTDOWN_TIMEOUT", "10s")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start a worker process");
    Worker(child)
}

async fn count(pool: &PgPool, sql: &str, pid: Option<u32>) -> i64 {
    let q = sqlx::query_scalar(sql);
    let q = match pid {
        Some(p) => q.bind(p as i32),
        None => q,
    };
    q.fetch_one(pool).await.unwrap()
}

/// Polls until `sql` counts `want`, or panics after `within`. Returns how long it took.
async fn wait_for(
    pool: &PgPool,
    sql: &str,
    pid: Option<u32>,
    want: i64,
    within: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let got = count(pool, sql, pid).await;
        if got >= want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{sql}: {got} of {want} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn start_sagas(app: &App, n: usize, charge_ms: u64) {
    let router = app.router();
    for i in 0..n {
        let req = axum::http::Request::builder()
            .method("POST")
            .uri("/v1/sagas")
            .header("content-type", "application/json")
            .header("idempotency-key", format!("crash-{i}"))
            .header("authorization", support::bearer(support::SERVICE_TOKEN))
            .body(axum::body::Body::from(
                json!({ "workflow": "sample", "input": { "steps": { "charge": { "sleep_ms": charge_ms } } } }).to_string(),
            ))
            .unwrap();
        let res = tower::ServiceExt::oneshot(router.clone(), req)
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_worker_sagas_complete_on_another_within_the_lease() {
    let settings = support::settings().await;
    let url = settings.database.url.clone();
    let app = App::build(settings).await.unwrap();
    let pool = app.store().pool().clone();
    let n = 12;
    start_sagas(&app, n, 4_000).await;

    let mut first = spawn_worker(&url);
    // Every saga is inside its slow, idempotent charge step.
    wait_for(
        &pool,
        "SELECT count(*) FROM sample_effects WHERE step = 'charge'",
        None,
        n as i64,
        Duration::from_secs(60),
    )
    .await;
    first.0.kill().expect("SIGKILL the worker");
    first.0.wait().unwrap();
    let killed_at = Instant::now();

    let second = spawn_worker(&url);
    let pid = second.0.id();
    // Recovery: the second process re-runs every interrupted charge.
    wait_for(
        &pool,
        "SELECT count(*) FROM sample_effects WHERE step = 'charge' AND worker_pid = $1",
        Some(pid),
        n as i64,
        Duration::from_secs(60),
    )
    .await;
    let recovered_in = killed_at.elapsed();
    wait_for(
        &pool,
        "SELECT count(*) FROM sagas WHERE status = 'completed'",
        None,
        n as i64,
        Duration::from_secs(60),
    )
    .await;
    drop(second);

    assert!(
        recovered_in <= Duration::from_secs(LEASE_SECS + 3),
        "recovery took {recovered_in:?}; the lease is {LEASE_SECS}s"
    );
    // No non-idempotent side effect ran twice under one idempotency key.
    let dupes: i64 = count(
        &pool,
        "SELECT count(*) FROM (SELECT idempotency_key FROM sample_effects WHERE NOT idempotent
                              GROUP BY idempotency_key, kind HAVING count(*) > 1) d",
        None,
    )
    .await;
    assert_eq!(dupes, 0);
    // The idempotent charge ran twice for each saga (before and after the crash), same key.
    let charges: Vec<(String, i64)> = sqlx::query_as(
        "SELECT idempotency_key, count(*) FROM sample_effects WHERE step = 'charge' GROUP BY idempotency_key",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(charges.len(), n);
    assert!(
        charges
            .iter()
            .all(|(k, c)| *c == 2 && k.ends_with(":charge")),
        "{charges:?}"
    );
    // The re-run reached the action marked as a recovery; the first run did not.
    let marks: Vec<(i32, String)> = sqlx::query_as(
        "SELECT worker_pid, execution FROM sample_effects WHERE step = 'charge' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (worker, execution) in &marks {
        let want = if *worker == pid as i32 {
            "recovered"
        } else {
            "first"
        };
        assert_eq!(execution, want, "{marks:?}");
    }
    for step in ["reserve", "deliver", "notify"] {
        let runs = count(
            &pool,
            &format!("SELECT count(*) FROM sample_effects WHERE step = '{step}'"),
            None,
        )
        .await;
        assert_eq!(runs, n as i64, "{step} ran once per saga");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_steps_before_exit() {
    let settings = support::settings().await;
    let url = settings.database.url.clone();
    let app = App::build(settings).await.unwrap();
    let pool = app.store().pool().clone();
    let n = 6;
    start_sagas(&app, n, 1_500).await;

    let mut worker = spawn_worker(&url);
    wait_for(
        &pool,
        "SELECT count(*) FROM sample_effects WHERE step = 'charge'",
        None,
        n as i64,
        Duration::from_secs(60),
    )
    .await;
    let status = Command::new("kill")
        .args(["-TERM", &worker.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exited = worker.0.wait().unwrap();
    assert!(
        exited.success(),
        "a drained worker exits cleanly: {exited:?}"
    );

    // The in-flight charges finished and were checkpointed; nothing is left leased.
    let charged = count(
        &pool,
        "SELECT count(*) FROM saga_events WHERE step = 'charge' AND kind = 'step_succeeded'",
        None,
    )
    .await;
    assert_eq!(charged, n as i64);
    let leased = count(
        &pool,
        "SELECT count(*) FROM sagas WHERE lease_owner IS NOT NULL",
        None,
    )
    .await;
    assert_eq!(leased, 0, "drained sagas are released, not left to expire");

    // Another worker finishes them without running charge again.
    let next = spawn_worker(&url);
    wait_for(
        &pool,
        "SELECT count(*) FROM sagas WHERE status = 'completed'",
        None,
        n as i64,
        Duration::from_secs(60),
    )
    .await;
    drop(next);
    let charges = count(
        &pool,
        "SELECT count(*) FROM sample_effects WHERE step = 'charge'",
        None,
    )
    .await;
    assert_eq!(charges, n as i64);
}
