//! Outbound HTTP stays bounded: a provider client follows no redirect (its credentials and
//! body go nowhere unconfigured) and stops reading an answer past 1 MiB.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use sagaflow::domain::phone::PhoneNumber;
use sagaflow::providers::Error;
use sagaflow::providers::config::SmsConfig;
use sagaflow::providers::sms::SmsClient;

/// Serves `router` on a free loopback port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn sms(base: &str) -> SmsClient {
    SmsClient::new(&SmsConfig {
        base_url: base.to_string(),
        ..SmsConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn provider_clients_follow_no_redirect_and_cap_what_they_read() {
    // Where a redirect would lead: it must never be called.
    let stolen = Arc::new(AtomicUsize::new(0));
    let hits = stolen.clone();
    let elsewhere = serve(Router::new().fallback(move || {
        hits.fetch_add(1, Ordering::SeqCst);
        async { "{}" }
    }))
    .await;
    let target = format!("{elsewhere}/collect");
    let redirecting = serve(Router::new().fallback(move || {
        let target = target.clone();
        async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]) }
    }))
    .await;
    let phone = PhoneNumber::parse("0241234567").unwrap();
    let sent = sms(&redirecting).send(&phone, "hello", "k-1").await;
    assert!(sent.result.is_err(), "a redirect is not a delivery");
    assert_eq!(
        stolen.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );

    // Two mebibytes of answer: refused once past one, not parsed, not kept.
    let huge = serve(Router::new().fallback(|| async {
        (
            [(header::CONTENT_TYPE, "application/json")],
            "x".repeat(2 * 1024 * 1024),
        )
            .into_response()
    }))
    .await;
    let sent = sms(&huge).send(&phone, "hello", "k-2").await;
    match sent.result {
        Err(Error::UnknownOutcome { message, .. }) => {
            assert!(message.contains("over 1048576 bytes"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let kept = sent.exchange.response_body.as_deref().unwrap_or("").len();
    assert!(kept < 1024 * 1024, "kept {kept} bytes of the answer");
}
