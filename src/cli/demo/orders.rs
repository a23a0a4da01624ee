//! A mixed batch of data-bundle and partner orders placed over HTTP against a running server,
//! for `sagaflow demo`. Uses only the public API, as a shop and a partner would.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use uuid::Uuid;

/// Phones per network that the simulator delivers to by default.
const PHONES: &[(&str, &str, u32)] = &[
    ("MTN", "0241234567", 1),
    ("MTN", "0551234567", 2),
    ("TELECEL", "0201234567", 5),
    ("AIRTELTIGO", "0271234567", 1),
];

const PRODUCTS: &[&str] = &["OFFICE-BASIC", "OFFICE-PRO", "SECURE-ENDPOINT"];

/// Who the demo acts as: a shop (service token) placing bundles, an operator token to look
/// sagas up, and a partner's API key.
pub struct Credentials<'a> {
    pub shop_token: &'a str,
    pub operator_token: &'a str,
    pub partner_key: &'a str,
}

/// Starts `n` orders, alternating data bundles and partner subscriptions, and returns their
/// saga ids. One demo customer's wallet is topped up first to cover the bundles.
pub async fn start_batch(
    base_url: &str,
    who: &Credentials<'_>,
    n: usize,
) -> anyhow::Result<Vec<Uuid>> {
    let http = reqwest::Client::new();
    let base = base_url.trim_end_matches('/');
    let user = Uuid::now_v7();
    let run = Uuid::now_v7().simple().to_string();
    let res = http
        .post(format!("{base}/v1/wallets/{user}/top-ups"))
        .bearer_auth(who.shop_token)
        .header("Idempotency-Key", format!("demo-{run}"))
        .json(&json!({ "amount": 100.0 * n as f64 + 100.0 }))
        .send()
        .await
        .context("top up the demo wallet")?;
    if !res.status().is_success() {
        bail!(
            "top-up refused: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    }
    let mut sagas = Vec::with_capacity(n);
    for i in 0..n {
        let saga = if i % 2 == 0 {
            let (network, phone, size) = PHONES[(i / 2) % PHONES.len()];
            let body: Value = post(
                &http,
                &format!("{base}/v1/orders/data-bundles"),
                &format!("demo-{run}-bundle-{i}"),
                who.shop_token,
                json!({ "user_id": user, "network": network, "size": size, "phone_number": phone }),
            )
            .await?;
            body["saga_id"].as_str().map(str::to_string)
        } else {
            let order_id = format!("DEMO-{run}-{i}");
            post(
                &http,
                &format!("{base}/v1/partner/fulfilment"),
                &format!("demo-{run}-partner-{i}"),
                who.partner_key,
                json!({
                    "orderId": order_id,
                    "productId": PRODUCTS[(i / 2) % PRODUCTS.len()],
                    "customerId": format!("CUST-{i}"),
                    "customerName": "Demo Customer",
                    "customerEmail": "demo@example.com",
                    "customerPhone": "+233241234567",
                    "tenure": if i % 4 == 1 { "1_MONTH" } else { "12_MONTHS" },
                }),
            )
            .await?;
            // The partner answer carries no saga id (their contract); find it by business key.
            let found: Value = http
                .get(format!("{base}/v1/sagas"))
                .bearer_auth(who.operator_token)
                .query(&[("business_key", format!("partner:T2MOBILE001:{order_id}"))])
                .send()
                .await?
                .json()
                .await?;
            found["items"][0]["id"].as_str().map(str::to_string)
        };
        let id = saga.context("the server did not return a saga id")?;
        sagas.push(id.parse()?);
    }
    Ok(sagas)
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    bearer: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let req = http
        .post(url)
        .header("Idempotency-Key", key)
        .bearer_auth(bearer)
        .json(&body);
    let res = req.send().await.with_context(|| format!("POST {url}"))?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("POST {url} answered {status}: {body}");
    }
    Ok(body)
}
