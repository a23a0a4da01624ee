//! `sagaflow workflows check|graph` as a user runs them: the real binary, real files.

use std::process::Command;

fn sagaflow(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run sagaflow")
}

#[test]
fn check_accepts_the_shipped_workflows() {
    let out = sagaflow(&["workflows", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "sample v2",
        "sample_six v2",
        "data_bundle v2",
        "partner_subscription v2",
    ] {
        assert!(stdout.contains(name), "{name} missing from:\n{stdout}");
    }
}

#[test]
fn check_names_file_and_line_of_every_error_and_exits_1() {
    let dir = std::env::temp_dir().join(format!("sagaflow-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("broken.toml"),
        "name = \"broken\"\nversion = 1\n\n[[steps]]\nname = \"a\"\naction = \"no.such.action\"\n\n[[steps]]\nname = \"a\"\naction = \"sample.work\"\nretry = { schedule = [\"5 fortnights\"] }\n",
    )
    .unwrap();
    let out = sagaflow(&["workflows", "check", "--dir", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let file = dir.join("broken.toml");
    let file = file.display();
    assert!(
        stderr.contains(&format!("{file}:6: unknown step action \"no.such.action\"")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:9: duplicate step name \"a\"")),
        "{stderr}"
    );
    assert!(stderr.contains("bad duration \"5 fortnights\""), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A wait names a signal some provider's webhooks or some family sends; a misspelt one is
/// refused here rather than found when a saga waits for it forever.
#[test]
fn check_refuses_a_wait_for_a_signal_nobody_sends() {
    let dir = std::env::temp_dir().join(format!("sagaflow-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/data_bundle.toml"),
    )
    .unwrap();
    let wait = "signal = \"reseller.order_status|ishare.order_status\"";
    assert!(shipped.contains(wait), "the data-bundle wait moved");
    let line = shipped.lines().position(|l| l.contains(wait)).unwrap() + 1;
    let misspelt = shipped.replace(
        wait,
        "signal = \"reseller.order_status|ishare.orderstatus\"",
    );
    std::fs::write(dir.join("data_bundle.toml"), misspelt).unwrap();
    let out = sagaflow(&["workflows", "check", "--dir", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let file = dir.join("data_bundle.toml");
    assert_eq!(
        stderr.trim(),
        format!(
            "{}:{line}: wait for unknown signal \"ishare.orderstatus\": no provider or family sends it",
            file.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn graph_prints_mermaid_with_compensations() {
    let out = sagaflow(&["workflows", "graph", "sample"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.starts_with("flowchart TD"), "{stdout}");
    assert!(
        stdout.contains("c1 --> c0"),
        "charge's undo leads to reserve's: {stdout}"
    );
    let missing = sagaflow(&["workflows", "graph", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
}
