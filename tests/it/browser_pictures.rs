//! The console's pictures in a real headless Chromium: a compensated saga's picture shows the
//! right state on every node, the overview chart has bars for the sagas just run, and a
//! partner order's page shows a refused webhook delivery that an operator replays. Each screen
//! is audited with axe-core, checked at 390 px and kept as screenshots in `test-artifacts/`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::console_pictures::refused_partner_order;
use crate::support::browser::*;
use crate::support::*;

/// Three completed sample sagas and one compensated (its deliver step fails for good).
async fn four_sagas(t: &TestApp) -> uuid::Uuid {
    for _ in 0..3 {
        t.start("sample", json!({})).await;
    }
    let failed = t
        .start(
            "sample",
            json!({ "steps": { "deliver": { "fail": "permanent" } } }),
        )
        .await;
    t.run().await;
    assert_eq!(t.status(failed).await, "compensated");
    failed
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

#[tokio::test]
async fn a_compensated_sagas_picture_shows_each_steps_state() {
    if !browser_available() {
        return;
    }
    let t = app().await;
    let failed = four_sagas(&t).await;
    let base = serve(t.app.router()).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = start_browser(profile.path()).await;
    login(&c, &base, OPERATOR_TOKEN).await;

    c.goto(&format!("{base}/ui/sagas/{failed}")).await.unwrap();
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("svg.saga-graph"))
        .await
        .unwrap();
    let drawn = js(
        &c,
        "return Array.from(document.querySelectorAll('svg.saga-graph g.node')).map(g => ({
            cls: g.getAttribute('class'),
            name: g.querySelector('text.name').textContent,
            label: g.querySelector('text.label').textContent,
            fill: getComputedStyle(g.querySelector('rect')).fill }));",
    )
    .await;
    let drawn = drawn.as_array().unwrap();
    let got: Vec<(&str, &str, &str)> = drawn
        .iter()
        .map(|n| {
            (
                n["cls"].as_str().unwrap(),
                n["name"].as_str().unwrap(),
                n["label"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "node node-step state-compensated",
                "1. reserve",
                "↺ compensated"
            ),
            (
                "node node-undo state-compensated",
                "undo reserve",
                "↺ compensated"
            ),
            (
                "node node-step state-compensated",
                "2. charge",
                "↺ compensated"
            ),
            (
                "node node-undo state-compensated",
                "undo charge",
                "↺ compensated"
            ),
            ("node node-step state-failed", "3. deliver", "✗ failed"),
            (
                "node node-step state-not-reached",
                "4. notify",
                "○ not reached"
            ),
        ]
    );
    // The colours the stylesheet gives each state are really applied, and differ.
    let fill = |i: usize| drawn[i]["fill"].as_str().unwrap().to_string();
    assert_eq!(fill(0), "rgb(251, 239, 255)", "compensated");
    assert_eq!(fill(4), "rgb(255, 235, 233)", "failed");
    assert_eq!(fill(5), "rgb(255, 255, 255)", "not reached");
    // The text list says the same in words.
    let list = c
        .find(Locator::Css("ol.picture-list"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("deliver: ✗ failed"), "{list}");
    assert!(
        list.contains("reserve: ↺ compensated; undo sample.undo: ↺ compensated"),
        "{list}"
    );
    assert!(
        c.find(Locator::Css("#picture-refresh")).await.is_err(),
        "a finished saga's picture does not refresh"
    );
    assert_accessible(&c, "saga picture").await;
    shot(&c, "saga-picture-1280.png", 1280).await;
    assert_fits(&c, 390).await;
    shot(&c, "saga-picture-390.png", 390).await;
}

#[tokio::test]
async fn the_overview_chart_has_bars_for_the_sagas_just_run() {
    if !browser_available() {
        return;
    }
    let t = app().await;
    four_sagas(&t).await;
    let base = serve(t.app.router()).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = start_browser(profile.path()).await;
    login(&c, &base, VIEWER_TOKEN).await;

    // The default window is 24 hours; the 1 h link narrows it.
    c.find(Locator::Css("nav.windows a[href='/ui?window=1h']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(&c, "the 1 h window never opened", |u| {
        u.ends_with("window=1h")
    })
    .await;
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("svg.activity-chart[data-window='1h']"))
        .await
        .unwrap();
    let bars = js(
        &c,
        "return Array.from(document.querySelectorAll('svg.activity-chart rect.bar')).map(r => ({
            series: r.dataset.series, value: Number(r.dataset.value),
            height: r.getBBox().height, title: r.querySelector('title').textContent }));",
    )
    .await;
    let bars = bars.as_array().unwrap();
    let total = |series: &str| -> i64 {
        bars.iter()
            .filter(|b| b["series"] == series)
            .map(|b| b["value"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(
        (total("started"), total("completed"), total("compensated")),
        (4, 3, 1)
    );
    assert!(
        bars.iter().all(|b| b["height"].as_f64().unwrap() > 0.0),
        "every bar is drawn: {bars:?}"
    );
    // The tallest bar is the four started, and it fills the plot's height.
    let started = bars.iter().find(|b| b["series"] == "started").unwrap();
    assert_eq!(started["height"].as_f64().unwrap(), 190.0);
    assert!(
        started["title"]
            .as_str()
            .unwrap()
            .starts_with("4 started from 2026-03-01 09:00"),
        "{started}"
    );
    let legend = c
        .find(Locator::Css("figcaption.legend"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        legend.split_whitespace().collect::<Vec<_>>().join(" "),
        "started 4 completed 3 compensated 1"
    );
    // The cards are kept.
    assert!(c.find(Locator::Css("section.cards")).await.is_ok());
    assert_accessible(&c, "overview chart").await;
    shot(&c, "overview-chart-1280.png", 1280).await;
    assert_fits(&c, 390).await;
    shot(&c, "overview-chart-390.png", 390).await;
}

#[tokio::test]
async fn an_operator_reads_a_refused_webhook_and_replays_it() {
    if !browser_available() {
        return;
    }
    let (h, order, outbox_id, seen) = refused_partner_order().await;
    let base = serve(h.t.app.router()).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = start_browser(profile.path()).await;
    login(&c, &base, OPERATOR_TOKEN).await;

    c.find(Locator::Css("nav a[href='/ui/partner/orders']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("table.partner-orders"))
        .await
        .unwrap();
    assert_accessible(&c, "partner orders").await;
    shot(&c, "partner-orders-1280.png", 1280).await;
    assert_fits(&c, 390).await;
    c.set_window_size(1280, 900).await.unwrap();

    c.find(Locator::LinkText("T2M-PIC"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(&c, "the order page never opened", |u| {
        u.ends_with(&format!("/ui/partner/orders/{order}"))
    })
    .await;
    let webhook = format!("section.webhook[data-outbox='{outbox_id}']");
    let code = c
        .find(Locator::Css(&format!("{webhook} td.status-code")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(code, "422");
    let answer = c
        .find(Locator::Css(&format!("{webhook} td.answer")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        answer.contains("order T2M-PIC is not known here yet"),
        "{answer}"
    );
    let expiry = c
        .find(Locator::Css("#licence-expiry"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(expiry.contains("(in "), "{expiry}");
    assert_accessible(&c, "partner order").await;
    shot(&c, "partner-order-1280.png", 1280).await;
    assert_fits(&c, 390).await;
    shot(&c, "partner-order-390.png", 390).await;
    c.set_window_size(1280, 900).await.unwrap();

    c.find(Locator::Css(&format!("#replay-reason-{outbox_id}")))
        .await
        .unwrap()
        .send_keys("the partner fixed their order lookup")
        .await
        .unwrap();
    c.find(Locator::Css(&format!(
        "{webhook} button[data-action='replay']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_for_url(&c, "the replay never came back", |u| u.contains("notice=")).await;
    let notice = c
        .find(Locator::Css("p.notice"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        notice,
        format!("Webhook {outbox_id} queued for delivery again")
    );
    let relay = h.t.app.outbox_relay();
    while relay.deliver_due().await.unwrap() > 0 {}
    assert_eq!(seen.load(Ordering::SeqCst), 2, "delivered again");
    c.refresh().await.unwrap();
    let codes = js(
        &c,
        &format!(
            "return Array.from(document.querySelectorAll(\"{webhook} tr.attempt\")).map(r =>
                [r.querySelector('td.status-code').textContent, r.querySelector('td.answer').textContent]);"
        ),
    )
    .await;
    assert_eq!(codes[1], json!(["200", "accepted"]), "{codes}");
    assert_eq!(codes[0][0], "422");
    assert_accessible(&c, "partner order after replay").await;
    shot(&c, "partner-order-replayed-1280.png", 1280).await;
}
