//! The customers' billing portal in a real headless Chromium: a billing contact opens the
//! link the shop asked for, sees ACME's invoices (one overdue), downloads an invoice's PDF
//! and reads it back, pays the overdue one through the payment simulator's hosted checkout,
//! lands on the portal's payment page showing it paid, and cannot reach another company's
//! invoice by changing the URL (404). A reused link and an expired one are refused.
//! Screenshots of each portal screen go to `test-artifacts/`; each passes axe-core.

use std::time::Duration;

use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use sagaflow::families::hardware::HardwareSettings;
use sagaflow::simulator::{self, ConfigPatch, SimulatorConfig};

use crate::support::OPERATOR_TOKEN;
use crate::support::browser::*;
use crate::support::hardware::{price_book, seed_directory};
use crate::support::orders::Harness;

/// The hardware harness, but with the server's address known before the app is built, so
/// the processor's success and cancel URLs and the portal links point at this server.
async fn portal_harness() -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // `localhost` is a secure context, so the Secure portal cookie is kept over plain HTTP.
    let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let sim = simulator::start(SimulatorConfig::default())
        .await
        .expect("start simulator");
    let mut settings = crate::support::settings().await;
    settings.providers = sim.providers_config();
    // The manual clock is months from the wall clock the simulator signs with.
    settings.providers.signature_tolerance = Duration::from_secs(3 * 365 * 24 * 3600);
    settings
        .edit_section::<HardwareSettings>("hardware", |hw| {
            hw.success_url = format!("{base}/portal/checkout/{{CHECKOUT_SESSION_ID}}");
            hw.cancel_url =
                format!("{base}/portal/checkout/{{CHECKOUT_SESSION_ID}}?outcome=cancelled");
            hw.portal_base_url = base.clone();
        })
        .unwrap();
    let t = crate::support::app_with(settings, |_| {}).await;
    let router = t.app.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    sim.set_webhook_base(&format!("{base}/v1/webhooks"));
    sim.configure(ConfigPatch {
        checkout_auto_complete: Some(false),
        courier_auto_progress: Some(false),
        prices: price_book(),
        ..Default::default()
    })
    .unwrap();
    let h = Harness {
        t,
        sim,
        base,
        http: reqwest::Client::new(),
    };
    seed_directory(&h).await;
    h
}

async fn operator(h: &Harness, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut req = h
        .http
        .request(method.parse().unwrap(), format!("{}{path}", h.base))
        .bearer_auth(OPERATOR_TOKEN);
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {path}: {status} {v}");
    v
}

/// An issued manual invoice for `company`: its id and number.
async fn invoice(h: &Harness, company: &str, description: &str, cents: i64) -> (Uuid, String) {
    let body = json!({
        "company_id": company,
        "lines": [{"description": description, "quantity": 2, "unit_amount_minor": cents}],
    });
    let draft = operator(h, "POST", "/v1/invoices", Some(&body)).await;
    let id = draft["id"].as_str().unwrap().to_string();
    let issued = operator(h, "POST", &format!("/v1/invoices/{id}/issue"), None).await;
    (
        id.parse().unwrap(),
        issued["number"].as_str().unwrap().to_string(),
    )
}

/// A link support asks for (the invoices here are manual: the shop has ordered nothing for
/// ACME, so its service would find no such company).
async fn link(h: &Harness) -> String {
    let res = h
        .http
        .post(format!("{}/v1/companies/ACME/portal-sessions", h.base))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["url"].as_str().unwrap().to_string()
}

async fn heading(c: &Client) -> String {
    c.find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The HTTP status of the page the browser shows, read from the Navigation Timing entry.
async fn page_status(c: &Client) -> i64 {
    c.execute(
        "const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : 0;",
        vec![],
    )
    .await
    .unwrap()
    .as_i64()
    .unwrap()
}

/// Checks the screen at both widths, saves both screenshots, and audits it.
async fn screen(c: &Client, name: &str) {
    assert_accessible(c, name).await;
    shot(c, &format!("portal-{name}-1280.png"), 1280).await;
    assert_fits(c, 390).await;
    shot(c, &format!("portal-{name}-390.png"), 390).await;
    c.set_window_size(1280, 900).await.unwrap();
}

#[tokio::test]
async fn a_billing_contact_downloads_an_invoice_and_pays_an_overdue_one() {
    if !browser_available() {
        return;
    }
    let h = portal_harness().await;
    // Net 14: one invoice paid in time, one left overdue; another company's invoice.
    operator(
        &h,
        "PATCH",
        "/v1/companies/ACME",
        Some(&json!({"payment_terms_days": 14})),
    )
    .await;
    let (overdue, overdue_number) = invoice(&h, "ACME", "Sensor installation", 21_000).await;
    let (settled, _) = invoice(&h, "ACME", "Site survey", 5_000).await;
    operator(
        &h,
        "POST",
        &format!("/v1/invoices/{settled}/payments"),
        Some(&json!({"amount_minor": 10_000, "reference": "wire-7"})),
    )
    .await;
    operator(
        &h,
        "POST",
        "/v1/companies",
        Some(&json!({"id": "GLOBEX", "name": "Globex Corporation", "company_mirror_id": "legacy-globex"})),
    )
    .await;
    let (theirs, their_number) = invoice(&h, "GLOBEX", "Secret project", 77_700).await;
    h.t.advance(Duration::from_secs(20 * 24 * 3600));

    let url = link(&h).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = start_browser(profile.path()).await;

    // The link opens the portal on ACME's invoices.
    c.goto(&url).await.unwrap();
    wait_for_url(&c, "the link leads to the portal", |u| {
        u.ends_with("/portal")
    })
    .await;
    assert_eq!(heading(&c).await, "Invoices and payments");
    let page = c.source().await.unwrap();
    assert!(page.contains("Acme Sensors Ltd"), "{page}");
    assert!(page.contains(&overdue_number), "{page}");
    assert!(page.contains("Open, overdue"), "overdue in words: {page}");
    assert!(page.contains("420.00 USD"), "{page}");
    assert!(
        page.contains("Bank transfer"),
        "the transfer is listed: {page}"
    );
    assert!(
        !page.contains(&their_number) && !page.contains("Globex"),
        "{page}"
    );
    screen(&c, "invoices").await;

    // The invoice's page, and its PDF fetched with the browser's own portal session.
    c.goto(&format!("{}/portal/invoices/{overdue}", h.base))
        .await
        .unwrap();
    assert_eq!(heading(&c).await, format!("Invoice {overdue_number}"));
    screen(&c, "invoice").await;
    let cookie = c
        .get_named_cookie("sagaflow_portal")
        .await
        .expect("the portal cookie");
    assert!(cookie.http_only().unwrap_or(false));
    let res = h
        .http
        .get(format!("{}/portal/invoices/{overdue}/pdf", h.base))
        .header("cookie", format!("sagaflow_portal={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let bytes = res.bytes().await.unwrap();
    let doc = lopdf::Document::load_mem(&bytes).expect("a PDF lopdf can read");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let text = doc.extract_text(&pages).unwrap();
    for want in [
        format!("Invoice {overdue_number}"),
        "Acme Sensors Ltd".to_string(),
        "Sensor installation  x2  420.00 USD".to_string(),
        "Balance due: 420.00 USD".to_string(),
    ] {
        assert!(text.contains(&want), "{want:?} in {text:?}");
    }

    // Changing the URL to another company's invoice (or its PDF) is a plain 404.
    for path in [
        format!("/portal/invoices/{theirs}"),
        format!("/portal/invoices/{theirs}/pdf"),
    ] {
        c.goto(&format!("{}{path}", h.base)).await.unwrap();
        assert_eq!(page_status(&c).await, 404, "{path}");
        assert_eq!(heading(&c).await, "Invoice not found");
        assert!(!c.source().await.unwrap().contains(&their_number));
    }
    screen(&c, "not-found").await;

    // Pay: the processor's hosted page pays and sends the contact back to the portal.
    c.goto(&format!("{}/portal/invoices/{overdue}", h.base))
        .await
        .unwrap();
    c.find(Locator::Css("form[action$='/pay'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(&c, "back on the portal's payment page", |u| {
        u.contains("/portal/checkout/cs_")
    })
    .await;
    assert_eq!(heading(&c).await, "Payment received");
    let page = c.source().await.unwrap();
    assert!(
        page.contains(&format!("Invoice {overdue_number}")),
        "{page}"
    );
    assert!(page.contains("420.00 USD"), "{page}");
    screen(&c, "paid").await;
    let inv = operator(&h, "GET", &format!("/v1/invoices/{overdue}"), None).await;
    assert_eq!(inv["status"], "paid", "{inv}");
    assert_eq!(inv["balance_minor"], 0);

    // Back in the portal: paid, nothing to pay, the card payment allocated to it.
    c.goto(&format!("{}/portal", h.base)).await.unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("Card payment"), "{page}");
    assert!(
        page.contains(&format!("{overdue_number}: 420.00 USD")),
        "{page}"
    );
    assert!(c.find(Locator::Css("form[action$='/pay']")).await.is_err());
}

#[tokio::test]
async fn a_reused_or_expired_portal_link_is_refused() {
    if !browser_available() {
        return;
    }
    let h = portal_harness().await;
    let used = link(&h).await;
    let late = link(&h).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = start_browser(profile.path()).await;

    c.goto(&used).await.unwrap();
    wait_for_url(&c, "the link leads to the portal", |u| {
        u.ends_with("/portal")
    })
    .await;
    // Opened again (by the same browser or a forwarded copy): refused.
    c.goto(&used).await.unwrap();
    assert_eq!(page_status(&c).await, 410);
    assert_eq!(heading(&c).await, "This link can no longer be used");
    screen(&c, "link-refused").await;

    // Past its 15 minutes, the other link is refused too, and starts nothing.
    h.t.advance(Duration::from_secs(16 * 60));
    c.delete_all_cookies().await.unwrap();
    c.goto(&late).await.unwrap();
    assert_eq!(page_status(&c).await, 410);
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("/portal/enter/")
    );
    c.goto(&format!("{}/portal", h.base)).await.unwrap();
    assert_eq!(page_status(&c).await, 401);
    assert_eq!(heading(&c).await, "Open your billing portal link");
    screen(&c, "no-session").await;
    assert_eq!(
        h.count("SELECT count(*) FROM portal_sessions").await,
        1,
        "only the first open started a session"
    );
}
