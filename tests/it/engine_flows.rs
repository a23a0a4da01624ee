//! The engine's saga paths end to end, through the HTTP router, on a fresh database each, with
//! a manual clock: nothing here sleeps through a retry schedule.

use crate::support::{TestApp, app, mins};
use axum::http::StatusCode;
use serde_json::json;

fn effects(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(s, k)| (s.to_string(), k.to_string()))
        .collect()
}

#[tokio::test]
async fn happy_path_runs_every_step_once_and_completes() {
    let t = app().await;
    let id = t.start("sample", json!({})).await;
    assert_eq!(t.status(id).await, "pending");
    t.run().await;
    let saga = t.saga(id).await;
    assert_eq!(saga["status"], "completed");
    assert_eq!(saga["data"]["steps"]["notify"]["step"], "notify");
    assert!(saga["finished_at"].is_string());
    assert_eq!(
        t.effects(id).await,
        effects(&[
            ("reserve", "action"),
            ("charge", "action"),
            ("deliver", "action"),
            ("notify", "action")
        ])
    );
    assert_eq!(
        t.kinds(id).await,
        [
            "saga_created",
            "saga_started",
            "step_succeeded",
            "step_succeeded",
            "step_succeeded",
            "step_succeeded",
            "saga_completed"
        ]
    );
    // Sequence numbers are gap-free from 1.
    let seqs: Vec<i64> = saga_history_seqs(&t, id).await;
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
}

async fn saga_history_seqs(t: &TestApp, id: uuid::Uuid) -> Vec<i64> {
    t.saga(id).await["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn retry_follows_the_schedule_through_the_clock_then_succeeds() {
    let t = app().await;
    // charge retries on ["5m", "15m", "1h"]; fail twice.
    let id = t
        .start(
            "sample",
            json!({ "steps": { "charge": { "fail_times": 2 } } }),
        )
        .await;
    t.run().await;
    let saga = t.saga(id).await;
    assert_eq!(saga["status"], "running");
    assert_eq!(saga["attempt"], 2);
    assert_eq!(saga["last_error"]["code"], "scripted");
    assert_eq!(saga["next_retry_at"], "2026-03-01T09:05:00Z");

    // Just before the delay nothing runs.
    t.advance(mins(4));
    assert_eq!(t.run().await, 0);
    t.advance(mins(1));
    t.run().await;
    let saga = t.saga(id).await;
    assert_eq!(saga["attempt"], 3);
    assert_eq!(
        saga["next_retry_at"], "2026-03-01T09:20:00Z",
        "second delay is 15m after the second attempt"
    );

    t.advance(mins(15));
    t.run().await;
    assert_eq!(t.status(id).await, "completed");
    let charges = t
        .effects(id)
        .await
        .into_iter()
        .filter(|(s, _)| s == "charge")
        .count();
    assert_eq!(charges, 3);
    let kinds = t.kinds(id).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "step_retry_scheduled")
            .count(),
        2
    );
}

#[tokio::test]
async fn permanent_failure_compensates_completed_steps_in_reverse_order() {
    let t = app().await;
    let id = t
        .start(
            "sample",
            json!({ "steps": { "deliver": { "fail": "permanent" } } }),
        )
        .await;
    t.run().await;
    assert_eq!(t.status(id).await, "compensated");
    assert_eq!(
        t.effects(id).await,
        effects(&[
            ("reserve", "action"),
            ("charge", "action"),
            ("deliver", "action"),
            ("charge", "undo"),
            ("reserve", "undo"),
        ])
    );
    let saga = t.saga(id).await;
    assert_eq!(
        saga["data"]["compensations"]["reserve"]["undone"],
        "reserve"
    );
    assert!(t.kinds(id).await.ends_with(&[
        "compensation_succeeded".into(),
        "compensation_succeeded".into(),
        "saga_compensated".into()
    ]));
}

#[tokio::test]
async fn exhausted_retries_compensate_the_attempted_step_too() {
    let t = app().await;
    // reserve: 3 attempts, exponential from 1s (jitter 10%).
    let id = t
        .start(
            "sample",
            json!({ "steps": { "reserve": { "fail_times": 9 } } }),
        )
        .await;
    t.run().await;
    t.advance(std::time::Duration::from_secs(2));
    t.run().await;
    t.advance(std::time::Duration::from_secs(3));
    t.run().await;
    assert_eq!(t.status(id).await, "compensated");
    assert_eq!(
        t.effects(id).await,
        effects(&[
            ("reserve", "action"),
            ("reserve", "action"),
            ("reserve", "action"),
            ("reserve", "undo")
        ])
    );
}

#[tokio::test]
async fn compensation_that_fails_for_good_parks_the_saga_as_failed() {
    let t = app().await;
    let input = json!({
        "steps": { "deliver": { "fail": "permanent" } },
        "compensations": { "charge": { "fail": "permanent" } }
    });
    let id = t.start("sample", input).await;
    t.run().await;
    let saga = t.saga(id).await;
    assert_eq!(saga["status"], "failed");
    assert_eq!(saga["state"]["step"], 1, "held at the charge compensation");
    assert_eq!(saga["last_error"]["phase"], "compensation");
    assert!(
        saga["next_run_at"].is_null(),
        "nothing runs until an operator acts"
    );
    // reserve's undo must not have run: compensation stops where it failed.
    assert!(
        !t.effects(id)
            .await
            .contains(&("reserve".into(), "undo".into()))
    );

    // The operator undoes the charge by hand and resumes: compensation carries on below it.
    let (status, body) = t
        .operate(id, "resume", "refunded by hand in the processor dashboard")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    t.run().await;
    assert_eq!(t.status(id).await, "compensated");
    assert!(
        t.effects(id)
            .await
            .contains(&("reserve".into(), "undo".into()))
    );
}

#[tokio::test]
async fn compensation_retries_on_its_own_schedule() {
    let t = app().await;
    let input = json!({
        "steps": { "deliver": { "fail": "permanent" } },
        "compensations": { "charge": { "fail_times": 1 } }
    });
    let id = t.start("sample", input).await;
    t.run().await;
    let saga = t.saga(id).await;
    assert_eq!(saga["status"], "compensating");
    assert_eq!(saga["next_retry_at"], "2026-03-01T09:00:01Z");
    t.advance(std::time::Duration::from_secs(1));
    t.run().await;
    assert_eq!(t.status(id).await, "compensated");
}

#[tokio::test]
async fn park_holds_the_saga_then_resume_carries_on() {
    let t = app().await;
    let id = t
        .start(
            "sample_park",
            json!({ "steps": { "inspect": { "fail_times": 5 } } }),
        )
        .await;
    t.run().await;
    t.advance(mins(1));
    t.run().await;
    let saga = t.saga(id).await;
    assert_eq!(saga["status"], "parked");
    assert_eq!(saga["current_step"], "inspect");
    // Parked means no compensation ran.
    assert!(!t.effects(id).await.iter().any(|(_, k)| k == "undo"));

    let (status, _) = t.operate(id, "resume", "inspected by hand").await;
    assert_eq!(status, StatusCode::OK);
    t.run().await;
    assert_eq!(t.status(id).await, "completed");
    let history = t.saga(id).await["history"].clone();
    let resume = history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "operator_resume")
        .unwrap();
    assert_eq!(resume["actor"], "operator:olivia", "the token's name");
    assert_eq!(resume["detail"]["reason"], "inspected by hand");
    assert_eq!(resume["detail"]["from"], "parked");
}

#[tokio::test]
async fn operator_retry_reruns_a_parked_step() {
    let t = app().await;
    let id = t
        .start(
            "sample_park",
            json!({ "steps": { "inspect": { "fail": "park" } } }),
        )
        .await;
    t.run().await;
    assert_eq!(t.status(id).await, "parked");
    let (status, body) = t.operate(id, "retry", "provider fixed").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "running");
    t.run().await;
    // Still scripted to park: parked again, after a second run of the step.
    assert_eq!(t.status(id).await, "parked");
    let kinds = t.kinds(id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "step_parked").count(), 2);
    assert!(kinds.contains(&"operator_retry".to_string()));
    // The retried run was marked a recovery, so the keyless effect looked first, found the
    // first run's and did not act again.
    let inspects = t
        .effects(id)
        .await
        .into_iter()
        .filter(|(s, _)| s == "inspect")
        .count();
    assert_eq!(inspects, 1);
}

#[tokio::test]
async fn operator_cancel_undoes_and_illegal_actions_are_409() {
    let t = app().await;
    let id = t
        .start(
            "sample",
            json!({ "steps": { "deliver": { "wait": true } } }),
        )
        .await;
    t.run().await;
    assert_eq!(t.status(id).await, "waiting");

    let (status, body) = t.operate(id, "resume", "").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("reason_required"))
    );

    let (status, _) = t.operate(id, "cancel", "customer asked").await;
    assert_eq!(status, StatusCode::OK);
    t.run().await;
    assert_eq!(t.status(id).await, "cancelled");
    let undone: Vec<_> = t
        .effects(id)
        .await
        .into_iter()
        .filter(|(_, k)| k == "undo")
        .map(|(s, _)| s)
        .collect();
    assert_eq!(undone, ["charge", "reserve"]);

    let (status, body) = t.operate(id, "retry", "again").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "illegal_transition");
    assert_eq!(
        body["error"]["message"],
        "cannot retry a saga that is cancelled"
    );
    let (status, _) = t.operate(id, "frobnicate", "x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The refused actions left no trace.
    assert_eq!(
        t.kinds(id)
            .await
            .iter()
            .filter(|k| k.starts_with("operator_"))
            .count(),
        1
    );
}

#[tokio::test]
async fn signal_after_the_wait_completes_the_step() {
    let t = app().await;
    let id = t
        .start(
            "sample",
            json!({ "steps": { "deliver": { "wait": true } } }),
        )
        .await;
    t.run().await;
    let saga = t.saga(id).await;
    assert_eq!(saga["status"], "waiting");
    assert_eq!(saga["state"]["signal"], "sample.delivered");
    assert_eq!(saga["next_run_at"], "2026-03-01T09:10:00Z");

    let (status, body) = t
        .signal(
            id,
            "sample.delivered",
            "evt-1",
            json!({ "status": "delivered", "ref": "abc" }),
        )
        .await;
    assert_eq!(
        (status, body["result"].as_str()),
        (StatusCode::ACCEPTED, Some("accepted"))
    );
    t.run().await;
    let saga = t.saga(id).await;
    assert_eq!(saga["status"], "completed");
    // The action's output and the signal's merge.
    assert_eq!(saga["data"]["steps"]["deliver"]["step"], "deliver");
    assert_eq!(saga["data"]["steps"]["deliver"]["signal"]["ref"], "abc");
}

#[tokio::test]
async fn signal_before_the_wait_is_kept_and_used() {
    let t = app().await;
    let id = t
        .start(
            "sample",
            json!({ "steps": { "deliver": { "wait": true } } }),
        )
        .await;
    let (status, _) = t
        .signal(
            id,
            "sample.delivered",
            "early",
            json!({ "status": "delivered" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // No clock movement: the wait must not sleep until its timeout.
    t.run().await;
    assert_eq!(t.status(id).await, "completed");
    assert!(t.kinds(id).await.contains(&"wait_started".to_string()));
}

#[tokio::test]
async fn duplicate_signals_are_ignored() {
    let t = app().await;
    let id = t
        .start(
            "sample",
            json!({ "steps": { "deliver": { "wait": true } } }),
        )
        .await;
    t.run().await;
    let (s1, _) = t
        .signal(
            id,
            "sample.delivered",
            "evt-9",
            json!({ "status": "delivered" }),
        )
        .await;
    let (s2, b2) = t
        .signal(
            id,
            "sample.delivered",
            "evt-9",
            json!({ "status": "failed" }),
        )
        .await;
    assert_eq!(s1, StatusCode::ACCEPTED);
    assert_eq!(
        (s2, b2["result"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    t.run().await;
    assert_eq!(
        t.status(id).await,
        "completed",
        "the duplicate's 'failed' payload was never seen"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM saga_signals WHERE saga_id = $1")
        .bind(id)
        .fetch_one(t.app.store().pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn wait_timeout_falls_back_to_the_poll_action() {
    let t = app().await;
    let id = t
        .start(
            "sample",
            json!({ "steps": { "deliver": { "wait": true } } }),
        )
        .await;
    t.run().await;
    t.advance(mins(9));
    assert_eq!(t.run().await, 0, "not due before the timeout");
    t.advance(mins(1));
    t.run().await;
    let saga = t.saga(id).await;
    assert_eq!(saga["status"], "completed");
    assert_eq!(saga["data"]["steps"]["deliver"]["polled"], true);
    assert!(
        t.effects(id)
            .await
            .contains(&("deliver".into(), "poll".into()))
    );
}

#[tokio::test]
async fn polls_that_stay_pending_fail_the_step_after_max_polls() {
    let t = app().await;
    let input =
        json!({ "steps": { "deliver": { "wait": true } }, "polls": { "deliver": "pending" } });
    let id = t.start("sample", input).await;
    t.run().await;
    for _ in 0..3 {
        t.advance(mins(10));
        t.run().await;
    }
    // max_polls = 3, then the step fails retryably and its (default) retry runs the action again.
    let saga = t.saga(id).await;
    assert_eq!(saga["status"], "running", "{saga}");
    assert_eq!(saga["attempt"], 2);
    assert_eq!(
        t.kinds(id)
            .await
            .iter()
            .filter(|k| *k == "poll_pending")
            .count(),
        2
    );
}

#[tokio::test]
async fn start_is_idempotent_and_bad_input_changes_nothing() {
    let t = app().await;
    let body = json!({ "workflow": "sample", "input": { "a": 1 }, "business_key": "order-1" });
    let (s1, b1) = t
        .call(
            "POST",
            "/v1/sagas",
            Some(body.clone()),
            &[("idempotency-key", "k1")],
        )
        .await;
    let (s2, b2) = t
        .call(
            "POST",
            "/v1/sagas",
            Some(body.clone()),
            &[("idempotency-key", "k1")],
        )
        .await;
    assert_eq!(s1, StatusCode::ACCEPTED);
    assert_eq!(s2, StatusCode::OK);
    assert_eq!(b1["saga_id"], b2["saga_id"]);

    let changed = json!({ "workflow": "sample", "input": { "a": 2 }, "business_key": "order-1" });
    let (s3, b3) = t
        .call(
            "POST",
            "/v1/sagas",
            Some(changed),
            &[("idempotency-key", "k1")],
        )
        .await;
    assert_eq!(
        (s3, b3["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_conflict"))
    );

    let unknown = json!({ "workflow": "nope", "input": {} });
    let (s, b) = t
        .call(
            "POST",
            "/v1/sagas",
            Some(unknown),
            &[("idempotency-key", "k2")],
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_workflow"))
    );

    let (s, b) = t.call("POST", "/v1/sagas", Some(body.clone()), &[]).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("missing_idempotency_key"))
    );

    let malformed = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/sagas")
        .header("content-type", "application/json")
        .header("idempotency-key", "k3")
        .body(axum::body::Body::from("{\"workflow\": \"sample\", "))
        .unwrap();
    let (s, b) = t.send(malformed).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );

    let huge = json!({ "workflow": "sample", "input": { "blob": "x".repeat(70_000) } });
    let (s, b) = t
        .call(
            "POST",
            "/v1/sagas",
            Some(huge),
            &[("idempotency-key", "k4")],
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large"))
    );

    let wrong_shape = json!({ "workflow": "sample", "input": [1, 2] });
    let (s, b) = t
        .call(
            "POST",
            "/v1/sagas",
            Some(wrong_shape),
            &[("idempotency-key", "k5")],
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body"))
    );

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sagas")
        .fetch_one(t.app.store().pool())
        .await
        .unwrap();
    assert_eq!(rows, 1, "only the first start wrote a saga");
}

#[tokio::test]
async fn list_filters_and_pages_with_a_keyset_cursor() {
    let t = app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        t.advance(std::time::Duration::from_secs(1));
        ids.push(
            t.start(if i % 2 == 0 { "sample" } else { "sample_six" }, json!({}))
                .await,
        );
    }
    let (s, page1) = t
        .call("GET", "/v1/sagas?workflow=sample&limit=2", None, &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    let got: Vec<&str> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[4].to_string(), ids[2].to_string()]);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = t
        .call(
            "GET",
            &format!("/v1/sagas?workflow=sample&limit=2&cursor={cursor}"),
            None,
            &[],
        )
        .await;
    let got: Vec<&str> = page2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[0].to_string()]);
    assert!(page2["next_cursor"].is_null(), "last page has no cursor");

    let (_, by_status) = t
        .call("GET", "/v1/sagas?status=pending,failed", None, &[])
        .await;
    assert_eq!(by_status["items"].as_array().unwrap().len(), 5);
    let (s, b) = t.call("GET", "/v1/sagas?cursor=zz", None, &[]).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_cursor"))
    );
    let (s, _) = t.call("GET", "/v1/sagas?status=exploded", None, &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = t.call("GET", "/v1/sagas?limit=0", None, &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = t.call("GET", "/v1/sagas/not-a-uuid", None, &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = t
        .call(
            "GET",
            &format!("/v1/sagas/{}", uuid::Uuid::now_v7()),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_and_readiness() {
    let t = app().await;
    let (s, _) = t.call("GET", "/healthz", None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = t.call("GET", "/readyz", None, &[]).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ready")));
}
