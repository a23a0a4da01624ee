//! `sagaflow demo` end to end on a small batch against a fresh database: every saga settles,
//! and the hardware summary shows the orders paid, shipped (one in two shipments), automated
//! and invoiced, and the checkout refused for an unsynced price. Run again on the same
//! database, it settles everything again: the simulator's new ids (events, sessions, licences)
//! never repeat the last run's. Without `DATABASE_URL` it brings its own PostgreSQL and stops
//! it afterwards; left running, it keeps serving with a trickle of orders until Ctrl-C.

use std::process::Command;

use sqlx::Connection;

use crate::support;

/// Runs `sagaflow demo` on a small batch on the database at `url` (its directory, for the log,
/// in a temporary one) and returns what it printed, once it succeeded.
fn run_demo(url: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .args(["demo", "--sagas", "6", "--orders", "2", "--hardware", "6"])
        .args(["--timeout", "90s", "--exit-after-batch"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "error")
        .env("DATABASE_URL", url)
        .env("XDG_DATA_HOME", home.path())
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .contains("hardware orders: 6 placed, 5 checked out, 5 completed, 1 checkout refused"),
        "{stdout}"
    );
    stdout
}

#[tokio::test]
async fn a_small_demo_settles_everything_and_summarises_hardware_orders() {
    let url = support::fresh_database().await;
    let stdout = run_demo(&url);
    let row = |kind: &str| {
        stdout
            .lines()
            .find(|l| l.contains(kind))
            .unwrap_or_else(|| panic!("no {kind:?} row in\n{stdout}"))
            .to_string()
    };
    assert!(
        row("unsynced price").contains("checkout refused (422 price_not_synced)"),
        "{stdout}"
    );
    // saga, payment, fulfilment, shipments, automation steps done/all, then the invoice.
    let two_parts = row("two shipments");
    let words: Vec<&str> = two_parts.split_whitespace().collect();
    assert!(
        words.windows(6).any(
            |w| w == ["completed", "paid", "completed", "2", "2/2", w[5]]
                && w[5].starts_with("INV-")
        ),
        "the two-part order shipped twice, was automated and invoiced: {two_parts}"
    );
    let invoices = row("invoices issued:");
    assert_eq!(invoices.matches("INV-").count(), 5, "{invoices}");
    // The demo's manual invoice, issued first and left unpaid, is flagged by the overdue run.
    let overdue = row("overdue invoice:");
    assert!(
        overdue.contains("INV-000001 for DEMO-CO-0") && overdue.contains("flagged overdue at"),
        "{overdue}"
    );
    // Again on the same database: every saga settles and new invoices follow the old ones.
    let again = run_demo(&url);
    assert!(again.contains("overdue invoice: INV-000007"), "{again}");
}

/// The value after `label` on the demo's description of itself ("  database        …").
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label:?} line in\n{text}"))
}

#[tokio::test]
async fn without_a_database_the_demo_brings_its_own_and_leaves_nothing_behind() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .args(["demo", "--sagas", "6", "--orders", "2", "--hardware", "6"])
        .args(["--timeout", "90s", "--exit-after-batch"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("XDG_DATA_HOME", home.path())
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .contains("hardware orders: 6 placed, 5 checked out, 5 completed, 1 checkout refused"),
        "{stdout}"
    );
    // Its directory is under the user's data directory; the cluster's data is gone.
    let dir = home.path().join("sagaflow/demo");
    assert_eq!(
        field(&stdout, "cluster data"),
        dir.join("data").display().to_string()
    );
    assert!(
        !dir.join("data").exists(),
        "the cluster's data is still there"
    );
    let url = field(&stdout, "database");
    assert!(url.starts_with("postgres://postgres@127.0.0.1:"), "{url}");
    assert!(
        sqlx::PgConnection::connect(url).await.is_err(),
        "the demo's PostgreSQL still answers on {url}"
    );
    // Quiet: the node's logs went to the file it names, not to the terminal.
    let log = field(&stdout, "logs");
    assert_eq!(log, dir.join("demo.log").display().to_string());
    let logged = std::fs::read_to_string(log).unwrap();
    assert!(logged.contains(" INFO "), "nothing logged to {log}");
    let terminal = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !terminal.contains(" INFO "),
        "logs on the terminal:\n{terminal}"
    );
}

/// `sagaflow demo --status` with the demo's home under `home`: its exit code and output.
fn status(home: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .args(["demo", "--status"])
        .env("XDG_DATA_HOME", home)
        .output()
        .expect("run demo --status");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn saga_count(api: &str, token: &str) -> usize {
    let page: serde_json::Value = reqwest::Client::new()
        .get(format!("{api}/v1/sagas?limit=500"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"].as_array().expect("a page of sagas").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_stays_up_with_a_trickle_until_ctrl_c_and_then_stops_its_cluster() {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .args(["demo", "--sagas", "6", "--orders", "2", "--hardware", "6"])
        .args(["--timeout", "90s"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env("XDG_DATA_HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the demo");
    let stdout = child.stdout.take().unwrap();
    let demo = support::Process(child);
    // Read until it has said what it keeps serving (the batch has settled by then).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = String::new();
    while !printed
        .split_once("keeps serving until Ctrl-C")
        .is_some_and(|(_, block)| block.contains("  logs "))
    {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("the demo never said it keeps serving:\n{printed}"));
        printed.push_str(&line);
        printed.push('\n');
    }
    // `--status` says the same as the demo printed, from another process.
    let (code, said) = status(home.path());
    assert_eq!(code, 0, "{said}");
    for label in ["console", "operator token", "API", "database", "logs"] {
        assert_eq!(field(&said, label), field(&printed, label), "{label}");
    }
    assert_eq!(
        printed.matches(field(&printed, "operator token")).count(),
        1,
        "the token is printed once:\n{printed}"
    );
    // The console and the API still answer after the summary, and the trickle adds sagas.
    let api = field(&said, "API").to_string();
    let token = field(&said, "operator token").to_string();
    let page = reqwest::get(field(&said, "console")).await.unwrap();
    assert!(
        page.status().is_success(),
        "console answered {}",
        page.status()
    );
    let before = saga_count(&api, &token).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while saga_count(&api, &token).await < before + 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the trickle started nothing new"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    // Ctrl-C: it stops cleanly, its cluster with it.
    let database = field(&said, "database").to_string();
    let mut demo = demo;
    let int = Command::new("kill")
        .args(["-INT", &demo.0.id().to_string()])
        .status()
        .unwrap();
    assert!(int.success());
    let exited = demo.0.wait().unwrap();
    assert!(exited.success(), "the demo exited with {exited}");
    assert!(sqlx::PgConnection::connect(&database).await.is_err());
    assert!(!home.path().join("sagaflow/demo/data").exists());
    let (code, said) = status(home.path());
    assert_eq!(code, 3, "{said}");
    assert!(said.contains("no demo is running"), "{said}");
}
