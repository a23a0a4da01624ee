//! The `hardware_order` saga end to end over HTTP, against the provider simulator on a real
//! port with a manual clock: the happy path with one shipment, two partial shipments with the
//! allocation guardrail, a payment webhook that arrives before the saga waits for it, and the
//! timelines in causal order.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::hardware::*;
use sagaflow::simulator::{ConfigPatch, Fault};

#[tokio::test]
async fn happy_path_with_one_shipment() {
    let h = hardware().await;
    let created = create(
        &h,
        &order_body(&[
            ("SENSOR-T1", 3, "sensor_vendor_first_time"),
            ("GATEWAY-G1", 1, "sensor_partner_first_time"),
        ]),
    )
    .await;
    let order = id(&created, "id");
    assert_eq!(created["payment_status"], "draft");
    // CA has its own T1 price (159.00); the gateway only a global one (499.00).
    assert_eq!(created["items"][0]["price_type"], "PRICEBOOK_REGIONAL");
    assert_eq!(created["items"][0]["unit_amount_minor"], 15900);
    assert_eq!(created["items"][1]["price_type"], "PRICEBOOK_GLOBAL");
    assert_eq!(created["total_minor"], 3 * 15900 + 49900);

    let saga = send_checkout(&h, order).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    let v = view(&h, order).await;
    assert_eq!(v["payment_status"], "checkout_sent");
    assert!(v["checkout_url"].as_str().unwrap().contains("/pay/"));
    assert!(v["items"][0]["snapshot_locked_at"].is_string());
    // A second send is refused with the state in the message.
    let (s, b) = h
        .post_json(
            &format!("/v1/orders/{order}/send-checkout"),
            &[],
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");

    pay(&h, order, saga).await;
    let v = view(&h, order).await;
    assert_eq!(v["payment_status"], "paid");
    assert_eq!(
        v["paid_minor"],
        3 * 15900 + 49900,
        "the processor charged the snapshot"
    );
    assert_eq!(v["invoice_status"], "paid");
    assert!(v["invoice_number"].as_str().unwrap().starts_with("INV-"));
    assert_eq!(v["balance_minor"], 0);
    assert_eq!(v["fulfillment_status"], "awaiting_shipment");
    assert_eq!(h.t.status(saga).await, "waiting");

    let ships = shipments(&h, order).await;
    assert_eq!(ships.len(), 1);
    assert_eq!(ships[0]["status"], "ready");
    assert_eq!(ships[0]["courier_code"], "dhl");
    assert_eq!(ships[0]["address_snapshot"]["postal_code"], "M5H 1A1");
    let t = tracking(&ships[0]);
    assert!(
        ships[0]["tracking_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/courier/dhl/track/{t}"))
    );
    let units: i64 = ships[0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["quantity"].as_i64().unwrap())
        .sum();
    assert_eq!(units, 4);

    courier(&h, saga, &t, "in_transit").await;
    assert_eq!(view(&h, order).await["fulfillment_status"], "in_transit");
    assert_eq!(shipments(&h, order).await[0]["status"], "in_transit");
    courier(&h, saga, &t, "delivered").await;

    assert_eq!(h.t.status(saga).await, "completed");
    let v = view(&h, order).await;
    assert_eq!(v["fulfillment_status"], "completed");
    let steps = v["automation_steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "one automation step per shipped item");
    assert!(
        steps
            .iter()
            .all(|s| s["status"] == "succeeded" && s["attempts"] == 1)
    );
    let scenarios: Vec<_> = h
        .sim
        .automations()
        .iter()
        .map(|a| a.scenario.clone())
        .collect();
    assert_eq!(
        scenarios,
        ["sensor_vendor_first_time", "sensor_partner_first_time"]
    );
    assert_eq!(v["invoice_status"], "paid");
    assert_eq!(v["balance_minor"], 0);
    let delivered = shipments(&h, order).await;
    assert!(delivered[0]["delivered_at"].is_string() && delivered[0]["in_transit_at"].is_string());
}

#[tokio::test]
async fn two_partial_shipments_under_the_guardrail() {
    let h = hardware().await;
    let mut body = order_body(&[("SENSOR-T1", 5, "sensor_vendor_replacement")]);
    body["initial_shipment"] = json!([{"sku": "SENSOR-T1", "quantity": 2}]);
    let order = id(&create(&h, &body).await, "id");
    let saga = send_checkout(&h, order).await;
    h.t.run().await;
    pay(&h, order, saga).await;

    let first = shipments(&h, order).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["items"][0]["quantity"], 2);
    let fulfillment = view(&h, order).await["fulfillment_id"]
        .as_str()
        .unwrap()
        .to_string();
    courier(&h, saga, &tracking(&first[0]), "in_transit").await;
    courier(&h, saga, &tracking(&first[0]), "delivered").await;
    // Three are still to ship: the saga keeps waiting and the fulfilment is not complete.
    assert_eq!(h.t.status(saga).await, "waiting");
    let (_, f) = h.get(&format!("/v1/fulfillments/{fulfillment}"), &[]).await;
    assert_eq!(f["items"][0]["remaining"], 3);
    assert_eq!(f["status"], "in_transit");

    // The guardrail: four is more than is left, nothing changes.
    let path = format!("/v1/fulfillments/{fulfillment}/shipments");
    let (s, b) = operator_post(
        &h,
        &path,
        &json!({"items": [{"sku": "SENSOR-T1", "quantity": 4}]}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SENSOR-T1"),
        "{b}"
    );
    assert_eq!(shipments(&h, order).await.len(), 1);

    let (s, b) = operator_post(
        &h,
        &path,
        &json!({"items": [{"sku": "SENSOR-T1", "quantity": 3}], "courier": "usps"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["status"], "draft");
    signals(&h, saga, 4).await;
    h.t.run().await;
    let both = shipments(&h, order).await;
    assert_eq!(both.len(), 2);
    assert_eq!(both[1]["status"], "ready");
    assert_eq!(both[1]["courier_code"], "usps");
    assert_eq!(both[1]["created_by"], "operator:olivia");
    // Nothing is left for a third.
    let (s, _) = operator_post(
        &h,
        &path,
        &json!({"items": [{"sku": "SENSOR-T1", "quantity": 1}]}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);

    courier(&h, saga, &tracking(&both[1]), "delivered").await;
    assert_eq!(h.t.status(saga).await, "completed");
    let v = view(&h, order).await;
    assert_eq!(v["fulfillment_status"], "completed");
    assert_eq!(
        v["automation_steps"].as_array().unwrap().len(),
        2,
        "one per shipment item"
    );
    let (_, f) = h.get(&format!("/v1/fulfillments/{fulfillment}"), &[]).await;
    assert_eq!(f["items"][0]["remaining"], 0);
    assert_eq!(f["status"], "completed");
}

#[tokio::test]
async fn a_payment_webhook_before_the_saga_waits_is_kept() {
    let h = hardware().await;
    h.sim
        .configure(ConfigPatch {
            checkout_auto_complete: Some(true),
            completion_delay_ms: Some(0),
            ..Default::default()
        })
        .unwrap();
    // The session is created and paid at once, but its answer is lost: the saga does not know
    // the session (nor wait for it) when the signed webhook arrives.
    h.sim
        .set_fault(
            "payments.create_session",
            Some(Fault {
                drop_response: true,
                times: Some(1),
                ..Default::default()
            }),
        )
        .unwrap();
    let order = id(
        &create(&h, &order_body(&[("SENSOR-H2", 2, "sensor_return")])).await,
        "id",
    );
    let saga = send_checkout(&h, order).await;
    h.t.run().await;
    assert_eq!(
        h.t.status(saga).await,
        "running",
        "the checkout attempt failed and waits to retry"
    );
    h.wait_for(
        "SELECT count(*) FROM saga_signals WHERE saga_id IS NULL AND name = 'payments.checkout'",
        1,
    )
    .await;
    assert_eq!(view(&h, order).await["payment_status"], "draft");

    // The retry replays the same idempotency key, gets the same (paid) session, registers its
    // reference and finds the webhook already there.
    h.t.advance(std::time::Duration::from_secs(120));
    h.t.run().await;
    let v = view(&h, order).await;
    assert_eq!(v["payment_status"], "paid", "{v}");
    assert_eq!(v["invoice_status"], "paid");
    let key = format!("{saga}:checkout");
    assert_eq!(
        h.sim.stats().deliveries("payments.create_session", &key),
        1,
        "one session, replayed"
    );
    assert_eq!(shipments(&h, order).await.len(), 1);
}

#[tokio::test]
async fn timelines_show_events_in_causal_order() {
    let h = hardware().await;
    let (order, saga) = paid_order(&h, &[("SENSOR-T1", 1, "sensor_vendor_first_time")]).await;
    let ship = shipments(&h, order).await[0].clone();
    let t = tracking(&ship);
    courier(&h, saga, &t, "in_transit").await;
    courier(&h, saga, &t, "delivered").await;
    assert_eq!(h.t.status(saga).await, "completed");

    let (s, tl) = h.get(&format!("/v1/orders/{order}/timeline"), &[]).await;
    assert_eq!(s, StatusCode::OK, "{tl}");
    let items = tl["items"].as_array().unwrap();
    let position = |source: &str, kind: &str| {
        items
            .iter()
            .position(|i| i["source"] == source && i["kind"] == kind)
            .unwrap_or_else(|| panic!("{source} {kind} missing from {tl}"))
    };
    let chain = [
        ("domain", "order.created"),
        ("saga", "saga_started"),
        ("domain", "order.checkout_sent"),
        ("domain", "order.payment_processing"),
        ("domain", "order.paid"),
        ("domain", "invoice.issued"),
        ("domain", "fulfillment.created"),
        ("domain", "shipment.drafted"),
        ("domain", "shipment.ready"),
        ("courier", "in_transit"),
        ("domain", "shipment.in_transit"),
        ("courier", "delivered"),
        ("domain", "shipment.delivered"),
        ("domain", "automation.step_queued"),
        ("domain", "automation.step_succeeded"),
    ];
    let positions: Vec<usize> = chain.iter().map(|(s, k)| position(s, k)).collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(
        positions, sorted,
        "out of causal order: {chain:?} at {positions:?}"
    );
    let last = items.last().unwrap();
    assert_eq!(
        (last["source"].as_str(), last["kind"].as_str()),
        (Some("saga"), Some("saga_completed"))
    );
    let times: Vec<&str> = items.iter().map(|i| i["at"].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "timeline not sorted by time"
    );

    let (s, st) = h
        .get(
            &format!("/v1/shipments/{}/timeline", ship["id"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{st}");
    let kinds: Vec<&str> = st["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    for k in [
        "shipment.drafted",
        "shipment.ready",
        "in_transit",
        "shipment.delivered",
        "automation.step_succeeded",
    ] {
        assert!(
            kinds.contains(&k),
            "{k} missing from the shipment timeline: {kinds:?}"
        );
    }
    assert!(
        !kinds.contains(&"order.paid"),
        "order events stay on the order's timeline"
    );
}
