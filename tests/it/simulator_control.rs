//! The simulator's control plane over real HTTP: `/_sim/config`, `/_sim/stats`, `/_sim/reset`,
//! and shutdown.

use serde_json::{Value, json};

use crate::support::providers::simulator;

use crate::support;

#[tokio::test]
async fn config_and_stats_over_http() {
    let (sim, providers) = simulator(None).await;
    let http = reqwest::Client::new();
    let base = sim.base_url();

    let set = http
        .post(format!("{base}/_sim/config"))
        .json(&json!({
            "faults": {"reseller.balance": {"status": 503, "times": 1}},
            "callbacks": {"reseller": "http://127.0.0.1:9/hook"},
            "completion_delay_ms": 10,
            "outcomes": {"0241234567": "failed"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let config: Value = http
        .get(format!("{base}/_sim/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["faults"]["reseller.balance"]["status"], 503);
    assert_eq!(config["callbacks"]["reseller"], "http://127.0.0.1:9/hook");
    assert_eq!(config["outcomes"]["0241234567"], "failed");
    assert_eq!(config["completion_delay_ms"], 10);
    // Secrets are not part of the config view.
    assert!(!config.to_string().contains("sim_reseller_key"));

    let bad = http
        .post(format!("{base}/_sim/config"))
        .json(&json!({"faults": {"no.such.endpoint": {"status": 500}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let key = providers.reseller.api_key.expose().to_string();
    let first = http
        .get(format!("{base}/api/balance"))
        .header("X-API-KEY", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 503, "fault applies once");
    let second = http
        .get(format!("{base}/api/balance"))
        .header("X-API-KEY", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200, "then the endpoint recovers");

    let stats: Value = http
        .get(format!("{base}/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["endpoints"]["reseller.balance"]["requests"], 2);
    assert_eq!(stats["endpoints"]["reseller.balance"]["faults"], 1);

    let reset = http
        .post(format!("{base}/_sim/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    assert_eq!(sim.stats().requests("reseller.balance"), 0);

    let addr = sim.addr();
    sim.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "port closed after shutdown"
    );
}

#[tokio::test]
async fn manual_settlement_and_courier_advance_post_signed_events() {
    use chrono::Utc;
    use sagaflow::providers::Providers;
    use sagaflow::providers::payments::{LineItem, NewCheckoutSession};
    use sagaflow::providers::webhooks::verify_inbound;
    use sagaflow::simulator::ConfigPatch;

    let sink = support::providers::Sink::start().await;
    let (sim, cfg) = simulator(Some(&sink)).await;
    sim.configure(ConfigPatch {
        checkout_auto_complete: Some(false),
        courier_auto_progress: Some(false),
        ..ConfigPatch::default()
    })
    .unwrap();
    let p = Providers::from_config(&cfg).unwrap();
    let http = reqwest::Client::new();
    let base = sim.base_url();

    let new = |reference: &str| NewCheckoutSession {
        success_url: "http://127.0.0.1/ok".into(),
        cancel_url: "http://127.0.0.1/no".into(),
        line_items: vec![LineItem::Price {
            price_id: "price_1".into(),
            quantity: 3,
        }],
        client_reference_id: Some(reference.into()),
        ..NewCheckoutSession::default()
    };
    let expired = p
        .payments
        .create_checkout_session(&new("a"), "k-a")
        .await
        .result
        .unwrap();
    let paid = p
        .payments
        .create_checkout_session(&new("b"), "k-b")
        .await
        .result
        .unwrap();
    assert_eq!(expired.amount_total, Some(3000));

    let r = http
        .post(format!(
            "{base}/_sim/payments/{}/complete?outcome=expired",
            expired.id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The hosted page pays, then sends the customer on to the session's success_url.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(paid.url.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "http://127.0.0.1/ok");
    let hooks = sink.wait_for("payments", 2).await;
    let kinds: Vec<(String, String)> = hooks
        .iter()
        .map(|h| {
            let e = verify_inbound("payments", &h.headers, &h.body, &cfg, Utc::now()).unwrap();
            (e.reference, e.payload["type"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(kinds.contains(&(
        format!("payments:{}", expired.id),
        "checkout.session.expired".into()
    )));
    assert!(kinds.contains(&(
        format!("payments:{}", paid.id),
        "checkout.session.completed".into()
    )));
    let session = p
        .payments
        .get_checkout_session(&paid.id)
        .await
        .result
        .unwrap();
    assert_eq!(session.payment_status.as_deref(), Some("paid"));

    let shipment = sagaflow::providers::courier::NewShipment {
        reference: "s".into(),
        service: None,
        to: sagaflow::providers::courier::Address {
            name: "A".into(),
            line1: "1".into(),
            city: "Accra".into(),
            postal_code: "GA".into(),
            country: "GH".into(),
            ..Default::default()
        },
        parcels: vec![sagaflow::providers::courier::Parcel { weight_grams: 1 }],
    };
    let created = p
        .courier
        .create_shipment("chitchat", &shipment, "k-s")
        .await
        .result
        .unwrap();
    let r = http
        .post(format!(
            "{base}/_sim/courier/{}/advance",
            created.tracking_number
        ))
        .json(&json!({"status": "out_for_delivery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let hooks = sink.wait_for("courier", 1).await;
    let event = verify_inbound(
        "courier",
        &hooks[0].headers,
        &hooks[0].body,
        &cfg,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(event.payload["status"], "out_for_delivery");
    assert_eq!(event.payload["courier"], "chitchat");
    assert_eq!(sim.stats().callbacks.len(), 3);
}
