//! `server.metrics_bind`: Prometheus scrapes its own port and the API port has no /metrics.

use tokio_util::sync::CancellationToken;

use sagaflow::app::Role;

use crate::support;

#[tokio::test]
async fn metrics_move_to_their_own_port() {
    let mut settings = support::settings().await;
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics_addr = free.local_addr().unwrap();
    drop(free);
    settings.server.metrics_bind = Some(metrics_addr.to_string());
    let t = support::app_with(settings, |_| {}).await;
    // Something worth exporting.
    t.start("sample_six", serde_json::json!({})).await;

    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    let stop = CancellationToken::new();
    let node = tokio::spawn(t.app.serve_on(Some(api), Role::Api, stop.clone()));

    let http = reqwest::Client::new();
    let mut scraped = None;
    for _ in 0..50 {
        if let Ok(res) = http
            .get(format!("http://{metrics_addr}/metrics"))
            .send()
            .await
        {
            scraped = Some((res.status(), res.text().await.unwrap()));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, body) = scraped.expect("the metrics port answers");
    assert_eq!(status, 200);
    assert!(
        body.contains("# HELP sagaflow_sagas_started_total"),
        "{body}"
    );

    let on_api = http
        .get(format!("http://{api_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        on_api.status(),
        404,
        "the API port no longer serves /metrics"
    );
    let health = http
        .get(format!("http://{api_addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    stop.cancel();
    node.await.unwrap().unwrap();
}
