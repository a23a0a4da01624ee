//! `sagaflow demo` end to end on a small batch against a fresh database: every saga settles,
//! and the hardware summary shows the orders paid, shipped (one in two shipments), automated
//! and invoiced, and the checkout refused for an unsynced price. Run again on the same
//! database, it settles everything again: the simulator's new ids (events, sessions, licences)
//! never repeat the last run's.

use std::process::Command;

use crate::support;

/// Runs `sagaflow demo` on a small batch and returns what it printed, once it succeeded.
fn run_demo(url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .args(["demo", "--sagas", "6", "--orders", "2", "--hardware", "6"])
        .args(["--timeout", "90s"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "error")
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
    // Again on the same database: every saga settles and new invoices follow the old ones.
    let again = run_demo(&url);
    assert!(again.contains("INV-000006"), "{again}");
}
