//! Job runs over HTTP against the provider simulator: a hardware order's steps appear in their
//! queues (orders, shipments, automation) with links to the order, fulfilment, shipment and
//! automation step; the automate step's progress is visible while it runs; filters, bad
//! input and tenancy behave; each queue shows its limit and averages.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use sagaflow::simulator::Fault;

use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::{OTHER_SERVICE_TOKEN, SERVICE_TOKEN, VIEWER_TOKEN, bearer};

/// The hardware harness with a short lease, so a long step's heartbeat (a third of the lease)
/// writes its progress several times a second.
async fn harness_with_short_lease() -> Harness {
    hardware_with(|s| s.worker.lease = Duration::from_millis(900)).await
}

async fn job_runs(h: &Harness, query: &str, token: &str) -> (StatusCode, Value) {
    let auth = bearer(token);
    h.get(&format!("/v1/job-runs{query}"), &[("authorization", &auth)])
        .await
}

/// The saga's job runs by step name: (queue, status, related kind, related href).
async fn by_step(h: &Harness, saga: Uuid) -> Vec<(String, String, String, String, Value)> {
    let (s, b) = job_runs(h, &format!("?saga_id={saga}"), VIEWER_TOKEN).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut items: Vec<_> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap().to_string(),
                j["queue"].as_str().unwrap().to_string(),
                j["status"].as_str().unwrap().to_string(),
                j["related_entity"]["kind"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                j["related_entity"].clone(),
            )
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_orders_steps_are_job_runs_with_links_progress_filters_and_tenancy() {
    let h = harness_with_short_lease().await;
    let lines = [
        ("SENSOR-T1", 1, "sensor_vendor_first_time"),
        ("SENSOR-H2", 1, "sensor_partner_first_time"),
        ("GATEWAY-G1", 1, "sensor_vendor_first_time"),
    ];
    let order = id(&create(&h, &order_body(&lines)).await, "id");
    let saga = send_checkout(&h, order).await;
    h.t.run().await;

    // Priced, checkout sent and waiting for the customer: both in the orders queue.
    let order_link =
        json!({ "kind": "order", "id": order.to_string(), "href": format!("/v1/orders/{order}") });
    let jobs = by_step(&h, saga).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert_eq!(
        (jobs[0].0.as_str(), jobs[0].1.as_str(), jobs[0].2.as_str()),
        ("checkout", "orders", "active")
    );
    assert_eq!(
        (jobs[1].0.as_str(), jobs[1].1.as_str(), jobs[1].2.as_str()),
        ("price_resolve", "orders", "completed")
    );
    assert_eq!(jobs[0].4, order_link);
    assert_eq!(jobs[1].4, order_link);

    pay(&h, order, saga).await;
    let ships = shipments(&h, order).await;
    let shipment = ships[0]["id"].as_str().unwrap().to_string();
    let fulfillment = view(&h, order).await["fulfillment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let jobs = by_step(&h, saga).await;
    let find = |name: &str| jobs.iter().find(|j| j.0 == name).unwrap().clone();
    assert_eq!(
        find("checkout").2,
        "completed",
        "the payment came: the wait is over"
    );
    let fulfil = find("fulfill");
    assert_eq!(
        (fulfil.1.as_str(), fulfil.2.as_str()),
        ("shipments", "completed")
    );
    assert_eq!(fulfil.4["href"], format!("/v1/fulfillments/{fulfillment}"));
    let ship = find("ship");
    assert_eq!(
        (ship.1.as_str(), ship.2.as_str(), ship.3.as_str()),
        ("shipments", "active", "shipment")
    );
    assert_eq!(ship.4["href"], format!("/v1/shipments/{shipment}"));

    // The automate step calls the bridge once per item, each call slow: its progress shows
    // while it runs.
    h.sim
        .set_fault(
            "bridge.run_automation",
            Some(Fault {
                latency_ms: 700,
                ..Default::default()
            }),
        )
        .unwrap();
    let tracking = tracking(&ships[0]);
    courier(&h, saga, &tracking, "in_transit").await;
    let before = h
        .count(&format!(
            "SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"
        ))
        .await;
    sim_post(
        &h,
        &format!("/_sim/courier/{tracking}/advance"),
        json!({ "status": "delivered" }),
    )
    .await;
    signals(&h, saga, before + 1).await;
    let worker = h.t.worker.clone();
    let running = tokio::spawn(async move { worker.run_until_idle().await });
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !running.is_finished() && tokio::time::Instant::now() < deadline {
        let (s, b) = job_runs(&h, "?queue=automation&status=active", VIEWER_TOKEN).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        if let Some(j) = b["items"].as_array().unwrap().first() {
            // Until the first heartbeat, nothing has been reported yet.
            if !j["related_entity"].is_null() {
                assert_eq!(j["related_entity"]["kind"], "automation_step", "{j}");
                seen.push(j["progress"].as_i64().unwrap());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.await.unwrap().unwrap();
    assert!(
        seen.iter().any(|p| *p > 0 && *p < 100),
        "no partial progress seen while the step ran: {seen:?}"
    );
    assert_eq!(h.t.status(saga).await, "completed");
    let jobs = by_step(&h, saga).await;
    assert!(jobs.iter().all(|j| j.2 == "completed"), "{jobs:?}");
    let automate = jobs.iter().find(|j| j.0 == "automate").unwrap();
    assert_eq!(automate.1, "automation");
    let steps = view(&h, order).await["automation_steps"].clone();
    let step_ids: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        step_ids.contains(&automate.4["id"].as_str().unwrap()),
        "the automate job links one of the order's automation steps: {}",
        automate.4
    );

    // Filters: one queue, one status; the averages for each queue beside them.
    let (_, b) = job_runs(&h, "?queue=automation&status=completed", VIEWER_TOKEN).await;
    let items = b["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["progress"], 100);
    assert_eq!(items[0]["max_attempts"], 100);
    assert_eq!(items[0]["saga"]["href"], format!("/v1/sagas/{saga}"));
    let queues = b["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 1, "only the queue asked for");
    assert_eq!(queues[0]["queue"], "automation");
    assert_eq!(queues[0]["concurrency"], 5);
    assert_eq!(queues[0]["counts"]["completed"], 1);
    assert!(
        queues[0]["avg_processing_seconds"].as_f64().unwrap() >= 2.0,
        "three slow bridge calls: {}",
        queues[0]
    );
    let (_, b) = job_runs(&h, "?queue=orders", VIEWER_TOKEN).await;
    let names: Vec<&str> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"price_resolve") && names.contains(&"checkout"),
        "{names:?}"
    );
    assert!(
        b["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["queue"] == "orders")
    );
    let (_, b) = job_runs(&h, "", VIEWER_TOKEN).await;
    let all: Vec<&str> = b["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["queue"].as_str().unwrap())
        .collect();
    assert_eq!(all, ["automation", "orders", "shipments"]);
    let (_, b) = job_runs(&h, "?status=failed", VIEWER_TOKEN).await;
    assert_eq!(b["items"], json!([]));

    // Tenancy: the shop that placed the order sees its jobs; another shop sees none, and no
    // averages of the first shop's work either.
    let (s, b) = job_runs(&h, "", SERVICE_TOKEN).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["items"].as_array().unwrap().len(), jobs.len());
    let (s, b) = job_runs(&h, "", OTHER_SERVICE_TOKEN).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["items"], json!([]));
    assert!(
        b["queues"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["avg_processing_seconds"].is_null())
    );
    let (_, b) = job_runs(&h, &format!("?saga_id={saga}"), OTHER_SERVICE_TOKEN).await;
    assert_eq!(b["items"], json!([]));

    // Bad input is a 400 that names it.
    for (query, code) in [
        ("?status=running", "invalid_status"),
        ("?queue=Orders!", "invalid_queue"),
        ("?limit=0", "invalid_limit"),
        ("?saga_id=nope", "invalid_id"),
        ("?window=forever", "invalid_window"),
        ("?colour=blue", "invalid_query"),
    ] {
        let (s, b) = job_runs(&h, query, VIEWER_TOKEN).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {b}");
        assert_eq!(b["error"]["code"], code, "{query}: {b}");
    }
    // Without a token: 401.
    let (s, _) = h
        .get("/v1/job-runs", &[("authorization", "Bearer nope")])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
