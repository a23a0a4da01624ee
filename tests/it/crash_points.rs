//! Crash points: a real `sagaflow serve --role worker` process, built with the `failpoints`
//! feature, aborts right after an effectful step's action returned and before its checkpoint.
//! A second process takes the saga over when the lease runs out. The saga must finish, and
//! the effect must have happened exactly once, counted at the simulator per business order
//! across every reference.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::Process as Worker;
use crate::support::orders::{Harness, harness};

const LEASE_SECS: u64 = 2;

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
        .envs(crate::support::providers::node_env(
            &h.t.app.settings.providers,
        ))
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

/// How a hardware order is driven from outside while the workers run it.
#[derive(Clone, Copy, PartialEq)]
enum Drive {
    /// Pay, then deliver every parcel: the saga completes.
    Complete,
    /// Pay, then the courier cancels the parcel: the saga is compensated (refund, void).
    CourierCancels,
    /// Pay, then the shop cancels the order while its parcel is ready: undone, then cancelled.
    ShopCancels,
}

/// Runs a hardware order with a first worker that aborts at `point`, takes over with a second,
/// drives it as `drive` says, and checks each of `once` happened exactly once for the order.
async fn hardware_crash(point: &str, drive: Drive, once: &[&str]) {
    use crate::support::hardware::{
        create, hardware, id, order_body, send_checkout, sim_post, view,
    };
    let h = hardware().await;
    let order = id(
        &create(
            &h,
            &order_body(&[("SENSOR-T1", 1, "sensor_vendor_first_time")]),
        )
        .await,
        "id",
    );
    let saga = send_checkout(&h, order).await;
    let mut first = spawn_worker(&h, Some(point));
    let mut second: Option<Worker> = None;
    let (mut paid, mut moved, mut cancelled) = (false, Vec::<String>::new(), false);
    let want = match drive {
        Drive::Complete => "completed",
        Drive::CourierCancels => "compensated",
        Drive::ShopCancels => "cancelled",
    };
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "saga {saga} is {}; crashed: {}",
            saga_status(&h, saga).await,
            second.is_some()
        );
        if second.is_none() && first.0.try_wait().unwrap().is_some() {
            second = Some(spawn_worker(&h, None));
        }
        if saga_status(&h, saga).await == want {
            break;
        }
        let v = view(&h, order).await;
        if !paid && v["payment_status"] == "checkout_sent" {
            let session = v["checkout_session"].as_str().unwrap().to_string();
            sim_post(
                &h,
                &format!("/_sim/payments/{session}/complete?outcome=paid"),
                json!({}),
            )
            .await;
            paid = true;
        }
        let (_, f) = match v["fulfillment_id"].as_str() {
            Some(f) => h.get(&format!("/v1/fulfillments/{f}"), &[]).await,
            None => (StatusCode::NOT_FOUND, serde_json::Value::Null),
        };
        for s in f["shipments"].as_array().cloned().unwrap_or_default() {
            let Some(tracking) = s["tracking_number"].as_str() else {
                continue;
            };
            if s["status"] != "ready" || moved.iter().any(|t| t == tracking) {
                continue;
            }
            match drive {
                Drive::Complete => {
                    for status in ["in_transit", "delivered"] {
                        sim_post(
                            &h,
                            &format!("/_sim/courier/{tracking}/advance"),
                            json!({ "status": status }),
                        )
                        .await;
                    }
                }
                Drive::CourierCancels => {
                    sim_post(
                        &h,
                        &format!("/_sim/courier/{tracking}/advance"),
                        json!({ "status": "cancelled" }),
                    )
                    .await;
                }
                Drive::ShopCancels if !cancelled => {
                    let (s, b) = h
                        .post_json(
                            &format!("/v1/orders/{order}/cancel"),
                            &[],
                            &json!({"reason": "customer changed their mind"}),
                        )
                        .await;
                    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
                    cancelled = true;
                }
                Drive::ShopCancels => {}
            }
            moved.push(tracking.to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        second.is_some(),
        "the crash point {point} was never reached"
    );
    drop(first);
    for endpoint in once {
        assert_eq!(
            effects(&h, endpoint, saga),
            1,
            "{endpoint} for the order after a crash at {point}: {:?}",
            h.sim.stats().orders.get(*endpoint)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_checkout_session_was_opened_opens_it_once() {
    hardware_crash(
        "crash.hardware_order.checkout",
        Drive::Complete,
        &["payments.create_session"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_courier_booked_the_parcel_books_it_once() {
    hardware_crash(
        "crash.hardware_order.ship",
        Drive::Complete,
        &["courier.create_shipment"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_bridge_ran_the_automation_runs_it_once() {
    hardware_crash(
        "crash.hardware_order.automate",
        Drive::Complete,
        &["bridge.run_automation", "payments.create_session"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_refund_refunds_once() {
    hardware_crash(
        "crash.hardware_order.checkout.undo",
        Drive::CourierCancels,
        &["payments.create_refund"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_parcel_was_cancelled_cancels_it_once() {
    hardware_crash(
        "crash.hardware_order.ship.undo",
        Drive::ShopCancels,
        &["courier.cancel_shipment", "payments.create_refund"],
    )
    .await;
}

/// The partner's API key in the default settings.
const PARTNER_KEY: &str = "sim_partner_api_key";

/// Places a partner subscription order; answers its saga.
async fn partner_order(h: &Harness, order_id: &str) -> Uuid {
    let auth = format!("Bearer {PARTNER_KEY}");
    let body = json!({
        "orderId": order_id,
        "productId": "OFFICE-PRO",
        "customerId": "CUST-1",
        "customerName": "Ama Mensah",
        "customerEmail": "ama@example.com",
        "customerPhone": "+233241234567",
        "tenure": "12_MONTHS",
    });
    let (s, b) = h
        .post_json(
            "/v1/partner/fulfilment",
            &[("authorization", &auth), ("idempotency-key", order_id)],
            &body,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let po =
        h.t.app
            .store()
            .partner_order_by_ref("T2MOBILE001", order_id)
            .await
            .unwrap()
            .expect("the partner order was recorded");
    po.saga_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_crm_provisioned_the_licence_provisions_it_once() {
    let h = harness(|_, _| {}).await;
    let saga = partner_order(&h, "T2M-CRASH-1").await;
    let mut first = spawn_worker(&h, Some("crash.partner_subscription.fulfil"));
    crashed(&mut first, Duration::from_secs(60)).await;
    let _second = spawn_worker(&h, None);
    until_status(&h, saga, "completed", Duration::from_secs(60)).await;
    assert_eq!(effects(&h, "crm.create_sales_order", saga), 1);
    let licences = h.sim.stats().orders.get("crm.provision_licence").cloned();
    let licences = licences.unwrap_or_default();
    assert_eq!(
        licences.len(),
        1,
        "one sales order got a licence: {licences:?}"
    );
    assert!(licences.values().all(|n| *n == 1), "{licences:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_failure_sms_refunds_and_tells_the_customer_once() {
    let h = harness(|_, _| {}).await;
    // The reseller refuses the order for good: the wallet is refunded, the customer told.
    h.sim
        .set_fault(
            "reseller.create_order",
            Some(sagaflow::simulator::Fault {
                status: Some(400),
                ..Default::default()
            }),
        )
        .unwrap();
    let (order, saga) = bundle_order(&h, "MTN", "0241234569").await;
    let mut first = spawn_worker(&h, Some("crash.data_bundle.validate.undo"));
    crashed(&mut first, Duration::from_secs(60)).await;
    let _second = spawn_worker(&h, None);
    until_status(&h, saga, "compensated", Duration::from_secs(60)).await;
    assert_eq!(effects(&h, "sms.send", saga), 1);
    let ledger = h.t.app.store().order_ledger(order).await.unwrap();
    assert_eq!(ledger.len(), 2, "one debit, one refund: {ledger:?}");
    assert_eq!(ledger.iter().map(|(_, a)| a).sum::<i64>(), 0, "{ledger:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_crm_cancelled_the_sales_order_cancels_it_once() {
    let h = harness(|_, _| {}).await;
    // The licence is refused for good: the sales order must be cancelled.
    h.sim
        .set_fault(
            "crm.provision_licence",
            Some(sagaflow::simulator::Fault {
                status: Some(422),
                ..Default::default()
            }),
        )
        .unwrap();
    let saga = partner_order(&h, "T2M-CRASH-2").await;
    let mut first = spawn_worker(&h, Some("crash.partner_subscription.fulfil.undo"));
    crashed(&mut first, Duration::from_secs(60)).await;
    let _second = spawn_worker(&h, None);
    until_status(&h, saga, "compensated", Duration::from_secs(60)).await;
    assert_eq!(effects(&h, "crm.create_sales_order", saga), 1);
    let cancelled = h.sim.stats().orders.get("crm.cancel_sales_order").cloned();
    let cancelled = cancelled.unwrap_or_default();
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert!(cancelled.values().all(|n| *n == 1), "{cancelled:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_crm_renewed_the_licence_renews_it_once() {
    let h = harness(|_, _| {}).await;
    let order = partner_order(&h, "T2M-CRASH-3").await;
    let _steady = spawn_worker(&h, None);
    until_status(&h, order, "completed", Duration::from_secs(60)).await;
    drop(_steady);
    let po =
        h.t.app
            .store()
            .partner_order_by_ref("T2MOBILE001", "T2M-CRASH-3")
            .await
            .unwrap()
            .unwrap();
    let licence =
        h.t.app
            .store()
            .licence_for_order(po.id)
            .await
            .unwrap()
            .unwrap();
    let auth = format!("Bearer {PARTNER_KEY}");
    let (s, b) = h
        .post_json(
            &format!(
                "/v1/partner/subscriptions/{}/renewals",
                licence.activation_reference
            ),
            &[("authorization", &auth), ("idempotency-key", "renew-crash")],
            &json!({ "tenure": "1_MONTH" }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let renewal: Uuid =
        sqlx::query_scalar("SELECT id FROM sagas WHERE workflow = 'partner_renewal'")
            .fetch_one(h.pool())
            .await
            .unwrap();
    let mut first = spawn_worker(&h, Some("crash.partner_renewal.renew"));
    crashed(&mut first, Duration::from_secs(60)).await;
    let _second = spawn_worker(&h, None);
    until_status(&h, renewal, "completed", Duration::from_secs(60)).await;
    assert_eq!(effects(&h, "crm.create_sales_order", renewal), 1);
    let renewed =
        h.t.app
            .store()
            .licence_for_order(po.id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(renewed.renewals, 1, "the licence was renewed once");
}
