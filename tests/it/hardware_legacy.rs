//! The legacy mirrors over HTTP against the simulator's bridge: refreshes (every record, or
//! by id) with their domain events, a bridge that fails and is retried, the nightly drift
//! detection and its reports as they open and resolve, and who may do what.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::*;
use sagaflow::domain::legacy::{Entity, LegacyRecord};
use sagaflow::simulator::Fault;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, day, hour, 0, 0).unwrap()
}

fn legacy(h: &Harness, entity: Entity, id: &str, version: DateTime<Utc>, data: Value) {
    h.sim.put_legacy(
        entity,
        LegacyRecord {
            id: id.into(),
            updated_at: version,
            data,
        },
    );
}

async fn refresh(h: &Harness, entity: &str, body: Value) -> Uuid {
    let (s, b) = operator_post(h, &format!("/v1/legacy-sync/{entity}/refresh"), &body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let saga = id(&b, "saga_id");
    h.t.run().await;
    saga
}

/// `(legacy_id, data)` of an entity's mirrors.
async fn mirrors(h: &Harness, table: &str) -> Vec<(String, Value)> {
    sqlx::query_as(&format!(
        "SELECT legacy_id, data FROM {table} ORDER BY legacy_id"
    ))
    .fetch_all(h.pool())
    .await
    .unwrap()
}

async fn saga_events(h: &Harness, saga: Uuid) -> Vec<(String, Value)> {
    sqlx::query_as(
        "SELECT event_type, payload FROM domain_events WHERE aggregate_id = $1 AND order_id IS NULL ORDER BY id",
    )
    .bind(saga)
    .fetch_all(h.pool())
    .await
    .unwrap()
}

fn failures(entity: &str) -> f64 {
    prometheus::value(
        &prometheus::render(),
        "sagaflow_legacy_sync_failures_total",
        &[("entity", entity)],
    )
}

#[tokio::test]
async fn a_refresh_mirrors_the_bridge_survives_its_faults_and_records_its_events() {
    let h = hardware().await;
    legacy(
        &h,
        Entity::Device,
        "D-1",
        at(1, 9),
        json!({"serial": "SN1", "status": "active"}),
    );
    legacy(
        &h,
        Entity::Device,
        "D-2",
        at(1, 9),
        json!({"serial": "SN2", "status": "active"}),
    );
    legacy(
        &h,
        Entity::Asset,
        "A-1",
        at(1, 9),
        json!({"site": "Toronto"}),
    );

    let saga = refresh(&h, "device", json!({})).await;
    assert_eq!(
        h.t.status(saga).await,
        "completed",
        "{}",
        h.t.saga(saga).await
    );
    let got = mirrors(&h, "device_mirrors").await;
    assert_eq!(
        got.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["D-1", "D-2"]
    );
    assert_eq!(got[0].1["serial"], "SN1");
    assert!(
        mirrors(&h, "asset_mirrors").await.is_empty(),
        "only the entity asked"
    );
    let events = saga_events(&h, saga).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["legacy.sync_requested", "legacy.sync_completed"]);
    assert_eq!(events[0].1["requested_by"], "operator:olivia");
    assert_eq!(events[1].1["refreshed"], 2);

    // The bridge fails the listing twice: the refresh waits, retries, and counts each failure.
    let before = failures("asset");
    h.sim
        .set_fault(
            "bridge.list_records",
            Some(Fault {
                status: Some(503),
                times: Some(2),
                ..Default::default()
            }),
        )
        .unwrap();
    let saga = refresh(&h, "asset", json!({})).await;
    assert_eq!(h.t.status(saga).await, "running");
    assert!(mirrors(&h, "asset_mirrors").await.is_empty());
    assert_eq!(
        saga_events(&h, saga).await.len(),
        1,
        "requested, not completed"
    );
    for _ in 0..3 {
        h.t.advance(Duration::from_secs(10 * 60));
        h.t.run().await;
    }
    assert_eq!(
        h.t.status(saga).await,
        "completed",
        "{}",
        h.t.saga(saga).await
    );
    assert_eq!(mirrors(&h, "asset_mirrors").await.len(), 1);
    assert!(
        failures("asset") >= before + 2.0,
        "each failed listing is counted"
    );

    // By id: a changed record is copied again, one the legacy side deleted loses its mirror.
    legacy(
        &h,
        Entity::Device,
        "D-1",
        at(2, 9),
        json!({"serial": "SN1", "status": "retired"}),
    );
    h.sim.delete_legacy(Entity::Device, "D-2");
    let saga = refresh(&h, "device", json!({"ids": ["D-1", "D-2"]})).await;
    assert_eq!(h.t.status(saga).await, "completed");
    let got = mirrors(&h, "device_mirrors").await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1["status"], "retired");
    let completed = &saga_events(&h, saga).await[1].1;
    assert_eq!(completed["gone"], json!(["D-2"]));
    assert_eq!(completed["removed"], 1);
}

#[tokio::test]
async fn refreshes_refuse_bad_input_and_reach_operators_only() {
    let h = hardware().await;
    for (path, body, status) in [
        (
            "/v1/legacy-sync/contact/refresh",
            json!({}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/v1/legacy-sync/device/refresh",
            json!({"ids": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/legacy-sync/device/refresh",
            json!({"ids": ["D-1", "D-1"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/legacy-sync/device/refresh",
            json!({"ids": [" "]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/legacy-sync/device/refresh",
            json!({"everything": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (s, b) = operator_post(&h, path, &body).await;
        assert_eq!(s, status, "{path} {body}: {b}");
        assert!(b["error"]["message"].is_string(), "{b}");
    }
    for token in [VIEWER_TOKEN, SERVICE_TOKEN, OTHER_SERVICE_TOKEN] {
        let auth = bearer(token);
        let (s, b) = h
            .post_json(
                "/v1/legacy-sync/device/refresh",
                &[("authorization", &auth)],
                &json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{token}: {b}");
    }
    assert_eq!(
        h.count("SELECT count(*) FROM sagas WHERE workflow = 'legacy_sync'")
            .await,
        0
    );
    assert_eq!(
        h.count("SELECT count(*) FROM domain_events WHERE event_type LIKE 'legacy.%'")
            .await,
        0
    );
    // Reports: viewers read, services do not; a bad filter is a 400.
    let auth = bearer(VIEWER_TOKEN);
    let (s, _) = h
        .get("/v1/legacy-sync/reports", &[("authorization", &auth)])
        .await;
    assert_eq!(s, StatusCode::OK);
    let auth = bearer(SERVICE_TOKEN);
    let (s, _) = h
        .get("/v1/legacy-sync/reports", &[("authorization", &auth)])
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for q in ["entity=contact", "kind=weird", "limit=0", "colour=red"] {
        let (s, b) = h.get(&format!("/v1/legacy-sync/reports?{q}"), &[]).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {b}");
    }
}

/// Open reports as `(entity, legacy_id, kind)`.
async fn open_reports(h: &Harness) -> Vec<(String, String, String)> {
    let (s, b) = h.get("/v1/legacy-sync/reports?open=true", &[]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut out: Vec<(String, String, String)> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["entity"].as_str().unwrap().to_string(),
                r["legacy_id"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn triple(e: &str, id: &str, k: &str) -> (String, String, String) {
    (e.into(), id.into(), k.into())
}

/// Runs the nightly drift job once: the clock crosses 03:30 of `day` (March).
async fn nightly(h: &Harness, day: u32) -> usize {
    let scheduler = h.t.app.scheduler("node-1").unwrap();
    h.t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, day, 3, 29, 59).unwrap());
    scheduler.tick_once().await.unwrap();
    h.t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, day, 3, 30, 1).unwrap());
    let fired = scheduler.tick_once().await.unwrap();
    h.t.run().await;
    fired
}

async fn drift_sagas(h: &Harness, status: &str) -> i64 {
    h.count(&format!(
        "SELECT count(*) FROM sagas WHERE workflow = 'legacy_drift' AND status = '{status}'"
    ))
    .await
}

#[tokio::test]
async fn nightly_drift_detection_flags_and_resolves_drift_and_waits_out_bridge_faults() {
    let h = hardware().await;
    legacy(
        &h,
        Entity::Company,
        "C-1",
        at(1, 9),
        json!({"name": "Acme Sensors Ltd"}),
    );
    for d in ["D-1", "D-2", "D-3"] {
        legacy(&h, Entity::Device, d, at(1, 9), json!({"serial": d}));
    }
    refresh(&h, "company", json!({})).await;
    refresh(&h, "device", json!({})).await;
    // ACME's legacy id is C-9, which neither the bridge nor any mirror holds.
    create(
        &h,
        &order_body(&[("SENSOR-H2", 1, "sensor_vendor_first_time")]),
    )
    .await;
    sqlx::query("UPDATE companies SET company_mirror_id = 'C-9' WHERE id = 'ACME'")
        .execute(h.pool())
        .await
        .unwrap();

    // Drift: D-1 changed in legacy since it was copied, D-2 was deleted there, D-3's mirror
    // was written past the bridge, and asset A-1 was never mirrored.
    legacy(
        &h,
        Entity::Device,
        "D-1",
        at(3, 9),
        json!({"serial": "D-1", "site": "new"}),
    );
    h.sim.delete_legacy(Entity::Device, "D-2");
    sqlx::query(
        "UPDATE device_mirrors SET data = '{\"serial\": \"tampered\"}' WHERE legacy_id = 'D-3'",
    )
    .execute(h.pool())
    .await
    .unwrap();
    legacy(
        &h,
        Entity::Asset,
        "A-1",
        at(1, 9),
        json!({"site": "Toronto"}),
    );

    assert_eq!(nightly(&h, 2).await, 1);
    assert_eq!(drift_sagas(&h, "completed").await, 1);
    let want = vec![
        triple("asset", "A-1", "missing_mirror"),
        triple("company", "C-9", "missing_mirror"),
        triple("device", "D-1", "stale"),
        triple("device", "D-2", "orphaned"),
        triple("device", "D-3", "inconsistent"),
    ];
    assert_eq!(open_reports(&h).await, want);
    let (_, b) = h.get("/v1/legacy-sync/reports?entity=company", &[]).await;
    assert_eq!(b["items"][0]["detail"]["company_id"], "ACME", "{b}");
    let exposition = prometheus::render();
    assert!(
        exposition.contains("sagaflow_legacy_drift_records"),
        "the drift gauge is exported"
    );

    // The next night the bridge is down: the check retries, reports stay as they were.
    h.sim
        .set_fault(
            "bridge.list_records",
            Some(Fault {
                status: Some(500),
                times: Some(2),
                ..Default::default()
            }),
        )
        .unwrap();
    assert_eq!(nightly(&h, 3).await, 1);
    assert_eq!(drift_sagas(&h, "running").await, 1, "waiting to retry");
    assert_eq!(open_reports(&h).await, want);
    for _ in 0..3 {
        h.t.advance(Duration::from_secs(30 * 60));
        h.t.run().await;
    }
    assert_eq!(drift_sagas(&h, "completed").await, 2);
    assert_eq!(
        open_reports(&h).await,
        want,
        "the same drift, still one report each"
    );
    assert_eq!(
        h.count("SELECT count(*) FROM legacy_sync_reports").await,
        5,
        "a drift seen again keeps its open report"
    );

    // Refreshed, the mirrors agree again: only the company pointing at nothing stays open.
    refresh(&h, "device", json!({})).await;
    refresh(&h, "asset", json!({})).await;
    nightly(&h, 4).await;
    assert_eq!(
        open_reports(&h).await,
        vec![triple("company", "C-9", "missing_mirror")]
    );
    let (_, all) = h.get("/v1/legacy-sync/reports?entity=device", &[]).await;
    assert!(
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["resolved_at"].is_string()),
        "{all}"
    );
}

#[tokio::test]
async fn a_fallback_can_launch_the_legacy_operation_with_its_correlation_id_on_the_timeline() {
    let h = hardware().await;
    h.sim
        .set_fault(
            "bridge.run_automation",
            Some(Fault {
                status: Some(503),
                ..Default::default()
            }),
        )
        .unwrap();
    let (order, saga) = paid_order(&h, &[("SENSOR-H2", 1, "sensor_return")]).await;
    let t = tracking(&shipments(&h, order).await[0]);
    courier(&h, saga, &t, "delivered").await;
    for _ in 0..2 {
        h.t.advance(Duration::from_secs(10 * 60));
        h.t.run().await;
    }
    assert_eq!(h.t.status(saga).await, "parked");
    let step = view(&h, order).await["automation_steps"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/automation-steps/{step}/fallback");
    let body = json!({"note": "returned by hand", "launch_legacy": true});

    // The bridge still fails: 502, and nothing is recorded.
    let (s, b) = operator_post(&h, &path, &body).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{b}");
    assert_eq!(b["error"]["code"], "legacy_operation_failed");
    assert_eq!(
        view(&h, order).await["automation_steps"][0]["status"],
        "failed"
    );
    assert_eq!(h.t.status(saga).await, "parked");

    // Once it answers, the operation runs once under its correlation id, the fallback is
    // recorded and the saga moves on.
    h.sim.set_fault("bridge.run_automation", None).unwrap();
    let (s, b) = operator_post(&h, &path, &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let op = &b["legacy_operation"];
    let correlation = format!("{saga}:fallback:{step}");
    assert_eq!(op["correlation_id"], correlation.as_str(), "{b}");
    let runs = h.sim.automations();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].reference, correlation);
    assert_eq!(op["bridge_reference"], runs[0].id.as_str());
    assert_eq!(
        view(&h, order).await["automation_steps"][0]["status"],
        "fallback_triggered"
    );
    let (s, timeline) = h.get(&format!("/v1/orders/{order}/timeline"), &[]).await;
    assert_eq!(s, StatusCode::OK);
    let launched = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "automation.legacy_operation_launched")
        .cloned()
        .unwrap_or_else(|| panic!("no launch on the timeline: {timeline}"));
    assert_eq!(launched["detail"]["correlation_id"], correlation.as_str());

    // Without launch_legacy nothing is sent to the bridge.
    let (s, _) = operator_post(&h, &path, &json!({"note": "again"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "already resolved");
    assert_eq!(h.sim.automations().len(), 1);
}
