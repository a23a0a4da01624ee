//! The hardware screens in a real headless Chromium: an operator opens the order list and a
//! hardware order that went out as two shipments (each with its items and tracking) and whose
//! automation steps used up their attempts; retries one once the bridge is back, records the
//! manual fallback with a note for the other, and sees the order complete; then reads its
//! company, its invoice, the queue overview and a job run. Every screen is audited with axe,
//! shot at 1280 px and 390 px, and must not scroll sideways on a phone.

use fantoccini::{Client, Locator};

use crate::console_hardware::two_part_parked;
use crate::support::OPERATOR_TOKEN;
use crate::support::browser::*;
use crate::support::hardware::*;

/// Audits, shoots at both widths and checks the phone width of the page on screen.
async fn screen(c: &Client, name: &str) {
    assert_accessible(c, name).await;
    shot(c, &format!("hardware-{name}-1280.png"), 1280).await;
    assert_fits(c, 390).await;
    shot(c, &format!("hardware-{name}-390.png"), 390).await;
    c.set_window_size(1280, 900).await.unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Fills `field` of the form posting to `action` and submits it.
async fn submit(c: &Client, action: &str, field: &str, value: &str) {
    let form = c
        .find(Locator::Css(&format!("form[action=\"{action}\"]")))
        .await
        .unwrap_or_else(|e| panic!("form {action}: {e}"));
    form.find(Locator::Css(&format!("[name={field}]")))
        .await
        .unwrap()
        .send_keys(value)
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn operator_resolves_an_exhausted_step_of_a_two_part_order() {
    if !browser_available() {
        return;
    }
    let h = hardware_exhausting_automation().await;
    let p = two_part_parked(&h).await;
    // `localhost` is a secure context, so the Secure session cookie is kept over plain HTTP.
    let base = h.base.replace("127.0.0.1", "localhost");
    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = start_browser(profile.path()).await;
    login(&c, &base, OPERATOR_TOKEN).await;

    // The order list, business key first; the nav leads there.
    c.find(Locator::LinkText("Hardware"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(&c, "the order list", |u| u.ends_with("/ui/orders")).await;
    let list = text(&c, "#orders").await;
    assert!(
        list.contains(&p.code) && list.contains("2 steps failed"),
        "{list}"
    );
    screen(&c, "order-list").await;

    // The order: two shipments, each with its item, and the exhausted steps.
    c.find(Locator::LinkText(&p.code))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let order_url = format!("/ui/orders/{}", p.order);
    wait_for_url(&c, "the order page", |u| u.contains(&order_url)).await;
    let shipments = c.find_all(Locator::Css("section.shipment")).await.unwrap();
    assert_eq!(shipments.len(), 2, "a two-part shipment");
    for (i, s) in shipments.iter().enumerate() {
        let t = s.text().await.unwrap();
        assert!(t.contains(&format!("Shipment {} of 2", i + 1)), "{t}");
        assert!(t.contains("SENSOR-T1") && t.contains(&p.tracking[i]), "{t}");
    }
    for step in p.steps {
        let t = text(&c, &format!("#step-{step}")).await;
        assert!(t.contains("attempts spent") && t.contains("3 of 3"), "{t}");
    }
    assert!(
        text(&c, "#timeline")
            .await
            .contains("automation.step_failed")
    );
    screen(&c, "order-detail").await;

    // The bridge is back: retry the first step; the second is still failed, so the saga
    // parks again.
    h.sim.set_fault("bridge.run_automation", None).unwrap();
    submit(
        &c,
        &format!("/ui/automation-steps/{}/retry", p.steps[0]),
        "reason",
        "bridge is back",
    )
    .await;
    c.wait().for_element(Locator::Css("#notice")).await.unwrap();
    assert!(text(&c, "#notice").await.contains("Retry queued"));
    h.t.run().await;
    assert_eq!(h.t.status(p.saga).await, "parked");

    // The second: the manual fallback with a note; the order completes.
    c.goto(&format!("{base}{order_url}")).await.unwrap();
    let note = "devices registered by hand, ticket OPS-42";
    submit(
        &c,
        &format!("/ui/automation-steps/{}/fallback", p.steps[1]),
        "note",
        note,
    )
    .await;
    c.wait().for_element(Locator::Css("#notice")).await.unwrap();
    assert!(text(&c, "#notice").await.contains("Fallback recorded"));
    h.t.run().await;
    assert_eq!(h.t.status(p.saga).await, "completed");
    c.goto(&format!("{base}{order_url}")).await.unwrap();
    assert_eq!(text(&c, "#saga-status").await, "completed");
    let second = text(&c, &format!("#step-{}", p.steps[1])).await;
    assert!(
        second.contains("fallback_triggered") && second.contains(note),
        "{second}"
    );
    let first = text(&c, &format!("#step-{}", p.steps[0])).await;
    assert!(first.contains("succeeded"), "{first}");
    assert!(
        c.find_all(Locator::Css("button[data-action]"))
            .await
            .unwrap()
            .is_empty(),
        "nothing is left to resolve"
    );
    shot(&c, "hardware-order-completed-1280.png", 1280).await;

    // Its invoice, now paid, from the order's page; then the list.
    c.find(Locator::Css("#invoice + p a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(&c, "the invoice page", |u| u.contains("/ui/invoices/")).await;
    assert!(text(&c, "#invoice-status").await.contains("paid"));
    assert!(text(&c, "#invoice-balance").await.starts_with("0.00"));
    let pdf = c
        .find(Locator::Css("#pdf-link"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(pdf.ends_with("/pdf"));
    screen(&c, "invoice-detail").await;
    c.goto(&format!("{base}/ui/invoices?company=ACME"))
        .await
        .unwrap();
    assert!(text(&c, "#invoices").await.contains("paid"));
    screen(&c, "invoice-list").await;

    // The company: contacts with roles, the address book with its defaults, its orders.
    c.goto(&format!("{base}/ui/companies/ACME")).await.unwrap();
    assert!(text(&c, "#contacts").await.contains("★ primary"));
    assert!(text(&c, "#addresses").await.contains("★ default shipping"));
    assert!(text(&c, "#company-orders").await.contains(&p.code));
    screen(&c, "company").await;

    // The queues: per-queue averages, then the automate step's job run, linked to its record.
    c.goto(&format!("{base}/ui/queues")).await.unwrap();
    let queues = text(&c, "#queue-averages").await;
    assert!(
        queues.contains("automation") && queues.contains("Average wait"),
        "{queues}"
    );
    screen(&c, "queue-overview").await;
    c.goto(&format!("{base}/ui/job-runs/{}/automate", p.saga))
        .await
        .unwrap();
    assert!(text(&c, "#job-status").await.contains("completed"));
    // The last round found no step due (one succeeded, one fell back): it worked on the order.
    let related = text(&c, "#job-related").await;
    assert!(related.contains("order"), "{related}");
    screen(&c, "job-run").await;
    c.find(Locator::Css("#job-related a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(&c, "the job run's order", |u| u.contains(&order_url)).await;
}
