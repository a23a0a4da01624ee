//! A private PostgreSQL cluster run from the binaries already installed: `serve --embedded`
//! (and the crash tests) get a database without a running system server and without touching
//! any system file. Nothing is downloaded.
//!
//! Written here rather than taken from a crate: `postgresql_embedded` downloads its binaries
//! unless configured around, and `pgtemp` builds throwaway clusters for tests only. What
//! sagaflow needs is small: find `initdb` and `pg_ctl`, create or reuse a data directory, start
//! on a free loopback port, stop (crash-style when asked), and run as an unprivileged user
//! when started as root, since the server refuses root.

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::Connection;

/// Why the private cluster could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no PostgreSQL server binaries found (looked at `pg_config --bindir`, PATH and /usr/lib/postgresql/*/bin); on Debian: apt-get install postgresql"
    )]
    NoBinaries,
    #[error("{tool} failed: {output}")]
    Tool { tool: String, output: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A running private cluster. Dropping it stops the server (its data stays).
pub struct EmbeddedPostgres {
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    /// The unprivileged user the server runs as when we are root.
    run_as: Option<String>,
    stopped: bool,
}

impl EmbeddedPostgres {
    /// Starts the cluster in `dir` (its `data` subdirectory), creating it on first use and
    /// reusing it after. It listens on a free loopback port and no Unix socket.
    pub fn start(dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(dir)?;
        let run_as = running_as_root().then(|| "postgres".to_string());
        if let Some(user) = &run_as {
            chown(dir, user)?;
        }
        let mut me = Self {
            data: dir.join("data"),
            bin: bin_dir().ok_or(Error::NoBinaries)?,
            port: 0,
            run_as,
            stopped: true,
        };
        if !me.data.join("PG_VERSION").exists() {
            let data = me.data.display().to_string();
            me.run(
                "initdb",
                &[
                    "-D",
                    &data,
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
            )?;
        }
        // A node killed outright leaves its server running on the old port: stop it first.
        let data = me.data.display().to_string();
        if me.run("pg_ctl", &["-D", &data, "status"]).is_ok() {
            me.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"])?;
        }
        me.port = free_port()?;
        me.pg_ctl(&["start"])?;
        me.stopped = false;
        Ok(me)
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The server's log file.
    pub fn log(&self) -> PathBuf {
        self.data
            .parent()
            .unwrap_or(&self.data)
            .join("postgres.log")
    }

    /// Stops the server the way a crash does (no shutdown checkpoint, every connection cut)
    /// and starts it again at once, on the same port: it recovers from its write-ahead log.
    pub fn restart_immediately(&self) -> Result<(), Error> {
        self.pg_ctl(&["-m", "immediate", "restart"])
    }

    /// Stops the server cleanly; the data stays for the next start.
    pub fn stop(&mut self) -> Result<(), Error> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        self.pg_ctl(&["-m", "fast", "stop"])
    }

    fn pg_ctl(&self, action: &[&str]) -> Result<(), Error> {
        let data = self.data.display().to_string();
        let log = self.log().display().to_string();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200",
            self.port
        );
        let mut args = vec!["-D", &data, "-l", &log, "-w", "-o", &options];
        args.extend_from_slice(action);
        self.run("pg_ctl", &args)
    }

    /// Runs one of the server's binaries, as the unprivileged user when we are root.
    fn run(&self, tool: &str, args: &[&str]) -> Result<(), Error> {
        let path = self.bin.join(tool);
        let out = match &self.run_as {
            Some(user) => Command::new("runuser")
                .args(["-u", user, "--"])
                .arg(&path)
                .args(args)
                .output()?,
            None => Command::new(&path).args(args).output()?,
        };
        if out.status.success() {
            return Ok(());
        }
        Err(Error::Tool {
            tool: tool.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}

/// Starts (or reuses) the cluster in `dir` and makes sure it has `database`; says on stdout
/// where everything is, with how long the start took.
pub async fn start_with_database(
    dir: &Path,
    database: &str,
) -> Result<EmbeddedPostgres, StartError> {
    let started = std::time::Instant::now();
    let owned = dir.to_path_buf();
    let cluster = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&owned))
        .await
        .map_err(|e| StartError::Cluster(Error::Io(std::io::Error::other(e))))??;
    let mut admin = sqlx::PgConnection::connect(&cluster.url("postgres")).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        sqlx::query(&format!("CREATE DATABASE \"{database}\""))
            .execute(&mut admin)
            .await?;
    }
    println!(
        "embedded PostgreSQL: {} (data {}, log {}, up in {} ms)",
        cluster.url(database),
        cluster.data_dir().display(),
        cluster.log().display(),
        started.elapsed().as_millis()
    );
    Ok(cluster)
}

/// Why [`start_with_database`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("starting the embedded PostgreSQL: {0}")]
    Cluster(#[from] Error),
    #[error("preparing the embedded PostgreSQL's database: {0}")]
    Database(#[from] sqlx::Error),
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "could not stop the embedded PostgreSQL");
        }
    }
}

/// Where the server binaries are: `pg_config --bindir`, then `initdb` on PATH, then the newest
/// version under Debian's `/usr/lib/postgresql`.
fn bin_dir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let from_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
    });
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    debian.sort();
    from_pg_config
        .into_iter()
        .chain(from_path)
        .chain(debian.into_iter().rev().map(|(_, p)| p))
        .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
}

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Hands `dir` to `user`, who runs the server.
fn chown(dir: &Path, user: &str) -> Result<(), Error> {
    let out = Command::new("chown")
        .args(["-R", &format!("{user}:{user}")])
        .arg(dir)
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Tool {
            tool: "chown".into(),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
