//! Provider gates end to end, against the simulator on a real port: a pause holds orders
//! without spending attempts and a resume completes them (audited); an outage opens the
//! breaker and recovery closes it; a concurrency limit is never exceeded at the simulator
//! and is reached; a rate limit holds across two apps on one database; bad requests change
//! nothing.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::orders::{Harness, harness};
use crate::support::{OPERATOR_TOKEN, VIEWER_TOKEN, app_with, bearer};
use sagaflow::families::partner::PartnerSettings;
use sagaflow::providers::gates::BreakerConfig;
use sagaflow::simulator::Fault;

const MTN_PHONE: &str = "0241234567";

async fn funded(h: &Harness, amount: f64) -> Uuid {
    let user = Uuid::now_v7();
    let (s, b) = h
        .post_json(
            &format!("/v1/wallets/{user}/top-ups"),
            &[("idempotency-key", "seed")],
            &json!({ "amount": amount }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    user
}

/// Places a 5GB MTN order (through the reseller) and returns its saga.
async fn place(h: &Harness, user: Uuid, key: &str) -> Uuid {
    let (s, b) = h
        .post_json(
            "/v1/orders/data-bundles",
            &[("idempotency-key", key)],
            &json!({ "user_id": user, "network": "MTN", "size": "5GB", "phone_number": MTN_PHONE }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    b["saga_id"].as_str().unwrap().parse().unwrap()
}

/// (status, attempt, last error code) of a saga.
async fn saga_row(h: &Harness, saga: Uuid) -> (String, i32, Option<String>) {
    sqlx::query_as("SELECT status, attempt, last_error->>'code' FROM sagas WHERE id = $1")
        .bind(saga)
        .fetch_one(h.pool())
        .await
        .unwrap()
}

async fn signals_for(h: &Harness, saga: Uuid, n: i64) {
    h.wait_for(
        &format!("SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"),
        n,
    )
    .await;
}

async fn as_operator(h: &Harness, path: &str, body: Value) -> (StatusCode, Value) {
    let op = bearer(OPERATOR_TOKEN);
    h.post_json(path, &[("authorization", op.as_str())], &body)
        .await
}

/// The reseller's entry of `GET /v1/providers`, read as a viewer.
async fn reseller_status(h: &Harness) -> Value {
    let viewer = bearer(VIEWER_TOKEN);
    let (s, b) = h
        .get("/v1/providers", &[("authorization", viewer.as_str())])
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "reseller")
        .cloned()
        .expect("the reseller is listed")
}

#[tokio::test]
async fn a_paused_provider_queues_orders_and_a_resume_completes_them() {
    let h = harness(|_, _| {}).await;
    let (s, b) = as_operator(
        &h,
        "/v1/providers/reseller/pause",
        json!({ "reason": "provider maintenance until 10:00" }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let user = funded(&h, 100.0).await;
    let saga = place(&h, user, "k1").await;
    h.t.run().await;
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 0);
    assert_eq!(
        saga_row(&h, saga).await,
        ("running".into(), 1, Some("provider_held".into())),
        "held, at its first attempt, the reason visible"
    );
    // Due again later, still paused: held again, and still the first attempt.
    h.t.advance(Duration::from_secs(31));
    h.t.run().await;
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 0);
    assert_eq!(saga_row(&h, saga).await.1, 1);

    let status = reseller_status(&h).await;
    assert_eq!(
        status["pauses"][0]["reason"],
        "provider maintenance until 10:00"
    );
    assert_eq!(status["pauses"][0]["paused_by"], "olivia");
    assert_eq!(status["pauses"][0]["endpoint"], "");

    let (s, b) = as_operator(
        &h,
        "/v1/providers/reseller/resume",
        json!({ "reason": "back" }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["woken"], 1, "{b}");
    // Woken at once: no clock advance needed.
    h.t.run().await;
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 1);
    assert_eq!(h.t.status(saga).await, "waiting");
    signals_for(&h, saga, 1).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "completed");
    let kinds = h.t.kinds(saga).await;
    assert!(kinds.iter().any(|k| k == "step_deferred"), "{kinds:?}");
    assert!(
        !kinds.iter().any(|k| k == "step_retry_scheduled"),
        "{kinds:?}"
    );
    // Both actions audited, with who and why.
    let audit: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT action, actor, reason FROM provider_actions WHERE provider = 'reseller' ORDER BY id",
    )
    .fetch_all(h.pool())
    .await
    .unwrap();
    assert_eq!(
        audit,
        vec![
            (
                "pause".into(),
                "olivia".into(),
                "provider maintenance until 10:00".into()
            ),
            ("resume".into(), "olivia".into(), "back".into()),
        ]
    );
    assert!(
        reseller_status(&h).await["pauses"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_outage_opens_the_breaker_orders_wait_and_recovery_completes_them() {
    let h = harness(|s, _| {
        s.providers.reseller.limits.breaker = BreakerConfig {
            failures: 2,
            cool_down: Duration::from_secs(1),
        };
    })
    .await;
    let down = || Fault {
        status: Some(503),
        ..Default::default()
    };
    h.sim
        .set_fault("reseller.create_order", Some(down()))
        .unwrap();
    h.sim.set_fault("reseller.balance", Some(down())).unwrap();
    let user = funded(&h, 200.0).await;
    // The first order meets the outage: its balance check and its submit fail, which opens
    // the breaker; that attempt was really made and is spent.
    let first = place(&h, user, "k1").await;
    h.t.run().await;
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 1);
    assert_eq!(
        saga_row(&h, first).await.1,
        2,
        "a real failure spends its attempt"
    );
    let status = reseller_status(&h).await;
    assert_eq!(status["breaker"]["state"], "open", "{status}");
    assert_eq!(status["breaker"]["failures"], 2);
    assert!(
        status["breaker"]["last_error"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{status}"
    );
    assert!(status["breaker"]["last_error_at"].is_string());

    // While it is open, another order is held without reaching the provider.
    let second = place(&h, user, "k2").await;
    h.t.run().await;
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 1);
    assert_eq!(
        saga_row(&h, second).await,
        ("running".into(), 1, Some("provider_held".into()))
    );

    // Recovery: after the cool-down one probe goes through, succeeds and closes it.
    h.sim.set_fault("reseller.create_order", None).unwrap();
    h.sim.set_fault("reseller.balance", None).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    h.t.advance(Duration::from_secs(2));
    h.t.run().await;
    assert_eq!(h.t.status(second).await, "waiting");
    assert_eq!(saga_row(&h, second).await.1, 1, "held runs spent nothing");
    let status = reseller_status(&h).await;
    assert_eq!(status["breaker"]["state"], "closed", "{status}");
    assert_eq!(status["breaker"]["failures"], 0);
    signals_for(&h, second, 1).await;
    h.t.run().await;
    assert_eq!(h.t.status(second).await, "completed");
    // The first order's retry, on its own schedule, completes as well.
    h.t.advance(Duration::from_secs(5 * 60));
    h.t.run().await;
    signals_for(&h, first, 1).await;
    h.t.run().await;
    assert_eq!(h.t.status(first).await, "completed");
    assert_eq!(
        h.count("SELECT count(*) FROM wallet_ledger WHERE kind = 'refund'")
            .await,
        0,
        "nothing refunded"
    );
}

#[tokio::test]
async fn a_concurrency_of_three_is_reached_and_never_exceeded() {
    let h = harness(|s, _| {
        s.providers.reseller.limits.concurrency = 3;
    })
    .await;
    h.sim
        .set_fault(
            "reseller.create_order",
            Some(Fault {
                latency_ms: 300,
                ..Default::default()
            }),
        )
        .unwrap();
    let user = funded(&h, 300.0).await;
    let mut sagas = Vec::new();
    for i in 0..8 {
        sagas.push(place(&h, user, &format!("k{i}")).await);
    }
    for _ in 0..60 {
        h.t.run().await;
        let running = h
            .count("SELECT count(*) FROM sagas WHERE status IN ('pending', 'running')")
            .await;
        if running == 0 {
            break;
        }
        h.t.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = h.sim.stats();
    assert_eq!(
        stats.requests("reseller.create_order"),
        8,
        "each order once"
    );
    assert_eq!(stats.max_in_flight("reseller.create_order"), 3);
    for saga in sagas {
        let kinds = h.t.kinds(saga).await;
        assert!(
            !kinds.iter().any(|k| k == "step_retry_scheduled"),
            "held calls spent no attempt: {kinds:?}"
        );
    }
    assert_eq!(
        h.count("SELECT count(*) FROM provider_leases").await,
        0,
        "every permit given back"
    );
}

#[tokio::test]
async fn a_rate_limit_holds_across_two_apps_on_one_database() {
    let h = harness(|s, _| {
        s.providers.reseller.limits.rate = 10;
        s.providers.reseller.limits.per = Duration::from_secs(1);
    })
    .await;
    // A second node: its own app, gates and cache, on the same database and simulator.
    let other = app_with(h.t.app.settings.clone(), |_| {}).await;
    h.sim.reset_stats();
    let run_for = Duration::from_secs(30);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for providers in [h.t.app.providers.clone(), other.app.providers.clone()] {
        for _ in 0..3 {
            let providers = providers.clone();
            tasks.push(tokio::spawn(async move {
                let mut sent = 0u32;
                while started.elapsed() < run_for {
                    let attempt = providers.reseller.get_balance().await;
                    match attempt.result {
                        Ok(_) => sent += 1,
                        Err(e) => {
                            let wait = e.retry_after().unwrap_or(Duration::from_millis(50));
                            tokio::time::sleep(wait.min(Duration::from_millis(500))).await;
                        }
                    }
                }
                sent
            }));
        }
    }
    let mut per_task = Vec::new();
    for t in tasks {
        per_task.push(t.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    let arrived = h.sim.stats().request_times_ms("reseller.balance").len() as f64;
    let allowed = 10.0 * seconds + 10.0; // the rate, plus the bucket's first full burst
    assert!(
        arrived <= allowed * 1.1 && arrived >= 10.0 * seconds * 0.9,
        "{arrived} requests in {seconds:.1}s for a limit of 10/s"
    );
    assert!(
        per_task[..3].iter().sum::<u32>() > 0 && per_task[3..].iter().sum::<u32>() > 0,
        "both nodes sent: {per_task:?}"
    );
}

#[tokio::test]
async fn bad_pause_requests_are_refused_and_change_nothing() {
    let h = harness(|_, _| {}).await;
    let (s, b) = as_operator(&h, "/v1/providers/reseller/pause", json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["code"], "reason_required");
    let (s, b) = as_operator(
        &h,
        "/v1/providers/reseller/pause",
        json!({ "reason": "  " }),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("reason_required"))
    );
    let long = "x".repeat(501);
    let (s, b) = as_operator(
        &h,
        "/v1/providers/reseller/pause",
        json!({ "reason": long }),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("reason_too_long"))
    );
    let (s, b) = as_operator(&h, "/v1/providers/nosuch/pause", json!({ "reason": "x" })).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let viewer = bearer(VIEWER_TOKEN);
    let (s, b) = h
        .post_json(
            "/v1/providers/reseller/pause",
            &[("authorization", viewer.as_str())],
            &json!({ "reason": "viewer tries" }),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, b) = as_operator(&h, "/v1/providers/reseller/resume", json!({})).await;
    assert_eq!(
        (s, b["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("not_paused"))
    );
    assert_eq!(h.count("SELECT count(*) FROM provider_pauses").await, 0);
    assert_eq!(h.count("SELECT count(*) FROM provider_actions").await, 0);
    assert!(
        reseller_status(&h).await["pauses"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_partner_rate_limit_is_shared_by_two_apps_on_one_database() {
    let h = harness(|s, _| {
        s.edit_section("partner", |p: &mut PartnerSettings| {
            p.rate_limit_per_minute = 5
        })
        .unwrap();
    })
    .await;
    let other = app_with(h.t.app.settings.clone(), |_| {}).await;
    let auth = "Bearer sim_partner_api_key";
    for _ in 0..3 {
        let (s, b) = h
            .get("/v1/partner/products", &[("authorization", auth)])
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    for _ in 0..2 {
        let (s, b) = other
            .call(
                "GET",
                "/v1/partner/products",
                None,
                &[("authorization", auth)],
            )
            .await;
        assert_eq!(s.as_u16(), 200, "{b}");
    }
    // Five in the minute between them: the sixth is refused on either node.
    let (s, b) = other
        .call(
            "GET",
            "/v1/partner/products",
            None,
            &[("authorization", auth)],
        )
        .await;
    assert_eq!(
        (s.as_u16(), b["errorCode"].clone()),
        (429, json!("RATE_LIMITED"))
    );
    let (s, b) = h
        .get("/v1/partner/products", &[("authorization", auth)])
        .await;
    assert_eq!(
        (s, b["errorCode"].clone()),
        (StatusCode::TOO_MANY_REQUESTS, json!("RATE_LIMITED"))
    );
}

/// A submit whose answer was lost, then a lookup a gate holds: the lookup proves nothing, so
/// the attempt is spent as an unknown outcome and the next one looks before it places. Held
/// without spending it, the next run would be a first try, which does not look, and the
/// reseller would deliver the order twice.
#[tokio::test]
async fn a_held_lookup_after_a_lost_answer_never_places_the_order_again() {
    let h = harness(|_, _| {}).await;
    let (s, b) = as_operator(
        &h,
        "/v1/providers/reseller/pause",
        json!({ "reason": "history search down", "endpoint": "list_orders" }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    h.sim
        .set_fault(
            "reseller.create_order",
            Some(Fault {
                drop_response: true,
                times: Some(1),
                ..Fault::default()
            }),
        )
        .unwrap();
    let user = funded(&h, 100.0).await;
    let saga = place(&h, user, "lost-answer").await;
    h.t.run().await;
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 1);
    let first = saga_row(&h, saga).await;

    let (s, b) = as_operator(
        &h,
        "/v1/providers/reseller/resume",
        json!({ "reason": "back", "endpoint": "list_orders" }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // The retry comes due (five minutes in the workflow) and looks first.
    h.t.advance(Duration::from_secs(6 * 60));
    h.t.run().await;
    let doubled = h.sim.stats().repeated_orders("reseller.create_order");
    assert!(doubled.is_empty(), "placed twice: {doubled:?}");
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 1);
    assert_eq!(
        (first.0.as_str(), first.2.as_deref()),
        ("running", Some("outcome_unknown")),
        "the first attempt was spent as an unknown outcome, at attempt {}",
        first.1
    );
    let (status, attempt, _) = saga_row(&h, saga).await;
    assert!(
        ["waiting", "completed"].contains(&status.as_str()) && attempt == 2,
        "the second attempt adopted the order the first placed: {status} at {attempt}"
    );
}
