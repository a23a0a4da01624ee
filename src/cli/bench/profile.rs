//! Where an end-to-end run's time goes: the statements Postgres ran per saga (from
//! `pg_stat_statements`, when the server preloads it) and the CPU seconds this process and
//! every Postgres process on the machine spent over the run (from `/proc`).

use serde::Serialize;
use sqlx::PgPool;

/// What was read before the run.
pub(super) struct ProfileStart {
    statements: bool,
    cpu: Option<Cpu>,
}

/// The breakdown of one run.
#[derive(Debug, Serialize)]
pub struct Profile {
    /// The busiest statements by execution time, per saga; `None` when the server does not
    /// preload `pg_stat_statements` (`scripts/bench-breakdown` starts one that does).
    pub statements: Option<Vec<Statement>>,
    /// CPU seconds per saga: this process (clients and worker), and Postgres.
    pub cpu: Option<CpuSplit>,
}

#[derive(Debug, Serialize)]
pub struct Statement {
    /// The statement's text, whitespace squeezed, cut at 100 characters.
    pub query: String,
    pub calls_per_saga: f64,
    /// Execution time inside Postgres, per saga: wall time, so on a busy machine it holds
    /// waits for the CPU too.
    pub exec_ms_per_saga: f64,
    /// Planning time per saga (0 unless the server tracks planning).
    pub plan_ms_per_saga: f64,
    pub rows_per_call: f64,
}

#[derive(Debug, Serialize)]
pub struct CpuSplit {
    pub sagaflow_ms_per_saga: f64,
    pub postgres_ms_per_saga: f64,
    /// Postgres's share of the CPU the two spent.
    pub postgres_share: f64,
}

/// CPU seconds so far, in clock ticks.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    own: u64,
    postgres: u64,
}

pub(super) async fn begin(pool: &PgPool) -> ProfileStart {
    // The view errors unless the library is preloaded; then there is simply no breakdown.
    let statements = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(pool)
        .await
        .is_ok()
        && sqlx::query("SELECT pg_stat_statements_reset()")
            .execute(pool)
            .await
            .is_ok();
    ProfileStart {
        statements,
        cpu: cpu_now(),
    }
}

pub(super) async fn end(pool: &PgPool, start: ProfileStart, sagas: usize) -> Profile {
    let n = sagas.max(1) as f64;
    let cpu = match (start.cpu, cpu_now()) {
        (Some(a), Some(b)) => {
            let hz = ticks_per_second();
            let own = b.own.saturating_sub(a.own) as f64 / hz;
            let pg = b.postgres.saturating_sub(a.postgres) as f64 / hz;
            Some(CpuSplit {
                sagaflow_ms_per_saga: own * 1000.0 / n,
                postgres_ms_per_saga: pg * 1000.0 / n,
                postgres_share: if own + pg > 0.0 { pg / (own + pg) } else { 0.0 },
            })
        }
        _ => None,
    };
    let statements = if start.statements {
        top_statements(pool, n).await.ok()
    } else {
        None
    };
    Profile { statements, cpu }
}

async fn top_statements(pool: &PgPool, n: f64) -> sqlx::Result<Vec<Statement>> {
    let rows: Vec<(String, i64, f64, f64, i64)> = sqlx::query_as(
        "SELECT regexp_replace(query, '\\s+', ' ', 'g'), calls, total_exec_time, total_plan_time, rows
         FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         ORDER BY total_exec_time DESC LIMIT 12",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(query, calls, ms, plan_ms, rows)| Statement {
            query: query.chars().take(100).collect(),
            calls_per_saga: calls as f64 / n,
            exec_ms_per_saga: ms / n,
            plan_ms_per_saga: plan_ms / n,
            rows_per_call: rows as f64 / (calls.max(1) as f64),
        })
        .collect())
}

/// This process's CPU ticks, and those of every `postgres` process: the live ones, plus what
/// each postmaster has reaped from backends that exited.
fn cpu_now() -> Option<Cpu> {
    let own = stat_fields(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    let mut postgres = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if !stat.contains("(postgres)") {
            continue;
        }
        if let Some(f) = stat_fields(&stat) {
            postgres += f.0 + f.1 + f.2 + f.3;
        }
    }
    Some(Cpu {
        own: own.0 + own.1,
        postgres,
    })
}

/// utime, stime, cutime, cstime of a `/proc/PID/stat` line (fields 14 to 17).
fn stat_fields(stat: &str) -> Option<(u64, u64, u64, u64)> {
    // The command name may hold spaces; the fields after it are space-separated.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok());
    // `rest` starts at field 3 (state), so field k is at index k - 3.
    Some((num(11)?, num(12)?, num(13)?, num(14)?))
}

/// The unit `/proc` reports CPU times in: USER_HZ, which Linux fixes at 100 for user space
/// whatever the kernel's own tick rate.
fn ticks_per_second() -> f64 {
    100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cpu_fields_after_a_command_name_with_spaces() {
        let line = "42 (postgres: a b) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 5 2 20 0 1 0";
        assert_eq!(stat_fields(line), Some((7, 3, 5, 2)));
    }
}
