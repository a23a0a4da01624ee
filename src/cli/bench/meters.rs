//! What the measurements read around each phase: Postgres's commit count, once every
//! backend has flushed it, and a process's resident memory from `/proc`.

use std::time::Duration;

use sqlx::PgPool;

pub(super) async fn commits(pool: &PgPool) -> anyhow::Result<i64> {
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
pub(super) async fn settle_stats() {
    tokio::time::sleep(Duration::from_millis(11_000)).await;
}

/// Current resident set of a process in KiB (`VmRSS`), 0 when unreadable.
pub(super) fn current_rss(pid: u32) -> u64 {
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
pub(super) fn peak_rss(pid: u32) -> u64 {
    proc_status_kb(pid, "VmHWM:")
}
