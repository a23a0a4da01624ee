//! `sagaflow demo` end to end on a small batch against a fresh database: every saga settles,
//! and the hardware summary shows the orders paid, shipped (one in two shipments), automated
//! and invoiced, and the checkout refused for an unsynced price. Run again on the same
//! database, it settles everything again: the simulator's new ids (events, sessions, licences)
//! never repeat the last run's.

use std::process::Command;

use sqlx::Connection;

use crate::support;

/// Runs `sagaflow demo` on a small batch and returns what it printed, once it succeeded: on
/// the database at `url`, or on its own private PostgreSQL when there is none.
fn run_demo(url: Option<&str>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sagaflow"));
    cmd.args(["demo", "--sagas", "6", "--orders", "2", "--hardware", "6"])
        .args(["--timeout", "90s", "--exit-after-batch"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "error");
    match url {
        Some(url) => cmd.env("DATABASE_URL", url),
        None => cmd.env_remove("DATABASE_URL"),
    };
    let out = cmd.output().expect("run the demo");
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
    let stdout = run_demo(Some(&url));
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
    let again = run_demo(Some(&url));
    assert!(again.contains("overdue invoice: INV-000007"), "{again}");
}

#[tokio::test]
async fn without_a_database_the_demo_brings_its_own_and_leaves_nothing_behind() {
    let stdout = run_demo(None);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("embedded PostgreSQL: "))
        .unwrap_or_else(|| panic!("the demo says where its database is:\n{stdout}"));
    let url = line
        .split_whitespace()
        .nth(2)
        .expect("the URL follows")
        .to_string();
    let data = line
        .split("(data ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("the data directory follows");
    let dir = std::path::Path::new(data)
        .parent()
        .expect("the cluster's directory");
    assert!(stdout.contains("invoices issued:"), "{stdout}");
    // Gone afterwards: the server is stopped and its directory removed.
    assert!(!dir.exists(), "{} is still there", dir.display());
    assert!(
        sqlx::PgConnection::connect(&url).await.is_err(),
        "the demo's PostgreSQL still answers on {url}"
    );
}
