//! Shared by the data-bundle and partner tests: the app on a fresh database with a manual
//! clock, served on a real port, and the provider simulator on another real port.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use sagaflow::config::Settings;
use sagaflow::simulator::{self, SimulatorConfig, SimulatorHandle};

pub struct Harness {
    pub t: super::TestApp,
    pub sim: SimulatorHandle,
    /// `http://127.0.0.1:<port>` of this test's sagaflow server.
    pub base: String,
    pub http: reqwest::Client,
}

/// Starts the simulator, builds the app against it (after `tweak`), serves the router on a real
/// port and points the simulator's webhooks at it.
pub async fn harness(tweak: impl FnOnce(&mut Settings, &SimulatorHandle)) -> Harness {
    let sim = simulator::start(SimulatorConfig::default())
        .await
        .expect("start simulator");
    let mut settings = super::settings().await;
    settings.providers = sim.providers_config();
    tweak(&mut settings, &sim);
    let t = super::app_with(settings, |_| {}).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = t.app.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let base = format!("http://{addr}");
    sim.set_webhook_base(&format!("{base}/v1/webhooks"));
    Harness {
        t,
        sim,
        base,
        http: reqwest::Client::new(),
    }
}

impl Harness {
    /// Sends a request to the served app; returns status, headers and JSON body.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            // Shops place orders and fund wallets with a service token; reads go as an operator.
            let token = if method == reqwest::Method::POST && !path.starts_with("/v1/sagas/") {
                super::SERVICE_TOKEN
            } else {
                super::OPERATOR_TOKEN
            };
            req = req.header("authorization", super::bearer(token));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// A new wallet user topped up with `amount` GHS.
    pub async fn funded(&self, amount: f64) -> Uuid {
        let user = Uuid::now_v7();
        let (s, b) = self
            .post_json(
                &format!("/v1/wallets/{user}/top-ups"),
                &[("idempotency-key", "seed")],
                &serde_json::json!({ "amount": amount }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        user
    }

    pub async fn post_json(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> (StatusCode, Value) {
        let (s, _, b) = self
            .request(
                reqwest::Method::POST,
                path,
                headers,
                Some(serde_json::to_vec(body).unwrap()),
            )
            .await;
        (s, b)
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        let (s, _, b) = self
            .request(reqwest::Method::GET, path, headers, None)
            .await;
        (s, b)
    }

    /// The reseller stops posting webhooks (its orders still complete), so only a poll can
    /// learn the outcome.
    pub fn no_reseller_webhooks(&self) {
        let patch = sagaflow::simulator::ConfigPatch {
            callbacks: Some(sagaflow::simulator::config::CallbacksPatch {
                reseller: Some(String::new()),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.sim.configure(patch).unwrap();
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        self.t.app.store().pool()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.pool())
            .await
            .unwrap()
    }

    /// Waits (real time, for the simulator's asynchronous webhooks) until `sql` counts at
    /// least `n`.
    pub async fn wait_for(&self, sql: &str, n: i64) {
        for _ in 0..200 {
            if self.count(sql).await >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for {sql} to reach {n}");
    }
}
