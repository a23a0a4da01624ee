//! Provider health against the simulator: a provider refusing sagaflow's own credentials parks
//! the data-bundle saga (no refund, no failure told) until an operator fixes the key and
//! resumes it; and the balance watch reads the reseller's balance with no orders flowing.
//!
//! The tests that read counters or gauges run alone in a process of their own
//! (`support::alone`): the recorder is process-wide and other tests move the same series.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support;
use crate::support::orders::{Harness, harness};
use crate::support::prometheus::{render, value};
use sagaflow::families::data_bundle::BundleSettings;
use sagaflow::simulator::{ConfigPatch, Fault};

const MTN_PHONE: &str = "0241234567";
const REJECTED: &str = "sagaflow_provider_credentials_rejected_total";

/// Places a 5 GB MTN order (the reseller's); returns (order id, saga id).
async fn place(h: &Harness, user: Uuid) -> (Uuid, Uuid) {
    let (s, b) = h
        .post_json(
            "/v1/orders/data-bundles",
            &[("idempotency-key", "k1")],
            &json!({ "user_id": user, "network": "MTN", "size": "5GB", "phone_number": MTN_PHONE }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    (
        b["order_id"].as_str().unwrap().parse().unwrap(),
        b["saga_id"].as_str().unwrap().parse().unwrap(),
    )
}

/// The simulator answers 401 at each of `endpoints`, as it would to a revoked key.
fn reject_key(h: &Harness, endpoints: &[&str]) {
    let faults = endpoints
        .iter()
        .map(|e| {
            let fault = Fault {
                status: Some(401),
                ..Default::default()
            };
            (e.to_string(), Some(fault))
        })
        .collect();
    h.sim
        .configure(ConfigPatch {
            faults,
            ..Default::default()
        })
        .unwrap();
}

/// The key is fixed: the simulator accepts it again.
/// The key is fixed: the simulator accepts it again, and an operator resumes the provider,
/// which closes the breaker the refusal opened (no waiting out its cool-down).
async fn fix_key(h: &Harness, provider: &str) {
    h.sim
        .configure(ConfigPatch {
            clear_faults: true,
            ..Default::default()
        })
        .unwrap();
    let viewer = support::bearer(support::VIEWER_TOKEN);
    let (s, b) = h
        .get("/v1/providers", &[("authorization", viewer.as_str())])
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let entry = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == provider)
        .cloned()
        .unwrap_or_else(|| panic!("{provider} listed: {b}"));
    assert_eq!(
        entry["breaker"]["state"], "open",
        "a refused key opened the breaker: {entry}"
    );
    let op = support::bearer(support::OPERATOR_TOKEN);
    let (s, b) = h
        .post_json(
            &format!("/v1/providers/{provider}/resume"),
            &[("authorization", op.as_str())],
            &serde_json::json!({ "reason": "key rotated" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// Runs the saga's polls, ten minutes apart, until it completes: the simulator completes an
/// order a moment after it is placed (real time), and the next poll sees it.
async fn polled_to_completion(h: &Harness, saga: Uuid) {
    for _ in 0..6 {
        h.t.run().await;
        if h.t.status(saga).await == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        h.t.advance(Duration::from_secs(10 * 60));
    }
    assert_eq!(
        h.t.status(saga).await,
        "completed",
        "{}",
        h.t.saga(saga).await
    );
}

async fn signals_for(h: &Harness, saga: Uuid, n: i64) {
    h.wait_for(
        &format!("SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"),
        n,
    )
    .await;
}

/// What the customer was told and charged: the order's ledger, its failure notices and every
/// SMS the simulator received.
async fn customer_side(h: &Harness, order: Uuid) -> (Vec<(String, i64)>, i64, u64) {
    let ledger = h.t.app.store().order_ledger(order).await.unwrap();
    let failed = h
        .count(&format!(
            "SELECT count(*) FROM notifications WHERE order_id = '{order}' AND kind = 'failed'"
        ))
        .await;
    (ledger, failed, h.sim.stats().requests("sms.send"))
}

#[tokio::test]
async fn a_rejected_key_parks_the_order_and_resuming_after_the_fix_completes_it() {
    if !support::alone::in_own_process() {
        return;
    }
    let h = harness(|_, _| {}).await;
    let user = h.funded(100.0).await;
    let before = value(&render(), REJECTED, &[("provider", "reseller")]);
    // The balance pre-check passes; the order itself is refused with 401.
    reject_key(&h, &["reseller.create_order"]);
    let (order, saga) = place(&h, user).await;
    h.t.run().await;

    let s = h.t.saga(saga).await;
    assert_eq!(s["status"], "parked", "{s}");
    assert_eq!(s["last_error"]["code"], "provider_credentials", "{s}");
    let (ledger, failed, sms) = customer_side(&h, order).await;
    assert_eq!(ledger.len(), 1, "the debit only, no refund: {ledger:?}");
    assert_eq!(ledger[0].0, "debit");
    assert_eq!((failed, sms), (0, 0), "the customer is told nothing failed");
    let (st, view) = h.get(&format!("/v1/orders/{order}"), &[]).await;
    assert_eq!(st, StatusCode::OK, "{view}");
    assert_eq!(view["status"], "pending", "{view}");
    assert_eq!(
        value(&render(), REJECTED, &[("provider", "reseller")]) - before,
        1.0
    );
    let metrics = h
        .http
        .get(format!("{}/metrics", h.base))
        .bearer_auth(support::VIEWER_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("# HELP sagaflow_provider_credentials_rejected_total"),
        "described"
    );

    // Nothing retries on its own: the saga stays parked however long it waits.
    h.t.advance(Duration::from_secs(2 * 3600));
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "parked");
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 1);

    // The key is fixed and an operator retries: the order is placed once and completes.
    fix_key(&h, "reseller").await;
    let (st, b) = h.t.operate(saga, "retry", "reseller key rotated").await;
    assert!(st.is_success(), "{b}");
    h.t.run().await;
    signals_for(&h, saga, 1).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "completed");
    let (ledger, failed, _) = customer_side(&h, order).await;
    assert_eq!((ledger.len(), failed), (1, 0), "{ledger:?}");
    let (_, view) = h.get(&format!("/v1/orders/{order}"), &[]).await;
    assert_eq!(view["status"], "completed", "{view}");
}

#[tokio::test]
async fn a_rejected_key_at_the_balance_pre_check_parks_before_anything_is_placed() {
    let h = harness(|_, _| {}).await;
    let user = h.funded(100.0).await;
    reject_key(
        &h,
        &[
            "reseller.balance",
            "reseller.create_order",
            "reseller.list_orders",
        ],
    );
    let (order, saga) = place(&h, user).await;
    h.t.run().await;
    let s = h.t.saga(saga).await;
    assert_eq!(s["status"], "parked", "{s}");
    assert_eq!(s["last_error"]["code"], "provider_credentials");
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 0);
    let (ledger, failed, sms) = customer_side(&h, order).await;
    assert_eq!((ledger.len(), failed, sms), (1, 0, 0), "{ledger:?}");

    fix_key(&h, "reseller").await;
    let (st, b) = h.t.operate(saga, "retry", "reseller key rotated").await;
    assert!(st.is_success(), "{b}");
    h.t.run().await;
    signals_for(&h, saga, 1).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "completed");
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 1);
}

#[tokio::test]
async fn a_rejected_key_on_the_status_lookup_parks_too() {
    let h = harness(|_, _| {}).await;
    h.no_reseller_webhooks();
    let user = h.funded(100.0).await;
    let (order, saga) = place(&h, user).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");

    // No webhook comes; the poll after 10 minutes asks the history, and is refused.
    reject_key(&h, &["reseller.list_orders"]);
    h.t.advance(Duration::from_secs(10 * 60));
    h.t.run().await;
    let s = h.t.saga(saga).await;
    assert_eq!(s["status"], "parked", "{s}");
    assert_eq!(s["last_error"]["code"], "provider_credentials");
    let (ledger, failed, sms) = customer_side(&h, order).await;
    assert_eq!((ledger.len(), failed, sms), (1, 0, 0), "{ledger:?}");

    // Fixed and retried: the lookup finds the order it placed; nothing is placed twice.
    fix_key(&h, "reseller").await;
    let (st, b) = h.t.operate(saga, "retry", "reseller key rotated").await;
    assert!(st.is_success(), "{b}");
    polled_to_completion(&h, saga).await;
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 1);
}

#[tokio::test]
async fn a_rejected_key_on_an_ishare_verify_parks_too() {
    let h = harness(|_, _| {}).await;
    h.sim
        .configure(ConfigPatch {
            callbacks: Some(sagaflow::simulator::config::CallbacksPatch {
                ishare: Some(String::new()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap();
    let user = h.funded(100.0).await;
    let (s, b) = h
        .post_json(
            "/v1/orders/data-bundles",
            &[("idempotency-key", "at-1")],
            &json!({ "user_id": user, "network": "AIRTELTIGO", "size": "1GB", "phone_number": "0271234567" }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let order: Uuid = b["order_id"].as_str().unwrap().parse().unwrap();
    let saga: Uuid = b["saga_id"].as_str().unwrap().parse().unwrap();
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");

    // No webhook; the poll asks AT-iShare to verify the reference, and is refused.
    reject_key(&h, &["ishare.verify"]);
    h.t.advance(Duration::from_secs(10 * 60));
    h.t.run().await;
    let s = h.t.saga(saga).await;
    assert_eq!(s["status"], "parked", "{s}");
    assert_eq!(s["last_error"]["code"], "provider_credentials");
    let (ledger, failed, sms) = customer_side(&h, order).await;
    assert_eq!((ledger.len(), failed, sms), (1, 0, 0), "{ledger:?}");

    fix_key(&h, "ishare").await;
    let (st, b) = h.t.operate(saga, "retry", "AT-iShare key rotated").await;
    assert!(st.is_success(), "{b}");
    polled_to_completion(&h, saga).await;
    assert_eq!(h.sim.stats().requests("ishare.fulfill"), 1, "placed once");
}

/// The app with the balance watch on, every 2 minutes, a 50 GHS threshold and no cron jobs.
async fn watched() -> Harness {
    harness(|s, _| {
        s.cron.clear();
        s.edit_section("bundles", |b: &mut BundleSettings| {
            b.balance_poll = Some("0 */2 * * * *".into());
            b.low_balance_threshold = 50.0;
        })
        .unwrap();
    })
    .await
}

fn set_balance(h: &Harness, balance: f64) {
    h.sim
        .configure(ConfigPatch {
            balance: Some(balance),
            ..Default::default()
        })
        .unwrap();
}

async fn balance_route(h: &Harness, token: &str) -> (StatusCode, Value) {
    let res = h
        .http
        .get(format!("{}/v1/providers/reseller/balance", h.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_balance_watch_reads_the_balance_with_no_orders_and_the_route_shows_it() {
    if !support::alone::in_own_process() {
        return;
    }
    let h = watched().await;
    // Before any reading the route answers, with nothing to show yet.
    let (s, b) = balance_route(&h, support::VIEWER_TOKEN).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["balance"], Value::Null);
    assert_eq!(b["low"], Value::Null);
    assert_eq!(b["threshold"], 50.0);

    set_balance(&h, 437.5);
    let scheduler = h.t.app.scheduler("node-1").unwrap();
    // The clock starts on an even minute: the tick is due at once, and only once.
    assert_eq!(scheduler.tick_once().await.unwrap(), 1);
    assert_eq!(scheduler.tick_once().await.unwrap(), 0);
    assert_eq!(h.sim.stats().requests("reseller.balance"), 1);
    let exposition = render();
    assert_eq!(
        value(
            &exposition,
            "sagaflow_reseller_balance",
            &[("provider", "reseller")]
        ),
        437.5
    );
    assert_eq!(
        value(
            &exposition,
            "sagaflow_reseller_balance_threshold",
            &[("provider", "reseller")]
        ),
        50.0
    );
    assert_eq!(
        h.count("SELECT count(*) FROM provider_balances WHERE provider = 'reseller' AND balance = 437.5 AND currency = 'GHS' AND error IS NULL")
            .await,
        1
    );
    assert_eq!(h.count("SELECT count(*) FROM sagas").await, 0, "no saga");

    h.t.advance(Duration::from_secs(30));
    let (s, b) = balance_route(&h, support::OPERATOR_TOKEN).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["provider"], "reseller");
    assert_eq!(b["balance"], 437.5);
    assert_eq!(b["currency"], "GHS");
    assert_eq!(b["low"], false);
    assert_eq!(b["age_seconds"], 30);
    assert_eq!(b["read_at"], "2026-03-01T09:00:00Z");
    assert_eq!(b["last_error"], Value::Null);

    // Two minutes on the balance has fallen under the threshold: low, and the gauge says so.
    set_balance(&h, 20.0);
    h.t.advance(Duration::from_secs(90));
    assert_eq!(scheduler.tick_once().await.unwrap(), 1);
    assert_eq!(
        value(
            &render(),
            "sagaflow_reseller_balance",
            &[("provider", "reseller")]
        ),
        20.0
    );
    let (_, b) = balance_route(&h, support::VIEWER_TOKEN).await;
    assert_eq!(
        (b["balance"].as_f64(), b["low"].as_bool()),
        (Some(20.0), Some(true)),
        "{b}"
    );

    // A refused key is a failed reading: the last good balance stays, the error is shown and
    // the refusal counted.
    let before = value(&render(), REJECTED, &[("provider", "reseller")]);
    reject_key(&h, &["reseller.balance"]);
    h.t.advance(Duration::from_secs(120));
    assert_eq!(scheduler.tick_once().await.unwrap(), 1);
    let (_, b) = balance_route(&h, support::VIEWER_TOKEN).await;
    assert_eq!(b["balance"], 20.0, "{b}");
    assert_eq!(b["age_seconds"], 120, "{b}");
    assert!(
        b["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("refused our credentials")),
        "{b}"
    );
    assert_eq!(b["last_error_at"], "2026-03-01T09:04:00Z", "{b}");
    assert_eq!(
        value(&render(), REJECTED, &[("provider", "reseller")]) - before,
        1.0
    );

    // A service may not read it.
    let (s, _) = balance_route(&h, support::SERVICE_TOKEN).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn two_nodes_read_the_balance_once_per_tick() {
    let h = watched().await;
    let other = h.t.app.scheduler("node-2").unwrap();
    let one = h.t.app.scheduler("node-1").unwrap();
    let (a, b) = tokio::join!(one.tick_once(), other.tick_once());
    assert_eq!(a.unwrap() + b.unwrap(), 1, "one node won the tick");
    assert_eq!(h.sim.stats().requests("reseller.balance"), 1);
    assert_eq!(h.count("SELECT count(*) FROM provider_balances").await, 1);
}

#[tokio::test]
async fn a_bad_balance_poll_schedule_is_refused_at_start_up() {
    let h = harness(|s, _| {
        s.edit_section("bundles", |b: &mut BundleSettings| {
            b.balance_poll = Some("every two minutes".into());
        })
        .unwrap();
    })
    .await;
    let err = h.t.app.scheduler("node-1").err().expect("refused");
    assert!(
        err.to_string()
            .contains("periodic job data_bundle.balance_poll: bad schedule"),
        "{err}"
    );
}
