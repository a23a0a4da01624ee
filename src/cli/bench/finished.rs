//! The finished-sagas check around the load run: old completed sagas loaded before it
//! (`--preload-finished`), and after it the plans of the queries that must not notice them.

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sqlx::PgPool;

/// Finished sagas (with history) that the claim and ops queries must not notice.
pub(super) async fn preload(pool: &PgPool, n: usize) -> anyhow::Result<()> {
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

#[derive(Debug, Serialize)]
pub struct Explain {
    pub query: &'static str,
    pub plan: String,
}

pub(super) async fn explain(pool: &PgPool) -> anyhow::Result<Vec<Explain>> {
    // Plans on the statistics of what the run left, not on whatever autovacuum last saw (a
    // fresh cluster may have none yet, and plan the claim as a scan of a table it thinks empty).
    sqlx::query("ANALYZE sagas").execute(pool).await?;
    sqlx::query("ANALYZE saga_events").execute(pool).await?;
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
