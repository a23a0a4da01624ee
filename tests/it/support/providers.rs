//! Shared test helpers: a simulator on a real port and a webhook sink that records what the
//! simulator posts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use sagaflow::providers::ProvidersConfig;
use sagaflow::simulator::{SimulatorConfig, SimulatorHandle, start};

/// One webhook the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    pub provider: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A tiny HTTP server standing in for sagaflow's `/v1/webhooks/{provider}`.
pub struct Sink {
    pub base: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Sink {
    pub async fn start() -> Sink {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let app = Router::new()
            .route(
                "/v1/webhooks/{provider}",
                post(
                    |State(store): State<Arc<Mutex<Vec<Received>>>>,
                     Path(provider): Path<String>,
                     headers: HeaderMap,
                     body: Bytes| async move {
                        store.lock().unwrap().push(Received {
                            provider,
                            headers,
                            body,
                        });
                        "ok"
                    },
                ),
            )
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Sink {
            base: format!("http://{addr}/v1/webhooks"),
            received,
            _task: task,
        }
    }

    /// Waits until `n` webhooks for `provider` arrived (or fails after 5 s).
    pub async fn wait_for(&self, provider: &str, n: usize) -> Vec<Received> {
        for _ in 0..250 {
            let got: Vec<Received> = self
                .received
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.provider == provider)
                .cloned()
                .collect();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("fewer than {n} {provider} webhooks arrived");
    }
}

/// A simulator with fast completions, its webhooks going to `sink`.
pub async fn simulator(sink: Option<&Sink>) -> (SimulatorHandle, ProvidersConfig) {
    let cfg = SimulatorConfig {
        completion_delay_ms: 50,
        courier_step_delay_ms: 50,
        ..SimulatorConfig::default()
    };
    let sim = start(cfg).await.expect("simulator starts");
    if let Some(sink) = sink {
        sim.set_webhook_base(&sink.base);
    }
    let providers = sim.providers_config();
    (sim, providers)
}

/// The environment a `sagaflow serve` process needs to reach this test's simulator: every
/// provider's base URL, each courier's and each partner's webhook URL.
pub fn node_env(providers: &ProvidersConfig) -> Vec<(String, String)> {
    let urls = [
        ("RESELLER", &providers.reseller.base_url),
        ("ISHARE", &providers.ishare.base_url),
        ("PAYMENTS", &providers.payments.base_url),
        ("CRM", &providers.crm.base_url),
        ("SMS", &providers.sms.base_url),
        ("BRIDGE", &providers.bridge.base_url),
    ];
    let mut env: Vec<(String, String)> = urls
        .into_iter()
        .map(|(p, url)| (format!("SAGAFLOW_PROVIDERS__{p}__BASE_URL"), url.clone()))
        .collect();
    for (code, carrier) in &providers.courier.carriers {
        env.push((
            format!(
                "SAGAFLOW_PROVIDERS__COURIER__CARRIERS__{}__BASE_URL",
                code.to_uppercase()
            ),
            carrier.base_url.clone(),
        ));
    }
    for (name, partner) in &providers.partner_webhooks.partners {
        env.push((
            format!(
                "SAGAFLOW_PROVIDERS__PARTNER_WEBHOOKS__PARTNERS__{}__URL",
                name.to_uppercase()
            ),
            partner.url.clone(),
        ));
    }
    env
}
