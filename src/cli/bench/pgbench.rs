//! pgbench's saga-step script (`benches/peers/pgbench/`) against a scratch database of its
//! own: the rate at which this Postgres commits a one-transaction step written by C, the peer
//! figure the engine's steps/s is judged against. Skipped, with the reason, without pgbench.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;

use super::scratch::ScratchDb;

const SETUP: &str = include_str!("../../../benches/peers/pgbench/setup_saga.sql");
const STEP: &str = include_str!("../../../benches/peers/pgbench/saga_step.sql");

#[derive(Debug, Serialize)]
pub struct Pgbench {
    /// The binary that ran, or `None` when none was found (then the figures are absent).
    pub binary: Option<String>,
    pub clients: usize,
    pub seconds: f64,
    pub tx_per_sec: Option<f64>,
    pub skipped: Option<String>,
}

/// Runs the step script from `clients` clients for `for_`, in a database created beside
/// `admin_url` and dropped afterwards.
pub(super) async fn pgbench(
    admin_url: &str,
    clients: usize,
    for_: Duration,
) -> anyhow::Result<Pgbench> {
    let mut out = Pgbench {
        binary: None,
        clients,
        seconds: for_.as_secs_f64(),
        tx_per_sec: None,
        skipped: None,
    };
    let Some(bin) = find_pgbench() else {
        out.skipped = Some(
            "pgbench not found on PATH, in `pg_config --bindir` or /usr/lib/postgresql/*/bin"
                .into(),
        );
        return Ok(out);
    };
    out.binary = Some(bin.display().to_string());
    let scratch = ScratchDb::create(admin_url).await?;
    let result = run(&bin, &scratch.url, clients, for_).await;
    scratch.drop_it().await?;
    out.tx_per_sec = Some(result?);
    Ok(out)
}

async fn run(bin: &Path, url: &str, clients: usize, for_: Duration) -> anyhow::Result<f64> {
    let pool = sqlx::PgPool::connect(url).await?;
    // One statement at a time: VACUUM refuses to run inside the implicit transaction of a
    // multi-statement query.
    for stmt in SETUP.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        sqlx::raw_sql(stmt).execute(&pool).await?;
    }
    pool.close().await;
    let script = std::env::temp_dir().join(format!(
        "sagaflow-saga-step-{:08x}.sql",
        rand::random::<u32>()
    ));
    tokio::fs::write(&script, STEP).await?;
    let secs = for_.as_secs().max(1).to_string();
    let jobs = clients.clamp(1, 2).to_string();
    let output = tokio::process::Command::new(bin)
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            &jobs,
        ])
        .args(["-T", &secs, "-f"])
        .arg(&script)
        .arg(url)
        .output()
        .await
        .context("running pgbench");
    let _ = tokio::fs::remove_file(&script).await;
    let output = output?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_tps(&stdout).with_context(|| format!("no tps line in pgbench's output:\n{stdout}"))
}

/// pgbench on PATH, else in `pg_config --bindir`, else the newest Debian server package's.
fn find_pgbench() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("pgbench"))
            .find(|f| f.is_file())
    });
    let from_pg_config = || {
        let out = std::process::Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()?;
        let f = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("pgbench");
        f.is_file().then_some(f)
    };
    let debian = || {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| Some(e.ok()?.path().join("bin/pgbench")))
            .filter(|f| f.is_file())
            .collect();
        found.sort();
        found.pop()
    };
    on_path.or_else(from_pg_config).or_else(debian)
}

/// The transactions per second pgbench reports, without connection set-up where it says so:
/// `tps = 9537.1 (without initial connection time)` (15+) or `(excluding connections
/// establishing)` (older).
pub(super) fn parse_tps(stdout: &str) -> Option<f64> {
    let tps = |l: &str| -> Option<f64> {
        l.strip_prefix("tps = ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    lines
        .iter()
        .filter(|l| l.contains("without initial connection") || l.contains("excluding"))
        .find_map(|l| tps(l))
        .or_else(|| lines.iter().find_map(|l| tps(l)))
}

#[cfg(test)]
mod tests {
    use super::parse_tps;

    #[test]
    fn reads_tps_from_pgbench_15() {
        let out = "pgbench (15.8 (Debian 15.8-0+deb12u1))\ntransaction type: saga_step.sql\n\
                   number of transactions actually processed: 47686\n\
                   latency average = 1.677 ms\ninitial connection time = 12.307 ms\n\
                   tps = 9537.216482 (without initial connection time)\n";
        assert_eq!(parse_tps(out), Some(9537.216482));
    }

    #[test]
    fn prefers_the_figure_without_connections_in_older_output() {
        let out = "tps = 801.5 (including connections establishing)\n\
                   tps = 812.25 (excluding connections establishing)\n";
        assert_eq!(parse_tps(out), Some(812.25));
    }

    #[test]
    fn no_tps_line_is_none() {
        assert_eq!(parse_tps("pgbench: error: connection refused\n"), None);
        assert_eq!(
            parse_tps("tps = lots (without initial connection time)\n"),
            None
        );
    }
}
