//! The `hardware_order` saga when things go wrong, over HTTP against the simulator with a
//! manual clock: an unsynced price, checkout expiry, the courier cancelling after payment, and
//! automation that runs out of attempts, parks, and is finished by an operator.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::hardware::*;
use sagaflow::simulator::Fault;

#[tokio::test]
async fn an_unsynced_price_blocks_checkout() {
    let h = hardware().await;
    let order = id(
        &create(
            &h,
            &order_body(&[
                ("SENSOR-T1", 1, "sensor_vendor_first_time"),
                ("SENSOR-X9", 2, "sensor_return"),
            ]),
        )
        .await,
        "id",
    );
    let (s, b) = h
        .post_json(
            &format!("/v1/orders/{order}/send-checkout"),
            &[],
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["error"]["code"], "price_not_synced");
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("line 2 (SENSOR-X9)") && msg.contains("price_sim_x9_usd"),
        "{msg}"
    );
    let v = view(&h, order).await;
    assert_eq!(v["payment_status"], "draft");
    assert!(v["saga_id"].is_null(), "no saga was started");
    assert_eq!(h.count("SELECT count(*) FROM sagas").await, 0);

    // A price that goes unsynced after the checkout was sent stops the saga at price_resolve,
    // before any session exists, and the order is closed.
    let order = id(
        &create(&h, &order_body(&[("SENSOR-H2", 1, "sensor_return")])).await,
        "id",
    );
    let saga = send_checkout(&h, order).await;
    h.t.app
        .store()
        .set_price_synced("pb-h2-global-usd", false, chrono::Utc::now())
        .await
        .unwrap();
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "compensated");
    let v = view(&h, order).await;
    assert_eq!(v["payment_status"], "cancelled");
    assert!(v["checkout_session"].is_null());
    assert_eq!(
        h.sim
            .stats()
            .deliveries("payments.create_session", &format!("{saga}:checkout")),
        0
    );
    assert_eq!(
        events(&h, order).await,
        ["order.created", "order.cancelled"]
    );
}

#[tokio::test]
async fn checkout_expiry_is_compensated_with_nothing_half_done() {
    let h = hardware().await;
    let order = id(
        &create(
            &h,
            &order_body(&[("SENSOR-T1", 2, "sensor_vendor_first_time")]),
        )
        .await,
        "id",
    );
    let saga = send_checkout(&h, order).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    let session = view(&h, order).await["checkout_session"]
        .as_str()
        .unwrap()
        .to_string();

    // No payment within the wait: the poll finds the session open, expires it at the
    // processor, and the saga undoes itself.
    h.t.advance(Duration::from_secs(66 * 60));
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "compensated");
    let v = view(&h, order).await;
    assert_eq!(v["payment_status"], "checkout_expired");
    assert!(v["fulfillment_id"].is_null() && v["invoice_id"].is_null());
    assert_eq!(v["paid_minor"], 0);
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) FROM payment_records WHERE order_id = '{order}'"
        ))
        .await,
        0
    );
    let res = h
        .http
        .get(format!(
            "{}/v1/checkout/sessions/{session}",
            h.sim.base_url()
        ))
        .bearer_auth("sk_test_simulator")
        .send()
        .await
        .unwrap();
    let s: serde_json::Value = res.json().await.unwrap();
    assert_eq!(s["status"], "expired", "the customer can no longer pay");
    assert_eq!(
        events(&h, order).await,
        [
            "order.created",
            "order.checkout_sent",
            "order.checkout_expired"
        ]
    );
    // The processor's own expiry event arrives afterwards and changes nothing.
    h.wait_for(
        &format!("SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"),
        1,
    )
    .await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "compensated");
    // Paying an expired order is refused at the processor; cancelling it is refused here.
    let (s, b) = h
        .post_json(
            &format!("/v1/orders/{order}/cancel"),
            &[],
            &json!({"reason": "customer asked"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("checkout_expired"),
        "{b}"
    );
}

#[tokio::test]
async fn a_failed_payment_is_compensated() {
    let h = hardware().await;
    let order = id(
        &create(
            &h,
            &order_body(&[("GATEWAY-G1", 1, "sensor_partner_first_time")]),
        )
        .await,
        "id",
    );
    let saga = send_checkout(&h, order).await;
    h.t.run().await;
    settle(&h, order, saga, "failed").await;
    assert_eq!(h.t.status(saga).await, "compensated");
    let v = view(&h, order).await;
    assert_eq!(v["payment_status"], "payment_failed");
    assert!(v["fulfillment_id"].is_null() && v["invoice_id"].is_null());
}

#[tokio::test]
async fn courier_cancelling_after_payment_refunds_and_voids() {
    let h = hardware().await;
    let (order, saga) = paid_order(&h, &[("SENSOR-T1", 2, "sensor_vendor_first_time")]).await;
    let paid = view(&h, order).await;
    assert_eq!(paid["invoice_status"], "paid");
    let ship = shipments(&h, order).await[0].clone();

    courier(&h, saga, &tracking(&ship), "cancelled").await;
    assert_eq!(h.t.status(saga).await, "compensated");
    let v = view(&h, order).await;
    assert_eq!(v["payment_status"], "refunded");
    assert_eq!(v["invoice_status"], "void");
    assert_eq!(v["fulfillment_status"], "cancelled");
    assert_eq!(v["paid_minor"], 0, "payment and refund net to zero");
    assert_eq!(v["balance_minor"], 0);
    let payments = v["payments"].as_array().unwrap();
    let kinds: Vec<_> = payments
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap(),
                p["amount_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, [("payment", 2 * 15900), ("refund", -2 * 15900)]);
    assert_eq!(shipments(&h, order).await[0]["status"], "cancelled");
    let refund_key = format!("{saga}:checkout:undo");
    assert_eq!(
        h.sim
            .stats()
            .deliveries("payments.create_refund", &refund_key),
        1
    );
    let e = events(&h, order).await;
    for kind in [
        "shipment.cancelled",
        "fulfillment.cancelled",
        "order.refunded",
        "invoice.voided",
    ] {
        assert!(e.contains(&kind.to_string()), "{kind} missing from {e:?}");
    }
    // Paying a void invoice is an illegal transition, and nothing is recorded.
    let invoice = v["invoice_id"].as_str().unwrap();
    let (s, b) = operator_post(
        &h,
        &format!("/v1/invoices/{invoice}/payments"),
        &json!({"amount_minor": 100, "reference": "BANK-1"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("it is void"),
        "{b}"
    );
    assert_eq!(
        view(&h, order).await["payments"].as_array().unwrap().len(),
        2
    );
    // Shipping a cancelled fulfilment is an illegal transition, and so is cancelling again.
    let fulfillment = v["fulfillment_id"].as_str().unwrap();
    let (s, b) = operator_post(
        &h,
        &format!("/v1/fulfillments/{fulfillment}/shipments"),
        &json!({"items": [{"sku": "SENSOR-T1", "quantity": 1}]}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("it is cancelled"),
        "{b}"
    );
    let (s, b) = h
        .post_json(
            &format!("/v1/orders/{order}/cancel"),
            &[],
            &json!({"reason": "again"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
}

#[tokio::test]
async fn automation_exhausted_parks_then_an_operator_finishes_it() {
    let h = hardware_exhausting_automation().await;
    h.sim
        .set_fault(
            "bridge.run_automation",
            Some(Fault {
                status: Some(503),
                ..Default::default()
            }),
        )
        .unwrap();
    let (order, saga) = paid_order(
        &h,
        &[
            ("SENSOR-T1", 1, "sensor_vendor_first_time"),
            ("SENSOR-H2", 1, "sensor_return"),
        ],
    )
    .await;
    let t = tracking(&shipments(&h, order).await[0]);
    courier(&h, saga, &t, "delivered").await;

    // Attempt 1 fails; attempts 2 and 3 come 10 minutes apart (the scenario policy).
    let steps = view(&h, order).await["automation_steps"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        steps
            .iter()
            .all(|s| s["status"] == "retrying" && s["attempts"] == 1),
        "{steps:?}"
    );
    assert_eq!(h.t.status(saga).await, "running");
    for _ in 0..2 {
        h.t.advance(Duration::from_secs(10 * 60));
        h.t.run().await;
    }
    assert_eq!(h.t.status(saga).await, "parked");
    let steps = view(&h, order).await["automation_steps"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        steps
            .iter()
            .all(|s| s["status"] == "failed" && s["attempts"] == 3),
        "{steps:?}"
    );
    let saga_view = h.t.saga(saga).await;
    assert!(
        saga_view["last_error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("fallback")
            || saga_view.to_string().contains("fallback"),
        "{saga_view}"
    );
    assert_eq!(
        events(&h, order)
            .await
            .iter()
            .filter(|e| *e == "automation.step_failed")
            .count(),
        2
    );
    let (first, second) = (
        steps[0]["id"].as_str().unwrap(),
        steps[1]["id"].as_str().unwrap(),
    );

    // The first: the bridge is back, an operator retries it.
    h.sim.set_fault("bridge.run_automation", None).unwrap();
    let (s, b) = operator_post(
        &h,
        &format!("/v1/automation-steps/{first}/retry"),
        &json!({"reason": "bridge fixed"}),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    h.t.run().await;
    // The second is still failed, so the saga parks again.
    assert_eq!(h.t.status(saga).await, "parked");
    let (s, b) = operator_post(
        &h,
        &format!("/v1/automation-steps/{first}/fallback"),
        &json!({"note": "late"}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a succeeded step takes no fallback: {b}"
    );

    // The second: an operator runs the manual fallback.
    let (s, b) = operator_post(
        &h,
        &format!("/v1/automation-steps/{second}/fallback"),
        &json!({"note": "asset marked returned by hand, ticket OPS-42"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "completed");
    let steps = view(&h, order).await["automation_steps"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(steps[0]["status"], "succeeded");
    assert_eq!(steps[1]["status"], "fallback_triggered");
    assert_eq!(
        steps[1]["fallback_note"],
        "asset marked returned by hand, ticket OPS-42"
    );
    assert_eq!(view(&h, order).await["invoice_status"], "paid");
    let audit = h
        .count(&format!(
            "SELECT count(*) FROM operator_actions WHERE saga_id = '{saga}'"
        ))
        .await;
    assert_eq!(audit, 2, "both operator actions retried the saga, audited");
}

#[tokio::test]
async fn cancelling_an_order_at_checkout_closes_its_session() {
    let h = hardware().await;
    let order = id(
        &create(&h, &order_body(&[("SENSOR-T1", 1, "sensor_return")])).await,
        "id",
    );
    let saga = send_checkout(&h, order).await;
    h.t.run().await;
    assert_eq!(view(&h, order).await["payment_status"], "checkout_sent");

    let (s, b) = h
        .post_json(
            &format!("/v1/orders/{order}/cancel"),
            &[],
            &json!({"reason": "customer changed their mind"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "cancelled");
    let v = view(&h, order).await;
    assert_eq!(v["payment_status"], "cancelled");
    let session = v["checkout_session"].as_str().unwrap();
    let res = h
        .http
        .get(format!(
            "{}/v1/checkout/sessions/{session}",
            h.sim.base_url()
        ))
        .bearer_auth("sk_test_simulator")
        .send()
        .await
        .unwrap();
    let s: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        s["status"], "expired",
        "the customer can no longer pay for it"
    );
    assert_eq!(
        events(&h, order).await,
        ["order.created", "order.checkout_sent", "order.cancelled"]
    );
}

#[tokio::test]
async fn a_paused_bridge_holds_automation_without_spending_its_attempts() {
    let h = hardware().await;
    let (s, b) = operator_post(
        &h,
        "/v1/providers/bridge/pause",
        &json!({"reason": "bridge maintenance"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let before = h.sim.stats().requests("bridge.run_automation");
    let (order, saga) = paid_order(&h, &[("SENSOR-T1", 1, "sensor_vendor_first_time")]).await;
    let t = tracking(&shipments(&h, order).await[0]);
    courier(&h, saga, &t, "delivered").await;

    // Held at the gate, hours on: nothing reaches the bridge, no automation attempt is spent
    // and the saga waits rather than parking.
    for _ in 0..3 {
        h.t.advance(Duration::from_secs(30 * 60));
        h.t.run().await;
    }
    assert_eq!(h.sim.stats().requests("bridge.run_automation"), before);
    let steps = view(&h, order).await["automation_steps"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        steps
            .iter()
            .all(|s| s["attempts"] == 0 && s["status"] == "queued"),
        "{steps:?}"
    );
    let s = h.t.saga(saga).await;
    assert_eq!(s["status"], "running", "{s}");
    assert_eq!(s["last_error"]["code"], "provider_held", "{s}");

    // Resumed: the held saga runs at once and the step succeeds on its first attempt.
    let (s, b) = operator_post(
        &h,
        "/v1/providers/bridge/resume",
        &json!({"reason": "maintenance over"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    h.t.run().await;
    let steps = view(&h, order).await["automation_steps"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(steps[0]["status"], "succeeded", "{steps:?}");
    assert_eq!(steps[0]["attempts"], 1, "{steps:?}");
    assert_eq!(h.sim.stats().requests("bridge.run_automation"), before + 1);
}
