//! The demo's price agreement: the first demo company's negotiated price for temperature
//! sensors, in force from next month, created as an operator once the orders are placed (so it
//! prices none of this run's orders). The price sync gives it a processor price;
//! `GET /v1/price-agreements` shows it.

use anyhow::{Context, bail};
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;

/// Creates the agreement; one already there from an earlier run on the same database (409)
/// is kept.
pub(super) async fn seed(
    http: &reqwest::Client,
    base: &str,
    operator_token: &str,
) -> anyhow::Result<()> {
    let url = format!("{base}/v1/price-agreements");
    let res = http
        .post(&url)
        .bearer_auth(operator_token)
        .json(&json!({
            "company_id": "DEMO-CO-0",
            "sku": "SENSOR-T1",
            "currency": "usd",
            "unit_amount": 129.0,
            "valid_from": Utc::now() + Duration::days(30),
            "notes": "Demo frame contract: 129.00 a temperature sensor from next month",
        }))
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    match res.status() {
        StatusCode::CREATED | StatusCode::CONFLICT => Ok(()),
        status => bail!(
            "POST {url} answered {status}: {}",
            res.text().await.unwrap_or_default()
        ),
    }
}
