//! The ops API against a real database: every search filter, pagination edges, needs
//! attention, the audit trail, bulk jobs (dry run against the real run), stats and queues.

use crate::support::*;
use axum::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

async fn start_keyed(t: &TestApp, workflow: &str, input: Value, key: Option<&str>) -> Uuid {
    let mut body = json!({ "workflow": workflow, "input": input });
    if let Some(k) = key {
        body["business_key"] = json!(k);
    }
    let (s, b) = t
        .call(
            "POST",
            "/v1/sagas",
            Some(body),
            &[("idempotency-key", &Uuid::now_v7().to_string())],
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    b["saga_id"].as_str().unwrap().parse().unwrap()
}

async fn ids(t: &TestApp, query: &str) -> Vec<String> {
    let (s, b) = t
        .call("GET", &format!("/v1/sagas?{query}"), None, &[])
        .await;
    assert_eq!(s, StatusCode::OK, "{query}: {b}");
    b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_filter_narrows_the_list() {
    let t = app().await;
    let done = start_keyed(
        &t,
        "sample",
        json!({ "phone": "+233 24 412 3456", "network": "mtn" }),
        Some("ORD-1"),
    )
    .await;
    t.advance(mins(1));
    let failed = start_keyed(
        &t,
        "sample",
        json!({ "steps": { "deliver": { "fail": "permanent" } }, "compensations": { "charge": { "fail": "permanent" } }, "order_code": "ORD-2" }),
        None,
    )
    .await;
    t.advance(mins(1));
    let parked = start_keyed(
        &t,
        "sample_park",
        json!({ "steps": { "inspect": { "fail": "park" } }, "network": "TELECEL" }),
        Some("0501234567"),
    )
    .await;
    t.run().await;
    assert_eq!(t.status(failed).await, "failed");
    assert_eq!(t.status(parked).await, "parked");
    let s = |id: Uuid| id.to_string();

    assert_eq!(ids(&t, "workflow=sample_park").await, [s(parked)]);
    assert_eq!(
        ids(&t, "status=failed,parked").await,
        [s(parked), s(failed)]
    );
    assert_eq!(ids(&t, "status=completed").await, [s(done)]);
    assert_eq!(ids(&t, "business_key=ORD-1").await, [s(done)]);
    assert_eq!(
        ids(&t, "business_key=ORD-2").await,
        [s(failed)],
        "order code in the input"
    );
    // Phone numbers match in national form however they were typed.
    assert_eq!(ids(&t, "phone=0244123456").await, [s(done)]);
    assert_eq!(ids(&t, "phone=%2B233244123456").await, [s(done)]);
    assert_eq!(
        ids(&t, "phone=233501234567").await,
        [s(parked)],
        "a phone business key"
    );
    assert_eq!(ids(&t, "network=MTN").await, [s(done)]);
    assert_eq!(ids(&t, "step=inspect").await, [s(parked)]);
    assert_eq!(ids(&t, "error_code=scripted").await, [s(parked), s(failed)]);
    // Created range: the clock started 09:00; sagas at 09:00, 09:01, 09:02.
    assert_eq!(
        ids(
            &t,
            "created_from=2026-03-01T09:00:30Z&created_to=2026-03-01T09:01:30Z"
        )
        .await,
        [s(failed)]
    );
    assert_eq!(
        ids(&t, "created_from=2026-03-01&created_to=2026-03-01")
            .await
            .len(),
        3
    );
    assert!(ids(&t, "created_from=2026-03-02").await.is_empty());
    // Bad input is a 400 in the error format.
    for bad in [
        "status=lost",
        "phone=12",
        "created_from=yesterday",
        "limit=0",
        "colour=red",
        "order=sideways",
    ] {
        let (st, b) = t.call("GET", &format!("/v1/sagas?{bad}"), None, &[]).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {b}");
        assert!(b["error"]["code"].is_string());
    }
}

#[tokio::test]
async fn pages_walk_every_row_once_and_a_tampered_cursor_is_refused() {
    let t = app().await;
    let mut started = Vec::new();
    for _ in 0..5 {
        started.push(t.start("sample", json!({})).await.to_string());
    }
    started.reverse(); // newest first
    let (_, p1) = t.call("GET", "/v1/sagas?limit=2", None, &[]).await;
    let c1 = p1["next_cursor"].as_str().unwrap().to_string();
    let (_, p2) = t
        .call("GET", &format!("/v1/sagas?limit=2&cursor={c1}"), None, &[])
        .await;
    let c2 = p2["next_cursor"].as_str().unwrap().to_string();
    let (_, p3) = t
        .call("GET", &format!("/v1/sagas?limit=2&cursor={c2}"), None, &[])
        .await;
    assert!(p3["next_cursor"].is_null(), "the last page has no cursor");
    let walked: Vec<String> = [&p1, &p2, &p3]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(walked, started);
    // Exactly a full last page: no cursor, no empty page after it.
    let (_, all) = t.call("GET", "/v1/sagas?limit=5", None, &[]).await;
    assert!(all["next_cursor"].is_null());
    // Oldest first walks the other way.
    let oldest = ids(&t, "order=oldest&limit=5").await;
    assert_eq!(oldest, started.iter().rev().cloned().collect::<Vec<_>>());
    // An empty result is an empty page.
    let (s, empty) = t.call("GET", "/v1/sagas?workflow=nothing", None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(empty["items"], json!([]));
    assert!(empty["next_cursor"].is_null());
    // Tampered cursors.
    let mut flipped = c1.clone().into_bytes();
    flipped[3] = if flipped[3] == b'a' { b'b' } else { b'a' };
    for bad in [
        "zz",
        "6869",
        &String::from_utf8(flipped).unwrap(),
        &hex::encode("1:not-a-uuid"),
    ] {
        let (s, b) = t
            .call("GET", &format!("/v1/sagas?cursor={bad}"), None, &[])
            .await;
        if s == StatusCode::OK {
            // A flipped digit can still decode to some valid position; it must not error.
            continue;
        }
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(b["error"]["code"], "invalid_cursor");
    }
    let (s, _) = t.call("GET", "/v1/sagas?cursor=zz", None, &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn needs_attention_shows_reason_and_age_and_actions_are_audited() {
    let t = app().await;
    let parked = t
        .start(
            "sample_park",
            json!({ "steps": { "inspect": { "fail": "park" } } }),
        )
        .await;
    t.run().await;
    t.advance(mins(90));
    let (_, b) = t
        .call(
            "GET",
            "/v1/sagas?status=failed,parked&order=oldest",
            None,
            &[],
        )
        .await;
    let item = &b["items"][0];
    assert_eq!(item["id"], parked.to_string());
    assert_eq!(item["reason_code"], "scripted");
    assert_eq!(item["age_seconds"], 90 * 60);

    // A reason is required.
    let (s, b) = t.operate(parked, "resume", "  ").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = t
        .operate(parked, "resume", "inspected by hand, all fine")
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // A viewer cannot act.
    let (s, _) = t
        .call(
            "POST",
            &format!("/v1/sagas/{parked}/cancel"),
            Some(json!({ "reason": "x" })),
            &[("authorization", &bearer(VIEWER_TOKEN))],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The history names the token, and so does the audit trail.
    let saga = t.saga(parked).await;
    let ev = saga["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "operator_resume")
        .unwrap()
        .clone();
    assert_eq!(ev["actor"], "operator:olivia");
    assert_eq!(ev["detail"]["reason"], "inspected by hand, all fine");
    let (s, audit) = t
        .call(
            "GET",
            &format!("/v1/audit?saga_id={parked}"),
            None,
            &[("authorization", &bearer(VIEWER_TOKEN))],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let rows = audit["items"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["actor"], "olivia");
    assert_eq!(rows[0]["role"], "operator");
    assert_eq!(rows[0]["action"], "resume");
    assert_eq!(rows[0]["from_status"], "parked");
    assert_eq!(rows[0]["reason"], "inspected by hand, all fine");
    // An illegal action is a 409 and leaves no audit row.
    t.run().await;
    let (s, _) = t.operate(parked, "retry", "again").await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, audit) = t.call("GET", "/v1/audit", None, &[]).await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_bulk_dry_run_lists_exactly_what_the_real_job_then_touches() {
    let t = app().await;
    let mut parked = Vec::new();
    for _ in 0..3 {
        parked.push(
            t.start(
                "sample_park",
                json!({ "steps": { "inspect": { "fail": "park" } } }),
            )
            .await,
        );
    }
    let ok = t.start("sample", json!({})).await;
    t.run().await;
    let filter = json!({ "workflow": "sample_park", "status": "parked" });
    let (s, dry) = t
        .call("POST", "/v1/sagas/bulk", Some(json!({ "action": "cancel", "filter": filter, "reason": "supplier gone", "dry_run": true })), &[])
        .await;
    assert_eq!(s, StatusCode::OK, "{dry}");
    assert_eq!(dry["total"], 3);
    let mut would: Vec<String> = dry["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    would.sort();
    // Nothing changed yet.
    for id in &parked {
        assert_eq!(t.status(*id).await, "parked");
    }
    let (s, job) = t
        .call(
            "POST",
            "/v1/sagas/bulk",
            Some(json!({ "action": "cancel", "filter": filter, "reason": "supplier gone" })),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let job_id = job["job_id"].as_str().unwrap().to_string();
    let (_, before) = t
        .call("GET", &format!("/v1/jobs/{job_id}"), None, &[])
        .await;
    assert_eq!(
        (before["total"].as_i64(), before["done"].as_i64()),
        (Some(3), Some(0))
    );
    // The job is a saga the worker runs, like any other.
    t.run().await;
    let (s, after) = t
        .call(
            "GET",
            &format!("/v1/jobs/{job_id}"),
            None,
            &[("authorization", &bearer(VIEWER_TOKEN))],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(after["done"], 3, "{after}");
    assert_eq!(after["failed"], 0);
    assert_eq!(after["status"], "completed");
    let (_, audit) = t.call("GET", "/v1/audit", None, &[]).await;
    let mut touched: Vec<String> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["job_id"], job_id.as_str());
            assert_eq!(r["actor"], "olivia");
            r["saga_id"].as_str().unwrap().to_string()
        })
        .collect();
    touched.sort();
    assert_eq!(
        touched, would,
        "the dry run named exactly the sagas the job touched"
    );
    assert_ne!(t.status(ok).await, "cancelled");
    for id in &parked {
        assert_ne!(t.status(*id).await, "parked");
    }
    // An illegal target is counted as failed, not fatal; ids work as well as filters.
    let (_, job2) = t
        .call(
            "POST",
            "/v1/sagas/bulk",
            Some(json!({ "action": "retry", "ids": [ok], "reason": "try" })),
            &[],
        )
        .await;
    t.run().await;
    let (_, p) = t
        .call(
            "GET",
            &format!("/v1/jobs/{}", job2["job_id"].as_str().unwrap()),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (p["done"].as_i64(), p["failed"].as_i64()),
        (Some(0), Some(1))
    );
    // Refusals.
    for bad in [
        json!({ "action": "explode", "ids": [ok], "reason": "x" }),
        json!({ "action": "retry", "reason": "x" }),
        json!({ "action": "retry", "filter": {}, "reason": "x" }),
        json!({ "action": "retry", "ids": [ok], "reason": "" }),
    ] {
        let (s, b) = t
            .call("POST", "/v1/sagas/bulk", Some(bad.clone()), &[])
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }
}

#[tokio::test]
async fn stats_and_queues_count_what_happened() {
    let t = app().await;
    let _ok = t.start("sample", json!({})).await;
    let _retrying = t
        .start(
            "sample",
            json!({ "steps": { "charge": { "fail_times": 1 } } }),
        )
        .await;
    let _comp = t
        .start(
            "sample",
            json!({ "steps": { "deliver": { "fail": "permanent" } } }),
        )
        .await;
    t.run().await;
    let (s, st) = t.call("GET", "/v1/stats?window=24h", None, &[]).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    let w = st["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["workflow"] == "sample")
        .unwrap()
        .clone();
    assert_eq!(w["started"], 3);
    assert_eq!(w["completed"], 1);
    assert_eq!(w["compensated"], 1);
    assert_eq!(w["in_flight"], 1);
    assert_eq!(w["success_rate"], 0.5);
    assert!(w["p50_seconds"].is_number());
    assert!((w["retries_per_saga"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    let (s, _) = t.call("GET", "/v1/stats?window=forever", None, &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, q) = t.call("GET", "/v1/queues", None, &[]).await;
    assert_eq!(s, StatusCode::OK, "{q}");
    let charge = q["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workflow"] == "sample" && r["step"] == "charge")
        .unwrap()
        .clone();
    assert_eq!(charge["delayed"], 1, "the retry waits 5m: {charge}");
    assert_eq!(charge["waiting"], 0);
    assert!(charge["recent_failures"].as_i64().unwrap() >= 1);
    t.advance(mins(7));
    let (_, q) = t.call("GET", "/v1/queues", None, &[]).await;
    let charge = q["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["step"] == "charge")
        .unwrap()
        .clone();
    assert_eq!(charge["waiting"], 1, "now due: {charge}");
    assert_eq!(charge["oldest_waiting_seconds"], 120.0);
    // The detail shows the next retry and the last error.
    let (_, list) = t.call("GET", "/v1/sagas?step=charge", None, &[]).await;
    assert_eq!(list["items"][0]["next_retry_at"], "2026-03-01T09:05:00Z");
    assert_eq!(list["items"][0]["last_error"]["code"], "scripted");
}

#[tokio::test]
async fn the_openapi_document_parses_and_every_route_in_it_exists() {
    let t = app().await;
    let (s, doc) = t.call("GET", "/openapi.json", None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    for (path, item) in doc["paths"].as_object().unwrap() {
        if let Err(e) = serde_json::from_value::<utoipa::openapi::PathItem>(item.clone()) {
            panic!("{path}: {e}: {item}");
        }
    }
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if let Err(e) = serde_json::from_value::<utoipa::openapi::RefOr<utoipa::openapi::Schema>>(
            schema.clone(),
        ) {
            panic!("{name}: {e}: {schema}");
        }
    }
    let parsed: utoipa::openapi::OpenApi =
        serde_json::from_value(doc.clone()).expect("a valid OpenAPI document");
    assert!(parsed.paths.paths.len() >= 25);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let url = path
                .replace("{id}", &Uuid::now_v7().to_string())
                .replace("{name}", "x")
                .replace("{action}", "retry")
                .replace("{provider}", "reseller");
            let m = method.to_uppercase();
            let (s, b) = t
                .call(&m, &url, (m == "POST").then(|| json!({})), &[])
                .await;
            assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
            assert!(
                !(s == StatusCode::NOT_FOUND && b["error"]["message"] == "no such route"),
                "{m} {path} is documented but not routed"
            );
        }
    }
    for must in [
        "/v1/sagas",
        "/v1/sagas/bulk",
        "/v1/jobs/{id}",
        "/v1/audit",
        "/v1/stats",
        "/v1/queues",
        "/v1/sagas/export.csv",
        "/ui",
        "/ui/sagas/{id}",
        "/v1/orders/data-bundles",
        "/v1/orders/{id}",
        "/v1/orders",
        "/v1/orders/{id}/send-checkout",
        "/v1/orders/{id}/cancel",
        "/v1/orders/{id}/timeline",
        "/v1/fulfillments/{id}",
        "/v1/fulfillments/{id}/shipments",
        "/v1/shipments/{id}",
        "/v1/shipments/{id}/status",
        "/v1/shipments/{id}/timeline",
        "/v1/automation-steps/{id}/retry",
        "/v1/automation-steps/{id}/fallback",
        "/v1/pricing/quote",
        "/v1/invoices/{id}",
        "/v1/invoices/{id}/payments",
        "/v1/partner/fulfilment",
        "/v1/partner/products",
    ] {
        assert!(doc["paths"].get(must).is_some(), "{must} undocumented");
    }
}
