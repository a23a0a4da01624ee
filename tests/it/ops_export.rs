//! The CSV export: 10k rows streamed from one database cursor, arriving in many small chunks
//! rather than one buffered body, with the same filters as the list.

use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

#[tokio::test]
async fn ten_thousand_rows_stream_in_bounded_chunks() {
    let t = app().await;
    // Seed rows straight into the table: the export is under test, not the start path.
    sqlx::query(
        "INSERT INTO sagas (id, workflow, workflow_version, business_key, status, state, data, created_at, updated_at)
         SELECT gen_random_uuid(), 'sample', 1, 'key,' || i, CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'completed' END,
                '{}'::jsonb, '{}'::jsonb, $1 - i * interval '1 second', $1
         FROM generate_series(1, 10000) AS i",
    )
    .bind(t.app.rt.clock.now())
    .execute(t.app.store().pool())
    .await
    .unwrap();
    let req = Request::get("/v1/sagas/export.csv?workflow=sample")
        .header("authorization", bearer(VIEWER_TOKEN))
        .body(Body::empty())
        .unwrap();
    let res = t.app.router().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    let mut body = res.into_body();
    let (mut chunks, mut largest, mut lines) = (0usize, 0usize, 0usize);
    let mut first = String::new();
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        chunks += 1;
        largest = largest.max(data.len());
        lines += data.iter().filter(|b| **b == b'\n').count();
        if first.len() < 300 {
            first.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert_eq!(lines, 10_001, "a header and 10k rows");
    assert!(
        chunks > 1_000,
        "rows arrive as they are read ({chunks} chunks)"
    );
    assert!(
        largest < 64 * 1024,
        "no chunk holds the whole export ({largest} bytes)"
    );
    assert!(first.starts_with("id,workflow,status,business_key,"));
    assert!(
        first.contains(",\"key,1\","),
        "a comma in a field is quoted: {first}"
    );

    // Same filters as the list.
    let (s, _) = t
        .call("GET", "/v1/sagas/export.csv?status=bogus", None, &[])
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let req = Request::get("/v1/sagas/export.csv?status=failed")
        .header("authorization", bearer(OPERATOR_TOKEN))
        .body(Body::empty())
        .unwrap();
    let res = t.app.router().oneshot(req).await.unwrap();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1_001);
    let _ = json!({});
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_stalled_downloads_leave_the_workers_their_connections() {
    let mut settings = settings().await;
    settings.database.max_connections = 6;
    settings.database.acquire_timeout = std::time::Duration::from_secs(3);
    let t = app_with(settings, |_| {}).await;
    sqlx::query(
        "INSERT INTO sagas (id, workflow, workflow_version, status, state, data, created_at, updated_at)
         SELECT gen_random_uuid(), 'sample', 1, 'completed', '{}'::jsonb, '{}'::jsonb, $1 - i * interval '1 second', $1
         FROM generate_series(1, 10000) AS i",
    )
    .bind(t.app.rt.clock.now())
    .execute(t.app.store().pool())
    .await
    .unwrap();
    // Twenty clients start a download, read its first chunk and then stall: each export's
    // cursor stays open, waiting for them.
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let req = Request::get("/v1/sagas/export.csv")
            .header("authorization", bearer(VIEWER_TOKEN))
            .body(Body::empty())
            .unwrap();
        let res = t.app.router().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let mut body = res.into_body();
        let first = body.frame().await.expect("a first chunk").unwrap();
        assert!(first.is_data());
        stalled.push(body);
    }
    // Meanwhile sagas start and run to the end on the workers' pool of six.
    let saga = t.start("sample", json!({})).await;
    t.advance(mins(1));
    t.run().await;
    assert_eq!(t.status(saga).await, "completed");
    drop(stalled);
}
