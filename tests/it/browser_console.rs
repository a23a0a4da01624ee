//! The console in a real headless Chromium (Debian's `chromium` + `chromedriver`, driven with
//! fantoccini): log in, filter to failed sagas, open one, retry it with a reason, see it finish,
//! and check a viewer sees no action buttons. Screenshots of the overview and of a saga detail,
//! at 1280 px and 390 px, go to `test-artifacts/`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::browser::*;
use crate::support::*;
use async_trait::async_trait;
use fantoccini::Locator;
use serde_json::json;

use sagaflow::engine::action::{Action, StepContext, StepError, StepOutcome};

/// A compensation that fails for good until the test "fixes" the provider.
struct BrokenRefund {
    broken: Arc<AtomicBool>,
}

#[async_trait]
impl Action for BrokenRefund {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(StepError::permanent(
                "refund_rejected",
                "the processor rejected the refund",
            ));
        }
        Ok(StepOutcome::done(json!({ "undone": ctx.step })))
    }
}

#[tokio::test]
async fn operator_retries_a_failed_saga_and_a_viewer_sees_no_actions() {
    if !browser_available() {
        return;
    }
    let broken = Arc::new(AtomicBool::new(true));
    let flag = broken.clone();
    let t = app_with(settings().await, move |r| {
        r.register("sample.undo", BrokenRefund { broken: flag });
    })
    .await;
    let ok = t.start("sample", json!({})).await;
    let failed = t
        .start(
            "sample",
            json!({ "steps": { "deliver": { "fail": "permanent" } } }),
        )
        .await;
    t.run().await;
    assert_eq!(t.status(ok).await, "completed");
    assert_eq!(t.status(failed).await, "failed");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = t.app.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    // `localhost` is a secure context, so the Secure session cookie is kept over plain HTTP.
    let base = format!("http://localhost:{port}");

    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = start_browser(profile.path()).await;

    c.goto(&format!("{base}/ui/login")).await.unwrap();
    assert_accessible(&c, "sign-in").await;
    login(&c, &base, OPERATOR_TOKEN).await;
    let page = c.source().await.unwrap();
    assert!(page.contains("Needs attention"));
    assert_accessible(&c, "overview").await;
    shot(&c, "overview-1280.png", 1280).await;
    assert_fits(&c, 390).await;
    shot(&c, "overview-390.png", 390).await;
    c.set_window_size(1280, 900).await.unwrap();

    // Filter to failed sagas.
    c.goto(&format!("{base}/ui/sagas")).await.unwrap();
    c.find(Locator::Css("#f-status"))
        .await
        .unwrap()
        .select_by_value("failed")
        .await
        .unwrap();
    c.find(Locator::Css("form.filters button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The unfiltered page has the same table, so wait for the navigation itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !c
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("status=failed")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the filter never navigated"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("table.sagas"))
        .await
        .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("status=failed")
    );
    let rows = c
        .find_all(Locator::Css("table.sagas tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "only the failed saga is listed");
    assert_accessible(&c, "saga list").await;

    // Open it.
    c.find(Locator::Css(&format!("a[href='/ui/sagas/{failed}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#saga-status"))
        .await
        .unwrap();
    assert_eq!(status_text(&c).await, "failed");
    let page = c.source().await.unwrap();
    assert!(page.contains("refund_rejected"), "the last error is shown");
    assert_accessible(&c, "saga detail").await;
    shot(&c, "detail-failed-1280.png", 1280).await;
    assert_fits(&c, 390).await;
    shot(&c, "detail-failed-390.png", 390).await;
    c.set_window_size(1280, 900).await.unwrap();

    // The refund is fixed at the processor; retry with a reason.
    broken.store(false, Ordering::SeqCst);
    c.find(Locator::Css("#reason-retry"))
        .await
        .unwrap()
        .send_keys("processor fixed the refund endpoint")
        .await
        .unwrap();
    c.find(Locator::Css("button[data-action=retry]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("p.notice"))
        .await
        .unwrap();
    assert_eq!(status_text(&c).await, "compensating");

    // The worker finishes it; the page shows it done.
    t.run().await;
    c.refresh().await.unwrap();
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#saga-status"))
        .await
        .unwrap();
    assert_eq!(status_text(&c).await, "compensated");
    assert!(c.source().await.unwrap().contains("operator:olivia"));
    shot(&c, "detail-after-retry-1280.png", 1280).await;
    let (_, audit) = t
        .call("GET", &format!("/v1/audit?saga_id={failed}"), None, &[])
        .await;
    assert_eq!(
        audit["items"][0]["reason"],
        "processor fixed the refund endpoint"
    );

    // A viewer sees the same saga without any action button.
    c.find(Locator::Css("header .who form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#token"))
        .await
        .unwrap();
    login(&c, &base, VIEWER_TOKEN).await;
    for id in [failed, ok] {
        c.goto(&format!("{base}/ui/sagas/{id}")).await.unwrap();
        c.wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css("#saga-status"))
            .await
            .unwrap();
        let buttons = c
            .find_all(Locator::Css("button[data-action]"))
            .await
            .unwrap();
        assert!(buttons.is_empty(), "a viewer sees no action buttons");
    }
    c.goto(&format!("{base}/ui/attention")).await.unwrap();
    assert!(!c.source().await.unwrap().contains("Retry in bulk"));
    assert_accessible(&c, "needs attention").await;
    c.goto(&format!("{base}/ui/queues")).await.unwrap();
    assert_accessible(&c, "queues").await;
    c.goto(&format!("{base}/ui/sagas/{failed}")).await.unwrap();
    shot(&c, "detail-viewer-390.png", 390).await;

    // A customer calls about a bundle: the header's search box finds it by phone, however it
    // is typed, and opens it titled by its order code, its id ready to copy.
    let shop = bearer(SERVICE_TOKEN);
    let user = uuid::Uuid::now_v7();
    let (s, b) = t
        .call(
            "POST",
            &format!("/v1/wallets/{user}/top-ups"),
            Some(json!({ "amount": 50.0 })),
            &[("authorization", &shop), ("idempotency-key", "seed")],
        )
        .await;
    assert!(s.is_success(), "{b}");
    let (s, b) = t
        .call(
            "POST",
            "/v1/orders/data-bundles",
            Some(json!({ "user_id": user, "network": "MTN", "size": "5GB", "phone_number": "0241234567" })),
            &[("authorization", &shop), ("idempotency-key", "k1")],
        )
        .await;
    assert!(s.is_success(), "{b}");
    let (bundle, code) = (
        b["saga_id"].as_str().unwrap(),
        b["order_code"].as_str().unwrap(),
    );
    c.set_window_size(1280, 900).await.unwrap();
    let find = c.find(Locator::Css("#find-q")).await.unwrap();
    find.send_keys("+233 24 123 4567").await.unwrap();
    c.find(Locator::Css("form.find button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !c
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with(&format!("/ui/sagas/{bundle}"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the search never opened the bundle"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let h1 = c
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(h1.starts_with(code), "{h1}");
    let copy = c.find(Locator::Css("dd button.copy")).await.unwrap();
    assert!(
        copy.is_displayed().await.unwrap(),
        "the copy button is shown where the clipboard works"
    );
    shot(&c, "search-by-phone-1280.png", 1280).await;
    c.close().await.unwrap();
}
