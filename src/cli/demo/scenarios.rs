//! The kinds of saga the demo starts through `POST /v1/sagas`, one per path a saga can take:
//! success, retry, wait for a signal, compensation, park and a failed undo.

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// One kind of saga the demo starts: a workflow, an input script and what the demo expects.
pub struct Scenario {
    pub workflow: &'static str,
    pub input: Value,
    /// Signal to send once the saga waits for it.
    pub signal: Option<&'static str>,
}

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            workflow: "sample_six",
            input: json!({}),
            signal: None,
        },
        Scenario {
            workflow: "sample",
            input: json!({ "steps": { "reserve": { "fail_times": 1 } } }),
            signal: None,
        },
        Scenario {
            workflow: "sample",
            input: json!({ "steps": { "deliver": { "wait": true } } }),
            signal: Some(sagaflow::families::sample::DELIVERED),
        },
        Scenario {
            workflow: "sample",
            input: json!({ "steps": { "deliver": { "fail": "permanent" } } }),
            signal: None,
        },
        Scenario {
            workflow: "sample_park",
            input: json!({ "steps": { "inspect": { "fail": "park" } } }),
            signal: None,
        },
        Scenario {
            workflow: "sample",
            input: json!({ "steps": { "deliver": { "fail": "permanent" } }, "compensations": { "reserve": { "fail": "permanent" } } }),
            signal: None,
        },
    ]
}

/// Starts one saga of `scenario` as the shop; answers its id.
pub async fn start(
    http: &reqwest::Client,
    base: &str,
    shop_token: &str,
    key: &str,
    business_key: &str,
    scenario: &Scenario,
) -> anyhow::Result<String> {
    let res = http
        .post(format!("{base}/v1/sagas"))
        .bearer_auth(shop_token)
        .header("Idempotency-Key", key)
        .json(&json!({ "workflow": scenario.workflow, "input": scenario.input, "business_key": business_key }))
        .send()
        .await?;
    if res.status() != reqwest::StatusCode::ACCEPTED {
        bail!(
            "start failed: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    }
    let body: Value = res.json().await?;
    Ok(body["saga_id"]
        .as_str()
        .context("start answered without a saga id")?
        .to_string())
}
