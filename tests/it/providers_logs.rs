//! Captures every log line (all targets, TRACE) of a full flow through every client and the
//! simulator, and asserts that no API key, secret or full phone number appears in them or in
//! the exchange records. It runs alone in a process of its own (`support::alone`): the
//! subscriber it installs is process-wide, and sees only this flow's lines there.

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use sagaflow::domain::phone::{Network, PhoneNumber};
use sagaflow::providers::Providers;
use sagaflow::providers::courier::{Address, NewShipment, Parcel};
use sagaflow::providers::partner_webhooks::OutboundWebhook;
use sagaflow::providers::payments::{LineItem, NewCheckoutSession};
use sagaflow::providers::reseller::NewOrder;
use sagaflow::providers::webhooks::verify_inbound;
use sagaflow::simulator::{Fault, SimulatorConfig, start};

use crate::support::{self, providers::Sink};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_or_full_phone_number_reaches_the_logs() {
    if !support::alone::in_own_process() {
        return;
    }
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    // Distinctive credentials, so any leak is unmistakable.
    let mut sim_cfg = SimulatorConfig {
        completion_delay_ms: 20,
        courier_step_delay_ms: 20,
        ..SimulatorConfig::default()
    };
    let p = &mut sim_cfg.providers;
    p.reseller.api_key = "LEAKCHECK-reseller-key-71".into();
    p.reseller.webhook_secret = "LEAKCHECK-reseller-hook-72".into();
    p.ishare.api_key = "LEAKCHECK-ishare-key-73".into();
    p.ishare.api_secret = "LEAKCHECK-ishare-secret-74".into();
    p.ishare.webhook_secret = "LEAKCHECK-ishare-hook-75".into();
    p.payments.secret_key = "sk_test_LEAKCHECK76".into();
    p.payments.webhook_secret = "whsec_LEAKCHECK77".into();
    p.crm.access_token = "LEAKCHECK-crm-token-78".into();
    p.sms.api_key = "LEAKCHECK-sms-key-79".into();
    for (code, carrier) in p.courier.carriers.iter_mut() {
        carrier.api_key = format!("LEAKCHECK-{code}-key").as_str().into();
        carrier.webhook_secret = format!("LEAKCHECK-{code}-hook").as_str().into();
    }
    for partner in p.partner_webhooks.partners.values_mut() {
        partner.secret = "LEAKCHECK-partner-80".into();
    }
    let secrets: Vec<String> = {
        let p = &sim_cfg.providers;
        let mut s = vec![
            p.reseller.api_key.expose().to_string(),
            p.reseller.webhook_secret.expose().to_string(),
            p.ishare.api_key.expose().to_string(),
            p.ishare.api_secret.expose().to_string(),
            p.ishare.webhook_secret.expose().to_string(),
            p.payments.secret_key.expose().to_string(),
            p.payments.webhook_secret.expose().to_string(),
            p.crm.access_token.expose().to_string(),
            p.sms.api_key.expose().to_string(),
            "LEAKCHECK-partner-80".to_string(),
        ];
        for c in p.courier.carriers.values() {
            s.push(c.api_key.expose().to_string());
            s.push(c.webhook_secret.expose().to_string());
        }
        s
    };

    let sink = Sink::start().await;
    let sim = start(sim_cfg).await.unwrap();
    sim.set_webhook_base(&sink.base);
    let cfg = sim.providers_config();
    let providers = Providers::from_config(&cfg).unwrap();
    tracing::info!(config = ?cfg, "providers configured");

    let mtn = PhoneNumber::parse("+233 24 765 4321").unwrap();
    let at = PhoneNumber::parse("0277654321").unwrap();
    let mut exchanges = Vec::new();

    let order = NewOrder {
        phone: mtn.clone(),
        network: Network::Mtn,
        size_gb: 5,
        reference: Some("saga-log:fulfill".into()),
    };
    let a = providers.reseller.create_order(&order).await;
    assert!(a.result.is_ok());
    exchanges.push(a.exchange);
    // A failing call logs too.
    sim.set_fault(
        "reseller.list_orders",
        Some(Fault {
            status: Some(500),
            times: Some(1),
            ..Fault::default()
        }),
    )
    .unwrap();
    let since = Utc::now() - chrono::Duration::minutes(5);
    let failed = providers.reseller.history_since(&order.phone, since).await;
    assert!(failed.result.is_err());
    exchanges.push(failed.exchange);
    let found = providers.reseller.history_since(&order.phone, since).await;
    let history = found.result.unwrap();
    assert!(history.complete);
    assert!(
        history
            .orders
            .iter()
            .any(|o| o.reference.as_deref() == Some("saga-log:fulfill"))
    );
    exchanges.push(found.exchange);

    let f = providers
        .ishare
        .fulfill_order(&at, 1, "saga-log:ishare")
        .await;
    assert!(f.result.is_ok());
    exchanges.push(f.exchange);

    let session = NewCheckoutSession {
        success_url: "http://127.0.0.1/ok".into(),
        cancel_url: "http://127.0.0.1/no".into(),
        line_items: vec![LineItem::Inline {
            name: "Sensor".into(),
            currency: "usd".into(),
            unit_amount: 100,
            quantity: 1,
        }],
        client_reference_id: Some("order-log".into()),
        ..NewCheckoutSession::default()
    };
    let s = providers
        .payments
        .create_checkout_session(&session, "saga-log:checkout")
        .await;
    assert!(s.result.is_ok());
    exchanges.push(s.exchange);

    let shipment = NewShipment {
        reference: "shp-log".into(),
        service: None,
        to: Address {
            name: "Ama".into(),
            line1: "2 Ring Rd".into(),
            city: "Accra".into(),
            postal_code: "GA-1".into(),
            country: "GH".into(),
            ..Address::default()
        },
        parcels: vec![Parcel { weight_grams: 100 }],
    };
    let c = providers
        .courier
        .create_shipment("dhl", &shipment, "saga-log:ship")
        .await;
    assert!(c.result.is_ok());
    exchanges.push(c.exchange);

    let text = format!("Your bundle for {} is ready", mtn.as_national());
    let m = providers.sms.send(&mtn, &text, "saga-log:sms").await;
    assert!(m.result.is_ok());
    exchanges.push(m.exchange);

    let partner = providers
        .partner_webhooks
        .partner("t2mobile")
        .unwrap()
        .clone();
    let body = format!(
        r#"{{"event":"ORDER_FULFILLED","msisdn":"{}"}}"#,
        at.as_national()
    );
    let d = providers
        .partner_webhooks
        .deliver(
            &OutboundWebhook {
                url: &partner.url,
                secret: partner.secret.expose(),
                event_id: "evt-log",
                event_type: "ORDER_FULFILLED",
                body: body.as_bytes(),
            },
            Utc::now(),
        )
        .await;
    assert_eq!(d.status, Some(200));
    exchanges.push(d.exchange);

    // Webhooks flowed back and verify; log the verified events the way a handler might.
    for provider in ["reseller", "ishare", "payments", "courier"] {
        for hook in sink.wait_for(provider, 1).await {
            let event =
                verify_inbound(provider, &hook.headers, &hook.body, &cfg, Utc::now()).unwrap();
            tracing::info!(event_id = %event.event_id, reference = %event.reference, "webhook");
        }
    }
    sim.shutdown().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let records = serde_json::to_string(&exchanges).unwrap();
    assert!(
        logs.contains("provider call succeeded"),
        "logs were captured"
    );
    assert!(logs.contains("provider call failed"));
    assert!(logs.contains("024****321"), "masked phone is logged");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "secret {secret} in logs");
        assert!(
            !records.contains(secret.as_str()),
            "secret {secret} in exchanges"
        );
    }
    for phone in ["0247654321", "247654321", "0277654321", "277654321"] {
        assert!(!logs.contains(phone), "phone {phone} in logs");
        assert!(!records.contains(phone), "phone {phone} in exchanges");
    }
    assert!(
        !logs.contains("LEAKCHECK"),
        "no credential fragment in logs"
    );
}
