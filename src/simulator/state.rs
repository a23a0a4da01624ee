//! The simulator's shared state: live config, per-endpoint stats, the idempotency cache, and
//! the fault runner every handler goes through.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::config::{Fault, SimulatorConfig};
use super::records::Records;

/// Requests and deliveries of one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointStats {
    /// Every request that reached the endpoint, faulted or not.
    pub requests: u64,
    /// Requests answered by an injected fault (status, hang or drop).
    pub faults: u64,
    /// Per idempotency key or reference: how many times the side effect was performed.
    /// A value above 1 is a double delivery.
    pub deliveries: BTreeMap<String, u64>,
    /// Requests being answered right now, and the most seen at once since the last reset:
    /// what a concurrency limit in front of the provider is checked against.
    #[serde(default)]
    pub in_flight: u64,
    #[serde(default)]
    pub max_in_flight: u64,
    /// When each request arrived, in Unix milliseconds, oldest first (the last
    /// [`REQUEST_TIMES_KEPT`]): what a rate limit is checked against.
    #[serde(default)]
    pub request_times_ms: Vec<u64>,
}

/// How many arrival times an endpoint keeps.
pub const REQUEST_TIMES_KEPT: usize = 20_000;

/// Counts a request out of `in_flight` when its answer is done, however it ends (answered,
/// hung until shutdown, or dropped by a client that gave up).
struct InFlight {
    sim: Sim,
    endpoint: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.sim.lock();
        if let Some(stats) = state.stats.endpoints.get_mut(&self.endpoint) {
            stats.in_flight = stats.in_flight.saturating_sub(1);
        }
    }
}

/// One webhook the simulator posted (or could not post).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackRecord {
    pub provider: String,
    pub event_id: String,
    pub reference: String,
    pub url: Option<String>,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// What `GET /_sim/stats` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimStats {
    pub endpoints: BTreeMap<String, EndpointStats>,
    /// Per endpoint, the side effects performed for each business order: every key or
    /// reference of one saga summed (see [`business_order`]), so an order delivered twice under
    /// two references shows as 2 where per-key counts show 1 and 1.
    #[serde(default)]
    pub orders: BTreeMap<String, BTreeMap<String, u64>>,
    /// The webhooks sent, oldest first (the last 1000).
    pub callbacks: Vec<CallbackRecord>,
}

impl SimStats {
    /// How many times `key` was delivered by `endpoint`.
    pub fn deliveries(&self, endpoint: &str, key: &str) -> u64 {
        self.endpoints
            .get(endpoint)
            .and_then(|e| e.deliveries.get(key))
            .copied()
            .unwrap_or(0)
    }

    /// The business orders `endpoint` performed its effect for more than once, with counts.
    pub fn repeated_orders(&self, endpoint: &str) -> Vec<(String, u64)> {
        self.orders
            .get(endpoint)
            .map(|m| {
                m.iter()
                    .filter(|(_, n)| **n > 1)
                    .map(|(k, n)| (k.clone(), *n))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many requests reached `endpoint`.
    pub fn requests(&self, endpoint: &str) -> u64 {
        self.endpoints.get(endpoint).map_or(0, |e| e.requests)
    }

    /// The most requests `endpoint` answered at once.
    pub fn max_in_flight(&self, endpoint: &str) -> u64 {
        self.endpoints.get(endpoint).map_or(0, |e| e.max_in_flight)
    }

    /// When `endpoint`'s requests arrived, Unix milliseconds, oldest first.
    pub fn request_times_ms(&self, endpoint: &str) -> Vec<u64> {
        self.endpoints
            .get(endpoint)
            .map(|e| e.request_times_ms.clone())
            .unwrap_or_default()
    }
}

enum IdemEntry {
    InFlight,
    Done {
        fingerprint: String,
        status: u16,
        body: Value,
    },
}

/// Everything behind the lock.
pub(crate) struct State {
    pub config: SimulatorConfig,
    pub stats: SimStats,
    idem: HashMap<(String, String), IdemEntry>,
    pub records: Records,
}

pub(crate) struct Inner {
    pub base_url: String,
    pub cancel: CancellationToken,
    pub http: reqwest::Client,
    state: Mutex<State>,
}

/// A cheap handle on the simulator's state, shared by handlers and background tasks.
#[derive(Clone)]
pub(crate) struct Sim(pub Arc<Inner>);

enum Action {
    Proceed,
    /// Answer this status, with a `Retry-After` and a raw body when set.
    Status(u16, Option<u64>, Option<Vec<u8>>),
    Hang,
    Drop,
}

impl Sim {
    pub fn new(config: SimulatorConfig, base_url: String, cancel: CancellationToken) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Sim(Arc::new(Inner {
            base_url,
            cancel,
            http,
            state: Mutex::new(State {
                config,
                stats: SimStats::default(),
                idem: HashMap::new(),
                records: Records::fresh(),
            }),
        }))
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn config(&self) -> SimulatorConfig {
        self.lock().config.clone()
    }

    /// Counts one side effect for `key` at `endpoint`, and for the business order it belongs to.
    pub(crate) fn record_delivery(&self, endpoint: &str, key: &str) {
        let mut state = self.lock();
        *state
            .stats
            .endpoints
            .entry(endpoint.to_string())
            .or_default()
            .deliveries
            .entry(key.to_string())
            .or_default() += 1;
        *state
            .stats
            .orders
            .entry(endpoint.to_string())
            .or_default()
            .entry(business_order(key).to_string())
            .or_default() += 1;
    }

    pub(crate) fn record_callback(&self, record: CallbackRecord) {
        let mut state = self.lock();
        state.stats.callbacks.push(record);
        let len = state.stats.callbacks.len();
        if len > 1000 {
            state.stats.callbacks.drain(..len - 1000);
        }
    }

    /// Clears stats, records and the idempotency cache (config stays).
    pub fn reset(&self) {
        let mut state = self.lock();
        state.stats = SimStats::default();
        state.idem.clear();
        state.records = Records::fresh();
    }

    /// Clears the counters alone (requests, in flight, arrival times, callbacks); stored
    /// orders and the idempotency cache stay, so work under way still completes.
    pub fn reset_stats(&self) {
        let mut state = self.lock();
        for stats in state.stats.endpoints.values_mut() {
            let in_flight = stats.in_flight;
            *stats = EndpointStats {
                in_flight,
                max_in_flight: in_flight,
                ..EndpointStats::default()
            };
        }
        state.stats.orders.clear();
        state.stats.callbacks.clear();
    }

    fn begin(&self, endpoint: &str) -> (u64, Action) {
        let mut state = self.lock();
        let fault = state.config.faults.get(endpoint).cloned();
        let stats = state
            .stats
            .endpoints
            .entry(endpoint.to_string())
            .or_default();
        stats.requests += 1;
        stats.in_flight += 1;
        stats.max_in_flight = stats.max_in_flight.max(stats.in_flight);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        if stats.request_times_ms.len() >= REQUEST_TIMES_KEPT {
            stats.request_times_ms.remove(0);
        }
        stats.request_times_ms.push(now_ms);
        let Some(fault) = fault else {
            return (0, Action::Proceed);
        };
        let active = fault.times != Some(0);
        let action = if !active {
            Action::Proceed
        } else if let Some(status) = fault.status {
            Action::Status(status, fault.retry_after_secs, raw_body(&fault))
        } else if fault.error_rate > 0.0 && rand::random::<f64>() < fault.error_rate {
            Action::Status(
                fault.error_status.unwrap_or(500),
                fault.retry_after_secs,
                raw_body(&fault),
            )
        } else if fault.hang || (fault.hang_rate > 0.0 && rand::random::<f64>() < fault.hang_rate) {
            Action::Hang
        } else if fault.drop_response
            || (fault.drop_rate > 0.0 && rand::random::<f64>() < fault.drop_rate)
        {
            Action::Drop
        } else {
            Action::Proceed
        };
        if !matches!(action, Action::Proceed) {
            stats.faults += 1;
            if let Some(f) = state.config.faults.get_mut(endpoint)
                && let Some(times) = f.times.as_mut()
            {
                *times = times.saturating_sub(1);
            }
        }
        (fault.latency_ms, action)
    }

    /// Runs a handler's work under the endpoint's injected fault.
    pub async fn run(&self, endpoint: &str, work: impl Future<Output = Response>) -> Response {
        let (latency_ms, action) = self.begin(endpoint);
        let _in_flight = InFlight {
            sim: self.clone(),
            endpoint: endpoint.to_string(),
        };
        if latency_ms > 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(latency_ms)) => {}
                _ = self.0.cancel.cancelled() => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
            }
        }
        match action {
            Action::Proceed => work.await,
            Action::Status(status, retry_after, body) => fault_response(status, retry_after, body),
            Action::Hang => {
                self.0.cancel.cancelled().await;
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
            Action::Drop => {
                let _ = work.await;
                dropped_response()
            }
        }
    }

    /// Runs `work` at most once per idempotency key: a repeat with the same body replays the
    /// stored answer (`Idempotent-Replayed: true`), a repeat with another body is refused, a
    /// repeat while the first is in flight gets 409. 5xx answers are not stored.
    pub async fn idempotent<F, Fut>(
        &self,
        endpoint: &str,
        key: Option<&str>,
        body: &[u8],
        work: F,
    ) -> Response
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (u16, Value)> + Send + 'static,
    {
        let Some(key) = key else {
            let (status, body) = work().await;
            return json_response(status, body);
        };
        let slot = (endpoint.to_string(), key.to_string());
        let fingerprint = hex::encode(Sha256::digest(body));
        {
            let mut state = self.lock();
            match state.idem.get(&slot) {
                Some(IdemEntry::InFlight) => {
                    return json_response(
                        409,
                        json!({"error": {"type": "idempotency_error",
                            "message": "another request with this idempotency key is in progress"}}),
                    );
                }
                Some(IdemEntry::Done {
                    fingerprint: stored,
                    status,
                    body: stored_body,
                }) => {
                    if *stored != fingerprint {
                        return json_response(
                            400,
                            json!({"error": {"type": "idempotency_error",
                                "message": "idempotency key reused with different parameters"}}),
                        );
                    }
                    let mut response = json_response(*status, stored_body.clone());
                    response.headers_mut().insert(
                        "idempotent-replayed",
                        axum::http::HeaderValue::from_static("true"),
                    );
                    return response;
                }
                None => {
                    state.idem.insert(slot.clone(), IdemEntry::InFlight);
                }
            }
        }
        // The work and its record run to their end even when the client hangs up (a caller
        // killed mid-request), as a real provider's would: the key then holds the first result
        // for the retry, instead of staying "in flight" for ever.
        let sim = self.clone();
        let fut = work();
        let finished = tokio::spawn(async move {
            let (status, value) = fut.await;
            let mut state = sim.lock();
            if status >= 500 {
                state.idem.remove(&slot);
            } else {
                state.idem.insert(
                    slot,
                    IdemEntry::Done {
                        fingerprint,
                        status,
                        body: value.clone(),
                    },
                );
            }
            (status, value)
        });
        let (status, value) = finished.await.unwrap_or_else(|e| {
            (
                500,
                json!({"error": {"type": "api_error", "message": format!("simulated handler failed: {e}")}}),
            )
        });
        json_response(status, value)
    }
}

/// The business order a key or reference belongs to: sagaflow builds every one from the
/// saga's id (`{saga_id}:{step}`, `{saga_id}:fulfill:2`, `{saga_id}:ship:1`), so the id before
/// the first `:` names the order; a key of another shape is its own order.
pub fn business_order(key: &str) -> &str {
    match key.split_once(':') {
        Some((head, _)) if uuid::Uuid::parse_str(head).is_ok() => head,
        _ => key,
    }
}

pub(crate) fn json_response(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// A fault's raw body, when it sets one in valid hex.
fn raw_body(fault: &Fault) -> Option<Vec<u8>> {
    fault.body_hex.as_deref().and_then(|h| hex::decode(h).ok())
}

fn fault_response(status: u16, retry_after: Option<u64>, body: Option<Vec<u8>>) -> Response {
    let mut response = match body {
        Some(bytes) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, bytes).into_response()
        }
        None => json_response(
            status,
            json!({"success": false, "message": format!("simulated fault {status}"),
                   "error": {"type": "api_error", "message": format!("simulated fault {status}")}}),
        ),
    };
    if let Some(secs) = retry_after
        && let Ok(value) = secs.to_string().parse()
    {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

/// A 200 whose body fails at once: the connection is cut and the client never sees an answer.
fn dropped_response() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("simulated dropped response"))
    });
    Response::new(Body::from_stream(stream))
}

/// A header as text.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Authorization: Bearer <token>` equals `expected`.
pub(crate) fn bearer_ok(headers: &HeaderMap, expected: &str) -> bool {
    header(headers, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| !expected.is_empty() && token == expected)
}
