//! `webhooks::verify_inbound`: signature first, then parsing; every provider's correlation
//! key and signal; every rejection.

use axum::http::{HeaderMap, HeaderValue};
use chrono::{TimeZone, Utc};
use sagaflow::providers::ProvidersConfig;
use sagaflow::providers::signature::SignatureError;
use sagaflow::providers::signature::{sign_reseller, sign_timestamped};
use sagaflow::providers::webhooks::{WebhookError, verify_inbound};
use sagaflow::simulator::events::{courier_event, payment_event};
use serde_json::json;

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn cfg() -> ProvidersConfig {
    let mut cfg = ProvidersConfig::default();
    cfg.payments.webhook_secret = "whsec_test".into();
    cfg
}

#[test]
fn stripe_vector_verifies_then_the_body_is_parsed() {
    let body = br#"{"id":"evt_1","object":"event"}"#;
    let h = headers(&[(
        "stripe-signature",
        "t=1700000000,v1=4c15fb2a43f93ef61eaa3e0893866d57cad9cad4223242cfb96f362480cb4021".into(),
    )]);
    let now = Utc.timestamp_opt(1_700_000_100, 0).unwrap();
    // The signature is right; the body lacks `type`, so it is malformed rather than forged.
    let err = verify_inbound("payments", &h, body, &cfg(), now).unwrap_err();
    assert!(matches!(err, WebhookError::Malformed(_)), "{err:?}");
    let later = Utc.timestamp_opt(1_700_000_301, 0).unwrap();
    assert_eq!(
        verify_inbound("payments", &h, body, &cfg(), later).unwrap_err(),
        WebhookError::BadSignature(SignatureError::Stale)
    );
}

#[test]
fn payments_events_correlate_by_object() {
    let cfg = cfg();
    let now = Utc::now();
    let session = json!({"id": "cs_123", "object": "checkout.session", "payment_intent": "pi_9"});
    let e = payment_event(
        "whsec_test",
        "evt_a",
        "checkout.session.completed",
        &session,
        now,
    );
    let event = verify_inbound("payments", &headers(&e.headers), &e.body, &cfg, now).unwrap();
    assert_eq!(event.event_id, "evt_a");
    assert_eq!(event.reference, "payments:cs_123");
    assert_eq!(event.signal, "payments.checkout");

    let refund = json!({"id": "re_1", "object": "refund", "payment_intent": "pi_9"});
    let e = payment_event("whsec_test", "evt_b", "refund.updated", &refund, now);
    let event = verify_inbound("payments", &headers(&e.headers), &e.body, &cfg, now).unwrap();
    assert_eq!(event.reference, "payments:pi_9");
    assert_eq!(event.signal, "payments.refund");
}

#[test]
fn signature_is_checked_before_the_body() {
    let cfg = cfg();
    let now = Utc::now();
    let garbage = b"not json at all";
    // Unsigned garbage is a signature failure, never a parse error.
    let err = verify_inbound("reseller", &HeaderMap::new(), garbage, &cfg, now).unwrap_err();
    assert_eq!(err, WebhookError::BadSignature(SignatureError::Missing));
    // Signed garbage is malformed.
    let secret = cfg.reseller.webhook_secret.expose().as_bytes();
    let h = headers(&[("x-webhook-signature", sign_reseller(secret, garbage))]);
    let err = verify_inbound("reseller", &h, garbage, &cfg, now).unwrap_err();
    assert!(matches!(err, WebhookError::Malformed(_)));
    // Signed JSON without the order is malformed too.
    let body = br#"{"event":"order.status_changed"}"#;
    let h = headers(&[("x-webhook-signature", sign_reseller(secret, body))]);
    assert!(matches!(
        verify_inbound("reseller", &h, body, &cfg, now),
        Err(WebhookError::Malformed(_))
    ));
}

#[test]
fn reseller_rejections() {
    let cfg = cfg();
    let now = Utc::now();
    let body = br#"{"event":"order.status_changed","timestamp":"2024-01-15T10:30:00Z","order":{"id":123,"status":"completed","updated_at":"2024-01-15 10:30:00"}}"#;
    let secret = cfg.reseller.webhook_secret.expose().as_bytes();
    let good = headers(&[("x-webhook-signature", sign_reseller(secret, body))]);
    let event = verify_inbound("reseller", &good, body, &cfg, now).unwrap();
    assert_eq!(event.reference, "reseller:123");
    assert!(event.event_id.starts_with("order-123-completed-"));

    let tampered = br#"{"event":"order.status_changed","timestamp":"2024-01-15T10:30:00Z","order":{"id":124,"status":"completed","updated_at":"2024-01-15 10:30:00"}}"#;
    assert_eq!(
        verify_inbound("reseller", &good, tampered, &cfg, now).unwrap_err(),
        WebhookError::BadSignature(SignatureError::Mismatch)
    );
    let wrong = headers(&[("x-webhook-signature", sign_reseller(b"other", body))]);
    assert_eq!(
        verify_inbound("reseller", &wrong, body, &cfg, now).unwrap_err(),
        WebhookError::BadSignature(SignatureError::Mismatch)
    );
    let malformed = headers(&[("x-webhook-signature", "md5=abc".into())]);
    assert_eq!(
        verify_inbound("reseller", &malformed, body, &cfg, now).unwrap_err(),
        WebhookError::BadSignature(SignatureError::Malformed)
    );

    // An empty configured secret refuses everything, even a body "signed" with it.
    let mut empty = cfg.clone();
    empty.reseller.webhook_secret = "".into();
    let h = headers(&[("x-webhook-signature", sign_reseller(b"", body))]);
    assert!(matches!(
        verify_inbound("reseller", &h, body, &empty, now),
        Err(WebhookError::BadSignature(_))
    ));
}

#[test]
fn ishare_events_and_staleness() {
    let cfg = cfg();
    let now = Utc::now();
    let body = br#"{"id":"evt_9","reference":"saga-1:fulfill","status":"completed"}"#;
    let secret = cfg.ishare.webhook_secret.expose().as_bytes();
    let h = headers(&[(
        "x-ishare-signature",
        sign_timestamped(secret, now.timestamp(), body),
    )]);
    let event = verify_inbound("ishare", &h, body, &cfg, now).unwrap();
    assert_eq!(event.event_id, "evt_9");
    assert_eq!(event.reference, "ishare:saga-1:fulfill");
    let old = headers(&[(
        "x-ishare-signature",
        sign_timestamped(secret, now.timestamp() - 301, body),
    )]);
    assert_eq!(
        verify_inbound("ishare", &old, body, &cfg, now).unwrap_err(),
        WebhookError::BadSignature(SignatureError::Stale)
    );
}

#[test]
fn couriers_by_header_by_path_or_by_secret() {
    let cfg = cfg();
    let now = Utc::now();
    for code in ["usps", "dhl", "chitchat", "canadapost"] {
        let carrier = &cfg.courier.carriers[code];
        let e = courier_event(code, carrier, "evt_c1", "TRACK1", "in_transit", now);
        // With the X-Courier-Code header.
        let event = verify_inbound("courier", &headers(&e.headers), &e.body, &cfg, now).unwrap();
        assert_eq!(event.reference, format!("courier:{code}:TRACK1"));
        assert_eq!(event.signal, "courier.tracking");
        assert_eq!(event.event_id, format!("{code}:evt_c1"));
        assert_eq!(event.payload["courier"], code);
        assert_eq!(event.payload["status"], "in_transit");
        // Without it: the path names the courier, or the signing secret identifies it.
        let only_sig: Vec<_> = e
            .headers
            .iter()
            .filter(|(n, _)| *n != "x-courier-code")
            .cloned()
            .collect();
        let by_path = verify_inbound(
            &format!("courier-{code}"),
            &headers(&only_sig),
            &e.body,
            &cfg,
            now,
        )
        .unwrap();
        assert_eq!(by_path.payload["courier"], code);
        let by_secret = verify_inbound("courier", &headers(&only_sig), &e.body, &cfg, now).unwrap();
        assert_eq!(by_secret.payload["courier"], code);
    }
    // Another courier's secret does not pass for the named courier.
    let e = courier_event(
        "usps",
        &cfg.courier.carriers["usps"],
        "e",
        "T",
        "delivered",
        now,
    );
    assert_eq!(
        verify_inbound("courier-dhl", &headers(&e.headers), &e.body, &cfg, now).unwrap_err(),
        WebhookError::BadSignature(SignatureError::Mismatch)
    );
    assert!(matches!(
        verify_inbound("courier-fedex", &headers(&e.headers), &e.body, &cfg, now),
        Err(WebhookError::UnknownProvider(_))
    ));
}

#[test]
fn unknown_providers_are_refused() {
    let cfg = cfg();
    assert_eq!(
        verify_inbound("paypal", &HeaderMap::new(), b"{}", &cfg, Utc::now()).unwrap_err(),
        WebhookError::UnknownProvider("paypal".into())
    );
}
