//! The data-bundle screens in headless Chromium, as an operator uses them, against orders
//! placed through the shop's API and fulfilled by the provider simulator (its first attempts
//! made to fail by fault injection): (1) find a failed order by phone, read the provider's
//! response, retry it and see it delivered; (2) retry three failed orders at once, then sign in
//! as a viewer and see no buttons. Deliveries are counted at the simulator. Every screen is
//! audited with axe-core, fits 390 px, and is kept as a screenshot under `test-artifacts/`.

use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::console_bundles::{fail_next, funded, place, settle};
use crate::support::browser::*;
use crate::support::orders::harness;
use crate::support::{OPERATOR_TOKEN, VIEWER_TOKEN};

async fn wait_css(c: &Client, css: &str) {
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn rows(c: &Client) -> usize {
    c.find_all(Locator::Css("table.bundles tbody tr[data-order]"))
        .await
        .unwrap()
        .len()
}

/// Shots at both widths, the 390 px fit and the accessibility audit of the current screen.
async fn check_screen(c: &Client, screen: &str, file: &str) {
    assert_accessible(c, screen).await;
    shot(c, &format!("{file}-1280.png"), 1280).await;
    assert_fits(c, 390).await;
    shot(c, &format!("{file}-390.png"), 390).await;
    c.set_window_size(1280, 900).await.unwrap();
}

#[tokio::test]
async fn an_operator_finds_a_failed_order_by_phone_reads_the_answer_and_retries_it() {
    if !browser_available() {
        return;
    }
    let h = harness(|_, _| {}).await;
    let user = funded(&h, 100.0).await;
    // Another customer's order, delivered: the phone filter must leave it out.
    let (_, _, other) = place(&h, user, "MTN", 1, "0557654321").await;
    h.t.run().await;
    settle(&h, other, 1).await;
    fail_next(&h, 500);
    let (_, code, saga) = place(&h, user, "MTN", 5, "0241234567").await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "running", "its retry is scheduled");

    let base = serve(h.t.app.router()).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = start_browser(profile.path()).await;
    login(&c, &base, OPERATOR_TOKEN).await;
    c.find(Locator::Css("nav a[href='/ui/bundles']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_css(&c, "table.bundles").await;
    assert_eq!(rows(&c).await, 2);
    check_screen(&c, "data-bundle orders", "bundles-list").await;

    // The customer reads the number out the international way.
    c.find(Locator::Css("#b-phone"))
        .await
        .unwrap()
        .send_keys("+233 24 123 4567")
        .await
        .unwrap();
    c.find(Locator::Css("form.filters button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(&c, "the phone filter never applied", |u| {
        u.contains("phone=")
    })
    .await;
    wait_css(&c, "table.bundles").await;
    assert_eq!(rows(&c).await, 1, "only that customer's order");
    assert_eq!(text(&c, "table.bundles tbody th a").await, code);
    assert!(text(&c, "table.bundles tbody").await.contains("024****567"));

    c.find(Locator::LinkText(&code))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_css(&c, "#order-state").await;
    assert_eq!(text(&c, "#order-state").await, "failed");
    let response = text(&c, "pre.response").await;
    assert!(response.contains("simulated fault 500"), "{response}");
    assert!(response.contains("\"status\": 500"), "{response}");
    assert!(
        !c.source().await.unwrap().contains("0241234567"),
        "phone masked"
    );
    check_screen(&c, "data-bundle order (failed)", "bundle-failed").await;

    c.find(Locator::Css("#reason-retry"))
        .await
        .unwrap()
        .send_keys("reseller recovered from its outage")
        .await
        .unwrap();
    c.find(Locator::Css("button[data-action=retry]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_css(&c, "#bundle-notice").await;
    assert!(text(&c, "#bundle-notice").await.contains("retried"));

    // The worker submits again now (not in 5 minutes); the simulator delivers and says so.
    h.t.run().await;
    settle(&h, saga, 1).await;
    c.refresh().await.unwrap();
    wait_css(&c, "#order-state").await;
    assert_eq!(text(&c, "#order-state").await, "success");
    assert!(c.source().await.unwrap().contains("Attempt 2 of"));
    check_screen(&c, "data-bundle order (delivered)", "bundle-delivered").await;
    let stats = h.sim.stats();
    assert_eq!(
        stats.deliveries("reseller.create_order", &format!("{saga}:fulfill:1")),
        0
    );
    assert_eq!(
        stats.deliveries("reseller.create_order", &format!("{saga}:fulfill:2")),
        1,
        "delivered once"
    );
    // The saga page is one click away.
    c.find(Locator::Css("#saga-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_css(&c, "#saga-status").await;
    assert_eq!(text(&c, "#saga-status").await, "completed");
}

#[tokio::test]
async fn an_operator_retries_three_failed_orders_at_once_and_a_viewer_sees_no_buttons() {
    if !browser_available() {
        return;
    }
    let h = harness(|_, _| {}).await;
    let user = funded(&h, 200.0).await;
    let mut sagas = Vec::new();
    for phone in ["0241000001", "0241000002", "0241000003"] {
        fail_next(&h, 500);
        let (_, _, saga) = place(&h, user, "MTN", 5, phone).await;
        h.t.run().await;
        assert_eq!(h.t.status(saga).await, "running");
        sagas.push(saga);
    }

    let base = serve(h.t.app.router()).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = start_browser(profile.path()).await;
    login(&c, &base, OPERATOR_TOKEN).await;
    c.goto(&format!("{base}/ui/bundles?status=failed"))
        .await
        .unwrap();
    wait_css(&c, "table.bundles").await;
    assert_eq!(rows(&c).await, 3);
    for b in c.find_all(Locator::Css("input[name=ids]")).await.unwrap() {
        b.click().await.unwrap();
    }
    // Choosing stops the auto-refresh, so the page keeps the choice.
    let ticked = c
        .execute(
            "return document.getElementById('auto-refresh').checked;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(ticked, serde_json::json!(false));
    c.find(Locator::Css("#bundle-reason"))
        .await
        .unwrap()
        .send_keys("reseller back after maintenance")
        .await
        .unwrap();
    check_screen(&c, "data-bundle orders (choosing)", "bundles-bulk").await;
    c.find(Locator::Css("#bulk-retry"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_css(&c, "#bundle-notice").await;
    let notice = text(&c, "#bundle-notice").await;
    assert!(notice.starts_with("Retried 3 of 3"), "{notice}");
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("status=failed")
    );

    h.t.run().await;
    for saga in &sagas {
        settle(&h, *saga, 1).await;
    }
    c.goto(&format!("{base}/ui/bundles?status=success"))
        .await
        .unwrap();
    wait_css(&c, "table.bundles").await;
    assert_eq!(rows(&c).await, 3, "all three delivered");
    let stats = h.sim.stats();
    for saga in &sagas {
        let once = (1..=3)
            .map(|n| stats.deliveries("reseller.create_order", &format!("{saga}:fulfill:{n}")))
            .sum::<u64>();
        assert_eq!(once, 1, "{saga} delivered once");
    }

    // A viewer sees the failed list and the orders with no action at all.
    c.find(Locator::Css("header .who form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_css(&c, "#token").await;
    fail_next(&h, 500);
    let (failed_id, _, failed_saga) = place(&h, user, "MTN", 5, "0241000004").await;
    h.t.run().await;
    assert_eq!(h.t.status(failed_saga).await, "running");
    login(&c, &base, VIEWER_TOKEN).await;
    c.goto(&format!("{base}/ui/bundles?status=failed"))
        .await
        .unwrap();
    wait_css(&c, "table.bundles").await;
    assert_eq!(rows(&c).await, 1);
    for css in ["input[name=ids]", "button.row-retry", "#bulk-retry"] {
        assert!(
            c.find_all(Locator::Css(css)).await.unwrap().is_empty(),
            "a viewer sees {css}"
        );
    }
    check_screen(&c, "data-bundle orders (viewer)", "bundles-viewer").await;
    c.goto(&format!("{base}/ui/bundles/{failed_id}"))
        .await
        .unwrap();
    wait_css(&c, "#order-state").await;
    assert!(
        c.find_all(Locator::Css("main form"))
            .await
            .unwrap()
            .is_empty(),
        "no action form for a viewer"
    );
}
