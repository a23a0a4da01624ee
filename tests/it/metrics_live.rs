//! The live exposition: a server runs a handful of sagas of every workflow, failures included,
//! then `GET /metrics` over HTTP is written to a file and checked by `promtool check metrics`
//! (no lint warnings allowed), and every dashboard's PromQL is checked against it: it must
//! parse (promtool) and query only series the exposition carries.
//!
//! It runs alone in a process of its own (`support::alone`): the recorder is process-wide, so
//! the exposition holds exactly what this scenario did.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::orders::{Harness, harness};
use sagaflow::simulator::Fault;

use crate::support;

const PARTNER_KEY: &str = "Bearer sim_partner_api_key";

async fn bundle(h: &Harness, user: Uuid, key: &str) -> Uuid {
    let (s, b) = h
        .post_json(
            "/v1/orders/data-bundles",
            &[("idempotency-key", key)],
            &json!({ "user_id": user, "network": "MTN", "size": "5GB", "phone_number": "0241234567" }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    b["saga_id"].as_str().unwrap().parse().unwrap()
}

async fn settle(h: &Harness) {
    for _ in 0..3 {
        h.t.run().await;
        let relay = h.t.app.outbox_relay();
        for _ in 0..10 {
            if relay.deliver_due().await.unwrap() == 0 {
                break;
            }
        }
    }
}

async fn wait_status(h: &Harness, saga: Uuid, want: &str) {
    for _ in 0..200 {
        h.t.run().await;
        if h.t.status(saga).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("saga {saga} never reached {want}: {}", h.t.saga(saga).await);
}

/// Places and sends a hardware order; returns its saga.
async fn hardware_order(h: &Harness) -> Uuid {
    support::hardware::seed_directory(h).await;
    let (s, b) = h
        .post_json(
            "/v1/orders",
            &[],
            &json!({
                "company_id": "ACME",
                "lines": [{"sku": "SENSOR-T1", "quantity": 2}],
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let order = b["id"].as_str().unwrap();
    let (s, b) = h
        .post_json(
            &format!("/v1/orders/{order}/send-checkout"),
            &[],
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    b["saga_id"].as_str().unwrap().parse().unwrap()
}

/// Drives every workflow: sample (completed, retried, compensated, failed, cancelled),
/// sample_park (parked), sample_six, sample_six_effects, data_bundle (delivered, retried after a 500, refused for
/// a short wallet), a hardware order, the price sync, a forged reseller webhook, partner_subscription, partner_renewal, ops_bulk
/// the licence-expiry cron, a legacy mirror refresh and the nightly drift check.
async fn scenario(h: &Harness) {
    let t = &h.t;
    let ok = t.start("sample", json!({})).await;
    let retried = t
        .start(
            "sample",
            json!({ "steps": { "reserve": { "fail_times": 1 } } }),
        )
        .await;
    let compensated = t
        .start(
            "sample",
            json!({ "steps": { "charge": { "fail": "permanent" } } }),
        )
        .await;
    let failed = t
        .start(
            "sample",
            json!({ "steps": { "charge": { "fail": "permanent" } },
                    "compensations": { "reserve": { "fail": "permanent" } } }),
        )
        .await;
    let cancelled = t
        .start(
            "sample",
            json!({ "steps": { "reserve": { "fail_times": 5 } } }),
        )
        .await;
    let parked = t
        .start(
            "sample_park",
            json!({ "steps": { "inspect": { "fail": "park" } } }),
        )
        .await;
    let six = t.start("sample_six", json!({})).await;
    let six_effects = t.start("sample_six_effects", json!({})).await;
    t.run().await;
    let (s, b) = t
        .operate(cancelled, "cancel", "customer changed their mind")
        .await;
    assert!(s.is_success(), "{b}");
    for _ in 0..4 {
        t.advance(Duration::from_secs(10));
        t.run().await;
    }
    for (id, want) in [
        (ok, "completed"),
        (retried, "completed"),
        (compensated, "compensated"),
        (failed, "failed"),
        (cancelled, "cancelled"),
        (parked, "parked"),
        (six, "completed"),
        (six_effects, "completed"),
    ] {
        assert_eq!(t.status(id).await, want, "{}", t.saga(id).await);
    }

    // Data bundles: one delivered through the reseller's webhook, one after a 500 and a retry,
    // one refused because the wallet is short.
    let user = h.funded(200.0).await;
    let delivered = bundle(h, user, "b1").await;
    wait_status(h, delivered, "completed").await;
    h.sim
        .set_fault(
            "reseller.create_order",
            Some(Fault {
                status: Some(500),
                times: Some(1),
                ..Default::default()
            }),
        )
        .unwrap();
    let after_500 = bundle(h, user, "b2").await;
    t.run().await;
    t.advance(Duration::from_secs(5 * 60));
    wait_status(h, after_500, "completed").await;
    let poor = h.funded(5.0).await;
    let refused = bundle(h, poor, "b3").await;
    wait_status(h, refused, "compensated").await;

    // A hardware order, paid and shipped by the simulator on its own, automated and invoiced.
    let hardware = hardware_order(h).await;
    wait_status(h, hardware, "completed").await;

    // The price sync, which gives the processor the unsynced X9 entry's price.
    let (s, b) = t.call("POST", "/v1/pricing/sync", None, &[]).await;
    assert_eq!(s, reqwest::StatusCode::ACCEPTED, "{b}");
    settle(h).await;

    // A forged reseller webhook.
    let body = br#"{"event":"order.status_changed","order":{"id":1,"status":"completed"}}"#;
    let forged = sagaflow::providers::signature::sign_reseller(b"not-the-secret", body);
    let (s, _, _) = h
        .request(
            reqwest::Method::POST,
            "/v1/webhooks/reseller",
            &[("x-webhook-signature", &forged)],
            Some(body.to_vec()),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // A partner subscription, then its renewal.
    let (s, _, b) = h
        .request(
            reqwest::Method::POST,
            "/v1/partner/fulfilment",
            &[("authorization", PARTNER_KEY), ("idempotency-key", "p1")],
            Some(
                serde_json::to_vec(&json!({
                    "orderId": "T2M-M1", "productId": "OFFICE-PRO", "customerId": "CUST-1",
                    "customerName": "Ama Mensah", "customerEmail": "ama@example.com",
                    "customerPhone": "+233241234567", "tenure": "12_MONTHS",
                }))
                .unwrap(),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    settle(h).await;
    let po = t
        .app
        .store()
        .partner_order_by_ref("T2MOBILE001", "T2M-M1")
        .await
        .unwrap()
        .unwrap();
    let licence = t
        .app
        .store()
        .licence_for_order(po.id)
        .await
        .unwrap()
        .unwrap();
    let (s, b) = h
        .post_json(
            &format!(
                "/v1/partner/subscriptions/{}/renewals",
                licence.activation_reference
            ),
            &[("authorization", PARTNER_KEY), ("idempotency-key", "r1")],
            &json!({ "tenure": "1_MONTH" }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    settle(h).await;

    // An operator's bulk job over the parked saga.
    let (s, b) = t
        .call(
            "POST",
            "/v1/sagas/bulk",
            Some(json!({ "action": "cancel", "filter": { "workflow": "sample_park", "status": "parked" }, "reason": "supplier gone" })),
            &[],
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::ACCEPTED, "{b}");
    settle(h).await;

    // The daily 00:15 licence expiry runs (nothing has expired yet).
    let scheduler = t.app.scheduler("node-1").unwrap();
    t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 0, 14, 59).unwrap());
    scheduler.tick_once().await.unwrap();
    t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 0, 15, 1).unwrap());
    assert!(scheduler.tick_once().await.unwrap() >= 1);
    settle(h).await;
    // The daily 02:00 licence-expiry reminder cron fires once.
    t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 1, 59, 59).unwrap());
    scheduler.tick_once().await.unwrap();
    t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 1).unwrap());
    assert_eq!(scheduler.tick_once().await.unwrap(), 1);
    settle(h).await;
    // And the 03:00 invoice-overdue run, once the price sync's ticks of the hour have fired.
    t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 2, 59, 59).unwrap());
    scheduler.tick_once().await.unwrap();
    settle(h).await;
    t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 3, 0, 1).unwrap());
    assert_eq!(scheduler.tick_once().await.unwrap(), 1);
    settle(h).await;

    // A legacy mirror refresh, then the nightly 03:30 drift check.
    let (s, b) = t
        .call(
            "POST",
            "/v1/legacy-sync/device/refresh",
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::ACCEPTED, "{b}");
    // The quarter-hourly price sync fires on the way.
    t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 3, 29, 59).unwrap());
    scheduler.tick_once().await.unwrap();
    t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 3, 30, 1).unwrap());
    assert_eq!(scheduler.tick_once().await.unwrap(), 1);
    settle(h).await;

    let workflows: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT workflow FROM sagas ORDER BY 1")
            .fetch_all(h.pool())
            .await
            .unwrap();
    let mut every: Vec<String> = t.app.rt.catalog.all().map(|d| d.name.clone()).collect();
    every.sort();
    every.dedup();
    assert_eq!(workflows, every, "every workflow ran at least once");

    sagaflow::engine::gauges::Refresher::default()
        .refresh(&t.app.rt)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_metrics_pass_promtool_and_dashboards_query_only_exported_series() {
    if !support::alone::in_own_process() {
        return;
    }
    let h = harness(|s, _| {
        // The manual clock is months from the wall clock the simulator signs payment and
        // courier events with.
        s.providers.signature_tolerance = Duration::from_secs(3 * 365 * 24 * 3600);
    })
    .await;
    h.sim
        .configure(sagaflow::simulator::ConfigPatch {
            prices: support::hardware::price_book(),
            ..Default::default()
        })
        .unwrap();
    scenario(&h).await;

    let res = h
        .http
        .get(format!("{}/metrics", h.base))
        .bearer_auth(support::VIEWER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let exposition = res.text().await.unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sagaflow-metrics.prom");
    std::fs::write(&path, &exposition).unwrap();
    eprintln!("live exposition written to {}", path.display());

    // Labels stay bounded: no saga id, order code or phone number became a label value.
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        // Label values are the odd pieces between double quotes.
        for v in line.split('"').skip(1).step_by(2) {
            let phone_like = v.len() >= 9 && v.chars().all(|c| c.is_ascii_digit() || c == '+');
            assert!(
                !v.contains("DB-")
                    && !v.contains("T2M-")
                    && !v.contains("HW-")
                    && !phone_like
                    && v.parse::<Uuid>().is_err(),
                "unbounded label value {v:?} in {line}"
            );
        }
    }
    // HTTP requests are labelled by route template.
    assert!(
        exposition.contains(r#"route="/v1/sagas/{id}""#),
        "{exposition}"
    );

    if let Some(tool) = support::prometheus::promtool() {
        let (ok, out) =
            support::prometheus::run_promtool(&tool, &["check", "metrics"], Some(&exposition));
        assert!(
            ok && out.trim().is_empty(),
            "promtool check metrics:\n{out}"
        );
    }

    let report = support::dashboards::check_queries(&exposition);
    assert!(
        report.is_empty(),
        "dashboard queries:\n{}",
        report.join("\n")
    );
}
