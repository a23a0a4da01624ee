//! The one test harness: a fresh Postgres database per test (on the run's own cluster,
//! `test_cluster`, unless `DATABASE_URL` names a server), the app built on it with a manual
//! clock, and helpers to call the router in process. Its submodules serve the areas that need
//! more: the app on a real port beside the provider simulator (`orders`, and `hardware` on top
//! of it), the simulator alone with a webhook sink (`providers`), promtool and the Prometheus
//! exposition (`prometheus`, `dashboards`), and a process of its own for the few tests that
//! need process-wide state to themselves (`alone`).

pub mod alone;
pub mod browser;
pub mod dashboards;
pub mod hardware;
pub mod orders;
pub mod private_pg;
pub mod prometheus;
pub mod providers;
pub mod test_cluster;
pub mod workers;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tower::ServiceExt;
use uuid::Uuid;

use sagaflow::app::{App, Options};
use sagaflow::config::Settings;
use sagaflow::engine::action::ActionRegistry;
use sagaflow::engine::clock::ManualClock;
use sagaflow::engine::worker::Worker;

/// The server tests create their databases on: `DATABASE_URL`'s, or the test run's own.
pub fn admin_url() -> String {
    test_cluster::admin_url()
}

fn with_database(url: &str, db: &str) -> String {
    let (base, _) = url
        .rsplit_once('/')
        .expect("DATABASE_URL has a database part");
    format!("{base}/{db}")
}

/// Creates an empty database named for this test run and returns its URL.
pub async fn fresh_database() -> String {
    let admin = admin_url();
    let name = format!("sagaflow_test_{}", Uuid::now_v7().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("connect to the admin database");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    with_database(&admin, &name)
}

/// Settings for a test: fresh database, port 0, short lease.
pub async fn settings() -> Settings {
    settings_on(fresh_database().await)
}

/// The same settings on the database at `url`.
pub fn settings_on(url: String) -> Settings {
    let mut s = Settings::defaults().expect("default settings");
    s.database.url = url;
    s.database.max_connections = 10;
    s.server.bind = "127.0.0.1:0".into();
    s.worker.lease = Duration::from_secs(30);
    // The balance watch reads the reseller every 2 minutes; tests that count ticks or provider
    // calls must not see it. `provider_health` turns it back on.
    s.edit_section(
        "bundles",
        |b: &mut sagaflow::families::data_bundle::BundleSettings| b.balance_poll = None,
    )
    .expect("bundle settings");
    // Likewise the partner request log's daily pruning; `partner_requests` turns it on.
    s.edit_section(
        "partner",
        |p: &mut sagaflow::families::partner::PartnerSettings| p.request_log_prune = None,
    )
    .expect("partner settings");
    s.auth.tokens = TEST_TOKENS
        .iter()
        .map(|(name, role, token)| sagaflow::config::TokenEntry {
            name: (*name).into(),
            role: (*role).into(),
            sha256: sagaflow::api::auth::hash_token(token),
        })
        .collect();
    s
}

/// Test tokens: (name, role, token). The harness sends the operator's by default and the
/// service's to start sagas.
pub const TEST_TOKENS: &[(&str, &str, &str)] = &[
    ("olivia", "operator", OPERATOR_TOKEN),
    ("victor", "viewer", VIEWER_TOKEN),
    ("shop", "service", SERVICE_TOKEN),
    ("other-shop", "service", OTHER_SERVICE_TOKEN),
];
pub const OPERATOR_TOKEN: &str = "test-operator-token";
pub const VIEWER_TOKEN: &str = "test-viewer-token";
pub const SERVICE_TOKEN: &str = "test-service-token";
pub const OTHER_SERVICE_TOKEN: &str = "test-other-service-token";

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Points `settings` at a copy of `workflows/` plus extra definition files written for this
/// test.
pub fn add_workflows(settings: &mut Settings, extra: &[(&str, &str)]) {
    let dir = std::env::temp_dir().join(format!("sagaflow-workflows-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/workflows")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    for (name, text) in extra {
        std::fs::write(dir.join(name), text).unwrap();
    }
    settings.workflows.dir = dir;
}

pub struct TestApp {
    pub app: App,
    pub clock: ManualClock,
    pub worker: Worker,
}

pub async fn app() -> TestApp {
    app_with(settings().await, |_| {}).await
}

pub async fn app_with(
    settings: Settings,
    extra: impl FnOnce(&mut ActionRegistry) + Send + 'static,
) -> TestApp {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap());
    let app = App::build_with(
        settings,
        Options {
            clock: Some(Arc::new(clock.clone())),
            extra_actions: Some(Box::new(extra)),
        },
    )
    .await
    .expect("build app");
    let worker = app.worker("test");
    TestApp { app, clock, worker }
}

impl TestApp {
    /// Sends one request through the router; returns the status and the JSON body (Null when
    /// the body is empty or not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }

        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&v).unwrap())
            }
            None => Body::empty(),
        };
        self.send(req.body(body).unwrap()).await
    }

    /// Sends a request; one without an `authorization` header gets the service token to start
    /// a saga and the operator's for anything else.
    pub async fn send(&self, mut req: Request<Body>) -> (StatusCode, Value) {
        if !req.headers().contains_key("authorization") {
            let token = if req.method() == "POST" && req.uri().path() == "/v1/sagas" {
                SERVICE_TOKEN
            } else {
                OPERATOR_TOKEN
            };
            req.headers_mut()
                .insert("authorization", bearer(token).parse().unwrap());
        }
        let res = self.app.router().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Starts a saga through the API and returns its id.
    pub async fn start(&self, workflow: &str, input: Value) -> Uuid {
        let key = Uuid::now_v7().to_string();
        let (status, body) = self
            .call(
                "POST",
                "/v1/sagas",
                Some(serde_json::json!({ "workflow": workflow, "input": input })),
                &[("idempotency-key", &key)],
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body["saga_id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn saga(&self, id: Uuid) -> Value {
        let (status, body) = self
            .call("GET", &format!("/v1/sagas/{id}"), None, &[])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn status(&self, id: Uuid) -> String {
        self.saga(id).await["status"].as_str().unwrap().to_string()
    }

    /// History kinds in order.
    pub async fn kinds(&self, id: Uuid) -> Vec<String> {
        self.saga(id).await["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    }

    pub async fn run(&self) -> usize {
        self.worker.run_until_idle().await.expect("worker run")
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// `(step, kind)` of every sample side effect of a saga, in the order they happened.
    pub async fn effects(&self, id: Uuid) -> Vec<(String, String)> {
        sqlx::query_as("SELECT step, kind FROM sample_effects WHERE saga_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(self.app.store().pool())
            .await
            .unwrap()
    }

    /// Sends a signal as the service that started the saga (the harness's service token).
    pub async fn signal(
        &self,
        id: Uuid,
        name: &str,
        key: &str,
        payload: Value,
    ) -> (StatusCode, Value) {
        let auth = bearer(SERVICE_TOKEN);
        self.call(
            "POST",
            &format!("/v1/sagas/{id}/signals/{name}"),
            Some(payload),
            &[("idempotency-key", key), ("authorization", &auth)],
        )
        .await
    }

    pub async fn operate(&self, id: Uuid, action: &str, reason: &str) -> (StatusCode, Value) {
        self.call(
            "POST",
            &format!("/v1/sagas/{id}/{action}"),
            Some(serde_json::json!({ "reason": reason })),
            &[],
        )
        .await
    }
}

pub fn mins(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

/// A child process (a `sagaflow serve`), killed and reaped when dropped, so a failing test
/// leaves nothing running.
pub struct Process(pub std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
