//! The `data_bundle` workflow end to end: HTTP against the served app, the provider simulator
//! on a real port (its signed webhooks come back over HTTP), a fresh database and a manual
//! clock for the retry schedule.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::orders::{Harness, harness};
use sagaflow::families::data_bundle::{BundleSettings, LowBalance};
use sagaflow::simulator::{ConfigPatch, Fault, Outcome};

const MTN_PHONE: &str = "0241234567";
/// mtn-5gb in config/default.toml: 27.00 GHS.
const MTN_5GB_MINOR: i64 = 2700;

async fn order(
    h: &Harness,
    user: Uuid,
    key: &str,
    network: &str,
    size: u32,
    phone: &str,
) -> (StatusCode, Value) {
    h.post_json(
        "/v1/orders/data-bundles",
        &[("idempotency-key", key)],
        &json!({ "user_id": user, "network": network, "size": format!("{size}GB"), "phone_number": phone }),
    )
    .await
}

async fn place(h: &Harness, user: Uuid) -> (Uuid, Uuid) {
    let (s, b) = order(h, user, "k1", "MTN", 5, MTN_PHONE).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b["status"], "pending");
    assert!(b["order_code"].as_str().unwrap().starts_with("DB-"));
    (
        b["order_id"].as_str().unwrap().parse().unwrap(),
        b["saga_id"].as_str().unwrap().parse().unwrap(),
    )
}

async fn order_view(h: &Harness, id: Uuid) -> Value {
    let (s, b) = h.get(&format!("/v1/orders/{id}"), &[]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

async fn ledger(h: &Harness, order: Uuid) -> Vec<(String, i64)> {
    h.t.app.store().order_ledger(order).await.unwrap()
}

fn reference(saga: Uuid, attempt: u32) -> String {
    format!("{saga}:fulfill:{attempt}")
}

/// Runs the outbox relay until nothing is due (the customer SMS it sends, for one).
async fn deliver_outbox(h: &Harness) {
    let relay = h.t.app.outbox_relay();
    while relay.deliver_due().await.unwrap() > 0 {}
}

async fn signals_for(h: &Harness, saga: Uuid, n: i64) {
    h.wait_for(
        &format!("SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"),
        n,
    )
    .await;
}

#[tokio::test]
async fn success_through_the_webhook() {
    let h = harness(|_, _| {}).await;
    let user = h.funded(100.0).await;
    let (id, saga) = place(&h, user).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    assert_eq!(order_view(&h, id).await["fulfillment_status"], "processing");
    signals_for(&h, saga, 1).await;
    h.t.run().await;

    assert_eq!(h.t.status(saga).await, "completed");
    let view = order_view(&h, id).await;
    assert_eq!(
        (view["status"].as_str(), view["fulfillment_status"].as_str()),
        (Some("completed"), Some("completed"))
    );
    assert_eq!(view["price"], "27.00");
    assert_eq!(view["phone_number"], "024****567");
    let attempts = view["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status"], "success");
    assert_eq!(attempts[0]["provider"], "reseller");
    assert!(attempts[0]["fulfilled_at"].is_string());
    assert_eq!(
        ledger(&h, id).await,
        [("debit".to_string(), -MTN_5GB_MINOR)]
    );
    assert_eq!(
        h.t.app.store().wallet_balance(user).await.unwrap(),
        Some(10_000 - MTN_5GB_MINOR)
    );
    assert_eq!(
        h.sim
            .stats()
            .deliveries("reseller.create_order", &reference(saga, 1)),
        1
    );
    assert_eq!(
        h.sim
            .stats()
            .deliveries("sms.send", &format!("{saga}:notify")),
        1
    );
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) FROM notifications WHERE order_id = '{id}' AND kind = 'delivered'"
        ))
        .await,
        1
    );
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) FROM receipts WHERE order_id = '{id}'"
        ))
        .await,
        1
    );
    // The attempt log holds the redacted exchange, never the full number.
    let logged: Value =
        sqlx::query_scalar("SELECT api_request FROM fulfillment_logs WHERE order_id = $1")
            .bind(id)
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert!(!logged.to_string().contains(MTN_PHONE), "{logged}");
}

#[tokio::test]
async fn success_through_polling_when_no_webhook_arrives() {
    let h = harness(|_, _| {}).await;
    h.sim
        .configure(ConfigPatch {
            completion_delay_ms: Some(0),
            ..Default::default()
        })
        .unwrap();
    h.no_reseller_webhooks();
    let user = h.funded(100.0).await;
    let (id, saga) = place(&h, user).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    h.t.advance(Duration::from_secs(9 * 60));
    h.t.run().await;
    assert_eq!(
        h.t.status(saga).await,
        "waiting",
        "no poll before the 10m wait ends"
    );
    h.t.advance(Duration::from_secs(60));
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "completed");
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"
        ))
        .await,
        0
    );
    assert_eq!(
        h.t.saga(saga).await["data"]["steps"]["fulfill"]["via"],
        "poll"
    );
    assert_eq!(order_view(&h, id).await["status"], "completed");
    assert_eq!(
        h.sim
            .stats()
            .deliveries("reseller.create_order", &reference(saga, 1)),
        1
    );
}

#[tokio::test]
async fn a_500_then_success_on_the_second_attempt_after_5_minutes() {
    let h = harness(|_, _| {}).await;
    h.sim
        .set_fault(
            "reseller.create_order",
            Some(Fault {
                status: Some(500),
                times: Some(1),
                ..Default::default()
            }),
        )
        .unwrap();
    let user = h.funded(100.0).await;
    let (id, saga) = place(&h, user).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "running");
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 1);
    // The customer hears of the failure when it happens, not when the retry starts.
    let notice = format!("{saga}:fulfill:retry-notice:2");
    deliver_outbox(&h).await;
    assert_eq!(h.sim.stats().deliveries("sms.send", &notice), 1);

    h.t.advance(Duration::from_secs(5 * 60 - 1));
    h.t.run().await;
    assert_eq!(
        h.sim.stats().requests("reseller.create_order"),
        1,
        "not retried before 5m"
    );
    h.t.advance(Duration::from_secs(1));
    h.t.run().await;
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 2);
    assert_eq!(h.t.status(saga).await, "waiting");
    // The second attempt knows the customer was already told.
    assert_eq!(h.sim.stats().requests("sms.send"), 1);
    signals_for(&h, saga, 1).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "completed");

    let attempts = order_view(&h, id).await["attempts"].clone();
    assert_eq!(attempts[0]["status"], "failed");
    assert_eq!(attempts[1]["status"], "success");
    // The customer heard about the failed attempt, once.
    deliver_outbox(&h).await;
    assert_eq!(h.sim.stats().deliveries("sms.send", &notice), 1);
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) FROM notifications WHERE order_id = '{id}' AND kind = 'retrying'"
        ))
        .await,
        1
    );
    assert_eq!(ledger(&h, id).await.len(), 1, "one debit, no refund");
}

#[tokio::test]
async fn all_attempts_failing_refunds_on_the_5m_15m_1h_schedule() {
    let h = harness(|_, _| {}).await;
    h.sim
        .configure(ConfigPatch {
            default_outcome: Some(Outcome::Failed),
            ..Default::default()
        })
        .unwrap();
    let user = h.funded(100.0).await;
    let (id, saga) = place(&h, user).await;
    let delays = [5 * 60, 15 * 60, 60 * 60];
    for attempt in 1..=4u32 {
        h.t.run().await;
        assert_eq!(
            h.sim.stats().requests("reseller.create_order"),
            u64::from(attempt)
        );
        signals_for(&h, saga, i64::from(attempt)).await;
        h.t.run().await; // the failed webhook: retry scheduled (or compensation)
        if let Some(delay) = delays.get(attempt as usize - 1) {
            assert_eq!(h.t.status(saga).await, "running");
            h.t.advance(Duration::from_secs(delay - 1));
            h.t.run().await;
            assert_eq!(
                h.sim.stats().requests("reseller.create_order"),
                u64::from(attempt),
                "attempt {} came early",
                attempt + 1
            );
            h.t.advance(Duration::from_secs(1));
        }
    }
    assert_eq!(h.t.status(saga).await, "compensated");
    let view = order_view(&h, id).await;
    assert_eq!(
        (view["status"].as_str(), view["fulfillment_status"].as_str()),
        (Some("failed"), Some("failed"))
    );
    assert!(
        view["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "failed")
    );
    let rows = ledger(&h, id).await;
    assert_eq!(rows.iter().map(|r| r.1).sum::<i64>(), 0, "{rows:?}");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        h.t.app.store().wallet_balance(user).await.unwrap(),
        Some(10_000)
    );
    // Final SMS, after the refund: checkout's compensation ran before validate's.
    assert_eq!(
        h.sim
            .stats()
            .deliveries("sms.send", &format!("{saga}:validate:undo")),
        1
    );
    let comps: Vec<String> = sqlx::query_scalar(
        "SELECT step FROM saga_events WHERE saga_id = $1 AND kind = 'compensation_succeeded' ORDER BY seq",
    )
    .bind(saga)
    .fetch_all(h.pool())
    .await
    .unwrap();
    assert_eq!(comps, ["checkout", "validate"]);
    let text: String = sqlx::query_scalar(
        "SELECT message FROM notifications WHERE order_id = $1 AND kind = 'failed'",
    )
    .bind(id)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert!(
        text.ends_with("Unable to complete order. Contact support."),
        "{text}"
    );
    for n in 1..=4 {
        assert_eq!(
            h.sim
                .stats()
                .deliveries("reseller.create_order", &reference(saga, n)),
            1
        );
    }
    // "Retrying…" before attempts 2, 3 and 4; none after the last, which no retry follows.
    deliver_outbox(&h).await;
    for next in 2..=5 {
        let key = format!("{saga}:fulfill:retry-notice:{next}");
        let expected = u64::from(next <= 4);
        assert_eq!(
            h.sim.stats().deliveries("sms.send", &key),
            expected,
            "{key}"
        );
    }
}

#[tokio::test]
async fn insufficient_balance_at_the_provider_parks_the_order() {
    let h = harness(|s, _| {
        s.edit_section("bundles", |b: &mut BundleSettings| {
            b.on_low_balance = LowBalance::Park;
            b.low_balance_threshold = 0.0;
        })
        .unwrap();
    })
    .await;
    h.sim
        .configure(ConfigPatch {
            balance: Some(1.0),
            ..Default::default()
        })
        .unwrap();
    let user = h.funded(100.0).await;
    let (id, saga) = place(&h, user).await;
    h.t.run().await;
    let s = h.t.saga(saga).await;
    assert_eq!(s["status"], "parked", "{s}");
    assert_eq!(s["last_error"]["code"], "low_provider_balance");
    assert_eq!(
        order_view(&h, id).await["status"],
        "pending",
        "the customer is not failed"
    );
    assert_eq!(ledger(&h, id).await.len(), 1, "no refund while parked");
    let text = h
        .http
        .get(format!("{}/metrics", h.base))
        .bearer_auth(crate::support::VIEWER_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("sagaflow_reseller_balance{provider=\"reseller\"}"),
        "{text}"
    );

    // An operator tops the provider up and retries: the order completes.
    h.sim
        .configure(ConfigPatch {
            balance: Some(1000.0),
            ..Default::default()
        })
        .unwrap();
    let (st, b) = h.t.operate(saga, "retry", "provider topped up").await;
    assert!(st.is_success(), "{b}");
    h.t.run().await;
    signals_for(&h, saga, 1).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "completed");
}

#[tokio::test]
async fn a_low_balance_pre_check_waits_without_submitting() {
    let h = harness(|s, _| {
        s.edit_section("bundles", |b: &mut BundleSettings| {
            b.on_low_balance = LowBalance::Wait;
            b.low_balance_threshold = 500.0;
        })
        .unwrap();
    })
    .await;
    h.sim
        .configure(ConfigPatch {
            balance: Some(100.0),
            ..Default::default()
        })
        .unwrap();
    let user = h.funded(100.0).await;
    let (_, saga) = place(&h, user).await;
    h.t.run().await;
    let s = h.t.saga(saga).await;
    assert_eq!(s["status"], "running");
    assert_eq!(s["last_error"]["code"], "low_provider_balance");
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 0);
    h.t.advance(Duration::from_secs(14 * 60));
    h.t.run().await;
    assert_eq!(
        h.sim.stats().requests("reseller.balance"),
        1,
        "waits the configured 15m"
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_writes_nothing() {
    let h = harness(|_, _| {}).await;
    let user = h.funded(100.0).await;
    let (s, b) = order(&h, user, "a", "MTN", 5, "12345").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_phone")),
        "{b}"
    );
    let (s, b) = order(&h, user, "b", "MTN", 5, "0201234567").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("network_mismatch")),
        "{b}"
    );
    assert!(b["error"]["message"].as_str().unwrap().contains("TELECEL"));
    let (s, b) = order(&h, user, "c", "MTN", 7, MTN_PHONE).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_package")),
        "{b}"
    );
    let (s, b) = h
        .post_json("/v1/orders/data-bundles", &[("idempotency-key", "d")],
            &json!({ "user_id": user, "package_id": "telecel-5gb", "network": "MTN", "phone_number": MTN_PHONE }))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("network_mismatch")),
        "{b}"
    );
    let (s, _, b) = h
        .request(
            reqwest::Method::POST,
            "/v1/orders/data-bundles",
            &[("idempotency-key", "e")],
            Some(b"{\"user_id\": ".to_vec()),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json")),
        "{b}"
    );
    let big = format!(
        "{{\"user_id\":\"{user}\",\"phone_number\":\"{}\"}}",
        "0".repeat(100_000)
    );
    let (s, _, _) = h
        .request(
            reqwest::Method::POST,
            "/v1/orders/data-bundles",
            &[("idempotency-key", "f")],
            Some(big.into_bytes()),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, b) = h
        .post_json(
            "/v1/orders/data-bundles",
            &[],
            &json!({ "user_id": user, "package_id": "mtn-5gb", "phone_number": MTN_PHONE }),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("missing_idempotency_key")),
        "{b}"
    );
    assert_eq!(h.count("SELECT count(*) FROM orders").await, 0);
    assert_eq!(h.count("SELECT count(*) FROM sagas").await, 0);
    assert_eq!(
        h.count("SELECT count(*) FROM wallet_ledger WHERE kind <> 'top_up'")
            .await,
        0
    );
}

#[tokio::test]
async fn an_insufficient_wallet_fails_before_any_provider_call() {
    let h = harness(|_, _| {}).await;
    let user = h.funded(5.0).await;
    let (id, saga) = place(&h, user).await;
    h.t.run().await;
    let s = h.t.saga(saga).await;
    assert_eq!(s["status"], "compensated");
    assert_eq!(order_view(&h, id).await["status"], "failed");
    assert!(ledger(&h, id).await.is_empty());
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 0);
    let failed: String = sqlx::query_scalar(
        "SELECT detail->'error'->>'message' FROM saga_events WHERE saga_id = $1 AND kind = 'step_failed'",
    )
    .bind(saga)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert!(
        failed.contains("wallet balance 5.00 GHS is less than the price 27.00 GHS"),
        "{failed}"
    );
}

#[tokio::test]
async fn an_unknown_outcome_is_resolved_by_the_history_lookup() {
    let h = harness(|_, _| {}).await;
    h.sim
        .set_fault(
            "reseller.create_order",
            Some(Fault {
                drop_response: true,
                times: Some(1),
                ..Default::default()
            }),
        )
        .unwrap();
    let user = h.funded(100.0).await;
    let (_, saga) = place(&h, user).await;
    h.t.run().await;
    assert_eq!(
        h.t.status(saga).await,
        "waiting",
        "adopted the order the lookup found"
    );
    signals_for(&h, saga, 1).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "completed");
    let stats: Value = reqwest::get(format!("{}/_sim/stats", h.sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = &stats["endpoints"]["reseller.create_order"];
    assert_eq!(created["requests"], 1);
    assert_eq!(created["deliveries"].as_object().unwrap().len(), 1);
    assert_eq!(created["deliveries"][reference(saga, 1)], 1, "{stats}");
    assert!(
        stats["endpoints"]["reseller.list_orders"]["requests"]
            .as_u64()
            .unwrap()
            >= 1
    );
}

#[tokio::test]
async fn a_duplicate_purchase_with_the_same_key_places_one_order() {
    let h = harness(|_, _| {}).await;
    let user = h.funded(100.0).await;
    let (s1, first) = order(&h, user, "same", "MTN", 5, MTN_PHONE).await;
    let (s2, second) = order(&h, user, "same", "MTN", 5, MTN_PHONE).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::OK));
    assert_eq!(first["order_id"], second["order_id"]);
    assert_eq!(first["order_code"], second["order_code"]);
    let (s3, b) = order(&h, user, "same", "MTN", 2, MTN_PHONE).await;
    assert_eq!(
        (s3, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_conflict"))
    );
    h.t.run().await;
    assert_eq!(h.count("SELECT count(*) FROM orders").await, 1);
    assert_eq!(
        h.count("SELECT count(*) FROM wallet_ledger WHERE kind = 'debit'")
            .await,
        1
    );
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 1);
}

#[tokio::test]
async fn a_webhook_with_a_bad_signature_is_refused_and_changes_nothing() {
    let h = harness(|_, _| {}).await;
    h.no_reseller_webhooks();
    let user = h.funded(100.0).await;
    let (id, saga) = place(&h, user).await;
    h.t.run().await;
    let external = h.t.saga(saga).await["data"]["steps"]["fulfill"]["external_id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = serde_json::to_vec(&json!({
        "event": "order.status_changed", "timestamp": "2026-03-01T09:01:00Z",
        "order": { "id": external.parse::<i64>().unwrap(), "status": "completed", "recipient_phone": MTN_PHONE, "network": "MTN" }
    }))
    .unwrap();
    let forged = sagaflow::providers::signature::sign_reseller(b"not-the-secret", &body);
    let (s, _, b) = h
        .request(
            reqwest::Method::POST,
            "/v1/webhooks/reseller",
            &[("x-webhook-signature", &forged)],
            Some(body),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_signature"))
    );
    assert_eq!(h.count("SELECT count(*) FROM saga_signals").await, 0);
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    assert_eq!(order_view(&h, id).await["status"], "pending");
}

#[tokio::test]
async fn a_wait_that_times_out_is_still_announced_once_when_the_retry_starts() {
    // The provider never answers and polls keep saying pending: the step's wait times out in
    // the engine, where no action sees it fail, so the next attempt tells the customer.
    let h = harness(|_, _| {}).await;
    h.sim
        .configure(ConfigPatch {
            default_outcome: Some(Outcome::Pending),
            ..Default::default()
        })
        .unwrap();
    let user = h.funded(100.0).await;
    let (id, saga) = place(&h, user).await;
    let notices =
        format!("SELECT count(*) FROM notifications WHERE order_id = '{id}' AND kind = 'retrying'");
    h.t.run().await;
    let mut minutes = 0;
    while h.count(&notices).await == 0 && minutes < 120 {
        h.t.advance(Duration::from_secs(60));
        h.t.run().await;
        minutes += 1;
    }
    assert_eq!(h.count(&notices).await, 1, "after {minutes} minutes");
    let kinds = h.t.kinds(saga).await;
    let polls = kinds.iter().filter(|k| *k == "poll_pending").count();
    assert!(polls >= 5, "the wait ran out of polls first: {kinds:?}");
    assert!(
        kinds.iter().any(|k| k == "step_retry_scheduled"),
        "{kinds:?}"
    );
    let key = format!("{saga}:fulfill:retry-notice:2");
    assert_eq!(h.sim.stats().deliveries("sms.send", &key), 1);
    deliver_outbox(&h).await;
    assert_eq!(
        h.sim.stats().requests("sms.send"),
        1,
        "only the notice was sent"
    );
}

#[tokio::test]
async fn an_outcome_no_lookup_can_prove_parks_the_order_and_never_places_it_again() {
    let h = harness(|_, _| {}).await;
    // The reseller takes the order but the answer is lost, and its history stays unreadable.
    h.sim
        .set_fault(
            "reseller.create_order",
            Some(Fault {
                drop_response: true,
                times: Some(1),
                ..Default::default()
            }),
        )
        .unwrap();
    h.sim
        .set_fault(
            "reseller.list_orders",
            Some(Fault {
                status: Some(500),
                ..Default::default()
            }),
        )
        .unwrap();
    let user = h.funded(100.0).await;
    let (id, saga) = place(&h, user).await;
    h.t.run().await;
    // Every later attempt asks the history first, cannot read it, and tries again later.
    for wait in [5, 15, 60] {
        assert_eq!(h.t.status(saga).await, "running");
        h.t.advance(Duration::from_secs(wait * 60));
        h.t.run().await;
    }
    assert_eq!(
        h.sim.stats().requests("reseller.create_order"),
        1,
        "never placed again without proof"
    );
    assert!(h.sim.stats().requests("reseller.list_orders") >= 4);
    // Out of attempts, the order waits for an operator, paid and not refunded: it may have
    // been delivered.
    assert_eq!(h.t.status(saga).await, "parked");
    let s = h.t.saga(saga).await;
    assert_eq!(s["last_error"]["code"], "outcome_unknown", "{s}");
    assert_eq!(ledger(&h, id).await.len(), 1, "one debit, no refund");
}
