//! A private PostgreSQL cluster run from the binaries already installed: `serve --embedded`
//! (and the crash tests) get a database without a running system server and without touching
//! any system file. Nothing is downloaded.
//!
//! Written here rather than taken from a crate: `postgresql_embedded` downloads its binaries
//! unless configured around, and `pgtemp` builds throwaway clusters for tests only. What
//! sagaflow needs is small: find `initdb` and `pg_ctl`, create or reuse a data directory, start
//! on a free loopback port, stop (crash-style when asked), and run as an unprivileged user
//! when started as root, since the server refuses root.

use std::fs::{File, TryLockError};
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
    #[error(
        "{0} is in use by another sagaflow process (its lock file is held); stop that one or pass another --data-dir"
    )]
    InUse(PathBuf),
    #[error(
        "run as root, the server runs as the user postgres, who cannot reach {0} (a parent directory is closed to it); choose a directory it can enter, for example under /var/lib or /tmp"
    )]
    Unreachable(PathBuf),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How much a cluster's data is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// A node's or the demo's data: fsync and full-page writes on, as in production.
    Durable,
    /// A test run's scratch databases, removed afterwards: no fsync, so tests do not wait on
    /// the disk. A crash of the machine loses them, which costs nothing.
    Throwaway,
}

/// A running private cluster. Dropping it stops the server (its data stays).
pub struct EmbeddedPostgres {
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    /// The unprivileged user the server runs as when we are root.
    run_as: Option<String>,
    durability: Durability,
    stopped: bool,
    /// Held while the cluster runs, so a second process on the same directory is refused
    /// rather than stopping this one's server (released by the OS if this process dies).
    _lock: Option<File>,
}

impl EmbeddedPostgres {
    /// Starts the cluster in `dir` (its `data` subdirectory), creating it on first use and
    /// reusing it after. It listens on a free loopback port and no Unix socket. The directory
    /// is locked while the cluster runs: a second process is refused with [`Error::InUse`].
    pub fn start(dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(dir)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(Error::InUse(dir.to_path_buf())),
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }
        Self::launch(dir, Durability::Durable, Some(lock))
    }

    /// Starts a scratch cluster in `dir` without fsync, for a caller that coordinates access
    /// to the directory itself (a test run's shared cluster, see `tests/it/support`).
    pub fn start_throwaway(dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(dir)?;
        Self::launch(dir, Durability::Throwaway, None)
    }

    fn launch(dir: &Path, durability: Durability, lock: Option<File>) -> Result<Self, Error> {
        let run_as = running_as_root().then(|| "postgres".to_string());
        if let Some(user) = &run_as {
            chown(dir, user)?;
            let reachable = Command::new("runuser")
                .args(["-u", user, "--", "test", "-w"])
                .arg(dir)
                .status()?;
            if !reachable.success() {
                return Err(Error::Unreachable(dir.to_path_buf()));
            }
        }
        let mut me = Self {
            data: dir.join("data"),
            bin: bin_dir().ok_or(Error::NoBinaries)?,
            port: 0,
            run_as,
            durability,
            stopped: true,
            _lock: lock,
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

    /// The port of a server already running on the cluster in `dir`, if one is (read from its
    /// `postmaster.pid` and confirmed by `pg_ctl status`).
    pub fn running_port(dir: &Path) -> Option<u16> {
        let data = dir.join("data");
        let pid_file = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
        let port = pid_file.lines().nth(3)?.trim().parse().ok()?;
        // As root too: pg_ctl refuses root, so it asks as the server's user.
        let run_as = running_as_root().then(|| "postgres".to_string());
        let status = tool(&bin_dir()?, "pg_ctl", run_as.as_deref())
            .arg("-D")
            .arg(&data)
            .arg("status")
            .output()
            .ok()?;
        status.status.success().then_some(port)
    }

    /// A shell command line that stops the cluster in `dir` quickly, as the user it runs as;
    /// for a process that outlives the one that started it (the test run's watcher).
    pub fn stop_command_line(dir: &Path) -> Result<String, Error> {
        let pg_ctl = bin_dir().ok_or(Error::NoBinaries)?.join("pg_ctl");
        let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
        let stop = format!(
            "{} -D {} -m fast -w stop",
            quote(&pg_ctl),
            quote(&dir.join("data"))
        );
        Ok(if running_as_root() {
            format!("runuser -u postgres -- {stop}")
        } else {
            stop
        })
    }

    /// Leaves the server running when this handle goes: another process stops it.
    pub fn detach(mut self) {
        self.stopped = true;
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
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=300",
            self.port
        );
        if self.durability == Durability::Throwaway {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let mut args = vec!["-D", &data, "-l", &log, "-w", "-o", &options];
        args.extend_from_slice(action);
        self.run("pg_ctl", &args)
    }

    /// Runs one of the server's binaries, as the unprivileged user when we are root.
    fn run(&self, name: &str, args: &[&str]) -> Result<(), Error> {
        let out = tool(&self.bin, name, self.run_as.as_deref())
            .args(args)
            .output()?;
        if out.status.success() {
            return Ok(());
        }
        Err(Error::Tool {
            tool: name.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}

/// Starts (or reuses) the cluster in `dir` and makes sure it has `database`.
pub async fn start_with_database(
    dir: &Path,
    database: &str,
) -> Result<EmbeddedPostgres, StartError> {
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
    Ok(cluster)
}

/// Why [`start_with_database`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("starting the embedded PostgreSQL")]
    Cluster(#[from] Error),
    #[error("preparing the embedded PostgreSQL's database")]
    Database(#[from] sqlx::Error),
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "could not stop the embedded PostgreSQL");
        }
    }
}

/// The default home of a private cluster named `name` (`postgres` for `serve --embedded`,
/// `demo`): under `$XDG_DATA_HOME/sagaflow`, else `~/.local/share/sagaflow`, or under
/// `/var/lib/sagaflow` as root, whose home the server's own user cannot enter.
pub fn default_dir(name: &str) -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let root = running_as_root();
    match (std::env::var_os("XDG_DATA_HOME"), home) {
        (Some(data), _) => PathBuf::from(data).join("sagaflow").join(name),
        _ if root => PathBuf::from("/var/lib/sagaflow").join(name),
        (None, Some(home)) => home.join(".local/share/sagaflow").join(name),
        (None, None) => PathBuf::from(format!("sagaflow-{name}")),
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

/// A command for one of the server's binaries, run as `run_as` when given (we are root).
fn tool(bin: &Path, name: &str, run_as: Option<&str>) -> Command {
    match run_as {
        Some(user) => {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", user, "--"]).arg(bin.join(name));
            cmd
        }
        None => Command::new(bin.join(name)),
    }
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
