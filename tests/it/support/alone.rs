//! A process of its own for a test that needs process-wide state to itself. Every test in this
//! binary shares one process, and with it the Prometheus recorder and the global tracing
//! subscriber: `metrics_counters` and `metrics_live` assert exact counter moves and the whole
//! exposition, which other tests' sagas would move, and `providers_logs` installs a TRACE
//! subscriber that would capture (and slow down) every other test's logs.
//!
//! Such a test starts with
//!
//! ```ignore
//! if !support::alone::in_own_process() {
//!     return;
//! }
//! ```
//!
//! In the normal run this starts the test binary again, filtered to exactly this test, waits
//! for it, passes its output on and fails unless it ran that one test and the test passed; it
//! returns false, so the caller returns. In that child it returns true and the body runs.

use std::process::Command;

/// Set, to the test's name, in the child process started to run that test.
const ALONE: &str = "SAGAFLOW_TEST_ALONE";

/// True in the child process that runs the calling test alone; in the normal run, runs that
/// child and returns false. Call it first, from the test's own thread (not a spawned task): the
/// test is named by the thread libtest runs it on.
pub fn in_own_process() -> bool {
    let thread = std::thread::current();
    let test = thread
        .name()
        .expect("libtest names a test's thread after the test");
    if std::env::var(ALONE).is_ok_and(|alone| alone == test) {
        return true;
    }
    // Join the run's database first, so the child is never its only user (its end would stop
    // the cluster under the tests still running here).
    super::admin_url();
    let out = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, test)
        .output()
        .expect("start the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // libtest captures these and shows them when this test fails.
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{test} failed in its own process");
    assert!(
        stdout.contains("test result: ok. 1 passed;"),
        "{test} did not run in its own process (is it called from the test's own thread?)"
    );
    false
}
