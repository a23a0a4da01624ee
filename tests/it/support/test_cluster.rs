//! The test run's own PostgreSQL when `DATABASE_URL` is unset: one scratch cluster (sagaflow's
//! embedded one, without fsync) shared by every test process of the run, so `cargo test` needs
//! no running server and leaves no database behind. `DATABASE_URL` still points the tests at an
//! existing server instead.
//!
//! Two lock files in the cluster's directory share it between processes (`it`, `cli_bench`,
//! and a second `cargo test` run at the same time):
//! - `users.lock`: every process holds it shared for its whole life;
//! - `start.lock`: held exclusively while a process finds the running server or starts one.
//!
//! A test binary exits without running destructors, so each process leaves a watcher behind: a
//! small shell loop that waits for the process to end, then takes `users.lock` exclusively
//! without waiting. Only the last user gets it; that watcher stops the server and removes its
//! data. A process that arrives meanwhile waits on its shared lock until the stop is done, then
//! starts a fresh cluster.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sagaflow::embedded::EmbeddedPostgres;

/// What this process keeps for its whole life: the admin URL and its shared lock.
struct Joined {
    admin_url: String,
    _users: File,
}

static JOINED: OnceLock<Joined> = OnceLock::new();

/// The admin URL of the server tests create their databases on.
pub fn admin_url() -> String {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return url;
    }
    JOINED.get_or_init(join).admin_url.clone()
}

/// Joins the run's cluster, starting it if no process has.
fn join() -> Joined {
    let dir = cluster_dir();
    std::fs::create_dir_all(&dir).expect("create the test cluster's directory");
    let users = lock_file(&dir, "users.lock");
    users.lock_shared().expect("join the test cluster's users");
    let start = lock_file(&dir, "start.lock");
    start.lock().expect("take the test cluster's start lock");
    let port = match EmbeddedPostgres::running_port(&dir) {
        Some(port) => port,
        None => {
            // A run killed with its watcher may have left data behind: start from nothing.
            let _ = std::fs::remove_dir_all(dir.join("data"));
            let started = std::time::Instant::now();
            let cluster = EmbeddedPostgres::start_throwaway(&dir)
                .unwrap_or_else(|e| panic!("start the test run's PostgreSQL: {e}"));
            eprintln!(
                "test PostgreSQL on port {} ({}, up in {} ms)",
                cluster.port(),
                dir.display(),
                started.elapsed().as_millis()
            );
            let port = cluster.port();
            cluster.detach();
            port
        }
    };
    leave_watcher(&dir);
    drop(start);
    Joined {
        admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        _users: users,
    }
}

/// One directory per user, so two users' runs on one machine never meet.
fn cluster_dir() -> PathBuf {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "user".into());
    std::env::temp_dir().join(format!("sagaflow-tests-{user}"))
}

fn lock_file(dir: &Path, name: &str) -> File {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(name))
        .unwrap_or_else(|e| panic!("open {name}: {e}"))
}

/// Starts the shell loop that stops the cluster once this process and every other user are
/// gone. Its own process group, so a Ctrl-C that ends the tests does not end it too.
fn leave_watcher(dir: &Path) {
    let stop = EmbeddedPostgres::stop_command_line(dir).expect("the server binaries");
    let script = r#"
        while kill -0 "$0" 2>/dev/null; do sleep 0.2; done
        exec flock -x -n "$1/users.lock" sh -c "$2 >/dev/null 2>&1; rm -rf \"\$0/data\"" "$1"
    "#;
    let mut watcher = Command::new("sh");
    std::os::unix::process::CommandExt::process_group(
        watcher
            .arg("-c")
            .arg(script)
            .arg(std::process::id().to_string())
            .arg(dir)
            .arg(stop)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        0,
    );
    // Dropping the handle does not kill the watcher, and init reaps it after this process.
    std::mem::forget(watcher.spawn().expect("start the test cluster's watcher"));
}
