//! Console sessions live on the server: the cookie holds a random id (never the API token,
//! in any encoding), the server keeps only its hash, and the session ends at sign-out, after
//! being idle and at its absolute limit. A cookie replayed after any of those is refused.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use crate::support::*;

async fn send(t: &TestApp, req: Request<Body>) -> (StatusCode, Option<String>) {
    let res = t.app.router().oneshot(req).await.unwrap();
    let location = res
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string());
    (res.status(), location)
}

async fn sign_in(t: &TestApp, token: &str) -> String {
    let req = Request::post("/ui/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={token}")))
        .unwrap();
    let res = t.app.router().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    cookie.split(';').next().unwrap().to_string()
}

async fn overview(t: &TestApp, cookie: &str) -> (StatusCode, Option<String>) {
    let req = Request::get("/ui")
        .header("cookie", cookie)
        .body(Body::empty())
        .unwrap();
    send(t, req).await
}

fn signed_out(answer: (StatusCode, Option<String>)) -> bool {
    answer == (StatusCode::SEE_OTHER, Some("/ui/login".to_string()))
}

#[tokio::test]
async fn a_session_cookie_replayed_after_sign_out_is_refused() {
    let t = app().await;
    let cookie = sign_in(&t, OPERATOR_TOKEN).await;
    let id = cookie
        .strip_prefix("sagaflow_session=")
        .unwrap()
        .to_string();
    let token_hash = hex::encode(Sha256::digest(OPERATOR_TOKEN));
    for form in [
        OPERATOR_TOKEN.to_string(),
        hex::encode(OPERATOR_TOKEN),
        token_hash.clone(),
    ] {
        assert!(
            !id.contains(&form),
            "the cookie carries the token: {cookie}"
        );
    }
    assert_eq!(id.len(), 64, "{id}");
    // The server keeps a hash of the id, never the id.
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT id_sha256, token_sha256 FROM console_sessions")
            .fetch_all(t.app.store().pool())
            .await
            .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, id);
    assert_eq!(stored[0].1, token_hash);
    assert_eq!(overview(&t, &cookie).await.0, StatusCode::OK);

    let req = Request::post("/ui/logout")
        .header("cookie", &cookie)
        .body(Body::empty())
        .unwrap();
    assert!(signed_out(send(&t, req).await));
    // The browser dropped the cookie; a copy of it is worth nothing now.
    assert!(signed_out(overview(&t, &cookie).await));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM console_sessions")
        .fetch_one(t.app.store().pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    // A made-up id, or the old token-in-a-cookie form, gets nowhere either.
    let forged = format!("sagaflow_session={}", hex::encode(OPERATOR_TOKEN));
    assert!(signed_out(overview(&t, &forged).await));
}

#[tokio::test]
async fn sessions_expire_when_idle_and_at_their_absolute_limit() {
    let t = app().await;
    let idle = sign_in(&t, VIEWER_TOKEN).await;
    t.advance(mins(29));
    assert_eq!(
        overview(&t, &idle).await.0,
        StatusCode::OK,
        "used within the idle limit"
    );
    t.advance(mins(31));
    assert!(signed_out(overview(&t, &idle).await), "idle for 31 minutes");

    // Busy all day: still ends 12 hours after sign-in.
    let busy = sign_in(&t, OPERATOR_TOKEN).await;
    for _ in 0..35 {
        t.advance(mins(20));
        assert_eq!(overview(&t, &busy).await.0, StatusCode::OK);
    }
    t.advance(mins(20));
    assert!(
        signed_out(overview(&t, &busy).await),
        "past the absolute limit"
    );
}

#[tokio::test]
async fn console_pages_mask_personal_data_too() {
    let t = app().await;
    let (s, b) = t
        .call(
            "POST",
            "/v1/sagas",
            Some(serde_json::json!({
                "workflow": "sample",
                "input": { "contact": "ada@acme.test", "phone": "024 123 4567" },
                "business_key": "0241234567",
            })),
            &[("idempotency-key", "pii")],
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = b["saga_id"].as_str().unwrap().to_string();
    let cookie = sign_in(&t, VIEWER_TOKEN).await;
    for path in ["/ui/sagas".to_string(), format!("/ui/sagas/{id}")] {
        let req = Request::get(path.as_str())
            .header("cookie", &cookie)
            .body(Body::empty())
            .unwrap();
        let res = t.app.router().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let html = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        let html = String::from_utf8_lossy(&html);
        for raw in ["0241234567", "024 123 4567", "ada@acme.test"] {
            assert!(!html.contains(raw), "{path} shows {raw}");
        }
        assert!(html.contains("024****567"), "{path}");
    }
}
