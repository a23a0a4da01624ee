//! `sagaflow serve --role worker` processes for tests that need more than one node: the
//! built binary, started with the environment given, killed when dropped.

use std::process::{Command, Stdio};

use super::Process;

/// Starts one worker process with `env` on top of this process's environment (failpoints
/// off: a worker is a production node).
pub fn spawn_worker(env: &[(String, String)]) -> Process {
    let child = Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .args(["serve", "--role", "worker"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env_remove("FAILPOINTS")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start a worker process");
    Process(child)
}
