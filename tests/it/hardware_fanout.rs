//! The fan-out to legacy: each verified payment event is forwarded once through the outbox to
//! the simulator's legacy endpoint, signed and logged; a refused forward goes dead and is
//! replayed; a duplicate or forged event forwards nothing; and the fan-out is off by default.

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::*;
use sagaflow::providers::legacy_forward::TOPIC;
use sagaflow::simulator::Fault;

async fn forwarded(h: &Harness) -> Vec<Value> {
    let b: Value = h
        .http
        .get(format!("{}/_sim/legacy/webhooks", h.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    b["webhooks"].as_array().unwrap().clone()
}

async fn relay(h: &Harness) {
    let relay = h.t.app.outbox_relay();
    while relay.deliver_due().await.unwrap() > 0 {}
}

/// `(id, status, attempts)` of the forward rows, oldest first.
async fn rows(h: &Harness) -> Vec<(i64, String, i32)> {
    sqlx::query_as("SELECT id, status, attempts FROM outbox WHERE topic = $1 ORDER BY id")
        .bind(TOPIC)
        .fetch_all(h.pool())
        .await
        .unwrap()
}

/// Posts a signed processor event to the webhook route as the processor would.
async fn post_event(h: &Harness, event_id: &str, secret: &str) -> StatusCode {
    let event = sagaflow::simulator::events::payment_event(
        secret,
        event_id,
        "checkout.session.expired",
        &json!({"id": "cs_unknown", "object": "checkout.session", "status": "expired"}),
        Utc::now(),
    );
    let mut req = h
        .http
        .post(format!("{}/v1/webhooks/payments", h.base))
        .body(event.body.clone());
    for (k, v) in &event.headers {
        req = req.header(*k, v);
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn verified_payment_events_are_forwarded_signed_logged_and_replayable() {
    let h = hardware_with(|s| s.providers.legacy_forward.enabled = true).await;
    let (order, _) = paid_order(&h, &[("SENSOR-H2", 1, "sensor_vendor_first_time")]).await;
    assert_eq!(view(&h, order).await["payment_status"], "paid");
    let pending = rows(&h).await;
    assert_eq!(pending.len(), 1, "one forward for the one payment event");
    assert_eq!(pending[0].1, "pending");
    relay(&h).await;
    let got = forwarded(&h).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["event"]["type"], "checkout.session.completed");
    assert_eq!(got[0]["event_type"], "payments.checkout");
    let event_id = got[0]["event_id"].as_str().unwrap().to_string();
    assert_eq!(
        got[0]["event"]["id"],
        event_id.as_str(),
        "the processor's body as sent"
    );
    let (id, status, _) = rows(&h).await[0].clone();
    assert_eq!(status, "delivered");
    let (s, b) = h.get(&format!("/v1/outbox/{id}"), &[]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["deliveries"][0]["status_code"], 200, "{b}");

    // The processor sends an event again: nothing is forwarded twice. A forged one is refused
    // before anything is stored.
    let secret = "whsec_simulator";
    assert_eq!(
        post_event(&h, "evt_again", secret).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(post_event(&h, "evt_again", secret).await, StatusCode::OK);
    assert_eq!(
        post_event(&h, "evt_forged", "not-the-secret").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(rows(&h).await.len(), 2);

    // The legacy service refuses it: the row goes dead with its attempt logged, and an
    // operator's replay delivers it once the service takes it.
    h.sim
        .set_fault(
            "legacy.receive",
            Some(Fault {
                status: Some(400),
                times: Some(1),
                ..Default::default()
            }),
        )
        .unwrap();
    relay(&h).await;
    let (id, status, attempts) = rows(&h).await[1].clone();
    assert_eq!((status.as_str(), attempts), ("dead", 1));
    assert_eq!(forwarded(&h).await.len(), 1);
    let (s, b) = h
        .post_json(
            &format!("/v1/outbox/{id}/replay"),
            &[("authorization", &bearer(OPERATOR_TOKEN))],
            &json!({"reason": "legacy service fixed"}),
        )
        .await;
    assert!(s.is_success(), "{b}");
    relay(&h).await;
    assert_eq!(rows(&h).await[1].1, "delivered");
    let got = forwarded(&h).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1]["event_id"], "evt_again");
    let (_, b) = h.get(&format!("/v1/outbox/{id}"), &[]).await;
    let codes: Vec<Value> = b["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status_code"].clone())
        .collect();
    assert_eq!(codes, [json!(400), json!(200)]);
    assert_eq!(h.sim.stats().deliveries("legacy.receive", "evt_again"), 1);
}

#[tokio::test]
async fn the_fan_out_is_off_unless_configured() {
    let h = hardware().await;
    let (order, _) = paid_order(&h, &[("SENSOR-H2", 1, "sensor_vendor_first_time")]).await;
    assert_eq!(view(&h, order).await["payment_status"], "paid");
    relay(&h).await;
    assert!(rows(&h).await.is_empty());
    assert!(forwarded(&h).await.is_empty());
}
