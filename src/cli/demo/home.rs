//! The demo's directory: its private PostgreSQL (when `DATABASE_URL` is unset), its log file,
//! and a state file that `sagaflow demo --status` reads to say what a running demo started and
//! where its files are.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use sagaflow::embedded::EmbeddedPostgres;

/// Where the demo keeps its files unless `--data-dir` says: the user's data directory.
pub fn default_dir() -> PathBuf {
    sagaflow::embedded::default_dir("demo")
}

/// What a running demo started, written to `demo.json` (readable by its user only: it holds
/// the operator token) and removed when the demo ends.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    pub pid: u32,
    pub console: String,
    pub operator_token: String,
    pub api: String,
    pub simulator: String,
    pub database: String,
    pub log: PathBuf,
    /// The private cluster's data directory, when the demo runs on one.
    pub cluster: Option<PathBuf>,
}

impl State {
    fn path(dir: &Path) -> PathBuf {
        dir.join("demo.json")
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::File::options()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(Self::path(dir))
            .context("writing the demo's state file")?;
        file.write_all(&serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }

    pub fn remove(dir: &Path) {
        let _ = std::fs::remove_file(Self::path(dir));
    }

    /// The state of the demo running on `dir`, if one is (its process is alive).
    pub fn running(dir: &Path) -> Option<Self> {
        let text = std::fs::read(Self::path(dir)).ok()?;
        let state: Self = serde_json::from_slice(&text).ok()?;
        Path::new(&format!("/proc/{}", state.pid))
            .exists()
            .then_some(state)
    }

    /// The lines the demo prints once its node is up, and `--status` prints again.
    pub fn describe(&self, serving: bool) -> String {
        let mut lines = Vec::new();
        if serving {
            lines.push(format!("  console         {}", self.console));
            lines.push(format!("  operator token  {}", self.operator_token));
            lines.push(format!("  API             {}", self.api));
            lines.push(format!("  simulator       {}", self.simulator));
        }
        lines.push(format!("  database        {}", self.database));
        if let Some(cluster) = &self.cluster {
            lines.push(format!("  cluster data    {}", cluster.display()));
        }
        lines.push(format!("  logs            {}", self.log.display()));
        lines.join("\n")
    }
}

/// `sagaflow demo --status`: what the demo on `dir` runs, or that none does.
pub fn status(dir: &Path) -> std::process::ExitCode {
    match State::running(dir) {
        Some(state) => {
            println!("a demo is running (pid {}):", state.pid);
            println!("{}", state.describe(true));
            std::process::ExitCode::SUCCESS
        }
        None => {
            println!("no demo is running on {}", dir.display());
            std::process::ExitCode::from(3)
        }
    }
}

/// The demo's own database when `DATABASE_URL` is unset: a private cluster in `dir`, stopped
/// when the demo ends, its data removed unless kept (the logs stay).
pub struct Private {
    cluster: Option<EmbeddedPostgres>,
    data: PathBuf,
    keep: bool,
}

impl Private {
    pub async fn start(dir: &Path, keep: bool) -> anyhow::Result<Self> {
        let started = std::time::Instant::now();
        let cluster = sagaflow::embedded::start_with_database(dir, "sagaflow").await?;
        tracing::info!(
            url = %cluster.url("sagaflow"),
            ms = started.elapsed().as_millis() as u64,
            "the demo's PostgreSQL is up"
        );
        Ok(Self {
            data: cluster.data_dir().to_path_buf(),
            cluster: Some(cluster),
            keep,
        })
    }

    pub fn url(&self) -> String {
        self.cluster
            .as_ref()
            .map(|c| c.url("sagaflow"))
            .unwrap_or_default()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        drop(self.cluster.take()); // stops the server before its data goes
        if self.keep {
            println!(
                "the demo's PostgreSQL data is kept in {} (the next demo on it reuses it)",
                self.data.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.data);
        }
    }
}
