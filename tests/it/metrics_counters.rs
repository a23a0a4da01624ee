//! Each counter moves when its event happens, by exactly as much as it should, and the
//! database-refreshed gauges say what the database holds.
//!
//! The recorder is process-wide, so each test here runs alone in a process of its own
//! (`support::alone`): otherwise other tests' sagas would move its counters.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::prometheus::{render, value};
use sagaflow::simulator::Fault;

use crate::support;

/// Counter readings before and after, by (name, labels).
struct Before(String);

impl Before {
    fn now() -> Self {
        Self(render())
    }

    /// How much `name{labels}` moved since this reading.
    fn delta(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        value(&render(), name, labels) - value(&self.0, name, labels)
    }
}

#[tokio::test]
async fn engine_counters_move_with_saga_events() {
    if !support::alone::in_own_process() {
        return;
    }
    let t = support::app().await;
    let before = Before::now();

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
    let parked = t
        .start(
            "sample_park",
            json!({ "steps": { "inspect": { "fail": "park" } } }),
        )
        .await;
    let cancelled = t
        .start(
            "sample",
            json!({ "steps": { "reserve": { "fail_times": 9 } } }),
        )
        .await;
    t.run().await;
    t.advance(Duration::from_secs(2));
    t.run().await;
    assert_eq!(t.status(ok).await, "completed");
    assert_eq!(t.status(retried).await, "completed");
    assert_eq!(t.status(compensated).await, "compensated");
    assert_eq!(t.status(parked).await, "parked");
    // The compensated saga undid reserve once (read before the cancel, which may undo too).
    assert_eq!(
        before.delta(
            "sagaflow_compensations_total",
            &[
                ("workflow", "sample"),
                ("step", "reserve"),
                ("outcome", "ok")
            ]
        ),
        1.0
    );

    // While one sample saga is retrying and one sample_park saga is parked, the gauges say so.
    let mut gauges = sagaflow::engine::gauges::Refresher::default();
    gauges.refresh(&t.app.rt).await.unwrap();
    let exposition = render();
    let in_flight = |wf: &str, status: &str| {
        value(
            &exposition,
            "sagaflow_sagas_in_flight",
            &[("workflow", wf), ("status", status)],
        )
    };
    assert_eq!(in_flight("sample_park", "parked"), 1.0);
    assert_eq!(in_flight("sample", "running"), 1.0);
    assert_eq!(in_flight("sample", "waiting"), 0.0, "zero series exist");
    // The retrying saga is due again at most a few seconds from now: 10 minutes later, nobody
    // having run it, it is the oldest runnable saga by about 10 minutes.
    t.advance(Duration::from_secs(600));
    gauges.refresh(&t.app.rt).await.unwrap();
    let age = value(
        &render(),
        "sagaflow_oldest_runnable_saga_age_seconds",
        &[("workflow", "sample")],
    );
    assert!((560.0..=600.0).contains(&age), "{age}");

    let (s, b) = t
        .operate(cancelled, "cancel", "customer changed their mind")
        .await;
    assert!(s.is_success(), "{b}");
    t.run().await;
    assert_eq!(t.status(cancelled).await, "cancelled");
    gauges.refresh(&t.app.rt).await.unwrap();
    assert_eq!(
        value(
            &render(),
            "sagaflow_sagas_in_flight",
            &[("workflow", "sample"), ("status", "running")]
        ),
        0.0,
        "a pair that empties drops to 0"
    );

    let wf = [("workflow", "sample")];
    assert_eq!(before.delta("sagaflow_sagas_started_total", &wf), 4.0);
    assert_eq!(before.delta("sagaflow_sagas_completed_total", &wf), 2.0);
    assert_eq!(before.delta("sagaflow_sagas_compensated_total", &wf), 1.0);
    assert_eq!(before.delta("sagaflow_sagas_cancelled_total", &wf), 1.0);
    assert_eq!(
        before.delta(
            "sagaflow_sagas_parked_total",
            &[("workflow", "sample_park")]
        ),
        1.0
    );
    assert_eq!(
        before.delta(
            "sagaflow_saga_duration_seconds_count",
            &[("workflow", "sample"), ("outcome", "compensated")]
        ),
        1.0
    );
    // reserve: ok's 1 attempt, retried's 2 (one retry), compensated's 1, cancelled's 2 (one
    // retry: the second fell due in the 10 minutes and ran before the cancel took).
    let reserve = [("workflow", "sample"), ("step", "reserve")];
    let retries = before.delta("sagaflow_step_retries_total", &reserve);
    assert!((1.0..=2.0).contains(&retries), "{retries}");
    assert_eq!(
        before.delta("sagaflow_step_attempts_total", &reserve) - retries,
        4.0,
        "one first attempt per saga"
    );
    assert!(
        before.delta(
            "sagaflow_step_duration_seconds_count",
            &[
                ("workflow", "sample"),
                ("step", "charge"),
                ("outcome", "error")
            ]
        ) >= 1.0
    );

    // HTTP: the route template, not the path; an unknown path is `unmatched`.
    let by_id = [
        ("route", "/v1/sagas/{id}"),
        ("method", "GET"),
        ("status_class", "2xx"),
    ];
    let reading = Before::now();
    t.saga(ok).await;
    assert_eq!(
        reading.delta("sagaflow_http_request_duration_seconds_count", &by_id),
        1.0
    );
    let reading = Before::now();
    let (s, _) = t
        .call("GET", &format!("/v1/nothing/{}", Uuid::now_v7()), None, &[])
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        reading.delta(
            "sagaflow_http_request_duration_seconds_count",
            &[("route", "unmatched"), ("status_class", "4xx")]
        ),
        1.0
    );

    // The worker's heartbeat is wall-clock Unix time.
    let beat = value(
        &render(),
        "sagaflow_worker_last_heartbeat_timestamp_seconds",
        &[],
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - 300.0..=now + 1.0).contains(&beat), "{beat} vs {now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_webhook_order_and_cron_counters_move() {
    if !support::alone::in_own_process() {
        return;
    }
    let h = support::orders::harness(|_, _| {}).await;
    let before = Before::now();

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
    assert_eq!(
        before.delta(
            "sagaflow_webhooks_received_total",
            &[("provider", "reseller"), ("result", "bad_signature")]
        ),
        1.0
    );

    // A data bundle whose first submit gets a 500, then is delivered on the retry.
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
            &[("idempotency-key", "k1")],
            &json!({ "user_id": user, "network": "MTN", "size": "5GB", "phone_number": "0241234567" }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let saga: Uuid = b["saga_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        before.delta("sagaflow_orders_placed_total", &[("kind", "data_bundle")]),
        1.0
    );
    h.t.run().await;
    assert_eq!(
        before.delta(
            "sagaflow_provider_requests_total",
            &[("provider", "reseller"), ("outcome", "retryable")]
        ),
        1.0
    );
    assert_eq!(
        before.delta("sagaflow_data_bundle_errors_total", &[("network", "MTN")]),
        1.0
    );
    assert_eq!(
        before.delta(
            "sagaflow_step_retries_total",
            &[("workflow", "data_bundle"), ("step", "fulfill")]
        ),
        0.0,
        "the retry is not due yet"
    );
    h.t.advance(Duration::from_secs(5 * 60));
    for _ in 0..200 {
        h.t.run().await;
        if h.t.status(saga).await == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(h.t.status(saga).await, "completed");
    assert_eq!(
        before.delta(
            "sagaflow_step_retries_total",
            &[("workflow", "data_bundle"), ("step", "fulfill")]
        ),
        1.0
    );
    assert_eq!(
        before.delta(
            "sagaflow_webhooks_received_total",
            &[("provider", "reseller"), ("result", "accepted")]
        ),
        1.0
    );
    assert_eq!(
        before.delta(
            "sagaflow_orders_finished_total",
            &[("kind", "data_bundle"), ("outcome", "completed")]
        ),
        1.0
    );
    assert_eq!(
        before.delta(
            "sagaflow_data_bundle_orders_total",
            &[("network", "MTN"), ("outcome", "completed")]
        ),
        1.0
    );
    assert_eq!(
        before.delta(
            "sagaflow_data_bundle_delivery_seconds_count",
            &[("network", "MTN")]
        ),
        1.0
    );
    assert_eq!(
        before.delta(
            "sagaflow_sagas_completed_total",
            &[("workflow", "data_bundle")]
        ),
        1.0
    );
    let balance = value(
        &render(),
        "sagaflow_reseller_balance",
        &[("provider", "reseller")],
    );
    assert!(balance > 0.0, "{balance}");

    // The daily licence-expiry cron fires once at 02:00.
    let scheduler = h.t.app.scheduler("node-1").unwrap();
    h.t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 1, 59, 59).unwrap());
    scheduler.tick_once().await.unwrap();
    h.t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 1).unwrap());
    scheduler.tick_once().await.unwrap();
    assert_eq!(
        before.delta(
            "sagaflow_cron_ticks_total",
            &[("job", "licence_expiry_reminders")]
        ),
        1.0
    );

    // Outbox: the order's messages are pending until the relay delivers them.
    let mut gauges = sagaflow::engine::gauges::Refresher::default();
    gauges.refresh(&h.t.app.rt).await.unwrap();
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE status = 'pending'")
        .fetch_one(h.pool())
        .await
        .unwrap();
    assert_eq!(
        value(&render(), "sagaflow_outbox_pending", &[]),
        pending as f64
    );
    let relay = h.t.app.outbox_relay();
    let delivered = relay.deliver_due().await.unwrap();
    assert_eq!(
        before.delta("sagaflow_outbox_delivery_attempts_total", &[]),
        delivered as f64 + before.delta("sagaflow_outbox_delivery_failures_total", &[]),
        "every attempt either delivered or failed"
    );
}
