//! The billing portal over real HTTP, against the served app and the payment simulator: who
//! may ask for a link, a link that opens once (also under two concurrent opens) and not after
//! it expires on the manual clock, a session that ends when idle, console and portal
//! sessions that never stand in for each other, another company's invoices answering 404,
//! and an invoice paid from the portal through the simulator's checkout and signed webhook.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::{OPERATOR_TOKEN, OTHER_SERVICE_TOKEN, SERVICE_TOKEN, VIEWER_TOKEN};

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn call(
    h: &Harness,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = h
        .http
        .request(method.parse().unwrap(), format!("{}{path}", h.base))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A link for `company` asked for with `token`: its path.
async fn link(h: &Harness, token: &str, company: &str) -> String {
    let (s, v) = call(
        h,
        token,
        "POST",
        &format!("/v1/companies/{company}/portal-sessions"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["path"].as_str().unwrap().to_string()
}

/// Opens a link: its status, and the portal cookie (`name=value`) it set, if any.
async fn open(h: &Harness, path: &str) -> (StatusCode, Option<String>, String) {
    let res = no_redirects()
        .get(format!("{}{path}", h.base))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let cookie = res
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string());
    (status, cookie, res.text().await.unwrap())
}

/// `name=value` of a `Set-Cookie`.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

/// A portal session for `company`: the cookie pair.
async fn portal_session(h: &Harness, company: &str) -> String {
    let path = link(h, OPERATOR_TOKEN, company).await;
    let (s, cookie, _) = open(h, &path).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    pair(&cookie.expect("a portal cookie"))
}

/// GET with a cookie header: status and body.
async fn get_with(h: &Harness, path: &str, cookie: &str) -> (StatusCode, String) {
    let res = no_redirects()
        .get(format!("{}{path}", h.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

/// An issued manual invoice for `company` over `amount` cents: its id and number.
async fn issued_invoice(h: &Harness, company: &str, amount: i64) -> (Uuid, String) {
    let body = json!({
        "company_id": company,
        "lines": [{"description": "Installation", "unit_amount_minor": amount}],
    });
    let (s, inv) = call(h, OPERATOR_TOKEN, "POST", "/v1/invoices", Some(&body)).await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    let id = id(&inv, "id");
    let (s, inv) = call(
        h,
        OPERATOR_TOKEN,
        "POST",
        &format!("/v1/invoices/{id}/issue"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{inv}");
    (id, inv["number"].as_str().unwrap().to_string())
}

/// A second company, with an issued invoice of its own.
async fn other_company(h: &Harness) -> (Uuid, String) {
    let (s, v) = call(
        h,
        OPERATOR_TOKEN,
        "POST",
        "/v1/companies",
        Some(&json!({"id": "GLOBEX", "name": "Globex Corporation", "company_mirror_id": "legacy-globex"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    issued_invoice(h, "GLOBEX", 99_000).await
}

/// The CSRF token a portal page's form carries.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

async fn count(h: &Harness, sql: &str) -> i64 {
    h.count(sql).await
}

#[tokio::test]
async fn a_link_is_asked_for_by_support_or_the_shop_and_opens_once() {
    let h = hardware().await;
    // The shop's service (which ordered for ACME) and an operator may; another shop, which
    // never ordered for ACME, finds no such company; a viewer may not; an unknown company is
    // 404.
    let (s, e) = call(
        &h,
        OTHER_SERVICE_TOKEN,
        "POST",
        "/v1/companies/ACME/portal-sessions",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    assert_eq!(count(&h, "SELECT count(*) FROM portal_links").await, 0);
    create(
        &h,
        &order_body(&[("SENSOR-T1", 1, "sensor_vendor_first_time")]),
    )
    .await;
    let from_shop = link(&h, SERVICE_TOKEN, "ACME").await;
    let (s, _) = call(
        &h,
        VIEWER_TOKEN,
        "POST",
        "/v1/companies/ACME/portal-sessions",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, e) = call(
        &h,
        OPERATOR_TOKEN,
        "POST",
        "/v1/companies/NOPE/portal-sessions",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    assert_eq!(count(&h, "SELECT count(*) FROM portal_links").await, 1);
    // Who asked is kept; the token is not, only its hash.
    let (by, hash): (String, String) =
        sqlx::query_as("SELECT created_by, token_sha256 FROM portal_links")
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(by, "service:shop");
    let token = from_shop.rsplit('/').next().unwrap();
    assert_ne!(hash, token);
    assert_eq!(hash.len(), 64);

    // The first open starts a session for ACME, in a cookie of the portal's own.
    let (s, cookie, _) = open(&h, &from_shop).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookie = cookie.expect("a portal cookie");
    for part in [
        "sagaflow_portal=",
        "Path=/portal",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
    ] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    let (s, page) = get_with(&h, "/portal", &pair(&cookie)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Acme Sensors Ltd"), "{page}");

    // The second open is refused and starts nothing.
    let (s, again, page) = open(&h, &from_shop).await;
    assert_eq!(s, StatusCode::GONE);
    assert!(again.is_none());
    assert!(page.contains("can no longer be used"), "{page}");
    assert_eq!(count(&h, "SELECT count(*) FROM portal_sessions").await, 1);
    // Nor does a token that was never handed out.
    let (s, _, _) = open(&h, &format!("/portal/enter/{}", "ab".repeat(32))).await;
    assert_eq!(s, StatusCode::GONE);
}

#[tokio::test]
async fn two_concurrent_opens_of_a_link_start_one_session() {
    let h = hardware().await;
    for _ in 0..3 {
        let path = link(&h, OPERATOR_TOKEN, "ACME").await;
        let (a, b) = tokio::join!(open(&h, &path), open(&h, &path));
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::GONE]);
        assert_eq!(
            [a.1.is_some(), b.1.is_some()]
                .iter()
                .filter(|x| **x)
                .count(),
            1
        );
    }
    assert_eq!(count(&h, "SELECT count(*) FROM portal_sessions").await, 3);
}

#[tokio::test]
async fn a_late_link_is_refused_and_an_idle_session_ends() {
    let h = hardware().await;
    // Links live 15 minutes by default.
    let late = link(&h, OPERATOR_TOKEN, "ACME").await;
    let in_time = link(&h, OPERATOR_TOKEN, "ACME").await;
    h.t.advance(Duration::from_secs(14 * 60));
    let (s, cookie, _) = open(&h, &in_time).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    h.t.advance(Duration::from_secs(2 * 60));
    let (s, none, page) = open(&h, &late).await;
    assert_eq!(s, StatusCode::GONE);
    assert!(none.is_none());
    assert!(page.contains("expired"), "{page}");
    assert_eq!(count(&h, "SELECT count(*) FROM portal_sessions").await, 1);

    // The session works while used, and ends after 30 minutes unused.
    let cookie = pair(&cookie.unwrap());
    let (s, _) = get_with(&h, "/portal", &cookie).await;
    assert_eq!(s, StatusCode::OK);
    h.t.advance(Duration::from_secs(31 * 60));
    let (s, page) = get_with(&h, "/portal", &cookie).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(page.contains("Open your billing portal link"), "{page}");
    assert_eq!(count(&h, "SELECT count(*) FROM portal_sessions").await, 0);
}

#[tokio::test]
async fn console_and_portal_sessions_never_stand_in_for_each_other() {
    let h = hardware().await;
    let portal = portal_session(&h, "ACME").await;
    let portal_id = portal.split_once('=').unwrap().1.to_string();

    // An operator's console session.
    let res = no_redirects()
        .post(format!("{}/ui/login", h.base))
        .form(&[("token", OPERATOR_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let console = pair(res.headers()[SET_COOKIE].to_str().unwrap());
    let console_id = console.split_once('=').unwrap().1.to_string();
    let (s, _) = get_with(&h, "/ui", &console).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the console session works in the console"
    );

    // The console's session, as itself or in the portal's cookie, opens no portal page.
    for cookie in [console.clone(), format!("sagaflow_portal={console_id}")] {
        let (s, _) = get_with(&h, "/portal", &cookie).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{cookie}");
    }
    // Nor does an operator's bearer token.
    let res = h
        .http
        .get(format!("{}/portal", h.base))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // The portal's session opens no console page, as itself or in the console's cookie…
    for cookie in [portal.clone(), format!("sagaflow_session={portal_id}")] {
        let res = no_redirects()
            .get(format!("{}/ui", h.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{cookie}");
        assert_eq!(res.headers()[LOCATION], "/ui/login");
    }
    // …and no API route, as a cookie or as a bearer token.
    let res = h
        .http
        .get(format!("{}/v1/invoices", h.base))
        .header(COOKIE, &portal)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (s, _) = call(&h, &portal_id, "GET", "/v1/invoices", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_companys_invoice_is_not_found_in_the_portal() {
    let h = hardware().await;
    let (mine, number) = issued_invoice(&h, "ACME", 12_500).await;
    let (theirs, their_number) = other_company(&h).await;
    // A draft is not shown to the customer either.
    let (s, draft) = call(
        &h,
        OPERATOR_TOKEN,
        "POST",
        "/v1/invoices",
        Some(&json!({"company_id": "ACME", "lines": [{"description": "Draft", "unit_amount_minor": 100}]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let draft = id(&draft, "id");
    let cookie = portal_session(&h, "ACME").await;

    let (s, page) = get_with(&h, "/portal", &cookie).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains(&number) && page.contains("125.00 USD"),
        "{page}"
    );
    assert!(
        !page.contains(&their_number) && !page.contains("Globex"),
        "{page}"
    );
    let (s, _) = get_with(&h, &format!("/portal/invoices/{mine}"), &cookie).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = get_with(&h, &format!("/portal/invoices/{mine}/pdf"), &cookie).await;
    assert_eq!(s, StatusCode::OK);

    let csrf = csrf_of(&page);
    for path in [
        format!("/portal/invoices/{theirs}"),
        format!("/portal/invoices/{theirs}/pdf"),
        format!("/portal/invoices/{draft}"),
        format!("/portal/invoices/{}", Uuid::now_v7()),
        "/portal/invoices/not-an-id".to_string(),
    ] {
        let (s, page) = get_with(&h, &path, &cookie).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert!(page.contains("Invoice not found"), "{page}");
    }
    // Paying theirs is the same 404, and opens no checkout.
    let res = no_redirects()
        .post(format!("{}/portal/invoices/{theirs}/pay", h.base))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(count(&h, "SELECT count(*) FROM portal_payments").await, 0);
}

#[tokio::test]
async fn an_invoice_paid_from_the_portal_is_settled_by_the_signed_webhook() {
    let h = hardware().await;
    let (invoice, number) = issued_invoice(&h, "ACME", 40_000).await;
    // Part of it came in by bank transfer already: the portal asks only the balance.
    let (s, v) = call(
        &h,
        OPERATOR_TOKEN,
        "POST",
        &format!("/v1/invoices/{invoice}/payments"),
        Some(&json!({"amount_minor": 15_000, "reference": "wire-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let cookie = portal_session(&h, "ACME").await;
    let (_, page) = get_with(&h, "/portal", &cookie).await;
    assert!(page.contains("Pay 250.00 USD"), "{page}");
    assert!(
        page.contains(&format!("{number}: 150.00 USD")),
        "the transfer's allocation: {page}"
    );

    // A form without this session's CSRF token opens nothing.
    let pay = format!("{}/portal/invoices/{invoice}/pay", h.base);
    let res = no_redirects()
        .post(&pay)
        .header(COOKIE, &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(count(&h, "SELECT count(*) FROM portal_payments").await, 0);

    let res = no_redirects()
        .post(&pay)
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let (session, amount, status): (String, i64, String) =
        sqlx::query_as("SELECT session_id, amount_minor, status FROM portal_payments")
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!((amount, status.as_str()), (25_000, "open"));
    assert!(page.contains(&format!("/pay/{session}")), "{page}");

    // Before paying, the landing page says pending.
    let landing = format!("/portal/checkout/{session}");
    let (s, page) = get_with(&h, &landing, "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Payment pending"), "{page}");

    // The simulator pays it and posts its signed event; the invoice is paid.
    sim_post(&h, &format!("/_sim/payments/{session}/complete"), json!({})).await;
    let (_, inv) = call(
        &h,
        OPERATOR_TOKEN,
        "GET",
        &format!("/v1/invoices/{invoice}"),
        None,
    )
    .await;
    assert_eq!(inv["status"], "paid", "{inv}");
    assert_eq!(inv["balance_minor"], 0);
    let kinds: Vec<(String, i64)> = sqlx::query_as(
        "SELECT p.kind, a.amount_minor FROM payment_allocations a
         JOIN payment_records p ON p.id = a.payment_record_id WHERE a.invoice_id = $1
         ORDER BY a.created_at",
    )
    .bind(invoice)
    .fetch_all(h.pool())
    .await
    .unwrap();
    assert_eq!(
        kinds,
        [
            ("manual".to_string(), 15_000),
            ("payment".to_string(), 25_000)
        ]
    );
    let (s, page) = get_with(&h, &landing, "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Payment received"), "{page}");
    let (_, page) = get_with(&h, "/portal", &cookie).await;
    assert!(page.contains(&format!("{number}: 250.00 USD")), "{page}");
    assert!(!page.contains("Pay "), "nothing left to pay: {page}");

    // The same event again changes nothing; paying a paid invoice is refused.
    assert_eq!(
        count(
            &h,
            "SELECT count(*) FROM payment_records WHERE kind = 'payment'"
        )
        .await,
        1
    );
    let res = no_redirects()
        .post(&pay)
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let (s, _) = get_with(&h, "/portal/checkout/cs_test_unknown", "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_order_checkout_returns_to_the_portal_not_the_console() {
    let h = hardware().await;
    let order = create(
        &h,
        &order_body(&[("SENSOR-T1", 1, "sensor_vendor_first_time")]),
    )
    .await;
    let order = id(&order, "id");
    let saga = send_checkout(&h, order).await;
    h.t.run().await;
    let session = view(&h, order).await["checkout_session"]
        .as_str()
        .expect("a checkout session")
        .to_string();
    let landing = format!("/portal/checkout/{session}");
    let (s, page) = get_with(&h, &landing, "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Payment pending"), "{page}");

    // The processor's hosted page sends the customer back to the portal's page for it.
    let hosted = format!("{}/pay/{session}", h.sim.base_url());
    let res = no_redirects().get(&hosted).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let back = res.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(back.ends_with(&landing), "{back}");
    assert!(!back.contains("/ui"), "{back}");
    signals(&h, saga, 1).await;
    h.t.run().await;
    let (_, page) = get_with(&h, &landing, "").await;
    assert!(page.contains("Payment received"), "{page}");
    assert!(
        !page.contains("Acme"),
        "the landing page names no company: {page}"
    );
}
