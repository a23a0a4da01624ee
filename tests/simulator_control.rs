//! The simulator's control plane over real HTTP: `/_sim/config`, `/_sim/stats`, `/_sim/reset`,
//! and shutdown.

use serde_json::{Value, json};

mod providers_support;
use providers_support::simulator;

#[tokio::test]
async fn config_and_stats_over_http() {
    let (sim, providers) = simulator(None).await;
    let http = reqwest::Client::new();
    let base = sim.base_url();

    let set = http
        .post(format!("{base}/_sim/config"))
        .json(&json!({
            "faults": {"reseller.balance": {"status": 503, "times": 1}},
            "callbacks": {"reseller": "http://127.0.0.1:9/hook"},
            "completion_delay_ms": 10,
            "outcomes": {"0241234567": "failed"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let config: Value = http
        .get(format!("{base}/_sim/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["faults"]["reseller.balance"]["status"], 503);
    assert_eq!(config["callbacks"]["reseller"], "http://127.0.0.1:9/hook");
    assert_eq!(config["outcomes"]["0241234567"], "failed");
    assert_eq!(config["completion_delay_ms"], 10);
    // Secrets are not part of the config view.
    assert!(!config.to_string().contains("sim_reseller_key"));

    let bad = http
        .post(format!("{base}/_sim/config"))
        .json(&json!({"faults": {"no.such.endpoint": {"status": 500}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let key = providers.reseller.api_key.expose().to_string();
    let first = http
        .get(format!("{base}/api/balance"))
        .header("X-API-KEY", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 503, "fault applies once");
    let second = http
        .get(format!("{base}/api/balance"))
        .header("X-API-KEY", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200, "then the endpoint recovers");

    let stats: Value = http
        .get(format!("{base}/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["endpoints"]["reseller.balance"]["requests"], 2);
    assert_eq!(stats["endpoints"]["reseller.balance"]["faults"], 1);

    let reset = http
        .post(format!("{base}/_sim/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    assert_eq!(sim.stats().requests("reseller.balance"), 0);

    let addr = sim.addr();
    sim.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "port closed after shutdown"
    );
}
