//! First measurement of a bench run: how fast this Postgres commits a bare checkpoint, as two
//! statements and as one, so the engine's rate has something to be compared with.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;

#[derive(Debug, Serialize)]
pub struct Baseline {
    pub seconds: f64,
    /// BEGIN; UPDATE saga-like row; INSERT history row; COMMIT.
    pub tx_per_sec: f64,
    /// The same UPDATE + INSERT as one statement (how the engine checkpoints).
    pub single_statement_per_sec: f64,
}

pub(super) async fn baseline(
    pool: &PgPool,
    concurrency: usize,
    for_: Duration,
) -> anyhow::Result<Baseline> {
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
