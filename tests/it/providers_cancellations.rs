//! Ending a checkout or a shipment early, against the simulator on a real port: expiring a
//! checkout session, a failed delayed payment, the simulator's price list, and cancelling a
//! shipment before (and after) the courier picks it up, with the signed events each posts.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use sagaflow::providers::courier::{Address, NewShipment, Parcel};
use sagaflow::providers::payments::{LineItem, NewCheckoutSession};
use sagaflow::providers::webhooks::{normalise_courier_status, verify_inbound};
use sagaflow::providers::{Error, Providers, ProvidersConfig};
use sagaflow::simulator::ConfigPatch;
use serde_json::json;

use crate::support::providers::{Received, Sink, simulator};

fn checkout(reference: &str, line_items: Vec<LineItem>) -> NewCheckoutSession {
    NewCheckoutSession {
        success_url: "http://127.0.0.1/ok".into(),
        cancel_url: "http://127.0.0.1/no".into(),
        line_items,
        client_reference_id: Some(reference.into()),
        ..NewCheckoutSession::default()
    }
}

fn price(id: &str, quantity: u32) -> LineItem {
    LineItem::Price {
        price_id: id.into(),
        quantity,
    }
}

/// Verifies every received hook and returns (reference, event type or courier status).
fn verified(hooks: &[Received], provider: &str, cfg: &ProvidersConfig) -> Vec<(String, String)> {
    hooks
        .iter()
        .map(|h| {
            let e = verify_inbound(provider, &h.headers, &h.body, cfg, Utc::now()).unwrap();
            let what = if provider == "payments" {
                e.payload["type"].as_str().unwrap().to_string()
            } else {
                e.payload["status"].as_str().unwrap().to_string()
            };
            (e.reference, what)
        })
        .collect()
}

#[tokio::test]
async fn checkout_sessions_expire_fail_and_price_from_the_list() {
    let sink = Sink::start().await;
    let (sim, cfg) = simulator(Some(&sink)).await;
    sim.configure(ConfigPatch {
        checkout_auto_complete: Some(false),
        ..ConfigPatch::default()
    })
    .unwrap();
    let p = Providers::from_config(&cfg).unwrap();

    // Expire an open session: 200 expired, once per key, and a signed event.
    let open = p
        .payments
        .create_checkout_session(&checkout("hw-1", vec![price("price_any", 1)]), "hw-1:co")
        .await
        .result
        .unwrap();
    let expired = p
        .payments
        .expire_checkout_session(&open.id, "hw-1:expire")
        .await;
    assert_eq!(expired.exchange.endpoint, "expire_checkout_session");
    assert_eq!(
        expired.exchange.url,
        format!("{}/v1/checkout/sessions/{}/expire", sim.base_url(), open.id)
    );
    let expired = expired.result.unwrap();
    assert_eq!(expired.status.as_deref(), Some("expired"));
    assert_eq!(expired.payment_status.as_deref(), Some("unpaid"));
    let replay = p
        .payments
        .expire_checkout_session(&open.id, "hw-1:expire")
        .await
        .result
        .unwrap();
    assert_eq!(replay, expired);
    assert_eq!(
        sim.stats()
            .deliveries("payments.expire_session", "hw-1:expire"),
        1
    );
    let hooks = sink.wait_for("payments", 1).await;
    assert_eq!(
        verified(&hooks, "payments", &cfg),
        [(
            format!("payments:{}", open.id),
            "checkout.session.expired".to_string()
        )]
    );

    // A session that is not open: a permanent, recognisable refusal.
    let again = p
        .payments
        .expire_checkout_session(&open.id, "hw-1:expire-2")
        .await;
    assert_eq!(again.exchange.status, Some(400));
    assert_eq!(again.exchange.error_code.as_deref(), Some("invalid_state"));
    let err = again.result.unwrap_err();
    assert!(!err.retryable());
    assert_eq!(err.reason(), Some("checkout_session_not_open"));
    assert!(err.to_string().contains("status of `expired`"), "{err}");
    let err = p
        .payments
        .expire_checkout_session("cs_missing", "hw-x:expire")
        .await
        .result
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");

    // A delayed payment method fails: complete but unpaid, then async_payment_failed.
    let failing = p
        .payments
        .create_checkout_session(&checkout("hw-2", vec![price("price_any", 1)]), "hw-2:co")
        .await
        .result
        .unwrap();
    let r = reqwest::Client::new()
        .post(format!(
            "{}/_sim/payments/{}/complete?outcome=failed",
            sim.base_url(),
            failing.id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let session = p
        .payments
        .get_checkout_session(&failing.id)
        .await
        .result
        .unwrap();
    assert_eq!(session.status.as_deref(), Some("complete"));
    assert_eq!(session.payment_status.as_deref(), Some("unpaid"));
    assert_eq!(session.payment_intent, None);
    let hooks = sink.wait_for("payments", 2).await;
    let failed = verify_inbound(
        "payments",
        &hooks[1].headers,
        &hooks[1].body,
        &cfg,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(failed.reference, format!("payments:{}", failing.id));
    assert_eq!(failed.signal, "payments.checkout");
    assert_eq!(
        failed.payload["type"],
        "checkout.session.async_payment_failed"
    );
    assert_eq!(failed.payload["data"]["object"]["payment_status"], "unpaid");
    let err = p
        .payments
        .expire_checkout_session(&failing.id, "hw-2:expire")
        .await
        .result
        .unwrap_err();
    assert_eq!(err.reason(), Some("checkout_session_not_open"));

    // The price list: listed ids charge their amount, others are refused like Stripe does.
    sim.configure(ConfigPatch {
        prices: BTreeMap::from([
            ("price_sensor".to_string(), Some(4900)),
            ("price_gateway".to_string(), Some(12_500)),
        ]),
        ..ConfigPatch::default()
    })
    .unwrap();
    let priced = p
        .payments
        .create_checkout_session(
            &checkout(
                "hw-3",
                vec![price("price_sensor", 2), price("price_gateway", 1)],
            ),
            "hw-3:co",
        )
        .await
        .result
        .unwrap();
    assert_eq!(priced.amount_total, Some(2 * 4900 + 12_500));
    let unknown = p
        .payments
        .create_checkout_session(
            &checkout("hw-4", vec![price("price_sensor", 1), price("price_x", 1)]),
            "hw-4:co",
        )
        .await;
    let body = unknown.exchange.response_body.clone().unwrap();
    assert!(body.contains(r#""param":"line_items[1][price]""#), "{body}");
    let err = unknown.result.unwrap_err();
    assert_eq!(err.code(), "invalid_request");
    assert!(!err.retryable());
    assert!(
        err.to_string()
            .contains("resource_missing: No such price: 'price_x'"),
        "{err}"
    );
    let refused = sim.configure(ConfigPatch {
        prices: BTreeMap::from([("price_free".to_string(), Some(0))]),
        ..ConfigPatch::default()
    });
    assert!(refused.is_err());
    assert_eq!(sim.config().prices.len(), 2);
}

fn shipment(reference: &str) -> NewShipment {
    NewShipment {
        reference: reference.into(),
        service: None,
        to: Address {
            name: "Ama".into(),
            line1: "2 Ring Rd".into(),
            city: "Accra".into(),
            postal_code: "GA-200".into(),
            country: "GH".into(),
            ..Address::default()
        },
        parcels: vec![Parcel { weight_grams: 400 }],
    }
}

#[tokio::test]
async fn shipments_cancel_before_pickup_and_stay_cancelled() {
    let sink = Sink::start().await;
    let (sim, cfg) = simulator(Some(&sink)).await;
    // Slow steps: both cancellations land before auto-progress would move the shipments.
    sim.configure(ConfigPatch {
        courier_step_delay_ms: Some(800),
        ..ConfigPatch::default()
    })
    .unwrap();
    let p = Providers::from_config(&cfg).unwrap();
    let http = reqwest::Client::new();

    let usps = p
        .courier
        .create_shipment("usps", &shipment("hw-1"), "hw-1:ship")
        .await
        .result
        .unwrap();
    let dhl = p
        .courier
        .create_shipment("dhl", &shipment("hw-2"), "hw-2:ship")
        .await
        .result
        .unwrap();

    // Cancelled through the API, before pickup.
    let cancelled = p
        .courier
        .cancel_shipment("usps", &usps.tracking_number, "hw-1:cancel")
        .await;
    assert_eq!(cancelled.exchange.provider, "courier:usps");
    let cancelled = cancelled.result.unwrap();
    assert_eq!(cancelled.status, "cancelled");
    let statuses: Vec<&str> = cancelled.events.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(statuses, ["label_created", "cancelled"]);
    let replay = p
        .courier
        .cancel_shipment("usps", &usps.tracking_number, "hw-1:cancel")
        .await
        .result
        .unwrap();
    assert_eq!(replay, cancelled);
    // Cancelling twice (another key) is fine and changes nothing.
    let twice = p
        .courier
        .cancel_shipment("usps", &usps.tracking_number, "hw-1:cancel-2")
        .await
        .result
        .unwrap();
    assert_eq!(twice.status, "cancelled");
    assert_eq!(twice.events.len(), 2);

    // Cancelled by the courier (simulator control).
    let r = http
        .post(format!(
            "{}/_sim/courier/{}/advance",
            sim.base_url(),
            dhl.tracking_number
        ))
        .json(&json!({"status": "cancelled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Well past both auto-progress steps: neither shipment moved on.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    for (code, tracking) in [
        ("usps", &usps.tracking_number),
        ("dhl", &dhl.tracking_number),
    ] {
        let t = p.courier.get_tracking(code, tracking).await.result.unwrap();
        assert_eq!(t.status, "cancelled", "{code}");
        assert_eq!(t.events.len(), 2, "{code}: {:?}", t.events);
    }
    let hooks = sink.wait_for("courier", 2).await;
    let mut seen = verified(&hooks, "courier", &cfg);
    seen.sort();
    let mut expected = vec![
        (
            format!("courier:usps:{}", usps.tracking_number),
            "cancelled".to_string(),
        ),
        (
            format!("courier:dhl:{}", dhl.tracking_number),
            "cancelled".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    assert_eq!(
        sim.stats()
            .deliveries("courier.cancel_shipment", "hw-1:cancel"),
        1
    );
    assert_eq!(
        sim.stats()
            .deliveries("courier.cancel_shipment", "hw-1:cancel-2"),
        0
    );

    // Once picked up, cancelling is a permanent, recognisable refusal.
    sim.configure(ConfigPatch {
        courier_auto_progress: Some(false),
        ..ConfigPatch::default()
    })
    .unwrap();
    let moving = p
        .courier
        .create_shipment("chitchat", &shipment("hw-3"), "hw-3:ship")
        .await
        .result
        .unwrap();
    let r = http
        .post(format!(
            "{}/_sim/courier/{}/advance",
            sim.base_url(),
            moving.tracking_number
        ))
        .json(&json!({"status": "in_transit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let late = p
        .courier
        .cancel_shipment("chitchat", &moving.tracking_number, "hw-3:cancel")
        .await;
    assert_eq!(late.exchange.status, Some(409));
    let err = late.result.unwrap_err();
    assert_eq!(err.code(), "invalid_state");
    assert_eq!(err.reason(), Some("already_in_transit"));
    assert!(!err.retryable());
    assert!(err.to_string().contains("already in_transit"), "{err}");
    let err = p
        .courier
        .cancel_shipment("chitchat", "NOPE", "hw-4:cancel")
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let err = p
        .courier
        .cancel_shipment("fedex", "X", "k")
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "config");

    for word in ["cancelled", "canceled", "VOIDED", "Canceled"] {
        assert_eq!(normalise_courier_status(word), "cancelled", "{word}");
    }
}
