//! The partner API's request log: every request, admitted or refused, is stored masked (no
//! key, phone number or e-mail address readable) with its status and answer, and operators
//! read it through `GET /v1/partner/requests`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::partner::{KEY, fulfil, order_body, partner_harness};
use crate::support::{VIEWER_TOKEN, bearer};

async fn logged(h: &crate::support::orders::Harness, query: &str) -> Vec<Value> {
    let (s, b) = h.get(&format!("/v1/partner/requests{query}"), &[]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["requests"].as_array().unwrap().clone()
}

#[tokio::test]
async fn partner_requests_are_logged_masked_with_their_answer() {
    let (h, _) = partner_harness(100).await;
    let (s, _, b) = fulfil(&h, "log-1", &order_body("T2M-L1")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    // A key no account has, and a good key with a body that is not JSON.
    let (s, _) = h
        .get(
            "/v1/partner/products",
            &[("authorization", "Bearer not-a-partner-key-at-all")],
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let auth = format!("Bearer {KEY}");
    let (s, _, b) = h
        .request(
            reqwest::Method::POST,
            "/v1/partner/fulfilment",
            &[("authorization", &auth), ("idempotency-key", "log-2")],
            Some(b"{\"orderId\": \"T2M-L2\", \"customerPhone\": \"0241234567\"".to_vec()),
        )
        .await;
    assert_eq!(
        (s, b["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_JSON"))
    );

    let mine = logged(&h, "?account=T2MOBILE001").await;
    assert_eq!(mine.len(), 2, "{mine:?}");
    let (bad_json, accepted) = (&mine[0], &mine[1]);
    assert_eq!(accepted["status"], 202);
    assert_eq!(accepted["method"], "POST");
    assert_eq!(accepted["path"], "/v1/partner/fulfilment");
    assert_eq!(accepted["partner_id"], "T2MOBILE001");
    assert_eq!(accepted["key_hint"], "sim_****");
    assert_eq!(accepted["idempotency_key"], "log-1");
    let sent = accepted["request_body"].as_str().unwrap();
    assert!(
        sent.contains("T2M-L1") && sent.contains("024****567"),
        "{sent}"
    );
    assert!(!sent.contains("241234567"), "{sent}");
    assert!(!sent.contains("ama@example.com"), "{sent}");
    let answered = accepted["response_body"].as_str().unwrap();
    assert!(answered.contains("PROCESSING"), "{answered}");
    assert_eq!(bad_json["status"], 400);
    assert!(
        bad_json["response_body"]
            .as_str()
            .unwrap()
            .contains("INVALID_JSON")
    );
    assert!(
        !bad_json["request_body"]
            .as_str()
            .unwrap()
            .contains("0241234567")
    );

    let all = logged(&h, "?limit=10").await;
    assert_eq!(all.len(), 3);
    let refused = &all[1];
    assert_eq!(refused["status"], 401);
    assert_eq!(refused["partner_id"], Value::Null);
    assert_eq!(refused["key_hint"], "not-****");
    assert!(
        refused["response_body"]
            .as_str()
            .unwrap()
            .contains("UNAUTHORIZED")
    );
    assert_eq!(logged(&h, "?limit=1").await.len(), 1);
    // No key sent is readable anywhere in the table.
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM partner_requests WHERE row_to_json(partner_requests)::text LIKE '%' || $1 || '%'
            OR row_to_json(partner_requests)::text LIKE '%not-a-partner-key%'",
    )
    .bind(KEY)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(leaked, 0);
}

#[tokio::test]
async fn the_request_log_is_for_operators_and_refuses_bad_queries() {
    let (h, _) = partner_harness(100).await;
    let viewer = bearer(VIEWER_TOKEN);
    let (s, b) = h
        .get("/v1/partner/requests", &[("authorization", &viewer)])
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    for (query, code) in [
        ("?limit=0", "invalid_limit"),
        ("?limit=501", "invalid_limit"),
        ("?limit=many", "invalid_query"),
        ("?account=", "invalid_account"),
        ("?colour=red", "invalid_query"),
    ] {
        let (s, b) = h.get(&format!("/v1/partner/requests{query}"), &[]).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{query}: {b}"
        );
    }
    assert_eq!(
        h.count("SELECT count(*) FROM partner_requests").await,
        0,
        "reading the log is not a partner request"
    );
    let (s, b) = h.get("/v1/partner/requests", &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b, json!({ "requests": [] }));
}

#[tokio::test]
async fn a_daily_job_drops_requests_older_than_the_retention() {
    let h = crate::support::orders::harness(|s, _| {
        s.edit_section(
            "partner",
            |p: &mut sagaflow::families::partner::PartnerSettings| {
                p.request_log_days = 30;
                p.request_log_prune = Some("0 40 4 * * *".into());
            },
        )
        .unwrap();
    })
    .await;
    let now = sagaflow::engine::clock::Clock::now(&h.t.clock);
    for (path, days) in [
        ("/v1/partner/old", 40),
        ("/v1/partner/month", 31),
        ("/v1/partner/recent", 29),
    ] {
        sqlx::query(
            "INSERT INTO partner_requests (method, path, status, duration_ms, received_at)
             VALUES ('GET', $1, 200, 1, $2)",
        )
        .bind(path)
        .bind(now - chrono::Duration::days(days))
        .execute(h.pool())
        .await
        .unwrap();
    }
    // Nothing of it is due at 09:00; the next 04:40 comes round and the job runs, once (the
    // day's other cron jobs fire in the same ticks).
    let scheduler = h.t.app.scheduler("node-1").unwrap();
    scheduler.tick_once().await.unwrap();
    h.t.advance(std::time::Duration::from_secs(20 * 3600));
    scheduler.tick_once().await.unwrap();
    scheduler.tick_once().await.unwrap();
    let runs: Vec<String> = sqlx::query_scalar(
        "SELECT to_char(scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM cron_runs
         WHERE job = 'partner.request_log_prune'",
    )
    .fetch_all(h.pool())
    .await
    .unwrap();
    assert_eq!(runs, ["2026-03-02 04:40"]);
    let left: Vec<String> = sqlx::query_scalar("SELECT path FROM partner_requests ORDER BY id")
        .fetch_all(h.pool())
        .await
        .unwrap();
    assert_eq!(left, ["/v1/partner/recent"]);
}
