//! Crash points: a real `sagaflow serve --role worker` process, built with the `failpoints`
//! feature, aborts right after an effectful step's action returned and before its checkpoint.
//! A second process takes the saga over when the lease runs out. The saga must finish, and
//! the effect must have happened exactly once, counted at the simulator per business order
//! across every reference.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::orders::{Harness, harness};
use sagaflow::providers::config::ProvidersConfig;

const LEASE_SECS: u64 = 2;

/// A worker process, killed when dropped so a failing test leaves nothing running.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The provider settings a worker process needs to reach this test's simulator.
fn provider_env(providers: &ProvidersConfig) -> Vec<(String, String)> {
    let mut env = vec![
        ("RESELLER", &providers.reseller.base_url),
        ("ISHARE", &providers.ishare.base_url),
        ("PAYMENTS", &providers.payments.base_url),
        ("CRM", &providers.crm.base_url),
        ("SMS", &providers.sms.base_url),
        ("BRIDGE", &providers.bridge.base_url),
    ]
    .into_iter()
    .map(|(p, url)| (format!("SAGAFLOW_PROVIDERS__{p}__BASE_URL"), url.clone()))
    .collect::<Vec<_>>();
    for (code, carrier) in &providers.courier.carriers {
        let code = code.to_uppercase();
        env.push((
            format!("SAGAFLOW_PROVIDERS__COURIER__CARRIERS__{code}__BASE_URL"),
            carrier.base_url.clone(),
        ));
    }
    env
}

/// Starts a worker against the harness's database and simulator; `crash` names the crash
/// point it aborts at, once.
fn spawn_worker(h: &Harness, crash: Option<&str>) -> Worker {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sagaflow"));
    cmd.args(["serve", "--role", "worker"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", &h.t.app.settings.database.url)
        .env("SAGAFLOW_WORKER__LEASE", format!("{LEASE_SECS}s"))
        .env("SAGAFLOW_WORKER__POLL_INTERVAL", "100ms")
        .env("SAGAFLOW_WORKER__SHUTDOWN_TIMEOUT", "2s")
        .env("RUST_LOG", "warn")
        .envs(provider_env(&h.t.app.settings.providers))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    match crash {
        Some(point) => cmd.env("FAILPOINTS", format!("{point}=1*return")),
        None => cmd.env_remove("FAILPOINTS"),
    };
    Worker(cmd.spawn().expect("start a worker process"))
}

/// Waits for the worker to abort at its crash point.
async fn crashed(w: &mut Worker, within: Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = w.0.try_wait().unwrap() {
            assert!(!status.success(), "the worker was to abort: {status}");
            return;
        }
        assert!(
            start.elapsed() < within,
            "the crash point was never reached"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn saga_status(h: &Harness, saga: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM sagas WHERE id = $1")
        .bind(saga)
        .fetch_one(h.pool())
        .await
        .unwrap()
}

async fn until_status(h: &Harness, saga: Uuid, want: &str, within: Duration) {
    let start = Instant::now();
    loop {
        let got = saga_status(h, saga).await;
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < within,
            "saga {saga} is {got}, not {want}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Places one data-bundle order for a funded wallet; answers (order, saga).
async fn bundle_order(h: &Harness, network: &str, phone: &str) -> (Uuid, Uuid) {
    let user = Uuid::now_v7();
    let (s, b) = h
        .post_json(
            &format!("/v1/wallets/{user}/top-ups"),
            &[("idempotency-key", "seed")],
            &json!({ "amount": 100.0 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = h
        .post_json(
            "/v1/orders/data-bundles",
            &[("idempotency-key", "crash")],
            &json!({ "user_id": user, "network": network, "size": "1GB", "phone_number": phone }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    (
        b["order_id"].as_str().unwrap().parse().unwrap(),
        b["saga_id"].as_str().unwrap().parse().unwrap(),
    )
}

/// How many times `endpoint` acted for the saga's business order, all references summed.
fn effects(h: &Harness, endpoint: &str, saga: Uuid) -> u64 {
    h.sim
        .stats()
        .orders
        .get(endpoint)
        .and_then(|m| m.get(&saga.to_string()))
        .copied()
        .unwrap_or(0)
}

/// Crashes a data-bundle order at `point`, recovers it on a second worker, and checks the
/// order completed with each of `once` performed exactly once for it.
async fn bundle_crash(network: &str, phone: &str, point: &str, once: &[&str]) {
    let h = harness(|_, _| {}).await;
    let (order, saga) = bundle_order(&h, network, phone).await;
    let mut first = spawn_worker(&h, Some(point));
    crashed(&mut first, Duration::from_secs(60)).await;
    assert_ne!(saga_status(&h, saga).await, "completed");

    let _second = spawn_worker(&h, None);
    until_status(&h, saga, "completed", Duration::from_secs(60)).await;
    for endpoint in once {
        assert_eq!(
            effects(&h, endpoint, saga),
            1,
            "{endpoint} for the order after a crash at {point}: {:?}",
            h.sim.stats().orders.get(*endpoint)
        );
    }
    // The wallet paid once and was not refunded.
    let ledger = h.t.app.store().order_ledger(order).await.unwrap();
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert!(ledger[0].1 < 0, "{ledger:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_reseller_accepted_delivers_once() {
    bundle_crash(
        "MTN",
        "0241234567",
        "crash.data_bundle.fulfill",
        &["reseller.create_order", "reseller.delivered"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_at_ishare_accepted_delivers_once() {
    bundle_crash(
        "AirtelTigo",
        "0261234567",
        "crash.data_bundle.fulfill",
        &["ishare.fulfill", "ishare.delivered"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_delivery_sms_sends_it_once() {
    bundle_crash(
        "MTN",
        "0241234568",
        "crash.data_bundle.notify",
        &["reseller.create_order", "sms.send"],
    )
    .await;
}
