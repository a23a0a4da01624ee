//! Shared by the metrics and dashboard tests: finding `promtool`, and reading the Prometheus
//! text exposition.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

/// `promtool`, from `PROMTOOL` or the `PATH`. Absent: the calling test skips, unless `CI` is
/// set, where a missing tool is a broken machine and the test fails.
pub fn promtool() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into()));
    let found = Command::new(&path)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "promtool is not installed and CI is set: run `source scripts/lib/prometheus.sh; ensure_prometheus`"
    );
    eprintln!("skipping: promtool is not installed (Debian package `prometheus`)");
    None
}

/// Runs promtool with `args`, feeding `stdin`; returns (success, stdout + stderr).
pub fn run_promtool(tool: &PathBuf, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut cmd = Command::new(tool);
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn promtool");
    {
        let mut input = child.stdin.take().expect("promtool stdin");
        if let Some(text) = stdin {
            input
                .write_all(text.as_bytes())
                .expect("write promtool stdin");
        }
    }
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Names of every sample line (`x_bucket`, `x_sum`, `x_count` for a histogram `x`).
pub fn series_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// The sum of the samples named `name` whose labels include every pair of `labels`; 0 when
/// none exists (a counter that never moved is not rendered).
pub fn value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The exposition as the process's recorder renders it now.
pub fn render() -> String {
    sagaflow::telemetry::prometheus().render()
}
