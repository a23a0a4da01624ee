//! AT-iShare, payments, CRM, courier, SMS and partner-webhook clients against the simulator on
//! a real port, including idempotency (no double delivery) and the signed webhooks it posts.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use sagaflow::domain::phone::PhoneNumber;
use sagaflow::providers::Error;
use sagaflow::providers::Providers;
use sagaflow::providers::courier::{Address, NewShipment, Parcel};
use sagaflow::providers::crm::{Customer, NewSalesOrder};
use sagaflow::providers::partner_webhooks::{
    DeliveryOutcome, DeliveryResult, OutboundWebhook, PartnerWebhookClient,
};
use sagaflow::providers::payments::{LineItem, NewCheckoutSession, NewRefund};
use sagaflow::providers::webhooks::verify_inbound;
use sagaflow::simulator::{ConfigPatch, Fault};

use crate::support::providers::{Sink, simulator};

#[tokio::test]
async fn ishare_is_idempotent_by_reference_and_signs_its_webhook() {
    let sink = Sink::start().await;
    let (sim, cfg) = simulator(Some(&sink)).await;
    let p = Providers::from_config(&cfg).unwrap();
    let phone = PhoneNumber::parse("0271234567").unwrap();

    let first = p.ishare.fulfill_order(&phone, 2, "saga-7:fulfill").await;
    let first = first.result.unwrap();
    assert!(first.success);
    assert_eq!(first.status.as_deref(), Some("pending"));
    let again = p.ishare.fulfill_order(&phone, 2, "saga-7:fulfill").await;
    assert_eq!(again.result.unwrap().reference, "saga-7:fulfill");
    assert_eq!(
        again.exchange.idempotency_key.as_deref(),
        Some("saga-7:fulfill")
    );
    assert_eq!(
        sim.stats().deliveries("ishare.fulfill", "saga-7:fulfill"),
        1
    );

    let found = p
        .ishare
        .verify_fulfillment("saga-7:fulfill")
        .await
        .result
        .unwrap();
    assert_eq!(found.unwrap().reference, "saga-7:fulfill");
    let missing = p.ishare.verify_fulfillment("never-sent").await;
    assert_eq!(missing.result.unwrap(), None);
    assert_eq!(missing.exchange.status, Some(404));

    // An MTN number is refused locally.
    let mtn = PhoneNumber::parse("0241234567").unwrap();
    let err = p
        .ishare
        .fulfill_order(&mtn, 2, "x")
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");

    // Wrong secret: the request signature fails.
    let mut wrong = cfg.ishare.clone();
    wrong.api_secret = "nope".into();
    let client = sagaflow::providers::ishare::IshareClient::new(&wrong).unwrap();
    let err = client
        .verify_fulfillment("saga-7:fulfill")
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "unauthorized");

    let hooks = sink.wait_for("ishare", 1).await;
    let event = verify_inbound(
        "ishare",
        &hooks[0].headers,
        &hooks[0].body,
        &cfg,
        Utc::now(),
    )
    .expect("simulator webhook verifies");
    assert_eq!(event.reference, "ishare:saga-7:fulfill");
    assert_eq!(event.signal, "ishare.order_status");
    assert_eq!(event.payload["status"], "completed");
}

#[tokio::test]
async fn reseller_webhook_verifies_and_correlates() {
    let sink = Sink::start().await;
    let (_sim, cfg) = simulator(Some(&sink)).await;
    let p = Providers::from_config(&cfg).unwrap();
    let order = sagaflow::providers::reseller::NewOrder {
        phone: PhoneNumber::parse("233541234567").unwrap(),
        network: sagaflow::domain::phone::Network::Mtn,
        size_gb: 1,
        reference: None,
    };
    let created = p.reseller.create_order(&order).await.result.unwrap();
    let hooks = sink.wait_for("reseller", 1).await;
    let event = verify_inbound(
        "reseller",
        &hooks[0].headers,
        &hooks[0].body,
        &cfg,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(event.reference, format!("reseller:{}", created.order_id));
    assert_eq!(event.signal, "reseller.order_status");
    assert_eq!(event.payload["event"], "order.status_changed");
    assert_eq!(event.payload["order"]["status"], "completed");
    // The same body again is the same event (deduplicates).
    let again = verify_inbound(
        "reseller",
        &hooks[0].headers,
        &hooks[0].body,
        &cfg,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(again.event_id, event.event_id);
}

fn session() -> NewCheckoutSession {
    NewCheckoutSession {
        success_url: "http://127.0.0.1/ok".into(),
        cancel_url: "http://127.0.0.1/cancel".into(),
        line_items: vec![
            LineItem::Inline {
                name: "Sensor".into(),
                currency: "usd".into(),
                unit_amount: 2500,
                quantity: 2,
            },
            LineItem::Price {
                price_id: "price_gateway".into(),
                quantity: 1,
            },
        ],
        client_reference_id: Some("order-9".into()),
        customer_email: None,
        expires_at: None,
        metadata: BTreeMap::from([("saga".to_string(), "s-9".to_string())]),
    }
}

#[tokio::test]
async fn payments_checkout_refund_and_idempotency() {
    let sink = Sink::start().await;
    let (sim, cfg) = simulator(Some(&sink)).await;
    let p = Providers::from_config(&cfg).unwrap();

    let a = p
        .payments
        .create_checkout_session(&session(), "s-9:checkout")
        .await;
    let created = a.result.unwrap();
    assert_eq!(created.amount_total, Some(6000));
    assert_eq!(created.status.as_deref(), Some("open"));
    assert_eq!(
        created.metadata.get("saga").map(String::as_str),
        Some("s-9")
    );
    let body = a.exchange.request_body.unwrap();
    assert!(
        body.contains("line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=2500"),
        "{body}"
    );

    let replay = p
        .payments
        .create_checkout_session(&session(), "s-9:checkout")
        .await;
    assert_eq!(replay.result.unwrap().id, created.id);
    assert_eq!(
        sim.stats()
            .deliveries("payments.create_session", "s-9:checkout"),
        1
    );

    // The same key with other parameters is refused, like Stripe does.
    let mut other = session();
    other.client_reference_id = Some("order-10".into());
    let err = p
        .payments
        .create_checkout_session(&other, "s-9:checkout")
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "invalid_request");

    let hooks = sink.wait_for("payments", 1).await;
    let event = verify_inbound(
        "payments",
        &hooks[0].headers,
        &hooks[0].body,
        &cfg,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(event.reference, format!("payments:{}", created.id));
    assert_eq!(event.signal, "payments.checkout");
    assert_eq!(event.payload["type"], "checkout.session.completed");

    let paid = p
        .payments
        .get_checkout_session(&created.id)
        .await
        .result
        .unwrap();
    assert_eq!(paid.payment_status.as_deref(), Some("paid"));
    let intent = paid.payment_intent.unwrap();

    let refund = NewRefund {
        payment_intent: intent.clone(),
        amount: Some(1000),
        ..NewRefund::default()
    };
    let r1 = p
        .payments
        .create_refund(&refund, "s-9:refund")
        .await
        .result
        .unwrap();
    let r2 = p
        .payments
        .create_refund(&refund, "s-9:refund")
        .await
        .result
        .unwrap();
    assert_eq!(r1, r2);
    assert_eq!(r1.status.as_deref(), Some("succeeded"));
    assert_eq!(
        sim.stats()
            .deliveries("payments.create_refund", "s-9:refund"),
        1
    );

    let too_much = NewRefund {
        payment_intent: intent,
        amount: Some(999_999),
        ..NewRefund::default()
    };
    let err = p
        .payments
        .create_refund(&too_much, "s-9:refund-2")
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "invalid_request");

    let err = p
        .payments
        .get_checkout_session("cs_missing")
        .await
        .result
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));

    let mut wrong = cfg.payments.clone();
    wrong.secret_key = "sk_test_wrong".into();
    let err = sagaflow::providers::payments::PaymentsClient::new(&wrong)
        .unwrap()
        .get_checkout_session(&created.id)
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "unauthorized");
}

#[tokio::test]
async fn payments_idempotency_survives_a_dropped_response() {
    let (sim, cfg) = simulator(None).await;
    let p = Providers::from_config(&cfg).unwrap();
    let drop_once = Fault {
        drop_response: true,
        times: Some(1),
        ..Fault::default()
    };
    sim.set_fault("payments.create_session", Some(drop_once))
        .unwrap();
    let lost = p
        .payments
        .create_checkout_session(&session(), "s-11:checkout")
        .await;
    assert_eq!(lost.result.unwrap_err().code(), "unknown_outcome");
    // Retrying with the same key returns the session made by the lost attempt.
    let retried = p
        .payments
        .create_checkout_session(&session(), "s-11:checkout")
        .await;
    assert!(retried.result.is_ok());
    assert_eq!(
        sim.stats()
            .deliveries("payments.create_session", "s-11:checkout"),
        1
    );
}

#[tokio::test]
async fn crm_sales_order_licence_and_cancel() {
    let (sim, cfg) = simulator(None).await;
    let p = Providers::from_config(&cfg).unwrap();
    let order = NewSalesOrder {
        reference: "T2M-1".into(),
        customer: Customer {
            id: "C1".into(),
            name: "Ama".into(),
            email: "ama@example.com".into(),
        },
        product_id: "PROD-1".into(),
        tenure: "12_MONTHS".into(),
        quantity: 1,
    };
    let so = p
        .crm
        .create_sales_order(&order, "s-1:so")
        .await
        .result
        .unwrap();
    assert_eq!(so.status, "confirmed");
    let so2 = p
        .crm
        .create_sales_order(&order, "s-1:so")
        .await
        .result
        .unwrap();
    assert_eq!(so, so2);

    let licence = p
        .crm
        .provision_licence(&so.id, "PROD-1", "12_MONTHS", "s-1:licence")
        .await
        .result
        .unwrap();
    let today = Utc::now().date_naive();
    assert!(licence.expires_on > today + chrono::Days::new(360));
    assert!(licence.activation_reference.starts_with("ACT-"));
    // A second provision under another key still yields the one licence.
    let again = p
        .crm
        .provision_licence(&so.id, "PROD-1", "12_MONTHS", "s-1:licence-b")
        .await
        .result
        .unwrap();
    assert_eq!(again, licence);
    assert_eq!(sim.stats().deliveries("crm.provision_licence", &so.id), 1);

    let cancelled = p
        .crm
        .cancel_sales_order(&so.id, "s-1:cancel")
        .await
        .result
        .unwrap();
    assert_eq!(cancelled.status, "cancelled");
    let err = p
        .crm
        .cancel_sales_order("SO-missing", "k")
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let other = p
        .crm
        .create_sales_order(&order, "s-2:so")
        .await
        .result
        .unwrap();
    p.crm
        .cancel_sales_order(&other.id, "s-2:cancel")
        .await
        .result
        .unwrap();
    let err = p
        .crm
        .provision_licence(&other.id, "PROD-1", "1_MONTH", "s-2:licence")
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "unprocessable");
}

fn shipment(reference: &str) -> NewShipment {
    NewShipment {
        reference: reference.into(),
        service: None,
        to: Address {
            name: "Kofi".into(),
            line1: "1 Main St".into(),
            city: "Accra".into(),
            postal_code: "GA-100".into(),
            country: "GH".into(),
            ..Address::default()
        },
        parcels: vec![Parcel { weight_grams: 800 }],
    }
}

#[tokio::test]
async fn couriers_create_track_and_progress_with_signed_events() {
    let sink = Sink::start().await;
    let (sim, cfg) = simulator(Some(&sink)).await;
    let p = Providers::from_config(&cfg).unwrap();
    let codes: Vec<&str> = p.courier.carriers().map(|(code, _)| code).collect();
    assert_eq!(codes, ["canadapost", "chitchat", "dhl", "usps"]);

    let usps = p
        .courier
        .create_shipment("usps", &shipment("shp-1"), "s-1:ship")
        .await;
    let usps = usps.result.unwrap();
    let dhl = p
        .courier
        .create_shipment("DHL", &shipment("shp-2"), "s-2:ship")
        .await
        .result
        .unwrap();
    assert_ne!(usps.tracking_number, dhl.tracking_number);
    let again = p
        .courier
        .create_shipment("usps", &shipment("shp-1"), "s-1:ship")
        .await;
    assert_eq!(again.result.unwrap().tracking_number, usps.tracking_number);
    assert_eq!(
        sim.stats()
            .deliveries("courier.create_shipment", "s-1:ship"),
        1
    );

    let url = p
        .courier
        .tracking_url("usps", &usps.tracking_number)
        .unwrap();
    assert!(url.ends_with(&format!("/courier/usps/track/{}", usps.tracking_number)));
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200);

    // Four events: in_transit and delivered for each shipment, each adapter's shape.
    let hooks = sink.wait_for("courier", 4).await;
    let mut seen = Vec::new();
    for hook in &hooks {
        let event = verify_inbound("courier", &hook.headers, &hook.body, &cfg, Utc::now()).unwrap();
        assert_eq!(event.signal, "courier.tracking");
        seen.push((
            event.reference.clone(),
            event.payload["status"].as_str().unwrap().to_string(),
        ));
    }
    for (code, tracking) in [
        ("usps", &usps.tracking_number),
        ("dhl", &dhl.tracking_number),
    ] {
        for status in ["in_transit", "delivered"] {
            assert!(
                seen.contains(&(format!("courier:{code}:{tracking}"), status.to_string())),
                "{tracking} {status} in {seen:?}"
            );
        }
    }

    let tracking = p
        .courier
        .get_tracking("usps", &usps.tracking_number)
        .await
        .result
        .unwrap();
    assert_eq!(tracking.status, "delivered");
    let statuses: Vec<&str> = tracking.events.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(statuses, ["label_created", "in_transit", "delivered"]);

    let err = p
        .courier
        .get_tracking("usps", "NOPE")
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let mut incomplete = shipment("shp-3");
    incomplete.parcels.clear();
    let err = p
        .courier
        .create_shipment("usps", &incomplete, "s-3:ship")
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "unprocessable");
    let err = p
        .courier
        .create_shipment("fedex", &shipment("x"), "k")
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "config");
}

#[tokio::test]
async fn sms_is_sent_once_per_key() {
    let (sim, cfg) = simulator(None).await;
    let p = Providers::from_config(&cfg).unwrap();
    let phone = PhoneNumber::parse("0201234567").unwrap();
    let a = p
        .sms
        .send(&phone, "Your 5GB bundle is on its way", "s-5:notify")
        .await;
    let b = p
        .sms
        .send(&phone, "Your 5GB bundle is on its way", "s-5:notify")
        .await;
    assert_eq!(a.result.unwrap(), b.result.unwrap());
    assert_eq!(sim.stats().deliveries("sms.send", "s-5:notify"), 1);
    let body = a.exchange.request_body.unwrap();
    assert!(!body.contains("201234567"), "{body}");
    assert!(body.contains("020****567"), "{body}");
}

async fn deliver(
    client: &PartnerWebhookClient,
    url: &str,
    secret: &str,
    event_id: &str,
    now: chrono::DateTime<Utc>,
) -> DeliveryResult {
    let webhook = OutboundWebhook {
        url,
        secret,
        event_id,
        event_type: "ORDER_FULFILLED",
        body: br#"{"event":"ORDER_FULFILLED","orderId":"T2M1"}"#,
    };
    client.deliver(&webhook, now).await
}

#[tokio::test]
async fn partner_webhooks_are_signed_and_classified() {
    let (sim, cfg) = simulator(None).await;
    let mut pw = cfg.partner_webhooks.clone();
    pw.timeout = Duration::from_millis(300);
    let client = PartnerWebhookClient::new(&pw).unwrap();
    let partner = client.partner("t2mobile").unwrap().clone();
    let (url, secret) = (partner.url.as_str(), partner.secret.expose());

    let ok = deliver(&client, url, secret, "evt-1", Utc::now()).await;
    assert_eq!(ok.outcome, DeliveryOutcome::Delivered, "{:?}", ok.error);
    assert_eq!(ok.status, Some(200));
    assert_eq!(ok.exchange.idempotency_key.as_deref(), Some("evt-1"));
    assert_eq!(sim.stats().deliveries("partner.receive", "evt-1"), 1);

    let bad = deliver(&client, url, "wrong-secret", "evt-2", Utc::now()).await;
    assert_eq!(bad.outcome, DeliveryOutcome::Failed);
    assert_eq!(bad.status, Some(401));
    assert_eq!(sim.stats().deliveries("partner.receive", "evt-2"), 0);

    let old = Utc::now() - chrono::Duration::minutes(10);
    let stale = deliver(&client, url, secret, "evt-3", old).await;
    assert_eq!(
        stale.outcome,
        DeliveryOutcome::Failed,
        "stale signature refused"
    );

    let busy = Fault {
        status: Some(503),
        retry_after_secs: Some(3),
        times: Some(1),
        ..Fault::default()
    };
    sim.set_fault("partner.receive", Some(busy)).unwrap();
    let retry = deliver(&client, url, secret, "evt-4", Utc::now()).await;
    assert_eq!(retry.outcome, DeliveryOutcome::Retry);
    assert_eq!(retry.status, Some(503));
    assert!(retry.error.is_some());

    let hang = Fault {
        hang: true,
        ..Fault::default()
    };
    sim.set_fault("partner.receive", Some(hang)).unwrap();
    let timeout = deliver(&client, url, secret, "evt-5", Utc::now()).await;
    assert_eq!(timeout.outcome, DeliveryOutcome::Retry);
    assert_eq!(timeout.status, None);

    sim.configure(ConfigPatch {
        clear_faults: true,
        ..ConfigPatch::default()
    })
    .unwrap();
    let delivered = deliver(&client, url, secret, "evt-4", Utc::now()).await;
    assert_eq!(delivered.outcome, DeliveryOutcome::Delivered);
    assert_eq!(sim.stats().deliveries("partner.receive", "evt-4"), 1);
}
