//! Who may signal and start what: a provider's signal never comes through the signal route, a
//! payment event is checked with the processor before it settles an order, a courier event
//! moves only its own carrier's shipment, and internal workflows are not started by callers.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use sagaflow::engine::Clock;

use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::*;
use sagaflow::providers::signature::{
    COURIER_SIGNATURE_HEADER, STRIPE_SIGNATURE_HEADER, sign_timestamped,
};

const LINES: &[(&str, i32, &str)] = &[("SENSOR-T1", 2, "sensor_vendor_first_time")];

async fn payment_status(h: &Harness, order: Uuid) -> String {
    view(h, order).await["payment_status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A `checkout.session.completed` event claiming `session` is paid in full.
fn paid_event(session: &str, amount: i64) -> Value {
    json!({
        "id": format!("evt_forged_{}", Uuid::now_v7().simple()),
        "type": "checkout.session.completed",
        "data": { "object": {
            "id": session, "status": "complete", "payment_status": "paid",
            "amount_total": amount, "currency": "usd", "payment_intent": "pi_forged"
        }}
    })
}

/// An order checked out and waiting for its payment: (order, saga, session, total).
async fn awaiting_payment(h: &Harness) -> (Uuid, Uuid, String, i64) {
    let order = id(&create(h, &order_body(LINES)).await, "id");
    let saga = send_checkout(h, order).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    let v = view(h, order).await;
    let session = v["checkout_session"].as_str().unwrap().to_string();
    (order, saga, session, v["total_minor"].as_i64().unwrap())
}

#[tokio::test]
async fn forged_payment_signal_is_refused_and_the_order_stays_unpaid() {
    let h = hardware().await;
    let (order, saga, session, total) = awaiting_payment(&h).await;
    for token in [SERVICE_TOKEN, OPERATOR_TOKEN] {
        let auth = bearer(token);
        let mut body = paid_event(&session, total);
        body["reason"] = json!("the customer says they paid");
        let (s, b) = h
            .post_json(
                &format!("/v1/sagas/{saga}/signals/payments.checkout"),
                &[("authorization", &auth), ("idempotency-key", "forged-1")],
                &body,
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert_eq!(b["error"]["code"], "signal_source");
    }
    h.t.run().await;
    let stored = h
        .count(&format!(
            "SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"
        ))
        .await;
    assert_eq!(stored, 0, "a refused signal is not stored");
    assert_eq!(payment_status(&h, order).await, "checkout_sent");
    assert_eq!(h.t.status(saga).await, "waiting");
}

#[tokio::test]
async fn a_signed_paid_event_the_processor_denies_settles_nothing() {
    let h = hardware().await;
    let (order, saga, session, total) = awaiting_payment(&h).await;
    // Correctly signed (a leaked secret, a replay of another shop's event): the processor is
    // still asked, and its session is open and unpaid.
    let body = serde_json::to_vec(&paid_event(&session, total)).unwrap();
    let secret = h.t.app.settings.providers.payments.webhook_secret.expose();
    let sig = sign_timestamped(secret.as_bytes(), h.t.clock.now().timestamp(), &body);
    let (s, _, b) = h
        .request(
            reqwest::Method::POST,
            "/v1/webhooks/payments",
            &[(STRIPE_SIGNATURE_HEADER, &sig)],
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["result"], "accepted");
    h.t.run().await;
    assert_eq!(payment_status(&h, order).await, "checkout_sent");
    assert_eq!(h.t.status(saga).await, "waiting");
    // The real payment then settles it, for the processor's own amount.
    pay(&h, order, saga).await;
    assert_eq!(payment_status(&h, order).await, "paid");
}

#[tokio::test]
async fn operator_signals_need_a_reason_and_are_audited() {
    let t = app().await;
    let saga = t
        .start(
            "sample",
            json!({ "steps": { "deliver": { "wait": true } } }),
        )
        .await;
    t.run().await;
    let path = format!("/v1/sagas/{saga}/signals/sample.delivered");
    let (s, b) = t
        .call("POST", &path, Some(json!({})), &[("idempotency-key", "k1")])
        .await;
    assert_eq!(s, axum::http::StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["code"], "reason_required");
    // A signal no wait of the workflow names is not stored for it.
    let (s, b) = t
        .call(
            "POST",
            &format!("/v1/sagas/{saga}/signals/sample.other"),
            Some(json!({ "reason": "x" })),
            &[("idempotency-key", "k2")],
        )
        .await;
    assert_eq!(s, axum::http::StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = t
        .call(
            "POST",
            &path,
            Some(json!({ "reason": "the courier phoned" })),
            &[("idempotency-key", "k3")],
        )
        .await;
    assert_eq!(s, axum::http::StatusCode::ACCEPTED, "{b}");
    let (_, audit) = t
        .call("GET", &format!("/v1/audit?saga_id={saga}"), None, &[])
        .await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{audit}");
    assert_eq!(items[0]["action"], "signal:sample.delivered");
    assert_eq!(items[0]["actor"], "olivia");
    assert_eq!(items[0]["reason"], "the courier phoned");
    t.run().await;
    assert_eq!(t.status(saga).await, "completed");
    // Another service may not signal the saga at all: it does not exist for it.
    let other = bearer(OTHER_SERVICE_TOKEN);
    let (s, _) = t
        .call(
            "POST",
            &path,
            Some(json!({})),
            &[("idempotency-key", "k4"), ("authorization", &other)],
        )
        .await;
    assert_eq!(s, axum::http::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn internal_workflows_cannot_be_started_through_the_api() {
    let t = app().await;
    for workflow in [
        "data_bundle",
        "hardware_order",
        "partner_subscription",
        "partner_renewal",
        "licence_expiry_reminder",
        "licence_expiry",
        "ops_bulk",
    ] {
        let key = format!("start-{workflow}");
        let (s, b) = t
            .call(
                "POST",
                "/v1/sagas",
                Some(json!({ "workflow": workflow, "input": { "order_id": Uuid::now_v7() } })),
                &[("idempotency-key", &key)],
            )
            .await;
        assert_eq!(s, axum::http::StatusCode::FORBIDDEN, "{workflow}: {b}");
        assert_eq!(b["error"]["code"], "start_policy", "{workflow}");
    }
    let sagas: i64 = sqlx::query_scalar("SELECT count(*) FROM sagas")
        .fetch_one(t.app.store().pool())
        .await
        .unwrap();
    assert_eq!(sagas, 0);
    // The API's own workflows still start.
    t.start("sample_six", json!({})).await;
}

#[tokio::test]
async fn an_api_workflows_input_is_checked_at_the_door() {
    let t = app().await;
    for (n, input) in [
        json!({ "steps": { "charge": { "fail_times": "twice" } } }),
        json!({ "steps": { "charge": { "fial_times": 2 } } }),
        json!({ "steps": { "charge": { "fail": "sometimes" } } }),
        json!({ "polls": { "deliver": "maybe" } }),
    ]
    .into_iter()
    .enumerate()
    {
        let key = format!("bad-{n}");
        let (s, b) = t
            .call(
                "POST",
                "/v1/sagas",
                Some(json!({ "workflow": "sample", "input": input })),
                &[("idempotency-key", &key)],
            )
            .await;
        assert_eq!(
            s,
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "{input}: {b}"
        );
        assert_eq!(b["error"]["code"], "invalid_input");
    }
    let sagas: i64 = sqlx::query_scalar("SELECT count(*) FROM sagas")
        .fetch_one(t.app.store().pool())
        .await
        .unwrap();
    assert_eq!(sagas, 0);
    // The caller's own fields ride along.
    t.start(
        "sample",
        json!({ "steps": { "charge": { "fail_times": 1 } }, "order_code": "X-1" }),
    )
    .await;
}

#[tokio::test]
async fn a_hardware_saga_will_not_touch_another_sagas_order() {
    let h = hardware().await;
    let (order, saga) = paid_order(&h, LINES).await;
    // Started as the server could (the API refuses it): the input names a paid order of
    // another saga. Its steps refuse the row, and nothing is refunded.
    let rogue =
        h.t.app
            .rt
            .start(
                sagaflow::engine::StartSaga {
                    workflow: "hardware_order".into(),
                    input: json!({ "order_id": order }),
                    business_key: None,
                    idempotency_key: None,
                    request_hash: None,
                    actor: "service:shop".into(),
                },
                None,
            )
            .await
            .unwrap()
            .id();
    h.t.run().await;
    let body = h.t.saga(rogue).await;
    assert_ne!(body["status"], "completed", "{body}");
    assert!(
        body["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["detail"]["error"]["code"] == "not_this_sagas"
                || e["detail"]["code"] == "not_this_sagas"),
        "{body}"
    );
    assert_eq!(payment_status(&h, order).await, "paid");
    let refunds = h
        .count(&format!(
            "SELECT count(*) FROM payment_records WHERE order_id = '{order}' AND kind = 'refund'"
        ))
        .await;
    assert_eq!(refunds, 0);
    assert_ne!(h.t.status(saga).await, "compensated");
}

#[tokio::test]
async fn cross_carrier_courier_webhook_moves_nothing() {
    let h = hardware().await;
    let (order, saga) = paid_order(&h, LINES).await;
    let shipment = shipments(&h, order).await.remove(0);
    let tracking = tracking(&shipment);
    assert_eq!(shipment["courier_code"], "dhl", "{shipment}");
    // Signed with another carrier's own secret, naming the DHL shipment's tracking number.
    let usps = &h.t.app.settings.providers.courier.carriers["usps"];
    let body = serde_json::to_vec(&json!({
        "event_id": "evt_cross_1", "tracking_number": tracking, "status": "delivered",
        "occurred_at": "2026-03-01T10:00:00Z"
    }))
    .unwrap();
    assert!(matches!(
        usps.webhook_adapter,
        sagaflow::providers::config::WebhookAdapter::Flat
    ));
    let sig = sign_timestamped(
        usps.webhook_secret.expose().as_bytes(),
        h.t.clock.now().timestamp(),
        &body,
    );
    let (s, _, b) = h
        .request(
            reqwest::Method::POST,
            "/v1/webhooks/courier-usps",
            &[(COURIER_SIGNATURE_HEADER, &sig)],
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b["result"], "uncorrelated");
    assert_eq!(b["reference"], format!("courier:usps:{tracking}"));
    h.t.run().await;
    let after = shipments(&h, order).await.remove(0);
    assert_eq!(after["status"], shipment["status"], "{after}");
    // The same event id from the real carrier is not taken for a duplicate, and moves it.
    courier(&h, saga, &tracking, "in_transit").await;
    assert_eq!(shipments(&h, order).await[0]["status"], "in_transit");
}
